"""The response scrubber on plain data (the live-proxy test is
tests/test_credentials_reflections_e2e.py): every spelling DLP decodes, in any case, with
separators and escapes interleaved, whole or streamed in any cut; the view it searches and
its map back agree on any input."""

from __future__ import annotations

import base64
import codecs
import json
import random
import textwrap
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egress.scan.token_scrub import StreamScrubber, TokenScrubber, _to_data, fast_view, mapped_view

REAL = "sk-ant-api03-Zq8xY2wV9tU7sR5pQ3oN1mL0kJ6hG4fD2sA8zX1cV3bN5mQ7wE9rT2yU4iO6pA8s"
PH = "sk-ant-api03-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3Ab4Cd5Ef6Gh7Ij8Kl9Mn0Op1Q"
SCRUBBER = TokenScrubber([(REAL, PH)])
RAW = REAL.encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def recoverable(data: bytes) -> bool:
    """Whether the real value can still be read out of `data` in a spelling the scrubber
    knows (the placeholder shares only its public prefix with it)."""
    return bool(SCRUBBER._literals and SCRUBBER._literals.find(fast_view(data)))


SPELLINGS = {
    "raw": REAL,
    "json \\u all": "".join(f"\\u{ord(c):04x}" for c in REAL),
    "json \\u some, upper hex": REAL[:10] + "".join(f"\\u{ord(c):04X}" for c in REAL[10:20]) + REAL[20:],
    "json \\/ inside base64": b64(b"ab" + RAW).replace("/", "\\/"),
    "html decimal": "".join(f"&#{ord(c)};" for c in REAL),
    "html hex, no semicolons": "".join(f"&#x{ord(c):x}" for c in REAL),
    "url all bytes": "".join(f"%{b:02X}" for b in RAW),
    "url some": REAL[:5] + urllib.parse.quote(REAL[5:9], safe="").replace("-", "%2D") + REAL[9:],
    "quoted-printable": "".join(f"={b:02X}" for b in RAW),
    "reversed": REAL[::-1],
    "rot13": codecs.encode(REAL, "rot13"),
    "rot13 reversed": codecs.encode(REAL, "rot13")[::-1],
    "upper": REAL.upper(),
    "lower": REAL.lower(),
    "one per line": "\n".join(REAL),
    "one per line, CRLF, JSON-escaped": json.dumps("\r\n".join(REAL))[1:-1],
    "split by newline": REAL[:30] + "\n" + REAL[30:],
    "tabs and spaces": " \t ".join(REAL[i:i + 5] for i in range(0, len(REAL), 5)),
    "base64": b64(RAW),
    "base64 wrapped at 8": "\n".join(textwrap.wrap(b64(RAW), 8)),
    "base64 inside a blob, offset 1": b64(b"x" + RAW + b"y"),
    "base64 inside a blob, offset 2": b64(b"xy" + RAW + b"z"),
    "base64url": base64.urlsafe_b64encode(b"?" + RAW).decode(),
    "base64 of base64": b64(b64(RAW).encode()),
    "base64 of utf-16": b64(REAL.encode("utf-16-le")),
    "base32": base64.b32encode(RAW).decode(),
    "base32 lower, in a blob": base64.b32encode(b"abc" + RAW).decode().lower(),
    "hex": RAW.hex(),
    "hex upper, colons": ":".join(f"{b:02X}" for b in RAW),
    "hex \\x": "".join(f"\\x{b:02x}" for b in RAW),
    "fullwidth": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in REAL),
    "zero-width inside": REAL[:7] + "\u200b" + REAL[7:20] + "\u2060" + REAL[20:],
    "combining mark inside": REAL[:9] + "\u0301" + REAL[9:],
    "accented letter": REAL.replace("a", "á", 1),
    "dash look-alikes": REAL.replace("-", "\u2010", 1).replace("-", "\u2212", 1),
}


@pytest.mark.parametrize("label", list(SPELLINGS))
def test_every_spelling_is_scrubbed(label: str) -> None:
    body = f'{{"note": "the token is {SPELLINGS[label]} - ok"}}'.encode()
    out = SCRUBBER.scrub(body)
    assert out != body, label
    assert not recoverable(out), label
    assert out.startswith(b'{"note": "the token is ') and out.endswith(b' - ok"}')


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_wide_text_is_scrubbed_and_stays_in_its_encoding(encoding: str) -> None:
    body = f"prefix {REAL} suffix".encode(encoding)
    out = SCRUBBER.scrub(body)
    assert not recoverable(out)
    if encoding.startswith("utf-16"):
        assert out.decode(encoding) == f"prefix {PH} suffix"


