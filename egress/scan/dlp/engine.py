"""The DLP engine: finds secrets in a request or response, wherever and however they are
encoded. One text at a time is `egress.scan.dlp.text_scan`'s; this module takes messages
apart.

The structure of a message (headers, query, JSON, forms, multipart, binary, character set)
is taken apart by `scan_parts`, `scan_url`, `scan_headers` and `scan_body`
(`egress.scan.dlp.bodies`, `egress.scan.dlp.charset`); a body that does not parse cleanly
is scanned raw as well. Large JSON bodies are scanned block by block, blocks seen clean
before skipped (`egress.scan.dlp.blocks`); a small body, a request target and a header set
are scanned once per engine digest and context, the same input again answered from memory
(`egress.scan.dlp.memo`: retries, keep-alive heads, a diff's second policy). Secrets split
across parts are rebuilt by `egress.scan.dlp.splits`; streams and WebSocket messages go
through `egress.scan.dlp.streams`.

Pure: the engine is handed its rules and a prefilter factory (the proxy builds it with
`egress.sources.dlp_catalogue.dlp_engine`, which reads the shipped catalogue and the derived
cache); nothing here reads a file or imports mitmproxy (the adapter is `addons/dlp.py`).
"""

from __future__ import annotations

import bisect
import copy
import functools
import urllib.parse
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace

from egress.policy.model import DLPSection
from egress.scan.decode import Budget, binary_text, printable_runs, qp_dense
from egress.scan.dlp import blocks, bodies, charset, locations, memo, structured
from egress.scan.dlp.locations import fixed
from egress.scan.dlp.prefilter.backends import PrefilterFactory, make_prefilter
from egress.scan.dlp.results import NO_CONTEXT, Match, ScanContext, in_encoding, merge
from egress.scan.dlp.rules.catalogue import BUDGET_RULE
from egress.scan.dlp.rules.rule import Rule
from egress.scan.dlp.streams import StreamScanner
from egress.scan.dlp.text_scan import TextScanner
from egress.scan.normalize import for_secrets

# What a match between two entries of a structured body must hold in the raw body (a
# comma or a bracket between JSON values, `&` between form fields, markup between XML
# texts, a line break between SSE lines): the rules that can match one of these run over
# the raw body as well (`DLPEngine._raw_cross`).
_BETWEEN = {"json": ",[]{}", "ndjson": ",[]{}\n", "form": "&", "xml": "<>", "sse": "\n,[]{}"}


