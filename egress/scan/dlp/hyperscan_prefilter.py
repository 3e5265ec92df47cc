"""The DLP prefilter: one pass over a text says which rules can match and where its encoded
runs are, so the Python regexes run only where they may find something.

Two backends with the same answers:
- `hyperscan` (default where its wheel installs): every rule's own regex compiled in
  prefilter mode (a superset of its matches) plus the run shapes of the decoders, scanned
  in one SIMD pass. Rules whose regex hyperscan cannot take fall back to their anchors.
- `aho-corasick` (pyahocorasick): the rules' case-folded literal anchors; rules without
  anchors always run, and decoder runs are found by the decoders' own regexes.

`KnownMatcher` does the same for the exact encoded forms of known secret values.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import ahocorasick

from egress import derived_cache

hyperscan: Any
try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where no wheel exists
    hyperscan = None

BACKENDS = ("hyperscan", "aho-corasick")


@dataclass(frozen=True, slots=True)
class RuleSource:
    regex: str
    anchors: tuple[str, ...]
    # A simpler hyperscan expression matching a superset, for regexes it compiles slowly.
    prefilter: str | None = None
    # Anchors distinctive enough that seeing one means a secret may be split around it.
    split_anchors: tuple[str, ...] = ()


@dataclass(slots=True)
class Prefiltered:
    rules: list[int]
    runs: dict[str, list[tuple[int, int]]] | None = None


class Prefilter(Protocol):
    name: str
    # (head, tail) of each way a split anchor can be cut in two (see `straddle_entries`).
    straddle: list[tuple[str, str]]

    def scan(self, text: str, want_runs: bool) -> Prefiltered: ...

    def has_split_anchor(self, text: str) -> bool: ...

    def anchor_spans(self, text: str) -> list[tuple[int, int]]:
        """Every occurrence of a split anchor (any case) in `text`."""
        ...

    def straddles(self, text: str) -> list[tuple[int, int]]:
        """(entry, delimiter position) for each place a part (delimited by a newline or a
        double quote) ends with an entry's head or starts with its tail, whichever side of
        the entry is the longer one."""
        ...


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


def default_backend() -> str:
    return "hyperscan" if hyperscan is not None else "aho-corasick"


# -- hyperscan -----------------------------------------------------------------------------

# Encoded runs, each followed by one character outside its alphabet (the scan appends a
# newline so a run at the very end has one too). SOM_LEFTMOST gives each run's start.
_RUN_SHAPES: tuple[tuple[str, bytes], ...] = (
    ("base64", rb"[A-Za-z0-9+/_-]{16,}={0,2}[^A-Za-z0-9+/=_-]"),
    ("base32", rb"[A-Z2-7]{16,}={0,6}[^A-Za-z0-9=]"),
    ("base32", rb"[a-z2-7]{16,}={0,6}[^A-Za-z0-9=]"),
    # Hex of printable text: every byte is 20-7f or tab/CR/LF, which random ids rarely are.
    ("hex", rb"(?:(?:\\x|0x|%)?(?:[2-7][0-9a-fA-F]|0[9aAdD])(?:[:, -]|, )?){8,}[^0-9a-fA-F]"),
    # Hex of binary (a DER key, a compressed payload): long runs of hex digits.
    ("longhex", rb"[0-9a-fA-F]{64,}[^0-9a-fA-F]"),
)
RUN_KINDS = tuple(dict.fromkeys(kind for kind, _ in _RUN_SHAPES))
_WRAP = rb"[ \t]*(?:\r?\n|\\r\\n|\\n)[ \t]*"
# Shapes only tested for presence (start of match costs hyperscan four times as much and
# they are rare): when one occurs, the decoder finds its runs with its own (linear) regex.
_PRESENCE_SHAPES: tuple[tuple[str, bytes], ...] = (
    # Base64 wrapped over lines (real line breaks, or `\n` escapes inside a JSON string).
    # Three chunks, the middle one a whole line (prose and code have few one-word lines),
    # or a long first chunk.
    ("b64wrap", rb"[A-Za-z0-9+/_-]{4}={0,2}" + _WRAP + rb"[A-Za-z0-9+/_-]{4,}={0,2}" + _WRAP
                + rb"[A-Za-z0-9+/_-]{2}"),
    ("b64wrap", rb"[A-Za-z0-9+/_-]{16}={0,2}" + _WRAP + rb"[A-Za-z0-9+/_-]{2}"),
)


def _literal(text: bytes) -> bytes:
    return b"".join(bytes([c]) if chr(c).isalnum() else b"\\x%02x" % c for c in text)


def _compiles(expression: bytes, flags: int) -> bool:
    db = hyperscan.Database()
    try:
        db.compile(expressions=[expression], ids=[0], elements=1, flags=[flags])
    except hyperscan.error:
        return False
    return True


# Bump when the way rule sources become hyperscan expressions changes: cached databases
# (egress/derived_cache.py) of an older recipe are then never found.
_RECIPE = 5


@dataclass(slots=True)
class _Plan:
    """What the rules database is compiled from: each rule's own regex in prefilter mode,
    or its anchors when hyperscan cannot take the regex, or nothing (`always` runs)."""

    exprs: list[bytes]
    ids: list[int]
    flags: list[int]
    always: list[int]
    split: list[str]


def _split_anchors(sources: Sequence[RuleSource]) -> list[str]:
    return sorted({a for src in sources for a in src.split_anchors})


def _plan(sources: Sequence[RuleSource]) -> _Plan:
    plan = _Plan([], [], [], [], _split_anchors(sources))
    single = hyperscan.HS_FLAG_SINGLEMATCH
    for i, src in enumerate(sources):
        expr = (src.prefilter or src.regex).encode()
        if _compiles(expr, single | hyperscan.HS_FLAG_PREFILTER):
            plan.exprs.append(expr)
            plan.ids.append(i)
            plan.flags.append(single | hyperscan.HS_FLAG_PREFILTER)
        elif src.anchors:
            for anchor in src.anchors:
                plan.exprs.append(_literal(anchor.encode()))
                plan.ids.append(i)
                plan.flags.append(single | hyperscan.HS_FLAG_CASELESS)
        else:
            plan.always.append(i)
    return plan


def _plan_fits(plan: _Plan, sources: Sequence[RuleSource]) -> bool:
    """Whether a plan read from the cache is one `_plan(sources)` could have made: every rule
    is covered by its own regex, by all of its anchors, or runs always. A plan that fails
    this is recompiled, so a bad cache entry can cost time but never drop a rule."""
    if not len(plan.exprs) == len(plan.ids) == len(plan.flags):
        return False
    single = hyperscan.HS_FLAG_SINGLEMATCH
    by_rule: dict[int, set[tuple[bytes, int]]] = {}
    for expr, rid, flag in zip(plan.exprs, plan.ids, plan.flags, strict=True):
        by_rule.setdefault(rid, set()).add((expr, flag))
    if not set(by_rule) | set(plan.always) <= set(range(len(sources))):
        return False
    for i, src in enumerate(sources):
        got = by_rule.get(i)
        if got is None:
            if i not in plan.always:
                return False
            continue
        own = {((src.prefilter or src.regex).encode(), single | hyperscan.HS_FLAG_PREFILTER)}
        anchors = {(_literal(a.encode()), single | hyperscan.HS_FLAG_CASELESS) for a in src.anchors}
        if got != own and (not anchors or got != anchors):
            return False
    return plan.split == _split_anchors(sources)


def _database(exprs: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]) -> Any:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=list(exprs), ids=list(ids), elements=len(exprs), flags=list(flags))
    return db


_THREAD = threading.local()


def _hs_scan(db: Any, data: bytes, on: Any) -> None:
    """`db.scan`, with a scratch space of this thread's own: a database's scratch may not
    be used by two scans at once, and large bodies are scanned in worker threads while the
    event loop scans others (`addons/dlp.py`)."""
    if threading.current_thread() is threading.main_thread():
        db.scan(data, match_event_handler=on)
        return
    mine: dict[int, tuple[Any, Any]] = _THREAD.__dict__.setdefault("scratch", {})
    entry = mine.get(id(db))
    if entry is None or entry[0] is not db:
        if len(mine) >= 64:  # old policies' databases: let them go
            mine.clear()
        entry = mine[id(db)] = (db, hyperscan.Scratch(db))
    db.scan(data, match_event_handler=on, scratch=entry[1])


def _loaded(blob: bytes) -> Any:
    db = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)
    db.scratch = hyperscan.Scratch(db)  # compile() allocates one; loadb() does not
    return db


def _meta_plan(meta: dict[str, object]) -> _Plan | None:
    exprs, ids, flags, always, split = (meta.get(k) for k in ("exprs", "ids", "flags", "always",
                                                               "split"))
    if not all(isinstance(v, list) for v in (exprs, ids, flags, always, split)):
        return None
    assert isinstance(exprs, list) and isinstance(ids, list) and isinstance(flags, list)
    assert isinstance(always, list) and isinstance(split, list)
    lists = (exprs, split), (ids, flags, always)
    if not all(isinstance(x, str) for v in lists[0] for x in v):
        return None
    if not all(type(x) is int for v in lists[1] for x in v):
        return None
    try:
        return _Plan([e.encode("latin-1") for e in exprs], ids, flags, always, split)
    except UnicodeError:
        return None


class HyperscanPrefilter:
    name = "hyperscan"

    def __init__(self, sources: Sequence[RuleSource]) -> None:
        self.run_kinds = [kind for kind, _ in _RUN_SHAPES]
        self.split_list = _split_anchors(sources)
        self.straddle = straddle_entries(self.split_list)
        key = derived_cache.key_of(
            "dlp-prefilter", _RECIPE, hyperscan.__version__,
            [[s.regex, s.prefilter, s.anchors, s.split_anchors] for s in sources],
            [[kind, shape] for kind, shape in (*_RUN_SHAPES, *_PRESENCE_SHAPES)],
            [hyperscan.HS_FLAG_SINGLEMATCH, hyperscan.HS_FLAG_PREFILTER,
             hyperscan.HS_FLAG_CASELESS, hyperscan.HS_FLAG_SOM_LEFTMOST])
        self.from_cache = self._load(key, sources)
        if not self.from_cache:
            self._compile(sources)
            derived_cache.store(key, self._pack())

    def _compile(self, sources: Sequence[RuleSource]) -> None:
        plan = self.plan = _plan(sources)
        self.always = plan.always
        self.rules_db = _database(plan.exprs, plan.ids, plan.flags)
        self.split_db = _database(
            [_literal(a.encode()) for a in plan.split], list(range(len(plan.split))),
            [hyperscan.HS_FLAG_CASELESS] * len(plan.split))
        self.runs_db = _database([shape for _, shape in _RUN_SHAPES], list(range(len(_RUN_SHAPES))),
                                 [hyperscan.HS_FLAG_SOM_LEFTMOST] * len(_RUN_SHAPES))
        self.straddle_db = _straddle_database(self.straddle)
        self.presence_db = _database([shape for _, shape in _PRESENCE_SHAPES],
                                     list(range(len(_PRESENCE_SHAPES))),
                                     [hyperscan.HS_FLAG_SINGLEMATCH] * len(_PRESENCE_SHAPES))

    def _pack(self) -> bytes:
        plan = self.plan
        meta: dict[str, object] = {
            "exprs": [e.decode("latin-1") for e in plan.exprs], "ids": plan.ids,
            "flags": plan.flags, "always": plan.always, "split": plan.split}
        return derived_cache.pack(meta, [hyperscan.dumpb(db) for db in
                                         (self.rules_db, self.split_db, self.runs_db,
                                          self.straddle_db, self.presence_db)])

    def _load(self, key: str, sources: Sequence[RuleSource]) -> bool:
        payload = derived_cache.load(key)
        unpacked = derived_cache.unpack(payload) if payload is not None else None
        if unpacked is None:
            return False
        meta, blobs = unpacked
        plan = _meta_plan(meta)
        if plan is None or len(blobs) != 5 or not _plan_fits(plan, sources):
            return False
        try:
            rules_db, split_db, runs_db, straddle_db, presence_db = (_loaded(b) for b in blobs)
        except hyperscan.error:  # corrupt, another hyperscan build, another CPU's features
            return False
        self.plan, self.always = plan, plan.always
        self.rules_db, self.split_db, self.runs_db = rules_db, split_db, runs_db
        self.straddle_db, self.presence_db = straddle_db, presence_db
        return True

    def scan(self, text: str, want_runs: bool) -> Prefiltered:
        # One byte per character keeps offsets equal to string indices; no rule needs
        # anything but ASCII.
        data = text.encode("ascii", "replace") + b"\n"
        found = set(self.always)

        def on_rule(rid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            found.add(rid)

        _hs_scan(self.rules_db, data, on_rule)
        result = Prefiltered(sorted(found))
        if want_runs:
            ends: dict[str, dict[int, int]] = {kind: {} for kind in RUN_KINDS}
            kinds = self.run_kinds

            def on_run(kid: int, start: int, end: int, flags: int, ctx: Any) -> None:
                spans = ends[kinds[kid]]
                if spans.get(start, -1) < end - 1:
                    spans[start] = end - 1

            _hs_scan(self.runs_db, data, on_run)
            result.runs = {k: sorted(_outermost(s)) for k, s in ends.items()}
            present: set[str] = set()

            def on_presence(kid: int, start: int, end: int, flags: int, ctx: Any) -> None:
                present.add(_PRESENCE_SHAPES[kid][0])

            _hs_scan(self.presence_db, data, on_presence)
            for kind, _ in _PRESENCE_SHAPES:
                if kind not in present:
                    result.runs[kind] = []  # absent; present ones the decoder finds itself
        return result


    def has_split_anchor(self, text: str) -> bool:
        seen: list[int] = []

        def on(aid: int, start: int, end: int, flags: int, ctx: Any) -> bool:
            seen.append(aid)
            return True  # one is enough: stop scanning

        with contextlib.suppress(hyperscan.ScanTerminated):
            _hs_scan(self.split_db, text.encode("ascii", "replace"), on)
        return bool(seen)

    def anchor_spans(self, text: str) -> list[tuple[int, int]]:
        anchors = self.plan.split
        spans: list[tuple[int, int]] = []

        def on(aid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            spans.append((end - len(anchors[aid]), end))

        _hs_scan(self.split_db, text.encode("ascii", "replace"), on)
        return sorted(spans)

    def straddles(self, text: str) -> list[tuple[int, int]]:
        entries = self.straddle
        hits: list[tuple[int, int]] = []

        def on(eid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            tail = entries[eid][1]
            hits.append((eid, end - len(tail) - 1 if on_tail(entries[eid]) else end - 1))

        _hs_scan(self.straddle_db, text.encode("ascii", "replace"), on)
        return hits


def _straddle_database(entries: Sequence[tuple[str, str]]) -> Any:
    exprs = []
    for head, tail in entries:
        if on_tail((head, tail)):
            exprs.append(rb"[\n\x22]" + _literal(tail.encode()))
        else:
            exprs.append(_literal(head.encode()) + rb"[\n\x22]")
    return _database(exprs, list(range(len(exprs))), [hyperscan.HS_FLAG_CASELESS] * len(exprs))


def _outermost(spans: dict[int, int]) -> list[tuple[int, int]]:
    """Drop runs that lie inside an earlier, longer one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans.items()):
        if out and start < out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
            continue
        out.append((start, end))
    return out


