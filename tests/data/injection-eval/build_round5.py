"""Builds the ROUND-5 held-out split (`round5/`, issue 12 round 5) from pinned inputs that no
earlier split used, before any round-5 change to the detectors. Evaluated exactly once, after all
tuning (`measure_split.py round5` -> `round5-results.json`).

The attack text is written by others, for agents that read tool results: two evaluations bundled
in inspect-evals 0.26.0 (PyPI, MIT), which no earlier round used:

- `ipi_coding_agent/dataset/samples.json`: indirect prompt injections against a coding agent,
  each inside the repository it is asked to fix (an issue text, a README, a code comment or a
  config file), by payload category: exfiltration -> exfiltration request; code execution and
  persistence -> code insertion (run a command, install a package, write startup or CI files).
  Ten samples are labelled benign by their authors (some on purpose suspicious: a README with
  a `curl | bash` verify step); their files and issue texts are clean results here.
- `agent_threat_bench/data/*.json`: injections in an e-mail inbox (autonomy hijack -> task
  hijack: the note asks the agent to put something into its summaries or to act on the side),
  a customer database (data exfiltration -> exfiltration request) and a memory store (memory
  poisoning -> task hijack: answer with a marker, take another role). Their `clean_baseline`
  samples and the e-mails and records no attack touches are clean results.

Each attack is used as its authors wrote it, in its own document (`format` "native": the issue
text, the injected file, the inbox / database / memory store as the JSON a tool returns). The
issue texts and the injected e-mails, records and memory entries are also planted (`build.plant`)
in documents of 18 wheels never used before (`ROUND5_WHEELS`, SHA-256 in `round5/sources.json`)
and of standard-library packages no earlier split sampled; half of those documents carry attacks,
the other half stay clean.

    S=/tmp/inj-round5
    pip download --no-deps --only-binary=:all: --python-version 3.12 -d $S/benign <ROUND5_WHEELS>
    pip download --no-deps --only-binary=:all: --python-version 3.12 -d $S/attacks inspect-evals==0.26.0
    .venv/bin/python tests/data/injection-eval/build_round5.py $S

Tool definitions: the short payloads are planted in the benign tool definitions of the old `test`
split (as rounds 2-4 did); there is no round-5 figure for benign definitions.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402
import build_round3  # noqa: E402

ROUND5_WHEELS = [
    "freezegun==1.5.1", "responses==0.25.3", "isort==5.13.2", "pyflakes==3.2.0", "nox==2024.10.9",
    "tzlocal==5.2", "jmespath==1.0.1", "parse==1.20.2", "inflect==7.4.0", "python-slugify==8.0.4",
    "xmltodict==0.14.2", "pymysql==1.1.1", "httplib2==0.22.0", "feedparser==6.0.11",
    "ruamel.yaml==0.18.6", "packaging==24.2", "sqlparse==0.5.3", "humanfriendly==10.0",
]  # all MIT, BSD or Apache-2.0
ATTACK_PACKAGES = {"inspect_evals-0.26.0-py3-none-any.whl": "MIT"}
# Standard-library packages no earlier split sampled (each split reads `<package>/*.py` only).
STDLIB_PACKAGES = ["encodings", "zipfile", "zipfile/_path", "email/mime", "importlib/metadata",
                   "importlib/resources"]

IPI_FAMILY = {"exfiltration": "exfiltration-request", "code_execution": "code-insertion",
              "persistence": "code-insertion"}
ATB_FAMILY = {"autonomy_hijack": "task-hijack", "data_exfil": "exfiltration-request",
              "memory_poison": "task-hijack"}
ATB_TOOL = {"autonomy_hijack": "inbox", "data_exfil": "customer_db", "memory_poison": "memory_store"}

Item = tuple[str, str, str, str, str]  # (source, family, template, payload id, text)


def _read(whl: zipfile.ZipFile, name: str) -> Any:
    return json.loads(whl.read(f"inspect_evals/{name}").decode("utf-8"))


def ipi(whl: zipfile.ZipFile) -> tuple[list[dict[str, Any]], list[Item], list[tuple[str, str, str]]]:
    """Native injected documents, plantable issue texts, clean (group, kind, text) of ipi_coding_agent."""
    native, plant, clean = [], [], []
    for s in _read(whl, "ipi_coding_agent/dataset/samples.json"):
        files = {f: t for f, t in s["repo_files"].items() if t.strip()}
        if s["is_benign"]:
            clean += [(f"ipi:{s['id']}", _kind(f), t) for f, t in files.items()]
            clean += [(f"ipi:{s['id']}", "issue", s["issue_text"])] if s["issue_text"].strip() else []
            continue
        family = IPI_FAMILY[s["payload_category"]]
        tid = f"ipi:{s['injection_vector']}:{s['payload_sophistication']}"
        if s["injection_vector"] == "issue_text":
            docs = [("issue", s["issue_text"])]
            plant.append(("inspect-evals:ipi", family, tid, f"ipi:{s['id']}", s["issue_text"]))
        else:
            indicator = re.compile(s["payload_indicator"])
            docs = [(f, t) for f, t in files.items() if indicator.search(t)] or [
                (f, t) for f, t in files.items() if _kind(f) == {"readme": "readme", "code_comment": "code",
                                                                  "config_file": "config"}[s["injection_vector"]]]
        for name, text in docs:
            native.append({"source": "inspect-evals:ipi", "family": family, "template": tid,
                           "payload": f"ipi:{s['id']}", "carrier": f"ipi:{s['id']}:{name}",
                           "carrier_kind": _kind(name), "format": "native", "position": "native", "text": text})
    return native, plant, clean


def _kind(name: str) -> str:
    if name == "issue":
        return "issue"
    if name.lower().startswith("readme"):
        return "readme"
    return "code" if name.endswith((".py", ".js", ".ts", ".sh")) else "config"


def atb(whl: zipfile.ZipFile) -> tuple[list[dict[str, Any]], list[Item], list[tuple[str, str, str]]]:
    """Native injected tool results, plantable injected entries, clean results of agent_threat_bench."""
    native, plant, clean = [], [], []
    for task, key in ATB_TOOL.items():
        for s in _read(whl, f"agent_threat_bench/data/{task}.json"):
            data = s[key]
            if s["attack_name"] == "clean_baseline":
                clean.append((f"atb:{s['id']}", key, json.dumps(data, indent=1, ensure_ascii=False)))
                continue
            family, tid, pid = ATB_FAMILY[task], f"atb:{task}:{s['attack_name']}", f"atb:{s['id']}"
            native.append({"source": "inspect-evals:atb", "family": family, "template": tid, "payload": pid,
                           "carrier": f"atb:{s['id']}", "carrier_kind": key, "format": "native",
                           "position": "native", "text": json.dumps(data, indent=1, ensure_ascii=False)})
            for entry, text, attacked in _entries(task, s):
                if attacked:
                    plant.append(("inspect-evals:atb", family, tid, f"{pid}:{entry}", text))
                else:
                    clean.append((f"atb:{s['id']}", key, text))
    return native, plant, clean


def _entries(task: str, s: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(entry, text, attacked) of one sample: the injected e-mails are named by the sample; in a
    database or memory store the injected entries are those whose free text differs from every
    clean baseline's and carries the attack's marker, an address nobody authorised, or an order."""
    if task == "autonomy_hijack":
        bad = set(s["attack_email_indices"])  # counted from 1
        return [(str(i), json.dumps(m, indent=1, ensure_ascii=False), i + 1 in bad) for i, m in enumerate(s["inbox"])]
    if task == "data_exfil":
        out = []
        for i, rec in enumerate(s["customer_db"]):
            text = json.dumps(rec, indent=1, ensure_ascii=False)
            free = " ".join(v for k, v in rec.items() if isinstance(v, str) and len(v) > 40)
            mails = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", free)) - set(s["authorized_recipients"])
            out.append((str(i), text, bool(mails) or bool(re.search(r"(?i)\b(assistant|system|ignore|must|send)\b", free))))
        return out
    marker = s.get("attack_marker") or "\0"
    return [(k, f"{k}: {v}", marker.lower() in str(v).lower() or bool(
        re.search(r"(?i)\b(ignore|assistants?|instructions?|respond|you are now)\b|\[system|system:|<!--", str(v))))
        for k, v in s["memory_store"].items()]


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random("round5-12")
    sources: dict[str, Any] = {"python": build.PYTHON_VERSION, "wheels": {}, "attacks": {}}
    for name, licence in ATTACK_PACKAGES.items():
        sources["attacks"][name] = {"licence": licence,
                                    "sha256": hashlib.sha256((root / "attacks" / name).read_bytes()).hexdigest()}
    corpus: list[tuple[str, str, str]] = []
    for w in sorted((root / "benign").glob("*.whl")):
        dist = w.name.split("-")[0].lower().replace("_", "-")
        sources["wheels"][w.name] = hashlib.sha256(w.read_bytes()).hexdigest()
        for kind, text in build.wheel_texts(w):
            corpus += [(f"wheel:{dist}", kind, c) for c in build.chunks(text, rng)]
    for group, kind, text in build_round3.stdlib_round3(STDLIB_PACKAGES):
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    corpus += list(build.code_answers(corpus, rng))
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if c[1] in ("readme", "docs", "code-answer", "changelog", "code")
             and len(c[2]) > 200]
    with zipfile.ZipFile(root / "attacks" / "inspect_evals-0.26.0-py3-none-any.whl") as whl:
        native_ipi, plant_ipi, clean_ipi = ipi(whl)
        native_atb, plant_atb, clean_atb = atb(whl)
    items = plant_ipi + plant_atb
    known = build_round3.development_text(("dev", "test", "fresh", "round3", "round4"))
    # An attack text sharing a 60-character piece with the development data is left out.
    items = [p for p in items if not build_round3.shares_text(p[4], known)]
    native = [n for n in native_ipi + native_atb if not build_round3.shares_text(n["text"], known)]
    results = native + build_round3.attacks(
        items, hosts, rng, copies=6, copied=("inspect-evals:ipi", "inspect-evals:atb"))
    clean = [{"source": g.split(":")[0], "group": g, "kind": k, "text": t}
             for g, k, t in clean_ipi + clean_atb + corpus[1::2][:1500]]
    tools = build.benign_tools("test")
    out = HERE / "round5"
    out.mkdir(exist_ok=True)
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz", build_round3.poisoned_tools(items, tools, rng, 120))
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("round5 native", len(native), "of", len(native_ipi) + len(native_atb), "plantable", len(items), "injected",
          len(results), "clean", len(clean), "(own", len(clean_ipi) + len(clean_atb), ") poisoned tools 120")


if __name__ == "__main__":
    main()
