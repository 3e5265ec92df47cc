"""The DLP engine's faster ways of finding the same things give exactly what the plain way
gives: each fast path against a straightforward reference written here, on fuzzed text
shaped so that the corners (long stretches without a stop character, runs at the edges of
the pieces a text is looked at in) come up often."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from egress.scan import decode
from egress.scan.normalize import non_ascii_runs

_TRIGGERS = {"url": (decode._PCT_TRIGGER, decode._PCT_STOPS),
             "json": (decode._JSON_TRIGGER, decode._JSON_STOPS),
             "html": (decode._HTML_TRIGGER, decode._HTML_STOPS),
             "qp": (decode._QP_TRIGGER, decode._JSON_STOPS)}


def _reference_tokens(text: str, trigger: re.Pattern[str],
                      stops: tuple[str, str]) -> Iterator[tuple[int, int]]:
    """Escape tokens as first written: the largest `rfind` of every left stop character."""
    left_stops, right_stops = stops
    right = re.compile("[" + re.escape(right_stops) + "]")
    end = 0
    for m in trigger.finditer(text):
        if m.start() < end:
            continue
        start = max((text.rfind(c, end, m.start()) for c in left_stops), default=-1)
        start = start + 1 if start >= end else end
        stop = right.search(text, m.end())
        end = stop.start() if stop else len(text)
        yield start, end


# Escapes of every kind, every stop character, and filler that stops nothing.
_PIECES = st.sampled_from(["%2F", "%41", "\\u0041", "\\x41", "\\/", "&#65;", "&amp;", "=3D", "=0A",
                           " ", "\t", "\n", '"', "'", "<", ">", ",", ";", "&", "=", "?", ":",
                           "a", "Z9", "x" * 40, "y" * 200, "\u00e9"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=120), st.sampled_from(sorted(_TRIGGERS)))
def test_escape_tokens_equal_the_rfind_reference(pieces: list[str], kind: str) -> None:
    text = "".join(pieces)
    trigger, stops = _TRIGGERS[kind]
    assert list(decode.escape_tokens(text, trigger, stops)) == list(
        _reference_tokens(text, trigger, stops))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 150),
                          st.sampled_from("\u00e9\u2014\u4e2d\U0001d400")), max_size=25))
def test_non_ascii_runs_equal_the_regex_at_piece_and_chunk_edges(
        plants: list[tuple[int, int, str]]) -> None:
    chars = ["a"] * 6000
    for at, length, c in plants:
        chars[at:at + length] = [c] * min(length, 6000 - at)
    for edge in (63, 64, 127, 2047, 2048, 2111, 4096):
        if plants and plants[0][0] % 3 == 0:
            chars[edge] = plants[0][2]
    text = "".join(chars)
    assert non_ascii_runs(text) == [m.span() for m in re.finditer(r"[^\x00-\x7f]+", text)]
