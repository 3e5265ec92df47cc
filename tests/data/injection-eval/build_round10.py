"""Builds the ROUND-10 held-out split (`round10/`, issue 12 round 10) from pinned inputs that no
earlier split used, after all round-10 changes to the detectors and before any look at its
verdicts. Evaluated exactly once (`measure_split.py round10` -> `round10-results.json`).

The attack text is written by others and no earlier round used it:

- mcp-stress-test 1.0.3 (PyPI, MIT; a stress-testing framework for MCP security tools whose
  pattern corpus transcribes MCPTox, Unit42, CyberArk and OWASP-MCP categories): every payload
  of `mcp_stress_test/patterns/data/payloads.json` and every `risk-*` template of
  `patterns.json` (the others there describe an attack rather than carry its text). Each text
  is labelled by its source category: data exfiltration, credential theft, privacy leakage,
  message hijacking (CC an outside address) and SSRF -> exfiltration request; command injection
  and XSS -> code insertion; privilege escalation and SQL injection -> tool-call request;
  context manipulation -> instruction override and denial of service -> denial of service (not
  act-directing; reported on their own rows). Texts meant for a tool's `error` are planted in
  tool results; every text is planted twice in a result (random carrier, position and format,
  `build_round3.attacks`) and once per definition draw (`build_round3.poisoned_tools`).

Any attack text sharing a 60-character piece with the development data (every earlier split and
`../mcp-eval/`) is left out. Carriers and clean results: documents no split sampled, from the
pinned interpreter's standard library: the doctest text files `test/test_doctest*.txt`, the
sources of `test/test_warnings`, `test/test_inspect`, `test/test_sqlite3` and
`test/test_importlib/resources`; half of those chunks carry attacks, the other half stay clean.

    S=/tmp/inj-round10
    pip download --no-deps --only-binary=:all: --python-version 3.12 -d $S/attacks mcp-stress-test==1.0.3
    .venv/bin/python tests/data/injection-eval/build_round10.py $S

Tool definitions: the payloads are planted in the benign tool definitions of the old `test`
split (as rounds 2-9 did); there is no round-10 figure for benign definitions.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build  # noqa: E402
import build_round3  # noqa: E402

STRESS = "mcp_stress_test-1.0.3-py3-none-any.whl"
ATTACK_PACKAGES = {STRESS: "MIT"}
DATA = "mcp_stress_test/patterns/data/"
FAMILY = {
    "data_exfiltration": "exfiltration-request", "credential_theft": "exfiltration-request",
    "privacy_leakage": "exfiltration-request", "message_hijacking": "exfiltration-request",
    "ssrf": "exfiltration-request", "command_injection": "code-insertion", "xss": "code-insertion",
    "privilege_escalation": "tool-call-request", "sql_injection": "tool-call-request",
    "context_manipulation": "instruction-override", "denial_of_service": "denial-of-service",
}
# (folder, glob, kind): documents no earlier split sampled (round 9 read `test/test_json`,
# `test_tomllib`, `test_zoneinfo`, `test_dataclasses` and `test/test_email/data`; round 7
# `test/support` and `test/libregrtest`; round 5 `importlib/resources` itself, not its tests).
DOCUMENTS = [
    ("test", "test_doctest*.txt", "docs"),
    ("test/test_warnings", "*.py", "code"),
    ("test/test_inspect", "*.py", "code"),
    ("test/test_sqlite3", "*.py", "code"),
    ("test/test_importlib/resources", "*.py", "code"),
]

Item = tuple[str, str, str, str, str]  # (source, family, template, payload id, text)


def stress_texts(whl: zipfile.ZipFile) -> tuple[list[Item], list[Item]]:
    """(texts for tool definitions, texts for tool errors), each once."""
    rows = [(p["id"], p["category"], p["injection_point"], p["content"])
            for p in json.loads(whl.read(DATA + "payloads.json"))["payloads"]]
    rows += [(p["id"], p["category"], p["injection_point"], p["template"])
             for p in json.loads(whl.read(DATA + "patterns.json"))["patterns"] if p["id"].startswith("risk-")]
    seen: set[str] = set()
    definitions: list[Item] = []
    errors: list[Item] = []
    for pid, category, point, text in rows:
        text = text.strip()
        if text in seen or category not in FAMILY:
            continue
        seen.add(text)
        item = ("mcp-stress-test", FAMILY[category], f"mcp-stress-test:{category}:{point}",
                f"mcp-stress-test:{pid}", text)
        (errors if point == "error" else definitions).append(item)
    return definitions, errors


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
    rng = random.Random("round10-12")
    sources: dict[str, Any] = {"python": build.PYTHON_VERSION, "wheels": {}, "attacks": {}}
    for name, licence in ATTACK_PACKAGES.items():
        sources["attacks"][name] = {
            "licence": licence,
            "sha256": hashlib.sha256((root / "attacks" / name).read_bytes()).hexdigest(),
        }
    corpus: list[tuple[str, str, str]] = []
    for group, kind, text in documents():
        corpus += [(group, kind, c) for c in build.chunks(text, rng)]
    rng.shuffle(corpus)
    hosts = [c for c in corpus[::2] if len(c[2]) > 200]
    with zipfile.ZipFile(root / "attacks" / STRESS) as whl:
        definitions, errors = stress_texts(whl)
    known = build_round3.development_text(("dev", "test", "fresh", "round3", "round4", "round5", "round7",
                                           "round9"))
    definitions = [p for p in definitions if not build_round3.shares_text(p[4], known)]
    errors = [p for p in errors if not build_round3.shares_text(p[4], known)]
    kept = definitions + errors
    results = build_round3.attacks(kept, hosts, rng, copies=2, copied=("mcp-stress-test",))
    clean = [{"source": "stdlib", "group": g, "kind": k, "text": t} for g, k, t in corpus[1::2][:600]]
    tools = build.benign_tools("test")
    out = HERE / "round10"
    out.mkdir(exist_ok=True)
    build.write(out / "injected-results.jsonl.gz", results)
    build.write(out / "clean-results.jsonl.gz", clean)
    build.write(out / "poisoned-tools.jsonl.gz",
                build_round3.poisoned_tools(definitions, tools, rng, 2 * len(definitions)))
    (out / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True) + "\n")
    print("round10 definitions", len(definitions), "errors", len(errors), "injected", len(results),
          "clean", len(clean), "poisoned tools", 2 * len(definitions))


if __name__ == "__main__":
    main()
