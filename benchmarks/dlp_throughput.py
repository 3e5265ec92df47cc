"""DLP engine throughput on realistic agent requests, against a naive baseline in the same run.
Process CPU time; prints JSON.

    .venv/bin/python -m benchmarks.dlp_throughput [--seconds 2] [--sizes 2k,200k,1m,8m]
        [--no-fallback] [--no-naive] [--compare-catalogue old.yaml] [--adversarial 1m,8m]

Workload: `benchmarks.agent_corpus` request bodies (Anthropic Messages / OpenAI Chat requests
with system prompt, tools, up to 40 turns of standard-library source, logs, diffs, hashes,
UUIDs, base64 images, format strings and English), of 2 KB, 200 KB, 1 MB and 8 MB, scanned as
the proxy scans a request body (`scan_body`, `application/json`). They hold no secret; any
finding is reported under `flagged` (a false positive of the catalogue).

Engines: the hyperscan prefilter with every decoding layer (the default policy) and with
decoding off, and the pyahocorasick fallback with every layer. Baseline: the same catalogue
applied as one Python `re.search` per rule over the text (no decoding, no validators), what a
straightforward implementation does (`--no-naive` skips it, ~50 s of a full run, and the
`x_naive` ratios with it: for quick runs of old and new code one after the other). Each
figure is MB/s of body per CPU second of this process (`time.process_time`), so other load
on the machine matters less than wall time.
The resent bodies are scanned again and again, so from the second run on the block cache
(`egress.scan.dlp.blocks`) serves much of a 200 KB or 1 MB body; each engine's `fresh` entry
is the honest first-sight figure: distinct bodies (another seed), each scanned once by the
engine with its block cache emptied.

Adversarial bodies (`--adversarial`, default 1 MB and 8 MB; `--adversarial ""` to skip): a
run of one lower-case and one upper-case letter, hex soup, base64 soup and `%` soup, scanned
as `text/plain` by the default engine, once each. `linear` is the 8 MB body's MB/s over the
1 MB one's: 1.0 is linear, below it super-linear (a run of `A` was 0.07 before the
hyperscan rules scan went into windows).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.agent_corpus import SIZES, bodies
from egress.policy.model import DLPSection
from egress.scan.dlp import blocks, memo
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.rules.catalogue import parse_catalogue
from egress.sources.dlp_catalogue import dlp_engine, load_catalogue

# Bodies per size: enough distinct ones that a single lucky body does not decide.
COUNTS = {"2k": 200, "200k": 8, "1m": 3, "8m": 1}
# The `fresh` bodies: another seed, so none of them is one the resent runs have cached.
FRESH_SEED = 23


def rate(fn: Callable[[], object], nbytes: int, seconds: float) -> dict[str, float]:
    """MB/s of CPU time: at least one run (after one warm-up when runs are short)."""
    start = time.process_time()
    fn()
    first = time.process_time() - start
    if first >= seconds:
        return {"mb_per_s": round(nbytes / first / 1e6, 2), "cpu_s": round(first, 3), "runs": 1}
    runs, start = 0, time.process_time()
    while True:
        fn()
        runs += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            break
    per = elapsed / runs
    return {"mb_per_s": round(nbytes / per / 1e6, 2), "cpu_s": round(per, 4), "runs": runs}


def fresh(engine: DLPEngine, corpus: list[bytes]) -> dict[str, float]:
    """MB/s on bodies scanned with the block cache emptied before each: what a new
    conversation (or a first turn) costs, with no help from the cache that the resent
    `rate` runs above enjoy from their second run on."""
    # One untimed pass first: what a running proxy has compiled by then (the prefilter's
    # per-rule ends databases, built in a background thread the first time a rule is seen
    # in a long text) is not the cost of a new body. The block cache is emptied before
    # every timed body, so no content seen before helps.
    for body in corpus:
        engine.blocks = blocks.CleanBlocks()
        engine.scan_body(body, "application/json")
    settle = getattr(engine.prefilter, "ends_settled", None)
    if settle is not None:
        settle(120.0)
    cpu = 0.0
    for body in corpus:
        engine.blocks = blocks.CleanBlocks()
        start = time.process_time()
        engine.scan_body(body, "application/json")
        cpu += time.process_time() - start
    engine.blocks = blocks.CleanBlocks()
    nbytes = sum(map(len, corpus))
    return {"mb_per_s": round(nbytes / cpu / 1e6, 2), "cpu_s": round(cpu / len(corpus), 4),
            "bodies": len(corpus)}


def _adversarial(n: int) -> dict[str, bytes]:
    rng = random.Random(7)
    return {
        "run_of_a": b"a" * n,
        "run_of_A": b"A" * n,
        "hex_soup": rng.randbytes(n // 2).hex().encode(),
        "base64_soup": base64.b64encode(rng.randbytes(n * 3 // 4))[:n],
        "percent_soup": bytes(rng.choice(b"%0123456789abcdefABCDEF") for _ in range(n)),
    }


def adversarial(engine: DLPEngine, labels: list[str]) -> dict[str, object]:
    """CPU per adversarial body (one scan each: they are large) and the linearity ratio."""
    out: dict[str, dict[str, object]] = {}
    for label in labels:
        for name, data in _adversarial(SIZES[label]).items():
            start = time.process_time()
            engine.scan_body(data, "text/plain")
            cpu = time.process_time() - start
            out.setdefault(name, {})[label] = {"cpu_s": round(cpu, 3),
                                               "mb_per_s": round(len(data) / cpu / 1e6, 2)}
            print(f"adversarial {name} {label}: {cpu:.2f} s", file=sys.stderr)
    if len(labels) == 2:
        small, large = labels
        for row in out.values():
            row["linear"] = round(float(row[large]["mb_per_s"]) /  # type: ignore[index]
                                  float(row[small]["mb_per_s"]), 2)  # type: ignore[index]
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="CPU time per measurement")
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: " + ",".join(SIZES))
    ap.add_argument("--no-fallback", action="store_true", help="skip the pyahocorasick backend")
    ap.add_argument("--no-naive", action="store_true",
                    help="skip the naive re-per-rule baseline (and the x_naive ratios)")
    ap.add_argument("--compare-catalogue", type=Path, metavar="YAML",
                    help="also measure the engine (hyperscan, all decoding) with this catalogue, e.g. "
                         "an older one: `git show REV:egress/data/dlp_rules.yaml > old.yaml`")
    ap.add_argument("--adversarial", default="1m,8m",
                    help="sizes of the adversarial bodies (runs of one letter, hex/base64/%% soup); "
                         "empty to skip")
    args = ap.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    rules = load_catalogue()
    results: dict[str, object] = {"rules": len(rules), "clock": "process_time"}
    engines = {
        "hyperscan/all_decoding": dlp_engine(DLPSection.model_validate({}), backend="hyperscan"),
        "hyperscan/no_decoding": dlp_engine(DLPSection.model_validate({"decode": {"max_depth": 0}}),
                                           backend="hyperscan"),
    }
    if args.compare_catalogue:
        other = parse_catalogue(args.compare_catalogue.read_text(), str(args.compare_catalogue))
        results["compared_rules"] = len(other)
        engines["hyperscan/all_decoding/compared_catalogue"] = dlp_engine(
            DLPSection.model_validate({}), rules=other, backend="hyperscan")
    if not args.no_fallback:
        engines["aho-corasick/all_decoding"] = dlp_engine(DLPSection.model_validate({}),
                                                         backend="aho-corasick")
    for engine in engines.values():
        # Scanning is what is measured: no body is answered from the memory of whole scans
        # (`egress.scan.dlp.memo`), which would serve every small body from its second run on.
        engine.memo = memo.ScanMemo(0)
    for label in sizes:
        corpus = bodies(SIZES[label], COUNTS[label], seed=11)
        fresh_corpus = bodies(SIZES[label], COUNTS[label], seed=FRESH_SEED)
        texts = [b.decode() for b in corpus]
        nbytes = sum(len(b) for b in corpus)
        row: dict[str, object] = {"bodies": len(corpus), "avg_bytes": nbytes // len(corpus)}

        def naive(texts: list[str] = texts) -> None:
            for t in texts:
                for r in rules:
                    r.regex.search(t)

        base = None if args.no_naive else rate(naive, nbytes, args.seconds)
        if base is not None:
            row["naive_re_per_rule"] = base
        for name, engine in engines.items():
            flagged = sorted({m.rule for b in corpus for m in engine.scan_body(b, "application/json")})

            def run(e: DLPEngine = engine, corpus: list[bytes] = corpus) -> None:
                for b in corpus:
                    e.scan_body(b, "application/json")

            r: dict[str, object] = dict(rate(run, nbytes, args.seconds))
            if base is not None:
                r["x_naive"] = round(float(r["mb_per_s"]) / base["mb_per_s"], 1)  # type: ignore[arg-type]
            r["fresh"] = fresh(engine, fresh_corpus)
            if flagged:
                r["flagged"] = flagged
            row[name] = r
        results[label] = row
        print(f"{label}: done", file=sys.stderr)
    labels = [s for s in args.adversarial.split(",") if s]
    if labels:
        results["adversarial"] = adversarial(engines["hyperscan/all_decoding"], labels)
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
