"""The hyperscan prefilter's plan: compiling every rule's regex as one database first (the
cold-start shortcut of `_plan_and_rules`) gives exactly the plan and the database that
testing each expression alone (`_plan`) gives, including when some expression fails."""

from __future__ import annotations

import pytest

from egress.scan.dlp.prefilter import hyperscan_backend as hb
from egress.scan.dlp.prefilter.hyperscan_plan import _plan
from egress.scan.dlp.prefilter.protocol import RuleSource
from egress.sources.dlp_catalogue import load_catalogue

# An expression hyperscan refuses in any mode (a trailing backslash), with and without
# anchors to fall back on.
BROKEN_ANCHORED = RuleSource("tok_[a-z]{8}\\", ("tok_",), split_anchors=("tok_",))
BROKEN_BARE = RuleSource("zz\\", ())


def plan_of(sources: list[RuleSource]) -> tuple[object, ...]:
    p = _plan(sources)
    return (p.exprs, p.ids, p.flags, p.always, p.split)


@pytest.mark.parametrize("extra", [[], [BROKEN_ANCHORED], [BROKEN_BARE, BROKEN_ANCHORED]])
def test_the_shortcut_makes_the_plan_and_database_of_the_slow_path(extra: list[RuleSource]) -> None:
    sources = [r.source() for r in load_catalogue()[:25]]
    sources[3:3] = extra
    slow = _plan(sources)
    plan, db = hb._plan_and_rules(sources)
    assert (plan.exprs, plan.ids, plan.flags, plan.always, plan.split) == plan_of(sources)
    assert hb.hyperscan.dumpb(db) == hb.hyperscan.dumpb(
        hb._database(slow.exprs, slow.ids, slow.flags))
    if extra:  # the broken rules are prefiltered by their anchors or always run
        assert 3 not in plan.ids or BROKEN_ANCHORED.regex.encode() not in plan.exprs
        assert (3 in plan.always) == (extra[0] is BROKEN_BARE)


def test_a_prefilter_compiled_by_the_shortcut_finds_what_the_rules_do() -> None:
    rules = load_catalogue()[:25]
    prefilter = hb.HyperscanPrefilter.compile([r.source() for r in rules])
    for i, rule in enumerate(rules):
        for example in rule.examples:
            assert i in prefilter.scan(example, True).rules, rule.id
