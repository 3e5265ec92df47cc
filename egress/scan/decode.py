"""Bounded decoders for text that may hide a secret: URL, base64 (also wrapped over lines),
base32, hex, JSON string escapes, HTML character references, quoted-printable; and, inside a
decoded layer, what binary holds (UTF-16 text, compressed payloads, DER private keys).

`candidates()` looks at one text and yields every decodable part of it as a `Decoded`:
the plain text it decodes to and the span of the encoded form in the text it came from.
The caller (the DLP engine) scans each result and calls `candidates()` again on it, up to
`DecodeConfig.max_depth` layers, so `base64(url(hex(secret)))` unwraps in three steps.

Every finder is linear: escapes are found by a fixed pattern and widened to their token
by a bounded scan (no regex that backtracks over a token's length), and encoded runs come
from the prefilter's single pass where hyperscan is available.

Cost is bounded twice: a decoded result must be mostly printable (random base64 decodes to
binary, which is reduced to its printable runs), and a `Budget` shared by one scan caps the
total number of decoded characters passed on to be scanned; when it runs out decoding stops
and the engine says so (and blocks, by default).
"""

from __future__ import annotations

import base64
import binascii
import html
import quopri
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from egress.scan import binary
from egress.scan.escapes import HTML_STOPS, JSON_STOPS, PCT_STOPS, escape_tokens
from egress.scan.plain_bytes import hopeless
from egress.scan.plain_bytes import plain as _plain
from egress.scan.plain_bytes import printable_ratio as printable_ratio
from egress.scan.plain_bytes import printable_runs as printable_runs

# A decoded secret is at least this long; shorter encoded runs are not worth decoding.
MIN_RUN = 16
# Runs longer than this are judged on a sample before being decoded whole at every offset.
_SAMPLE = 3072


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    url: bool = True
    base64: bool = True
    base32: bool = True
    hex: bool = True
    json_escapes: bool = True
    quoted_printable: bool = True
    max_depth: int = 5
    budget: int = 4 * 1024 * 1024
    min_printable: float = 0.85
    html_entities: bool = True
    compressed: bool = True

    @property
    def any(self) -> bool:
        return self.max_depth > 0 and (self.url or self.base64 or self.base32 or self.hex
                                       or self.json_escapes or self.quoted_printable
                                       or self.html_entities)


class Budget:
    """Decoded characters one scan may still pass on to be scanned. `exhausted` says why
    decoding stopped early: `budget` (characters) or `depth` (layers)."""

    __slots__ = ("exhausted", "left")

    def __init__(self, chars: int) -> None:
        self.left = chars
        self.exhausted: str | None = None

    def take(self, n: int) -> bool:
        if n > self.left:
            self.exhausted = self.exhausted or "budget"
            self.left = 0
            return False
        self.left -= n
        return True


class Decoded(NamedTuple):
    """A decodable part (a tuple: thousands per megabyte of code, a frozen dataclass took
    longer to build than to decode)."""

    text: str
    start: int
    end: int
    layer: str


def _pem(label: str, der: bytes) -> str:
    """A PEM block around DER the decoders found without one: the private-key rule then
    judges it like any other key."""
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"


def binary_text(data: bytes, config: DecodeConfig, budget: Budget,
                _nested: int = 0) -> tuple[str, str] | None:
    """What a scanner should read in decoded bytes, and the extra layer that produced it
    (`""`, `utf-16-le`, `gzip`...): printable bytes as text; UTF-16/32 text; a compressed
    payload's content (within the budget); a DER private key as PEM; else printable runs."""
    if len(data) < 8:
        return None
    # Compressed first: deflate output can look printable enough to pass for text.
    if config.compressed and _nested < 2 and binary.compression_of(data):
        try:
            unpacked = binary.decompress(data, budget.left)
        except binary.TooLarge:
            budget.take(budget.left + 1)
            return None
        if unpacked is not None:
            kind, out = unpacked
            inner = binary_text(out, config, budget, _nested + 1)
            if inner is not None:
                return inner[0], kind + (f">{inner[1]}" if inner[1] else "")
    if printable_ratio(data) >= config.min_printable:
        return data.decode("utf-8", "replace"), ""
    wide = binary.wide_text(data)
    if wide is not None and _text_ratio(wide) >= config.min_printable:
        return wide, binary.utf16_encoding(data) or "utf-16"
    label = binary.der_private_key(data)
    if label is not None:
        return _pem(label, data), "der"
    runs = printable_runs(data)
    return (runs, "") if runs else None


