"""Where a finding is: several located texts (headers, fields, query parameters) are
scanned as one text, one per line, and a hit's offsets are mapped back to the label of the
part it lies in (or to the joined label when it spans parts)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

# A hit's (start, end) in the scanned text -> the location reported for it.
Locator = Callable[[int, int], str]


def join(texts: Iterable[str], sep: str = "\n") -> tuple[str, list[int]]:
    """The texts joined by `sep`, and where each one starts."""
    starts: list[int] = []
    pieces: list[str] = []
    pos = 0
    for t in texts:
        starts.append(pos)
        pieces.append(t)
        pos += len(t) + len(sep)
    return sep.join(pieces), starts


def locator(starts: list[int], labels: list[str], joined: str | None = None) -> Locator:
    """The label of the part a hit lies in; `joined` (when given) for a hit across parts."""
    def where(start: int, end: int) -> str:
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        last = max(bisect.bisect_right(starts, max(end - 1, start)) - 1, 0)
        if first == last or joined is None:
            return labels[first]
        return joined
    return where


def fixed(where: str) -> Locator:
    """Every hit at one location."""
    return lambda _start, _end: where
