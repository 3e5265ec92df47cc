"""One normalisation of a host name, whatever carried it.

The CONNECT target, the TLS SNI, the Host header, an absolute-form URL, a DNS question, a
CNAME answer and every replayed flow go through `host_name` before they are scored, so the
same name gets the same score everywhere:

- the port and IPv6 brackets of an authority are cut (`authority_host`);
- one trailing dot (the DNS root) is dropped; internationalised names become punycode;
- **case is kept**: hostnames ignore it, so mixed case in a label is a signal of its own
  (base64 keeps case, no other encoding and no ordinary name does);
- a name that no hostname can be is *malformed* (an empty label, a label over 63 or a name
  over 253 characters, a character outside letters, digits, `-` and `_`), with a reason
  that never quotes the name's labels. Malformed names are refused with
  `hostnames/malformed-hostname` on every path, live and in replay.
"""

from __future__ import annotations

import contextlib
import re
from typing import Final, NamedTuple

MAX_LABEL: Final = 63
MAX_NAME: Final = 253
_HOST_CHARS: Final = re.compile(r"[A-Za-z0-9_-]*")
_HOSTNAME_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_NAME_BYTES: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
# a `bytes.translate` table: 1 for a byte no well-formed name has (`1 in raw.translate(...)`
# is `raw.translate(None, _NAME_BYTES)` without the table built per call), else 0
_NOT_NAME: Final = bytes(0 if b in _NAME_BYTES else 1 for b in range(256))
_IPV4: Final = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")


_new: Final = tuple.__new__  # a NamedTuple built without its Python-level __new__ (the hot path)


class HostName(NamedTuple):
    """A name as scored. `text` keeps the case it came with; `lower` is for lookups."""

    text: str
    lower: str
    labels: tuple[str, ...]
    problem: str | None = None   # why no hostname looks like this (malformed), else None
    ip: bool = False             # an IPv4 or IPv6 literal: no labels to score

    @property
    def malformed(self) -> bool:
        return self.problem is not None


def authority_host(value: str | None) -> str:
    """The host of an authority (`host`, `host:port`, `[v6]:port`), case kept."""
    if not value:
        return ""
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        return value.rsplit(":", 1)[0]
    return value


def _label_problem(labels: list[str]) -> str | None:
    for i, label in enumerate(labels, 1):
        if not label:
            return f"label {i} is empty"
        if len(label) > MAX_LABEL:
            return f"label {i} has {len(label)} characters (DNS allows {MAX_LABEL})"
        if _HOST_CHARS.fullmatch(label) is None:
            bad = sorted(set(label) - _HOSTNAME_CHARS)
            shown = "".join(c if c.isprintable() and c.isascii() else "?" for c in bad[:6])
            return f"label {i} has characters no hostname has ({shown!r})"
    return None


def host_name(raw: str) -> HostName:
    """Normalise a bare host (no port: see `authority_host`)."""
    text = raw[:-1] if raw.endswith(".") else raw
    if not text.isascii():
        # mitmproxy hands out internationalised names decoded (`münchen.de`); they travel
        # as punycode. ASCII labels keep their case; what IDNA cannot encode stays as it is
        # (and is malformed below).
        with contextlib.suppress(UnicodeError):
            text = text.encode("idna").decode("ascii")
    lower = text.lower()
    labels = text.split(".")
    if text.isascii() and 1 not in text.encode("ascii").translate(_NOT_NAME) \
            and "" not in labels and max(map(len, labels)) <= MAX_LABEL:
        # the common case (labels of 1-63 letters, digits, `-`, `_`: no colon, not empty)
        # settled by C-level bytes and list operations, several times faster than a regex
        if text[-1] <= "9" and _IPV4.match(text):
            return _new(HostName, (text, lower, (), None, True))
        problem = None if len(text) <= MAX_NAME else \
            f"name has {len(text)} characters (DNS allows {MAX_NAME})"
        return _new(HostName, (text, lower, tuple(labels), problem, False))
    if ":" in text:  # only an IPv6 literal has colons once the port is cut
        return _new(HostName, (text, lower, (), None if _is_ipv6(text) else
                               "a colon in a name that is not an IPv6 address", True))
    if _IPV4.match(text):
        return _new(HostName, (text, lower, (), None, True))
    if not text:
        return _new(HostName, (text, lower, (), "empty name", False))
    # every name with only good labels took the first branch: this one has a bad label
    problem = _label_problem(labels)
    if problem is None and len(text) > MAX_NAME:
        problem = f"name has {len(text)} characters (DNS allows {MAX_NAME})"
    return _new(HostName, (text, lower, tuple(labels), problem, False))


def _is_ipv6(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


_HEX: Final = frozenset("0123456789abcdef")


def case_randomised(text: str, registered: str) -> bool:
    """The registered domain itself is in random case (`gOoGlE.cOm`): a resolver randomising
    the case of every name it forwards (DNS 0x20), so case says nothing about the labels.
    A capitalised word (`Example.com`) or an all-caps name is not random case."""
    tail = text[len(text) - len(registered):]
    if tail.islower() or tail.isupper():
        return False
    for label in tail.split("."):
        if not (label.islower() or label.isupper()) and \
                label[1:] != label[1:].lower():   # capitals after the first letter
            return True
    return False


def is_reverse_lookup(lower: str, labels: list[str]) -> bool:
    """`4.3.2.1.in-addr.arpa` and nibble-form `ip6.arpa` names: addresses, not data."""
    if lower.endswith(".in-addr.arpa"):
        return all(lb.isdigit() and len(lb) <= 3 for lb in labels)
    if lower.endswith(".ip6.arpa"):
        return len(labels) <= 32 and all(len(lb) == 1 and lb.lower() in _HEX for lb in labels)
    return False
