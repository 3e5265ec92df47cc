"""Removing a known token from a response however the origin spelled it.

The real value of a credential is known, so instead of decoding a response every way DLP
decodes a request, its spellings are computed once and searched for in one pass:

- **spellings** of the value (and of each encoding of it): as is, reversed, rot13, and in
  base64 (standard and URL-safe, full and at each of the 3 alignments it can have inside a
  longer blob, of its UTF-8 and UTF-16 bytes, and of its base64), base32 (full and at each
  of 5 alignments), hex (plain and delimited), quoted-printable;
- a **view** of the response that undoes what can be interleaved with any of them: NUL bytes
  (UTF-16/32 text), character escapes (JSON `\\u0067` `\\x67` `\\/`, HTML `&#103;` `&#x67;`
  `&lowbar;`, URL `%67`), look-alikes that are one code point away (fullwidth `ｇ`, accented
  `á`, dashes such as `‐` and `−`, combining marks, zero-width and other invisible
  characters), line breaks and
  whitespace (a token wrapped every 8 characters, one character per line, split by a
  newline; escaped `\\n` inside a JSON string too), and letter case.

The view is built with a few C-speed passes (`bytes.replace`, `re.sub`, `bytes.translate`);
only when a spelling is found is it rebuilt with a map back to the response's bytes, and the
found span replaced by the placeholder in the same spelling. Exact spellings are first
replaced as they stand, so that a raw, URL-encoded or base64 echo stays decodable to the
placeholder. `StreamScrubber` does the same on a stream, holding back only a tail that could
be the beginning of a spelling.

What no scanner can invert (encryption, hashing, a token leaked a few characters per
response, or other transformations the origin applies) is documented in
docs/bypass-resistance.md.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import html.entities
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick

from egress.redact import MIN_SECRET_LEN

hyperscan: Any
try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where no wheel exists
    hyperscan = None


class ScrubError(Exception):
    """The view and its map disagree (a bug, never data): the caller must fail closed."""


# -- the view -------------------------------------------------------------------------------

def _char(code: int) -> bytes | None:
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code).encode("utf-8")


def _hex_char(m: re.Match[bytes]) -> bytes:
    return _char(int(m.group(1), 16)) or m.group(0)


def _numeric_ref(m: re.Match[bytes]) -> bytes:
    code = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
    return _char(code) or m.group(0)


def _named_ref(m: re.Match[bytes]) -> bytes:
    return html.entities.html5[m.group(1).decode("ascii")].encode("ascii")


def _fullwidth(m: re.Match[bytes]) -> bytes:
    return chr(ord(m.group(0).decode("utf-8")) - 0xFEE0).encode("ascii")


def _unmarked(m: re.Match[bytes]) -> bytes:
    base = unicodedata.normalize("NFD", m.group(0).decode("utf-8", "replace"))[:1]
    return base.encode("ascii") if base.isascii() else m.group(0)


# HTML named references of printable ASCII characters (letters have none: `&gscr;` and the
# like are look-alikes, not escapes).
_ASCII_NAMES = sorted((n for n, v in html.entities.html5.items()
                       if n.endswith(";") and len(v) == 1 and v.isascii() and v.isprintable()),
                      key=len, reverse=True)

# The passes of the view, in order: (bytes whose presence makes the pass worth running,
# pattern, replacement). Each pattern starts with a literal byte, so a pass over a response
# without that byte costs one `in` test, and a pass that runs is a fast literal search.
_Repl = Callable[[re.Match[bytes]], bytes] | bytes
_PASSES: tuple[tuple[tuple[bytes, ...], re.Pattern[bytes], _Repl], ...] = (
    ((b"\x00",), re.compile(rb"\x00+"), b""),                                 # UTF-16/32
    # JSON \u0067: ASCII, and the ranges look-alikes come from (Latin letters with marks,
    # combining marks, invisible characters, fullwidth forms); CJK or emoji text, often
    # escaped whole, is left alone.
    ((b"\\u",), re.compile(
        rb"\\u(00[0-7][0-9a-fA-F]|00[aA][dD]|00[c-fC-F][0-9a-fA-F]|01[0-7][0-9a-fA-F]"
        rb"|03[0-6][0-9a-fA-F]|20(?:0[b-fB-F]|1[0-5]|2[a-eA-E]|[67][0-9a-fA-F])|2212|[fF][eE][fF][fF]"
        rb"|[fF][fF](?:0[1-9a-fA-F]|[1-4][0-9a-fA-F]|5[0-9a-eA-E]))"), _hex_char),
    ((b"\\x",), re.compile(rb"\\x([0-9a-fA-F]{2})"), _hex_char),            # JS \x67
    ((b"\\/",), re.compile(rb"\\/"), b"/"),                                  # JSON \/
    ((b"&#",), re.compile(rb"&#(?:([0-9]{1,7})|[xX]([0-9a-fA-F]{1,6}));?"), _numeric_ref),
    ((b"&",), re.compile(rb"&(" + b"|".join(re.escape(n.encode()) for n in _ASCII_NAMES) + rb")"),
     _named_ref),
    ((b"%",), re.compile(rb"%([0-9a-fA-F]{2})"), _hex_char),                  # URL %67
    ((b"\xef\xbc", b"\xef\xbd"), re.compile(rb"\xef(?:\xbc[\x81-\xbf]|\xbd[\x80-\x9e])"),
     _fullwidth),                                                            # fullwidth ASCII
    ((b"\xc3", b"\xc4", b"\xc5"), re.compile(rb"[\xc3-\xc5][\x80-\xbf]"), _unmarked),  # Latin + mark
    ((b"\xe2\x80", b"\xe2\x88\x92"), re.compile(rb"\xe2\x80[\x90-\x95]|\xe2\x88\x92"), b"-"),  # dashes
    ((b"\xcc", b"\xcd", b"\xc2\xad", b"\xe2\x80", b"\xe2\x81", b"\xef\xbb\xbf"),
     re.compile(rb"[\xcc\xcd][\x80-\xbf]|\xc2\xad|\xe2\x80[\x8b-\x8f\xaa-\xae]|\xe2\x81[\xa0-\xaf]"
                rb"|\xef\xbb\xbf"), b""),                                   # marks, invisible
    ((b"\\",), re.compile(rb"\\[nrt]"), b""),                                # escaped line breaks
)
_WHITESPACE = b" \t\r\n\f\v"
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def _runs(data: bytes, gates: tuple[bytes, ...]) -> bool:
    return any(g in data for g in gates)


# Any byte a pass can start with: most SSE events and JSON bodies have none but `\`.
_SPECIAL = re.compile(rb"[\x00\\&%\xc2-\xc5\xcc\xcd\xe2\xef]")


def fast_view(data: bytes) -> bytes:
    """The view, with no map back: what detection searches."""
    if _SPECIAL.search(data) is None:
        return data.translate(_LOWER, _WHITESPACE)
    for gates, pattern, repl in _PASSES:
        if _runs(data, gates):
            data = pattern.sub(repl, data)
    return data.translate(_LOWER, _WHITESPACE)


@dataclass(slots=True)
class _Stage:
    """One pass of the view: which input span each piece of output came from."""

    out_starts: list[int]
    in_starts: list[int]
    in_ends: list[int]
    copied: list[bool]

    def span(self, start: int, end: int) -> tuple[int, int]:
        k = bisect.bisect_right(self.out_starts, start) - 1
        a = self.in_starts[k] + (start - self.out_starts[k]) if self.copied[k] else self.in_starts[k]
        last = end - 1
        k = bisect.bisect_right(self.out_starts, last) - 1
        b = self.in_starts[k] + (last - self.out_starts[k]) + 1 if self.copied[k] else self.in_ends[k]
        return a, b


def _stage(data: bytes, pattern: re.Pattern[bytes], repl: _Repl) -> tuple[bytes, _Stage]:
    out = bytearray()
    stage = _Stage([], [], [], [])
    pos = 0

    def piece(a: int, b: int, produced: bytes, copied: bool) -> None:
        if produced:
            stage.out_starts.append(len(out))
            stage.in_starts.append(a)
            stage.in_ends.append(b)
            stage.copied.append(copied)
            out.extend(produced)

    for m in pattern.finditer(data):
        s, e = m.span()
        piece(pos, s, data[pos:s], True)
        piece(s, e, repl if isinstance(repl, bytes) else repl(m), False)
        pos = e
    piece(pos, len(data), data[pos:], True)
    return bytes(out), stage


_SPACE = re.compile(rb"[ \t\r\n\f\v]+")


def mapped_view(data: bytes) -> tuple[bytes, list[_Stage]]:
    """The same view as `fast_view`, with a map from view spans back to `data`."""
    stages = []
    view = data
    for gates, pattern, repl in (*_PASSES, ((b"",), _SPACE, b"")):
        if _runs(view, gates):
            view, stage = _stage(view, pattern, repl)
            stages.append(stage)
    return view.translate(_LOWER), stages


def _to_data(stages: list[_Stage], start: int, end: int) -> tuple[int, int]:
    for stage in reversed(stages):
        start, end = stage.span(start, end)
    return start, end


# -- spellings ------------------------------------------------------------------------------

_ROT13 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                       "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")
_STD_TO_URL = str.maketrans("+/", "-_")


def _cores(raw: bytes, bits: int) -> list[str]:
    """The characters of base64 (bits=6) or base32 (bits=5) of `raw` that do not depend on
    its neighbours, for each alignment `raw` can have inside a longer encoded blob."""
    group, encode = (3, base64.b64encode) if bits == 6 else (5, base64.b32encode)
    out = []
    for shift in range(group):
        enc = encode(b"\0" * shift + raw).decode()
        out.append(enc[-(-8 * shift // bits):8 * (shift + len(raw)) // bits])
    return out


def _encodings(raw: bytes) -> list[str]:
    b64 = base64.b64encode(raw).decode()
    cores = _cores(raw, 6)
    hexed = binascii.hexlify(raw).decode()
    pairs = [hexed[i:i + 2] for i in range(0, len(hexed), 2)]
    return [b64, b64.translate(_STD_TO_URL), *cores, *(c.translate(_STD_TO_URL) for c in cores),
            hexed, ":".join(pairs), "-".join(pairs), ",".join(pairs), "".join(f"\\x{p}" for p in pairs),
            ",".join(f"0x{p}" for p in pairs), "".join(f"={p.upper()}" for p in pairs)]


def spellings(value: str) -> list[str]:
    """Every spelling of `value` the scrubber looks for, in a fixed order: spelling i of a
    secret pairs with spelling i of its placeholder."""
    raw = value.encode("utf-8")
    out = [value, value[::-1], value.translate(_ROT13), value[::-1].translate(_ROT13)]
    for encoded in (raw, value.encode("utf-16-le"), value.encode("utf-16-be")):
        out += _encodings(encoded)
    b32 = base64.b32encode(raw).decode()
    out += [b32, *_cores(raw, 5)]
    out += [base64.b64encode(base64.b64encode(raw)).decode(), *_cores(base64.b64encode(raw), 6)]
    return out


# -- exact spellings, kept decodable ----------------------------------------------------------

def _b64_cores(raw: bytes, url: bool) -> list[str]:
    cores = _cores(raw, 6)
    return [c.translate(_STD_TO_URL) for c in cores] if url else cores


def exact_forms(value: str) -> list[str]:
    """Spellings replaced as they stand, form i of the value by form i of the placeholder:
    raw, URL-encoded and base64 echoes stay decodable to the placeholder where lengths allow."""
    import urllib.parse

    raw = value.encode("utf-8")
    hexed = binascii.hexlify(raw).decode()
    return [value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            *_b64_cores(raw, False), *_b64_cores(raw, True), hexed, hexed.upper()]


def exact_pairs(value: str, placeholder: str) -> list[tuple[bytes, bytes]]:
    pairs: dict[bytes, bytes] = {}
    for real, stand_in in zip(exact_forms(value), exact_forms(placeholder), strict=True):
        if len(real) >= MIN_SECRET_LEN:
            pairs.setdefault(real.encode(), stand_in.encode())
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


# -- the scrubber ---------------------------------------------------------------------------

class _Literals:
    """Every occurrence of a set of byte strings (hyperscan, or pyahocorasick)."""

    def __init__(self, needles: Sequence[bytes]) -> None:
        self.needles = list(needles)
        self.db: Any = None
        self.automaton: Any = None
        if hyperscan is not None:
            exprs = [b"".join(bytes([c]) if chr(c).isalnum() else b"\\x%02x" % c for c in n)
                     for n in self.needles]
            self.db = hyperscan.Database()
            self.db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs),
                            flags=[0] * len(exprs))
        else:  # pragma: no cover - exercised where no wheel exists
            self.automaton = ahocorasick.Automaton()
            for i, n in enumerate(self.needles):
                self.automaton.add_word(n.decode("latin-1"), i)
            self.automaton.make_automaton()

    def find(self, data: bytes) -> list[tuple[int, int, int]]:
        """(start, end, needle) of every occurrence."""
        found: list[tuple[int, int, int]] = []
        if self.db is not None:
            def on(i: int, start: int, end: int, flags: int, ctx: Any) -> None:
                found.append((end - len(self.needles[i]), end, i))
            self.db.scan(data, match_event_handler=on)
        else:  # pragma: no cover
            for end, i in self.automaton.iter(data.decode("latin-1")):
                found.append((end + 1 - len(self.needles[i]), end + 1, i))
        return found


_SAMPLE = 4096
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\t\r\n\x00" + bytes(range(0x80, 0x100))


def _text_like(data: bytes) -> bool:
    """Whether `data` may be text (ASCII, UTF-8, UTF-16): compressed or encrypted bytes (a
    git pack, an image) are mostly control bytes and get the exact spellings only."""
    for at in (0, len(data) // 2, max(0, len(data) - _SAMPLE)):
        sample = data[at:at + _SAMPLE]
        controls = len(sample.translate(None, _TEXT_BYTES))
        if controls > len(sample) // 20:
            return False
    return True


def _wide(data: bytes, a: int, b: int) -> str | None:
    """`utf-16-le`/`utf-16-be` when the span holds ASCII as UTF-16 (every other byte NUL),
    so that the placeholder goes in in the same encoding."""
    span = data[a:b]
    if len(span) < 4 or span.count(0) < len(span) // 3:
        return None
    if span[1::2].count(0) >= len(span[1::2]) * 0.8:
        return "utf-16-le"
    if span[0::2].count(0) >= len(span[0::2]) * 0.8 or (a > 0 and data[a - 1] == 0):
        return "utf-16-be"
    return None


def _disjoint(found: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Leftmost-longest occurrences that do not overlap."""
    out: list[tuple[int, int, int]] = []
    for start, end, i in sorted(found, key=lambda f: (f[0], f[0] - f[1])):
        if out and start < out[-1][1]:
            continue
        out.append((start, end, i))
    return out


