"""The embedded mitmproxy: a lean addon set, the bottle CA, the guarded chain, hot reload.

`DumpMaster` loads ~30 default addons and each one costs CPU on every hook. This master
loads only what an inspecting forward proxy needs: the proxy server, protocol detection,
TLS (with the bottle CA), h2c stripping, then the bottle's own chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import linecache
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import options
from mitmproxy.addons import disable_h2c, next_layer, proxyserver
from mitmproxy.master import Master

from addons import trailers, upstream_errors
from addons.record import DEFAULT_MAX_BODY, Recorder
from ca import BottleCA
from ca.bundle import merged_bundle
from egress.addresses import parse_network
from egress.agent_identity import AgentIdentities, IdentityFileError
from egress.audit import AuditLog, utc_now
from egress.credentials import CredentialError, CredentialRegistry
from egress.envvars import DEFAULT_NO_PROXY, client_environment
from egress.metrics import ProxyMetrics
from egress.policy.compiled import CompiledPolicy
from egress.policy.loader import located
from egress.policy.store import PolicyStore
from egress.redact import KnownSecrets
from egress.runtime import Runtime
from egress.sources.paths import default_audit_path, default_state_root
from proxy.chain import Chain, build_chain
from proxy.dns.addresses import DnsConfigError, system_resolver
from proxy.dns.guard import DnsGuard
from proxy.listen_errors import ListenErrors
from proxy.metrics_http import MetricsServer, Readiness, start_server
from proxy.tls import BottleTlsConfig

log = logging.getLogger("egress")

BOTTLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class ConfigError(Exception):
    """A user error in how the proxy was asked to run (shown without a traceback)."""


@dataclass
class ProxyConfig:
    policy_path: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    upstream: str | None = None
    upstream_ca: Path | None = None
    bottle_id: str = field(default_factory=lambda: f"local-{secrets.token_hex(3)}")
    state_dir: Path | None = None
    audit_log: Path | None = None
    extra_addons: Sequence[Any] = ()
    no_proxy: str = DEFAULT_NO_PROXY
    record: Path | None = None
    record_max_body: int = DEFAULT_MAX_BODY
    # The DNS guard (`--dns-listen`), and its upstream (default: the host's resolver).
    dns_listen: tuple[str, int] | None = None
    dns_upstream: tuple[str, int] | None = None
    # `--allow-private` / `--any-port`: development and test relaxations (never in a bottle).
    allow_private: tuple[str, ...] = ()
    any_port: bool = False
    # `--export-dir`: where the CA's public files are copied once listening (a pod's volume
    # shared with the agent container; the key never goes there).
    export_dir: Path | None = None
    # `--metrics-listen`: where `/metrics`, `/healthz` and `/readyz` are served (off: None).
    metrics_listen: tuple[str, int] | None = None
    # `--agent-identities`: the agents' names and token hashes (a shared egress).
    agent_identities: Path | None = None


@dataclass
class ProxyInfo:
    """What a started proxy tells its caller: where it listens and what clients need."""

    proxy_url: str
    listen: tuple[str, int]
    environment: dict[str, str]
    state_dir: Path
    audit_log: Path | None
    # Environment variables in `environment` that carry credential placeholders.
    credentials: list[str] = field(default_factory=list)
    dns: tuple[str, int] | None = None
    dns_upstream: tuple[str, int] | None = None


def parse_listen(value: str, flag: str = "--listen", example: str = "127.0.0.1:8080") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{flag} {value!r}: expected HOST:PORT, e.g. {example} "
                          "(port 0 picks a free port)")
    return host.strip("[]") or "127.0.0.1", int(port)


def check_upstream(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise ConfigError(f"--upstream {url!r}: expected http://HOST:PORT (pipelock listens on :8888)")
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise ConfigError(f"--upstream {url!r}: give only scheme, host and port")
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def check_bottle_id(value: str) -> str:
    if not BOTTLE_ID.match(value):
        raise ConfigError(f"--bottle-id {value!r}: use letters, digits, '.', '_' or '-' "
                          "(at most 63 characters, starting with a letter or digit)")
    return value


def private_dir(path: Path) -> None:
    """Create `path` (and a missing parent) 0700, refusing one that someone else owns."""
    for p in (path.parent, path):
        if p.exists():
            st = p.lstat()
            if p.is_symlink() or not p.is_dir():
                raise ConfigError(f"state directory {p} is not a plain directory")
            if st.st_uid != os.getuid():
                raise ConfigError(f"state directory {p} belongs to another user")
        else:
            p.mkdir(mode=0o700)
    os.chmod(path, 0o700)


class Ready:
    """Reports the bound address once mitmproxy listens (port 0 resolves here)."""

    name = "bottle-ready"

    def __init__(self, on_ready: Callable[[tuple[str, int]], None], on_fail: Callable[[], None],
                 readiness: Readiness | None = None) -> None:
        self.on_ready = on_ready
        self.on_fail = on_fail
        self.readiness = readiness
        self.proxyserver: proxyserver.Proxyserver | None = None

    def running(self) -> None:
        assert self.proxyserver is not None
        addrs = self.proxyserver.listen_addrs()
        if not addrs:
            self.on_fail()
            return
        host, port = addrs[0][0], addrs[0][1]
        if self.readiness is not None:  # before the caller hears of it: it may probe at once
            self.readiness.listening = True
        self.on_ready((host, port))


class EgressMaster(Master):
    def __init__(self, opts: options.Options, tls: BottleTlsConfig, chain: Chain,
                 ready: Ready) -> None:
        super().__init__(opts)
        ps = proxyserver.Proxyserver()
        ready.proxyserver = ps
        # HTTP/1 trailers crash mitmproxy's HTTP/1 layer: take them off for `Trailers` to refuse.
        trailers.install()
        # mitmproxy's HTML error pages become our JSON answers (`addons.upstream_errors`).
        upstream_errors.install()
        self.addons.add(ps, next_layer.NextLayer(), tls, disable_h2c.DisableH2C(), chain, ready)


def mitmproxy_options(cfg: ProxyConfig, compiled: CompiledPolicy, state_dir: Path,
                      upstream_trust: Path | None) -> dict[str, Any]:
    mode = f"upstream:{cfg.upstream}" if cfg.upstream else "regular"
    opts: dict[str, Any] = {
        "mode": [mode],
        "listen_host": cfg.listen_host,
        "listen_port": cfg.listen_port,
        # Decide before any upstream contact: nothing is resolved or dialled at CONNECT.
        "connection_strategy": "lazy",
        "upstream_cert": False,
        "confdir": str(state_dir),
        "body_size_limit": str(compiled.policy.limits.max_body_bytes),
        "ssl_insecure": False,
        "http2": True,
        "websocket": True,
        "rawtcp": True,
    }
    if upstream_trust is not None:
        opts["ssl_verify_upstream_trusted_ca"] = str(upstream_trust)
    return opts


def _name_constraint_hosts(compiled: CompiledPolicy) -> list[str]:
    if not compiled.policy.ca.name_constraints:
        return []
    return [h for rule in compiled.policy.hosts.allow for h in rule.hosts]


def load_credentials(registry: CredentialRegistry, compiled: CompiledPolicy, raw: bytes) -> None:
    """Resolve the policy's credential sources into `registry`, or raise a `PolicyError` that
    names the credential, file and line (never the value); the registry is then unchanged."""
    try:
        registry.load(compiled.policy.credentials)
    except CredentialError as e:
        raise located(compiled.source, raw, [(e.loc, f"credential {e.name!r}: {e.message}")]) from None


async def refresh_credentials(runtime: Runtime) -> None:
    """Re-read `file`/`command` sources whose `ttl` ran out (in a worker thread: a command may
    take a while). A failure keeps the old value, is retried, and is logged by name only."""
    registry = runtime.credentials
    while True:
        due = registry.next_due()
        delay = 30.0 if due is None else min(30.0, max(0.2, due - time.monotonic()))
        await asyncio.sleep(delay)
        if not registry.due():
            continue
        try:
            results = await asyncio.to_thread(registry.refresh)
        except Exception as e:  # a bug here must not end refreshing for the bottle's lifetime
            log.error("credential refresh raised %s; retrying in 30 s", type(e).__name__)
            await asyncio.sleep(30)
            continue
        for result in results:
            if runtime.metrics is not None:
                runtime.metrics.credential_refresh(result.name, result.error is None)
            if result.error is not None:
                log.error("credential %r: refresh failed (%s); keeping the current value",
                          result.name, result.error)
            runtime.audit.write({"event": "credential-refresh", "bottle": runtime.bottle_id,
                                 "credential": result.name, "ok": result.error is None,
                                 "rotated": result.rotated, "error": result.error})


def settle() -> None:
    """Once listening: what start-up built lives as long as the proxy, so the collector stops
    walking it (gc.freeze: each full collection would otherwise traverse every module's
    objects), and source lines cached while importing (pyparsing reads its whole source
    for stack inspection, ~0.5 MB) are dropped; a traceback reloads what it needs."""
    gc.collect()
    gc.freeze()
    linecache.clearcache()


# Signals that stop the proxy the clean way (a `stop` audit event, the CA destroyed, its state
# removed): every catchable one whose default action would end the process without that.
# SIGHUP reloads the policy (the daemon convention). SIGPIPE stays ignored, as Python sets it:
# a closed socket is an error on that socket, never a reason to stop. Faults (SIGSEGV, SIGBUS,
# ...) and SIGKILL cannot be handled; the CA key, kept in memory only, dies with the process.
STOP_SIGNALS = tuple(
    sig for name in ("SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                     "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGXFSZ", "SIGIO", "SIGPWR", "SIGSTKFLT")
    if (sig := getattr(signal, name, None)) is not None)
RELOAD_SIGNALS = (signal.SIGHUP,)


class ProcessSignals:
    """The proxy's signal handlers, on the event loop: stop signals set `stop` (and remember
    which one arrived), SIGHUP sets `reload`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        self.loop = loop
        self.stop = stop
        self.reload = asyncio.Event()
        self.received: str | None = None
        self.installed: list[signal.Signals] = []
        for sig in STOP_SIGNALS:
            self._install(sig, self._on_stop, sig)
        for sig in RELOAD_SIGNALS:
            self._install(sig, self.reload.set)

    def _install(self, sig: signal.Signals, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, OSError):
            self.loop.add_signal_handler(sig, callback, *args)
            self.installed.append(sig)

    def _on_stop(self, sig: signal.Signals) -> None:
        if self.received is None:
            self.received = sig.name
            log.warning("%s: stopping the proxy and destroying the bottle CA", sig.name)
        self.stop.set()

    def remove(self) -> None:
        for sig in self.installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.remove_signal_handler(sig)
        self.installed.clear()


