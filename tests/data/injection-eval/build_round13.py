"""Builds the ROUND-13 held-out split (`round13/`, issue 12 round 13) from pinned inputs that no
earlier split used, before any round-13 change to the detectors and before any look at its
verdicts. Evaluated exactly once (`measure_split.py round13` -> `round13-results.json`).

The attack text is written by others and no earlier round used it (PyPI, SHA-256 in
`round13/sources.json`). Nothing of the wheels is imported or run: the texts are read from their
files (Python literals through `ast`, one `base64` call evaluated; YAML through `yaml.safe_load`):

- aicu-scanner 1.5.0 (MIT; an LLM-application security scanner): the ten markdown-exfiltration
  documents of `aicu/generators/markdown_exfil_gen.py` (the text asks the model to put an image or
  link whose URL carries its prompt, answer or settings into the answer); the agent test payloads
  of `aicu/agent_tests.py` (tool invocations and tool chains, a forged tool update; schema and RAG
  extraction questions; the two context-overflow ones are left out: they are denial of service,
  built by string arithmetic); the ten documents of `aicu/generators/indirect_injection_gen.py`
  and the nine of `aicu/payloads/file_payloads.yaml` (instructions in meeting notes, CSV rows,
  docstrings, JSON specs, HTML comments, zero-width padding). Left out: `phantom_gen.py` (its
  instruction is binary-encoded in zero-width characters, not text a model reads).
- agent-security-harness 4.28.1 (Apache-2.0; security tests for agent protocols): the poisoned
  MCP tool definitions of `protocol_tests/mcp_tool_poisoning_harness.py` (`POISONED_TOOLS`, the
  rug-pull versions `tool_v2`/`tool_v3`, the live-mode `poisoned_upload`, the `ENCODED_PAYLOADS`
  notes) as whole definitions, and each of their poisoned field texts (a field no clean version
  of the tool has) as a text; the `[SYSTEM OVERRIDE]` result of `protocol_tests/mcp_harness.py`.
- agent-probe-ai 0.6.0 (MIT; agent-level adversarial tests): the tool-role and poisoned
  tool-list messages of its probes (`agent_injection.py`, `confused_deputy.py`).

Families (this builder's labels, from each source's own category): a request to call a tool, to
chain tools or to invoke a function -> tool-call request; a request to put credentials, API keys,
the conversation or the model's prompt into a URL, a field, a tool call or every answer ->
exfiltration request; a request to write the model's own configuration, role, rules or tool
list into its answer (`prompt-extraction`, the source's "extraction" category) and a bare
"ignore all instructions" -> not act-directing, rows of their own.

Any attack text sharing a 60-character piece with the development data (every earlier split,
`round12/` included, and `../mcp-eval/`) is left out. Carriers and clean results: documents no
split sampled, from the pinned interpreter's standard library (`DOCUMENTS`); half of the chunks
carry attacks, the other half stay clean. Description texts are also planted in the old `test/`
split's benign tool definitions (as earlier rounds did).

    S=/tmp/inj-round13
    pip download --no-deps --only-binary=:all: -d $S/attacks \
        aicu-scanner==1.5.0 agent-security-harness==4.28.1 agent-probe-ai==0.6.0
    .venv/bin/python tests/data/injection-eval/build_round13.py $S
"""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import json
import random
import sys
import sysconfig
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402
import build_round3  # noqa: E402

AICU = "aicu_scanner-1.5.0-py3-none-any.whl"
HARNESS = "agent_security_harness-4.28.1-py3-none-any.whl"
PROBE = "agent_probe_ai-0.6.0-py3-none-any.whl"
ATTACK_PACKAGES = {AICU: "MIT", HARNESS: "Apache-2.0", PROBE: "MIT"}
# aicu agent test name -> family (None: left out).
AGENT_TESTS = {
    "tool_invocation_via_json": "tool-call-request",
    "tool_invocation_via_continuation": "tool-call-request",
    "tool_invocation_via_implicit": "tool-call-request",
    "tool_chaining_escalation": "tool-call-request",
    "tool_description_injection": "exfiltration-request",
    "function_override_attempt": "prompt-extraction",
    "context_stuffing": None,
    "context_dilution": None,
}
# (folder, glob, kind): documents no earlier split sampled (see build_round12.DOCUMENTS for the
# ones rounds 9-12 read; rounds 1-7 read whole packages: build_fresh/round3/4/5/7.STDLIB_PACKAGES).
DOCUMENTS = [
    ("test", "exception_hierarchy.txt", "docs"),
    ("test/test_tkinter", "README", "docs"),
    ("test/xmltestdata/c14n-20", "README", "docs"),
    ("test/ziptestdata", "README.md", "docs"),
    ("test/data", "README", "docs"),
    ("test/sndhdrdata", "README", "docs"),
    ("test/test_lib2to3/data", "README", "docs"),
    ("test/test_asyncio", "*.py", "code"),
    ("test/test_peg_generator", "*.py", "code"),
]

