"""Secrets split across the parts of one message (header values, JSON string values, form
fields, query values, multipart fields, WebSocket messages).

A receiver that wants the secret glues the parts back together, in any order it agreed
with the sender. Rebuilding every permutation is not possible; what is looked for, in
linear time plus the cost of what is found:

1. **Adjacent parts, any number, any length.** All parts glued in order (`joined`) once;
   wherever a distinctive token prefix (a rule's split anchor, or a known secret's first
   8 characters) occurs so that the token it starts runs over a part boundary, a window
   from the anchor onwards is cut out and scanned. This covers a prefix cut in two
   (`gh` + `p_…`), a first part of any length and a secret in 5 or 50 pieces.
2. **Two parts anywhere in the message.** A part that ends in an unfinished token (its
   trailing run holds an anchor) is glued with the start of every other part (in a
   message of up to `SMALL_MESSAGE` parts; otherwise with the `NEAR` parts around it).
3. **An anchor cut between two parts anywhere** (`…gh` in one field, `p_…` in another):
   the prefilter finds parts that start with the tail of a cut anchor or end with its
   head; they are glued with the parts that complete the anchor.

Windows are scanned without decoding (they are plain text that the parts already were;
every part was scanned with decoding on its own). Their total size is capped; past the
cap the caller reports the decode budget as exhausted (blocked by default).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from egress.scan.dlp.prefilter.protocol import Prefilter, on_tail

KNOWN_PREFIX = 8
SMALL_MESSAGE = 64
NEAR = 16
# Unfinished tokens paired with other parts, per message (the first ones in it).
MAX_UNFINISHED = 64
BACKOFF = 64
# Characters that end a token: a trailing run of anything else may be half of a secret.
TOKEN_STOPS = " \t\r\n\f\v\"'<>(){}[],;`"


_TOKEN = re.compile("[^" + re.escape(TOKEN_STOPS) + "]*")


def trailing_run(text: str, limit: int) -> str:
    """The token characters at the end of `text` (at most `limit` of them)."""
    tail = text[-limit:]
    m = _TOKEN.match(tail[::-1])
    return tail[len(tail) - m.end():] if m else ""


def leading_run(text: str) -> int:
    """How many token characters `text` starts with."""
    m = _TOKEN.match(text)
    return m.end() if m else 0


def _is_token(text: str) -> bool:
    return not any(c in text for c in TOKEN_STOPS)


@dataclass
class SplitWindows:
    """The texts to scan for the split secrets of one message."""

    window: int
    cap: int
    texts: list[str] = field(default_factory=list)
    size: int = 0
    exhausted: bool = False
    _seen: set[str] = field(default_factory=set)

    def add(self, text: str) -> None:
        if self.exhausted or text in self._seen:
            return
        if self.size + len(text) > self.cap:
            self.exhausted = True
            return
        self._seen.add(text)
        self.texts.append(text)
        self.size += len(text) + 1


def find_all(hay: str, needle: str) -> Iterable[int]:
    pos = hay.find(needle)
    while pos != -1:
        yield pos
        pos = hay.find(needle, pos + 1)


def split_windows(parts: Sequence[str], prefilter: Prefilter, known: Sequence[str],
                  window: int, cap: int | None = None) -> SplitWindows:
    """Windows of glued text where a secret split across `parts` would be whole."""
    texts = [t for t in parts if t]
    joined = "".join(texts)
    out = SplitWindows(window, cap if cap is not None else 8 * len(joined) + 256 * 1024)
    n = len(texts)
    if n < 2:
        return out
    starts = [0] * n
    for i in range(1, n):
        starts[i] = starts[i - 1] + len(texts[i - 1])
    prefixes = [v[:KNOWN_PREFIX] for v in known if len(v) >= KNOWN_PREFIX]
    # A backend that reads a byte per character is handed the bytes of the glued parts and
    # of the parts one per line, made from one encoding of each part (`?` for a non-ASCII
    # character, each on its own: encoding the parts is encoding their concatenation).
    encoded = ([t.encode("ascii", "replace") for t in texts] if prefilter.name == "hyperscan"
               else None)
    anchors = prefilter.anchor_spans(joined, b"".join(encoded) if encoded is not None else None)
    _adjacent(joined, starts, texts, anchors, prefixes, out)

    # The parts one per line (and a line break around them): a part is a line, so `\n…`
    # finds a part's start and `…\n` its end.
    lines = "\n" + "\n".join(texts) + "\n"
    line_starts = [0] * n
    pos = 1
    for i, t in enumerate(texts):
        line_starts[i] = pos
        pos += len(t) + 1
    in_parts = (in_lines(anchors, starts, texts) if not _newline_anchor(prefilter.split_list)
                else prefilter.anchor_spans(lines))
    _unfinished(lines, line_starts, texts, in_parts, prefixes, out)
    lines_data = b"\n" + b"\n".join(encoded) + b"\n" if encoded is not None else None
    _straddling(Folded(lines, lines_data), line_starts, texts, prefilter, known, out)
    return out


# Whether a list of split anchors holds a line break, by the list (kept here, so its id is
# not reused): asked once per message, of the same few hundred anchors every time.
_NEWLINE_ANCHORS: dict[int, tuple[list[str], bool]] = {}


def _newline_anchor(split_list: list[str]) -> bool:
    cached = _NEWLINE_ANCHORS.get(id(split_list))
    if cached is None or cached[0] is not split_list:
        if len(_NEWLINE_ANCHORS) >= 64:  # old policies' prefilters: let them go
            _NEWLINE_ANCHORS.clear()
        cached = _NEWLINE_ANCHORS[id(split_list)] = (split_list,
                                                     any("\n" in a for a in split_list))
    return cached[1]


# The characters whose lower case is not one character that is ASCII exactly when they
# are: U+0130 lowers to two characters, the Kelvin sign to ASCII `k`.
_FOLD_ODD = ("\u0130", "\u212a")


class Folded:
    """`lines.lower()` as `_straddling` reads it: a straddle pass of the prefilter and the
    offsets of lower-case needles. Lower-casing a long text with any non-ASCII character
    in it costs ~10 ms per MB. Given `data` (`lines.encode("ascii", "replace")`, for a
    backend that reads a byte per character), with none of `_FOLD_ODD` in `lines`, `data`
    lower-cased stands for it: every character keeps its offset, an ASCII one lower-cases
    alike and any other stays non-ASCII (a `?` in `data`), so the prefilter reads the same
    bytes and an ASCII needle with no `?` occurs at the same offsets. The lower-case text
    is made only for a needle that is not one of those."""

    def __init__(self, lines: str, data: bytes | None) -> None:
        self.lines = lines
        self._text: str | None = None
        self.data: bytes | None = None
        if data is not None and (lines.isascii() or not any(c in lines for c in _FOLD_ODD)):
            self.data = data.lower()
        self._found: dict[str, list[int]] = {}

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.lines.lower()
        return self._text

    def straddles(self, prefilter: Prefilter) -> list[tuple[int, int]]:
        if self.data is not None:
            return prefilter.straddles(self.lines, self.data)
        return prefilter.straddles(self.text)

    def find_all(self, needle: str) -> list[int]:
        """`list(find_all(lines.lower(), needle))`, once per needle."""
        found = self._found.get(needle)
        if found is None:
            data = self.data
            if data is not None and needle.isascii() and "?" not in needle:
                found, raw = [], needle.encode("ascii")
                pos = data.find(raw)
                while pos != -1:
                    found.append(pos)
                    pos = data.find(raw, pos + 1)
            else:
                found = list(find_all(self.text, needle))
            self._found[needle] = found
        return found


def _word_start(text: str, s: int, part_start: int) -> bool:
    """An anchor that starts a token (`sk-` in `key=sk-…`, not in `task-1`): at the start of
    its part, or after a character that is not a letter or digit."""
    return s == part_start or not text[s - 1].isalnum()


def in_lines(spans: list[tuple[int, int]], starts: list[int],
             texts: list[str]) -> list[tuple[int, int]]:
    """`prefilter.anchor_spans(lines)` (the parts one per line, a line break before each)
    from `prefilter.anchor_spans(joined)` (the parts glued), without a second pass: no
    anchor holds a line break, so an anchor in `lines` lies inside one part, whose text
    `joined` holds at `starts[i]` and `lines` at `starts[i] + i + 1`; the anchors of
    `joined` that cross from one part into the next are in no line."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        i = bisect.bisect_right(starts, s) - 1
        if e <= starts[i] + len(texts[i]):
            out.append((s + i + 1, e + i + 1))
    return out


