"""The learned injection score: a logistic model over the window features of `features.py`.

Weights and per-sensitivity thresholds are package data (`egress/data/injection_weights.json`),
produced by `scripts/train-injection-scorer.py` from the pinned evaluation data; the file names
the SHA-256 of its inputs and of the features. They are read on first use, never at import.
One model per kind of text: `content` (results, resources, prompts) and `tool` (definitions).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from egress.scan.injection.features import windows

WEIGHTS_FILE = Path(__file__).resolve().parents[2] / "data" / "injection_weights.json"


@dataclass(frozen=True, slots=True)
class Model:
    bias: float
    weights: dict[str, float]
    # Probability thresholds per sensitivity; a missing level disables scoring there.
    thresholds: dict[str, float]


@functools.cache
def models() -> dict[str, Model]:
    """The shipped models, read once on first use."""
    return load_models(WEIGHTS_FILE)


def load_models(path: Path = WEIGHTS_FILE) -> dict[str, Model]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {kind: Model(float(m["bias"]), {k: float(v) for k, v in m["weights"].items()},
                        {k: float(v) for k, v in m["thresholds"].items()})
            for kind, m in data["models"].items()}


def probability(model: Model, values: dict[str, float]) -> float:
    z = model.bias + sum(model.weights.get(k, 0.0) * v for k, v in values.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True, slots=True)
class Scored:
    probability: float
    start: int
    end: int
    features: tuple[str, ...]


def best_window(model: Model, view: str) -> Scored | None:
    """The highest-scoring window of `view` (a folded view), or None when no directive is in it."""
    best: Scored | None = None
    for w in windows(view):
        p = probability(model, w.values)
        if best is None or p > best.probability:
            best = Scored(p, w.start, w.end, tuple(sorted(w.values)))
    return best
