"""The derived cache (compiled DLP databases, parsed catalogue): a hit gives the same answers
as compiling; a missing, damaged, stale or doctored entry is recompiled, never trusted, and
never weakens scanning; nothing derived from a secret is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from egress.policy.model import DLPSection
from egress.scan.dlp.prefilter import hyperscan_backend
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter
from egress.scan.dlp.prefilter.protocol import RuleSource
from egress.sources import derived_cache, dlp_catalogue
from egress.sources.dlp_catalogue import CATALOGUE, dlp_engine, load_catalogue, load_rules

REPO = Path(__file__).resolve().parents[1]
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "cache"
    monkeypatch.setenv("BOTTLE_EGRESS_CACHE", str(directory))
    monkeypatch.setenv("BOTTLE_EGRESS_SYSTEM_CACHE", str(tmp_path / "no-system-cache"))
    yield directory


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The entries a first start writes, compiled once for the module (a compile costs ~13 s;
    the tests below each damage a copy and then prove the damaged copy costs a recompile)."""
    directory = tmp_path_factory.mktemp("compiled") / "cache"
    with pytest.MonkeyPatch.context() as m:
        m.setenv("BOTTLE_EGRESS_CACHE", str(directory))
        m.setenv("BOTTLE_EGRESS_SYSTEM_CACHE", str(directory.parent / "no-system-cache"))
        assert not load().from_cache
    return directory


@pytest.fixture
def filled(cache: Path, compiled: Path) -> Path:
    """`cache` holding a copy of the intact entries a first start wrote."""
    shutil.copytree(compiled, cache)
    return cache


def sources() -> list[RuleSource]:
    return [r.source() for r in load_catalogue()]


def probes() -> list[str]:
    """Every rule's examples and near misses, plus encoded runs."""
    texts = [t for r in load_catalogue() for t in (*r.examples, *r.near_misses)]
    return [*texts, "x " + TOKEN, "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ= 68656c6c6f20776f726c64"]


def load(rule_sources: list[RuleSource] | None = None) -> HyperscanPrefilter:
    """The prefilter as the proxy gets it: from the derived cache, or compiled and stored."""
    p = dlp_catalogue.load_prefilter(sources() if rule_sources is None else rule_sources,
                                     "hyperscan")
    assert isinstance(p, HyperscanPrefilter)
    return p


def answers(p: HyperscanPrefilter) -> list[object]:
    return [(p.scan(t, True), p.has_split_anchor(t)) for t in probes()]


def entry(cache: Path, kind: str = "dlp-prefilter") -> Path:
    found = sorted(cache.glob(f"{kind}-*.bin"))
    assert len(found) == 1, found
    return found[0]


def reseal(path: Path, meta_edit: object = None, blobs_edit: object = None) -> None:
    """Rewrite an entry with a valid checksum around doctored content."""
    payload = derived_cache._unseal(path.read_bytes())
    assert payload is not None
    unpacked = derived_cache.unpack(payload)
    assert unpacked is not None
    meta, blobs = unpacked
    if callable(meta_edit):
        meta_edit(meta)
    if callable(blobs_edit):
        blobs = blobs_edit(blobs)
    path.write_bytes(derived_cache._seal(derived_cache.pack(meta, blobs)))


def test_a_hit_answers_exactly_like_a_compile(cache: Path) -> None:
    cold = load()
    assert not cold.from_cache
    warm = load()
    assert warm.from_cache
    assert answers(warm) == answers(cold)
    assert warm.always == cold.always and warm.plan == cold.plan


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty", "magic"])
def test_a_damaged_entry_is_recompiled_and_rewritten(filled: Path, damage: str) -> None:
    reference = answers(load())
    path = entry(filled)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 3]
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "empty":
        data = bytearray()
    else:
        data[:5] = b"xxxxx"
    path.write_bytes(bytes(data))
    again = load()
    assert not again.from_cache
    assert answers(again) == reference
    assert load().from_cache  # the rewritten entry is whole again


