"""DLP engine throughput against a naive baseline, in one run, printed as JSON.

    .venv/bin/python -m benchmarks.dlp_throughput [--seconds 2]

Workloads (clean: no secret in them, the common case on the wire):
- `json_10k`: 10 KB JSON request bodies shaped like a coding agent's model API calls
  (messages with prose, code, file paths, hashes, ids), scanned with `scan_body`;
- `text_1m`: one 1 MB text of prose and code, scanned with `scan`.

Engines: the default hyperscan prefilter and the pyahocorasick fallback, each with every
decoding layer on (the default policy) and with decoding off. Baseline: the same rule
catalogue applied as one Python `re.search` per rule over the text (no decoding, no
validators), which is what a straightforward implementation does.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable

from egress.policy.model import DLPSection
from egress.scan.dlp import DLPEngine, load_catalogue

WORDS = [
    "the", "of", "and", "to", "in", "is", "for", "on", "with", "as", "by", "at", "from", "this",
    "that", "function", "return", "value", "user", "name", "request", "response", "config", "file",
    "path", "data", "error", "status", "message", "model", "tool", "result", "content", "text", "id",
    "type", "session", "cache", "build", "test", "update", "create", "delete", "list", "index",
    "query", "param", "header", "body", "json", "api", "version", "project", "repo", "branch",
    "commit", "author", "date", "time",
]
CODE = [
    "def handler(event, context):", "    return {'statusCode': 200, 'body': json.dumps(x)}",
    "for (let i = 0; i < items.length; i++) {", "import os, sys, re",
    "SELECT * FROM users WHERE id = $1;",
    "if err != nil { return fmt.Errorf(\"open %s: %w\", path, err) }", "const total = a + b * 2;",
]


def clean_json_body(rng: random.Random, size: int = 10_000) -> bytes:
    doc: dict[str, object] = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": [],
                              "metadata": {"user_id": f"user-{rng.getrandbits(32):08x}"}}
    messages: list[object] = []
    doc["messages"] = messages
    while len(json.dumps(doc)) < size:
        prose = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
        code = "\n".join(rng.choice(CODE) for _ in range(rng.randint(1, 6)))
        messages.append({
            "role": rng.choice(["user", "assistant"]),
            "content": [{"type": "text", "text": f"{prose}\n```\n{code}\n```"},
                        {"type": "tool_result", "tool_use_id": f"toolu_{rng.getrandbits(96):024x}",
                         "content": f"/home/agent/work/{rng.choice(WORDS)}/{rng.choice(WORDS)}.py:"
                                    f"{rng.randint(1, 900)} commit {rng.getrandbits(160):040x}"}],
        })
    return json.dumps(doc).encode()


def clean_text(rng: random.Random, size: int = 1_000_000) -> str:
    out: list[str] = []
    total = 0
    while total < size:
        line = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 16))) if rng.random() < 0.6
                else rng.choice(CODE))
        out.append(line)
        total += len(line) + 1
    return "\n".join(out)[:size]


def rate(fn: Callable[[], object], nbytes: int, seconds: float) -> dict[str, float]:
    fn()  # warm up
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    per = elapsed / runs
    return {"mb_per_s": round(nbytes / per / 1e6, 2), "us_per_item": round(per * 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = ap.parse_args(argv)
    rng = random.Random(1)
    bodies = [clean_json_body(rng) for _ in range(50)]
    body_bytes = sum(len(b) for b in bodies)
    text = clean_text(rng)
    rules = load_catalogue()

    def naive_bodies() -> None:
        for b in bodies:
            t = b.decode()
            for r in rules:
                r.regex.search(t)

    def naive_text() -> None:
        for r in rules:
            r.regex.search(text)

    results: dict[str, object] = {
        "rules": len(rules),
        "json_10k": {"bodies": len(bodies), "avg_bytes": body_bytes // len(bodies)},
        "text_1m": {"bytes": len(text)},
    }
    naive_json = rate(naive_bodies, body_bytes, args.seconds)
    naive_json["us_per_item"] = round(naive_json["us_per_item"] / len(bodies), 1)
    naive_1m = rate(naive_text, len(text), args.seconds)
    results["naive_re_per_rule"] = {"json_10k": naive_json, "text_1m": naive_1m}

    no_decoding = DLPSection.model_validate({"decode": {"max_depth": 0}})
    for backend in ("hyperscan", "aho-corasick"):
        for label, section in (("all_decoding", DLPSection.model_validate({})), ("no_decoding", no_decoding)):
            engine = DLPEngine(section, backend=backend)
            assert not any(engine.scan_body(b, "application/json") for b in bodies), "clean corpus hit"

            def run_bodies(e: DLPEngine = engine) -> None:
                for b in bodies:
                    e.scan_body(b, "application/json")

            def run_text(e: DLPEngine = engine) -> None:
                e.scan(text, "bench")

            j = rate(run_bodies, body_bytes, args.seconds)
            j["us_per_item"] = round(j["us_per_item"] / len(bodies), 1)
            t = rate(run_text, len(text), args.seconds)
            j["x_naive"] = round(j["mb_per_s"] / naive_json["mb_per_s"], 1)
            t["x_naive"] = round(t["mb_per_s"] / naive_1m["mb_per_s"], 1)
            results[f"{backend}/{label}"] = {"json_10k": j, "text_1m": t}
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
