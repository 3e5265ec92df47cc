"""The prefilter's shortcuts give exactly what the long way gives (issue 11's speed work):
- `prefilter.batch.scan_batch`: many decoded parts scanned together answer, for each part
  it does not hand back, what a scan of that part alone answers;
- `prefilter.runs.wrapped_spans`: wrapped base64 found only around the reported ends of
  the presence shapes is what the decoder's regex finds over the whole text;
- `prefilter.digits.card_finditer`: the payment-card regex searched only in long digit
  chains finds what a whole-text search finds;
- the engine, with all three, finds in a JSON body the same secrets, at the same places,
  as when every decoded part is scanned alone (`_scan_layer` without `found`).
Over realistic text with the catalogue's examples planted in many encodings."""

from __future__ import annotations

import base64
import random
import re
import urllib.parse
from functools import cache

import pytest

from egress.policy.model import DLPSection
from egress.scan import decode
from egress.scan.dlp import blocks
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.prefilter import batch, digits
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter, hyperscan
from egress.scan.dlp.prefilter.protocol import KnownMatcher
from egress.scan.dlp.results import Hit
from egress.scan.dlp.rule_search import Near as _Near
from egress.scan.dlp.text_scan import TextScanner
from egress.scan.normalize import for_secrets
from egress.sources.dlp_catalogue import dlp_engine
from tests.support.prereq import missing


@pytest.fixture(autouse=True)
def _hyperscan() -> None:
    """The shortcuts are hyperscan's: without it (a missing prerequisite) this fails under CI."""
    if hyperscan is None:
        missing("the hyperscan package", "pip install hyperscan")


_WORDS = ("the", "token", "password", "def", "return", "self", "=", ":", "x=0A", "req=2c93",
          "%s", "%41", "\\u0041", "&#65;", "4111 1111 1111 1111", "1234-5678-9012-3456-7",
          "caf\u00e9", "\u0664\u0661\u0661\u0661", "\u2014", "\t", "\n", "  ", "\\n", "\"",
          ",", ";", "(", ")", "0123456789", "=3D", "=\n", "AKIA", "ghp_", "sk-")


@cache
def _engine() -> DLPEngine:
    engine = dlp_engine(DLPSection.model_validate({}), backend="hyperscan")
    assert isinstance(engine.prefilter, HyperscanPrefilter)
    return engine


def _prefilter() -> HyperscanPrefilter:
    prefilter = _engine().prefilter
    assert isinstance(prefilter, HyperscanPrefilter)
    return prefilter


def _plants() -> list[str]:
    return [x for r in _engine().rules for x in (*r.examples, *r.near_misses)]


def _encoded(rng: random.Random, value: str) -> str:
    kind = rng.randrange(7)
    if kind == 1:
        return "".join(f"={ord(c):02X}" if ord(c) < 128 and rng.random() < 0.3 else c
                       for c in value)
    if kind == 2:
        return urllib.parse.quote(value, safe="")
    if kind == 3:
        b64 = base64.b64encode(value.encode()).decode()
        width = rng.choice([4, 16, 64, 76])
        return rng.choice(["\n", "\\n", "\r\n", " \n\t"]).join(
            b64[i:i + width] for i in range(0, len(b64), width))
    if kind == 4:
        return "".join(f"\\u{ord(c):04x}" if rng.random() < 0.3 else c for c in value)
    if kind == 5:
        return "req=" + "".join(f"={ord(c):02X}" if rng.random() < 0.2 else c for c in value)
    return value


def _text(rng: random.Random, size: int) -> str:
    plants = _plants()
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        roll = rng.random()
        if roll < 0.05:
            parts.append(rng.choice(["", " ", "\n", "=", "token: "]) + _encoded(rng, rng.choice(plants)))
        elif roll < 0.06:
            parts.append("".join(rng.choice("0123456789 -") for _ in range(rng.randint(10, 40))))
        else:
            parts.append(rng.choice(_WORDS) + rng.choice(" \n_-.=:/"))
    return "".join(parts)