def no_core_dumps() -> None:
    """A core file would hold the CA key the proxy keeps in memory only."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


async def serve(cfg: ProxyConfig, on_ready: Callable[[ProxyInfo], None],
                stop: asyncio.Event | None = None) -> int:
    """Run the proxy until `stop` is set or a stop signal arrives (`STOP_SIGNALS`; SIGHUP
    reloads the policy). Returns an exit status."""
    no_core_dumps()
    stop = stop or asyncio.Event()
    # Installed first: a signal during start-up then stops the proxy the clean way too.
    signals = ProcessSignals(asyncio.get_running_loop(), stop)
    try:
        metrics, server = start_metrics(cfg)
        try:
            return await _serve(cfg, on_ready, stop, signals, metrics, server)
        finally:
            if server is not None:
                server.close()
    finally:
        signals.remove()


def start_metrics(cfg: ProxyConfig) -> tuple[ProxyMetrics | None, MetricsServer | None]:
    """The metrics listener, bound before anything else starts: a busy or bad address is a
    start error (`ConfigError`), never a proxy running without the probes it was asked for."""
    if cfg.metrics_listen is None:
        return None, None
    from proxy.chain import DISPATCHED_HOOKS

    metrics = ProxyMetrics(hooks=DISPATCHED_HOOKS)
    host, port = cfg.metrics_listen
    try:
        server = start_server((host, port), metrics, Readiness())
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        raise ConfigError(f"--metrics-listen {host}:{port}: cannot listen ({why})") from None
    log.info("metrics on %s/metrics (and /healthz, /readyz)", server.url)
    return metrics, server


async def _serve(cfg: ProxyConfig, on_ready: Callable[[ProxyInfo], None], stop: asyncio.Event,
                 signals: ProcessSignals, metrics: ProxyMetrics | None = None,
                 server: MetricsServer | None = None) -> int:
    if cfg.export_dir is not None and not (cfg.export_dir.is_dir()
                                           and os.access(cfg.export_dir, os.W_OK | os.X_OK)):
        raise ConfigError(f"--export-dir {cfg.export_dir}: not a directory this user can write")
    identities: AgentIdentities | None = None
    if cfg.agent_identities is not None:
        try:
            identities = AgentIdentities.load(cfg.agent_identities)
        except IdentityFileError as e:
            raise ConfigError(str(e)) from None
    store = PolicyStore.open(cfg.policy_path)
    compiled = store.current
    created_state = cfg.state_dir is None
    state_dir = cfg.state_dir or default_state_root() / cfg.bottle_id
    private_dir(state_dir)

    known = KnownSecrets()
    audit_path = cfg.audit_log or default_audit_path(cfg.bottle_id)
    audit_cfg = compiled.policy.audit
    audit = AuditLog(audit_path, known, max_bytes=audit_cfg.max_bytes, backups=audit_cfg.backups)
    runtime = Runtime(cfg.bottle_id, store, audit, known, state_dir,
                      extra_private=tuple(parse_network(n) for n in cfg.allow_private),
                      any_port=cfg.any_port)
    runtime.metrics = metrics
    runtime.identities = identities
    try:
        load_credentials(runtime.credentials, compiled, cfg.policy_path.read_bytes())
    except BaseException:
        audit.close()
        if created_state:
            shutil.rmtree(state_dir, ignore_errors=True)
        raise

    ca = BottleCA.create(state_dir, cfg.bottle_id,
                         validity_hours=compiled.policy.ca.validity_hours,
                         permitted_hosts=_name_constraint_hosts(compiled))
    runtime.may_issue = ca.may_issue
    upstream_trust: Path | None = None
    recorder: Recorder | None = None
    guard: DnsGuard | None = None

    def teardown() -> None:
        """What every way out of here must undo (the in-memory key dies with the process)."""
        ca.destroy()
        if upstream_trust is not None:
            upstream_trust.unlink(missing_ok=True)
        if created_state:
            shutil.rmtree(state_dir, ignore_errors=True)

    try:
        if cfg.upstream_ca is not None:
            try:
                extra = cfg.upstream_ca.read_bytes()
            except OSError as e:
                raise ConfigError(f"--upstream-ca {cfg.upstream_ca}: {e.strerror}") from None
            if b"-----BEGIN CERTIFICATE-----" not in extra:
                raise ConfigError(f"--upstream-ca {cfg.upstream_ca}: no PEM certificate in file")
            upstream_trust = state_dir / "upstream-trust.pem"
            upstream_trust.write_bytes(merged_bundle(extra))

        if cfg.upstream:
            parts = urlsplit(cfg.upstream)
            runtime.upstream = (parts.hostname or "", parts.port or 0)
        if metrics is not None and server is not None:
            metrics.policy_in_force(compiled.digest)
            metrics.watch_ca(ca.cert.not_valid_after_utc.timestamp())
            server.readiness.upstream = runtime.upstream
            server.readiness.policy_loaded = True
        recorder = Recorder(runtime, cfg.record, cfg.record_max_body) if cfg.record else None
        _, chain = build_chain(runtime, cfg.extra_addons, upstream=cfg.upstream is not None,
                               recorder=recorder)
    except BaseException:
        teardown()
        audit.close()
        raise

    failed_to_listen = False

    def ready(addr: tuple[str, int]) -> None:
        host = addr[0] if ":" not in addr[0] else f"[{addr[0]}]"
        url = f"http://{host}:{addr[1]}"
        if cfg.export_dir is not None:
            # Only now that the proxy listens: a client waiting for these files (a pod's agent
            # container, held back by the sidecar's startup probe) finds the proxy up.
            ca.export(cfg.export_dir)
        env = client_environment(url, ca.files.bundle, ca.files.cert, cfg.bottle_id, cfg.no_proxy,
                                 exported)
        audit.write({"time": utc_now(), "event": "start", "bottle": cfg.bottle_id,
                     "listen": f"{host}:{addr[1]}", "policy": compiled.digest,
                     "policy_file": str(cfg.policy_path), "upstream": cfg.upstream,
                     "mode": compiled.policy.mode,
                     "credentials": sorted(runtime.credentials.placeholders()),
                     **({"allow_private": list(cfg.allow_private)} if cfg.allow_private else {}),
                     **({"any_port": True} if cfg.any_port else {})})
        on_ready(ProxyInfo(url, addr, env, state_dir, audit_path, sorted(exported),
                           dns=guard.address if guard else None,
                           dns_upstream=guard.upstream if guard else None))
        settle()

    def fail() -> None:
        nonlocal failed_to_listen
        failed_to_listen = True
        stop.set()

    exported = runtime.credentials.environment()

    def on_policy(new: CompiledPolicy) -> None:
        late = {c.placeholder.env for c in new.policy.credentials} - set(exported)
        if late:
            log.warning("credentials added by a reload cannot reach the running agent's "
                        "environment (%s); restart the bottle to export them", ", ".join(sorted(late)))
        master.options.update(body_size_limit=str(new.policy.limits.max_body_bytes))
        audit.configure(new.policy.audit.max_bytes, new.policy.audit.backups)
        if new.policy.ca.name_constraints or compiled.policy.ca.name_constraints:
            log.warning("ca.name_constraints is fixed when the bottle starts; restart the "
                        "proxy for a changed host list to reach the CA")
        audit.write({"event": "policy-reload", "bottle": cfg.bottle_id, "policy": new.digest})
        if metrics is not None:
            metrics.policy_in_force(new.digest)

    def on_reload(result: Any) -> None:
        if metrics is not None:
            metrics.policy_reload(result.ok)
        if not result.ok:
            audit.write({"event": "policy-reload-failed", "bottle": cfg.bottle_id,
                         "policy": store.current.digest, "rejected": result.digest,
                         "problems": [str(p) for p in (result.error.problems if result.error else [])]})

    opts = options.Options()
    readiness = server.readiness if server is not None else None
    master = EgressMaster(opts, BottleTlsConfig(ca), chain, Ready(ready, fail, readiness))
    if metrics is not None:
        connections = master.addons.get("proxyserver").connections
        metrics.watch_connections(lambda: len(connections))
    opts.update(**mitmproxy_options(cfg, compiled, state_dir, upstream_trust))
    store.subscribe(on_policy)
    store.add_gate(lambda new, raw: load_credentials(runtime.credentials, new, raw))

    if cfg.dns_listen is not None:
        try:
            guard = DnsGuard(runtime, cfg.dns_listen, cfg.dns_upstream or system_resolver())
            await guard.start()
        except BaseException as e:
            if recorder is not None:
                recorder.done()
            teardown()
            audit.close()
            if isinstance(e, DnsConfigError):
                raise ConfigError(str(e)) from None
            raise

    listen_errors = ListenErrors().install()
    watcher = asyncio.create_task(store.watch(on_reload, signals.reload))
    refresher = asyncio.create_task(refresh_credentials(runtime))
    runner = asyncio.create_task(master.run())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if server is not None:
            server.readiness.listening = False
        if guard is not None:
            await guard.close()
        master.shutdown()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, timeout=5)
        watcher.cancel()
        refresher.cancel()
        stopper.cancel()
        teardown()
        listen_errors.remove()
        audit.write({"event": "stop", "bottle": cfg.bottle_id,
                     **({"signal": signals.received} if signals.received else {})})
        audit.close()
    if failed_to_listen:
        print(listen_errors.explain(cfg.listen_host, cfg.listen_port), file=sys.stderr)
        return 1
    return 0
