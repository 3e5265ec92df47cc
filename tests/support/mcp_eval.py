"""The MCP detection evaluation sets (`tests/data/mcp-eval/`) and how they are measured.

`python -m tests.support.mcp_eval [tune|heldout]` prints detection and false-positive rates,
overall and per source, as JSON.
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

EVAL = Path(__file__).resolve().parents[1] / "data" / "mcp-eval"
KINDS = {"injected-results": True, "clean-results": False, "poisoned-tools": True, "benign-tools": False}


def load(split: str, kind: str) -> list[dict[str, Any]]:
    with gzip.open(EVAL / split / f"{kind}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def flagged(item: dict[str, Any], policy: McpPolicy) -> bool:
    if "tool" in item:
        return bool(scan_tool(item["tool"], policy))
    return bool(scan_content(item["text"], policy))


@dataclass
class Rate:
    hits: int
    total: int

    @property
    def share(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.total} ({100 * self.share:.1f}%)"


def measure(split: str, kind: str, policy: McpPolicy | None = None) -> tuple[Rate, dict[str, Rate],
                                                                             list[dict[str, Any]]]:
    """(overall, per source, the items judged wrongly) for one split and kind."""
    policy = policy or McpPolicy(McpSection.model_validate({}))
    label = KINDS[kind]
    items = load(split, kind)
    per: dict[str, Rate] = {}
    wrong = []
    hits = 0
    for item in items:
        got = flagged(item, policy)
        source = item["source"].split("+")[0]
        rate = per.setdefault(source, Rate(0, 0))
        rate.total += 1
        if got:
            rate.hits += 1
            hits += 1
        if got != label:
            wrong.append(item)
    return Rate(hits, len(items)), per, wrong


def main() -> None:
    split = sys.argv[1] if len(sys.argv) > 1 else "tune"
    out: dict[str, Any] = {}
    for kind in KINDS:
        overall, per, _ = measure(split, kind)
        out[kind] = {"flagged": str(overall), "by_source": {k: str(v) for k, v in sorted(per.items())}}
    print(json.dumps({"split": split, **out}, indent=1))


if __name__ == "__main__":
    main()
