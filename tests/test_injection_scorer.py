"""The learned injection score: reproducible from pinned inputs, read lazily, measured on the
development split per family (the held-out `fresh` split is measured once, by
`tests/data/injection-eval/measure_split.py fresh`; see that directory's README)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from egress.scan.injection import scorer
from tests.support.injection_eval import measure

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "egress" / "data" / "injection_weights.json"

# Development-split floors (medium, high): share of injected items detected per family, share
# of clean items flagged at most. Measured when the weights were last fitted, less a margin.
DEV_FLOORS = {
    # round 2 measured 97.0 / 98.5 / 98.8 / 97.9 / 99.4% and 12/2735 (0.44%) clean
    "medium": ({"code-insertion": 0.95, "exfiltration-request": 0.96, "tool-call-request": 0.96,
                "hidden-instruction": 0.95, "task-hijack": 0.96}, 0.006),
    # round 2 measured 97.0 / 98.5 / 99.4 / 97.9 / 99.7% and 39/2735 (1.43%) clean
    "high": ({"code-insertion": 0.95, "exfiltration-request": 0.96, "tool-call-request": 0.97,
              "hidden-instruction": 0.95, "task-hijack": 0.97}, 0.016),
}


def test_training_reproduces_the_shipped_weights_bit_for_bit() -> None:
    res = subprocess.run([sys.executable, "scripts/train-injection-scorer.py", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-2000:]


def test_weights_name_their_inputs_and_features() -> None:
    data = json.loads(WEIGHTS.read_text())
    # Never the round-4 held-out split; not round 3's either, since round 4 changed no feature and
    # did not refit (`test/` and `fresh/` are development data since rounds 2 and 3).
    assert data["inputs"] and not any("/round3/" in k or "/round4/" in k for k in data["inputs"])
    assert any("/fresh/" in k for k in data["inputs"])
    for rel, digest in data["inputs"].items():
        assert hashlib.sha256((REPO / rel).read_bytes()).hexdigest() == digest, rel
    features = REPO / "egress" / "scan" / "injection" / "features.py"
    assert hashlib.sha256(features.read_bytes()).hexdigest() == data["features_sha256"]
    for model in data["models"].values():
        assert set(model["thresholds"]) == {"medium", "high"}
        assert 0.5 <= model["thresholds"]["high"] <= model["thresholds"]["medium"] < 1


def test_importing_the_package_reads_no_weights() -> None:
    code = ("import egress.scan.injection as i, egress.scan.mcp\n"
            "from egress.scan.injection import scorer\n"
            "assert scorer.models.cache_info().currsize == 0\n"
            "i.InjectionScanner('medium')\n"
            "assert scorer.models.cache_info().currsize == 1\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr


def test_importing_the_packages_compiles_no_rule_table() -> None:
    # Issue 15: importing is free of work; the phrase rules (hundreds of patterns and a keyword
    # automaton) compile when the first scanner is built, once.
    code = ("import egress.scan.injection as i, egress.scan.mcp\n"
            "from egress.scan.injection import rule\n"
            "assert rule.rule_table.cache_info().currsize == 0\n"
            "i.InjectionScanner('medium'); i.InjectionScanner('high', 'tool')\n"
            "assert rule.rule_table.cache_info().currsize == 1\n"
            "assert rule.rule_table.cache_info().misses == 1\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("level", ["medium", "high"])
def test_development_split_per_family(level: str) -> None:
    floors, max_fp = DEV_FLOORS[level]
    _, per, _ = measure("dev", "injected-results", level)
    for family, floor in floors.items():
        assert per[family].share >= floor, (level, family, str(per[family]))
    clean, _, wrong = measure("dev", "clean-results", level)
    assert clean.share <= max_fp, (level, str(clean), [w["text"][:60] for w in wrong])


def test_score_is_bounded_and_needs_a_directive() -> None:
    model = scorer.models()["content"]
    assert scorer.best_window(model, "the system prompt of our chatbot lives in prompts/system.txt.") is None
    assert scorer.best_window(model, "please run make. " * 40_000) is not None
