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

import re

from egress.scan.decode import B64_WRAPPED

_WRAP_CHARS = re.compile(r"[A-Za-z0-9+/_=\- \t\r\n\\]*")
# Reported ends beyond which the whole text is searched (a megabyte of wrapped base64 has
# two a line; each is a Python callback).
MAX_ENDS = 20_000


def outermost(spans: dict[int, int]) -> list[tuple[int, int]]:
    """Drop runs that lie inside an earlier, longer one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans.items()):
        if out and start < out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
            continue
        out.append((start, end))
    return out


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
