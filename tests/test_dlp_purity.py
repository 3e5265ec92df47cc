"""The DLP scanner is pure (issue 15): its modules import nothing from `egress.sources`,
read and write no file when imported, built and run, and leave the derived cache alone;
the I/O lives in `egress.sources.dlp_catalogue`, which still fills and reads the cache."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DLP = REPO / "egress" / "scan" / "dlp"
TOKEN = "tok_" + "Q7r8A1b2C3d4E5f6G7h8"

# A one-rule catalogue: the engine is built from text, as a caller that read it would.
CATALOGUE = """\
rules:
  - id: test-token
    description: A test token.
    regex: 'tok_[A-Za-z0-9]{20}'
    anchors: [tok_]
    examples: ['tok_Q7r8A1b2C3d4E5f6G7h8']
    near_misses: ['tok_short']
"""

# Runs in a fresh interpreter: an audit hook records every file opened after the imports
# while the engine is built and scans (modules, and the interpreter's and installed
# libraries' own files, such as ruamel's plugin lookup, aside).
PROBE = """\
import json, sys
from egress.scan.dlp.rules.catalogue import parse_catalogue
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import ScanContext

opened = []

own = (sys.prefix, sys.base_prefix)

def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir") and isinstance(args[0], str):
        path = args[0]
        if not path.endswith((".py", ".pyc", ".so")) and not path.startswith(own):
            opened.append(path)

sys.addaudithook(hook)
rules = parse_catalogue(sys.argv[1])
engine = DLPEngine(None, rules, known_values=[("db", "correct-horse-battery-staple-42")])
found = [m.rule for m in engine.scan("key " + sys.argv[2] + " and correct-horse-battery-staple-42",
                                     "body", ScanContext())]
found += [m.rule for m in engine.scan_body(("x=" + sys.argv[2]).encode(), "application/json")]
print(json.dumps({"opened": opened, "found": found}))
"""


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_scanner_modules_import_nothing_that_does_io() -> None:
    modules = sorted(DLP.glob("*.py"))
    assert len(modules) > 10
    for path in modules:
        bad = {m for m in imported_modules(path)
               if m.startswith("egress.sources") or m in ("egress.derived_cache",
                                                          "egress.sources.derived_cache")}
        assert not bad, f"{path.name} imports {bad}"


def test_scanner_opens_no_file_and_leaves_the_cache_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "BOTTLE_EGRESS_CACHE": str(cache),
           "BOTTLE_EGRESS_SYSTEM_CACHE": str(tmp_path / "system")}
    res = subprocess.run([sys.executable, "-c", PROBE, CATALOGUE, TOKEN], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "test-token" in out["found"] and "known-secret" in out["found"]
    assert out["opened"] == []
    assert not cache.exists() and not (tmp_path / "system").exists()


def test_the_loader_in_sources_fills_and_reads_the_cache(tmp_path: Path) -> None:
    """The I/O did not vanish with the purity: building the proxy's engine still goes
    through the derived cache (a second process loads what the first one stored)."""
    env = {**os.environ, "BOTTLE_EGRESS_CACHE": str(tmp_path),
           "BOTTLE_EGRESS_SYSTEM_CACHE": str(tmp_path / "none")}
    code = ("from egress.sources.dlp_catalogue import dlp_engine\n"
            "e = dlp_engine(backend='hyperscan')\n"
            "print(getattr(e.prefilter, 'from_cache', None))\n")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600, check=False) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert [r.stdout.strip() for r in runs] == ["False", "True"]
    kinds = sorted(p.name.split("-")[1] for p in tmp_path.glob("*.bin"))
    assert kinds == ["catalogue", "prefilter"]