class TokenScrubber:
    """Scrubs the real values of some credentials from response bytes (any spelling, see the
    module docstring), replacing each with its placeholder in the same spelling."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        """`items`: (real value, placeholder) pairs (a retired value pairs with the same
        placeholder as the current one)."""
        self.items = tuple(items)
        pairs: dict[bytes, bytes] = {}
        view_forms: dict[bytes, bytes] = {}
        for value, placeholder in self.items:
            for real, stand_in in exact_pairs(value, placeholder):
                pairs.setdefault(real, stand_in)
            for real_s, stand_in_s in zip(spellings(value), spellings(placeholder), strict=True):
                form = real_s.encode("utf-8").translate(_LOWER, _WHITESPACE)
                if len(form) >= MIN_SECRET_LEN:
                    view_forms.setdefault(form, stand_in_s.encode("utf-8"))
        self.pairs = sorted(pairs.items(), key=lambda kv: -len(kv[0]))
        self.forms = list(view_forms)
        self.replacements = [view_forms[f] for f in self.forms]
        self._literals = _Literals(self.forms) if self.forms else None
        longest = self._longest = max((len(f) for f in self.forms), default=1)
        # How far back a spelling may begin in a stream: spread by escapes (6 bytes a
        # character), UTF-16 (x2) and a separator between characters.
        self.reach = min(16 * longest + 64, 64 * 1024)
        self._prefixes = {f[:k] for f in self.forms for k in range(1, len(f))}
        self._first = frozenset(f[0] for f in self.forms)

    def __bool__(self) -> bool:
        return bool(self.items)

    # -- whole texts ------------------------------------------------------------------------

    def scrub(self, data: bytes) -> bytes:
        if not self.items or not data:
            return data
        for real, stand_in in self.pairs:
            if real in data:
                data = data.replace(real, stand_in)
        if self._literals is None or not _text_like(data):
            return data
        if not self._literals.find(fast_view(data)):
            return data
        view, stages = mapped_view(data)
        hits = _disjoint(self._literals.find(view))
        if not hits:
            raise ScrubError("a spelling found in the fast view is missing from the mapped view")
        out = data
        for start, end, i in reversed(hits):
            a, b = _to_data(stages, start, end)
            stand_in = self.replacements[i]
            wide = _wide(out, a, b)
            if wide == "utf-16-le":
                b += out[b:b + 1] == b"\x00"
            elif wide == "utf-16-be":
                a -= out[a - 1:a] == b"\x00" and a > 0
            original = out[a:b]
            letters = bytes(c for c in original if 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A)
            if letters and letters.isupper() and not stand_in.isupper():
                stand_in = stand_in.upper()
            if wide is not None:
                stand_in = stand_in.decode("utf-8").encode(wide)
            out = out[:a] + stand_in + out[b:]
        return out

    # -- streams ----------------------------------------------------------------------------

    def hold_from(self, data: bytes) -> int:
        """Where to cut `data` so that nothing a spelling may still complete is released:
        the start of the earliest tail that is (in the view) the beginning of a spelling, or
        an escape not finished yet. `len(data)` when the whole of it can go."""
        region_start = max(0, len(data) - self.reach)
        region = data[region_start:]
        last = region[-48:]
        partial = _PARTIAL_ESCAPE.search(last) if _ESCAPE_START.search(last) else None
        cut = len(data)
        if partial is not None:
            cut = len(data) - len(last) + partial.start()
        if not self._may_continue(fast_view(data[region_start:cut])):
            return cut
        view, stages = mapped_view(data[region_start:cut])
        held = self._prefix_start(view)
        if held is None:
            return cut
        # Never inside a whole spelling that began before the cut (its end may also be the
        # beginning of another one): move back to its start.
        moved = True
        while moved:
            moved = False
            for start, end, _ in self._literals.find(view) if self._literals else ():
                if start < held < end:
                    held, moved = start, True
        return region_start + _to_data(stages, held, len(view))[0]

    def _may_continue(self, view: bytes) -> bool:
        tail = view[-self._longest:]
        return any(tail[i] in self._first and tail[i:] in self._prefixes for i in range(len(tail)))

    def _prefix_start(self, view: bytes) -> int | None:
        for i in range(max(0, len(view) - self._longest), len(view)):
            if view[i] in self._first and view[i:] in self._prefixes:
                return i
        return None

    def stream(self) -> StreamScrubber:
        return StreamScrubber(self)


_ESCAPE_START = re.compile(rb"[\\&%\xc0-\xff]")
# An escape or UTF-8 sequence cut off at the end of a chunk.
_PARTIAL_ESCAPE = re.compile(
    rb"(?:\\(?:u[0-9a-fA-F]{0,3}|x[0-9a-fA-F]?)?|&#?[xX]?[0-9a-fA-F]{0,6}|&[a-zA-Z][a-zA-Z0-9]{0,31}"
    rb"|%[0-9a-fA-F]?|[\xc0-\xff][\x80-\xbf]{0,2})\Z")


class StreamScrubber:
    """Scrubs a byte stream chunk by chunk, with the same result as scrubbing it whole for
    any spelling shorter than the scrubber's reach. Only a tail that could begin a spelling
    (or an unfinished escape) is held back, so an SSE event that ends a chunk goes out at
    once."""

    __slots__ = ("_held", "scrubber")

    def __init__(self, scrubber: TokenScrubber) -> None:
        self.scrubber = scrubber
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        buf = self._held + chunk if self._held else chunk
        cut = self.scrubber.hold_from(buf)
        # A spelling that completes inside the released part but began before the cut is
        # whole in `buf[:cut]`: the cut is never inside one, as it is the start of a prefix.
        self._held = buf[cut:]
        return self.scrubber.scrub(buf[:cut])

    def flush(self) -> bytes:
        out, self._held = self._held, b""
        return self.scrubber.scrub(out)