def _text_ratio(text: str) -> float:
    if not text:
        return 0.0
    printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
    return printable / len(text)


# -- run finders ---------------------------------------------------------------------------
# Each finder returns (start, end) spans of candidate runs. The engine may pass spans it
# already has (from hyperscan); these regexes are the portable path.

B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
# Base64 broken over lines (MIME wraps at 76, PEM at 64, anything at 8): chunks of the
# alphabet separated by a line break (real, or escaped inside a JSON string).
# Linear: a chunk starts only where the alphabet starts and never gives characters back.
# Three chunks (the middle one a whole line) or a first chunk of 16+, like the prefilter's
# presence shape: words at the ends of prose lines do not qualify.
_CHUNK = r"[A-Za-z0-9+/_-]"
_SEP = r"[ \t]*+(?:\r?\n|\\r\\n|\\n)[ \t]*+"
B64_WRAPPED = re.compile(
    rf"(?<![A-Za-z0-9+/_-])(?:{_CHUNK}{{16,}}+={{0,2}}+(?:{_SEP}{_CHUNK}{{2,}}+={{0,2}}+)++"
    rf"|{_CHUNK}{{4,}}+={{0,2}}+{_SEP}{_CHUNK}{{4,}}+={{0,2}}+(?:{_SEP}{_CHUNK}{{2,}}+={{0,2}}+)++)")
