"""What the DLP prefilter is, whichever backend implements it: one pass over a text says
which rules can match and where its encoded runs are, so the Python regexes run only where
they may find something.

Two backends give the same answers (`egress.scan.dlp.prefilter.backends` picks one):
- `hyperscan` (default where its wheel installs, `egress.scan.dlp.prefilter.hyperscan_backend`):
  every rule's own regex compiled in prefilter mode (a superset of its matches) plus the run
  shapes of the decoders, scanned in one SIMD pass. Rules whose regex hyperscan cannot take
  fall back to their anchors.
- `aho-corasick` (pyahocorasick, `egress.scan.dlp.prefilter.ahocorasick_backend`): the rules'
  case-folded literal anchors; rules without anchors always run, and decoder runs are found
  by the decoders' own regexes.

`KnownMatcher` (`egress.scan.dlp.known_secrets`) does the same for the exact encoded forms
of known secret values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RuleSource:
    regex: str
    anchors: tuple[str, ...]
    # A simpler hyperscan expression matching a superset, for regexes it compiles slowly.
    prefilter: str | None = None
    # Anchors distinctive enough that seeing one means a secret may be split around it.
    split_anchors: tuple[str, ...] = ()
    # The longest match the rule reports (`Rule.max_length`): how far apart the first and
    # last character of one match can be, so a prefilter may scan a long text in windows
    # that overlap by this much (`hyperscan_backend`).
    max_length: int = 0


@dataclass(slots=True)
class Prefiltered:
    rules: list[int]
    runs: dict[str, list[tuple[int, int]]] | None = None


class Prefilter(Protocol):
    name: str
    # (head, tail) of each way a split anchor can be cut in two (see `straddle_entries`).
    straddle: list[tuple[str, str]]
    # The split anchors, lower case.
    split_list: list[str]

    def scan(self, text: str, want_runs: bool, data: bytes | None = None) -> Prefiltered:
        """Which rules may match `text` and, with `want_runs`, its encoded runs. `data`: the
        text as a byte-per-character backend reads it (`ascii_data`), when the caller has it."""
        ...

    def has_split_anchor(self, text: str) -> bool: ...

    def anchor_spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        """Every occurrence of a split anchor (any case) in `text`. `data`: as for
        `straddles`."""
        ...

    def token_anchor_spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        """The occurrences of split anchors that may start a token of a decoded value: at
        the start, after a character that is not an ASCII letter or digit, or within six
        characters after a backslash. A backend may return others too (its caller filters);
        inside a run of letters it need not report one per position. `data`: as for
        `straddles`."""
        ...

    def rule_ends(self, text: str, index: int, data: bytes | None = None) -> list[int] | None:
        """Offsets where rule `index` may end a match in `text` (every end of a match is
        among them), or None when the backend cannot say (then search the whole text)."""
        ...

    def straddles(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        """(entry, delimiter position) for each place a part (delimited by a newline or a
        double quote) ends with an entry's head or starts with its tail, whichever side of
        the entry is the longer one. `data`: `text.encode("ascii", "replace")`, ASCII letters
        in either case, when the caller has it (a byte-per-character backend reads it
        instead of encoding `text` again)."""
        ...


def ascii_data(text: str) -> bytes:
    """`text` one byte per character (each non-ASCII character a `?`, so offsets are string
    indices) and a line break after it: what the hyperscan databases read. Made once per
    long text and handed to each pass over it."""
    return text.encode("ascii", "replace") + b"\n"


def straddle_entries(anchors: Sequence[str]) -> list[tuple[str, str]]:
    """Each way of cutting an anchor in two (`gh` + `p_`), both halves lower case. The longer
    half is what the prefilter looks for, so it must say something: three characters, or
    two with one that is not a letter (`p_`, not `us` of `-us`, which starts every `"user"`)."""
    out: dict[tuple[str, str], None] = {}
    for anchor in anchors:
        for k in range(1, len(anchor)):
            head, tail = anchor[:k].lower(), anchor[k:].lower()
            longer = tail if len(tail) >= len(head) else head
            if len(longer) >= 3 or (len(longer) == 2 and not longer.isalpha()):
                out[(head, tail)] = None
    return list(out)


def on_tail(entry: tuple[str, str]) -> bool:
    """Whether an entry is triggered by its tail (at a part's start) or its head (at an end)."""
    return len(entry[1]) >= len(entry[0])


class KnownMatcher(Protocol):
    def find(self, text: str) -> list[tuple[str, str, int, int]]: ...


def fold(text: str) -> str:
    """Lower-case without changing any offset (str.lower can lengthen some characters)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
