"""IP addresses: one canonical spelling, and which addresses are not public (pure, no I/O).

A resolver accepts many spellings of one address: `127.1`, `2130706433`, `0x7f000001`,
`0177.0.0.1`, `127.000.000.001`, `[::ffff:127.0.0.1]`, `0`. Policy patterns and request
targets are both passed through `canonical_ip` (via `egress.hostmatch.normalize_host`), so a
rule naming `127.0.0.1` matches every spelling a client can use to reach it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HEX = frozenset("0123456789abcdefABCDEF")


def _ipv4_part(part: str) -> int | None:
    """One part of an inet_aton-style address: decimal, octal (leading 0) or hex (0x)."""
    if part[:2] in ("0x", "0X"):
        digits = part[2:]
        # `0x` alone is 0 to glibc when another part follows; recognising it everywhere only
        # makes us treat more strings as addresses, never fewer.
        return int(digits, 16) if digits and set(digits) <= _HEX else (0 if not digits else None)
    if not part.isascii() or not part.isdigit():
        return None
    if len(part) > 1 and part[0] == "0":
        return int(part, 8) if set(part) <= set("01234567") else None
    return int(part)


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values = []
    for part in parts:
        value = _ipv4_part(part)
        if value is None:
            return None
        values.append(value)
    # Every part but the last is one byte; the last fills the remaining bytes (`127.1`).
    last_bits = 8 * (5 - len(values))
    if any(v > 0xFF for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    number = 0
    for v in values[:-1]:
        number = number << 8 | v
    number = number << last_bits | values[-1]
    return ipaddress.IPv4Address(number)


def parse_ip(host: str) -> IPAddress | None:
    """The address `host` names when written in any spelling a resolver accepts as an IP
    literal (brackets and a trailing dot allowed), else None. IPv4-mapped IPv6 addresses
    are the IPv4 address they map (a dial to `::ffff:127.0.0.1` reaches 127.0.0.1)."""
    if not host:
        return None
    text = host
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            v6 = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        return v6.ipv4_mapped or v6
    text = text[:-1] if text.endswith(".") else text
    if not text or not (text[0].isdigit() or text[-1].isdigit()):
        return None
    return _ipv4(text)


def canonical_ip(host: str) -> str | None:
    """The standard spelling of the IP address `host` names (see `parse_ip`), else None."""
    address = parse_ip(host)
    return None if address is None else address.compressed


def _nets(*cidrs: str) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(c), kind) for c, kind in
                 (x.split(" ", 1) for x in cidrs))


# Addresses that are not on the public Internet: what a bottle must not reach through the
# proxy unless the policy names them (`hosts.allow_private`). Written out rather than taken
# from `ipaddress.is_global`, whose answers change between Python versions.
NON_PUBLIC = _nets(
    "0.0.0.0/8 unspecified",           # 0.0.0.0 reaches the local host on Linux
    "10.0.0.0/8 private",
    "100.64.0.0/10 shared (CGNAT)",
    "127.0.0.0/8 loopback",
    "169.254.0.0/16 link-local",       # includes the cloud metadata service 169.254.169.254
    "172.16.0.0/12 private",
    "192.0.0.0/24 IETF protocol assignments",
    "192.0.2.0/24 documentation",
    "192.88.99.0/24 6to4 relay anycast",
    "192.168.0.0/16 private",
    "198.18.0.0/15 benchmarking",
    "198.51.100.0/24 documentation",
    "203.0.113.0/24 documentation",
    "224.0.0.0/4 multicast",
    "240.0.0.0/4 reserved",            # includes 255.255.255.255 broadcast
    "::/128 unspecified",
    "::1/128 loopback",
    "::/96 IPv4-compatible (deprecated)",
    "100::/64 discard-only",
    "2001:db8::/32 documentation",
    "fc00::/7 unique local (private)",
    "fe80::/10 link-local",
    "fec0::/10 site-local (deprecated)",
    "ff00::/8 multicast",
)
# IPv6 prefixes that carry an IPv4 address a packet may end up at: that address is judged too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (NAT64, 6to4, Teredo), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def non_public_kind(address: IPAddress) -> str | None:
    """Why `address` is not a public address ("loopback", "private", ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    for network, kind in NON_PUBLIC:
        if address.version == network.version and address in network:
            return kind
    inner = embedded_ipv4(address)
    inner_kind = non_public_kind(inner) if inner is not None else None
    return f"{inner_kind} (embedded in {address.compressed})" if inner_kind else None


def parse_network(value: str) -> IPNetwork:
    """A CIDR (`10.0.0.0/8`) or a single address in any spelling (`127.1` -> 127.0.0.1/32).
    Raises ValueError in a user's words."""
    text = value.strip()
    if "/" not in text:
        address = parse_ip(text)
        if address is None:
            raise ValueError(f"{value!r} is not an IP address or CIDR (e.g. 10.0.0.0/8, 127.0.0.1)")
        return ipaddress.ip_network(address)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR (e.g. 10.0.0.0/8, fd00::/8)") from None


@dataclass(frozen=True, slots=True)
class AddressRefusal:
    address: str
    kind: str


class AddressPolicy:
    """Which addresses the proxy may dial: public ones, and non-public ones only when
    `allowed` covers them. `local` adds the proxy host's own addresses and networks (its
    interfaces, Docker bridges), refused like private ranges whatever their range."""

    __slots__ = ("_allowed", "_local")

    def __init__(self, allowed: Iterable[IPNetwork] = (), local: Iterable[IPNetwork] = ()) -> None:
        self._allowed = tuple(allowed)
        self._local = tuple(local)

    def with_local(self, local: Iterable[IPNetwork]) -> AddressPolicy:
        return AddressPolicy(self._allowed, local)

    def allowed(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self._allowed)

    def refusal(self, address: IPAddress) -> AddressRefusal | None:
        """Why dialling `address` is refused, or None when it may be dialled."""
        kind: str | None = non_public_kind(address)
        if kind is None:
            for network in self._local:
                if address.version == network.version and address in network:
                    kind = f"the proxy host's own network {network}"
                    break
        if kind is None or self.allowed(address):
            return None
        return AddressRefusal(address.compressed, kind)
