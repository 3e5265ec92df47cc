"""Bounded decoders for text that may hide a secret: URL, base64, base32, hex, JSON string
escapes, quoted-printable.

`candidates()` looks at one text and yields every decodable part of it as a `Decoded`:
the plain text it decodes to and the span of the encoded form in the text it came from.
The caller (the DLP engine) scans each result and calls `candidates()` again on it, up to
`DecodeConfig.max_depth` layers, so `base64(url(hex(secret)))` unwraps in three steps.

Cost is bounded twice: every decoded result must be mostly printable (a random base64 blob
decodes to binary and stops there), and a `Budget` shared by one scan caps the total number
of decoded characters; when it runs out decoding stops and the engine says so.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

LAYERS = ("url", "base64", "base32", "hex", "json_escapes", "quoted_printable")

# A decoded secret is at least this long; shorter encoded runs are not worth decoding.
MIN_RUN = 16

_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t\r\n]{8,}")


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    url: bool = True
    base64: bool = True
    base32: bool = True
    hex: bool = True
    json_escapes: bool = True
    quoted_printable: bool = True
    max_depth: int = 3
    budget: int = 4 * 1024 * 1024
    min_printable: float = 0.85

    @property
    def any(self) -> bool:
        return self.max_depth > 0 and (self.url or self.base64 or self.base32 or self.hex
                                       or self.json_escapes or self.quoted_printable)


NO_DECODING = DecodeConfig(False, False, False, False, False, False, 0)


class Budget:
    """Decoded characters one scan may still produce."""

    __slots__ = ("exhausted", "left")

    def __init__(self, chars: int) -> None:
        self.left = chars
        self.exhausted = False

    def take(self, n: int) -> bool:
        if n > self.left:
            self.exhausted = True
            return False
        self.left -= n
        return True


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    start: int
    end: int
    layer: str


def printable_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    return 1.0 - len(data.translate(None, _PRINTABLE)) / len(data)


def printable_runs(data: bytes) -> str:
    """The printable ASCII runs (8+ bytes) of binary data, one per line."""
    return "\n".join(r.decode("ascii") for r in _PRINTABLE_RUN.findall(data))


def _as_text(data: bytes, config: DecodeConfig) -> str | None:
    """Printable decoded bytes as text; binary with printable runs as those runs."""
    if len(data) < 8:
        return None
    if printable_ratio(data) >= config.min_printable:
        return data.decode("utf-8", "replace")
    return printable_runs(data) or None


# -- run finders ---------------------------------------------------------------------------
# Each finder returns (start, end) spans of candidate runs. The engine may pass spans it
# already has (from hyperscan); these regexes are the portable path.

B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
B32_RUN = re.compile(r"(?:[A-Z2-7]{16,}|[a-z2-7]{16,})={0,6}")
# Hex of printable text: every byte is 20-7f or tab/CR/LF (random ids rarely are).
HEX_RUN = re.compile(r"(?:(?:\\x|0x|%)?(?:[2-7][0-9a-fA-F]|0[9aAdD])(?:[:, -]|, )?){8,}")
_HEX_JUNK = re.compile(r"\\x|0x|[:, %-]")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([\\/\"'])")
_QP_ESCAPE = re.compile(r"=[0-9A-F]{2}|=\r?\n")
# A token holding escapes, up to the delimiters around it: only it is decoded and, when it
# hides a secret, redacted.
_PCT_TOKEN = re.compile(r"""[^\s"'<>&=?;,]*%[0-9A-Fa-f]{2}[^\s"'<>&?;,]*""")
_ESCAPED_TOKEN = re.compile(r"""[^\s"'<>,;]*\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|/)[^\s"'<>,;]*""")


def _b64_decode(run: str, config: DecodeConfig) -> str | None:
    run = run.rstrip("=")
    if run.islower() or run.isupper() or run.isdigit():
        return None  # paths, words, hex ids: base64 of text mixes cases
    altchars = b"-_" if ("-" in run or "_" in run) else b"+/"
    if "+" in run or "/" in run:
        if altchars == b"-_":
            run = run.replace("-", "+").replace("_", "/")
        altchars = b"+/"
    best: str | None = None
    # A run may begin mid-quantum (glued to other text): try each of the four offsets.
    for offset in range(4):
        part = run[offset:]
        part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
        if len(part) < MIN_RUN - offset:
            break
        try:
            raw = base64.b64decode(part + "=" * (-len(part) % 4), altchars=altchars)
        except (binascii.Error, ValueError):
            continue
        text = _as_text(raw, config)
        if text is not None and printable_ratio(raw) >= config.min_printable:
            return text
        best = best or text
    return best


def _b32_decode(run: str, config: DecodeConfig) -> str | None:
    body = run.rstrip("=")
    if not any(c in "234567" for c in body):
        return None
    for offset in range(8):
        part = body[offset:]
        part = part[: len(part) - len(part) % 8] if offset else part
        if len(part) < MIN_RUN - offset:
            break
        try:
            raw = base64.b32decode(part + "=" * (-len(part) % 8), casefold=True)
        except (binascii.Error, ValueError):
            continue
        if printable_ratio(raw) >= config.min_printable:
            return _as_text(raw, config)
    return None


_NOT_PRINTABLE_HIGH = str.maketrans("", "", "2345670")


def _hex_decode(run: str, config: DecodeConfig) -> str | None:
    digits = _HEX_JUNK.sub("", run)
    for offset in (0, 1):
        # Printable ASCII has a high nibble of 2-7: most hex ids fail here, before decoding.
        highs = digits[offset::2]
        if len(highs.translate(_NOT_PRINTABLE_HIGH)) > len(highs) * (1 - config.min_printable):
            continue
        part = digits[offset:]
        part = part[: len(part) - len(part) % 2]
        try:
            raw = bytes.fromhex(part)
        except ValueError:
            continue
        if printable_ratio(raw) >= config.min_printable:
            return _as_text(raw, config)
    return None


def _json_unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        if m.group(2):
            return chr(int(m.group(2), 16))
        return m.group(3)
    return _JSON_ESCAPE.sub(one, text)


# -- the layer walk ------------------------------------------------------------------------

def candidates(text: str, config: DecodeConfig, budget: Budget,
               runs: dict[str, list[tuple[int, int]]] | None = None) -> Iterator[Decoded]:
    """Every decodable part of `text`, one layer deep. `runs` may hold precomputed spans
    (keys `base64`, `base32`, `hex`); missing keys are found with the regexes above."""

    def spans(layer: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        if runs is not None and layer in runs:
            return runs[layer]
        return [m.span() for m in pattern.finditer(text)]

    if config.url and "%" in text:
        for m in _PCT_TOKEN.finditer(text):
            out = urllib.parse.unquote(m.group(), errors="surrogateescape")
            if out != m.group() and budget.take(len(out)):
                yield Decoded(out, m.start(), m.end(), "url")
    if config.json_escapes and "\\" in text and ("\\u" in text or "\\x" in text or "\\/" in text):
        for m in _ESCAPED_TOKEN.finditer(text):
            out = _json_unescape(m.group())
            if out != m.group() and budget.take(len(out)):
                yield Decoded(out, m.start(), m.end(), "json")
    if config.quoted_printable and "=" in text and len(_QP_ESCAPE.findall(text, 0, 1 << 20)) >= 2:
        raw = quopri.decodestring(text.encode("utf-8", "surrogateescape"))
        out = raw.decode("utf-8", "replace")
        if out != text and budget.take(len(out)):
            yield Decoded(out, 0, len(text), "quoted-printable")
    if config.base64:
        for start, end in spans("base64", B64_RUN):
            if end - start < MIN_RUN:
                continue
            if not budget.take((end - start) * 3 // 4):
                return
            decoded = _b64_decode(text[start:end], config)
            if decoded:
                yield Decoded(decoded, start, end, "base64")
    if config.base32:
        for start, end in spans("base32", B32_RUN):
            if not budget.take((end - start) * 5 // 8):
                return
            decoded = _b32_decode(text[start:end], config)
            if decoded:
                yield Decoded(decoded, start, end, "base32")
    if config.hex:
        for start, end in spans("hex", HEX_RUN):
            if not budget.take((end - start) // 2):
                return
            decoded = _hex_decode(text[start:end], config)
            if decoded:
                yield Decoded(decoded, start, end, "hex")
