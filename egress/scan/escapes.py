"""Where an escape sits in a text, the token around it: from the escape out to the nearest
stop character on either side (`escape_tokens`). The decoders (`egress.scan.decode`) decode
each token whole, so that `ghp%5Fabc…` is read as the one token it spells.

Linear: a token's later escapes are skipped, and its left edge is searched nearest first
and only back to the end of the token before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Characters that end a token around an escape, on its left and its right.
PCT_STOPS = (" \t\r\n\f\v\"'<>&=?;,", " \t\r\n\f\v\"'<>&?;,")
JSON_STOPS = (" \t\r\n\f\v\"'<>,;", " \t\r\n\f\v\"'<>,;")
HTML_STOPS = (" \t\r\n\f\v\"'<>", " \t\r\n\f\v\"'<>")
_STOP_RE: dict[str, re.Pattern[str]] = {}


def _right_stop(stops: str) -> re.Pattern[str]:
    pattern = _STOP_RE.get(stops)
    if pattern is None:
        pattern = _STOP_RE[stops] = re.compile("[" + re.escape(stops) + "]")
    return pattern


def escape_tokens(text: str, trigger: re.Pattern[str],
                  stops: tuple[str, str]) -> Iterator[tuple[int, int]]:
    """Spans of the tokens holding an escape: from each escape out to the nearest stop
    character on either side. Linear: a token's later escapes are skipped, and the left
    edge is searched only back to the end of the previous token.

    The next escape is searched from the end of the token (a dense token, `\\u0041` after
    `\\u0041`, is not read escape by escape): what `trigger.finditer` gives first at or
    past that end, since no trigger holds a right stop character (every token ends at one
    or at the end of the text), so no match of it that starts inside a token reaches out of
    it, and the triggers look at nothing before where they start."""
    left_stops, right_stops = stops
    left = _right_stop(left_stops)
    right = _right_stop(right_stops)
    end = 0
    search = trigger.search
    left_search = left.search
    while (m := search(text, end)) is not None:
        # `_left_edge`'s first stretch, inline (most tokens start within it).
        pos = m.start()
        lo = pos - 32 if pos - 32 > end else end
        near = left_search(text[lo:pos][::-1])
        start = (pos - near.start() if near is not None
                 else lo if lo == end else _left_edge(text, left, end, lo))
        stop = right.search(text, m.end())
        end = stop.start() if stop else len(text)
        yield start, end


def _left_edge(text: str, stops: re.Pattern[str], floor: int, pos: int) -> int:
    """One past the last stop character in `text[floor:pos]`, or `floor` when it has none:
    what the largest `rfind` over the stop characters gives, searched nearest first in
    reversed stretches that grow fourfold (one `rfind` per stop character walked back the
    whole stretch for every character it lacks). `piece[i]` is `text[hi - 1 - i]`, so the
    first stop in the nearest stretch holding one is the last before `pos`."""
    hi, width = pos, 32
    while hi > floor:
        lo = max(floor, hi - width)
        m = stops.search(text[lo:hi][::-1])
        if m is not None:
            return hi - m.start()
        hi, width = lo, width * 4
    return floor
