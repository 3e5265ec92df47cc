"""Conversation-aware scanning: a large JSON body cut into blocks whose clean scan results
are remembered, so an LLM client resending its whole conversation every turn costs only the
new content of each turn.

Why blocks are runs of array elements (not single string values): the unit a client
resends unchanged is an element of `messages` / `contents` / `input` (or of a message's
content list), and an element keeps a key and its value together, which keyword rules
(`"api_key": "..."`) need. String values alone would cut every such pair apart.

How a body is cut (`segments`): right after the closing quote of a string that is
followed by brackets, a comma, space and the opening quote of another (`"},{"`, `", "`;
the character right after the cut is always `]`, `}` or `,`),
at the first such place at least `MIN_SEGMENT` characters after the previous cut. Each cut
depends only on the text before it, so a resent conversation is cut the same way every
turn and only its last block changes. The cut is lexical: it needs no JSON parse, and holds
on a body that is not valid JSON.

Why nothing is lost by cutting: a match crossing a cut holds the quote before it and the
`]`, `}` or `,` after it. Only rules whose pattern can match one of those three
(`can_match`) and known secrets can cross a cut; they run over the whole text every time,
without decoding (`DLPEngine._across_cuts`). No decoded layer can cross a cut: percent,
JSON-escape, quoted-printable and HTML character-reference tokens stop at a double quote,
and the base64, base32 and hex alphabets hold none. A text dense in quoted-printable
escapes, which is decoded whole, is not cut.

The cache (`CleanBlocks`) remembers only blocks that had no finding at all: a hash of the
block's text under a salt naming the known secrets and placeholders in effect. A block with
a finding is scanned again every time, so its secret values (needed to scrub artefacts and
to place a redaction) are never kept. The engine owns one cache, so a policy reload starts
with an empty one.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # Python >= 3.11
    import re._constants as _sc  # type: ignore[import-not-found]
    import re._parser as _sp  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_constants as _sc
    import sre_parse as _sp

# Bodies smaller than this are scanned whole: a small body costs less than its hashing.
CACHE_MIN = 16 * 1024
# A block holds at least this many characters (small elements are grouped).
MIN_SEGMENT = 4 * 1024
# Arrays nested deeper than this are not cut inside (their elements are small anyway).
MAX_DEPTH = 8
# Blocks remembered per engine. An entry is a 16-byte digest plus a length: about 120 bytes
# with the dictionary's overhead, so the entry bound is also the memory bound (~8 MiB).
MAX_ENTRIES = 65536
ENTRY_BYTES = 120
# Smallest unit of a parsed body remembered (`Units`), and smallest body whose units are
# looked for: hashing a fresh body's units cost 8-20% of its scan on 2 KB agent requests and
# saved nothing measurable on fresh 10 KB ones (tool definitions repeat, the rest does not);
# resent conversations, where units pay, are larger.
UNIT_MIN = 256
UNITS_BODY_MIN = CACHE_MIN
# Fixed (not the interpreter's default), so a unit pickles to the same bytes in every run.
_PICKLE_PROTOCOL = 5

# A cut point: the closing quote of a string followed by brackets or a comma, then (past a
# comma and space) an opening quote: `"},{"`, `", "`, `"}]}, {"`. The cut goes right after
# the closing quote, so a string keeps its block whatever follows it: the last string of
# one turn's body (`"}]}]`) and the same string in the next turn's (`"},{`) cut alike.
_CUT = re.compile(r'"(?=[\]},])[\]}]{0,8}\s{0,32},\s{0,32}[{\[]{0,8}"')
# What follows a cut, right after its quote (the lookahead above): a match across a cut
# holds the quote before it and one of these after it.
CUT_FOLLOWERS = "]},"


def segments(text: str, min_segment: int = MIN_SEGMENT) -> list[tuple[int, int]]:
    """The blocks of a text as (start, end) spans covering it: a cut at the first cut point
    at least `min_segment` characters after the previous cut. Each cut depends only on the
    text before it, so a text that grows at its end keeps its earlier blocks."""
    cuts = [0]
    pos = min_segment
    while pos < len(text):
        m = _CUT.search(text, pos)
        if m is None:
            break
        cut = m.start() + 1
        cuts.append(cut)
        pos = cut + min_segment
    cuts.append(len(text))
    return list(itertools.pairwise(cuts))


def digest(text: str) -> bytes:
    return content_digest(text.encode("utf-8", "surrogatepass"))


def content_digest(data: bytes) -> bytes:
    """A 16-byte digest of content that is hashed whole on every scan (blocks, units, whole
    bodies): SHA-256 cut to 128 bits, as collision-resistant as the 16-byte BLAKE2b it
    replaces and about twice as fast where the CPU has SHA instructions (1.4 against 2.4 ms
    per MB here; OpenSSL uses them, CPython's BLAKE2b has no such path)."""
    return hashlib.sha256(data).digest()[:16]


def salt(known: list[str], benign: frozenset[str]) -> bytes:
    """What besides the policy decides whether a block is clean: the known secrets and the
    placeholders in effect. Hashed, so the cache keys hold no value."""
    h = hashlib.blake2b(digest_size=16)
    for group in (sorted(known), sorted(benign)):
        for value in group:
            h.update(value.encode("utf-8", "surrogatepass") + b"\0")
        h.update(b"\1")
    return h.digest()


@dataclass(frozen=True, slots=True)
class Units:
    """What the JSON walk of `egress.scan.dlp.structured` may leave out: an element of an
    array that is an object or an array (a message, a content block, a tool definition) is
    a *unit*, keyed by a digest of its pickle (`unit_key`: injective over parsed JSON, a
    number is not the string of its digits), its depth and `salt`. A unit `known` clean under that key is not
    walked: its entries are left out of the scan (they find exactly what they found
    before: no match crosses a wall between entries), its node count still counts against
    the parse bound, and its string values are still collected when `values` asks (the
    split scan glues neighbouring values across the whole body). A unit walked may hold units
    of its own, `nesting` levels deep at most, so each character is hashed at most
    `nesting` times per body."""

    # The node count of a unit key known clean, None when unknown.
    known: Callable[[bytes], int | None]
    # What besides the policy decides a scan's outcome (known secrets, placeholders).
    salt: bytes
    # Whether the string values of a unit left out are still wanted (the split scan).
    values: bool
    # Smallest unit (bytes of its pickle, about its characters) worth a cache entry: smaller ones cost less
    # to scan than to remember.
    min_chars: int = UNIT_MIN
    # Units inside units: a message resent with one more content block (an Anthropic client
    # merges a turn into the last message of its role) is new, its blocks are not. Each
    # level hashes a character once more.
    nesting: int = 2
    # Units are looked for inside a unit this large only (hashing a small one's parts again
    # costs more than scanning them).
    nest_min: int = 4 * UNIT_MIN


def unit_key(salt: bytes, depth: int, node: Any) -> tuple[bytes, int]:
    """A unit's cache key (salt and digest: no content) and its size (bytes of its pickle:
    about its characters, UTF-8 encoded).

    The digest is over `pickle.dumps(node)`, which `pickle.loads` turns back into an equal
    node of the same types (a `_Literal` number stays a number: it pickles by class), so two
    units share a key only when they are the same JSON value, as with the `repr` this
    replaces (and twenty times cheaper: a string pickles as its UTF-8 bytes, where `repr`
    looks at every character). The same value pickles to the same bytes again: the pickle
    memo marks a repeated *object*, and the decoder's repeated objects follow from the
    value (every equal key of one document is one object, value strings are new objects
    but for the interpreter's one-character and empty singletons), so a resent unit keeps
    hitting; were it ever to differ, the key would only miss, never be shared wrongly."""
    data = pickle.dumps(node, _PICKLE_PROTOCOL)
    h = hashlib.sha256(b"%d:" % depth)  # `content_digest`, without copying the pickle
    h.update(data)
    return salt + h.digest()[:16], len(data)


def strings(node: Any, values: list[str]) -> None:
    """The non-empty string values under `node`, in document order (what the walk adds to
    `Parsed.values`)."""
    stack = [node]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if item:
                values.append(item)
        elif kind is dict:
            stack.extend(reversed(item.values()))
        elif kind is list:
            stack.extend(reversed(item))


@dataclass
class BlockStats:
    """What one body's scan took from the cache (counts only: nothing of the content)."""

    blocks: int = 0
    cached: int = 0
    cached_chars: int = 0
    scanned_chars: int = 0
    # Units of a parsed body (`Units`), and those left out as known clean.
    units: int = 0
    units_cached: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"blocks": self.blocks, "cached": self.cached, "cached_chars": self.cached_chars,
                "scanned_chars": self.scanned_chars, "units": self.units,
                "units_cached": self.units_cached}


