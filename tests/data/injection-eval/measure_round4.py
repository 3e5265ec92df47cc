"""The one measurement of the round-4 held-out split (issue 12 round 4; run once, after all tuning; its
output is round4-results.json):

    .venv/bin/python tests/data/injection-eval/measure_round4.py > tests/data/injection-eval/round4-results.json

Per family, per promptfoo plugin and per sensitivity: injected results and poisoned definitions
detected, clean results flagged (by kind), the act-directing total (code insertion, exfiltration,
tool calls; results and definitions), and which rule reported each detected item (the scanner
reports one finding per text, the first rule that fires, so an item is often reported under
another family's rule). The round-4 split has no benign tool definitions of its own (see
build_round4.py).
"""
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
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
out: dict = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": "round4", "commit": commit}


def share(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.1f}%)" if b else "0/0"


for level in ("medium", "high"):
    pol = policy_for(level)
    res: dict = {}
    act = [0, 0]
    for kind in ("injected-results", "clean-results", "poisoned-tools"):
        label = kind != "clean-results"
        per: dict = collections.defaultdict(lambda: [0, 0])
        plugin: dict = collections.defaultdict(lambda: [0, 0])
        reported: collections.Counter = collections.Counter()
        tot = [0, 0]
        for it in load("round4", kind):
            r = rules_of(it, pol)
            key = it.get("family") if label else it.get("kind")
            per[key][1] += 1
            per[key][0] += bool(r)
            tot[1] += 1
            tot[0] += bool(r)
            if label:
                plugin[it["template"]][1] += 1
                plugin[it["template"]][0] += bool(r)
                if r:
                    reported[f"{it['family']} -> {r[0].removeprefix('poison-')}"] += 1
                if it.get("family") in ACT:
                    act[1] += 1
                    act[0] += bool(r)
        res[kind] = {"flagged": share(*tot), "by": {k: share(a, b) for k, (a, b) in sorted(per.items())}}
        if label:
            res[kind]["by_plugin"] = {k: share(a, b) for k, (a, b) in sorted(plugin.items())}
            res[kind]["reported_as"] = dict(sorted(reported.items()))
            res[kind]["same_family_reported"] = sum(v for k, v in reported.items()
                                                    if k.split(" -> ")[0] == k.split(" -> ")[1])
    res["act_directing_results_and_definitions"] = share(*act)
    out[level] = res
print(json.dumps(out, indent=1))
