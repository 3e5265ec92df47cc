"""Fits the weights of `egress/scan/injection_score.py` (development time; pure Python).

    .venv/bin/python tests/data/mcp-eval/train.py      # writes egress/data/injection_weights.json

Training data, never the held-out split: the `tune` split here, this project's own sets in
`tests/data/mcp/`, and installed package READMEs as extra benign text. A logistic regression
with L2 regularisation and balanced classes; the thresholds are the lowest probabilities at
which the tuning negatives stay under the false-positive budgets below, with rules and score
combined as the scanner combines them.
"""

from __future__ import annotations

import glob
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from egress.policy.model import McpSection  # noqa: E402
from egress.scan.injection import scorer as score  # noqa: E402
from egress.scan.injection import fold_view  # noqa: E402
from egress.scan.mcp import McpPolicy, visible_strings  # noqa: E402
from tests.support.mcp_eval import load  # noqa: E402

# Share of tuning negatives the score alone may add, per sensitivity.
BUDGETS = {"content": {"medium": 0.0015, "high": 0.01}, "tool": {"medium": 0.003, "high": 0.01}}
# Lowest thresholds allowed: medium content keeps installed package prose and source (the
# 4 KB chunks of tests/test_injection.py) under its 1% bound.
FLOORS = {"content": {"medium": 0.8, "high": 0.5}, "tool": {"medium": 0.5, "high": 0.5}}
EPOCHS = 1500
L2 = 0.003
RATE = 1.0


def tool_text(tool: dict[str, Any]) -> str:
    return "\n".join(t for _, t in visible_strings(tool, ""))


def own_lines(name: str) -> list[str]:
    lines = (ROOT / "tests/data/mcp" / name).read_text(encoding="utf-8").splitlines()
    return [ln.replace("\\n", "\n") for ln in lines if ln.strip() and not ln.startswith("# ")]


def readme_chunks(limit: int = 300) -> list[str]:
    site = Path(glob.glob(str(ROOT / ".venv/lib/python3*/site-packages"))[0])
    out = []
    for f in sorted(site.glob("*.dist-info/METADATA")):
        if "bottle_egress" in f.parent.name:
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        out += [text[i:i + score.WINDOW] for i in range(0, min(len(text), 12000), score.WINDOW)]
    random.Random(7).shuffle(out)
    return out[:limit]


def source_chunks(limit: int = 300) -> list[str]:
    """Installed Python source, as a tool reading files returns it."""
    site = Path(glob.glob(str(ROOT / ".venv/lib/python3*/site-packages"))[0])
    files = random.Random(11).sample(sorted(site.glob("**/*.py")), 400)
    out = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        out += [text[i:i + score.WINDOW] for i in range(0, min(len(text), 6000), score.WINDOW)]
    random.Random(7).shuffle(out)
    return out[:limit]


def dataset(kind: str) -> list[tuple[str, int]]:
    if kind == "content":
        pos = [i["text"] for i in load("tune", "injected-results")] + own_lines("injected-results.txt")
        neg = ([i["text"] for i in load("tune", "clean-results")] + own_lines("benign-results.txt")
               + readme_chunks() + source_chunks())
    else:
        pos = [tool_text(i["tool"]) for i in load("tune", "poisoned-tools")] + own_lines("injected-tools.txt")
        # Documentation is what long, imperative, README-like tool descriptions read like.
        docs = [i["text"] for i in load("tune", "clean-results")
                if i["source"] in ("npm-readme", "debian-doc", "man-page", "debian-description")]
        neg = ([tool_text(i["tool"]) for i in load("tune", "benign-tools")] + own_lines("benign-tools.txt")
               + docs + readme_chunks(150))
    # This project's own benign lines are hard cases written on purpose: they count more.
    own = set(own_lines("benign-results.txt") + own_lines("benign-tools.txt"))
    return ([(fold_view(t), 1) for t in pos]
            + [(fold_view(t), 0) for t in neg for _ in range(4 if t in own else 1)])


def vectors(data: list[tuple[str, int]]) -> list[tuple[dict[str, float], int, str]]:
    out = []
    for text, label in data:
        hits = score.feature_hits(text)
        out.append((score.features_of(hits), label, text))
    return out


def fit(vecs: list[tuple[dict[str, float], int, str]]) -> tuple[float, dict[str, float]]:
    names = [*score.FEATURES, *score.CONJUNCTIONS]
    w = dict.fromkeys(names, 0.0)
    b = 0.0
    n_pos = sum(1 for _, y, _ in vecs if y)
    n_neg = len(vecs) - n_pos
    cw = {1: len(vecs) / (2 * n_pos), 0: len(vecs) / (2 * n_neg)}
    for _ in range(EPOCHS):
        gw = dict.fromkeys(names, 0.0)
        gb = 0.0
        for x, y, _ in vecs:
            z = b + sum(w[k] * v for k, v in x.items())
            p = 1 / (1 + math.exp(-max(-50, min(50, z))))
            g = (p - y) * cw[y]
            gb += g
            for k, v in x.items():
                gw[k] += g * v
        n = len(vecs)
        b -= RATE * gb / n
        for k in names:
            w[k] -= RATE * (gw[k] / n + L2 * w[k])
    return b, {k: round(v, 4) for k, v in w.items() if abs(v) > 1e-4}


def main() -> None:
    policy = McpPolicy(McpSection.model_validate({}))
    models: dict[str, Any] = {}
    for kind in ("content", "tool"):
        vecs = vectors(dataset(kind))
        bias, weights = fit(vecs)
        model = score.Model(bias, weights, {})
        scanner = policy.content_scanner if kind == "content" else policy.tool_scanner
        negatives = [(t, score.best_window(model, t)) for t in dict.fromkeys(t for x, y, t in vecs if y == 0)]
        # Negatives the rules already flag cost nothing more.
        free = [(t, s) for t, s in negatives if scanner.scan_rules(t) is None]
        probs = sorted((s.probability if s else 0.0) for _, s in free)
        thresholds = {}
        for level, budget in BUDGETS[kind].items():
            allowed = int(budget * len(negatives))
            cut = probs[-allowed - 1] if allowed < len(probs) else 0.0
            thresholds[level] = round(max(cut + 1e-4, FLOORS[kind][level]), 4)
        positives = [score.best_window(model, t) for x, y, t in vecs if y == 1]
        for level, th in thresholds.items():
            caught = sum(1 for s in positives if s and s.probability >= th)
            print(kind, level, "threshold", th, "positives over it", caught, "/", len(positives))
        models[kind] = {"bias": round(bias, 4), "weights": weights, "thresholds": thresholds}
        print(kind, json.dumps(weights, sort_keys=True))
    score.WEIGHTS_FILE.write_text(json.dumps({"models": models}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
