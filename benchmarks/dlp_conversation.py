"""DLP CPU of an agent conversation resent turn by turn, with the block cache against the
cost of scanning each turn's new content alone and against scanning every turn whole (no
cache). Process CPU time; prints JSON.

    .venv/bin/python -m benchmarks.dlp_conversation [--turns 20] [--conversations 4]

Workload: `benchmarks.agent_corpus.conversation`: request k of a session holds turns 1..k
(Anthropic Messages or OpenAI Chat, standard-library source, logs, diffs, hashes, images).
Each request is scanned as the proxy scans a request body (`scan_body`, `application/json`).

- `cached`: one engine (its block cache warm from the earlier turns of the session), the
  way the proxy sees the session.
- `new_content_alone`: for each request, only the bytes it does not share with the request
  before (its common prefix cut off), scanned as one text by a fresh engine: the least any
  scanner that reads every new byte can spend.
- `whole_no_cache`: every request scanned whole, as before the cache (block cutting off).

Targets (issue 11): cached <= 1.3x new_content_alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from benchmarks.agent_corpus import conversation
from egress.policy.model import DLPSection
from egress.sources.dlp_catalogue import dlp_engine


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    lo, hi = 0, n
    while lo < hi:  # binary search on equal prefixes: C-speed comparisons
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--conversations", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per figure")
    args = ap.parse_args(argv)
    section = DLPSection.model_validate({})
    sessions = [list(conversation(seed, turns=args.turns)) for seed in range(args.conversations)]
    news: list[list[str]] = []
    for bodies in sessions:
        prev = b""
        out = []
        for body in bodies:
            out.append(body[_common_prefix(prev, body):].decode())
            prev = body
        news.append(out)

    def cached() -> None:
        for bodies in sessions:
            engine = dlp_engine(section)
            for body in bodies:
                engine.scan_body(body, "application/json")

    def alone() -> None:
        engine = dlp_engine(section)
        for texts in news:
            for text in texts:
                engine.scan(text, "request.body")

    def whole() -> None:
        engine = dlp_engine(section)
        engine.block_min = sys.maxsize
        engine.units_min = sys.maxsize
        for bodies in sessions:
            for body in bodies:
                engine.scan_body(body, "application/json")

    # Engines compile their prefilters outside the measurement: warm the shared caches.
    # The per-rule ends databases compile in a background thread the first time a rule is
    # named in a long text, and process time counts that thread: let them finish first, as
    # they have in a proxy that has been running for a while.
    warm = dlp_engine(section)
    for bodies in sessions:
        warm.scan_body(bodies[-1], "application/json")
    settle = getattr(warm.prefilter, "ends_settled", None)
    if settle is not None:
        settle(120.0)

    def best(fn: object) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.process_time()
            fn()  # type: ignore[operator]
            times.append(time.process_time() - start)
        return min(times)

    # Building an engine (prefilter compile) is part of each run: measure it to subtract.
    def engines_only() -> None:
        for _ in sessions:
            dlp_engine(section)

    build = best(engines_only)
    c = best(cached) - build
    a = best(alone) - build / len(sessions)
    w = best(whole) - build / len(sessions)
    total = sum(len(b) for bodies in sessions for b in bodies)
    new = sum(len(t) for texts in news for t in texts)
    stats = dlp_engine(section)
    for body in sessions[0]:
        stats.scan_body(body, "application/json")
    result = {
        "clock": "process_time", "cpus": os.cpu_count(), "conversations": len(sessions),
        "turns": args.turns, "bytes_sent": total, "new_bytes": new,
        "last_request_bytes": [len(bodies[-1]) for bodies in sessions],
        "cpu_s": {"cached": round(c, 4), "new_content_alone": round(a, 4),
                  "whole_no_cache": round(w, 4)},
        "cached_x_new_content": round(c / a, 2),
        "whole_x_new_content": round(w / a, 2),
        "whole_x_cached": round(w / c, 2),
        "cache_after_one_session": stats.block_stats(),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