def test_a_checksummed_plan_that_drops_a_rule_is_not_trusted(filled: Path) -> None:
    """An entry whose checksum is right but whose plan leaves a rule out (a doctored or buggy
    entry) must cost a recompile, not a rule."""
    reference = answers(load())
    github = next(i for i, r in enumerate(load_catalogue()) if r.id.startswith("github"))

    def drop(meta: dict[str, list[object]]) -> None:
        keep = [k for k, rid in enumerate(meta["ids"]) if rid != github]
        for field in ("exprs", "ids", "flags"):
            meta[field] = [meta[field][k] for k in keep]

    reseal(entry(filled), meta_edit=drop)
    again = load()
    assert not again.from_cache
    assert answers(again) == reference
    assert github in again.scan("x " + TOKEN, False).rules


@pytest.mark.parametrize("edit", ["swap-expr", "weaken-flags", "bad-types", "few-blobs",
                                  "garbage-db", "swap-dbs"])
def test_other_doctored_entries_are_recompiled(filled: Path, edit: str) -> None:
    reference = answers(load())
    meta_edit = blobs_edit = None
    if edit == "swap-expr":
        def meta_edit(meta: dict[str, list[object]]) -> None:
            meta["exprs"][0] = "never-matches-anything"
    elif edit == "weaken-flags":
        def meta_edit(meta: dict[str, list[object]]) -> None:
            meta["flags"] = [0 for _ in meta["flags"]]
    elif edit == "bad-types":
        def meta_edit(meta: dict[str, list[object]]) -> None:
            meta["ids"] = ["0" for _ in meta["ids"]]
    elif edit == "few-blobs":
        def blobs_edit(blobs: list[bytes]) -> list[bytes]:
            return blobs[:2]
    elif edit == "garbage-db":
        def blobs_edit(blobs: list[bytes]) -> list[bytes]:
            return [os.urandom(len(blobs[0])), *blobs[1:]]
    else:
        def blobs_edit(blobs: list[bytes]) -> list[bytes]:
            return [blobs[2], blobs[1], blobs[0], *blobs[3:]]
    reseal(entry(filled), meta_edit, blobs_edit)
    again = load()
    if edit == "swap-dbs":
        # Each database is a valid one: what can be checked (the plan) is intact, so this is
        # the one edit the checks cannot see; it is only reachable by writing the user's own
        # cache, which could as well replace the code. Recorded here so it stays deliberate.
        assert again.from_cache
        return
    assert not again.from_cache
    assert answers(again) == reference


def test_changed_rules_never_find_the_old_entry(filled: Path) -> None:
    load()
    changed = sources()
    changed[0] = RuleSource(changed[0].regex + "x", changed[0].anchors, changed[0].prefilter,
                            changed[0].split_anchors)
    assert not load(changed).from_cache
    assert len(list(filled.glob("dlp-prefilter-*.bin"))) == 2


def test_an_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("BOTTLE_EGRESS_CACHE", str(blocker / "cache"))
    p = load()
    assert not p.from_cache and TOKEN not in str(answers(p))  # works, nothing written
    monkeypatch.setenv("BOTTLE_EGRESS_CACHE", "off")
    assert not load().from_cache