def _decoder_runs(runs: dict[str, list[tuple[int, int]]] | None,
                  text: str) -> dict[str, list[tuple[int, int]]]:
    """The runs the decoder works from: a kind left out it finds with its own regex."""
    assert runs is not None
    return {**runs, "b64wrap": runs.get("b64wrap", [m.span() for m in decode.B64_WRAPPED.finditer(text)])}


@pytest.mark.parametrize("seed", range(4))
def test_batch_answers_as_each_part_alone(seed: int) -> None:
    rng = random.Random(seed)
    prefilter = _prefilter()
    texts = [_text(rng, rng.choice([8, 30, 200])) for _ in range(300)]
    texts += ["", "\n", "a" * 40, "x\x00\ny", "=0A" * 10]
    answers = batch.scan_batch(prefilter, texts)
    assert len(answers) == len(texts)
    assert any(a is not None for a in answers) and any(a is None for a in answers)
    for text, answer in zip(texts, answers, strict=True):
        alone = prefilter.scan(text, want_runs=True)
        if answer is not None:
            assert answer.rules == alone.rules
            assert _decoder_runs(answer.runs, text) == _decoder_runs(alone.runs, text), text
        else:  # handed back only where a scan of its own may report a rule
            assert set(alone.rules) - set(prefilter.always) or len(texts) > 1


def test_batch_runs_are_the_alone_scans_runs_key_for_key() -> None:
    """Where no wrapped base64 is present, a batch answer's runs are the very dictionary a
    scan of the part alone gives: the same kinds in the same order, the same spans, both for
    parts with runs (source-code tokens: `req=2c93...`, identifiers, hex) and without."""
    rng = random.Random(7)
    prefilter = _prefilter()
    # ids with dashes (hex runs) and mixed-case ones (base64 runs: the runs pass reports a
    # base64 stretch only with an upper-case letter in it, or no letter)
    texts = ["req" + "".join(rng.choice("0123456789abcdef-") for _ in range(rng.randint(10, 60)))
             for _ in range(100)]
    texts += ["req=" + "".join(rng.choice("0123456789abcdefKQZ") for _ in range(rng.randint(20, 60)))
              for _ in range(100)]
    texts += [rng.choice(["x", "7", "a b", "=3D"]) for _ in range(50)]
    texts += ["".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(40)),
              "0x41" * 12, "4142434445464748" * 5, "A" * 70 + "==" + " tail " + "b" * 20]
    rng.shuffle(texts)
    answers = batch.scan_batch(prefilter, texts)
    assert sum(bool(a.runs and any(a.runs.values())) for a in answers if a is not None) > 100
    for text, answer in zip(texts, answers, strict=True):
        if answer is None:
            continue
        alone = prefilter.scan(text, want_runs=True)
        assert alone.runs is not None and answer.runs is not None
        assert answer.rules == alone.rules
        assert list(answer.runs.items()) == list(alone.runs.items()), text


@pytest.mark.parametrize("seed", range(3))
def test_wrapped_base64_runs_as_the_whole_text_regex(seed: int) -> None:
    rng = random.Random(100 + seed)
    prefilter = _prefilter()
    for _ in range(20):
        text = _text(rng, rng.choice([200, 5_000, 20_000]))
        runs = prefilter.scan(text, want_runs=True).runs
        assert runs is not None
        want = [m.span() for m in decode.B64_WRAPPED.finditer(text)]
        assert runs.get("b64wrap", want) == want


