"""Builds the FRESH held-out split (`fresh/`, issue 12 round 2) from pinned inputs that neither
`dev/` nor `test/` used: the templates and payloads of `attacks_fresh.py`, planted in documents of
wheels never downloaded before (`FRESH_WHEELS`) and in standard-library packages that round 1
never sampled. Evaluated exactly once, after all tuning (`measure_split.py fresh` →
`fresh-results.json`).

    S=/tmp/inj-fresh
    pip download --no-deps --only-binary=:all: -d $S/benign <the wheels in FRESH_WHEELS>
    .venv/bin/python tests/data/injection-eval/build_fresh.py $S

Everything in `attacks_fresh.py` goes to `fresh/` only, so no template, payload, carrier or
package is shared with `dev/` or `test/`. Tool definitions: no unused MCP server was at hand, so
the fresh payloads are planted in the benign tool definitions of the old `test` split (seen
once, never tuned on); their benign rate is therefore not a fresh figure and is not reported
as one.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import attacks_fresh as F  # noqa: E402
import build  # noqa: E402

FRESH_WHEELS = [
    "jinja2==3.1.4", "pyyaml==6.0.2", "markdown==3.7", "tabulate==0.9.0", "tenacity==9.0.0",
    "cachetools==5.5.0", "loguru==0.7.3", "marshmallow==3.23.2", "arrow==1.3.0", "humanize==4.11.0",
    "more-itertools==10.5.0", "jsonschema==4.23.0", "werkzeug==3.1.3", "starlette==0.41.3",
    "redis==5.2.1", "boltons==24.1.0", "anyio==4.7.0", "mkdocs==1.6.1",
]  # all MIT, BSD or Apache-2.0
# Standard-library packages round 1 never sampled (it read lib/*.py, email/ and http/ only).
STDLIB_PACKAGES = ["json", "logging", "asyncio", "urllib", "unittest", "xml/dom", "importlib", "concurrent/futures"]


def stdlib_fresh() -> Iterator[tuple[str, str, str]]:
    import sysconfig

    if sys.version.split()[0] != build.PYTHON_VERSION:
        raise SystemExit(f"build with Python {build.PYTHON_VERSION} (pinned)")
    lib = Path(sysconfig.get_paths()["stdlib"])
    for pkg in STDLIB_PACKAGES:
        for f in sorted((lib / pkg).glob("*.py")):
            yield f"stdlib-src:{pkg}/{f.name}", "code", f.read_text(encoding="utf-8", errors="replace")


def stdlib_tables_fresh() -> Iterator[tuple[str, str, str]]:
    """Tables from standard-library data round 1 did not use (HTML entities, locale aliases)."""
    import html.entities
    import locale

    ents = sorted(html.entities.name2codepoint.items())
    for i in range(0, len(ents), 20):
        yield f"table-entities:{i}", "table", "| name | code point |\n|---|---|\n" + "\n".join(
            f"| {n} | U+{c:04X} |" for n, c in ents[i:i + 20])
    al = sorted(locale.locale_alias.items())
    for i in range(0, min(len(al), 600), 30):
        yield f"table-locale:{i}", "table", "alias,locale\n" + "\n".join(f"{a},{b}" for a, b in al[i:i + 30])


def hide(payload: str, how: str) -> str:
    flat = payload.replace("\n", " ")
    return dict(F.HIDING)[how].format(
        payload=flat, payload_url=urllib.parse.quote(flat), payload_hex=flat.encode().hex(),
        payload_nbsp="\u00a0\u2060".join(flat.split(" ")))


def payloads() -> Iterator[tuple[str, str, str, str]]:
    for tid, tmpl in F.CODE_TEMPLATES:
        for sid, lang, code in F.SNIPPETS:
            yield "code-insertion", "code:" + tid, "snippet:" + sid, tmpl.format(
                code=build.fence(lang, code), lang=lang, code_json=json.dumps(code),
                cmd_indented=code.rstrip().replace("\n", "\n      "))
    one_liners = [s for s in F.SNIPPETS if s[2].count("\n") == 1 and len(s[2]) < 160]
    for tid, tmpl in F.INLINE_RUN_TEMPLATES:
        for sid, _, code in one_liners:
            yield "code-insertion", "run:" + tid, "snippet:" + sid, tmpl.format(cmd=code.strip())
    rng = random.Random("fresh-dest")
    for tid, tmpl in F.EXFIL_TEMPLATES:
        for did, data in F.DATA_OBJECTS:
            _, dest = rng.choice(F.DESTINATIONS)
            yield "exfiltration-request", "exfil:" + tid, f"data:{did}", tmpl.format(
                data=data, data_cap=build.cap(data), dest=dest)
    for tid, tmpl in F.TOOL_TEMPLATES:
        for cid, tool, args in F.TOOL_CALLS:
            yield "tool-call-request", "tool:" + tid, "call:" + cid, tmpl.format(tool=tool, args=args)
    for tid, tmpl in F.HIJACK_TEMPLATES:
        for kid, task in F.HIJACK_TASKS:
            yield "task-hijack", "hijack:" + tid, "task:" + kid, tmpl.format(task=task, Task=build.cap(task))


def attacks(carriers: list[tuple[str, str, str]], rng: random.Random, per_family: int) -> list[dict[str, Any]]:
    by_family: dict[str, list[tuple[str, str, str, str]]] = {}
    for p in payloads():
        by_family.setdefault(p[0], []).append(p)
    out = []
    formats = ["plain", "plain", "plain", "markdown", "email-quote", "json", "table-cell", "code-comment"]
    for family, items in sorted(by_family.items()):
        rng.shuffle(items)
        for i in range(per_family):
            _, tid, pid, text = items[i % len(items)]
            group, kind, carrier = rng.choice(carriers)
            how = rng.choice(formats) if family != "code-insertion" else rng.choice(["plain", "plain", "email-quote"])
            position = rng.choice(["start", "middle", "end"])
            label, hidden = family, None
            if rng.random() < 0.12:
                hidden = rng.choice([h for h, _ in F.HIDING])
                text, label = hide(text, hidden), "hidden-instruction"
            else:
                text = build.fmt(text, how)
            out.append({"source": "own-fresh", "family": label, "mechanism": family, "template": tid,
                        "payload": pid, "carrier": group, "carrier_kind": kind, "format": hidden or how,
                        "position": position, "text": build.plant(carrier, text, position, rng)})
    return out


def poisoned_tools(tools: list[dict[str, Any]], rng: random.Random, n: int) -> list[dict[str, Any]]:
    by_family: dict[str, list[tuple[str, str, str, str]]] = {}
    for p in payloads():
        if len(p[3]) < 700:
            by_family.setdefault(p[0], []).append(p)
    families = sorted(by_family)
    out = []
    for i in range(n):
        family = families[i % len(families)]
        _, tid, pid, text = rng.choice(by_family[family])
        base = rng.choice(tools)
        tool, where = build.poison_tool(base["tool"], text, rng)
        out.append({"source": "own-fresh+" + base["source"], "family": family, "template": tid, "payload": pid,
                    "where": where, "tool": tool})
    return out


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random("fresh-12")
    corpus: list[tuple[str, str, str]] = []
    sources: dict[str, Any] = {"python": build.PYTHON_VERSION, "wheels": {}}
    for w in sorted((root / "benign").glob("*.whl")):
        dist = w.name.split("-")[0].lower().replace("_", "-")
        sources["wheels"][w.name] = hashlib.sha256(w.read_bytes()).hexdigest()
        for kind, text in build.wheel_texts(w):
            corpus += [(f"wheel:{dist}", kind, c) for c in build.chunks(text, rng)]
    for group, kind, text in stdlib_fresh():
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    corpus += list(build.code_answers(corpus, rng))
    tables = list(stdlib_tables_fresh())
    # Half of the documents carry attacks, the other half stay clean: no document is both.
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if c[1] in ("readme", "docs", "code-answer", "changelog", "code")
             and len(c[2]) > 200] + tables[::2]
    clean_docs = corpus[1::2][:1500] + tables[1::2]
    results = attacks(hosts, rng, per_family=200)
    clean = [{"source": g.split(":")[0], "group": g, "kind": k, "text": t} for g, k, t in clean_docs]
    clean += [{"source": "own-fresh", "group": f"own-benign:{i}", "kind": k, "text": t} for i, k, t in F.HARD_NEGATIVES]
    tools = build.benign_tools("test")
    out = HERE / "fresh"
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz", poisoned_tools(tools, rng, 150))
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("fresh injected", len(results), "clean", len(clean), "poisoned tools 150")


if __name__ == "__main__":
    main()
