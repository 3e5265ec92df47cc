r"""A static check that a regular expression runs in linear time under Python's backtracking
`re` when it is searched over a text of any length (`finditer`, `search`, `sub`).

Python's `re` tries a match at every position and backtracks; a pattern is linear when (1)
no attempt can try exponentially many ways through a bounded stretch, and (2) the attempts
started at different positions do not each walk the same long run again. Over the parse
tree (`re._parser`), every repeat without an upper bound (`*`, `+`, `{n,}`), and every
repeat of variable length inside another repeat, must satisfy:

- one way forward per pass: its body is one character, or every pass starts with a
  character that no part of variable length inside the body (nor an alternative of another
  length) can take, so where one pass ends and the next begins is forced (`(?:\s|\\n)+`,
  `(?:\.[a-z]+)+`; not `(a|aa)+`, `(\w+\s?)+`);
- giving back is cheap: what follows it cannot start with a character it consumes, or what
  follows up to the pattern's end is of bounded length (each give-back then costs a bounded
  retry); not `\w+\w*X`. Possessive repeats and atomic groups never give back;
- for a searched pattern, the first one from the pattern's start is entered by a bounded
  number of attempts per run of its characters, not one attempt per position (no
  `[a-z]+X`, which on `aaaa...` walks the rest of the run from every position): the
  bounded stretch before it holds a character it does not consume (`key\s*`), or the start
  is guarded by a negative lookbehind over a class holding every character it consumes
  (`(?<![A-Za-z0-9])[A-Za-z0-9]{20,}`), or nothing after it can fail (the attempt then
  succeeds and the search goes on after the match). A later one is entered where the one
  before it stopped, and that one consumed its whole run (it cannot give anything back).

Bounded repeats cost at most their bound per attempt: linear in the text for a fixed
pattern. `problems()` returns what is wrong (empty when linear); the test over every pattern
that touches a body is `tests/test_dlp_linear.py`.
"""

from __future__ import annotations

import re
import re._constants as C  # type: ignore[import-not-found]
import re._parser as P  # type: ignore[import-not-found]
from dataclasses import dataclass
from functools import cache
from typing import Any

# The characters the sets are computed over: ASCII, Latin-1 and a few others the classes
# used by the rules tell apart (line separators, fullwidth forms).
_UNIVERSE = frozenset([*range(0x180), 0x2028, 0x2029, 0x3000, 0xFF21, 0xFF41])
_ALL = _UNIVERSE
_START = -1  # pseudo character: the start of the pattern (nothing before it)
_POSSESSIVE = C.POSSESSIVE_REPEAT
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, _POSSESSIVE)
_UNBOUNDED = C.MAXREPEAT


@cache
def _category(cat: Any) -> frozenset[int]:
    escape = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
              C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w",
              C.CATEGORY_NOT_WORD: r"\W"}.get(cat)
    if escape is None:
        return _ALL
    rx = re.compile(escape)
    return frozenset(c for c in _UNIVERSE if rx.match(chr(c)))


def _fold(chars: frozenset[int]) -> frozenset[int]:
    out = set(chars)
    for c in chars:
        ch = chr(c)
        out.update(ord(x) for x in (ch.lower(), ch.upper()) if len(x) == 1 and ord(x) in _UNIVERSE)
    return frozenset(out)


@dataclass(frozen=True)
class _Ctx:
    ignorecase: bool
    dotall: bool
    multiline: bool = False


def _char_set(op: Any, av: Any, ctx: _Ctx) -> frozenset[int] | None:
    """The characters one single-character item matches; None when it is not one."""
    if op is C.LITERAL:
        out = frozenset([av])
    elif op is C.NOT_LITERAL:
        out = _ALL - _fold(frozenset([av])) if ctx.ignorecase else _ALL - {av}
        return out
    elif op is C.ANY:
        return _ALL if ctx.dotall else _ALL - {10}
    elif op is C.IN:
        negate = False
        chars: set[int] = set()
        for iop, iav in av:
            if iop is C.NEGATE:
                negate = True
            elif iop is C.LITERAL:
                chars.add(iav)
            elif iop is C.RANGE:
                chars.update(c for c in _UNIVERSE if iav[0] <= c <= iav[1])
            elif iop is C.CATEGORY:
                chars.update(_category(iav))
            else:
                chars.update(_ALL)
        folded = _fold(frozenset(chars)) if ctx.ignorecase else frozenset(chars)
        return _ALL - folded if negate else folded
    else:
        return None
    return _fold(out) if ctx.ignorecase else out