def _adjacent(joined: str, starts: list[int], texts: list[str], anchors: list[tuple[int, int]],
              prefixes: list[str], out: SplitWindows) -> None:
    """Token prefixes whose token runs over a part boundary: the glued text from a little
    before each (rules whose token begins before its anchor) to a window after it; windows
    that overlap are merged, and a line break goes before an anchor that starts a part (a
    token there is preceded by nothing of the part before it)."""
    spans = list(anchors)
    for prefix in prefixes:
        spans += [(p, p + len(prefix)) for p in find_all(joined, prefix)]
    regions: list[list[int]] = []
    breaks: set[int] = set()
    for s, e in sorted(set(spans)):
        p = bisect.bisect_right(starts, s) - 1
        boundary = starts[p] + len(texts[p])
        if boundary >= s + out.window or (boundary >= e and not _is_token(joined[e:boundary])):
            continue  # the token the anchor starts ends inside its own part
        if not _word_start(joined, s, starts[p]):
            continue
        if s == starts[p] and s > 0:
            breaks.add(s)
        lo, hi = max(0, s - BACKOFF), min(len(joined), s + out.window)
        if regions and lo <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], hi)
        else:
            regions.append([lo, hi])
    for lo, hi in regions:
        cuts = sorted(b for b in breaks if lo < b < hi)
        pieces = [joined[x:y] for x, y in zip([lo, *cuts], [*cuts, hi], strict=True)]
        out.add("\n" + "\n".join(pieces))
        if cuts:  # and as it is, for a token cut right at a part start
            out.add("\n" + joined[lo:hi])


