"""A rule's Python regex run only in windows around where the prefilter saw it end, with
exactly the matches a whole-text `finditer` gives.

Why it is exact (`windowed_finditer`; `tests/test_dlp_windows.py` checks it over every rule
of the catalogue, its examples planted in realistic text with non-ASCII and long blanks):
- Reports: each end offset hyperscan reports for the rule's own regex compiled in prefilter
  mode (its lookarounds dropped, so a match of the regex ends where one of the relaxed
  pattern does), and every non-ASCII run of the text (hyperscan reads each non-ASCII
  character as `?`, so a match that holds or touches one may go unreported). Every match
  [s, e) of the regex has a report r with s - 1 <= r <= e + 1.
- Widths: `reach` bounds how far a match extends (`span`) and how far the regex looks
  ahead of a start (`look`, lookaheads and boundaries included). Unbounded repeats (`\\s*`)
  count as `CAP` characters, which holds only while the text has no longer run of the
  repeated class: `bounded_in` checks that, else the rule runs over the whole text. It
  reads the text as the prefilter does (one byte per character, each non-ASCII one a `?`),
  its bytes mapped to 1 for a member of the class (its ASCII members; `?` too when the text
  is not ASCII) and 0 otherwise, and looks for CAP + 1 ones in a row: exact on ASCII, and
  never blind to a run elsewhere (an extra one only sends the rule over the whole text).
  ~1 ms per MB and class, where a Python search of the class's run cost ~20-40.
- Windows [r - span - M, r + span + M + look), overlapping ones merged. No match crosses a
  window's start (its report would put it inside, or merge the windows), so a search from
  the start finds what the whole-text chain finds; a window ends `look` past anything a
  match starting before its end minus `look` can examine, so searching with that `endpos`
  decides every such start as the whole text does, and no match starts in the last `look`
  characters (its report would have merged the next window). Lookbehinds see the text
  before `pos` (Python searches the whole string from `pos`), and match objects carry the
  whole text, so validators read the same context.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parser  # type: ignore[import-not-found]
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from egress.scan.normalize import non_ascii_runs

# An unbounded repeat is taken to consume at most this many characters (checked per text).
CAP = 256
# Slack around each report (reports may sit one character outside their match).
MARGIN = 64
# Reaches beyond this (or unbounded ones) are not windowed: the whole text is searched.
MAX_REACH = 1 << 16

# Rules whose own regex takes hyperscan a second or more to compile with every match
# reported (measured: authorization-header 15 s, aws-session-token 3.6 s, lemonsqueezy
# 3.3 s, pubdev 1.2 s; the others under 0.6 s): not worth a background thread's CPU, they
# keep searching the whole text.
SLOW_TO_COMPILE = frozenset({"authorization-header", "aws-session-token", "lemonsqueezy-api-key",
                             "pubdev-token"})

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
            getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}
_CATEGORY = {
    sre_constants.CATEGORY_DIGIT: r"\d", sre_constants.CATEGORY_NOT_DIGIT: r"\D",
    sre_constants.CATEGORY_SPACE: r"\s", sre_constants.CATEGORY_NOT_SPACE: r"\S",
    sre_constants.CATEGORY_WORD: r"\w", sre_constants.CATEGORY_NOT_WORD: r"\W",
}


@functools.cache
def min_width(pattern: str, flags: int) -> int:
    """The fewest characters a match of the regex spans."""
    try:
        return int(sre_parser.parse(pattern, flags).getwidth()[0])
    except (re.error, RecursionError, OverflowError):
        return 0


class _Unbounded(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Reach:
    span: int  # longest match, unbounded repeats at CAP
    look: int  # farthest character any attempt at one start examines, from that start
    runs: tuple[re.Pattern[str], ...]  # a run of CAP + 1 of one of these voids the bounds
    members: tuple[bytes, ...]  # the ASCII characters of each run's class


@functools.cache
def reach(pattern: str, flags: int) -> Reach | None:
    """How far one regex reaches, or None when no bound can be given (a back reference, an
    unbounded repeat of more than one character, a reach beyond `MAX_REACH`)."""
    try:
        tree = sre_parser.parse(pattern, flags)
        runs: list[str] = []
        ahead = _cap(tree, runs)
        span = int(tree.getwidth()[1])
    except (_Unbounded, re.error, RecursionError, OverflowError):
        return None
    look = span + ahead + 2  # `\b` and `$` read one character past the match
    if look > MAX_REACH:
        return None
    extra = re.I | re.S  # a superset of each class: no run of it, no run of the class
    classes = list(dict.fromkeys(runs))
    run_flags = (flags | extra) & ~re.X
    compiled = tuple(re.compile(f"(?:{c}){{{CAP + 1}}}", run_flags) for c in classes)
    return Reach(span, look, compiled, tuple(_ascii_members(c, run_flags) for c in classes))


def _ascii_members(cls: str, flags: int) -> bytes:
    one = re.compile(f"(?:{cls})", flags)
    return bytes(i for i in range(128) if one.fullmatch(chr(i)))


def _cap(sub: sre_parser.SubPattern, runs: list[str]) -> int:
    """Caps the unbounded repeats of `sub` in place at CAP (recording the class each one
    repeats) and returns the summed widths of its lookaheads."""
    sub.width = None  # the parser cached widths of closed groups, uncapped
    ahead = 0
    for i, (op, av) in enumerate(sub.data):
        if op in _REPEATS:
            lo, hi, item = av
            if hi == sre_constants.MAXREPEAT:
                runs.append(_class_of(item))
                sub.data[i] = (op, (lo, lo + CAP, item))
            ahead += _cap(item, runs)
        elif op is sre_constants.SUBPATTERN:
            ahead += _cap(av[-1], runs)
        elif op is sre_constants.ATOMIC_GROUP:
            ahead += _cap(av, runs)
        elif op is sre_constants.BRANCH:
            ahead += max((_cap(b, runs) for b in av[1]), default=0)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            direction, inner = av
            inner_ahead = _cap(inner, runs)
            if direction == 1:
                ahead += int(inner.getwidth()[1]) + inner_ahead
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise _Unbounded
    return ahead


def _class_of(item: sre_parser.SubPattern) -> str:
    """A regex for the one character an unbounded repeat repeats."""
    if len(item.data) != 1:
        raise _Unbounded
    op, av = item.data[0]
    if op is sre_constants.LITERAL:
        return re.escape(chr(av))
    if op is sre_constants.NOT_LITERAL:
        return "[^" + re.escape(chr(av)) + "]"
    if op is sre_constants.ANY:
        return "."
    if op is sre_constants.IN:
        return "[" + "".join(_set_item(o, a) for o, a in av) + "]"
    raise _Unbounded


def _set_item(op: object, av: object) -> str:
    if op is sre_constants.NEGATE:
        return "^"
    if op is sre_constants.LITERAL:
        assert isinstance(av, int)
        return re.escape(chr(av))
    if op is sre_constants.RANGE:
        assert isinstance(av, tuple)
        return re.escape(chr(av[0])) + "-" + re.escape(chr(av[1]))
    if op is sre_constants.CATEGORY and av in _CATEGORY:
        return _CATEGORY[av]
    raise _Unbounded


# A run too long for the bounds, in a text whose class members are ones (`_members_table`).
_LONG_RUN = b"\x01" * (CAP + 1)


@functools.lru_cache(maxsize=256)
def _members_table(members: bytes) -> bytes:
    """A `bytes.translate` table: a class member to 1, anything else to 0."""
    return bytes(int(i in members) for i in range(256))


class RunCheck:
    """Whether a text is free of over-long runs, per run class, asked once per text and
    class."""

    __slots__ = ("_data", "_seen", "_wide", "text")

    def __init__(self, text: str, data: bytes | None = None) -> None:
        self.text = text
        self._data = data  # `text` as the prefilter reads it (`protocol.ascii_data`)
        self._seen: dict[re.Pattern[str], bool] = {}
        self._wide: bool | None = None  # whether the text holds a non-ASCII character

    def bounded_in(self, r: Reach) -> bool:
        for run, members in zip(r.runs, r.members, strict=True):
            free = self._seen.get(run)
            if free is None:
                free = self._seen[run] = not self._has_run(members)
            if not free:
                return False
        return True

    def _has_run(self, members: bytes) -> bool:
        if self._wide is None:
            self._wide = not self.text.isascii()
        if self._wide:
            members += b"?"  # what each non-ASCII character reads as
        elif not members:
            return False
        if self._data is None:
            self._data = self.text.encode("ascii", "replace")
        return _LONG_RUN in self._data.translate(_members_table(members))


def non_ascii_spans(text: str) -> list[tuple[int, int]]:
    return [] if text.isascii() else non_ascii_runs(text)


def windows(ends: Sequence[int], extra: Sequence[tuple[int, int]], r: Reach,
            length: int) -> list[tuple[int, int]]:
    """Merged windows around each reported end and each (start, end) report interval."""
    before = r.span + MARGIN
    after = r.span + MARGIN + r.look
    spans = sorted([(max(e - before, 0), e + after) for e in ends]
                   + [(max(s - before, 0), e + after) for s, e in extra])
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return [(a, min(b, length)) if b < length else (a, length + 1) for a, b in out]


def windowed_finditer(regex: re.Pattern[str], text: str, spans: Sequence[tuple[int, int]],
                      r: Reach) -> Iterator[re.Match[str]]:
    """`regex.finditer(text)`, searched only inside `spans` (from `windows`)."""
    n = len(text)
    for a, b in spans:
        if b > n:  # reaches the end of the text: nothing is cut off
            yield from regex.finditer(text, a)
            return
        limit = b - r.look
        for m in regex.finditer(text, a, b):
            if m.start() >= limit:
                break
            yield m
