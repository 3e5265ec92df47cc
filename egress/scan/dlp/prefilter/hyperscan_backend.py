"""The hyperscan prefilter: every rule's own regex compiled in prefilter mode (a superset of
its matches), or its anchors where hyperscan cannot take the regex, plus the run shapes of
the decoders, scanned in one SIMD pass.

Pure: `HyperscanPrefilter.compile` builds the databases in memory. Compiling takes seconds
for the catalogue, so the proxy keeps them in the derived cache (`egress.sources`): this
module only says what identifies a compiled prefilter (`cache_inputs`), turns one into
plain data (`snapshot`) and back (`restore`, which refuses anything `compile` could not have
made), and never reads or writes a file itself.
"""

from __future__ import annotations

import contextlib
import functools
import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parser  # type: ignore[import-not-found]
import threading
from collections.abc import Callable, Sequence
from typing import Any

from egress.scan.dlp.prefilter.hyperscan_plan import (
    _meta_plan,
    _Plan,
    _plan,
    _plan_fits,
    _split_anchors,
    literal,
)
from egress.scan.dlp.prefilter.protocol import (
    Prefiltered,
    RuleSource,
    ascii_data,
    on_tail,
    straddle_entries,
)
from egress.scan.dlp.prefilter.runs import (
    PRESENCE_SHAPES,
    RUN_KINDS,
    RUN_SHAPES,
    Ends,
    RunStarts,
    outermost,
    wrapped_spans,
)

hyperscan: Any
try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where no wheel exists
    hyperscan = None

# The rules database is scanned in windows of this many bytes (or four times the longest
# match, if more), overlapping by the longest match. Hyperscan is not linear on every input
# for a database this large: on a long run of one letter (`AAAA...`) or of one short token
# (`EAAEAA...`), patterns with long bounded repeats that can start at every position
# (`A{22}[A-Za-z0-9%]{60,140}` once its lookbehind is dropped in prefilter mode) made a 1 MB
# run cost ~1.6 s and 4 MB ~25 s, and which pairs of patterns do it depends on how the whole
# database compiles. A window bounds whatever hyperscan does inside it, so a text costs at
# most (length / step) windows of bounded work: linear, whatever the database. Windows
# overlapping by the longest match lose nothing: every match lies wholly inside one window,
# and prefilter mode only ever adds matches at a window's edges (dropped lookarounds).
RULES_WINDOW = 64 * 1024
_PENDING = object()
# Reported ends of one rule in one text beyond which `rule_ends` gives up (a run of one
# letter matches some rules at every position; each report is a Python callback).
ENDS_CAP = 4096

# Bump when the way rule sources become hyperscan expressions changes: cached databases
# (`egress.sources.derived_cache`) of an older recipe are then never found. A rule's ends
# database has a recipe of its own (7 compiled the base64 run shape without start of match:
# the rules' own regexes did not change, and their ends databases take seconds to compile;
# 8 reports only base64 runs that can decode, `runs.RUN_SHAPES`).
_RECIPE = 8
_ENDS_RECIPE = 6

# (load, store) of serialised ends databases by key inputs, set by the I/O side
# (`egress.sources.dlp_catalogue`): this module never touches the disk.
EndsStore = tuple[Callable[[list[object]], bytes | None], Callable[[list[object], bytes], None]]


def _plan_and_rules(sources: Sequence[RuleSource]) -> tuple[_Plan, Any]:
    """`_plan(sources)` and its rules database. Every rule of the shipped catalogue compiles
    from its own regex, so the database of all of them is tried first: when it compiles,
    each of its expressions compiles alone too (hyperscan checks every expression of a
    database as it would alone, then more), which is the plan `_plan` makes, and its
    database is this one. Only when it fails is each expression tried alone (`_plan`): a
    compile per rule, most of what a cold start of the proxy took."""
    flag = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER
    exprs = [(src.prefilter or src.regex).encode() for src in sources]
    ids, flags = list(range(len(exprs))), [flag] * len(exprs)
    try:
        db = _database(exprs, ids, flags)
    except hyperscan.error:
        plan = _plan(sources)
        return plan, _database(plan.exprs, plan.ids, plan.flags)
    return _Plan(exprs, ids, flags, [], _split_anchors(sources)), db


def _database(exprs: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]) -> Any:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=list(exprs), ids=list(ids), elements=len(exprs), flags=list(flags))
    return db


_THREAD = threading.local()


def hs_scan(db: Any, data: bytes, on: Any) -> None:
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


