"""Which host a request goes to, and whether every name it carries agrees (pure, no flows).

A request is routed by several names: the proxy dials the CONNECT target (or the host of a
plain-HTTP proxy request's URL), the TLS SNI picks the origin's certificate, and the origin
routes by the request target's authority (absolute-form HTTP/1 or HTTP/2 `:authority`) or
the Host header. A shared origin (CDN, multi-vhost server) that is reached for one name and
routes by another would carry the request — and any credential injected for the first
name — to the second. So every name present must name the same host, and the same port
where one is given; a field that does not name exactly one host makes the request
ambiguous. The checks run on every request and cost a few string operations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from egress.addresses import parse_ip
from egress.hostmatch import normalize_host

RULES = {
    "authority-mismatch": "The request target's authority, the Host header, the TLS SNI and the "
    "CONNECT target (or a plain-HTTP request's URL) do not all name the same host and port.",
    "ambiguous-host": "The request does not name exactly one host: duplicate Host headers, user "
    "info (`user@host`) in the Host header or request target, or a value that is not a host.",
    "invalid-method": "The request method is not a plain method token (upper-case letters, `-` "
    "and `_`, at most 20 characters); such a method is refused, never forwarded.",
}

# Letters of registered methods (GET ... PROPFIND, M-SEARCH, BASELINE-CONTROL): anything else
# in a method position is data, not a method.
_METHOD = re.compile(r"[A-Z][A-Z_-]{0,19}")
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_PORT = re.compile(r"[0-9]{1,5}")


class AmbiguousName(ValueError):
    """A Host header or authority that does not name exactly one host."""


@dataclass(frozen=True, slots=True)
class Destination:
    host: str  # as `egress.hostmatch.normalize_host` writes it
    port: int | None  # None when the field gave no port

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@functools.lru_cache(maxsize=1024)
def parse_authority(text: str) -> Destination:
    """`host[:port]` as written in a Host header or a request target's authority.

    Raises `AmbiguousName` for user info, a list of hosts, an unbracketed IPv6 address, a
    bad port or characters no host name has. Cached (keep-alive requests repeat their Host)."""
    value = text.strip(" \t")
    if not value:
        raise AmbiguousName("an empty host")
    if "@" in value:
        raise AmbiguousName("user info (`user@host`) in place of a host")
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            raise AmbiguousName("an unterminated IPv6 literal")
        host, rest = value[: end + 1], value[end + 1 :]
        if ":" not in host or parse_ip(host) is None:
            raise AmbiguousName("a bracketed value that is not an IPv6 address")
        if rest and not rest.startswith(":"):
            raise AmbiguousName("characters after an IPv6 literal")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_or_empty = value.partition(":")
        if ":" in port_text_or_empty:
            raise AmbiguousName("more than one ':' (an IPv6 address must be in brackets)")
        if not _NAME.fullmatch(host):
            raise AmbiguousName("characters that no host name has")
        port_text = port_text_or_empty if sep else None
    port: int | None = None
    if port_text:  # `host:` (an empty port) means the default port
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
            raise AmbiguousName("a port that is not a number from 1 to 65535")
        port = int(port_text)
    canonical = normalize_host(host)
    if not canonical or canonical.startswith(".") or ".." in canonical:
        raise AmbiguousName("an empty label")
    return Destination(canonical, port)


@dataclass(frozen=True, slots=True)
class RoutingProblem:
    rule: str  # a key of RULES
    reason: str


def ambiguity(authority: str | None, host_headers: Sequence[str]) -> RoutingProblem | None:
    """`ambiguous-host` when the request target's authority or the Host header do not each
    name exactly one host (duplicates, user info, lists, junk); else None."""
    if len(host_headers) > 1:
        return RoutingProblem("ambiguous-host", f"the request has {len(host_headers)} Host headers")
    for role, text in (("request target", authority),
                       ("Host header", host_headers[0] if host_headers else None)):
        if not text:
            continue
        try:
            parse_authority(text)
        except AmbiguousName as e:
            return RoutingProblem("ambiguous-host", f"the {role} does not name one host: it holds {e}")
    return None


def check_routing(dial_host: str, dial_port: int, authority: str | None,
                  host_headers: Sequence[str], sni: str | None) -> RoutingProblem | None:
    """None when every name of a request agrees; else what is wrong (`ambiguity` first).

    `dial_host`/`dial_port`: where the proxy will connect (CONNECT target, or the URL of a
    plain-HTTP proxy request). `authority`: the request target's authority (absolute-form
    HTTP/1) or HTTP/2 `:authority`, None or empty when absent. `host_headers`: every Host
    header value. `sni`: the TLS SNI the client sent, if any.
    """
    problem = ambiguity(authority, host_headers)
    if problem is not None:
        return problem
    named = [(role, parse_authority(text)) for role, text in
             (("request target", authority), ("Host header", host_headers[0] if host_headers else None))
             if text]
    dial = Destination(normalize_host(dial_host), dial_port)
    disagree = [role for role, d in named
                if d.host != dial.host or (d.port is not None and d.port != dial.port)]
    if sni and normalize_host(sni) != dial.host:
        disagree.append("TLS SNI")
    if not disagree:
        return None
    # The other names are the client's words (a secret may hide in them): roles only.
    roles = " and the ".join(disagree)
    verb = "names" if len(disagree) == 1 else "name"
    return RoutingProblem("authority-mismatch",
                          f"the connection goes to {dial}, but the {roles} {verb} another destination")


def method_problem(method: str) -> str | None:
    """Why `method` is refused, or None for a plain method token."""
    if _METHOD.fullmatch(method):
        return None
    return ("the request method is not a plain method token (upper-case letters, '-' and '_', "
            "at most 20 characters)")


def header_host(header: str | None) -> str | None:
    """The normalised host of a Host header (`:authority` in HTTP/2), port removed; None
    when there is none or it does not name exactly one host."""
    if not header:
        return None
    try:
        return parse_authority(header).host
    except AmbiguousName:
        return None


def request_hosts(target: str, header: str | None, sni: str | None) -> list[str]:
    """Every name a request could be routed by: connection target, Host header, TLS SNI."""
    target = normalize_host(target)
    names = [target]
    host = header_host(header)
    if host and host != target:
        names.append(host)
    if sni:
        sni = normalize_host(sni)
        if sni not in names:
            names.append(sni)
    return names
