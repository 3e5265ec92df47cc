"""Bad input to any `bottle` command is a user error: one line naming the input, exit 2 (or 1
for a policy that fails `policy check`), never a traceback or the "internal error" exit (70).

The three crashes of the review (a huge length prefix in a flow file, deeply nested YAML,
binary input to `mcp hash`) first, then a sweep of every command over garbage inputs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "policies/default.yaml"


def _limited() -> None:
    # A regression (allocating what a length prefix claims) fails instead of exhausting RAM.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def bottle(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """The real `bottle` entry point (`cli.main`), as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                         input=stdin, capture_output=True, timeout=120, check=False,
                         preexec_fn=_limited)
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode(errors="replace"),
                                       res.stderr.decode(errors="replace"))


def assert_user_error(res: subprocess.CompletedProcess[str], names: str, code: int = 2) -> None:
    assert res.returncode == code, res
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], res.stderr


def test_a_huge_length_prefix_in_a_flow_file(tmp_path: Path) -> None:
    for name, blob in (("huge.mitm", b"99999999999999999:"), ("big.mitm", b"9999999999999:{}")):
        path = tmp_path / name
        path.write_bytes(blob)
        assert_user_error(bottle("replay", "--policy", str(POLICY), str(path)), str(path))


def test_deeply_nested_yaml(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("hosts: " + "[" * 200_000 + "]" * 200_000 + "\n")
    flows = tmp_path / "none.mitm"
    flows.write_bytes(b"")
    res = bottle("replay", "--policy", str(deep), str(flows))
    assert_user_error(res, f"{deep}:1:")
    assert "nested more than" in res.stderr


def test_binary_input_to_mcp_hash(tmp_path: Path) -> None:
    binary = tmp_path / "tools.json"
    binary.write_bytes(b"\xff\xfe\x00\x81" + os.urandom(64))
    assert_user_error(bottle("mcp", "hash", str(binary)), f"{binary}: not UTF-8")
    assert_user_error(bottle("mcp", "hash", stdin=b"\x80\x81 garbage"), "-: not UTF-8")


@pytest.fixture
def garbage(tmp_path: Path) -> Path:
    (tmp_path / "binary").write_bytes(b"\x00\xff" * 100 + b"\x80")
    (tmp_path / "dir").mkdir()
    (tmp_path / "har.mitm").write_text('{"log": {"entries": [{"request": {}}]}}')
    (tmp_path / "zero.mitm").write_bytes(b"0:}")
    (tmp_path / "nested.mitm").write_bytes(b"3:2:]]" + b"")
    (tmp_path / "empty.mitm").write_bytes(b"")
    return tmp_path


# (arguments with {g} for the garbage directory, text the one error line must contain)
CASES = [
    (["replay", "--policy", str(POLICY), "{g}/binary"], "{g}/binary"),
    (["replay", "--policy", str(POLICY), "{g}/har.mitm"], "{g}/har.mitm"),
    (["replay", "--policy", str(POLICY), "{g}/zero.mitm"], "{g}/zero.mitm"),
    (["replay", "--policy", str(POLICY), "{g}/nested.mitm"], "{g}/nested.mitm"),
    (["replay", "--policy", str(POLICY), "{g}/dir"], "{g}/dir"),
    (["replay", "--policy", "{g}/binary", "{g}/empty.mitm"], "{g}/binary"),
    (["policy", "test", str(POLICY), "{g}/binary"], "{g}/binary"),
    (["policy", "explain", str(POLICY), "--url", "https://x.test:99999999/"], "--url"),
    (["policy", "explain", str(POLICY), "--url", "https://[::1/"], "--url"),
    (["policy", "docs", "--output", "{g}/missing/dir/out.md"], "{g}/missing/dir/out.md"),
    (["dlp", "scan", "--policy", str(POLICY), "{g}/missing"], "{g}/missing"),
    (["dlp", "scan", "--policy", str(POLICY), "{g}/dir"], "{g}/dir"),
    (["mcp", "hash", "{g}/missing"], "{g}/missing"),
    (["mcp", "hash", "{g}/dir"], "{g}/dir"),
    (["mcp", "pins", "{g}/binary"], "{g}/binary"),
    (["egress", "run", "--listen", "127.0.0.1:0", "--state-dir", "{g}/s",
      "--record", "{g}/binary/x.mitm"], "{g}/binary"),
    (["egress", "run", "--listen", "127.0.0.1:0", "--state-dir", "{g}/s",
      "--audit-log", "{g}/binary/audit.jsonl"], "{g}/binary"),
    (["egress", "run", "--listen", "127.0.0.1:0", "--policy", "{g}/binary"], "{g}/binary"),
]


@pytest.mark.parametrize(("args", "names"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_garbage_inputs_are_user_errors(garbage: Path, args: list[str], names: str) -> None:
    res = bottle(*(a.replace("{g}", str(garbage)) for a in args))
    assert_user_error(res, names.replace("{g}", str(garbage)))


def test_a_policy_check_failure_is_one_line_per_problem(garbage: Path) -> None:
    res = bottle("policy", "check", str(garbage / "binary"), str(garbage / "dir"))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert [line.split(":")[0] for line in res.stderr.strip().splitlines()] == [
        str(garbage / "binary"), str(garbage / "dir")]
