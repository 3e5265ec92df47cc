"""The one measurement of a held-out split of the injection evaluation (run once per split, after
all tuning of its round; its output is `<split>-results.json`):

    .venv/bin/python tests/data/injection-eval/measure_split.py round4 > tests/data/injection-eval/round4-results.json

Splits: `fresh` (round 2), `round3`, `round4`, `round5`, `round7`, `round9`, `round10`, `round12`, `round13`. Per family, per
template (for round 4: promptfoo plugin) and per sensitivity: injected results and poisoned definitions detected, clean results
flagged (by kind), the act-directing total (code insertion, exfiltration, tool calls; results
and definitions), and which rule reported each detected item (the scanner reports one finding
per text, the first rule that fires, so an item is often reported under another family's rule).
These splits have no benign tool definitions of their own (see their build scripts).

Until round 4 each split had its own copy of this script (`measure_fresh.py`,
`measure_round3.py`, `measure_round4.py`, in the git history); the committed results of `fresh`
and `round3` come from those copies, which printed everything here except `by_plugin`,
`reported_as` and `commit`.
"""
import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from tests.support.injection_eval import load, policy_for, rules_of  # noqa: E402

ACT = ("code-insertion", "exfiltration-request", "tool-call-request")


def share(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f}%)" if b else "0/0"


def measure(split: str, level: str) -> dict:
    pol = policy_for(level)
    res: dict = {}
    act = [0, 0]
    for kind in ("injected-results", "clean-results", "poisoned-tools"):
        label = kind != "clean-results"
        per: dict = collections.defaultdict(lambda: [0, 0])
        template: dict = collections.defaultdict(lambda: [0, 0])
        reported: collections.Counter = collections.Counter()
        tot = [0, 0]
        for it in load(split, kind):
            r = rules_of(it, pol)
            key = it.get("family") if label else it.get("kind")
            per[key][1] += 1
            per[key][0] += bool(r)
            tot[1] += 1
            tot[0] += bool(r)
            if label:
                template[it["template"]][1] += 1
                template[it["template"]][0] += bool(r)
                if r:
                    reported[f"{it['family']} -> {r[0].removeprefix('poison-')}"] += 1
                if it.get("family") in ACT:
                    act[1] += 1
                    act[0] += bool(r)
        res[kind] = {"flagged": share(*tot), "by": {k: share(a, b) for k, (a, b) in sorted(per.items())}}
        if label:
            res[kind]["by_plugin"] = {k: share(a, b) for k, (a, b) in sorted(template.items())}
            res[kind]["reported_as"] = dict(sorted(reported.items()))
            res[kind]["same_family_reported"] = sum(v for k, v in reported.items()
                                                    if k.split(" -> ")[0] == k.split(" -> ")[1])
    res["act_directing_results_and_definitions"] = share(*act)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("split", choices=("fresh", "round3", "round4", "round5", "round7", "round9",
                                        "round10", "round12", "round13"))
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    out: dict = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "split": args.split, "commit": commit}
    for level in ("medium", "high"):
        out[level] = measure(args.split, level)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