class CleanBlocks:
    """A bounded LRU set of block keys known to hold no finding. Thread-safe: scans may run
    in worker threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._keys: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.hit_chars = 0

    def __contains__(self, key: bytes) -> bool:
        with self._lock:
            size = self._keys.get(key)
            if size is None:
                self.misses += 1
                return False
            self._keys.move_to_end(key)
            self.hits += 1
            self.hit_chars += size
            return True

    def size_of(self, key: bytes) -> int | None:
        """What was remembered with `key` (a unit's node count) when it is known clean
        (counted as a hit), else None (a miss)."""
        with self._lock:
            size = self._keys.get(key)
            if size is None:
                self.misses += 1
                return None
            self._keys.move_to_end(key)
            self.hits += 1
            return size

    def add(self, key: bytes, size: int) -> None:
        with self._lock:
            self._keys[key] = size
            self._keys.move_to_end(key)
            while len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._keys), "max_entries": self.max_entries,
                    "bytes": len(self._keys) * ENTRY_BYTES,
                    "max_bytes": self.max_entries * ENTRY_BYTES,
                    "hits": self.hits, "misses": self.misses, "hit_chars": self.hit_chars}


# -- which rules can cross a cut -----------------------------------------------------------

_CATEGORIES = {
    _sc.CATEGORY_DIGIT: re.compile(r"\d"), _sc.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    _sc.CATEGORY_SPACE: re.compile(r"\s"), _sc.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    _sc.CATEGORY_WORD: re.compile(r"\w"), _sc.CATEGORY_NOT_WORD: re.compile(r"\W"),
}
_REPEATS = {_sc.MAX_REPEAT, _sc.MIN_REPEAT, getattr(_sc, "POSSESSIVE_REPEAT", _sc.MAX_REPEAT)}
_ZERO_WIDTH = {_sc.ASSERT, _sc.ASSERT_NOT, _sc.AT, _sc.GROUPREF}


def can_match(pattern: re.Pattern[str], ch: str) -> bool:
    """Whether some match of `pattern` can contain the character `ch`. Conservative: an
    element of the pattern it does not understand counts as yes."""
    return _can_match(pattern.pattern, pattern.flags, ch)


@functools.cache
def _can_match(source: str, flags: int, ch: str) -> bool:
    parsed = _parsed(source, flags)
    if parsed is None:
        return True
    ignore_case = bool(flags & re.IGNORECASE)
    chars = {ch, ch.lower(), ch.upper()} if ignore_case else {ch}
    return any(_seq_can(parsed, ord(c)) for c in chars)


def min_width(pattern: re.Pattern[str]) -> int:
    """The fewest characters a match of `pattern` spans (`windows.min_width`, from the
    parse tree kept here)."""
    parsed = _parsed(pattern.pattern, pattern.flags)
    if parsed is None:
        return 0
    try:
        return int(parsed.getwidth()[0])
    except (re.error, RecursionError, OverflowError):
        return 0


@functools.lru_cache(maxsize=2048)
def _parsed(source: str, flags: int) -> Any:
    """A pattern's parse tree, once per pattern: Python's regex parser is slow (~0.2 ms a
    rule), and each rule is asked about several characters (the JSON, form, XML and SSE
    separators, the block cut, the wall). None when it does not parse."""
    try:
        return _sp.parse(source, flags)
    except Exception:
        return None


def _seq_can(items: Any, o: int) -> bool:
    for op, av in items:
        if op is _sc.LITERAL:
            if av == o:
                return True
        elif op is _sc.NOT_LITERAL:
            if av != o:
                return True
        elif op is _sc.ANY:
            if o != 10:
                return True
        elif op is _sc.IN:
            if _in_class(av, o):
                return True
        elif op in _REPEATS:
            if _seq_can(av[2], o):
                return True
        elif op is _sc.SUBPATTERN:
            if _seq_can(av[-1], o):
                return True
        elif op is _sc.BRANCH:
            if any(_seq_can(b, o) for b in av[1]):
                return True
        elif op in _ZERO_WIDTH:
            continue
        elif op is getattr(_sc, "ATOMIC_GROUP", None):
            if _seq_can(av, o):
                return True
        elif op is _sc.GROUPREF_EXISTS:
            if _seq_can(av[1], o) or (av[2] is not None and _seq_can(av[2], o)):
                return True
        else:
            return True
    return False


def _in_class(items: Any, o: int) -> bool:
    negate = False
    hit = False
    ch = chr(o)
    for op, av in items:
        if op is _sc.NEGATE:
            negate = True
        elif op is _sc.LITERAL:
            hit = hit or av == o
        elif op is _sc.RANGE:
            hit = hit or av[0] <= o <= av[1]
        elif op is _sc.CATEGORY and av in _CATEGORIES:
            hit = hit or _CATEGORIES[av].match(ch) is not None
        else:
            return True
    return hit != negate
