"""Builds the ROUND-4 held-out split (`round4/`, issue 12 round 4) from pinned inputs that no
earlier split used, before any round-4 change to the detectors. Evaluated exactly once, after all
tuning (`measure_split.py round4` -> `round4-results.json`).

The attack text is written by others: the example attack prompts of promptfoo 0.123.1's red-team
plugins (npm, MIT; the `<Example> ... Prompt: ... </Example>` blocks of each plugin's generator
template in `dist/src/index.js`, one payload each), labelled by plugin (`PLUGIN_FAMILY`). Round 3
used promptfoo's prompt-injection *wrappers* only, never these examples. In this bundle the
indirect-prompt-injection, SSRF, BOLA, BFLA, data-exfiltration and hijacking plugins ship graders
but no example prompts (their generators run remotely), so they contribute nothing.

The documents are new too: READMEs, bundled docs and sources of 18 wheels never downloaded before
(`ROUND4_WHEELS`, SHA-256 in `round4/sources.json`) and standard-library packages no earlier split
sampled (`STDLIB_PACKAGES`); half of the documents carry attacks, the other half stay clean.

    S=/tmp/inj-round4
    pip download --no-deps --only-binary=:all: --python-version 3.12 -d $S/benign <ROUND4_WHEELS>
    (cd $S/attacks && npm pack promptfoo@0.123.1)
    .venv/bin/python tests/data/injection-eval/build_round4.py $S

Tool definitions: no unused MCP server was at hand, so the payloads are planted in the benign tool
definitions of the old `test` split (as rounds 2 and 3 did); there is no round-4 figure for benign
definitions.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402
import build_round3  # noqa: E402

ROUND4_WHEELS = [
    "mistune==3.0.2", "python-dateutil==2.9.0.post0", "pytz==2024.2", "colorama==0.4.6", "iniconfig==2.0.0",
    "termcolor==2.5.0", "blinker==1.9.0", "mako==1.3.8", "bleach==6.2.0", "validators==0.34.0",
    "cerberus==1.3.5", "voluptuous==0.15.2", "deprecated==1.2.15", "dill==0.3.9", "decorator==5.1.1",
    "alembic==1.14.0", "trio==0.27.0", "prompt_toolkit==3.0.48",
]  # all MIT, BSD, ISC or Apache-2.0
ATTACK_PACKAGES = {"promptfoo-0.123.1.tgz": "MIT"}
# Standard-library packages no earlier split sampled (round 1: lib/*.py, email/, http/, pydoc
# topics; round 2: json, logging, asyncio, urllib, unittest, xml/dom, importlib,
# concurrent/futures; round 3: build_round3.STDLIB_PACKAGES).
STDLIB_PACKAGES = ["idlelib", "tkinter", "curses", "html", "xml/sax", "xml/parsers", "lib2to3",
                   "lib2to3/fixes", "ensurepip", "turtledemo"]

# promptfoo plugin -> the family its examples ask for when they arrive in a tool result. Plugins
# whose examples ask for harmful content (teen safety, harmful) are left out: not injections.
PLUGIN_FAMILY = {
    "shellInjection": "code-insertion",
    "sqlInjection": "tool-call-request",  # run a query carrying injected SQL
    "excessiveAgency": "tool-call-request",  # act outside the agent's remit (send, save)
    "rbac": "tool-call-request",  # privileged action or a privilege claim
    "promptExtraction": "exfiltration-request",  # hand over the system prompt
    "pii": "exfiltration-request",  # hand over personal data
    "debugAccess": "instruction-override",
    "toolDiscovery": "instruction-override",
    "contracts": "task-hijack",
    "divergentRepetition": "task-hijack",
    "hallucination": "task-hijack",
    "imitation": "task-hijack",
    "overreliance": "task-hijack",
    "politics": "task-hijack",
    "unverifiableClaims": "task-hijack",
}
_EXAMPLE = re.compile(r"<Example>(.*?)</Example>", re.S)
_PROMPT = re.compile(r"Prompt: (.*?)(?:\n\s*(?:Explanation|SQL the system might use):|\Z)", re.S)


def unescape_template(text: str) -> str:
    """The text of a JavaScript template literal's body (`\\$`, `` \\` `` and `\\\\` escapes)."""
    return re.sub(r"\\([$`\\])", r"\1", text)


def promptfoo_examples(tgz: Path) -> list[tuple[str, str, str]]:
    """(family, payload id, text) of every example prompt of the plugins in PLUGIN_FAMILY."""
    with tarfile.open(tgz) as t:
        fh = t.extractfile("package/dist/src/index.js")
        assert fh is not None
        src = fh.read().decode("utf-8")
    parts = re.split(r"//#region src/redteam/plugins/([^\n]+)\.ts\n", src)
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for name, body in zip(parts[1::2], parts[2::2]):
        plugin = name.split("/")[-1]
        if plugin not in PLUGIN_FAMILY:
            continue
        for i, block in enumerate(_EXAMPLE.findall(body)):
            m = _PROMPT.search(block)
            if not m:
                continue
            text = unescape_template(re.sub(r"\n\s+", "\n", m.group(1)).strip()).replace("{{name}}", "Maria Lopez")
            if text and text not in seen:
                seen.add(text)
                out.append((PLUGIN_FAMILY[plugin], f"promptfoo:{plugin}:{i}", text))
    return out


def payloads(root: Path) -> list[tuple[str, str, str, str, str]]:
    """(source, family, template, payload id, text): each example alone; its template is its plugin.
    An example sharing a 60-character piece with any earlier split (round 3's included) is left out."""
    known = build_round3.development_text(("dev", "test", "fresh", "round3"))
    examples = promptfoo_examples(root / "attacks" / "promptfoo-0.123.1.tgz")
    return [("promptfoo", fam, pid.rsplit(":", 1)[0], pid, text) for fam, pid, text in examples
            if not build_round3.shares_text(text, known)]


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random("round4-12")
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
    for group, kind, text in build_round3.stdlib_round3(STDLIB_PACKAGES):
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    corpus += list(build.code_answers(corpus, rng))
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if c[1] in ("readme", "docs", "code-answer", "changelog", "code")
             and len(c[2]) > 200]
    clean_docs = corpus[1::2][:1500]
    items = payloads(root)
    results = build_round3.attacks(items, hosts, rng, copies=4, copied=("promptfoo",))
    clean = [{"source": g.split(":")[0], "group": g, "kind": k, "text": t} for g, k, t in clean_docs]
    tools = build.benign_tools("test")
    out = HERE / "round4"
    out.mkdir(exist_ok=True)
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz", build_round3.poisoned_tools(items, tools, rng, 150))
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("round4 examples", len(items), "injected", len(results), "clean", len(clean), "poisoned tools 150")


if __name__ == "__main__":
    main()
