"""Encoded runs as the hyperscan prefilter reports them, turned into the spans the decoders
take (`egress.scan.decode.run_candidates`).

Wrapped base64 (`wrapped_spans`): hyperscan only says where its presence shapes end; the
decoder's own regex (`B64_WRAPPED`) finds the runs. Searching the whole text with it costs
about 60 ms per MB of source code (it tries at every word), so it searches only the stretches
that hold a reported end. Why that finds exactly what a whole-text `finditer` finds:
- every character of a match of `B64_WRAPPED` is in `_WRAP_CHARS` (the base64 alphabet,
  `=`, blanks, line breaks and the backslash of an escaped one), so a match lies inside one
  maximal stretch of those characters, and the character before a stretch is outside the
  alphabet, as the regex's lookbehind asks (it reads the text before `pos`);
- every match holds a match of one of the presence shapes (`hyperscan_backend`): a first
  chunk of 16 or more then a break and two characters, or a chunk of 4 or more, a break, a
  chunk, a break and two characters; with every match reported, that end lies in its
  stretch, so every stretch holding a match is searched;
- the regex has no lookahead and its repeats are possessive: searched up to the end of a
  stretch (`endpos`), it matches as it does in the whole text, where the next character
  stops every repeat. Stretches are disjoint and searched in order, so the matches come
  in the order, and with the spans, of the whole-text search.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from egress.scan import decode
from egress.scan.decode import B64_WRAPPED, MIN_RUN, RUN_LAYERS, _b64_normalised
from egress.scan.dlp.prefilter.protocol import Prefiltered, ascii_data
from egress.scan.plain_bytes import hopeless

# Encoded runs, each followed by one character outside its alphabet (the scan appends a
# newline so a run at the very end has one too). SOM_LEFTMOST gives each run's start, but
# for base64 (`RunStarts`).
# Base64: every maximal stretch of the alphabet of 16 or more (`B64_ANY`) is a run, but
# `run_candidates` (and `idle_runs`) turn down at once those of one case or digits only:
# 85% of them in source code (`lower_snake_case_names`, paths), each a Python callback.
# So only stretches that can pass are reported: with an upper-case letter (one of 16
# placements of it with 15 more characters around), or without a letter (`_b64_normalised`
# then keeps those with a symbol). A report ends at the character after the stretch
# whichever placement matched, and `RunStarts` gives the stretch's start: each run
# reported is one `B64_ANY` reports, with its span (`tests/test_dlp_idle_layers.py`).
B64_ANY = rb"[A-Za-z0-9+/_-]{16,}={0,2}[^A-Za-z0-9+/=_-]"
_B64 = rb"[A-Za-z0-9+/_-]"
_B64_UPPER = b"|".join((_B64 + b"{%d}" % i if i else b"") + b"[A-Z]" + _B64
                       + (b"{%d,}" % (15 - i) if i < 15 else b"*") for i in range(16))
RUN_SHAPES: tuple[tuple[str, bytes], ...] = (
    ("base64", b"(?:" + _B64_UPPER + rb")={0,2}[^A-Za-z0-9+/=_-]"),
    ("base64", rb"[0-9+/_-]{16,}={0,2}[^A-Za-z0-9+/=_-]"),
    ("base32", rb"[A-Z2-7]{16,}={0,6}[^A-Za-z0-9=]"),
    ("base32", rb"[a-z2-7]{16,}={0,6}[^A-Za-z0-9=]"),
    # Hex of printable text: every byte is 20-7f or tab/CR/LF, which random ids rarely are.
    ("hex", rb"(?:(?:\\x|0x|%)?(?:[2-7][0-9a-fA-F]|0[9aAdD])(?:[:, -]|, )?){8,}[^0-9a-fA-F]"),
    # Hex of binary (a DER key, a compressed payload): long runs of hex digits.
    ("longhex", rb"[0-9a-fA-F]{64,}[^0-9a-fA-F]"),
)
RUN_KINDS = tuple(dict.fromkeys(kind for kind, _ in RUN_SHAPES))
_WRAP = rb"[ \t]*(?:\r?\n|\\r\\n|\\n)[ \t]*"
# Shapes only tested for presence (start of match costs hyperscan four times as much and
# they are rare): when one occurs, the decoder finds its runs with its own (linear) regex.
PRESENCE_SHAPES: tuple[tuple[str, bytes], ...] = (
    # Base64 wrapped over lines (real line breaks, or `\n` escapes inside a JSON string).
    # Three chunks, the middle one a whole line (prose and code have few one-word lines),
    # or a long first chunk.
    ("b64wrap", rb"[A-Za-z0-9+/_-]{4}={0,2}" + _WRAP + rb"[A-Za-z0-9+/_-]{4,}={0,2}" + _WRAP
                + rb"[A-Za-z0-9+/_-]{2}"),
    ("b64wrap", rb"[A-Za-z0-9+/_-]{16}={0,2}" + _WRAP + rb"[A-Za-z0-9+/_-]{2}"),
)


_WRAP_CHARS = re.compile(r"[A-Za-z0-9+/_=\- \t\r\n\\]*")
# Reported ends beyond which the whole text is searched (a megabyte of wrapped base64 has
# two a line; each is a Python callback).
MAX_ENDS = 20_000


def outermost(spans: dict[int, int]) -> list[tuple[int, int]]:
    """Drop runs that lie inside an earlier, longer one."""
    if len(spans) == 1:
        return list(spans.items())  # a decoded token's one run
    ordered = sorted(spans.items())
    if ordered:
        starts, ends = zip(*ordered, strict=True)
        if not any(map(operator.lt, starts[1:], ends)):
            # Each starts at or after the end of the one before (the common case: one
            # report per run): the loop below would keep them all as they are. Checked in C.
            return ordered
    out: list[tuple[int, int]] = []
    for start, end in ordered:
        if out and start < out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
            continue
        out.append((start, end))
    return out


_B64_BACKWARDS = re.compile(rb"={0,2}[A-Za-z0-9+/_-]*")


class RunStarts:
    """The start of each run the runs database reports in `data`. Hyperscan gives it for
    every shape but base64, which is compiled without SOM_LEFTMOST: on source code, where
    every identifier of 16 letters or more is such a run, start-of-match tracking doubled
    the cost of the whole runs pass. Its start is found here instead, and is the one
    SOM_LEFTMOST reports (the leftmost start of a match ending there): a match of
    `[A-Za-z0-9+/_-]{16,}={0,2}[^A-Za-z0-9+/=_-]` ends one past its last character,
    which is outside the alphabet and not `=`; before it come all the `=` there are (the
    alphabet holds none, so the match takes each, and there are at most two), and before
    those the run of alphabet characters, of which the match may start at any one that
    leaves 16: the leftmost is where the run starts (so for either base64 shape of
    `RUN_SHAPES`, whose matches are such matches). Searched in the reversed data
    (`backwards[i]` is `data[n - 1 - i]`), made once per pass and only if needed."""

    __slots__ = ("_backwards", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._backwards: bytes | None = None

    def __call__(self, kind: str, start: int, end: int) -> int:
        if kind != "base64":
            return start
        if self._backwards is None:
            self._backwards = self.data[::-1]
        last = end - 1  # the character that ended the run
        m = _B64_BACKWARDS.match(self._backwards, len(self.data) - last)
        return last - (m.end() - m.start()) if m is not None else start


class Ends:
    """A hyperscan match handler collecting end offsets; stops the scan past `MAX_ENDS`."""

    __slots__ = ("ends",)

    def __init__(self) -> None:
        self.ends: list[int] = []

    def __call__(self, rid: int, start: int, end: int, flags: int, ctx: object) -> bool:
        self.ends.append(end)
        return len(self.ends) > MAX_ENDS


def _stretch(text: str, pos: int) -> int:
    """How many characters from `pos` on are in `_WRAP_CHARS`."""
    m = _WRAP_CHARS.match(text, pos)
    return m.end() - pos if m is not None else 0


def wrapped_spans(text: str, ends: list[int]) -> list[tuple[int, int]]:
    """`[m.span() for m in B64_WRAPPED.finditer(text)]`, given every end offset of a
    presence-shape match in `text` (see the module's docstring)."""
    if not ends:
        return []
    backwards = text[::-1]
    n = len(text)
    stretches: dict[int, int] = {}
    for e in ends:
        if e <= 0 or e > n:
            continue
        start = e - _stretch(backwards, n - e)
        if start not in stretches:
            stretches[start] = e + _stretch(text, e)
    return [m.span() for a in sorted(stretches) for m in B64_WRAPPED.finditer(text, a, stretches[a])]


_IDLE_KINDS = tuple(k for k in RUN_LAYERS if k != "base64")


def _base64_only(runs: dict[str, list[tuple[int, int]]] | None) -> list[tuple[int, int]] | None:
    """The base64 runs, when every kind `run_candidates` reads is given and only base64
    has runs; else None. (A loop, not `any()` over a generator: it runs once per decoded
    token, thousands of times per megabyte.)"""
    if runs is None:
        return None
    b64 = runs.get("base64")
    if b64 is None:
        return None
    for kind in _IDLE_KINDS:
        if runs.get(kind, True):
            return None
    return b64


def idle_runs(text: str, runs: dict[str, list[tuple[int, int]]] | None) -> bool:
    """Whether `egress.scan.decode.run_candidates(text, ..., runs)` yields and charges
    nothing, decided without decoding: every kind it reads is given, and empty but for
    base64 runs that cannot decode, each too short (`MIN_RUN`) or of one case or digits
    only (`_b64_normalised` turns it down first): the ids of a decoded `req=4f…` token."""
    b64 = _base64_only(runs)
    if b64 is None:
        return False
    for start, end in b64:
        if end - start >= MIN_RUN and _b64_normalised(text[start:end]) is not None:
            return False
    return True


def b64_hopeless(run: str, min_printable: float) -> bool:
    """Whether `decode._b64_decode(run, ...)` gives None, told from its first tests alone
    (`decode.b64_prepared`, then `plain_bytes.hopeless`), so without touching a budget.
    False whenever in doubt (the caller decodes)."""
    prepared = decode.b64_prepared(run)
    if prepared is None:
        return True
    core, data, skip = prepared
    return not skip and len(core) <= decode._SAMPLE and hopeless(data, min_printable)


def has_escape(text: str) -> bool:
    """Whether `text` holds a character an escape decoder starts from (URL, JSON, HTML and
    quoted-printable escapes: `egress.scan.decode.escape_candidates` finds none without)."""
    return "%" in text or "\\" in text or "&" in text or "=" in text


def idle(text: str, found: Prefiltered, min_printable: float | None = None) -> bool:
    """Whether a scan of decoded `text` as a layer of its own, with no known secret to look
    for, finds and charges nothing, from what the prefilter says of it: no rule to run, no
    escape to decode, no run that can decode (so at the depth limit nothing decodes
    either). Most `key=value` tokens of code and logs read as quoted-printable are such.
    With `min_printable` (the decode config's), a mixed-case base64 run counts as one that
    cannot decode when `b64_hopeless` says so: `req=56c6...` decodes to
    `reqVc6...`, a run that decodes to nothing readable."""
    if found.rules or has_escape(text):
        return False
    if min_printable is None:
        return idle_runs(text, found.runs)
    return hopeless_runs(text, found.runs, min_printable)  # `idle_runs`, and more


def hopeless_runs(text: str, runs: dict[str, list[tuple[int, int]]] | None,
                  min_printable: float) -> bool:
    """`idle_runs`, with every base64 run that `b64_hopeless` turns down counted as
    one that cannot decode: `run_candidates` then yields and charges nothing either
    (`_b64_decode` gives None for each before it looks at the budget)."""
    b64 = _base64_only(runs)
    if b64 is None:
        return False
    for start, end in b64:
        if end - start >= MIN_RUN and not b64_hopeless(text[start:end], min_printable):
            return False
    return True


# What a match of each shape of `RUN_SHAPES` but base64 holds (`decode.HEX_RUN` is the hex shape
# without the character after it), and a maximal stretch of the base64 alphabet.
_B32_STRETCH = re.compile(r"[A-Z2-7]{16}|[a-z2-7]{16}")
_LONGHEX_STRETCH = re.compile(r"[0-9a-fA-F]{64}")
_B64_STRETCH = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def quiet(text: str) -> bool:
    """Whether `idle_runs` holds for the runs a hyperscan runs pass would report in `text`,
    told without the pass (two cost more than a short decoded token's whole scan): no line
    break nor backslash (every presence shape holds a break, real or escaped), no match of
    what a base32, hex or long-hex run must hold, and each maximal stretch of the base64
    alphabet, 16 or more (a base64 run is one, with its `=`), of one case or digits only.
    The runs pass reads a character that is not ASCII as a `?`, which no shape holds, and
    these searches match none either."""
    if "\n" in text or "\\" in text or _B32_STRETCH.search(text) or decode.HEX_RUN.search(text):
        return False
    if _LONGHEX_STRETCH.search(text):
        return False
    return all(_b64_normalised(m.group()) is None for m in _B64_STRETCH.finditer(text))


def idle_alone(text: str, rule_ids: Callable[[bytes], set[int]]) -> bool:
    """`idle` of a text the prefilter has not scanned, from its rules pass alone
    (`HyperscanPrefilter.rule_ids`, which also holds the rules that always run) and `quiet`
    for its runs."""
    return not has_escape(text) and quiet(text) and not rule_ids(ascii_data(text))