@dataclass
class _Info:
    first: frozenset[int]
    last: frozenset[int]
    chars: frozenset[int]  # every character it can consume
    nullable: bool
    lo: int
    hi: int


def _info(seq: Any, ctx: _Ctx) -> _Info:
    """First/last/consumed character sets, whether it can match empty, and its width."""
    first: set[int] = set()
    last: set[int] = set()
    chars: set[int] = set()
    nullable = True
    lo = hi = 0
    for op, av in seq:
        item = _item(op, av, ctx)
        if nullable:
            first |= item.first
        last = set(item.last) | (last if item.nullable else set())
        chars |= item.chars
        nullable = nullable and item.nullable
        lo, hi = lo + item.lo, min(hi + item.hi, _UNBOUNDED)
    return _Info(frozenset(first), frozenset(last), frozenset(chars), nullable, lo, hi)


def _sub_ctx(av: Any, ctx: _Ctx) -> _Ctx:
    add, remove = av[1], av[2]
    ic = (ctx.ignorecase or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
    da = (ctx.dotall or bool(add & re.DOTALL)) and not remove & re.DOTALL
    ml = (ctx.multiline or bool(add & re.MULTILINE)) and not remove & re.MULTILINE
    return _Ctx(ic, da, ml)


def _item(op: Any, av: Any, ctx: _Ctx) -> _Info:
    one = _char_set(op, av, ctx)
    if one is not None:
        return _Info(one, one, one, False, 1, 1)
    if op is C.SUBPATTERN:
        return _info(av[3], _sub_ctx(av, ctx))
    if op is getattr(C, "ATOMIC_GROUP", None):
        return _info(av, ctx)
    if op is C.BRANCH:
        infos = [_info(alt, ctx) for alt in av[1]]
        return _Info(frozenset().union(*(i.first for i in infos)),
                     frozenset().union(*(i.last for i in infos)),
                     frozenset().union(*(i.chars for i in infos)),
                     any(i.nullable for i in infos), min(i.lo for i in infos),
                     max(i.hi for i in infos))
    if op in _REPEATS:
        lo, hi, body = av
        inner = _info(body, ctx)
        return _Info(inner.first, inner.last, inner.chars, lo == 0 or inner.nullable,
                     lo * inner.lo, _UNBOUNDED if hi == _UNBOUNDED else min(hi * inner.hi, _UNBOUNDED))
    if op is C.AT and av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        # The start of the text (or of a line): one attempt position (per line), entered
        # from nothing (or from a line break).
        line = av is C.AT_BEGINNING and ctx.multiline
        start = frozenset([10]) if line else frozenset()
        return _Info(frozenset(), start, frozenset(), False, 0, 0)
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return _Info(frozenset(), frozenset(), frozenset(), True, 0, 0)
    # A back reference, a conditional: anything.
    return _Info(_ALL, _ALL, _ALL, True, 0, _UNBOUNDED)


def _deterministic(body: Any, ctx: _Ctx) -> bool:
    """A repeat body with one way forward at each step: one character, or fixed-width
    alternatives that start with different characters."""
    info = _info(body, ctx)
    if info.lo == info.hi == 1:
        return True
    if not info.nullable and info.first and all(
            info.first.isdisjoint(chars) for chars in _variable_chars(body, ctx)):
        # Each pass starts with a character no part of variable length inside can take:
        # where one pass ends and the next begins is forced.
        return True
    items = list(body)
    while len(items) == 1 and items[0][0] is C.SUBPATTERN:
        ctx = _sub_ctx(items[0][1], ctx)
        items = list(items[0][1][3])
    if len(items) != 1 or items[0][0] is not C.BRANCH:
        return info.lo == info.hi and not _has_unbounded(body)
    alts = [_info(a, ctx) for a in items[0][1][1]]
    if any(a.nullable or a.lo != a.hi for a in alts) or any(_has_unbounded(a) for a in items[0][1][1]):
        return False
    seen: set[int] = set()
    for a in alts:
        if seen & a.first:
            return False
        seen |= a.first
    return True


def _variable_chars(seq: Any, ctx: _Ctx) -> list[frozenset[int]]:
    """The characters of each repeat of variable length inside `seq`."""
    out: list[frozenset[int]] = []
    for op, av in seq:
        if op in _REPEATS:
            if av[0] != av[1]:
                out.append(_info(av[2], ctx).chars)
            out += _variable_chars(av[2], ctx)
        elif op is C.SUBPATTERN:
            out += _variable_chars(av[3], _sub_ctx(av, ctx))
        elif op is C.ATOMIC_GROUP:
            out += _variable_chars(av, ctx)
        elif op is C.BRANCH:
            widths = {(i.lo, i.hi) for i in (_info(alt, ctx) for alt in av[1])}
            if len(widths) > 1 or any(lo != hi for lo, hi in widths):
                out.append(_item(op, av, ctx).chars)  # alternatives of different lengths
            for alt in av[1]:
                out += _variable_chars(alt, ctx)
    return out


def _has_unbounded(seq: Any) -> bool:
    for op, av in seq:
        if op in _REPEATS and (av[1] == _UNBOUNDED or _has_unbounded(av[2])):
            return True
        if op is C.SUBPATTERN and _has_unbounded(av[3]):
            return True
        if op is C.BRANCH and any(_has_unbounded(a) for a in av[1]):
            return True
        if op in (C.ASSERT, C.ASSERT_NOT) and _has_unbounded(av[1]):
            return True
    return False


def _guard(op: Any, av: Any, ctx: _Ctx) -> frozenset[int] | None:
    """The class of a negative lookbehind of one character (`(?<![A-Za-z0-9])`)."""
    if op is C.ASSERT_NOT and av[0] == -1 and len(av[1]) == 1:
        inner_op, inner_av = av[1][0]
        return _char_set(inner_op, inner_av, ctx)
    return None


class _Walker:
    def __init__(self, ctx: _Ctx, searched: bool) -> None:
        self.searched = searched
        self.problems: list[str] = []

    def seq(self, seq: Any, ctx: _Ctx, before: frozenset[int], follow: frozenset[int],
            guard: frozenset[int] | None, marks: tuple[frozenset[int], ...] | None,
            in_repeat: bool, tail: bool = True, tail_hi: int = 0) -> None:
        """Check a sequence; `before`: the characters that may precede it (`_START` for the
        pattern's start); `follow`: that may follow it; `guard`: the start guard in force
        or None; `marks`: the single characters every match has since the pattern's start,
        or None once an unbounded repeat came before (see `item`); `tail`: whether what
        follows the sequence up to the pattern's end can match nothing; `tail_hi`: how long
        that can be at most."""
        items = list(seq)
        for i, (op, av) in enumerate(items):
            rest = _info(items[i + 1:], ctx)
            after = rest.first | (follow if rest.nullable else frozenset())
            g = _guard(op, av, ctx)
            if g is not None and _START in before:
                guard = g
            rest_hi = min(rest.hi + tail_hi, _UNBOUNDED)
            self.item(op, av, ctx, before, after, guard, marks, in_repeat, rest.nullable and tail,
                      rest_hi)
            info = _item(op, av, ctx)
            before = info.last | (before if info.nullable else frozenset())
            one = _char_set(op, av, ctx)
            if one is not None and marks is not None:
                marks = (*marks, one)
            if info.hi == _UNBOUNDED:
                marks = None

    def item(self, op: Any, av: Any, ctx: _Ctx, before: frozenset[int], after: frozenset[int],
             guard: frozenset[int] | None, marks: tuple[frozenset[int], ...] | None,
             in_repeat: bool, tail: bool, tail_hi: int) -> None:
        if op is C.SUBPATTERN:
            self.seq(av[3], _sub_ctx(av, ctx), before, after, guard, marks, in_repeat, tail, tail_hi)
        elif op is C.ATOMIC_GROUP:
            # Nothing after the group can take back what it matched.
            self.seq(av, ctx, before, frozenset(), guard, marks, in_repeat, tail, 0)
        elif op is C.BRANCH:
            for alt in av[1]:
                self.seq(alt, ctx, before, after, guard, marks, in_repeat, tail, tail_hi)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            self.seq(av[1], ctx, before, frozenset(), guard, marks, in_repeat, True, 0)
        elif op in _REPEATS:
            lo, hi, body = av
            inner = _info(body, ctx)
            desc = _show(op, av)
            # Inside a repeat, a repeat of variable length that can give back what the next
            # step takes makes the ways through a stretch multiply ((a{1,2}){1,40}).
            # A possessive repeat never gives back what it took.
            variable = op is not _POSSESSIVE and (hi == _UNBOUNDED or (in_repeat and lo != hi))
            if variable and not _deterministic(body, ctx):
                self.problems.append(f"{desc}: repeat of a body with several ways forward")
            # Giving back a character that what follows can take is harmless when what
            # follows is short (each give-back then costs a bounded retry).
            if variable and inner.chars & after and tail_hi >= _UNBOUNDED:
                self.problems.append(f"{desc}: what follows can start with a character it "
                                     "consumes, and can run on without bound")
            # (An attempt that reaches the pattern's end after the run succeeds there: the
            # search goes on after the match, and nothing is walked twice.)
            if self.searched and hi == _UNBOUNDED and marks is not None and not tail:
                # The first unbounded repeat from the start: attempts enter a run of its
                # characters a bounded number of times when a character it does not consume
                # must come before it (in the bounded width since the start), or a guard
                # keeps attempts from starting inside the run. (A later one is entered where
                # the one before it stopped, which must consume its whole run: what follows
                # that one cannot take what it gives back.)
                marked = any(m.isdisjoint(inner.chars) for m in marks)
                guarded = marked or (guard is not None and inner.chars <= guard)
                if _START in before and not guarded:
                    self.problems.append(f"{desc}: can start the pattern unguarded (every position "
                                         "of a run would walk the rest of it)")
                elif (before - {_START}) & inner.chars and not guarded:
                    self.problems.append(f"{desc}: what precedes can end with a character it consumes")
            more = _UNBOUNDED if hi == _UNBOUNDED else min(inner.hi * (hi - 1) + tail_hi, _UNBOUNDED)
            body_after = after | inner.first
            if op is _POSSESSIVE:
                # Stopping is always a way out of a possessive repeat, and nothing after it
                # can make it give a pass back: a pass only competes with itself.
                more, body_after = 0, frozenset()
            self.seq(body, ctx, before | inner.last, body_after, guard,
                     marks if hi != _UNBOUNDED else None,
                     in_repeat or (hi > 1 and op is not _POSSESSIVE), tail, more)


def _show(op: Any, av: Any) -> str:
    lo, hi, _ = av
    return f"repeat {{{lo},{'' if hi == _UNBOUNDED else hi}}}"


def problems(pattern: str | re.Pattern[str], searched: bool = True) -> list[str]:
    """Why `pattern` may take more than linear time searched over a long text (see the
    module docstring); empty when it cannot. `searched=False` for a pattern only ever
    tried at one position (`match`, `fullmatch`): then how attempts at many positions
    enter a run does not matter."""
    text, flags = (pattern.pattern, pattern.flags) if isinstance(pattern, re.Pattern) else (pattern, 0)
    parsed = P.parse(text, flags)
    gflags = parsed.state.flags
    ctx = _Ctx(bool(gflags & re.IGNORECASE), bool(gflags & re.DOTALL), bool(gflags & re.MULTILINE))
    walker = _Walker(ctx, searched)
    walker.seq(list(parsed), ctx, frozenset([_START]), frozenset(), None, (), False)
    return list(dict.fromkeys(walker.problems))
