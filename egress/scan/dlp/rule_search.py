"""Helpers of `TextScanner._finditer` (`egress.scan.dlp.text_scan`), which picks how one
rule's regex is searched in a text: what the windowed searches of one long text share
(`Near`), a search within the walls of a structured body (`within_walls`), and whether a
text holds a digit outside ASCII (`wide_digits`: the card rule's digit chains need none).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from egress.scan.dlp.prefilter import windows
from egress.scan.dlp.structured import SEPARATOR as WALL


class Near:
    """What windowed rule searches of one text share: its non-ASCII runs and which
    over-long runs it holds."""

    __slots__ = ("data", "non_ascii", "runs")

    def __init__(self, text: str, data: bytes | None = None) -> None:
        self.non_ascii = windows.non_ascii_spans(text)
        self.runs = windows.RunCheck(text, data)
        self.data = data  # `text` as the hyperscan passes read it (`protocol.ascii_data`)

    def wide_digits(self, text: str) -> bool:
        return wide_digits(text, self.non_ascii)


def wide_digits(text: str, non_ascii: list[tuple[int, int]]) -> bool:
    """Whether `text` holds a decimal digit outside ASCII (which `\\d` matches), given its
    non-ASCII runs."""
    return any(c.isdecimal() for a, b in non_ascii for c in text[a:b])


def within_walls(regex: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """`regex.finditer(text)` as if each part of `text` between two `WALL`s were scanned on
    its own: a match that spans a wall is searched again inside the part it starts in."""
    pos = 0
    while pos <= len(text):
        m = regex.search(text, pos)
        if m is None:
            return
        if WALL not in m.group(0):
            yield m
            pos = m.end() if m.end() > m.start() else m.end() + 1
            continue
        end = text.find(WALL, m.start())
        end = len(text) if end < 0 else end
        yield from regex.finditer(text, m.start(), end)
        pos = end + len(WALL)