@pytest.mark.parametrize("seed", range(2))
def test_card_search_in_chains_as_the_whole_text(seed: int) -> None:
    rng = random.Random(200 + seed)
    engine = _engine()
    index = next(i for i, r in enumerate(engine.rules) if r.id == "payment-card")
    card = engine.rules[index].regex
    assert digits.applies(card)  # the catalogue's regex is the one the shortcut is for
    texts = [_text(rng, 20_000) for _ in range(5)]
    texts += ["4111 1111 1111 1111", "x4111111111111111", "4111111111111111x", ".4111111111111111",
              "1" * 30_000 + " 4111-1111-1111-1111 ", "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0",
              "4111 1111 1111 111\u0661 " * 2_000]
    for text in texts:
        want = [m.span() for m in card.finditer(text)]
        # What the engine searches with (other scripts' digits: the whole text).
        near = _Near(text)
        assert [m.span() for m in engine._finditer(index, engine.rules[index], text, near)] == want
        ascii_digits = re.sub(r"(?![0-9])\d", "x", text)
        assert [m.span() for m in digits.card_finditer(card, ascii_digits)] == [
            m.span() for m in card.finditer(ascii_digits)]
    assert not digits.applies(re.compile(digits.CARD_REGEX, re.I))
    # Short texts (no `Near`) are searched in their chains too, unless a digit is not ASCII.
    for text in ["4111 1111 1111 1111", "x4111111111111111 5500-0000-0000-0004", "\u00e94111111111111111",
                 "4111 1111 1111 111\u0661", "\u0661" * 20 + " 4111111111111111", _text(rng, 3_000)]:
        want = [m.span() for m in card.finditer(text)]
        assert [m.span() for m in engine._finditer(index, engine.rules[index], text, None)] == want


def _one_by_one(engine: DLPEngine) -> DLPEngine:
    """The engine as it was: every decoded part scanned alone, no shortcut."""
    slow = DLPEngine(engine.section, engine.rules, backend="hyperscan")

    def escapes(self: TextScanner, text: str, depth: int, origin: tuple[int, int] | None,
                layers: tuple[str, ...], budget: decode.Budget, known: list[KnownMatcher],
                hits: list[Hit], max_depth: int, floor: int) -> None:
        for d in decode.escape_candidates(text, self.decode):
            if not budget.take(len(d.text)):
                continue
            inner = d.text if d.text.isascii() else for_secrets(d.text)
            if len(inner) < floor and not any(c in inner for c in ("%", "\\", "&", "=")):
                continue
            self._scan_layer(inner, depth + 1, origin or (d.start, d.end), (*layers, d.layer),
                             budget, known, hits, max_depth)

    slow._scan_escapes = escapes.__get__(slow)  # type: ignore[method-assign]
    return slow


@pytest.mark.parametrize("seed", range(2))
def test_engine_finds_what_part_by_part_scanning_finds(seed: int) -> None:
    import json

    rng = random.Random(300 + seed)
    engine = _engine()
    slow = _one_by_one(engine)
    for _ in range(3):
        doc = {"messages": [{"role": "user", "content": _text(rng, rng.choice([2_000, 30_000]))}
                            for _ in range(rng.randint(1, 4))]}
        body = json.dumps(doc).encode()
        for scanner in (engine, slow):
            scanner.blocks = blocks.CleanBlocks()
        fast = engine.scan_body(body, "application/json")
        assert fast == slow.scan_body(body, "application/json")
        assert any(m.layers for m in fast)  # decoded layers took part


def test_rules_database_anchors_hold_in_a_batch() -> None:
    """`prefilter.batch` rests on every rules-database expression matching a text alone only
    where it matches the same text between two line breaks: a `^` or `$` must be an
    alternative to a character class a line break is in, or be multi-line."""
    prefilter = _prefilter()
    for expr in prefilter.plan.exprs:
        source = expr.decode("latin-1")
        bare = re.sub(r"\[(?:\\.|[^\]])*\]", "", re.sub(r"\\.", "", source))
        if "^" not in bare and "$" not in bare:
            continue
        if source.startswith("(?m)"):
            continue
        assert "^" not in bare or re.search(r"\(\?:\^\|\[\^[^\]]*\]\)", source), source
        assert "$" not in bare or re.search(r"\(\?:\[\^[^\]]*\]\|\$\)", source), source