def _part_at(line_starts: list[int], pos: int) -> int:
    return bisect.bisect_right(line_starts, pos) - 1


def _partners(i: int, n: int) -> range:
    if n <= SMALL_MESSAGE:
        return range(n)
    return range(max(0, i - NEAR), min(n, i + NEAR + 1))


def _unfinished(lines: str, line_starts: list[int], texts: list[str],
                anchors: list[tuple[int, int]], prefixes: list[str], out: SplitWindows) -> None:
    """Parts whose trailing token holds an anchor (`anchors`: the split anchors in `lines`),
    glued with the start of other parts."""
    spans = list(anchors)
    for prefix in prefixes:
        spans += [(p, p + len(prefix)) for p in find_all(lines, prefix)]
    done: set[int] = set()
    for s, e in sorted(spans):
        i = _part_at(line_starts, s)
        if i < 0 or i in done:
            continue
        end = line_starts[i] + len(texts[i])
        if e > end or end - s >= out.window or not _is_token(lines[s:end]):
            continue
        if not _word_start(lines, s, line_starts[i]):
            continue
        if len(done) >= MAX_UNFINISHED:
            break
        done.add(i)
        run = trailing_run(texts[i], out.window)
        for j in _partners(i, len(texts)):
            if j not in (i, i + 1):
                out.add("\n" + run + texts[j][:out.window])


# A cut anchor's tail must be followed by this many more token characters (the rest of the
# secret), and its head must be a whole trailing token (`…: gh`): words that merely end or
# start like an anchor half (`used` + `api version`, an id ending in `a3` + `tool_result`)
# are no split.
MIN_CONTINUATION = 6


def head_ok(run: str, head: str) -> bool:
    """Whether a trailing token `run` (which ends with `head`) may start a cut secret."""
    return len(run) == len(head)


def tail_ok(start: str, tail: str) -> bool:
    """Whether a part's beginning (which starts with `tail`) may continue a cut secret."""
    return leading_run(start) >= len(tail) + MIN_CONTINUATION


def _straddling(folded: Folded, line_starts: list[int], texts: list[str], prefilter: Prefilter,
                known: Sequence[str], out: SplitWindows) -> None:
    """An anchor cut in two between parts that are not next to each other. The prefilter
    reports where the longer half of a cut occurs at a part's edge; only where that half
    qualifies is the other half looked for."""
    n = len(texts)
    triggers: dict[tuple[str, str], list[int]] = {}
    for entry, pos in folded.straddles(prefilter):
        triggers.setdefault(prefilter.straddle[entry], []).append(pos)
    for value in known:
        low = value.lower()
        for k in range(1, min(KNOWN_PREFIX, len(low))):
            cut = (low[:k], low[k:k + KNOWN_PREFIX])
            found = folded.find_all("\n" + cut[1])
            if found:
                triggers.setdefault(cut, []).extend(found)

    # A part's trailing token, once per part (many cuts share a head, parts end alike).
    runs: dict[int, str] = {}

    def run_of(i: int) -> str:
        run = runs.get(i)
        if run is None:
            run = runs[i] = trailing_run(texts[i], out.window)
        return run

    def starters(tail: str, positions: Iterable[int]) -> list[int]:
        return [j for p in positions if 0 <= (j := _part_at(line_starts, p + 1)) < n
                and tail_ok(texts[j][:len(tail) + MIN_CONTINUATION + 1], tail)]

    def enders(head: str, positions: Iterable[int]) -> list[int]:
        return [i for p in positions if 0 <= (i := _part_at(line_starts, p - 1)) < n
                and head_ok(run_of(i), head)]

    ends = _PartEnds(folded, line_starts, texts, out.window)
    pairs: set[tuple[int, int]] = set()
    for (head, tail), positions in triggers.items():
        if on_tail((head, tail)):
            js = starters(tail, positions)
            is_ = ((ends.ending_with(head) if ends.applies(head) else
                    enders(head, (p + len(head) for p in folded.find_all(head + "\n"))))
                   if js else [])
        else:
            is_ = enders(head, positions)
            js = starters(tail, folded.find_all("\n" + tail)) if is_ else []
        pairs.update((i, j) for i in is_ for j in js if i != j)
    for i, j in sorted(pairs):
        out.add("\n" + run_of(i) + texts[j][:out.window])