def test_html_named_references_of_ascii_characters() -> None:
    token = "ghp_Q7vXr2LmN9pK4sT8wY1zB6cD3fG5hJ0abcde.x/y"
    scrubber = TokenScrubber([(token, "ghp_" + "A" * 36 + ".x/y")])
    spelled = token.replace("_", "&lowbar;").replace(".", "&period;").replace("/", "&sol;")
    assert token.encode() not in fast_view(scrubber.scrub(f"<p>{spelled}</p>".encode()))
    assert scrubber.scrub(f"<p>{spelled}</p>".encode()) == b"<p>ghp_" + b"A" * 36 + b".x/y</p>"


def test_the_placeholder_comes_back_in_the_same_spelling() -> None:
    for spell in (lambda t: t, lambda t: t[::-1], lambda t: codecs.encode(t, "rot13"), str.upper,
                  lambda t: b64(t.encode()), lambda t: base64.b32encode(t.encode()).decode(),
                  lambda t: t.encode().hex()):
        assert SCRUBBER.scrub(f"<{spell(REAL)}>".encode()) == f"<{spell(PH)}>".encode()
    # exact spellings stay decodable: URL-encoded, base64 with its padding
    assert SCRUBBER.scrub(urllib.parse.quote(REAL + "/", safe="").encode()) == \
        urllib.parse.quote(PH + "/", safe="").encode()


def test_retired_values_and_several_credentials_are_scrubbed_together() -> None:
    other = "ghp_" + "Q7vXr2LmN9pK4sT8wY1zB6cD3fG5hJ0abcde"
    both = TokenScrubber([(REAL, PH), ("old-value-0123456789", PH), (other, "ghp_" + "x" * 36)])
    out = both.scrub(f"{REAL[::-1]} old-value-0123456789 {other.upper()}".encode())
    assert REAL[::-1].encode() not in out and b"old-value" not in out and other.upper().encode() not in out


def test_binary_responses_get_the_exact_spellings_only() -> None:
    """A compressed or encrypted body (a git pack) is not text: it is searched for the
    exact spellings only (documented limit, and the cost of a view over megabytes of it)."""
    noise = random.Random(2).randbytes(50_000)
    assert SCRUBBER.scrub(noise + RAW + noise) == noise + PH.encode() + noise
    reversed_in_binary = noise + REAL[::-1].encode() + noise
    assert SCRUBBER.scrub(reversed_in_binary) == reversed_in_binary


# -- the view and its map agree ----------------------------------------------------------------

FRAGMENTS = [b"\\u0067", b"\\u00", b"\\x41", b"\\/", b"\\n", b"\\", b"&#103;", b"&#x41",
             b"&lowbar;", b"&amp;", b"&", b"%41", b"%", b"\x00", b"\xef\xbc\xa7", b"\xc3\xa1", b"\xcc\x81",
             b"\xe2\x80\x8b", b"\xe2\x80\x90", b" ", b"\n", b"\t", b"A", b"z", b"9", b"-", b"\xff", b"=41"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=6), max_size=60))
def test_fast_view_and_mapped_view_agree(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    view, stages = mapped_view(data)
    assert view == fast_view(data)
    previous = 0
    for i in range(len(view)):
        a, b = _to_data(stages, i, i + 1)
        assert previous <= a < b <= len(data)
        previous = a


# -- streams -------------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(list(SPELLINGS.values())), st.text("abc {}\"\n:", max_size=40),
       st.text("xyz {}\"\n", max_size=40), st.lists(st.integers(0, 400), max_size=6))
def test_a_stream_cut_anywhere_never_releases_the_token(spelled: str, before: str, after: str,
                                                       cuts: list[int]) -> None:
    body = f"data: {before}{spelled}{after}\n\n".encode()
    points = sorted({min(c, len(body)) for c in cuts})
    stream = StreamScrubber(SCRUBBER)
    out, start = b"", 0
    for p in [*points, len(body)]:
        out += stream.feed(body[start:p])
        start = p
    out += stream.flush()
    assert not recoverable(out)
    assert out == SCRUBBER.scrub(body)


def test_a_stream_holds_back_only_what_may_begin_a_spelling() -> None:
    stream = SCRUBBER.stream()
    event = b'data: {"type": "delta", "text": "Hello."}\n\n'
    assert stream.feed(event) == event  # a complete SSE event goes out at once
    assert stream.feed(b'data: {"text": "' + RAW[:20]) == b'data: {"text": "'
    assert stream.feed(b"\\u00") == b""  # an unfinished escape is held too
    assert stream.feed(b"" + f"{ord(REAL[20]):02x}".encode() + RAW[21:] + b'"}\n\n') == \
        PH.encode() + b'"}\n\n'