# -- pyahocorasick -------------------------------------------------------------------------

def _fold(text: str) -> str:
    """Lower-case without changing any offset (str.lower can lengthen some characters)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class AhoCorasickPrefilter:
    name = "aho-corasick"

    def __init__(self, sources: Sequence[RuleSource]) -> None:
        by_anchor: dict[str, list[int]] = {}
        self.always: list[int] = []
        for i, src in enumerate(sources):
            if not src.anchors:
                self.always.append(i)
            for anchor in src.anchors:
                by_anchor.setdefault(anchor.lower(), []).append(i)
        self.automaton = ahocorasick.Automaton()
        for anchor, ids in by_anchor.items():
            self.automaton.add_word(anchor, tuple(ids))
        self.automaton.make_automaton()
        self.split_anchors = {a.lower() for src in sources for a in src.split_anchors}
        self.split_automaton = ahocorasick.Automaton()
        for anchor in sorted(self.split_anchors):
            self.split_automaton.add_word(anchor, len(anchor))
        self.straddle = straddle_entries(sorted(self.split_anchors))
        self.straddle_automaton = ahocorasick.Automaton()
        words: dict[str, list[tuple[int, int]]] = {}
        for i, (head, tail) in enumerate(self.straddle):
            for delimiter in "\n\"":
                if on_tail((head, tail)):
                    words.setdefault(delimiter + tail, []).append((i, 0))
                else:
                    words.setdefault(head + delimiter, []).append((i, len(head)))
        for word, where in words.items():
            self.straddle_automaton.add_word(word, (len(word), tuple(where)))
        if self.split_anchors:
            self.split_automaton.make_automaton()
        if words:
            self.straddle_automaton.make_automaton()

    def has_split_anchor(self, text: str) -> bool:
        folded = _fold(text)
        return any(a in folded for a in self.split_anchors)

    def anchor_spans(self, text: str) -> list[tuple[int, int]]:
        if not self.split_anchors:
            return []
        return sorted((end + 1 - n, end + 1) for end, n in self.split_automaton.iter(_fold(text)))

    def straddles(self, text: str) -> list[tuple[int, int]]:
        if not self.straddle:
            return []
        hits: list[tuple[int, int]] = []
        for end, (n, ids) in self.straddle_automaton.iter(_fold(text)):
            start = end + 1 - n
            hits += [(i, start + offset) for i, offset in ids]
        return hits

    def scan(self, text: str, want_runs: bool) -> Prefiltered:
        found = set(self.always)
        for _, ids in self.automaton.iter(_fold(text)):
            found.update(ids)
        return Prefiltered(sorted(found))


@cache
def _prefilter(sources: tuple[RuleSource, ...], backend: str) -> Prefilter:
    if backend == "hyperscan":
        if hyperscan is None:
            raise ValueError("the hyperscan backend is not installed")
        return HyperscanPrefilter(sources)
    if backend == "aho-corasick":
        return AhoCorasickPrefilter(sources)
    raise ValueError(f"unknown DLP matcher backend {backend!r}; one of {', '.join(BACKENDS)}")


def make_prefilter(sources: Sequence[RuleSource], backend: str | None = None) -> Prefilter:
    """Compiled once per rule set and backend, then shared by every policy that uses it."""
    return _prefilter(tuple(sources), backend or default_backend())


# -- known secrets -------------------------------------------------------------------------

@dataclass
class _Forms:
    names: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    any_case: list[bool] = field(default_factory=list)

    def occurrences(self, text: str, ids: set[int], folded: str | None) -> list[tuple[str, str, int, int]]:
        out = []
        for i in sorted(ids):
            form = self.forms[i]
            hay, needle = (folded, form.lower()) if self.any_case[i] and folded is not None else (text, form)
            pos = hay.find(needle)
            while pos != -1:
                out.append((self.names[i], text[pos:pos + len(form)], pos, pos + len(form)))
                pos = hay.find(needle, pos + 1)
        return out


class HyperscanKnownMatcher:
    def __init__(self, forms: Sequence[tuple[str, str, bool]]) -> None:
        self.table = _Forms()
        exprs, flags = [], []
        for name, form, any_case in forms:
            self.table.names.append(name)
            self.table.forms.append(form)
            self.table.any_case.append(any_case)
            exprs.append(_literal(form.encode("utf-8", "surrogateescape")))
            flags.append(hyperscan.HS_FLAG_SINGLEMATCH | (hyperscan.HS_FLAG_CASELESS if any_case else 0))
        self.db = hyperscan.Database()
        self.db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)

    def find(self, text: str) -> list[tuple[str, str, int, int]]:
        ids: set[int] = set()

        def on(fid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            ids.add(fid)

        _hs_scan(self.db, text.encode("utf-8", "surrogateescape"), on)
        if not ids:
            return []
        folded = _fold(text) if any(self.table.any_case[i] for i in ids) else None
        return self.table.occurrences(text, ids, folded)


class AhoCorasickKnownMatcher:
    def __init__(self, forms: Sequence[tuple[str, str, bool]]) -> None:
        self.table = _Forms()
        by_form: dict[str, list[int]] = {}
        for i, (name, form, any_case) in enumerate(forms):
            self.table.names.append(name)
            self.table.forms.append(form)
            self.table.any_case.append(any_case)
            by_form.setdefault(form.lower(), []).append(i)
        self.automaton = ahocorasick.Automaton()
        for form, ids in by_form.items():
            self.automaton.add_word(form, tuple(ids))
        self.automaton.make_automaton()

    def find(self, text: str) -> list[tuple[str, str, int, int]]:
        folded = _fold(text)
        ids: set[int] = set()
        for _, found in self.automaton.iter(folded):
            ids.update(found)
        return self.table.occurrences(text, ids, folded) if ids else []


def make_known_matcher(forms: Sequence[tuple[str, str, bool]], backend: str | None = None) -> KnownMatcher:
    if (backend or default_backend()) == "hyperscan" and hyperscan is not None:
        return HyperscanKnownMatcher(forms)
    return AhoCorasickKnownMatcher(forms)
