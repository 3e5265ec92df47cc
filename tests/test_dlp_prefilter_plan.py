"""The hyperscan prefilter at a cold and a warm start. Its plan: compiling every rule's
regex as one database first (the cold-start shortcut of `_plan_and_rules`) gives exactly the
plan and the database that testing each expression alone (`_plan`) gives, including when
some expression fails. The rules' ends databases the derived cache holds are loaded when a
policy is prepared."""

from __future__ import annotations

from pathlib import Path

import pytest

from egress.policy.model import DLPSection
from egress.scan.dlp.prefilter import hyperscan_backend as hb
from egress.scan.dlp.prefilter.hyperscan_plan import _plan
from egress.scan.dlp.prefilter.protocol import RuleSource
from egress.sources import dlp_catalogue
from egress.sources.dlp_catalogue import dlp_engine, load_catalogue

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


def test_stored_ends_databases_are_loaded_at_prepare_without_the_background_compiler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_stored_ends` (called by `DLPEngine.prepare`) loads what the derived cache holds
    and nothing else: no compile, no background thread; the same ends as a compiled one; a
    damaged entry or a rule not in the cache is left to the background compiler."""
    monkeypatch.setenv("BOTTLE_EGRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BOTTLE_EGRESS_SYSTEM_CACHE", str(tmp_path / "no-system-cache"))
    rules = [r for r in load_catalogue() if r.examples][:40]
    small = [r.source() for r in rules]
    first = dlp_catalogue.load_prefilter(small, "hyperscan")
    assert isinstance(first, hb.HyperscanPrefilter)
    index, other = sorted(first._own)[:2]
    text = "noise " + rules[index].examples[0] + " more noise"
    first.compile_ends([index])
    ends = first.rule_ends(text, index)
    assert ends

    def no_compile(*args: object) -> None:
        raise AssertionError("compiled although the cache holds the database")

    with monkeypatch.context() as m:
        m.setattr(hb, "_database", no_compile)
        second = dlp_catalogue.load_prefilter(small, "hyperscan")
        assert isinstance(second, hb.HyperscanPrefilter)
        assert second.load_stored_ends([index, other]) == 1
    assert second.rule_ends(text, index) == ends
    assert second._ends_worker is None
    assert other not in second._ends_dbs  # not in the cache: compiled on first ask

    for kept in (tmp_path / "cache").glob("dlp-ends-*.bin"):
        kept.write_bytes(b"damaged")
    third = dlp_catalogue.load_prefilter(small, "hyperscan")
    assert isinstance(third, hb.HyperscanPrefilter)
    assert third.load_stored_ends([index]) == 0 and index not in third._ends_dbs


def test_prepare_loads_the_engines_stored_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTTLE_EGRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BOTTLE_EGRESS_SYSTEM_CACHE", str(tmp_path / "no-system-cache"))
    rules = [r for r in load_catalogue() if r.examples][:40]
    engine = dlp_engine(DLPSection.model_validate({}), rules=rules, backend="hyperscan")
    prefilter = engine.prefilter
    assert isinstance(prefilter, hb.HyperscanPrefilter)
    wanted = engine.windowed_rules()
    prefilter.compile_ends(wanted)
    fresh = dlp_engine(DLPSection.model_validate({}), rules=rules[::-1], backend="hyperscan")
    fresh.prepare()
    loaded = fresh.prefilter
    assert isinstance(loaded, hb.HyperscanPrefilter)
    assert all(loaded._ends_dbs.get(i) is not None for i in fresh.windowed_rules()
               if i in loaded._own)
    assert loaded._ends_worker is None
