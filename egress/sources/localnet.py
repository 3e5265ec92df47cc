"""The proxy host's own addresses and directly connected networks (Linux `/proc/net`).

Inside the egress container these are its own addresses and the Docker networks it is
attached to (the bottle's internal network, the egress network, whose gateway is the
host's bridge address); run on a host, they include the Docker bridges. The proxy refuses
to dial any of them unless the policy lists them (`hosts.allow_private`), whatever range
Docker allocated them from. Read again every few seconds: Docker attaches networks to a
running container.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from pathlib import Path

from egress.addresses import IPNetwork

REFRESH_SECONDS = 5.0


def _ipv4_hex(value: str) -> ipaddress.IPv4Address:
    """An address from /proc/net/route (host byte order, little-endian on Linux hosts)."""
    return ipaddress.IPv4Address(socket.inet_ntoa(struct.pack("=I", int(value, 16))))


def connected_ipv4(route: str) -> list[IPNetwork]:
    """Networks with a direct route (no gateway) from the text of /proc/net/route."""
    out: list[IPNetwork] = []
    for line in route.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination, gateway, mask = fields[1], fields[2], fields[7]
        if int(gateway, 16) != 0 or int(mask, 16) == 0:
            continue
        network = ipaddress.IPv4Network(f"{_ipv4_hex(destination)}/{_ipv4_hex(mask)}", strict=False)
        out.append(network)
    return out


def local_ipv4(fib_trie: str) -> list[IPNetwork]:
    """The host's own IPv4 addresses from the text of /proc/net/fib_trie."""
    out: list[IPNetwork] = []
    last: str | None = None
    for line in fib_trie.splitlines():
        text = line.strip()
        if text.startswith("|--"):
            last = text[3:].strip()
        elif text.startswith("/32 host LOCAL") and last:
            out.append(ipaddress.IPv4Network(f"{last}/32"))
    return out


def local_ipv6(if_inet6: str) -> list[IPNetwork]:
    """The host's own IPv6 addresses and their on-link prefixes from /proc/net/if_inet6."""
    out: list[IPNetwork] = []
    for line in if_inet6.splitlines():
        fields = line.split()
        if len(fields) < 3 or len(fields[0]) != 32:
            continue
        address = ipaddress.IPv6Address(int(fields[0], 16))
        prefix = int(fields[2], 16)
        out.append(ipaddress.IPv6Network(f"{address}/128"))
        out.append(ipaddress.IPv6Network(f"{address}/{prefix}", strict=False))
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def read_local_networks(root: Path = Path("/proc/net")) -> tuple[IPNetwork, ...]:
    networks = [*local_ipv4(_read(root / "fib_trie")), *connected_ipv4(_read(root / "route")),
                *local_ipv6(_read(root / "if_inet6"))]
    return tuple(dict.fromkeys(networks))


class LocalNetworks:
    """`read_local_networks()`, read at most every `REFRESH_SECONDS` (the same tuple object
    is returned while nothing was re-read, so callers can cache on identity)."""

    def __init__(self, root: Path = Path("/proc/net")) -> None:
        self.root = root
        self._networks: tuple[IPNetwork, ...] = ()
        self._read_at = float("-inf")

    def current(self) -> tuple[IPNetwork, ...]:
        now = time.monotonic()
        if now - self._read_at >= REFRESH_SECONDS:
            networks = read_local_networks(self.root)
            if networks != self._networks:
                self._networks = networks
            self._read_at = now
        return self._networks
