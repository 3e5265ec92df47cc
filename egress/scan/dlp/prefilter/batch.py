"""Many short texts through the hyperscan prefilter at once: what `HyperscanPrefilter.scan`
would say of each, for the texts in which it would report no rule.

Why: a realistic 1 MB agent body holds a few thousand quoted-printable-looking tokens in its
source code (`x=0A`, `req=2c93...`), each decoded and scanned as a layer of its own; three
hyperscan calls apiece cost more than the rest of that layer. The decoded tokens of one
layer are joined by `SEPARATOR` (a line break, a NUL, a line break) and scanned together.

Why it gives what a scan of each text alone gives (the text's data is its ASCII bytes, each
non-ASCII character one `?`, plus one line break):
- Rules: every expression of the rules database is unanchored but for `^`/`$` alternatives
  that a line break satisfies as well (`(?:^|[^A-Za-z0-9])`, `(?m)^`); a text's data is a
  substring of the joined data with a line break before it (or the start) and after it, so
  a report on the text alone is a report somewhere in the joined data, and in every joined
  range of texts holding it. A range with no report then holds no text with one; ranges
  with one are halved until one text is left, and such a text is scanned alone (`None`).
  A report from a match across separators only costs a text a scan of its own.
- Runs (base64, base32, hex shapes): none can hold a line break or a NUL, nor start after a
  line break that is not the text's own, and each ends at a character outside its alphabet
  (the text's own, or the separator's line break where the text alone has the appended one):
  the runs starting inside a text are its own runs, shifted.
- Wrapped base64 is only tested for presence: absent from the joined data, absent from each
  text; present, each text finds its own runs with the decoder's regex, which matches only
  where the presence shape occurs (`egress.scan.decode.B64_WRAPPED` holds it), as when the
  text alone reports it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter, hs_scan
from egress.scan.dlp.prefilter.protocol import Prefiltered
from egress.scan.dlp.prefilter.runs import RUN_KINDS, RunStarts, outermost

SEPARATOR = "\n\x00\n"
# Fewer texts than this are scanned one by one (the joined scan and the halving cost more).
MIN_TEXTS = 8
# Texts scanned together before a group with a report is halved.
GROUP = 64


def scan_batch(pf: HyperscanPrefilter, texts: Sequence[str]) -> list[Prefiltered | None]:
    """For each text, `pf.scan(text, want_runs=True)` when that reports no rule beyond the
    ones that always run; None for the others (the caller scans them alone)."""
    starts: list[int] = []
    pos = 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + len(SEPARATOR)
    data = SEPARATOR.join(texts).encode("ascii", "replace") + b"\n"
    always = set(pf.always)
    out: list[Prefiltered | None] = [None] * len(texts)
    clean: list[int] = []

    def reports(i: int, j: int) -> bool:
        # Texts i..j-1 with the separators between them and the line break after the last.
        return bool(pf.rule_ids(data[starts[i]:starts[j - 1] + len(texts[j - 1]) + 1]) - always)

    # Groups of texts first (few reports in many texts is the common case), then the
    # groups with a report halved.
    todo = [(i, min(i + GROUP, len(texts))) for i in range(0, len(texts), GROUP)][::-1]
    while todo:
        i, j = todo.pop()
        if not reports(i, j):
            clean += range(i, j)
        elif j - i > 1:
            mid = (i + j) // 2
            todo += [(mid, j), (i, mid)]
    if not clean:
        return out

    found: dict[int, dict[str, dict[int, int]]] = {}
    kinds, run_start = pf.run_kinds, RunStarts(data)
    bisect_right = bisect.bisect_right

    def on_run(kid: int, start: int, end: int, flags: int, ctx: Any) -> None:
        # One call per run of the joined data (a few thousand per megabyte of source code):
        # kept to the few operations it needs.
        kind = kinds[kid]
        start = run_start(kind, start, end)
        k = bisect_right(starts, start) - 1
        base = starts[k]
        by_kind = found.get(k)
        if by_kind is None:
            found[k] = {kind: {start - base: end - 1 - base}}
            return
        spans = by_kind.get(kind)
        if spans is None:
            by_kind[kind] = {start - base: end - 1 - base}
        elif spans.get(start - base, -1) < end - 1 - base:
            spans[start - base] = end - 1 - base

    hs_scan(pf.runs_db, data, on_run)
    present = pf.present_shapes(data)
    rules = sorted(always)
    # Texts without a run share one (empty) answer: nothing changes a scan's runs.
    none: dict[str, list[tuple[int, int]]] = {kind: [] for kind in RUN_KINDS}
    none.update((kind, []) for kind in pf.presence_kinds if kind not in present)
    for k in clean:
        ends = found.get(k)
        if ends is None:
            out[k] = Prefiltered(rules, none)
            continue
        # `none` with the kinds this text has runs of replaced: the same keys in the same
        # order as a scan of the text alone gives (`HyperscanPrefilter.scan`); a kind is in
        # `ends` only with a run. The empty lists are shared, as `none` itself is: the
        # decoders only read them.
        runs = none.copy()
        for kind, spans in ends.items():
            runs[kind] = outermost(spans)
        out[k] = Prefiltered(rules, runs)
    return out