class DLPEngine(TextScanner):
    """One compiled `dlp:` policy section over the rule catalogue. Built once per policy load
    (`CompiledPolicy.dlp`); scanning is read-only and safe to share."""

    def __init__(self, section: DLPSection | None, rules: Sequence[Rule],
                 known_values: Sequence[tuple[str, str]] = (), backend: str | None = None,
                 prefilters: PrefilterFactory = make_prefilter) -> None:
        super().__init__(section, rules, known_values, backend, prefilters)
        # Conversation-aware scanning of large JSON bodies (`egress.scan.dlp.blocks`).
        self.blocks = blocks.CleanBlocks()
        self.block_min = blocks.CACHE_MIN  # JSON texts this long or longer are cut in blocks
        # Array elements of parsed JSON bodies this long or longer scanned clean before are
        # left out (`blocks.Units`); 0 for every body, sys.maxsize for none.
        self.units_min = blocks.UNITS_BODY_MIN
        self._cross: dict[str, DLPEngine] = {}
        self._salt: tuple[int, int, frozenset[str], bytes] | None = None
        # Whole scans remembered across flows (`egress.scan.dlp.memo`); compiled policies
        # share the process's (`memo.MEMO`) across engines of the same digest.
        self.memo = memo.ScanMemo()
        self._memo_salt: tuple[object, int, frozenset[str], bytes] | None = None
        self.host_scoped = any(s.hosts is not None for s in self._suppressions)

    @functools.cached_property
    def digest(self) -> bytes:
        """What every scan result of this engine depends on besides its input and context."""
        return memo.engine_digest(self.section.model_dump(mode="json"), self.rules,
                                  self.known_values, self.backend)

    def remembered(self, kind: str, text: Hashable, ctx: ScanContext,
                   scan: Callable[[], list[Match]]) -> list[Match]:
        """`scan()`, or what it found before for the same input under the same engine digest
        and context (`egress.scan.dlp.memo`). `kind` names the scan (what `scan` does with
        `text`): one kind, one function of this engine, `text` and the context."""
        known = ctx.known
        ident = (known, known.version if known is not None else 0, ctx.benign)
        cached = self._memo_salt
        # The registry itself (not its id) is compared: an id can be reused once it is gone.
        if cached is None or cached[0] is not known or cached[1:3] != ident[1:]:
            pairs = list(known.values()) if known is not None else []
            cached = self._memo_salt = (*ident, memo.context_salt(pairs, ctx.benign))
        key = (self.digest, kind, memo.compact(text), cached[3], ctx.host if self.host_scoped else None,
               ctx.path if self.path_scoped else None)
        return self.memo.remembered(key, scan)

    def scan_body(self, body: bytes, content_type: str | None, where: str = "request.body",
                  ctx: ScanContext = NO_CONTEXT, _depth: int = 0,
                  stats: blocks.BlockStats | None = None) -> list[Match]:
        """A message body, taken apart by media type: JSON, form, multipart, text (in every
        character set it may be read in), binary. `stats` receives what the block cache
        saved (large JSON bodies)."""
        if not body:
            return []
        if _depth == 0 and len(body) < min(self.block_min, self.units_min):
            # Too small for the block cache (nothing in `stats`): remembered whole.
            return self.remembered("body", (memo.body_digest(body), content_type, where), ctx,
                                    lambda: self._scan_body(body, content_type, where, ctx, 0, stats))
        return self._scan_body(body, content_type, where, ctx, _depth, stats)

    def _scan_body(self, body: bytes, content_type: str | None, where: str, ctx: ScanContext,
                   _depth: int, stats: blocks.BlockStats | None) -> list[Match]:
        if len(body) > self.section.max_scan_bytes:
            return self._scan_large(body, where, ctx)
        media = bodies.media_type(content_type)
        if media.type.startswith("multipart/") and _depth < 3:
            return self._scan_multipart(body, media, where, ctx, _depth)
        texts = charset.body_texts(body, media.param("charset"))
        if not texts:
            found = binary_text(body, self.decode, Budget(self.decode.budget))
            return self.scan(found[0] if found else printable_runs(body), f"{where}(binary)", ctx)
        matches: list[Match] = []
        for encoding, text in texts:
            found_in = self._scan_text_body(text, media.type, where, ctx, stats)
            matches = merge(matches, in_encoding(found_in, encoding))
        return matches

    def _scan_text_body(self, text: str, media: str, where: str, ctx: ScanContext,
                        stats: blocks.BlockStats | None = None) -> list[Match]:
        kind = structured.kind_of(media, text)
        if kind is not None:
            # Whether a secret could be split across values (quote-delimited parts: not a
            # form, whose fields are always glued), asked of the raw text before the parse:
            # a unit left out still gives its values to the split scan when it could.
            may_split = kind == "form" or self._may_split(text, ctx)
            units = None
            if len(text) >= self.units_min and kind in ("json", "ndjson", "sse"):
                units = blocks.Units(self.blocks.size_of, self._block_salt(ctx), may_split)
            try:
                doc = structured.parse(text, kind, where, units=units)
            except structured.Unstructured:
                doc = None  # malformed or beyond a bound: scanned raw below, as before
            if doc is not None:
                return self._scan_structured(text, doc, where, ctx, stats, may_split)
        if media == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
            found = self.scan_parts([(f"{where}.form[{k}]", f"{k}={val}") for k, val in pairs], ctx,
                                    join=False) or self.scan(text, where, ctx)
            fields = [(f"{where}.form[{k}]", val) for k, val in pairs]
            return merge(found, self._split(fields, ctx, f"{where}.form(joined)"))
        json_like = media.endswith("json") or text.lstrip()[:1] in ("{", "[")
        in_blocks = self._scan_blocks(text, where, ctx, stats) if json_like else None
        matches = in_blocks if in_blocks is not None else self.scan(text, where, ctx)
        if json_like and self._may_split(text, ctx):
            strings = bodies.json_values(text)
            if strings:
                split = self._split([(where, s) for s in strings], ctx, f"{where}.json(values joined)")
                matches = merge(matches, split)
        return matches

    def _scan_blocks(self, text: str, where: str, ctx: ScanContext,
                     stats: blocks.BlockStats | None) -> list[Match] | None:
        """A large JSON text block by block, skipping blocks known to be clean, plus the
        rules that can match across a cut over the whole text (`egress.scan.dlp.blocks`).
        None when the text is not cut (small, quoted-printable dense, no cut point)."""
        if len(text) < self.block_min or qp_dense(text):
            return None
        spans = blocks.segments(text)
        if len(spans) < 2:
            return None
        stats = stats if stats is not None else blocks.BlockStats()
        salt = self._block_salt(ctx)
        matches: list[Match] = []
        for start, end in spans:
            block = text[start:end]
            key = salt + blocks.digest(block)
            stats.blocks += 1
            if key in self.blocks:
                stats.cached += 1
                stats.cached_chars += len(block)
                continue
            stats.scanned_chars += len(block)
            found = self.scan(block, where, ctx)
            if found:
                matches = merge(matches, found)
            else:
                self.blocks.add(key, len(block))
        return merge(matches, self._across_cuts(text, where, ctx))

    def _across_cuts(self, text: str, where: str, ctx: ScanContext) -> list[Match]:
        """What can cross a cut between blocks of a raw JSON text."""
        return self._raw_cross(text, where, ctx, blocks.CUT_FOLLOWERS)

    def prepare(self) -> None:
        """Build now what a scan would otherwise build on first use: the restricted engines
        of `_raw_cross` (a prefilter each). Compiling one costs seconds when the derived
        cache is cold; inside the first structured body's scan that time counts against
        `limits.scan_timeout` and a loaded machine refused that body as `scan-timeout`. The
        policy store calls this for every policy the proxy or replay serves."""
        for chars in (*_BETWEEN.values(), blocks.CUT_FOLLOWERS):
            self._cross_engine(chars)
        # The rules' ends databases kept in the derived cache are loaded now as well: the
        # background compiler then only ever runs on a cold cache (`rule_ends`).
        for engine in (self, *self._cross.values()):
            load_ends = getattr(engine.prefilter, "load_stored_ends", None)
            if load_ends is not None:
                load_ends(engine.windowed_rules())

    def _cross_engine(self, chars: str) -> DLPEngine:
        cross = self._cross.get(chars)
        if cross is None:
            cross = self._cross[chars] = self._restricted(tuple(
                r for r in self.rules if any(blocks.can_match(r.regex, c) for c in chars)))
        return cross

    def _raw_cross(self, text: str, where: str, ctx: ScanContext, chars: str) -> list[Match]:
        """What can cross from one part of a text to the next (blocks, structured entries):
        the rules that can match one of `chars` (what lies between parts), and known
        secrets, over the whole text, without decoding."""
        cross = self._cross_engine(chars)
        hits = cross._hits(text, ctx, decode=False)
        return cross._resolve(hits, text, fixed(where), ctx)

    def _scan_structured(self, text: str, doc: structured.Parsed, where: str, ctx: ScanContext,
                         stats: blocks.BlockStats | None, may_split: bool) -> list[Match]:
        """A parsed body (`egress.scan.dlp.structured`): its entries joined by the wall
        no rule crosses and scanned once, each finding at its entry's path; large bodies in
        blocks of whole entries, blocks known clean skipped (the cut depends only on the
        entries before it, so a resent conversation is cut alike every turn). Then what
        crosses entries in the raw body, and secrets split across values."""
        texts = doc.texts
        large = sum(map(len, texts)) >= self.block_min
        groups = _groups(texts, blocks.MIN_SEGMENT) if large else [(0, len(texts))]
        # What is left of a large body once its known units are out is a block too.
        cut = len(groups) > 1 or (doc.skipped > 0 and len(text) >= self.block_min)
        salt = self._block_salt(ctx) if cut else None
        stats = stats if stats is not None else blocks.BlockStats()
        if doc.units or doc.skipped:
            stats.units += len(doc.units) + doc.skipped
            stats.units_cached += doc.skipped
            if len(text) >= self.block_min:  # counted as blocks where bodies are cut
                stats.blocks += len(doc.units) + doc.skipped
                stats.cached += doc.skipped
                stats.cached_chars += doc.skipped_chars
        matches: list[Match] = []
        dirty: set[int] = set()  # entries with a hit (or all of a group: budget exhausted)
        for i, j in groups:
            joined = structured.SEPARATOR.join(texts[i:j])
            key = b""
            if salt is not None:
                key = salt + blocks.digest(joined)
                stats.blocks += 1
                if key in self.blocks:
                    stats.cached += 1
                    stats.cached_chars += len(joined)
                    continue
                stats.scanned_chars += len(joined)
            found = self._scan_entries(joined, doc, i, j, ctx, dirty)
            if found:
                matches = merge(matches, found)
            elif salt is not None:
                self.blocks.add(key, len(joined))
        if doc.units:
            self._remember_units(doc, dirty, self._block_salt(ctx) if len(text) >= self.block_min
                                 else None)
        matches = [_with_raw_forms(m, text, doc.kind) for m in matches]
        raw = self._raw_cross(text, where, ctx, _BETWEEN[doc.kind])
        # A secret found in its value is not reported again as the raw body spells it.
        matches = merge(matches, [m for m in raw if not any(
            o.rule == m.rule and any(m.value in f or f in m.value for f in o.fragments if f)
            for o in matches)])
        if doc.values and may_split:
            kind = "form" if doc.kind == "form" else "json" if doc.kind != "xml" else "xml"
            matches = merge(matches, self._split([("", v) for v in doc.values], ctx,
                                                 f"{where}.{kind}(values joined)"))
        return matches

    def _remember_units(self, doc: structured.Parsed, dirty: set[int], salt: bytes | None) -> None:
        """The units of `doc` none of whose entries had a hit, as clean; with `salt`, the
        entries outside every unit too (when none of them had a hit), as the block the next
        scan of the same body is left with once its units are out."""
        marks = sorted(dirty)

        def clean(first: int, end: int) -> bool:
            k = bisect.bisect_left(marks, first)
            return k == len(marks) or marks[k] >= end

        rest: list[str] = []
        rest_clean = True
        last = 0
        # Outermost units first (a unit starts no later than the units inside it, and ends
        # no earlier): the entries outside all of them are the rest.
        for first, end, unit_key, nodes in sorted(doc.units, key=lambda u: (u[0], -u[1])):
            if clean(first, end):
                self.blocks.add(unit_key, nodes)
            if first < last:
                continue  # inside the unit before
            rest += doc.texts[last:first]
            rest_clean = rest_clean and clean(last, first)
            last = end
        rest += doc.texts[last:]
        if salt is not None and rest and rest_clean and clean(last, len(doc.texts)):
            joined = structured.SEPARATOR.join(rest)
            self.blocks.add(salt + blocks.digest(joined), len(joined))

    def _scan_entries(self, joined: str, doc: structured.Parsed, i: int, j: int,
                      ctx: ScanContext, dirty: set[int]) -> list[Match]:
        """Entries `i` to `j` of a parsed body, `joined` by the wall, in one scan. The
        entries any hit touches (before suppressions and placeholders: the cache must not
        depend on them) go into `dirty`; all of them when the decoding budget ran out."""
        sep = structured.SEPARATOR
        starts: list[int] = []
        if joined.isascii() and joined.count("\x00") == j - i - 1:
            pos = 0
            for t in doc.texts[i:j]:
                starts.append(pos)
                pos += len(t) + len(sep)
        else:
            # Normalised entry by entry, so that offsets map back; a NUL inside a value
            # becomes a space (same length): only walls are walls.
            joined, starts = locations.join(
                [for_secrets(t).replace("\x00", " ") for t in doc.texts[i:j]], sep)

        def where(start: int, end: int) -> str:
            return doc.label(i + max(bisect.bisect_right(starts, start) - 1, 0),
                             hide=joined[start:end])

        scanned = self._hits(joined, ctx, normalised=True, walls=True)
        for h in scanned[0]:
            if h.rule == BUDGET_RULE:
                dirty.update(range(i, j))
                break
            first = max(bisect.bisect_right(starts, h.start) - 1, 0)
            last = max(bisect.bisect_right(starts, max(h.end - 1, h.start)) - 1, 0)
            dirty.update(range(i + first, i + last + 1))
        return self._resolve(scanned, joined, where, ctx)

    def _restricted(self, rules: tuple[Rule, ...]) -> DLPEngine:
        """This engine (actions, suppressions, known secrets) with only `rules`; their
        prefilter comes from the engine's factory, which compiles it once per process."""
        clone = copy.copy(self)
        clone.rules = rules
        clone.by_id = {r.id: r for r in rules}
        clone.prefilter = self._prefilters([r.source() for r in rules], self.backend)
        clone._known_cache = None
        clone._cross = {}
        clone.__dict__.pop("_wall_crossers", None)  # indexes into the rules it had
        clone.__dict__.pop("digest", None)  # of the rules it had
        return clone

    def _block_salt(self, ctx: ScanContext) -> bytes:
        known = ctx.known
        ident = (id(known), known.version if known is not None else 0, ctx.benign)
        cached = self._salt
        if cached is not None and cached[:3] == ident:
            return cached[3]
        values = [v for _, v in known.values()] if known is not None else []
        salt = blocks.salt(values, ctx.benign)
        self._salt = (*ident, salt)
        return salt

    def block_stats(self) -> dict[str, int]:
        """The block cache's counters (entries, hits, misses, ...): no content."""
        return self.blocks.stats()

    def _scan_large(self, body: bytes, where: str, ctx: ScanContext) -> list[Match]:
        """A body too large to take apart: scanned as a stream, piece by piece."""
        scanner = self.stream(f"{where}(large)", ctx)
        step = max(self.section.max_scan_bytes // 4, 64 * 1024)
        return [m for i in range(0, len(body), step) for m in scanner.feed(body[i:i + step])]

    def scan_url(self, path: str, ctx: ScanContext = NO_CONTEXT,
                 where: str = "request.url") -> list[Match]:
        """A request target: each path segment and each query key and value."""
        return self.remembered("url", (path, where), ctx,
                                lambda: self._scan_url(path, ctx, where))

    def _scan_url(self, path: str, ctx: ScanContext, where: str) -> list[Match]:
        raw_path, _, query = path.partition("?")
        segments = [(f"{where}.path", urllib.parse.unquote(s)) for s in raw_path.split("/") if s]
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        parts = segments + [(f"{where}.query[{k}]", f"{k}={val}") for k, val in pairs]
        matches = self.scan_parts(parts, ctx, join=False)
        values = segments + [(f"{where}.query[{k}]", val) for k, val in pairs]
        matches = merge(matches, self._split(values, ctx, f"{where}(joined)"))
        # The raw target too: encodings parse_qsl undid once may be nested, and a secret
        # with a '/' in it (AWS secret keys, base64) spans path segments.
        return merge(matches, self.scan(path, where, ctx))

    def scan_headers(self, headers: Iterable[tuple[str, str]], ctx: ScanContext = NO_CONTEXT,
                     where: str = "request.header") -> list[Match]:
        """Each header as `name: value`, and consecutive values glued (a split secret)."""
        fields = tuple((name, value) for name, value in headers)
        return self.remembered("headers", (fields, where), ctx,
                                lambda: self._scan_headers(fields, ctx, where))

    def _scan_headers(self, fields: tuple[tuple[str, str], ...], ctx: ScanContext,
                      where: str) -> list[Match]:
        parts = [(f"{where}[{name.lower()}]", f"{name}: {value}") for name, value in fields]
        matches = self.scan_parts(parts, ctx, join=False)
        values = [(f"{where}[{name.lower()}]", value) for name, value in fields]
        return merge(matches, self._split(values, ctx, f"{where}(joined)"))

    def stream(self, where: str, ctx: ScanContext = NO_CONTEXT,
               window: int | None = None, messages: bool = False) -> StreamScanner:
        """A scanner for data arriving in pieces; `messages` for WebSocket messages (an
        unfinished token in one is joined with later ones, see `StreamScanner`)."""
        return StreamScanner(self, where, ctx, window or self.overlap, fragments=messages)

    def _scan_multipart(self, body: bytes, media: bodies.MediaType, where: str, ctx: ScanContext,
                        depth: int) -> list[Match]:
        """Each part by its own media type and transfer encoding, every part header, the
        fields glued (split secrets); and always the raw body as text, so that a wrong or
        duplicated boundary, a preamble or epilogue, or framing this parser reads
        differently from the origin never leaves bytes unscanned."""
        matches: list[Match] = []
        for boundary in dict.fromkeys(media.all("boundary")):
            matches = merge(matches, self._scan_parts_of(body, boundary, where, ctx, depth))
        # After the parts, so that a secret found in a part is reported at its part's name.
        return merge(matches, self.scan_body(body, "text/plain", f"{where}(raw)", ctx, depth + 1))

    def _scan_parts_of(self, body: bytes, boundary: str, where: str, ctx: ScanContext,
                       depth: int) -> list[Match]:
        matches: list[Match] = []
        fields: list[tuple[str, str]] = []
        head_parts: list[tuple[str, str]] = []
        for i, part in enumerate(bodies.multipart(body, boundary).parts):
            headers = part.headers
            name = bodies.disposition_param(headers.get("content-disposition", ""), "name") or str(i)
            label = f"{where}.multipart[{name}]"
            head_parts += [(f"{label}.header[{k}]", f"{k}: {val}") for k, val in headers.items()]
            encoding = headers.get("content-transfer-encoding", "").strip().lower()
            content = bodies.transfer_decode(part.content, encoding)
            matches = merge(matches, self.scan_body(
                content, headers.get("content-type", "text/plain"), label, ctx, depth + 1))
            if "filename" not in headers.get("content-disposition", ""):
                fields.append((label, content.decode("utf-8", "replace")))
        matches = merge(matches, self.scan_parts(head_parts, ctx, join=False))
        return merge(matches, self._split(fields, ctx, f"{where}.parts(joined)"))


def _groups(texts: list[str], min_chars: int) -> list[tuple[int, int]]:
    """Runs of whole entries of at least `min_chars` characters (the last may be shorter):
    each cut depends only on the entries before it."""
    out: list[tuple[int, int]] = []
    start = size = 0
    for k, t in enumerate(texts):
        size += len(t) + len(structured.SEPARATOR)
        if size >= min_chars:
            out.append((start, k + 1))
            start, size = k + 1, 0
    if start < len(texts) or not out:
        out.append((start, len(texts)))
    return out


def _with_raw_forms(m: Match, raw: str, kind: str) -> Match:
    """A match found in a decoded value, with the texts it is written as in the raw body
    (escaped): those are what a redaction replaces and what artefacts are scrubbed of."""
    extra = [f for frag in m.sensitive for f in structured.raw_forms(raw, frag, kind)]
    fragments = tuple(dict.fromkeys((*m.fragments, *extra)))
    return m if fragments == m.fragments else replace(m, fragments=fragments)
