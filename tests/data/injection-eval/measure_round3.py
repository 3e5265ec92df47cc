"""The one measurement of the round-3 held-out split (issue 12 round 3; run once, after all tuning; its
output is round3-results.json):

    .venv/bin/python tests/data/injection-eval/measure_round3.py > tests/data/injection-eval/round3-results.json

Per family and per sensitivity: injected results and poisoned definitions detected, clean results
flagged (by kind), and the act-directing total (code insertion, exfiltration, tool calls; results
and definitions). The round-3 split has no benign tool definitions of its own (see build_round3.py).
"""
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.support.injection_eval import load, policy_for, rules_of  # noqa: E402

ACT = ("code-insertion", "exfiltration-request", "tool-call-request")
out: dict = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": "round3"}
for level in ("medium", "high"):
    pol = policy_for(level)
    res: dict = {}
    act = [0, 0]
    for kind in ("injected-results", "clean-results", "poisoned-tools"):
        label = kind != "clean-results"
        per: dict = collections.defaultdict(lambda: [0, 0])
        same = 0
        tot = [0, 0]
        for it in load("round3", kind):
            r = rules_of(it, pol)
            key = it.get("family") if label else it.get("kind")
            per[key][1] += 1
            per[key][0] += bool(r)
            tot[1] += 1
            tot[0] += bool(r)
            if label and it.get("family") in ACT:
                act[1] += 1
                act[0] += bool(r)
            # One finding per text (the first rule that fires): "same family" means that rule is the
            # item's own family. Round 3's 0 is a true figure, not a script fault (checked in round 4).
            if label and r and r[0].removeprefix("poison-") == it.get("family"):
                same += 1
        res[kind] = {"flagged": f"{tot[0]}/{tot[1]}",
                     "by": {k: f"{a}/{b} ({100 * a / b:.1f}%)" for k, (a, b) in sorted(per.items())}}
        if label:
            res[kind]["same_family_reported"] = same
    res["act_directing_results_and_definitions"] = f"{act[0]}/{act[1]} ({100 * act[0] / act[1]:.1f}%)"
    out[level] = res
print(json.dumps(out, indent=1))
