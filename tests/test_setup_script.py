"""`scripts/setup.sh` (run by `./bottle` and `scripts/test`): one install marker whatever the
extras, progress on stderr (issue 14, trap 8), the compiled hostname scorer built on every run
(a no-op when up to date: egress/scan/hostnames/native.py).

The script runs for real in a copy of the checkout's two inputs (itself and pyproject.toml);
`.venv/bin/python` is a stand-in that logs each pip install instead of downloading, so the
test is offline and fast. What is under test is the script's decision to install or not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/sh
case "$*" in
  *"pip install"*"-e"*) echo "$*" >> "$(dirname "$0")/../pip.log" ;;
  *"native.py build"*) echo "$*" >> "$(dirname "$0")/../build.log" ;;
esac
exit 0
"""


def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/setup.sh").write_bytes((REPO / "scripts/setup.sh").read_bytes())
    (tmp_path / "scripts/setup.sh").chmod(0o755)
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    python = tmp_path / ".venv/bin/python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def setup(root: Path, *args: str) -> tuple[list[str], str]:
    """The pip installs this run made, and its stderr."""
    log = root / ".venv/pip.log"
    before = log.read_text().splitlines() if log.exists() else []
    res = subprocess.run([str(root / "scripts/setup.sh"), *args], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    after = log.read_text().splitlines() if log.exists() else []
    return after[len(before):], res.stderr


def test_bottle_after_the_test_command_does_not_reinstall(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    installs, err = setup(root, "--test")            # scripts/test
    assert len(installs) == 1 and installs[0].endswith("-e .[test,native]"), installs
    assert "installing bottle-egress[test]" in err
    installs, err = setup(root, "--quiet")           # ./bottle
    assert installs == [] and err == ""
    installs, err = setup(root, "--test")
    assert installs == [] and err == ""


def test_plain_install_then_test_extra_installs_once(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    installs, err = setup(root, "--quiet")           # ./bottle on a fresh clone
    assert len(installs) == 1 and installs[0].endswith("-e .[native]"), installs
    # progress on stderr even under --quiet: the first run is slow and must not look hung
    assert "installing bottle-egress into .venv" in err
    assert setup(root, "--quiet")[0] == []
    installs, _ = setup(root, "--test")
    assert len(installs) == 1 and installs[0].endswith("-e .[test,native]")
    assert setup(root, "--quiet")[0] == []


def test_a_changed_pyproject_reinstalls_with_the_extras_already_there(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    setup(root, "--test")
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    installs, err = setup(root, "--quiet")
    assert len(installs) == 1 and installs[0].endswith("-e .[test,native]"), installs
    assert "installing" in err


def test_every_run_builds_the_compiled_scorer(tmp_path: Path) -> None:
    """The build step runs whether or not anything was installed (it is the one that knows
    whether its sources changed), quiet under --quiet."""
    root = checkout(tmp_path)
    setup(root, "--quiet")
    setup(root, "--quiet")
    setup(root, "--test")
    builds = (root / ".venv/build.log").read_text().splitlines()
    assert builds == ["egress/scan/hostnames/native.py build --quiet"] * 2 + \
        ["egress/scan/hostnames/native.py build"]
