"""The compiled hostname scorer (mypyc, `egress/scan/hostnames/native.py`): built wherever this
machine can build it, the same scores as the pure Python, and never run stale."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from egress.scan.hostnames import HostnameException, HostnameScorer, native

REPO = Path(__file__).resolve().parents[1]
FROZEN = REPO / "tests" / "data" / "hostnames" / "scores-frozen.json"
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]

# Prints one JSON row list for the scorer the process loaded (argv: repo to import from).
_ROWS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from egress.scan.hostnames import HostnameException, HostnameScorer, native
names = json.loads(sys.stdin.read())
rows = []
for block in (100.0, 60.0):
    for exceptions in ((), (HostnameException("d", domain="amazonaws.com"),
                            HostnameException("s", suffix="cloudfront.net"))):
        scorer = HostnameScorer(exceptions, block_score=block)
        for n in names:
            s = scorer.score_uncached(n)
            rows.append([repr(s), s.explanation, s.summary(), s.blocked(block), s.encoded()])
print(json.dumps({"status": native.status(), "rows": rows}))
"""


def _names() -> list[str]:
    """The frozen sample (every corpus family and the corner cases), each also upper-, title-
    and swap-cased, with and without a trailing dot."""
    names = json.loads(FROZEN.read_text())["names"]
    return list(dict.fromkeys(v for n in names for c in (n, n.upper(), n.title(), n.swapcase())
                              for v in (c, c + ".")))


def _rows(names: list[str], env: dict[str, str], repo: Path = REPO) -> dict[str, object]:
    res = subprocess.run([sys.executable, "-c", _ROWS, str(repo)], input=json.dumps(names),
                         env=env, cwd=repo, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out: dict[str, object] = json.loads(res.stdout)
    return out


def test_the_scorer_is_compiled_where_this_machine_can_build_it() -> None:
    lacking = native.missing()
    assert lacking is not None or native.compiled(), (
        f"a C compiler and mypyc are here, but the scorer runs {native.status()}: "
        f"run {native.BUILD_COMMAND} (scripts/setup.sh does)")


def test_compiled_and_pure_scores_are_identical() -> None:
    names = _names()
    pure = _rows(names, {**os.environ, native.PURE_ENV: "1"})
    assert pure["status"] == f"pure Python ({native.PURE_ENV} is set)"
    rows = []
    for block in (100.0, 60.0):
        for exceptions in ((), (HostnameException("d", domain="amazonaws.com"),
                                HostnameException("s", suffix="cloudfront.net"))):
            scorer = HostnameScorer(exceptions, block_score=block)
            for n in names:
                s = scorer.score_uncached(n)
                rows.append([repr(s), s.explanation, s.summary(), s.blocked(block), s.encoded()])
    assert len(rows) == 4 * len(names) > 4000
    assert any(r[3] for r in rows) and not all(r[3] for r in rows)  # both verdicts compared
    # this process runs the compiled scorer wherever it can be built (the test above)
    assert rows == pure["rows"], native.status()


def test_a_build_older_than_its_sources_is_not_loaded(tmp_path: Path) -> None:
    """Extension modules beside sources edited since (here: empty files, and a library named
    by another digest) are never imported: every module loads from its source."""
    repo = tmp_path / "checkout"
    shutil.copytree(REPO / "egress", repo / "egress",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    here = repo / "egress" / "scan" / "hostnames"
    for module in native.MODULES:
        (here / f"{module}{EXT}").write_bytes(b"")  # not loadable: importing one would fail
    (here / f"_native_{'0' * 16}__mypyc{EXT}").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env["PYTHONPATH"] = str(repo)
    names = ["aGVsbG8gd29ybGQgaGVsbG8.example.com", "ec2.us-east-1.amazonaws.com"]
    stale = _rows(names, env, repo)
    assert str(stale["status"]).startswith("pure Python (the build is stale")
    assert stale["rows"] == _rows(names, {**os.environ, native.PURE_ENV: "1"})["rows"]
    probe = ("import json, sys; sys.path.insert(0, sys.argv[1]); import egress.scan.hostnames.scorer; "
             "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() "
             "if n.startswith('egress.scan.hostnames.'))))")
    res = subprocess.run([sys.executable, "-c", probe, str(repo)], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    files = json.loads(res.stdout)
    assert files and all(f.endswith(".py") and f.startswith(str(repo)) for f in files)
