"""The one measurement of the frozen test split (run once; its output is test-results.json)."""
import json, sys, collections, time
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3]))
from tests.support.injection_eval import load, policy_for, rules_of
from egress.scan.mcp import definitions as md
out = {"measured": time.strftime("%Y-%m-%d"), "split": "test"}
for level in ("medium", "high"):
    pol = policy_for(level)
    res = {}
    for kind in ("injected-results", "clean-results", "poisoned-tools", "benign-tools"):
        label = kind in ("injected-results", "poisoned-tools")
        per = collections.defaultdict(lambda: [0, 0]); src = collections.defaultdict(lambda: [0, 0])
        labelled = collections.Counter()
        tot = [0, 0]
        for it in load("test", kind):
            r = rules_of(it, pol)
            key = it.get("family") if label else it.get("kind")
            per[key][1] += 1; per[key][0] += bool(r)
            s = it.get("source", "?").split("+")[0]
            src[s][1] += 1; src[s][0] += bool(r)
            tot[1] += 1; tot[0] += bool(r)
            if label and r:
                labelled[(it.get("family"), r[0].removeprefix("poison-"))] += 1
        res[kind] = {"flagged": f"{tot[0]}/{tot[1]}", "by": {k: f"{a}/{b}" for k, (a, b) in sorted(per.items())},
                     "by_source": {k: f"{a}/{b}" for k, (a, b) in sorted(src.items())}}
        if label:
            res[kind]["same_family_reported"] = sum(v for (f, r), v in labelled.items() if f == r)
    out[level] = res
reg = md.ToolRegistry(); names = collections.Counter()
tools = load("test", "benign-tools")
for t in sorted(tools, key=lambda t: t["server"]):
    for c in md.definition_checks(t["tool"], is_tool=True) + reg.check(t["server"], t["tool"]):
        names[c.rule] += 1
out["benign_tools_cross_server_checks"] = dict(names)
print(json.dumps(out, indent=1))
