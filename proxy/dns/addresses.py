"""Where the DNS guard listens and forwards to: parsing `--dns-listen`/`--dns-upstream`, the
host's resolver, refusing the guard as its own upstream, and how a client points at it."""

from __future__ import annotations

from pathlib import Path


class DnsConfigError(Exception):
    """A user error in how the guard was asked to run."""


def parse_hostport(value: str, default_port: int, flag: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, str(default_port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise DnsConfigError(f"{flag} {value!r}: expected HOST:PORT, e.g. 127.0.0.1:5353")
    return host, int(port)


def system_resolver(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, int]:
    """The host's resolver: the first `nameserver` of resolv.conf."""
    try:
        text = resolv_conf.read_text()
    except OSError as e:
        raise DnsConfigError(f"cannot read {resolv_conf} ({e.strerror}); give --dns-upstream") from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            return parts[1].split("%", 1)[0], 53
    raise DnsConfigError(f"{resolv_conf} names no nameserver; give --dns-upstream HOST:PORT")


def check_not_self(listen: tuple[str, int], upstream: tuple[str, int]) -> None:
    """Refuse an upstream that is the guard itself (it would forward to itself forever)."""
    lhost, lport = listen
    uhost, uport = upstream
    if lport == 0 or lport != uport:
        return
    own = {lhost}
    if lhost in ("0.0.0.0", "::", ""):
        own |= {"127.0.0.1", "::1", "0.0.0.0", "::", "localhost"}
    if uhost in own:
        raise DnsConfigError(f"--dns-upstream {uhost}:{uport} is the guard's own address; "
                             "give the real resolver with --dns-upstream HOST:PORT")


def client_instructions(address: tuple[str, int], upstream: tuple[str, int]) -> list[str]:
    """How to point a client at the guard (printed on stderr at start)."""
    host, port = address
    shown = host if ":" not in host else f"[{host}]"
    lines = [f"DNS guard listening on {shown}:{port} (UDP and TCP), forwarding allowed names "
             f"to {upstream[0]}:{upstream[1]}"]
    if host in ("0.0.0.0", "::", ""):
        # a wildcard is where the guard listens, not an address a client can send to
        target = "ADDRESS"
        lines.append("listening on every address of this host: a client uses this host's "
                     f"address on the client's network (ADDRESS below), never {shown}")
    else:
        target = host
    if port == 53:
        lines.append(f"point a client at it: `nameserver {target}` in /etc/resolv.conf, or "
                     f"`docker run --dns {target} ...`")
    else:
        lines.append(f"point a client at it: `dig @{target} -p {port} NAME`; resolv.conf and "
                     "Docker's --dns only take port 53")
    return lines
