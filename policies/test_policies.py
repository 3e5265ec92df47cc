"""Every shipped policy is valid and passes its own expectation file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
POLICIES = sorted(p for p in HERE.rglob("*.yaml") if not p.name.endswith(".tests.yaml"))


def test_every_policy_has_tests() -> None:
    assert POLICIES
    missing = [p.name for p in POLICIES if not p.with_name(p.stem + ".tests.yaml").is_file()]
    assert not missing, f"policies without a .tests.yaml: {missing}"


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: str(p.relative_to(HERE)))
def test_policy_passes_its_tests(policy: Path) -> None:
    tests = policy.with_name(policy.stem + ".tests.yaml")
    res = subprocess.run([sys.executable, "-m", "cli.main", "policy", "test", str(policy), str(tests)],
                         cwd=REPO, capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 failed" in res.stdout
