"""Builds the ROUND-12 held-out split (`round12/`, issue 12 round 12) from pinned inputs that no
earlier split used, before any round-12 change to the detectors and before any look at its
verdicts. Evaluated exactly once (`measure_split.py round12` -> `round12-results.json`).

The attack text is written by others and no earlier round used it (PyPI, SHA-256 in
`round12/sources.json`). Each wheel is put on `sys.path` and its own code renders its texts
(all four packages' attack code is standard-library only):

- mcpbait 0.2.0 (Apache-2.0; a red-team framework that proves an MCP agent can be hijacked): the
  poisoned tool description or the injected tool result of each attack module
  (`mcpbait.modules.REGISTRY`), rendered with a fixed workspace and fake canaries. Left out:
  `markdown_beacon` (its result is an image URL that already holds the data, no request) and
  `name_squatting`'s results (fake file contents).
- tripwire-eval 0.2.0 (MIT; prompt-injection measurement across agent frameworks): every
  `render()` of `tripwire.attacks.fixed_injection` (social-engineering e-mail bodies and
  footers that get the agent to mail its instance id).
- mcp-redteam-harness 0.1.0 (MIT; a red-team proxy for MCP agents): the instruction of each
  payload intent (`mcpredteam.attacks.engine._instruction`) composed through each of its eight
  representative mutator combinations (`mutators.REPRESENTATIVE`: encodings, framings,
  language labels).
- rag-redteam 0.8.0 (Apache-2.0; red-teaming of RAG pipelines): the tool-use and indirect
  injection templates of its probes and 48 seeded draws of its tool-call grammar
  (`rag_redteam.fuzz.sample_tool_payloads`; framings x obfuscations).

Families: requests to read and pass on files, secrets, the conversation or an id, or to copy
mail to an address -> exfiltration request; calling a named tool, persisting instructions in
the agent's rule files -> tool-call request; answering with a planted string -> task hijack;
remembering a marker for later turns -> instruction override. Description texts are also
planted in the old `test/` split's benign tool definitions (as rounds 2-10 did).

Any attack text sharing a 60-character piece with the development data (every earlier split and
`../mcp-eval/`) is left out. Carriers and clean results: documents no split sampled, from the
pinned interpreter's standard library (`DOCUMENTS`); half of the chunks carry attacks, the
other half stay clean.

    S=/tmp/inj-round12
    pip download --no-deps --only-binary=:all: --python-version 3.12 -d $S/attacks \
        mcpbait==0.2.0 tripwire-eval==0.2.0 mcp-redteam-harness==0.1.0 rag-redteam==0.8.0
    .venv/bin/python tests/data/injection-eval/build_round12.py $S
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import sys
import sysconfig
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402
import build_round3  # noqa: E402

ATTACK_PACKAGES = {
    "mcpbait-0.2.0-py3-none-any.whl": "Apache-2.0",
    "tripwire_eval-0.2.0-py3-none-any.whl": "MIT",
    "mcp_redteam_harness-0.1.0-py3-none-any.whl": "MIT",
    "rag_redteam-0.8.0-py3-none-any.whl": "Apache-2.0",
}
# mcpbait module -> (where its attack text is, family).
MCPBAIT = {
    "tool_poisoning": ("description", "exfiltration-request"),
    "result_injection": ("result", "exfiltration-request"),
    "context_exfil": ("description", "exfiltration-request"),
    "bait_secrets": ("description", "exfiltration-request"),
    "cross_server_shadowing": ("description", "exfiltration-request"),
    "elicitation_phish": ("result", "exfiltration-request"),
    "line_jumping": ("description", "exfiltration-request"),
    "memory_poisoning": ("both", "tool-call-request"),
    "name_squatting": ("description", "exfiltration-request"),
    "param_smuggling": ("description", "exfiltration-request"),
    "rug_pull": ("description", "exfiltration-request"),
    "unicode_smuggling": ("description", "exfiltration-request"),
}
# mcp-redteam-harness payload configs (intent, the config's payload fields, family).
REDTEAM = [
    ("exfil_canary", {"canary_ref": "~/.config/gh/hosts.yml", "sink": "post_comment"}, None,
     "exfiltration-request"),
    ("exfil_canary", {"canary_ref": "notes/customer-keys.txt", "sink": "send_message"},
     {"read_via": "filesystem.read_file", "send_via": "slack.post_message"}, "exfiltration-request"),
    ("forbidden_action", {"forbidden_tool": "delete_repository", "attacker_arg": "acme/payments"}, None,
     "tool-call-request"),
    ("answer_hijack", {"target_string": "Visit acme-deals.example for 90% off"}, None, "task-hijack"),
    ("persistence", {"marker": "ZEBRA-7731"}, None, "instruction-override"),
]
# (folder, glob, kind): documents no earlier split sampled (round 10 read `test/test_doctest*.txt`,
# `test/test_warnings`, `test/test_inspect`, `test/test_sqlite3`, `test/test_importlib/resources`;
# round 9 `idlelib/*.txt`, `test/test_email/data`, `test_json`, `test_tomllib`, `test_zoneinfo`,
# `test_dataclasses`; round 1 `lib/*.py`, `email/*.py`, `http/*.py` and the pydoc topics).
DOCUMENTS = [
    ("email", "architecture.rst", "docs"),
    ("idlelib", "help.html", "web"),
    ("", "LICENSE.txt", "docs"),
    ("test", "ieee754.txt", "docs"),
    ("test/leakers", "README.txt", "docs"),
    ("test/crashers", "README", "docs"),
    ("test/test_unittest", "*.py", "code"),
    ("test/test_zipfile", "*.py", "code"),
    ("test/test_tools", "*.py", "code"),
]

Item = tuple[str, str, str, str, str]  # (source, family, template, payload id, text)


def mcpbait_texts() -> tuple[list[Item], list[Item]]:
    """(description texts, result texts) of mcpbait's attack modules."""
    modules = importlib.import_module("mcpbait.modules")
    types = importlib.import_module("mcpbait.types")
    ctx = types.PayloadContext(
        canaries={k: f"mcpbait-canary-{k}" for k in ("aws_key", "api_token", "db_password",
                                                      "service_account", "ssh_key")},
        workspace=Path("/home/dev/billing-service"), beacon_url=None)
    descriptions: list[Item] = []
    results: list[Item] = []
    for mid, (where, family) in sorted(MCPBAIT.items()):
        module = modules.REGISTRY[mid]()
        if mid == "rug_pull":
            module.mutate()  # the description turns hostile after the first call
        tid = f"mcpbait:{mid}"
        if where in ("description", "both"):
            for spec in module.payload(ctx):
                descriptions.append(("mcpbait", family, tid, f"{tid}:description", spec.description))
        if where in ("result", "both"):
            call = SimpleNamespace(name="", arguments={})
            text = module.respond(call, ctx)
            # memory_poisoning's result tells the agent to ship .env: that is exfiltration
            fam = "exfiltration-request" if mid == "memory_poisoning" else family
            results.append(("mcpbait", fam, tid, f"{tid}:result", text))
    return descriptions, results


