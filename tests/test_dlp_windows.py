"""A rule's regex searched only in windows around the hyperscan-reported ends
(`egress.scan.dlp.prefilter.windows`) finds exactly what a whole-text `finditer` finds:
every rule of the catalogue, over realistic text with the catalogue's examples and near
misses planted in it, non-ASCII characters, long blanks and runs that void the bounds."""

from __future__ import annotations

import random
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress.policy.model import DLPSection
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.prefilter import windows
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter
from egress.scan.dlp.rule_search import Near as _Near
from egress.sources.dlp_catalogue import dlp_engine

_WORDS = ("the", "token", "password", "secret", "api_key", "def", "return", "self", "=", ":",
          "==", "import", "json", "value", "key", "None", "0x1f", "%s", "user", "auth",
          "Bearer", "AKIA", "ghp_", "sk-", "xoxb-", "-----BEGIN", "hvs.", "EAAB", "sq0atp-",
          "4111 1111 1111 1111", "e\u0301t\u00e9", "\u2014", "\u4e2d\u6587", "\u0440",
          "caf\u00e9", "\t", "\n", "  ", "\\n", "\\\"", "'", "\"", ",", ";", "(", ")", "[", "]")


@cache
def _engine() -> DLPEngine:
    engine = dlp_engine(DLPSection.model_validate({}), backend="hyperscan")
    # Compiled in the background in production; here now, so the windows are taken.
    slow = {i for i, r in enumerate(engine.rules) if r.id in windows.SLOW_TO_COMPILE}
    prefilter = engine.prefilter
    assert isinstance(prefilter, HyperscanPrefilter)
    prefilter.compile_ends([i for i in range(len(engine.rules)) if i not in slow])
    return engine


def _text(rng: random.Random, plants: list[str]) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < 24_000:
        roll = rng.random()
        if roll < 0.04 and plants:
            value = rng.choice(plants)
            glue = rng.choice(["", " ", "\n", "=", "\"", "\u00e9", ": ", "password = "])
            parts.append(glue + value + rng.choice(["", " ", "\n", "\"", "x", "\u2014"]))
        elif roll < 0.05:
            parts.append("password =" + " " * rng.choice([10, 200, 300]) + "hQu7kkbL6TWWbgBN\n")
        elif roll < 0.06:
            parts.append("".join(rng.choice("0123456789abcdef") for _ in range(rng.choice([32, 40, 64]))))
        else:
            parts.append(rng.choice(_WORDS) + rng.choice(" \n_-.=:/"))
    return "".join(parts)


def _plants() -> list[str]:
    return [x for r in _engine().rules for x in (*r.examples, *r.near_misses)]


def _compare(engine: DLPEngine, text: str) -> int:
    """Asserts every rule gives the same matches either way; returns how many rules took
    the windowed path."""
    near = _Near(text)
    windowed = 0
    for index, rule in enumerate(engine.rules):
        whole = [(m.span(), m.groups()) for m in rule.regex.finditer(text)]
        got = [(m.span(), m.groups()) for m in engine._finditer(index, rule, text, near)]
        assert got == whole, rule.id
        reach = windows.reach(rule.regex.pattern, rule.regex.flags)
        if (reach is not None and rule.id not in windows.SLOW_TO_COMPILE
                and near.runs.bounded_in(reach) and engine.prefilter.rule_ends(text, index) is not None):
            windowed += 1
    return windowed


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_windowed_search_equals_whole_text_search(seed: int) -> None:
    engine = _engine()
    text = _text(random.Random(seed), _plants())
    assert _compare(engine, text) > 0


def test_windows_are_used_and_find_planted_secrets() -> None:
    """Not a vacuous equality: the generic rule takes the windowed path on a long text and
    still finds a value far from the start, after a blank of 100 spaces."""
    engine = _engine()
    index = next(i for i, r in enumerate(engine.rules) if r.id == "generic-secret-assignment")
    rule = engine.rules[index]
    text = ("lorem ipsum dolor " * 3000 + "DB_PASSWORD =" + " " * 100 + "hQu7kkbL6TWWbgBN\n"
            + "sit amet " * 3000)
    ends = engine.prefilter.rule_ends(text, index)
    assert ends is not None and len(ends) < 10
    near = _Near(text)
    found = [m.group("secret") for m in engine._finditer(index, rule, text, near)]
    assert found == [m.group("secret") for m in rule.regex.finditer(text)] == ["hQu7kkbL6TWWbgBN"]


def test_a_run_longer_than_the_cap_falls_back_to_the_whole_text() -> None:
    engine = _engine()
    index = next(i for i, r in enumerate(engine.rules) if r.id == "generic-secret-assignment")
    rule = engine.rules[index]
    reach = windows.reach(rule.regex.pattern, rule.regex.flags)
    assert reach is not None
    blank = " " * (windows.CAP + 50)
    text = "x" * 20_000 + "\napi_key =" + blank + "hQu7kkbL6TWWbgBN\n" + "y" * 20_000
    near = _Near(text)
    assert not near.runs.bounded_in(reach)
    found = [m.group("secret") for m in engine._finditer(index, rule, text, near)]
    assert found == ["hQu7kkbL6TWWbgBN"]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?:ab)+c"])
def test_unboundable_patterns_have_no_reach(pattern: str) -> None:
    assert windows.reach(pattern, 0) is None


def test_reach_counts_lookaheads_and_caps_unbounded_repeats() -> None:
    r = windows.reach(r"key\s*=\s*(?=[a-z]{5})[a-z0-9]{8,20}", 0)
    assert r is not None
    assert r.span == 3 + 2 * windows.CAP + 1 + 20
    assert r.look == r.span + 5 + 2
    assert [p.pattern for p in r.runs] == [rf"(?:[\s]){{{windows.CAP + 1}}}"]


def _python_free(text: str, r: windows.Reach) -> bool:
    """`RunCheck.bounded_in` as one Python search per run class (what it did before it
    asked hyperscan)."""
    return all(run.search(text) is None for run in r.runs)


def test_run_check_answers_as_a_search_per_class_does() -> None:
    """The run check (each class's members mapped to ones in the text's bytes) answers as a
    Python search of the class's run does on ASCII texts, and never calls a text free of
    runs that holds one when it has non-ASCII characters (there a `?` stands for each, so it
    may only say "a run" more)."""
    reaches = [r for rule in _engine().rules
               if (r := windows.reach(rule.regex.pattern, rule.regex.flags)) is not None]
    assert len({run.pattern for r in reaches for run in r.runs}) >= 10
    rng = random.Random(3)
    pieces = ["key = value\n", "    ", "\t", "0123456789", "abcXYZ", "a_b-c.d", "+/", "ÿ", "é",
              "\u3000", "\u00a0", "\u212a", "ſ", "\x1c", "?", ":", "=", "\"", "é" * 300]
    checked = wide = 0
    for n in range(300):
        body = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 60)))
        run = rng.choice([" ", "\t", "\n", "a", "Z", "7", "-", "=", ":", "é", "\u3000", "\u212a"])
        text = body + run * rng.choice([windows.CAP, windows.CAP + 1, 400]) + body if n % 3 else body
        check = windows.RunCheck(text)
        for r in reaches:
            free = check.bounded_in(r)
            if text.isascii():
                assert free == _python_free(text, r), (text[:80], r.runs)
            elif free:
                assert _python_free(text, r), (text[:80], r.runs)
                wide += 1
            checked += 1
    assert checked > 10_000 and wide > 100
