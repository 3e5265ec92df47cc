"""What the hyperscan prefilter's rules database is compiled from (`_Plan`): each rule's own
regex in prefilter mode, its anchors where hyperscan cannot take the regex, or nothing (the
rule always runs); and the checks a plan read back from the derived cache must pass before
it is trusted (`_meta_plan`, `_plan_fits`). Pure: `hyperscan_backend` compiles and loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from egress.scan.dlp.prefilter.protocol import RuleSource

hyperscan: Any
try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where no wheel exists
    hyperscan = None


def literal(text: bytes) -> bytes:
    return b"".join(bytes([c]) if chr(c).isalnum() else b"\\x%02x" % c for c in text)


def _compiles(expression: bytes, flags: int) -> bool:
    db = hyperscan.Database()
    try:
        db.compile(expressions=[expression], ids=[0], elements=1, flags=[flags])
    except hyperscan.error:
        return False
    return True


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
                plan.exprs.append(literal(anchor.encode()))
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
        anchors = {(literal(a.encode()), single | hyperscan.HS_FLAG_CASELESS) for a in src.anchors}
        if got != own and (not anchors or got != anchors):
            return False
    return plan.split == _split_anchors(sources)


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