_WRAP_SEPARATOR = re.compile(r"[ \t]*(?:\r?\n|\\r\\n|\\n)[ \t]*")
B32_RUN = re.compile(r"(?:[A-Z2-7]{16,}|[a-z2-7]{16,})={0,6}")
# Hex of printable text: every byte is 20-7f or tab/CR/LF (random ids rarely are).
HEX_RUN = re.compile(r"(?:(?:\\x|0x|%)?(?:[2-7][0-9a-fA-F]|0[9aAdD])(?:[:, -]|, )?){8,}")
_HEX_JUNK = re.compile(r"\\x|0x|[:, %-]")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\([\\/\"'])")
_JSON_TRIGGER = re.compile(r"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\/")
_PCT_TRIGGER = re.compile(r"%[0-9A-Fa-f]{2}")
_QP_ESCAPE = re.compile(r"=[0-9A-F]{2}|=\r?\n")
_QP_TRIGGER = re.compile(r"=[0-9A-F]{2}")
# Character references that can spell a secret: numeric ones, and named ones other than the
# markup escapes every page is full of (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&nbsp;`).
_HTML_TRIGGER = re.compile(
    r"&#[0-9]{1,7};?|&#[xX][0-9a-fA-F]{1,6};?|&(?!(?:amp|lt|gt|quot|apos|nbsp);)[A-Za-z][A-Za-z0-9]{1,31};")

_MARKUP = frozenset("'\"<>&\u00a0 \t\r\n")

def _b64_normalised(run: str) -> tuple[str, bytes] | None:
    run = run.rstrip("=")
    if run.islower() or run.isupper() or run.isdigit():
        return None  # paths, words, hex ids: base64 of text mixes cases
    altchars = b"-_" if ("-" in run or "_" in run) else b"+/"
    if "+" in run or "/" in run:
        if altchars == b"-_":
            run = run.replace("-", "+").replace("_", "/")
        altchars = b"+/"
    return run, altchars


_URLSAFE = bytes.maketrans(b"-_", b"+/")
def _b64_at(part: bytes) -> bytes | None:
    """`base64.b64decode(part)` (padded, a lone trailing character dropped), without its
    wrapper's checks: `part` is ASCII with the standard alphabet's `+/`."""
    cut = len(part) % 4
    if cut == 1:
        part, cut = part[:-1], 0
    try:
        return binascii.a2b_base64(part + b"=" * (4 - cut) if cut else part)
    except ValueError:  # binascii.Error
        return None


def b64_prepared(run: str) -> tuple[str, bytes, int] | None:
    """`_b64_decode`'s first checks (shared with `prefilter.runs.b64_hopeless`): the run's
    core (`_b64_normalised`), its bytes in the `+/` alphabet from `skip` on (past the last
    character that is not ASCII) and `skip`; None when it cannot decode."""
    normalised = _b64_normalised(run)
    if normalised is None or len(normalised[0]) < MIN_RUN:
        return None
    core, altchars = normalised
    skip = 0 if core.isascii() else next((o for o in range(1, 4) if core[o:].isascii()), None)
    if skip is None:
        return None
    data = core[skip:].encode("ascii")
    return core, (data if altchars == b"+/" else data.translate(_URLSAFE)), skip


def _b64_decode(run: str, config: DecodeConfig, budget: Budget,
                dead: set[str] | None = None) -> tuple[str, str] | None:
    """`run` decoded, or None; into `dead` if `hopeless` (None again for any budget)."""
    prepared = b64_prepared(run)
    if prepared is None:
        return None
    core, data, skip = prepared
    if not skip and len(core) <= _SAMPLE and hopeless(data, config.min_printable):
        if dead is not None:
            dead.add(run)
        return None  # most runs of code: identifiers, ids
    # A run may begin mid-quantum (glued to other text): one of four offsets is right.
    # Long runs are judged on a sample first, so a megabyte image is decoded once, not four
    # times; the offset whose sample is printable wins, else offset 0.
    offsets: Iterable[int] = range(skip, 4)
    if len(core) > _SAMPLE:
        printable = [o for o in offsets
                     if (s := _b64_at(data[o - skip:o - skip + _SAMPLE])) is not None
                     and printable_ratio(s) >= config.min_printable]
        offsets = printable[:1] or [0]
    first: bytes | None = None
    for offset in offsets:
        raw = _b64_at(data[offset - skip:]) if offset >= skip else None
        if raw is None:
            continue
        plain = _plain(raw)  # most runs of code (identifiers, ids) decode to such bytes
        if printable_ratio(raw) >= config.min_printable and (plain or not binary.compression_of(raw)):
            return raw.decode("utf-8", "replace"), ""
        if not plain and binary.structured(raw):
            found = binary_text(raw, config, budget)
            if found is not None and found[1]:
                return found  # UTF-16, compressed, a DER key: this offset is the right one
        first = raw if first is None else first
    if first is None:
        return None
    if len(first) >= 8 and _plain(first):
        # What `binary_text` gives for such bytes that are not printable enough (`first`
        # was not returned above): their printable runs.
        runs = printable_runs(first)
        return (runs, "") if runs else None
    return binary_text(first, config, budget)


def _b32_decode(run: str, config: DecodeConfig, budget: Budget) -> tuple[str, str] | None:
    body = run.rstrip("=")
    if not any(d in body for d in "234567"):  # six C-level searches, not one per character
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
            return raw.decode("utf-8", "replace"), ""
    return None


_NOT_PRINTABLE_HIGH = str.maketrans("", "", "2345670")


def _hex_decode(run: str, config: DecodeConfig, budget: Budget) -> tuple[str, str] | None:
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
            return raw.decode("utf-8", "replace"), ""
    return None


def hex_binary(run: str, config: DecodeConfig, budget: Budget) -> tuple[str, str] | None:
    """Hex of binary that holds text (a DER key, gzip, UTF-16): runs of hex digits that are
    not hex of printable text. Only long runs (a key is hundreds of digits)."""
    digits = _HEX_JUNK.sub("", run)
    if len(digits) < 64 or len(digits) % 2:
        return None
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    found = binary_text(raw, config, budget)
    return found if found is not None and found[1] else None


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _json_unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        if m.group(2):
            return chr(int(m.group(2), 16))
        return m.group(3)
    return _JSON_ESCAPE.sub(one, text)


def unwrap_base64(run: str) -> str:
    return _WRAP_SEPARATOR.sub("", run)


def wrapped_run_ok(run: str) -> bool:
    """Wrapped base64 has lines of one width (the last may be shorter); words or code
    lines that happen to use only the alphabet do not."""
    lines = _WRAP_SEPARATOR.split(run)
    width = len(lines[0].rstrip("="))
    return (len(lines) >= 2 and width >= 4
            and all(len(x) == width for x in lines[1:-1]) and 0 < len(lines[-1].rstrip("=")) <= width
            and sum(len(x) for x in lines) >= MIN_RUN)


# -- the layer walk ------------------------------------------------------------------------

def _qp_dense(escapes: int, text: str) -> bool:
    return escapes >= 2 and escapes * 64 >= min(len(text), 1 << 16)


def qp_dense(text: str) -> bool:
    """Whether `text` reads as quoted-printable as a whole (then it is decoded whole, so it
    must not be cut in parts that would each read differently)."""
    return "=" in text and _qp_dense(len(_QP_ESCAPE.findall(text, 0, 1 << 16)), text)


def candidates(text: str, config: DecodeConfig, budget: Budget,
               runs: dict[str, list[tuple[int, int]]] | None = None) -> Iterator[Decoded]:
    """Every decodable part of `text`, one layer deep: its escape tokens
    (`escape_candidates`), then its encoded runs (`run_candidates`). `runs` may hold
    precomputed spans (keys `base64`, `b64wrap`, `base32`, `hex`, `longhex`); missing keys
    are found with the regexes above. The budget is charged for each decoded text that is
    yielded."""
    for d in escape_candidates(text, config):
        if budget.take(len(d.text)):
            yield d
    yield from run_candidates(text, config, budget, runs)


def escape_candidates(text: str, config: DecodeConfig) -> list[Decoded]:
    """The parts of `text` that URL, JSON, HTML and quoted-printable escapes decode, in the
    order `candidates` yields them (before any encoded run). Pure: what they are depends on
    the text alone, never on a budget, so a caller may take them all before charging for
    each (`egress.scan.dlp.text_scan` scans them in one batch)."""
    out: list[Decoded] = []
    if config.url and "%" in text:
        for start, end in escape_tokens(text, _PCT_TRIGGER, PCT_STOPS):
            token = text[start:end]
            decoded = urllib.parse.unquote(token, errors="surrogateescape")
            if decoded != token:
                out.append(Decoded(decoded, start, end, "url"))
    if config.json_escapes and "\\" in text and ("\\u" in text or "\\x" in text or "\\/" in text):
        for start, end in escape_tokens(text, _JSON_TRIGGER, JSON_STOPS):
            token = text[start:end]
            decoded = _json_unescape(token)
            if decoded != token:
                out.append(Decoded(decoded, start, end, "json"))
    if config.html_entities and "&" in text:
        for start, end in escape_tokens(text, _HTML_TRIGGER, HTML_STOPS):
            token = text[start:end]
            # Pages are full of `&#39;` and `&#x27;`: a token whose references all stand for
            # markup or spacing cannot spell anything a secret is made of.
            if all(html.unescape(m.group()) in _MARKUP for m in _HTML_TRIGGER.finditer(token)):
                continue
            decoded = html.unescape(token)
            if decoded != token:
                out.append(Decoded(decoded, start, end, "html"))
    if config.quoted_printable and "=" in text:
        # A quoted-printable text (escapes dense, soft line breaks joining lines) is decoded
        # whole; elsewhere only the tokens holding `=XX` are (a large JSON document with
        # `a=12` in it is not decoded whole: that would cost its own length of budget).
        escapes = len(_QP_ESCAPE.findall(text, 0, 1 << 16))
        if _qp_dense(escapes, text):
            raw = quopri.decodestring(text.encode("utf-8", "surrogateescape"))
            decoded = raw.decode("utf-8", "replace")
            if decoded != text:
                out.append(Decoded(decoded, 0, len(text), "quoted-printable"))
        elif escapes:
            for start, end in escape_tokens(text, _QP_TRIGGER, JSON_STOPS):
                token = text[start:end]
                # `quopri.decodestring`'s core, without its call.
                raw = binascii.a2b_qp(token.encode("utf-8", "surrogateescape"))
                decoded = raw.decode("utf-8", "replace")
                if decoded != token:
                    out.append(Decoded(decoded, start, end, "quoted-printable"))
    return out


def run_candidates(text: str, config: DecodeConfig, budget: Budget,
                   runs: dict[str, list[tuple[int, int]]] | None = None) -> Iterator[Decoded]:
    """The encoded runs of `text` (base64, also wrapped; base32; hex of text or binary),
    decoded, each charged to the budget as it is yielded."""

    def spans(layer: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        if runs is not None and layer in runs:
            return runs[layer]
        return [m.span() for m in pattern.finditer(text)]

    def emit(out: str, start: int, end: int, layer: str) -> Iterator[Decoded]:
        if budget.take(len(out)):
            yield Decoded(out, start, end, layer)

    if config.base64:
        wrapped = [(s, e) for s, e in spans("b64wrap", B64_WRAPPED) if wrapped_run_ok(text[s:e])]
        for start, end in wrapped:
            if budget.exhausted:
                return
            found = _b64_decode(unwrap_base64(text[start:end]), config, budget)
            if found:
                yield from emit(found[0], start, end, _layer("base64", found[1]))
        inside = _Inside(wrapped) if wrapped else None
        dead: set[str] = set()
        for start, end in spans("base64", B64_RUN):
            if budget.exhausted:
                return
            if end - start < MIN_RUN or (inside is not None and inside(start, end)):
                continue
            run = text[start:end]
            core = run.rstrip("=")
            if core.islower() or core.isupper() or core.isdigit() or run in dead:
                continue  # `_b64_decode` turns it down (identifiers recur): without a call
            found = _b64_decode(run, config, budget, dead)
            if found:
                yield from emit(found[0], start, end, _layer("base64", found[1]))
    if config.base32:
        for start, end in spans("base32", B32_RUN):
            if budget.exhausted:
                return
            found = _b32_decode(text[start:end], config, budget)
            if found:
                yield from emit(found[0], start, end, "base32")
    if config.hex:
        for start, end in spans("hex", HEX_RUN):
            if budget.exhausted:
                return
            found = _hex_decode(text[start:end], config, budget)
            if found:
                yield from emit(found[0], start, end, "hex")
        if runs is not None and "longhex" in runs:
            long_hex = runs["longhex"]
        else:  # hex digits are base64 characters: long hex runs are among the base64 runs
            long_hex = [(a, b) for a, b in spans("base64", B64_RUN)
                        if b - a >= 64 and _HEX_DIGITS.issuperset(text[a:b])]
        for start, end in long_hex:
            if budget.exhausted:
                return
            found = hex_binary(text[start:end], config, budget)
            if found:
                yield from emit(found[0], start, end, _layer("hex", found[1]))


# Every key of `runs` that `run_candidates` reads.
RUN_LAYERS = ("b64wrap", "base64", "base32", "hex", "longhex")


def _layer(name: str, inner: str) -> str:
    return f"{name}>{inner}" if inner else name


class _Inside:
    """Whether a span lies inside one of some sorted, disjoint spans."""

    __slots__ = ("i", "spans")

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = spans
        self.i = 0

    def __call__(self, start: int, end: int) -> bool:
        spans = self.spans
        while self.i < len(spans) and spans[self.i][1] <= start:
            self.i += 1
        return self.i < len(spans) and spans[self.i][0] <= start and end <= spans[self.i][1]
