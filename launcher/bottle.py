"""One bottle's Docker resources: their names and labels, what the agent gets, listing and
removing them (`launcher/start.py` creates them).

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
import os
import re
import shlex
import shutil
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker.errors

from egress.envvars import CLIENT_VARS, DEFAULT_NO_PROXY, client_environment
from egress.policy.compiled import compile_policy
from egress.policy.loader import load_policy
from egress.policy.model import Policy
from egress.policy.problems import PolicyError
from egress.sources.paths import default_state_root
from launcher import auditlog
from launcher.defaults import AGENT, DEFAULT_PIPELOCK_IMAGE, EGRESS
from launcher.egress_policy import read_secret_file
from launcher.engine import LABEL_BOTTLE, LABEL_POLICY, LABEL_ROLE, bottle_filter, image_exists
from launcher.errors import LauncherError
from launcher.limits import AGENT_DEFAULTS, EGRESS_DEFAULTS, Limits, limits_of

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
PROXY_PORT = 8080
DNS_PORT = 53
EGRESS_UID = "10001"
# `bottle start --inspect --metrics-port P`: the egress container's metrics listener, bound to
# the address its hostname has in its own /etc/hosts, i.e. on the egress-side network it is
# created on (the agent's internal network is joined later and never gets a listener); the
# host reaches it through a port published on 127.0.0.1 only.
METRICS_PORT = 9090
EGRESS_HOSTNAME = "bottle-egress"
# Inside the egress container: the CA's tmpfs, the policy and trust files, the public export.
STATE_DIR = "/run/bottle/state"
# On disk, not the CA's 64 MiB tmpfs: the policy's rotation budget (`audit.max_bytes` times
# `backups` + 1, 300 MiB by default) does not fit there, and a tmpfs would spend it from the
# egress container's memory limit. The directory is a host directory bind-mounted there, so the
# log outlives the bottle (`launcher.auditlog`). Its events hold no secret.
AUDIT_LOG = "/var/lib/bottle/audit.jsonl"
# Beside it, not on the tmpfs: it must outlive the proxy's graceful stop.
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
    # "UID[:GID]" for the agent; None: chosen by `launcher.agent_user`.
    user: str | None = None
    limits: Limits = AGENT_DEFAULTS
    egress_limits: Limits = EGRESS_DEFAULTS
    # Host port (on 127.0.0.1) publishing the egress container's /metrics, /healthz, /readyz.
    metrics_port: int | None = None


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


def _policy_error(path: Path, e: PolicyError) -> LauncherError:
    return LauncherError(f"policy {path} is invalid:\n{e}",
                         f"fix the lines above; `bottle policy check {path}` rechecks it",
                         exit_code=2)


def load_checked(path: Path) -> Policy:
    """Parse and validate the policy file (fast: no scanner is compiled)."""
    try:
        return load_policy(path)
    except PolicyError as e:
        raise _policy_error(path, e) from None


def compile_checked(policy: Policy, path: Path) -> None:
    """The rest of `bottle policy check`: compile the scanners, resolve secret sources."""
    try:
        compile_policy(policy, str(path))
    except PolicyError as e:
        raise _policy_error(path, e) from None


def check_policy(path: Path) -> Policy:
    """The same validation as `bottle policy check` (credential and known-secret sources
    included: they must resolve in this shell), before any container exists."""
    policy = load_checked(path)
    compile_checked(policy, path)
    return policy


def probe_host(policy: Policy) -> str | None:
    """A host the policy allows by exact name (for `bottle doctor`'s probe), if any."""
    exact = (h for rule in policy.hosts.allow for h in rule.hosts if "*" not in h)
    return next(exact, None)


@dataclass
class SecretInputs:
    """What the egress container needs to read the policy's real secrets: the environment
    variables (taken from this shell) and the files (by their path in the policy; copied in,
    readable by its user only: `launcher.egress_policy`). None of it ever reaches the agent."""

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
                out.files[file] = read_secret_file(file)
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
    # As the engine enforces them (None: the container has none, or does not exist).
    agent_limits: Limits | None = None
    egress_limits: Limits | None = None
    # A stopped bottle's kept audit log (`bottle ls --all`).
    log: str | None = None
    # Digest of the egress policy (as `bottle policy check` and the audit log show it).
    policy: str = "-"

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.endswith("_limits")}
        out["limits"] = {"agent": self.agent_limits.as_json() if self.agent_limits else None,
                         "egress": self.egress_limits.as_json() if self.egress_limits else None}
        return out


def list_bottles(client: Any) -> list[BottleSummary]:
    by_name: dict[str, BottleSummary] = {}
    for c in client.containers.list(all=True, filters=bottle_filter()):
        name = c.labels.get(LABEL_BOTTLE, "?")
        s = by_name.setdefault(name, BottleSummary(name, "incomplete", "-", False, "-", []))
        s.containers.append(c.name)
        role = c.labels.get(LABEL_ROLE)
        if role == "agent":
            s.state = c.status
            s.image = c.labels.get("io.bottle-egress.image", "-")
            s.inspect = c.labels.get("io.bottle-egress.inspect") == "1"
            s.upstream = c.labels.get("io.bottle-egress.upstream", "-")
            s.agent_limits = limits_of(c.attrs.get("HostConfig") or {})
        elif role == "egress":
            s.egress_limits = limits_of(c.attrs.get("HostConfig") or {})
            s.policy = c.labels.get(LABEL_POLICY, "-")
    return sorted(by_name.values(), key=lambda s: s.name)


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    recording: Path | None = None
    audit: Path | None = None
    audit_problem: str | None = None

    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)


def save_recording(egress: Any, target: Path, owner: tuple[int, int] | None = None
                   ) -> Path | None:
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
        write_private(target, f.read(), owner)
    return target


def write_private(target: Path, data: bytes, owner: tuple[int, int] | None = None) -> None:
    """Write a file only its owner can read (0600, as `bottle egress run --record` writes its
    recordings): recorded flows are redacted, but still show what the agent did."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        if owner is not None and os.geteuid() == 0:  # the user who ran sudo gets it back
            os.fchown(out.fileno(), *owner)
        out.write(data)


def remove_bottle(client: Any, name: str) -> Removed:
    """Remove every resource labelled with this bottle. Idempotent.

    Containers go first (the egress container's tmpfs, holding the CA key, goes with it);
    then the networks and the CA volume (the public certificate and bundle)."""
    done = Removed()
    flt = bottle_filter(name)
    containers = client.containers.list(all=True, filters=flt)
    for c in containers:
        if c.labels.get("io.bottle-egress.record") and c.status == "running":
            done.recording = save_recording(c, Path(c.labels["io.bottle-egress.record"]),
                                            auditlog.owner_of(c.labels))
    for c in containers:
        if c.labels.get(auditlog.LABEL_LOG):
            try:
                done.audit = auditlog.keep(c, containers, str(Path(AUDIT_LOG).parent))
            except LauncherError as e:  # the bottle still goes; its live directory stays
                done.audit_problem = str(e)
    for c in containers:
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


def find_container(client: Any, name: str, role: str) -> Any:
    found = client.containers.list(all=True, filters={"label": [f"{LABEL_BOTTLE}={name}",
                                                               f"{LABEL_ROLE}={role}"]})
    if not found:
        if role == "egress" and client.containers.list(all=True, filters=bottle_filter(name)):
            raise LauncherError(f"bottle {name} has no egress container (started without --inspect)")
        raise LauncherError(f"no bottle named {name}", "`bottle ls` lists the bottles")
    return found[0]
