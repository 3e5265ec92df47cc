"""Benchmarks of two checkouts in one run: for a change that must not cost anything (a
restructuring), each benchmark runs in the old tree and the new tree alternately, `--rounds`
times, so load from other jobs falls on both alike. Each tree runs its own copy of the
benchmark with its own `.venv` (create it with `scripts/setup.sh --test` in each checkout).
Prints one JSON document: every round's output per tree, for the reader to compare.

    .venv/bin/python -m benchmarks.before_after --before /path/to/old/checkout \
        [--after .] [--rounds 2] [--bench "proxy_overhead --requests 1000" ...]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

DEFAULT_BENCHES = (
    "proxy_overhead --requests 1000 --connections 150 --in-process-flows 3000 --metrics-rounds 1",
    "dlp_throughput --seconds 1 --sizes 2k,200k,1m --no-fallback",
    "replay_throughput --flows 3000",
    "mcp_overhead --skip-proxy",
)


def run_bench(tree: Path, bench: str, timeout: float) -> Any:
    name, *args = shlex.split(bench)
    res = subprocess.run([str(tree / ".venv/bin/python"), "-m", f"benchmarks.{name}", *args], cwd=tree,
                         capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        return {"error": f"exit {res.returncode}", "stderr": res.stderr[-2000:]}
    out = res.stdout.strip()
    try:
        return json.loads(out[out.index("{"):])
    except (ValueError, json.JSONDecodeError):
        return {"error": "no JSON on stdout", "stdout": out[-2000:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="the old checkout")
    ap.add_argument("--after", type=Path, default=REPO, help="the new checkout (default: this one)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bench", action="append", help="benchmark module and its arguments (repeatable)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark run")
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for label, tree in trees.items():
        if not (tree / ".venv/bin/python").exists():
            print(f"before_after: {label} tree {tree} has no .venv (run scripts/setup.sh --test there)",
                  file=sys.stderr)
            return 2
    report: dict[str, Any] = {"trees": {k: str(v) for k, v in trees.items()}, "benchmarks": {}}
    for bench in args.bench or DEFAULT_BENCHES:
        rounds: dict[str, list[Any]] = {"before": [], "after": []}
        for i in range(args.rounds):
            # Alternate which tree goes first, so a trend in the machine's load favours neither.
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for label in order:
                print(f"before_after: {bench} [{label}] round {i + 1}", file=sys.stderr, flush=True)
                rounds[label].append(run_bench(trees[label], bench, args.timeout))
        report["benchmarks"][bench] = rounds
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
