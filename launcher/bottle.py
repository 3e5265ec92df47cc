"""One bottle's Docker resources: create them (rolling back on failure), list and remove them.

Topology of `bottle start --inspect`:

    agent ──(internal network, no route out)──► egress ──(egress-side network)──► upstream ──► origin
      dns = egress's internal IP (the DNS guard)       CA key on tmpfs; only the certificate
      proxy env + CA bundle (read-only volume)         and bundle reach the CA volume

The egress container runs the same `bottle egress run` as the host. Nothing here looks at
traffic; this module only wires containers, networks and one volume together.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shlex
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker.errors

from egress.envvars import CLIENT_VARS, DEFAULT_NO_PROXY, client_environment
from egress.master import default_state_root
from egress.policy import PolicyError, compile_policy, default_policy_path, load_policy
from egress.policy.model import Policy
from launcher.defaults import AGENT, BUILD_COMMAND, DEFAULT_PIPELOCK_IMAGE, EGRESS
from launcher.engine import LABEL_BOTTLE, LABEL_ROLE, bottle_filter, image_exists, labels
from launcher.errors import LauncherError

log = logging.getLogger("launcher")

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
PROXY_PORT = 8080
DNS_PORT = 53
EGRESS_UID = "10001"
# Inside the egress container: the CA's tmpfs, the policy and trust files, the public export.
STATE_DIR = "/run/bottle/state"
AUDIT_LOG = "/run/bottle/audit.jsonl"
# On the container's own disk, not the tmpfs: it must outlive the proxy's graceful stop.
RECORD_FILE = "/var/lib/bottle/flows.mitm"
CONFIG_DIR = "/etc/bottle"
EXPORT_DIR = "/export"
# Inside the agent container: where the CA volume is mounted (read-only).
AGENT_CA_DIR = "/etc/bottle-ca"
AGENT_BUNDLE = f"{AGENT_CA_DIR}/ca-bundle.pem"
AGENT_CERT = f"{AGENT_CA_DIR}/bottle-ca.pem"
# System trust stores the launcher extends with the bottle CA when the image has one.
SYSTEM_STORES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                 "/etc/ssl/cert.pem")
PIPELOCK_PORT = 8888
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Names:
    """Every resource name of one bottle, derived from its name."""

    bottle: str

    @property
    def agent(self) -> str:
        return f"bottle-{self.bottle}-agent"

    @property
    def egress(self) -> str:
        return f"bottle-{self.bottle}-egress"

    @property
    def pipelock(self) -> str:
        return f"bottle-{self.bottle}-pipelock"

    @property
    def internal_net(self) -> str:
        return f"bottle-{self.bottle}-internal"

    @property
    def egress_net(self) -> str:
        return f"bottle-{self.bottle}-egress-side"

    @property
    def ca_volume(self) -> str:
        return f"bottle-{self.bottle}-ca"


def host_dir(bottle: str) -> Path:
    """Host-side files of a bottle (only its resolv.conf: nothing secret)."""
    return default_state_root() / "launcher" / bottle


def engine_is_local(client: Any) -> bool:
    """Bind mounts of files this process writes only work when the engine shares our disk."""
    return str(client.api.base_url).startswith("http+docker://localhost")


def write_resolv_conf(bottle: str, nameserver: str) -> Path:
    directory = host_dir(bottle)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "resolv.conf"
    path.write_text(f"nameserver {nameserver}\noptions timeout:2 attempts:2\n")
    path.chmod(0o644)
    return path


@dataclass
class StartOptions:
    name: str
    image: str = f"{AGENT}:latest"
    inspect: bool = False
    policy: Path | None = None
    # "pipelock", "none", "http://HOST:PORT", or None: pipelock if its image is present.
    upstream: str | None = None
    upstream_network: str | None = None
    upstream_ca: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    command: Sequence[str] = ()
    egress_image: str = f"{EGRESS}:latest"
    pipelock_image: str = DEFAULT_PIPELOCK_IMAGE
    cap_add: Sequence[str] = ()
    dns_upstream: str | None = None
    # Flow recording (`bottle egress run --record`): copied out here by `bottle stop`.
    record: Path | None = None


@dataclass
class BottleInfo:
    name: str
    agent: str
    egress: str | None
    egress_ip: str | None
    upstream: str | None
    agent_env: dict[str, str]


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise LauncherError(f"bottle name {name!r} is not valid",
                            "use letters, digits, '.', '_' or '-' (at most 41 characters, starting "
                            "with a letter or digit)", exit_code=2)
    return name


def check_policy(path: Path) -> Policy:
    """The same validation as `bottle policy check` (credential and known-secret sources
    included: they must resolve in this shell), before any container exists."""
    try:
        return compile_policy(load_policy(path), str(path)).policy
    except PolicyError as e:
        raise LauncherError(f"policy {path} is invalid:\n{e}",
                            f"fix the lines above; `bottle policy check {path}` rechecks it",
                            exit_code=2) from None


def probe_host(policy: Policy) -> str | None:
    """A host the policy allows by exact name (for `bottle doctor`'s probe), if any."""
    exact = (h for rule in policy.hosts.allow for h in rule.hosts if "*" not in h)
    return next(exact, None)


@dataclass
class SecretInputs:
    """What the egress container needs to read the policy's real secrets: the environment
    variables (taken from this shell) and the files (copied in, readable by its user only).
    None of it ever reaches the agent container."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def secret_inputs(policy: Policy) -> SecretInputs:
    out = SecretInputs()
    sources: list[tuple[str | None, str | None, str]] = [
        (c.source.env, c.source.file, f"credential {c.name}") for c in policy.credentials]
    sources += [(k.env, k.file, f"known secret {k.name}") for k in policy.dlp.known_secrets]
    for env, file, what in sources:
        if env is not None:
            if env not in os.environ:
                raise LauncherError(f"{what} reads ${env}, which is not set in this shell",
                                    f"export {env}=... before `bottle start`", exit_code=2)
            out.env[env] = os.environ[env]
        if file is not None:
            try:
                out.files[file] = Path(file).read_bytes()
            except OSError as e:
                raise LauncherError(f"{what} reads {file}: {e.strerror}", exit_code=2) from None
    return out


def parse_env(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise LauncherError(f"--env {item!r}: expected NAME=VALUE", exit_code=2)
        out[key] = value
    return out


def parse_exports(text: str) -> dict[str, str]:
    """`export NAME=value` lines (as `bottle egress run` prints them) -> dict."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        try:
            parts = shlex.split(line)
        except ValueError:
            continue
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            key, value = parts[1].split("=", 1)
            env[key] = value
    return env


def agent_environment(egress_env: dict[str, str], proxy_url: str, user_env: dict[str, str],
                      no_proxy: str | None = None) -> dict[str, str]:
    """The agent's environment: the user's variables, then everything the egress printed with
    the proxy and CA variables rewritten for the agent's side (its proxy address, its mount of
    the CA volume). Other printed variables — credential placeholders — pass through as they
    are; the agent never sees a real credential because the egress never prints one."""
    placeholders = {k: v for k, v in egress_env.items() if k not in CLIENT_VARS}
    managed = client_environment(proxy_url, Path(AGENT_BUNDLE), Path(AGENT_CERT),
                                 egress_env.get("BOTTLE_ID", ""), no_proxy or DEFAULT_NO_PROXY,
                                 placeholders)
    return {**{k: v for k, v in user_env.items() if k not in managed}, **managed}


def resolve_upstream(opts: StartOptions, client: Any) -> str:
    """"pipelock", "none" or a checked http://HOST:PORT."""
    up = opts.upstream
    if up is None:
        up = "pipelock" if image_exists(client, opts.pipelock_image) or not opts.inspect else None
        if up is None:
            raise LauncherError(
                f"no upstream chosen and the pipelock image {opts.pipelock_image} is not present",
                f"docker pull {opts.pipelock_image} (or pass --pipelock-image), or choose "
                "--upstream none / --upstream http://HOST:PORT", exit_code=2)
    if up in ("pipelock", "none"):
        if up == "pipelock" and not image_exists(client, opts.pipelock_image):
            raise LauncherError(f"the pipelock image {opts.pipelock_image} is not present",
                                f"docker pull {opts.pipelock_image} (or pass --pipelock-image), "
                                "or choose --upstream none / --upstream http://HOST:PORT")
        return up
    parts = urlsplit(up)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise LauncherError(f"--upstream {up!r}: expected pipelock, none or http://HOST:PORT",
                            exit_code=2)
    if not opts.inspect:
        raise LauncherError("--upstream http://... needs --inspect: without it the agent's only "
                            "way out is a pipelock container the launcher starts",
                            "add --inspect, or use --upstream pipelock / none", exit_code=2)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


# -- small Docker helpers --------------------------------------------------------------------

def _tar_one(name: str, data: bytes, mode: int = 0o644, uid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_file(container: Any, path: str) -> bytes | None:
    """A regular file from a (created or running) container's filesystem, or None."""
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        while member is not None and member.issym():
            # A symlink (e.g. /etc/ssl/cert.pem): follow it inside the container.
            target = member.linkname
            if not target.startswith("/"):
                target = str(Path(path).parent / target)
            return read_file(container, target)
        if member is None or not member.isfile():
            return None
        f = tar.extractfile(member)
        return f.read() if f else None


def exec_checked(container: Any, cmd: list[str], user: str = "") -> bytes:
    res = container.exec_run(cmd, user=user, demux=True)
    out, err = res.output
    if res.exit_code != 0:
        raise LauncherError(f"{' '.join(cmd)} in {container.name} failed: "
                            f"{(err or out or b'').decode(errors='replace').strip()}")
    return out or b""


def container_ip(client: Any, container: str, network: str) -> str:
    c = client.containers.get(container)
    ip: str = c.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return ip


def _remove_quietly(fn: Callable[[], None]) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        fn()


class Rollback:
    """Resources created so far; removed in reverse order unless the start completes."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def add(self, fn: Callable[[], None]) -> None:
        self.undo.append(fn)

    def run(self) -> None:
        for fn in reversed(self.undo):
            with contextlib.suppress(docker.errors.APIError):
                _remove_quietly(fn)


# -- listing and removing --------------------------------------------------------------------

@dataclass
class BottleSummary:
    name: str
    state: str
    image: str
    inspect: bool
    upstream: str
    containers: list[str]


def list_bottles(client: Any) -> list[BottleSummary]:
    by_name: dict[str, BottleSummary] = {}
    for c in client.containers.list(all=True, filters=bottle_filter()):
        name = c.labels.get(LABEL_BOTTLE, "?")
        s = by_name.setdefault(name, BottleSummary(name, "incomplete", "-", False, "-", []))
        s.containers.append(c.name)
        if c.labels.get(LABEL_ROLE) == "agent":
            s.state = c.status
            s.image = c.labels.get("io.bottle-egress.image", "-")
            s.inspect = c.labels.get("io.bottle-egress.inspect") == "1"
            s.upstream = c.labels.get("io.bottle-egress.upstream", "-")
    return sorted(by_name.values(), key=lambda s: s.name)


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    recording: Path | None = None

    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)


def save_recording(egress: Any, target: Path) -> Path | None:
    """Stop the proxy gracefully (it closes the flow file), then copy the file out."""
    with contextlib.suppress(docker.errors.APIError):
        egress.stop(timeout=10)
    try:
        stream, _ = egress.get_archive(RECORD_FILE)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        f = tar.extractfile(member) if member is not None else None
        if f is None:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read())
    return target


def remove_bottle(client: Any, name: str) -> Removed:
    """Remove every resource labelled with this bottle. Idempotent.

    Containers go first (the egress container's tmpfs, holding the CA key, goes with it);
    then the networks and the CA volume (the public certificate and bundle)."""
    done = Removed()
    flt = bottle_filter(name)
    for c in client.containers.list(all=True, filters=flt):
        if c.labels.get("io.bottle-egress.record") and c.status == "running":
            done.recording = save_recording(c, Path(c.labels["io.bottle-egress.record"]))
    for c in client.containers.list(all=True, filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True, v=True)
            done.containers.append(c.name)
    for n in client.networks.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            n.remove()
            done.networks.append(n.name)
    for v in client.volumes.list(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            v.remove(force=True)
            done.volumes.append(v.name)
    shutil.rmtree(host_dir(name), ignore_errors=True)
    return done


def _check_free(client: Any, names: Names) -> None:
    """Refuse names that belong to something that is not one of our bottles."""
    for cname in (names.agent, names.egress, names.pipelock):
        with contextlib.suppress(docker.errors.NotFound):
            c = client.containers.get(cname)
            if c.labels.get(LABEL_BOTTLE) != names.bottle:
                raise LauncherError(f"a container named {cname} exists and is not part of "
                                    f"bottle {names.bottle}",
                                    f"pick another --name, or remove it: docker rm -f {cname}")
    for nname in (names.internal_net, names.egress_net):
        for n in client.networks.list(names=[nname]):
            if n.name == nname and (n.attrs.get("Labels") or {}).get(LABEL_BOTTLE) != names.bottle:
                raise LauncherError(f"a network named {nname} exists and is not part of bottle "
                                    f"{names.bottle}",
                                    f"pick another --name, or remove it: docker network rm {nname}")


# -- starting --------------------------------------------------------------------------------

def _require_image(client: Any, ref: str, what: str) -> None:
    if not image_exists(client, ref):
        raise LauncherError(f"the {what} image {ref} is not present",
                            f"build it: `{BUILD_COMMAND}` (offline: `sudo {BUILD_COMMAND} --offline`),"
                            f" or pass another image")


def egress_command(opts: StartOptions, upstream: str, policy_in_container: str | None,
                   upstream_ca_in_container: str | None, dns_guard: bool) -> list[str]:
    cmd = ["egress", "run", "--listen", f"0.0.0.0:{PROXY_PORT}", "--bottle-id", opts.name,
           "--state-dir", STATE_DIR, "--audit-log", AUDIT_LOG]
    if opts.record is not None:
        cmd += ["--record", RECORD_FILE]
    if policy_in_container:
        cmd += ["--policy", policy_in_container]
    if upstream_ca_in_container:
        cmd += ["--upstream-ca", upstream_ca_in_container]
    if upstream == "pipelock":
        cmd += ["--upstream", f"http://{Names(opts.name).pipelock}:{PIPELOCK_PORT}"]
    elif upstream != "none":
        cmd += ["--upstream", upstream]
    if dns_guard:
        # The guard forwards what it allows to the egress container's own resolver (Docker's
        # embedded DNS on the egress-side network), unless told otherwise.
        cmd += ["--dns-listen", f"0.0.0.0:{DNS_PORT}",
                "--dns-upstream", opts.dns_upstream or "127.0.0.11:53"]
    return cmd


def dns_guard_available() -> bool:
    """Whether this checkout's `bottle egress run` has the DNS guard (--dns-listen)."""
    from egress.cli import build_parser

    parser = build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        egress = getattr(action, "choices", {}).get("egress")
        if egress is None:
            continue
        for sub in egress._subparsers._group_actions:
            run = sub.choices.get("run")
            if run is not None:
                return any("--dns-listen" in a.option_strings for a in run._actions)
    return False


def wait_for_exports(container: Any, timeout: float = READY_TIMEOUT) -> dict[str, str]:
    """Wait until the egress printed its client environment (the BOTTLE_ID line closes it)."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        env = parse_exports(out)
        if "BOTTLE_ID" in env:
            return env
        container.reload()
        if container.status in ("exited", "dead"):
            err = container.logs(stdout=False, stderr=True).decode(errors="replace")
            raise LauncherError("the egress container stopped before it was ready:\n"
                                + "\n".join(err.strip().splitlines()[-10:]))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    raise LauncherError(f"the egress container was not ready within {timeout:.0f} s",
                        f"see `docker logs {container.name}`")


def _start_pipelock(client: Any, opts: StartOptions, names: Names, rb: Rollback,
                    network: str) -> Any:
    c = client.containers.create(
        opts.pipelock_image, name=names.pipelock, network=network,
        labels=labels(opts.name, "pipelock"), detach=True,
        security_opt=["no-new-privileges"], cap_drop=["ALL"])
    rb.add(lambda: c.remove(force=True))
    return c


def _start_egress(client: Any, opts: StartOptions, names: Names, rb: Rollback,
                  upstream: str, secrets: SecretInputs) -> tuple[Any, dict[str, str]]:
    ca_volume = client.volumes.create(names.ca_volume, labels=labels(opts.name, "ca"))
    rb.add(lambda: ca_volume.remove(force=True))
    policy_in = f"{CONFIG_DIR}/policy.yaml" if opts.policy else None
    upstream_ca_in = f"{CONFIG_DIR}/upstream-ca.pem" if opts.upstream_ca else None
    dns_guard = dns_guard_available()
    env = dict(secrets.env)
    egress_labels = labels(opts.name, "egress")
    if opts.record is not None:
        egress_labels["io.bottle-egress.record"] = str(opts.record.resolve())
    c = client.containers.create(
        opts.egress_image,
        egress_command(opts, upstream, policy_in, upstream_ca_in, dns_guard),
        name=names.egress, network=names.egress_net, detach=True,
        labels=egress_labels, environment=env,
        user=f"{EGRESS_UID}:{EGRESS_UID}",
        cap_drop=["ALL"], security_opt=["no-new-privileges"],
        # The DNS guard binds port 53 without any capability.
        sysctls={"net.ipv4.ip_unprivileged_port_start": str(DNS_PORT)},
        # The CA key lives only here: memory-backed, private to the egress user.
        tmpfs={"/run/bottle": f"uid={EGRESS_UID},gid={EGRESS_UID},mode=0700,size=64m",
               "/tmp": "size=64m"},
        mounts=[docker.types.Mount(EXPORT_DIR, names.ca_volume, type="volume")],
    )
    rb.add(lambda: c.remove(force=True))
    client.networks.get(names.internal_net).connect(c)
    if opts.upstream_network:
        try:
            client.networks.get(opts.upstream_network).connect(c)
        except docker.errors.NotFound:
            raise LauncherError(f"--upstream-network {opts.upstream_network}: no such network",
                                "docker network ls") from None
    for local, inside in ((opts.policy, policy_in), (opts.upstream_ca, upstream_ca_in)):
        if local is not None and inside is not None:
            c.put_archive(CONFIG_DIR, _tar_one(Path(inside).name, local.read_bytes(), 0o644,
                                               int(EGRESS_UID)))
    for path, data in secrets.files.items():  # same path as on the host, the egress user's only
        c.put_archive("/", _tar_one(path.lstrip("/"), data, 0o400, int(EGRESS_UID)))
    c.start()
    exports = wait_for_exports(c)
    # Only the public files leave the tmpfs: into the CA volume, for the agent to mount.
    exec_checked(c, ["cp", exports["SSL_CERT_FILE"], exports["NODE_EXTRA_CA_CERTS"], EXPORT_DIR],
                 user=EGRESS_UID)
    exports["_ca_cert_pem"] = exec_checked(c, ["cat", exports["NODE_EXTRA_CA_CERTS"]],
                                           user=EGRESS_UID).decode()
    return c, exports


def _install_system_trust(agent: Any, ca_pem: str) -> str | None:
    """Append the bottle CA to the image's system store (before start); returns its path."""
    for store in SYSTEM_STORES:
        data = read_file(agent, store)
        if data is None:
            continue
        if not data.endswith(b"\n"):
            data += b"\n"
        data += ca_pem.encode()
        directory, _, filename = store.rpartition("/")
        agent.put_archive(directory, _tar_one(filename, data))
        return store
    return None


def start(client: Any, opts: StartOptions, on_step: Callable[[str], None] | None = None) -> BottleInfo:
    step = on_step or (lambda _msg: None)
    names = Names(check_name(opts.name))
    if opts.policy is not None and not opts.inspect:
        raise LauncherError("--policy needs --inspect (the policy is the egress proxy's)",
                            exit_code=2)
    policy = check_policy(opts.policy or default_policy_path()) if opts.inspect else None
    secrets = secret_inputs(policy) if policy is not None else SecretInputs()
    probe = probe_host(policy) if policy is not None else None
    if opts.record is not None and not opts.inspect:
        raise LauncherError("--record needs --inspect (the egress proxy records)", exit_code=2)
    if opts.upstream_ca is not None and not opts.upstream_ca.is_file():
        raise LauncherError(f"--upstream-ca {opts.upstream_ca}: no such file", exit_code=2)
    if opts.workdir is not None and not opts.workdir.is_dir():
        raise LauncherError(f"--workdir {opts.workdir}: no such directory", exit_code=2)
    upstream = resolve_upstream(opts, client)
    _require_image(client, opts.image, "agent")
    if opts.inspect:
        _require_image(client, opts.egress_image, "egress")

    running = [c for c in client.containers.list(filters=bottle_filter(opts.name))
               if c.labels.get(LABEL_ROLE) == "agent"]
    if running:
        raise LauncherError(f"bottle {opts.name} is already running",
                            f"`bottle stop {opts.name}` first, or pick another --name")
    leftovers = remove_bottle(client, opts.name)
    if not leftovers.empty():
        step(f"removed leftovers of an earlier run of {opts.name}: "
             f"{', '.join(leftovers.containers + leftovers.networks + leftovers.volumes)}")
    _check_free(client, names)

    rb = Rollback()
    try:
        # internal: no route out. inhibit_ipv4: the host takes no address on this bridge, so
        # the agent cannot reach services listening on the host's wildcard address either
        # (a plain internal network lets it, through the gateway address).
        internal = client.networks.create(
            names.internal_net, driver="bridge", internal=True,
            options={"com.docker.network.bridge.inhibit_ipv4": "true"},
            labels=labels(opts.name, "internal"))
        rb.add(internal.remove)
        needs_egress_side = opts.inspect or upstream == "pipelock"
        if needs_egress_side:
            outside = client.networks.create(names.egress_net, driver="bridge",
                                             labels=labels(opts.name, "egress-side"))
            rb.add(outside.remove)

        pipelock = None
        if upstream == "pipelock":
            pipelock = _start_pipelock(client, opts, names, rb, names.egress_net)
            if not opts.inspect:
                internal.connect(pipelock)
            pipelock.start()
            step(f"pipelock {opts.pipelock_image} started")

        egress = None
        exports: dict[str, str] = {}
        egress_ip: str | None = None
        if opts.inspect:
            egress, exports = _start_egress(client, opts, names, rb, upstream, secrets)
            egress_ip = container_ip(client, names.egress, names.internal_net)
            step(f"egress proxy ready at {egress_ip}:{PROXY_PORT}")

        env: dict[str, str]
        mounts = []
        if egress_ip is not None:
            env = agent_environment({k: v for k, v in exports.items() if not k.startswith("_")},
                                    f"http://{egress_ip}:{PROXY_PORT}", opts.env)
            mounts.append(docker.types.Mount(AGENT_CA_DIR, names.ca_volume, type="volume",
                                             read_only=True))
            # The agent's one resolver is the DNS guard, by two independent means: Docker's
            # embedded DNS (127.0.0.11) forwards only to `dns` (and, on engines fixed for
            # CVE-2024-29018, never through the host); and where the engine shares this disk,
            # a read-only resolv.conf names the guard directly, so resolution does not depend
            # on how a given engine version forwards from internal networks.
            dns = [egress_ip]
            if engine_is_local(client):
                resolv = write_resolv_conf(opts.name, egress_ip)
                rb.add(lambda: shutil.rmtree(host_dir(opts.name), ignore_errors=True))
                mounts.append(docker.types.Mount("/etc/resolv.conf", str(resolv), type="bind",
                                                 read_only=True))
        elif pipelock is not None:
            ip = container_ip(client, names.pipelock, names.internal_net)
            url = f"http://{ip}:{PIPELOCK_PORT}"
            env = {**opts.env, "HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url,
                   "http_proxy": url, "BOTTLE_ID": opts.name}
            dns = [ip]  # pipelock serves no DNS: lookups fail rather than leave through the host
        else:
            env = {**opts.env, "BOTTLE_ID": opts.name}
            dns = ["192.0.2.1"]  # TEST-NET-1, unroutable from an internal network
        if opts.workdir is not None:
            mounts.append(docker.types.Mount("/workspace", str(opts.workdir.resolve()), type="bind"))

        agent_labels = labels(opts.name, "agent")
        agent_labels.update({"io.bottle-egress.image": opts.image,
                             "io.bottle-egress.inspect": "1" if opts.inspect else "0",
                             "io.bottle-egress.upstream": upstream})
        if probe:
            agent_labels["io.bottle-egress.probe-host"] = probe
        agent = client.containers.create(
            opts.image, list(opts.command) or None, name=names.agent, network=names.internal_net,
            detach=True, environment=env, labels=agent_labels, mounts=mounts, dns=dns,
            cap_drop=["ALL"], cap_add=list(opts.cap_add) or None,
            security_opt=["no-new-privileges"], hostname=opts.name,
            working_dir="/workspace" if opts.workdir is not None else None)
        rb.add(lambda: agent.remove(force=True))
        if egress_ip is not None:
            store = _install_system_trust(agent, exports["_ca_cert_pem"])
            if store:
                step(f"bottle CA added to the agent's system store {store}")
        agent.start()
        step(f"agent {names.agent} started from {opts.image}")
    except LauncherError:
        rb.run()
        raise
    except docker.errors.APIError as e:
        rb.run()
        raise LauncherError(f"starting bottle {opts.name} failed: {e.explanation or e}",
                            "nothing was left behind; fix the cause and rerun") from None
    except BaseException:
        rb.run()
        raise
    return BottleInfo(opts.name, names.agent, names.egress if egress else None, egress_ip,
                      upstream, env)


def find_container(client: Any, name: str, role: str) -> Any:
    found = client.containers.list(all=True, filters={"label": [f"{LABEL_BOTTLE}={name}",
                                                               f"{LABEL_ROLE}={role}"]})
    if not found:
        if role == "egress" and client.containers.list(all=True, filters=bottle_filter(name)):
            raise LauncherError(f"bottle {name} has no egress container (started without --inspect)")
        raise LauncherError(f"no bottle named {name}", "`bottle ls` lists the bottles")
    return found[0]


def read_audit(client: Any, name: str) -> Iterator[str]:
    """The bottle's audit log lines (JSONL), from the egress container's tmpfs."""
    egress = find_container(client, name, "egress")
    if egress.status != "running":
        raise LauncherError(f"the egress container of {name} is not running ({egress.status})")
    out = exec_checked(egress, ["cat", AUDIT_LOG], user=EGRESS_UID)
    yield from out.decode(errors="replace").splitlines()


def follow_audit(client: Any, name: str) -> Iterator[str]:
    egress = find_container(client, name, "egress")
    res = egress.exec_run(["tail", "-n", "+1", "-F", AUDIT_LOG], user=EGRESS_UID, stream=True)
    buf = b""
    for chunk in res.output:
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode(errors="replace")