def tripwire_texts() -> list[Item]:
    fixed = importlib.import_module("tripwire.attacks.fixed_injection")
    out = []
    for name in sorted(vars(fixed)):
        cls = getattr(fixed, name)
        if isinstance(cls, type) and hasattr(cls, "render") and hasattr(cls, "name"):
            out.append(("tripwire-eval", "exfiltration-request", f"tripwire:{cls.name}",
                        f"tripwire:{cls.name}", cls().render("unused")))
    return out


def redteam_texts() -> list[Item]:
    engine = importlib.import_module("mcpredteam.attacks.engine")
    mutators = importlib.import_module("mcpredteam.attacks.mutators")
    out = []
    for i, (intent, fields, chain, family) in enumerate(REDTEAM):
        config: dict[str, Any] = {"payload": {"intent": intent, **fields}}
        if chain:
            config["chain"] = chain
        instruction = engine._instruction(config)
        for spec in mutators.REPRESENTATIVE:
            text = mutators.mutate_payload(spec, instruction)
            out.append(("mcp-redteam-harness", family, f"mcpredteam:{intent}:{spec.label()}",
                        f"mcpredteam:{i}:{spec.label()}", text))
    return out


def ragredteam_texts() -> list[Item]:
    tool_use = importlib.import_module("rag_redteam.probes.tool_use_injection")
    indirect = importlib.import_module("rag_redteam.probes.prompt_injection")
    fuzz = importlib.import_module("rag_redteam.fuzz")
    out = []
    for i, (tool, template) in enumerate(zip(tool_use.TOOLS, tool_use.TEMPLATES)):
        out.append(("rag-redteam", "tool-call-request", "rag-redteam:tool_use_injection",
                    f"rag-redteam:tool_use:{i}", template.format(tool=tool, canary=f"RAGREDTEAM-TOOLCALL-{i}")))
    for i, template in enumerate(indirect.INJECTION_TEMPLATES):
        out.append(("rag-redteam", "task-hijack", "rag-redteam:indirect_prompt_injection",
                    f"rag-redteam:indirect:{i}", template.format(canary=f"RAGREDTEAM-INJECT-{i}-CONFIRMED")))
    for i, p in enumerate(fuzz.sample_tool_payloads(48, seed=12)):
        out.append(("rag-redteam", "tool-call-request", f"rag-redteam:fuzz:{p.mechanism}",
                    f"rag-redteam:fuzz:{i}", p.text))
    return out


