"""Prerequisites: a missing one skips locally and fails under CI=true (never a silent pass)."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, fix: str) -> None:
    message = f"missing prerequisite: {what} ({fix}; .ci/run installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_binary(name: str, package: str | None = None) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        missing(name, f"apt-get install {package or name}")
        raise AssertionError("unreachable")
    return path


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        missing(f"root ({why})", "run the tests as root, as .ci/run does")
