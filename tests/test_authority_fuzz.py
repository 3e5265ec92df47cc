"""Property tests (Hypothesis, derandomised, fixed budget) of the pure checks every request goes
through: the request-target/Host/SNI/CONNECT consistency check, IP spellings, path forms."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from egress.addresses import canonical_ip
from egress.hostmatch import MalformedPath, path_forms
from egress.scan.authority import check_routing

SETTINGS = settings(max_examples=400, derandomize=True, deadline=None)


@dataclass(frozen=True)
class Host:
    """A destination as the oracle knows it: a name, or an IP address (as an int)."""

    name: str | None = None
    v4: int | None = None
    v6: int | None = None

    @property
    def key(self) -> tuple[str, object]:
        if self.name is not None:
            return ("name", self.name)
        if self.v4 is not None:
            return ("ip", ipaddress.IPv4Address(self.v4))
        assert self.v6 is not None
        return ("ip", ipaddress.IPv6Address(self.v6))


names = st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True),
                 min_size=1, max_size=3).map(lambda labels: ".".join([*labels, "test"]))
hosts = st.one_of(
    names.map(lambda n: Host(name=n)),
    st.integers(0, 2**32 - 1).map(lambda n: Host(v4=n)),
    st.integers(0, 2**128 - 1).filter(lambda n: ipaddress.IPv6Address(n).ipv4_mapped is None)
    .map(lambda n: Host(v6=n)),
)


@st.composite
def ipv4_spelling(draw: st.DrawFn, value: int) -> str:
    """One of the spellings inet_aton reads as `value`: 1 to 4 parts, each decimal, octal or
    hex; or the IPv4-mapped IPv6 form."""
    if draw(st.booleans()) and draw(st.booleans()):
        return f"[::ffff:{ipaddress.IPv4Address(value)}]"
    parts_count = draw(st.integers(1, 4))
    octets = list(value.to_bytes(4, "big"))
    parts = octets[: parts_count - 1]
    rest = octets[parts_count - 1 :]
    last = int.from_bytes(bytes(rest), "big")

    def spell(n: int) -> str:
        style = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
        if style == "oct":
            return "0" + format(n, "o")
        if style == "hex":
            return "0x" + format(n, "x")
        if style == "HEX":
            return "0X" + format(n, "X")
        return str(n)

    return ".".join([*(spell(p) for p in parts), spell(last)])


@st.composite
def spelling(draw: st.DrawFn, host: Host, bracket_v6: bool) -> str:
    if host.name is not None:
        text = "".join(c.upper() if draw(st.booleans()) else c for c in host.name)
        return text + ("." if draw(st.booleans()) else "")
    if host.v4 is not None:
        return draw(ipv4_spelling(host.v4))
    assert host.v6 is not None
    address = ipaddress.IPv6Address(host.v6)
    text = draw(st.sampled_from([address.compressed, address.exploded]))
    text = text.upper() if draw(st.booleans()) else text
    return f"[{text}]" if bracket_v6 else text


@dataclass(frozen=True)
class Field:
    text: str
    host: Host
    port: int | None
    userinfo: bool


@st.composite
def field(draw: st.DrawFn, dial: Host, dial_port: int) -> Field:
    host = dial if draw(st.integers(0, 3)) else draw(hosts)
    port = draw(st.one_of(st.none(), st.just(dial_port), st.integers(1, 65535)))
    text = draw(spelling(host, bracket_v6=True))
    if port is not None:
        text += f":{port}"
    userinfo = draw(st.integers(0, 9)) == 0
    if userinfo:
        text = draw(st.sampled_from(["user@", "u:p@", f"{dial.name or 'x'}:443@"])) + text
    return Field(text, host, port, userinfo)


@SETTINGS
@given(st.data())
def test_consistency_check_allows_exactly_the_consistent_requests(data: st.DataObject) -> None:
    dial = data.draw(hosts, "dial")
    dial_port = data.draw(st.integers(1, 65535), "port")
    dial_text = data.draw(spelling(dial, bracket_v6=False), "dial spelling")
    authority = data.draw(st.one_of(st.none(), field(dial, dial_port)), "authority")
    host_header = data.draw(st.one_of(st.none(), field(dial, dial_port)), "host header")
    sni_host = data.draw(st.one_of(st.none(), st.just(dial), hosts), "sni host")
    sni = data.draw(spelling(sni_host, bracket_v6=False), "sni") if sni_host else None

    present = [f for f in (authority, host_header) if f is not None]
    consistent = (
        not any(f.userinfo for f in present)
        and all(f.host.key == dial.key and f.port in (None, dial_port) for f in present)
        and (sni_host is None or sni_host.key == dial.key)
    )
    problem = check_routing(dial_text, dial_port, authority.text if authority else None,
                            [host_header.text] if host_header else [], sni)
    assert (problem is None) == consistent, (problem, dial_text, authority, host_header, sni)
    if any(f.userinfo for f in present):
        assert problem is not None and problem.rule == "ambiguous-host"


@SETTINGS
@given(hosts, st.integers(1, 65535), st.data())
def test_duplicate_host_headers_are_always_ambiguous(dial: Host, port: int,
                                                     data: st.DataObject) -> None:
    text = data.draw(spelling(dial, bracket_v6=True))
    problem = check_routing(data.draw(spelling(dial, bracket_v6=False)), port, None, [text, text],
                            None)
    assert problem is not None and problem.rule == "ambiguous-host"


@SETTINGS
@given(st.text(alphabet="0123456789abcdefxX.", min_size=1, max_size=24))
def test_every_address_inet_aton_reads_is_recognised(text: str) -> None:
    """Whatever the system's own parser reads as an IPv4 address, `canonical_ip` reads as the
    same address: no spelling reaches a resolver as an unrecognised name."""
    try:
        packed = socket.inet_aton(text)
    except OSError:
        return
    assert canonical_ip(text) == socket.inet_ntoa(packed), text


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.data())
def test_generated_spellings_are_canonical(value: int, data: st.DataObject) -> None:
    assert canonical_ip(data.draw(ipv4_spelling(value))) == str(ipaddress.IPv4Address(value))


SEGMENT = st.sampled_from(["a", "b", "admin", ".", "..", "%2e%2e", "%2f", "%252f", "%5c", "\\",
                           ";x=1", "#f", "%41", "%2541", "", "A", "..;"])


@SETTINGS
@given(st.lists(SEGMENT, min_size=1, max_size=8))
def test_path_forms_are_canonical_absolute_paths(segments: list[str]) -> None:
    raw = "/" + "/".join(segments)
    try:
        forms = path_forms(raw)
    except MalformedPath:
        return
    assert forms
    for form in forms:
        assert form.startswith("/") and "//" not in form
        parts = form.split("/")
        assert "." not in parts and ".." not in parts