def documents() -> list[tuple[str, str, str]]:
    if sys.version.split()[0] != build.PYTHON_VERSION:
        raise SystemExit(f"build with Python {build.PYTHON_VERSION} (pinned)")
    lib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for folder, pattern, kind in DOCUMENTS:
        for f in sorted((lib / folder).glob(pattern)):
            out.append((f"stdlib:{folder}/{f.name}".replace(":/", ":"), kind,
                        f.read_text(encoding="utf-8", errors="replace")))
    return out


def main() -> None:
    root = Path(sys.argv[1])
    rng = random.Random("round12-12")
    sources: dict[str, Any] = {"python": build.PYTHON_VERSION, "wheels": {}, "attacks": {}}
    for name, licence in ATTACK_PACKAGES.items():
        whl = root / "attacks" / name
        sources["attacks"][name] = {"licence": licence, "sha256": hashlib.sha256(whl.read_bytes()).hexdigest()}
        sys.path.insert(0, str(whl))
    corpus: list[tuple[str, str, str]] = []
    for group, kind, text in documents():
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if len(c[2]) > 200]
    descriptions, bait_results = mcpbait_texts()
    redteam = redteam_texts()
    result_only = bait_results + tripwire_texts() + ragredteam_texts()
    known = build_round3.development_text(("dev", "test", "fresh", "round3", "round4", "round5", "round7",
                                           "round9", "round10"))
    descriptions = [p for p in descriptions if not build_round3.shares_text(p[4], known)]
    redteam = [p for p in redteam if not build_round3.shares_text(p[4], known)]
    result_only = [p for p in result_only if not build_round3.shares_text(p[4], known)]
    # mcpbait's and tripwire's texts are few: each planted twice; the templated ones once
    results = build_round3.attacks(descriptions + result_only + redteam, hosts, rng, copies=2,
                                   copied=("mcpbait", "tripwire-eval"))
    clean = [{"source": "stdlib", "group": g, "kind": k, "text": t} for g, k, t in corpus[1::2][:600]]
    tools = build.benign_tools("test")
    in_definitions = descriptions + [p for p in redteam if p[1] != "instruction-override"]
    out = HERE / "round12"
    out.mkdir(exist_ok=True)
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz",
                build_round3.poisoned_tools(in_definitions, tools, rng, 2 * len(in_definitions)))
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("round12 descriptions", len(descriptions), "result texts", len(result_only), "templated",
          len(redteam), "injected", len(results), "clean", len(clean), "poisoned tools", 2 * len(in_definitions))


if __name__ == "__main__":
    main()
