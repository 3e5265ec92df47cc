"""How the proxy was asked to run (`ProxyConfig`), what a started proxy tells its caller
(`ProxyInfo`), and the checks that turn a bad flag into a `ConfigError` before anything starts."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from addons.record import DEFAULT_MAX_BODY
from egress.envvars import DEFAULT_NO_PROXY
from egress.policy.compiled import CompiledPolicy

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


def check_export_dir(export_dir: Path | None) -> None:
    if export_dir is not None and not (export_dir.is_dir()
                                       and os.access(export_dir, os.W_OK | os.X_OK)):
        raise ConfigError(f"--export-dir {export_dir}: not a directory this user can write")


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
