"""The payment-card rule searched only in the digit chains long enough to hold a card number.

The rule's regex (`CARD_REGEX`) starts with a lookbehind, so Python's `re` tries it at every
position of a text: about 25 ms per MB of source code, the costliest rule of the catalogue
on agent bodies. Hyperscan finds where 13 digits follow each other (each pair apart by at
most one blank or dash) in one pass, and the regex runs only over the chains holding one.

Why `card_finditer` gives what `regex.finditer(text)` gives, for texts whose digits are all
ASCII (`\\d` also matches other scripts' digits, which hyperscan reads as `?`: the caller
searches those texts whole):
- A chain is a maximal stretch `[0-9](?:[ -]?+[0-9])*+`. Every match of the regex is 13 to
  19 digits with at most one blank or dash between two of them, so it lies in one chain of
  13 or more digits, and that chain holds an end hyperscan reports (`CHAIN_13`, every end).
- From a reported end the chain is found backwards (its reverse is a chain of the reversed
  text) and forwards. No match starts outside a chain, so the whole-text search enters
  each chain as a search from its first digit does; it leaves it at the chain's end (a
  match ends with a digit, which a chain's end is followed by none of).
- Searched from the chain's first digit up to one character past its end: the lookbehind
  reads the text before `pos`, the lookahead the character after the chain, as in the
  whole text; chains are disjoint and taken in order, so the matches come in the
  whole-text order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from egress.scan.dlp.prefilter.hyperscan_backend import hs_scan, hyperscan
from egress.scan.dlp.prefilter.runs import Ends

CARD_REGEX = r"(?<![0-9A-Za-z.-])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])"
CHAIN_13 = rb"[0-9](?:[ -]?[0-9]){12}"
_CHAIN = re.compile(r"[0-9](?:[ -]?+[0-9])*+")


@functools.cache
def _chains_db() -> Any:
    """`CHAIN_13` compiled once per process (milliseconds), every end reported."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[CHAIN_13], ids=[0], elements=1, flags=[0])
    return db


def applies(regex: re.Pattern[str]) -> bool:
    """Whether `regex` is the one this module is about (a catalogue change makes it not)."""
    return hyperscan is not None and regex.pattern == CARD_REGEX and regex.flags == re.UNICODE


def chains(text: str, data: bytes | None = None) -> list[tuple[int, int]] | None:
    """The digit chains of `text` that hold 13 digits, in order; None when there are so
    many reported ends (a long run of digits) that a whole-text search is cheaper."""
    found = Ends()
    try:
        # `data` (`protocol.ascii_data`) ends in a line break, which ends no chain.
        hs_scan(_chains_db(), text.encode("ascii", "replace") if data is None else data, found)
    except hyperscan.ScanTerminated:
        return None
    ends = found.ends
    if not ends:
        return []
    backwards = text[::-1]
    n = len(text)
    out: list[tuple[int, int]] = []
    for e in sorted(ends):
        if out and e <= out[-1][1]:
            continue  # inside the chain before
        back = _CHAIN.match(backwards, n - e)
        start = e - (back.end() - (n - e)) if back is not None else e - 1
        forward = _CHAIN.match(text, start)
        out.append((start, forward.end() if forward is not None else e))
    return out


def card_finditer(regex: re.Pattern[str], text: str,
                  data: bytes | None = None) -> Iterator[re.Match[str]]:
    """`regex.finditer(text)` for the payment-card regex over a text whose every decimal
    digit is ASCII (see the module's docstring)."""
    spans = chains(text, data)
    if spans is None:
        yield from regex.finditer(text)
        return
    for start, end in spans:
        yield from regex.finditer(text, start, end + 1)