def cache_inputs(sources: Sequence[RuleSource]) -> list[object]:
    """Everything a compiled prefilter depends on (the recipe, hyperscan's version, the rule
    sources, the run shapes, the flags): what names its derived-cache entry, so a change in
    any of them is a different entry and a stale one is never found."""
    return [_RECIPE, hyperscan.__version__,
            [[s.regex, s.prefilter, s.anchors, s.split_anchors] for s in sources],
            [[kind, shape] for kind, shape in (*RUN_SHAPES, *PRESENCE_SHAPES)],
            [hyperscan.HS_FLAG_SINGLEMATCH, hyperscan.HS_FLAG_PREFILTER,
             hyperscan.HS_FLAG_CASELESS, hyperscan.HS_FLAG_SOM_LEFTMOST, hyperscan.HS_FLAG_DOTALL]]


def ends_cache_inputs(expr: bytes) -> list[object]:
    """What a rule's ends database depends on: names its entry in an `EndsStore`."""
    return ["ends", _ENDS_RECIPE, hyperscan.__version__, expr.decode("latin-1"),
            hyperscan.HS_FLAG_PREFILTER]


class HyperscanPrefilter:
    """Compiled databases over one rule set: `compile` builds them, `restore` takes them back
    from a `snapshot` (`from_cache` then says so)."""

    name = "hyperscan"

    def __init__(self, sources: Sequence[RuleSource], plan: _Plan, databases: Sequence[Any],
                 from_cache: bool = False) -> None:
        self.run_kinds = [kind for kind, _ in RUN_SHAPES]
        self.presence_kinds = tuple(dict.fromkeys(kind for kind, _ in PRESENCE_SHAPES))
        self.split_list = _split_anchors(sources)
        self.straddle = straddle_entries(self.split_list)
        self.plan, self.always = plan, plan.always
        # How far apart two windows of the rules scan start (see `RULES_WINDOW`).
        reach = max((_reach_of(src, i, plan) for i, src in enumerate(sources)), default=0) + 2
        self.window = max(RULES_WINDOW, 4 * reach)
        self.step = self.window - reach
        (self.rules_db, self.split_db, self.runs_db, self.straddle_db, self.presence_db,
         self.token_db) = databases
        self.from_cache = from_cache
        # Rules compiled from their own regex: `rule_ends` may locate their matches.
        self._own = {i: src.regex.encode() for i, src in enumerate(sources)
                     if src.prefilter is None and i not in plan.always
                     and src.regex.encode() in plan.exprs}
        self._ends_dbs: dict[int, Any] = {}
        self._ends_lock = threading.Lock()
        self._ends_queued: set[int] = set()
        self._ends_todo: list[int] = []
        self._ends_worker: threading.Thread | None = None
        self.ends_store: EndsStore | None = None

    @classmethod
    def compile(cls, sources: Sequence[RuleSource]) -> HyperscanPrefilter:
        plan, rules_db = _plan_and_rules(sources)
        databases = (
            rules_db,
            _database([literal(a.encode()) for a in plan.split], list(range(len(plan.split))),
                      [hyperscan.HS_FLAG_CASELESS] * len(plan.split)),
            _database([shape for _, shape in RUN_SHAPES], list(range(len(RUN_SHAPES))),
                      [0 if kind == "base64" else hyperscan.HS_FLAG_SOM_LEFTMOST
                       for kind, _ in RUN_SHAPES]),  # `runs.RunStarts` says why
            _straddle_database(straddle_entries(plan.split)),
            _database([shape for _, shape in PRESENCE_SHAPES], list(range(len(PRESENCE_SHAPES))),
                      [hyperscan.HS_FLAG_SINGLEMATCH] * len(PRESENCE_SHAPES)),
            _token_start_database(plan.split))
        return cls(sources, plan, databases)

    def snapshot(self) -> tuple[dict[str, object], list[bytes]]:
        """The plan as JSON-able metadata and each database serialised: what `restore` takes."""
        plan = self.plan
        meta: dict[str, object] = {
            "exprs": [e.decode("latin-1") for e in plan.exprs], "ids": plan.ids,
            "flags": plan.flags, "always": plan.always, "split": plan.split}
        return meta, [hyperscan.dumpb(db) for db in (self.rules_db, self.split_db, self.runs_db,
                                                      self.straddle_db, self.presence_db,
                                                      self.token_db)]

    @classmethod
    def restore(cls, sources: Sequence[RuleSource], meta: dict[str, object],
                blobs: Sequence[bytes]) -> HyperscanPrefilter | None:
        """The prefilter a snapshot holds, or None when it is not one `compile(sources)` could
        have made (a doctored plan, a missing or corrupt database): the caller recompiles."""
        plan = _meta_plan(meta)
        if plan is None or len(blobs) != 6 or not _plan_fits(plan, sources):
            return None
        try:
            databases = [_loaded(b) for b in blobs]
        except hyperscan.error:  # corrupt, another hyperscan build, another CPU's features
            return None
        return cls(sources, plan, databases, from_cache=True)

    def scan(self, text: str, want_runs: bool, data: bytes | None = None) -> Prefiltered:
        # One byte per character keeps offsets equal to string indices; no rule needs
        # anything but ASCII.
        data = ascii_data(text) if data is None else data
        result = Prefiltered(sorted(self.rule_ids(data)))
        if want_runs:
            ends: dict[str, dict[int, int]] = {kind: {} for kind in RUN_KINDS}
            kinds, starts = self.run_kinds, RunStarts(data)

            def on_run(kid: int, start: int, end: int, flags: int, ctx: Any) -> None:
                spans = ends[kinds[kid]]
                start = starts(kinds[kid], start, end)
                if spans.get(start, -1) < end - 1:
                    spans[start] = end - 1

            hs_scan(self.runs_db, data, on_run)
            result.runs = {k: outermost(s) if s else [] for k, s in ends.items()}
            # Absent: no runs; present: found around each place a shape ends (too many
            # places: the decoder searches the whole text).
            present = self.present_shapes(data)
            result.runs.update((k, []) for k in self.presence_kinds if k not in present)
            if present:
                wraps = Ends()
                with contextlib.suppress(hyperscan.ScanTerminated):
                    hs_scan(self.wrap_db, data, wraps)
                    result.runs["b64wrap"] = wrapped_spans(text, wraps.ends)
        return result

    @functools.cached_property
    def wrap_db(self) -> Any:
        """The presence shapes with every end reported (`runs.wrapped_spans`); milliseconds."""
        return _database([s for _, s in PRESENCE_SHAPES], [0, 0], [0, 0])

    def rule_ids(self, data: bytes) -> set[int]:
        """The rules reported in `data` (windowed: `RULES_WINDOW`), and those always run."""
        found = set(self.always)
        on_rule = lambda rid, *_: found.add(rid)  # noqa: E731
        if len(data) <= self.window:
            hs_scan(self.rules_db, data, on_rule)
        else:
            for start in range(0, len(data) - self.window + self.step, self.step):
                hs_scan(self.rules_db, data[start:start + self.window], on_rule)
        return found

    def present_shapes(self, data: bytes) -> set[str]:
        """The presence-only run shapes (`PRESENCE_SHAPES`) that occur in `data`."""
        present: set[str] = set()
        hs_scan(self.presence_db, data, lambda kid, *_: present.add(PRESENCE_SHAPES[kid][0]))
        return present

    def rule_ends(self, text: str, index: int, data: bytes | None = None) -> list[int] | None:
        """Every end offset of rule `index`'s own regex in prefilter mode (a superset of
        the regex's match ends), or None: the rule is prefiltered by anchors or its own
        prefilter expression, or it matches so often here (`ENDS_CAP`) that a whole-text
        search is cheaper than a window around each (`egress.scan.dlp.prefilter.windows`)."""
        db = self._ends_db(index)
        if db is None:
            return None
        ends: list[int] = []

        def on(rid: int, start: int, end: int, flags: int, ctx: Any) -> bool:
            ends.append(end)
            return len(ends) > ENDS_CAP  # True stops the scan

        try:
            hs_scan(db, ascii_data(text) if data is None else data, on)
        except hyperscan.ScanTerminated:
            return None
        return ends

    def _ends_db(self, index: int) -> Any:
        """Rule `index`'s own regex alone, all matches reported, or None: not compiled from
        its own regex, or not compiled yet. The first ask queues it for a background thread
        (compiling takes 5 ms to 15 s a rule, and the GIL is released meanwhile): a scan never
        waits for it, and searches the whole text until it is there."""
        db = self._ends_dbs.get(index, _PENDING)
        if db is not _PENDING:
            return db
        if index not in self._own:
            self._ends_dbs[index] = None
            return None
        with self._ends_lock:
            if index in self._ends_queued:
                return None
            self._ends_queued.add(index)
            self._ends_todo.append(index)
            if self._ends_worker is None or not self._ends_worker.is_alive():
                self._ends_worker = threading.Thread(target=self._compile_queued, daemon=True,
                                                     name="dlp-ends-compiler")
                self._ends_worker.start()
        return None

    def _compile_queued(self) -> None:
        while True:
            with self._ends_lock:
                if not self._ends_todo:
                    self._ends_worker = None
                    return
                index = self._ends_todo.pop(0)
            self.compile_ends([index])

    def ends_settled(self, timeout: float | None = None) -> None:
        """Waits until the background thread has compiled what it was asked to (benchmarks
        measure the steady state a running proxy reaches)."""
        worker = self._ends_worker
        if worker is not None:
            worker.join(timeout)

    def load_stored_ends(self, indices: Sequence[int]) -> int:
        """Loads the ends databases of `indices` that `ends_store` holds (all of them take
        ~0.06 s CPU, where compiling them takes seconds), so that a fresh proxy's first long
        texts neither search whole nor share the GIL with the background compiler. What the
        store lacks is left to be compiled on first ask. Returns how many were loaded."""
        store, loaded = self.ends_store, 0
        if store is None:
            return 0
        for index in indices:
            expr = self._own.get(index)
            if expr is None or self._ends_dbs.get(index, _PENDING) is not _PENDING:
                continue
            blob = store[0](ends_cache_inputs(expr))
            if blob is None:
                continue
            with contextlib.suppress(hyperscan.error):  # corrupt, another build: compiled later
                self._ends_dbs[index] = _loaded(blob)
                loaded += 1
        return loaded

    def compile_ends(self, indices: Sequence[int]) -> None:
        """Compiles the ends databases of `indices` now (what the background thread does;
        tests call it to have them ready)."""
        for index in indices:
            if self._ends_dbs.get(index, _PENDING) is not _PENDING:
                continue
            expr = self._own.get(index)
            self._ends_dbs[index] = None if expr is None else self._ends_database(expr)

    def _ends_database(self, expr: bytes) -> Any:
        """Rule `expr`'s ends database: kept in `ends_store` (a compile takes up to seconds),
        else compiled and kept there; None if hyperscan cannot (the rule is searched whole)."""
        inputs = ends_cache_inputs(expr)
        store = self.ends_store
        blob = store[0](inputs) if store is not None else None
        if blob is not None:
            with contextlib.suppress(hyperscan.error):  # corrupt, another build: compiled below
                return _loaded(blob)
        try:
            db = _database([expr], [0], [hyperscan.HS_FLAG_PREFILTER])
        except hyperscan.error:
            return None
        if store is not None:
            store[1](inputs, hyperscan.dumpb(db))
        return db

    def has_split_anchor(self, text: str) -> bool:
        seen: list[int] = []

        def on(aid: int, start: int, end: int, flags: int, ctx: Any) -> bool:
            seen.append(aid)
            return True  # one is enough: stop scanning

        with contextlib.suppress(hyperscan.ScanTerminated):
            hs_scan(self.split_db, text.encode("ascii", "replace"), on)
        return bool(seen)

    def anchor_spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        return self._spans(self.split_db, text, data)  # caseless: `data` in either case

    def token_anchor_spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        # Only occurrences that may start a token (see `_token_start_database`): inside a
        # run of one letter (`aaaa…`, where the 22-letter X bearer-token anchor occurs at
        # every position) a callback per position cost ~1 s per MB.
        return sorted(set(self._spans(self.token_db, text, data)))

    def _spans(self, db: Any, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        anchors = self.plan.split
        spans: list[tuple[int, int]] = []

        def on(aid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            spans.append((end - len(anchors[aid]), end))

        hs_scan(db, text.encode("ascii", "replace") if data is None else data, on)
        return sorted(spans)

    def straddles(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        entries = self.straddle
        hits: list[tuple[int, int]] = []

        def on(eid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            tail = entries[eid][1]
            hits.append((eid, end - len(tail) - 1 if on_tail(entries[eid]) else end - 1))

        # The database is caseless: `data` may be the encoded text in either letter case.
        hs_scan(self.straddle_db, text.encode("ascii", "replace") if data is None else data, on)
        return hits


def _reach_of(src: RuleSource, index: int, plan: _Plan) -> int:
    """`match_reach` as the plan compiled it: anchors only where the regex did not compile."""
    if index in plan.always:
        return 0
    if (src.prefilter or src.regex).encode() in plan.exprs:
        expr = src.prefilter or src.regex
        try:
            width = sre_parser.parse(expr).getwidth()[1]
        except (re.error, RecursionError, OverflowError):
            width = sre_constants.MAXREPEAT
        return int(min(width, src.max_length or width))
    return max((len(a) for a in src.anchors), default=0)


def _token_start_database(anchors: Sequence[str]) -> Any:
    """Split anchors where they may start a token: at the start of the text, after a byte
    that is not an ASCII letter or digit (a non-ASCII character is one `?` byte here), or
    within six bytes after a backslash (an escape decodes to something else): what
    `text_scan._starts_token` keeps (`token_anchor_spans`), so leaving out the others
    changes no result."""
    exprs = [rb"(?:^|[^A-Za-z0-9]|\\.{0,5})" + literal(a.encode()) for a in anchors]
    flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_DOTALL] * len(exprs)
    return _database(exprs, list(range(len(exprs))), flags)


def _straddle_database(entries: Sequence[tuple[str, str]]) -> Any:
    exprs = []
    for head, tail in entries:
        if on_tail((head, tail)):
            exprs.append(rb"[\n\x22]" + literal(tail.encode()))
        else:
            exprs.append(literal(head.encode()) + rb"[\n\x22]")
    return _database(exprs, list(range(len(exprs))), [hyperscan.HS_FLAG_CASELESS] * len(exprs))