Item = tuple[str, str, str, str, str]  # (source, family, template, payload id, text)


def read(whl: Path, member: str) -> str:
    with zipfile.ZipFile(whl) as z:
        return z.read(member).decode("utf-8")


def assigned(source: str, name: str, env: dict[str, Any] | None = None) -> Any:
    """The value assigned to `name` (first assignment anywhere in the module), evaluated with
    no builtins and only `env` (literals, or a `base64` call)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            expr = ast.Expression(node.value)
            return eval(compile(expr, name, "eval"), {"__builtins__": {}, **(env or {})})  # noqa: S307
    raise KeyError(name)


def aicu_texts(whl: Path) -> list[Item]:
    out: list[Item] = []
    src = read(whl, "aicu/generators/markdown_exfil_gen.py")
    domain = assigned(src, "EXFIL_DOMAIN")
    for p in assigned(src, "EXFIL_PAYLOADS", {"EXFIL_DOMAIN": domain}):
        out.append(("aicu-scanner", "exfiltration-request", "aicu:markdown_exfil", f"aicu:{p['id']}", p["text"]))
    for node in ast.walk(ast.parse(read(whl, "aicu/agent_tests.py"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AgentTestCase":
            kw = {k.arg: k.value for k in node.keywords}
            name = ast.literal_eval(kw["name"])
            category = ast.literal_eval(kw["category"])
            family = AGENT_TESTS.get(name, "prompt-extraction")
            if family is None:
                continue
            out.append(("aicu-scanner", family, f"aicu:agent:{category}", f"aicu:{ast.literal_eval(kw['test_id'])}",
                        ast.literal_eval(kw["payload"])))
    for p in assigned(read(whl, "aicu/generators/indirect_injection_gen.py"), "INJECTION_PAYLOADS"):
        out.append(("aicu-scanner", "prompt-extraction", "aicu:indirect_file", f"aicu:{p['id']}", p["text"]))
    for p in yaml.safe_load(read(whl, "aicu/payloads/file_payloads.yaml"))["file_payloads"]:
        out.append(("aicu-scanner", "prompt-extraction", f"aicu:file:{p['family']}", f"aicu:{p['id']}", p["content"]))
    return out


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def harness_tools(whl: Path) -> tuple[list[tuple[str, str, dict[str, Any]]], list[Item]]:
    """(whole poisoned definitions as (family, template, tool), their poisoned field texts)."""
    src = read(whl, "protocol_tests/mcp_tool_poisoning_harness.py")
    clean = strings(assigned(src, "CLEAN_TOOLS"))
    uuid = SimpleNamespace(uuid4=lambda: SimpleNamespace(hex="5eed13"))
    v1 = strings(assigned(src, "tool_v1"))
    tools: list[tuple[str, str, dict[str, Any]]] = []
    for tool in assigned(src, "POISONED_TOOLS"):
        tools.append(("exfiltration-request", "asb:poisoned_tools", tool))
    for name in ("tool_v2", "tool_v3"):
        tools.append(("exfiltration-request", "asb:rug_pull", assigned(src, name)))
    tools.append(("exfiltration-request", "asb:registry_upload", assigned(src, "poisoned_upload", {"uuid": uuid})))
    for enc, note in assigned(src, "ENCODED_PAYLOADS", {"base64": base64}).items():
        family = "exfiltration-request" if enc == "base64" else "instruction-override"
        tools.append((family, f"asb:encoded:{enc}", {
            "name": f"test_tool_{enc}", "description": "A normal-looking tool.",
            "inputSchema": {"type": "object", "properties": {
                "input": {"type": "string", "description": f"User input. Note: {note}"}}}}))
    texts: list[Item] = []
    seen: set[str] = set()
    for family, tid, tool in tools:
        for s in strings(tool):
            if s not in clean and s not in v1 and len(s) > 40 and s not in seen and family != "instruction-override":
                seen.add(s)
                texts.append(("agent-security-harness", family, tid, f"asb:{len(texts)}", s))
    return tools, texts


def harness_results(whl: Path) -> list[Item]:
    """The `[SYSTEM OVERRIDE]` tool result text of mcp_harness.py (a string literal)."""
    out: list[Item] = []
    for node in ast.walk(ast.parse(read(whl, "protocol_tests/mcp_harness.py"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "[SYSTEM OVERRIDE]" in node.value:
            text = node.value.strip()
            if all(text != o[4] for o in out):
                out.append(("agent-security-harness", "exfiltration-request", "asb:mcp_override",
                            f"asb:override:{len(out)}", text))
    return out


def probe_texts(whl: Path) -> tuple[list[Item], list[Item]]:
    """(tool-list texts for definitions, tool-role texts for results) of agent-probe-ai."""
    descriptions: list[Item] = []
    results: list[Item] = []
    for member in ("agent_probe/probes/agent_injection.py", "agent_probe/probes/confused_deputy.py"):
        for node in ast.walk(ast.parse(read(whl, member))):
            if not isinstance(node, ast.Dict):
                continue
            keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
            if "role" not in keys or "content" not in keys:
                continue
            role = node.values[keys.index("role")]
            try:
                content = ast.literal_eval(node.values[keys.index("content")])
            except ValueError:
                continue  # f-strings: the probes' own system prompts with canaries, no attack
            pid = f"agent-probe:{member.rsplit('/', 1)[1][:-3]}:{len(descriptions) + len(results)}"
            if getattr(role, "value", "") == "tool":
                results.append(("agent-probe-ai", "exfiltration-request", "agent-probe:tool_result", pid, content))
            elif getattr(role, "value", "") == "system" and content.startswith("Available tools:"):
                descriptions.append(("agent-probe-ai", "exfiltration-request", "agent-probe:tool_list", pid, content))
    return descriptions, results


def documents() -> list[tuple[str, str, str]]:
    if sys.version.split()[0] != build.PYTHON_VERSION:
        raise SystemExit(f"build with Python {build.PYTHON_VERSION} (pinned)")
    lib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for folder, pattern, kind in DOCUMENTS:
        for f in sorted((lib / folder).glob(pattern)):
            out.append((f"stdlib:{folder}/{f.name}", kind, f.read_text(encoding="utf-8", errors="replace")))
    return out


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random("round13-12")
    sources: dict[str, Any] = {"python": build.PYTHON_VERSION, "wheels": {}, "attacks": {}}
    for name, licence in ATTACK_PACKAGES.items():
        whl = root / "attacks" / name
        sources["attacks"][name] = {"licence": licence, "sha256": hashlib.sha256(whl.read_bytes()).hexdigest()}
    corpus: list[tuple[str, str, str]] = []
    for group, kind, text in documents():
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if len(c[2]) > 200]
    known = build_round3.development_text(("dev", "test", "fresh", "round3", "round4", "round5", "round7",
                                           "round9", "round10", "round12"))
    whole, field_texts = harness_tools(root / "attacks" / HARNESS)
    probe_desc, probe_results = probe_texts(root / "attacks" / PROBE)
    result_texts = (aicu_texts(root / "attacks" / AICU) + harness_results(root / "attacks" / HARNESS)
                    + probe_results)
    descriptions = [p for p in field_texts + probe_desc if not build_round3.shares_text(p[4], known)]
    result_texts = [p for p in result_texts if not build_round3.shares_text(p[4], known)]
    whole = [w for w in whole if not build_round3.shares_text(json.dumps(w[2]), known)]
    # few texts: every one planted twice in a result
    results = build_round3.attacks(result_texts + descriptions, hosts, rng, copies=2,
                                   copied=("aicu-scanner", "agent-security-harness", "agent-probe-ai"))
    clean = [{"source": "stdlib", "group": g, "kind": k, "text": t} for g, k, t in corpus[1::2][:600]]
    tools = build.benign_tools("test")
    in_definitions = descriptions + [p for p in result_texts if p[1] in ("exfiltration-request", "tool-call-request")]
    poisoned = build_round3.poisoned_tools(in_definitions, tools, rng, 2 * len(in_definitions))
    poisoned += [{"source": "agent-security-harness", "family": fam, "template": tid, "payload": f"{tid}:whole",
                  "where": "whole", "tool": copy.deepcopy(tool)} for fam, tid, tool in whole]
    out = HERE / "round13"
    out.mkdir(exist_ok=True)
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz", poisoned)
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("round13 result texts", len(result_texts), "description texts", len(descriptions), "whole tools",
          len(whole), "injected", len(results), "clean", len(clean), "poisoned tools", len(poisoned))


if __name__ == "__main__":
    main()
