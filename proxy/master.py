"""The embedded mitmproxy: a lean addon set, the bottle CA, the guarded chain, hot reload.

`DumpMaster` loads ~30 default addons and each one costs CPU on every hook. This master
loads only what an inspecting forward proxy needs: the proxy server, protocol detection,
TLS (with the bottle CA), h2c stripping, then the bottle's own chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import options
from mitmproxy.addons import disable_h2c, next_layer, proxyserver
from mitmproxy.master import Master

from addons import trailers, upstream
from addons.record import Recorder
from ca import BottleCA
from ca.bundle import merged_bundle
from egress.addresses import parse_network
from egress.agent_identity import AgentIdentities, IdentityFileError
from egress.audit import AuditLog, utc_now
from egress.envvars import client_environment
from egress.metrics import ProxyMetrics
from egress.policy.compiled import CompiledPolicy
from egress.policy.loader import located
from egress.policy.store import PolicyStore, ReloadResult
from egress.redact import KnownSecrets
from egress.runtime import Runtime
from egress.scan.credentials import CredentialError
from egress.sources.credentials import CredentialRegistry
from egress.sources.paths import default_audit_path, default_state_root
from proxy.chain import Chain, build_chain
from proxy.config import (
    ConfigError,
    ProxyConfig,
    ProxyInfo,
    check_export_dir,
    mitmproxy_options,
    private_dir,
)
from proxy.dns.addresses import DnsConfigError, system_resolver
from proxy.dns.guard import DnsGuard
from proxy.listen_errors import ListenErrors
from proxy.metrics_http import MetricsServer, Readiness, start_server
from proxy.process import ProcessSignals, no_core_dumps, settle
from proxy.tls import BottleTlsConfig

log = logging.getLogger("egress")


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
        # mitmproxy's HTML error pages become our JSON answers (`addons.upstream`).
        upstream.install()
        self.addons.add(ps, next_layer.NextLayer(), tls, disable_h2c.DisableH2C(), chain, ready)


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


async def serve(cfg: ProxyConfig, on_ready: Callable[[ProxyInfo], None],
                stop: asyncio.Event | None = None) -> int:
    """Run the proxy until `stop` is set or a stop signal arrives (`proxy.process.STOP_SIGNALS`;
    SIGHUP reloads the policy). Returns an exit status."""
    no_core_dumps()
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as release:
        # Installed first: a signal during start-up then stops the proxy the clean way too.
        signals = ProcessSignals(asyncio.get_running_loop(), stop)
        release.callback(signals.remove)
        metrics, server = start_metrics(cfg)
        if server is not None:
            release.callback(server.close)
        run = ProxyRun(cfg, on_ready, stop, signals, release, metrics, server)
        await run.start()
        await run.serve()
    if run.failed_to_listen:
        print(run.listen_errors.explain(cfg.listen_host, cfg.listen_port), file=sys.stderr)
        return 1
    return 0


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


class ProxyRun:
    """One run of the proxy, from start to stop.

    Whatever it acquires goes onto `release` (the caller's exit stack) the moment it is
    acquired, so every way out (a start error, a port that cannot be bound, a stop) releases
    all of it, last acquired first: this is the one place cleanup is written. That order is
    the teardown's: mitmproxy and the DNS guard stop first, then the CA is destroyed before
    the state directory holding its files goes, and the audit log's last line, `stop`, is
    written once all of that is done."""

    def __init__(self, cfg: ProxyConfig, on_ready: Callable[[ProxyInfo], None],
                 stop: asyncio.Event, signals: ProcessSignals, release: contextlib.AsyncExitStack,
                 metrics: ProxyMetrics | None, server: MetricsServer | None) -> None:
        self.cfg = cfg
        self.on_ready = on_ready
        self.stop = stop
        self.signals = signals
        self.release = release
        self.metrics = metrics
        self.server = server
        self.audit: AuditLog | None = None
        self.guard: DnsGuard | None = None
        self.runner: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.listen_errors = ListenErrors()
        self.serving = False  # got as far as serving: its stop goes on record
        self.failed_to_listen = False

    async def start(self) -> None:
        """Everything up to listening. An error propagates once what was acquired is released."""
        cfg, release = self.cfg, self.release
        check_export_dir(cfg.export_dir)
        identities: AgentIdentities | None = None
        if cfg.agent_identities is not None:
            try:
                identities = AgentIdentities.load(cfg.agent_identities)
            except IdentityFileError as e:
                raise ConfigError(str(e)) from None
        self.store = store = PolicyStore.open(cfg.policy_path)
        self.compiled = compiled = store.current
        self.state_dir = state_dir = cfg.state_dir or default_state_root() / cfg.bottle_id
        private_dir(state_dir)
        release.callback(self._close_audit)  # registered first of these: released last
        if cfg.state_dir is None:  # made for this run: removed with it
            release.callback(shutil.rmtree, state_dir, ignore_errors=True)

        known = KnownSecrets()
        self.audit_path = cfg.audit_log or default_audit_path(cfg.bottle_id)
        audit_cfg = compiled.policy.audit
        self.audit = AuditLog(self.audit_path, known, max_bytes=audit_cfg.max_bytes,
                              backups=audit_cfg.backups)
        self.runtime = runtime = Runtime(
            cfg.bottle_id, store, self.audit, known, state_dir,
            extra_private=tuple(parse_network(n) for n in cfg.allow_private), any_port=cfg.any_port)
        runtime.metrics = self.metrics
        runtime.identities = identities
        load_credentials(runtime.credentials, compiled, cfg.policy_path.read_bytes())

        self.ca = ca = BottleCA.create(state_dir, cfg.bottle_id,
                                       validity_hours=compiled.policy.ca.validity_hours,
                                       permitted_hosts=_name_constraint_hosts(compiled))
        release.callback(ca.destroy)  # drops the key, removes the public files it exported
        runtime.may_issue = ca.may_issue
        upstream_trust = self._upstream_trust()
        if cfg.upstream:
            parts = urlsplit(cfg.upstream)
            runtime.upstream = (parts.hostname or "", parts.port or 0)
        if self.metrics is not None and self.server is not None:
            self.metrics.policy_in_force(compiled.digest)
            self.metrics.watch_ca(ca.cert.not_valid_after_utc.timestamp())
            self.server.readiness.upstream = runtime.upstream
            self.server.readiness.policy_loaded = True
        recorder = Recorder(runtime, cfg.record, cfg.record_max_body) if cfg.record else None
        if recorder is not None:  # closing twice is harmless: mitmproxy's `done` closes it too
            release.callback(recorder.done)
        _, chain = build_chain(runtime, cfg.extra_addons, upstream=cfg.upstream is not None,
                               recorder=recorder)
        self.master = self._master(chain, upstream_trust)

        self.listen_errors.install()
        release.callback(self.listen_errors.remove)
        release.push_async_callback(self._stop_serving)
        if cfg.dns_listen is not None:
            try:
                guard = DnsGuard(runtime, cfg.dns_listen, cfg.dns_upstream or system_resolver())
                await guard.start()
            except DnsConfigError as e:
                raise ConfigError(str(e)) from None
            self.guard = guard  # started: `_stop_serving` closes it

    def _upstream_trust(self) -> Path | None:
        """`--upstream-ca` merged with the system bundle into the state directory."""
        if self.cfg.upstream_ca is None:
            return None
        try:
            extra = self.cfg.upstream_ca.read_bytes()
        except OSError as e:
            raise ConfigError(f"--upstream-ca {self.cfg.upstream_ca}: {e.strerror}") from None
        if b"-----BEGIN CERTIFICATE-----" not in extra:
            raise ConfigError(f"--upstream-ca {self.cfg.upstream_ca}: no PEM certificate in file")
        trust = self.state_dir / "upstream-trust.pem"
        self.release.callback(trust.unlink, missing_ok=True)
        trust.write_bytes(merged_bundle(extra))
        return trust

    def _master(self, chain: Chain, upstream_trust: Path | None) -> EgressMaster:
        opts = options.Options()
        readiness = self.server.readiness if self.server is not None else None
        master = EgressMaster(opts, BottleTlsConfig(self.ca), chain,
                              Ready(self._ready, self._fail, readiness))
        if self.metrics is not None:
            connections = master.addons.get("proxyserver").connections
            self.metrics.watch_connections(lambda: len(connections))
        opts.update(**mitmproxy_options(self.cfg, self.compiled, self.state_dir, upstream_trust))
        self.store.subscribe(self._on_policy)
        self.store.add_gate(lambda new, raw: load_credentials(self.runtime.credentials, new, raw))
        self.exported = self.runtime.credentials.environment()
        return master

    async def serve(self) -> None:
        """Until the proxy fails to listen or `stop` is set."""
        self.serving = True
        self.tasks = [asyncio.create_task(self.store.watch(self._on_reload, self.signals.reload)),
                      asyncio.create_task(refresh_credentials(self.runtime))]
        self.runner = asyncio.create_task(self.master.run())
        stopper = asyncio.create_task(self.stop.wait())
        self.tasks.append(stopper)
        await asyncio.wait([self.runner, stopper], return_when=asyncio.FIRST_COMPLETED)

    async def _stop_serving(self) -> None:
        """Readiness off first (a probe sees the proxy going), the DNS guard, then mitmproxy
        (its `done` hooks get up to 5 s), then the background tasks."""
        if self.server is not None:
            self.server.readiness.listening = False
        if self.guard is not None:
            await self.guard.close()
        if self.runner is not None:
            self.master.shutdown()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.runner, timeout=5)
        for task in self.tasks:
            task.cancel()

    def _close_audit(self) -> None:
        if self.audit is None:
            return
        if self.serving:
            self.audit.write({"event": "stop", "bottle": self.cfg.bottle_id,
                              **({"signal": self.signals.received} if self.signals.received else {})})
        self.audit.close()

    # -- mitmproxy and policy-store callbacks --------------------------------------------------

    def _ready(self, addr: tuple[str, int]) -> None:
        cfg, ca, audit, compiled = self.cfg, self.ca, self.audit, self.compiled
        assert audit is not None
        host = addr[0] if ":" not in addr[0] else f"[{addr[0]}]"
        url = f"http://{host}:{addr[1]}"
        if cfg.export_dir is not None:
            # Only now that the proxy listens: a client waiting for these files (a pod's agent
            # container, held back by the sidecar's startup probe) finds the proxy up.
            ca.export(cfg.export_dir)
        env = client_environment(url, ca.files.bundle, ca.files.cert, cfg.bottle_id, cfg.no_proxy,
                                 self.exported)
        audit.write({"time": utc_now(), "event": "start", "bottle": cfg.bottle_id,
                     "listen": f"{host}:{addr[1]}", "policy": compiled.digest,
                     "policy_file": str(cfg.policy_path), "upstream": cfg.upstream,
                     "mode": compiled.policy.mode,
                     "credentials": sorted(self.runtime.credentials.placeholders()),
                     **({"allow_private": list(cfg.allow_private)} if cfg.allow_private else {}),
                     **({"any_port": True} if cfg.any_port else {})})
        guard = self.guard
        self.on_ready(ProxyInfo(url, addr, env, self.state_dir, self.audit_path,
                                sorted(self.exported),
                                dns=guard.address if guard else None,
                                dns_upstream=guard.upstream if guard else None))
        settle()

    def _fail(self) -> None:
        self.failed_to_listen = True
        self.stop.set()

    def _on_policy(self, new: CompiledPolicy) -> None:
        audit = self.audit
        assert audit is not None
        late = {c.placeholder.env for c in new.policy.credentials} - set(self.exported)
        if late:
            log.warning("credentials added by a reload cannot reach the running agent's "
                        "environment (%s); restart the bottle to export them", ", ".join(sorted(late)))
        self.master.options.update(body_size_limit=str(new.policy.limits.max_body_bytes))
        audit.configure(new.policy.audit.max_bytes, new.policy.audit.backups)
        if new.policy.ca.name_constraints or self.compiled.policy.ca.name_constraints:
            log.warning("ca.name_constraints is fixed when the bottle starts; restart the "
                        "proxy for a changed host list to reach the CA")
        audit.write({"event": "policy-reload", "bottle": self.cfg.bottle_id, "policy": new.digest})
        if self.metrics is not None:
            self.metrics.policy_in_force(new.digest)

    def _on_reload(self, result: ReloadResult) -> None:
        if self.metrics is not None:
            self.metrics.policy_reload(result.ok)
        if not result.ok:
            assert self.audit is not None
            self.audit.write({"event": "policy-reload-failed", "bottle": self.cfg.bottle_id,
                              "policy": self.store.current.digest, "rejected": result.digest,
                              "problems": [str(p) for p in (result.error.problems
                                                            if result.error else [])]})