# Trailing tokens up to this long are told apart by their length (`_PartEnds`): longer
# than any half of a cut anchor.
SHORT_RUN = 16
# Grouping the parts costs about what searching this many characters of the message per
# part does (measured on agent bodies), so the first heads of a message are searched for
# and the parts grouped only once that many searches would have cost more: from the second
# head on in a 1 MB agent body (~600 parts), the fifth in a 200 KB one (~400). Same answer.
PART_COST = 2048


class _PartEnds:
    """The parts `_straddling` pairs as the head of a cut anchor, found from the parts
    rather than by a search of every line for `head + "\\n"` (a pass over the message per
    head). `enders(head, ...)` keeps a part `i` when `head + "\\n"` occurs in its line
    (lower-cased; before its own line break or one inside it) and its trailing token is
    exactly as long as `head`. So only the parts whose trailing token has that length are
    looked at: the end of each, and its inside when it holds a line break. Exact where
    `Folded.find_all` reads `data` (each character at its offset; `head` ASCII, no `?`) and
    `head` holds no line break (it then lies inside one part)."""

    def __init__(self, folded: Folded, line_starts: list[int], texts: list[str],
                 window: int) -> None:
        self.folded = folded
        self.window = window  # how far `run_of` looks back
        self.line_starts = line_starts
        self.texts = texts
        self._by_len: dict[int, list[int]] | None = None
        self._asked = 0  # heads searched for before the parts are grouped

    def exact(self, head: str) -> bool:
        """Whether `ending_with(head)` gives what the search gives."""
        return (self.folded.data is not None and len(head) < SHORT_RUN <= self.window
                and head.isascii() and "?" not in head and "\n" not in head)

    def applies(self, head: str) -> bool:
        """Whether `ending_with(head)` answers for the search: exact, and cheaper by now."""
        if not self.exact(head):
            return False
        if self._by_len is None:
            self._asked += 1
            return self._asked * len(self.folded.lines) >= PART_COST * len(self.texts)
        return True

    def ending_with(self, head: str) -> list[int]:
        """The parts `enders(head, <each line end after head>)` gives, each once, in order."""
        data = self.folded.data
        assert data is not None
        if self._by_len is None:
            self._by_len = {}
            for i, t in enumerate(self.texts):
                # A run shorter than the limit is the whole trailing token.
                self._by_len.setdefault(len(trailing_run(t, SHORT_RUN)), []).append(i)
        needle = head.encode("ascii")
        out: list[int] = []
        for i in self._by_len.get(len(head), ()):
            start = self.line_starts[i]
            end = start + len(self.texts[i])
            if data.endswith(needle, start, end) or (
                    "\n" in self.texts[i] and data.find(needle + b"\n", start, end + 1) >= 0):
                out.append(i)
        return out


def _cut_side(text: str, head: str, tail: str, positions: Iterable[int], by_tail: bool,
              window: int) -> bool:
    """Whether, at one of `positions` (the delimiter before a part, or after one), a part of
    `text` starts with `tail` and goes on (`by_tail`), or ends with `head` as a whole token."""
    if by_tail:
        return any(tail_ok(text[p + 1:p + len(tail) + MIN_CONTINUATION + 2], tail) for p in positions)
    return any(head_ok(trailing_run(text[max(0, p - window):p], window), head) for p in positions)


def anchor_cut_in(text: str, prefilter: Prefilter, window: int = 1024,
                  data: bytes | None = None) -> bool:
    """Whether `text` (a JSON document: parts delimited by quotes, or lines) has a part that
    starts with the rest of a cut anchor and another that ends with its beginning. Checked
    first where the prefilter saw the longer half; the other is searched for only then.
    `data`: as for `Prefilter.straddles`."""
    triggers: dict[int, list[int]] = {}
    for entry, pos in prefilter.straddles(text, data):
        triggers.setdefault(entry, []).append(pos)
    folded: str | None = None
    for entry, positions in triggers.items():
        head, tail = prefilter.straddle[entry]
        by_tail = on_tail((head, tail))
        if not _cut_side(text, head, tail, positions, by_tail, window):
            continue
        folded = folded if folded is not None else text.lower()
        other = (p + len(head) for d in '"\n' for p in find_all(folded, head + d)) if by_tail \
            else (p for d in '"\n' for p in find_all(folded, d + tail))
        if _cut_side(folded, head, tail, other, not by_tail, window):
            return True
    return False