def test_system_cache_is_read_first_and_never_written(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "system"
    with derived_cache.only(system):
        load()
    monkeypatch.setenv("BOTTLE_EGRESS_SYSTEM_CACHE", str(system))
    monkeypatch.setenv("BOTTLE_EGRESS_CACHE", str(tmp_path / "user"))
    assert load().from_cache
    assert not (tmp_path / "user").exists()
    entry(system).write_bytes(b"damaged")
    assert not load().from_cache  # falls back to compiling...
    assert load().from_cache  # ...and the user's cache keeps the result
    assert entry(system).read_bytes() == b"damaged"


def test_the_catalogue_cache_is_checked_like_a_fresh_parse(cache: Path) -> None:
    text = CATALOGUE.read_text(encoding="utf-8")
    fresh = load_rules(text)
    path = entry(cache, "dlp-catalogue")
    assert load_rules(text) == fresh  # from the cache
    first = json.loads(derived_cache._unseal(path.read_bytes()) or b"")
    fewer = {"rules": first["rules"][1:]}
    for doctored in (b"not json", b"[1, 2]", json.dumps({"rules": []}).encode(),
                     json.dumps(fewer).encode()):
        path.write_bytes(derived_cache._seal(doctored))  # a valid checksum around each
        assert load_rules(text) == fresh
    path.unlink()
    assert load_rules(text) == fresh


def test_a_damaged_cache_does_not_weaken_the_engine(filled: Path) -> None:
    load()
    path = entry(filled)
    path.write_bytes(path.read_bytes()[:-100])
    dlp_catalogue._cached_prefilter.cache_clear()
    try:
        engine = dlp_engine(DLPSection.model_validate({}))
        assert not getattr(engine.prefilter, "from_cache", True)
        assert [m.rule for m in engine.scan(f"token={TOKEN}", "request.body")]
    finally:
        dlp_catalogue._cached_prefilter.cache_clear()


def test_nothing_derived_from_a_known_secret_is_cached(cache: Path) -> None:
    secret = "correct-horse-battery-staple-42"
    engine = dlp_engine(DLPSection.model_validate({}), known_values=[("db", secret)])
    assert [m.rule for m in engine.scan(f"x {secret} y", "request.body")] == ["known-secret"]
    for path in cache.iterdir():
        assert path.name.startswith(("dlp-prefilter-", "dlp-catalogue-")), path
        assert secret.encode() not in path.read_bytes()


def test_precompile_fills_a_cache_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "image-cache"
    env = {**os.environ, "BOTTLE_EGRESS_CACHE": "off",
           "BOTTLE_EGRESS_SYSTEM_CACHE": str(tmp_path / "none")}
    res = subprocess.run([sys.executable, "-m", "cli.main", "egress", "precompile",
                          "--cache-dir", str(target)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    names = sorted({p.name.split("-")[1] for p in target.glob("*.bin")})
    assert names == ["catalogue", "ends", "prefilter"]
    with derived_cache.only(target):
        assert load().from_cache
        # Every ends database a scan may ask for is there: a new process compiles none (the
        # few rules prefiltered by their anchors have no ends database at all).
        engine = dlp_engine(DLPSection.model_validate({}), backend="hyperscan")
        wanted = engine.windowed_rules()
        stored = len(list(target.glob("dlp-ends-*.bin")))
        assert stored >= len(wanted) * 9 // 10
        compiles: list[object] = []
        real = hyperscan_backend._database

        def counted(*args: Any) -> Any:
            compiles.append(args)
            return real(*args)

        fresh = load()
        with monkeypatch.context() as m:
            m.setattr(hyperscan_backend, "_database", counted)
            fresh.compile_ends(wanted)
        loaded = [i for i in wanted if fresh._ends_dbs.get(i) is not None]
        assert len(loaded) == stored and not compiles


def test_rule_ends_databases_are_kept_in_the_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule's ends database (compiled in the background, up to seconds a rule) is kept in the
    derived cache, so the next process loads it instead of compiling; a damaged entry is
    compiled again and replaced. The ends are the same either way."""
    rules = [r for r in load_catalogue() if r.examples][:40]
    small = [r.source() for r in rules]
    first = load(small)
    assert first.ends_store is not None
    index = min(first._own)
    text = "noise " + rules[index].examples[0] + " more noise"
    first.compile_ends([index])
    kept = entry(cache, "dlp-ends")
    ends = first.rule_ends(text, index)
    assert ends

    # A new process: the database comes from the cache; compiling is not even possible.
    def no_compile(*args: object) -> None:
        raise AssertionError("compiled although the cache holds the database")

    with monkeypatch.context() as m:
        m.setattr(hyperscan_backend, "_database", no_compile)
        second = load(small)
        second.compile_ends([index])
    assert second.rule_ends(text, index) == ends

    kept.write_bytes(b"damaged")
    third = load(small)
    third.compile_ends([index])
    assert third.rule_ends(text, index) == ends
    assert derived_cache.load(kept.name.removesuffix(".bin")) is not None  # replaced, intact
