"""`bottle policy suggest --from-audit` (issue 14, "from block to rule"): a real proxy refuses
requests and writes its audit log; the command turns the refusals into allow rules (a diff that
keeps the reviewer's comments), `--write --yes` applies it, and a proxy started with the patched
policy lets exactly those requests through while DLP still blocks the secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from egress.policy.loader import parse_policy
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

REPO = Path(__file__).resolve().parents[1]
AWS_KEY = "AKIA" + "QWERTYUIOPASDFGH"

POLICY = """\
# reviewed by sec-team 2026-12-01: keep this comment
version: 1
hosts:
  allow:
    - name: test-origin      # the allowed origin
      hosts: [allowed.test]
      methods: [GET]
      paths: [/docs]
  # deny rules below
  deny: []
"""


def bottle(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


def curl(env: dict[str, str], url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *extra, url], env=env,
                          capture_output=True, text=True, check=False)


def traffic(env: dict[str, str], port: int) -> list[subprocess.CompletedProcess[str]]:
    base = f"https://other.test:{port}"
    return [
        curl(env, f"{base}/repos/acme/widgets/issues?token=abc"),
        curl(env, f"{base}/repos/acme/widgets/pulls/7"),
        curl(env, f"{base}/repos/acme/widgets/issues", "-X", "POST", "-d", "title=x"),
        curl(env, f"https://allowed.test:{port}/upload/big", "-X", "PUT", "-d", "data"),
        curl(env, f"https://allowed.test:{port}/docs/x", "-X", "GET", "-d", f"key={AWS_KEY}"),
    ]


def test_suggest_turns_refusals_into_rules_that_let_them_through(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    path = write_policy(POLICY)
    proc = egress(path)
    for res in traffic(proc.client_env(), origin.port):
        assert "hello from origin" not in res.stdout, res.stdout
    proc.stop()
    assert origin.paths() == []
    audit = proc.audit_path

    out = bottle("policy", "suggest", "--from-audit", str(audit), "--policy", str(path))
    assert out.returncode == 0, out.stderr
    diff = out.stdout
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    text = "\n".join(added)
    # one prefix for the two GETs under /repos/acme/widgets, the POST on its own path
    assert "hosts: [other.test]" in text
    assert "methods: [GET]" in text and "paths: [/repos/acme/widgets]" in text
    assert "methods: [POST]" in text and "paths: [/repos/acme/widgets/issues]" in text
    assert "methods: [PUT]" in text and "paths: [/upload/big]" in text
    assert "paths: [/]" not in text and "hosts: [\"*\"]" not in text
    # DLP suggests nothing but is listed with its count; no secret, no query value anywhere
    assert "#   dlp/" in diff, diff
    assert AWS_KEY not in diff + out.stderr and "abc" not in diff
    assert "dlp" not in text and "suppress" not in text

    # --write without a terminal and without --yes refuses, and writes nothing
    before = path.read_bytes()
    refused = bottle("policy", "suggest", "--from-audit", str(audit), "--policy", str(path),
                     "--write", stdin="y\n")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert path.read_bytes() == before

    wrote = bottle("policy", "suggest", "--from-audit", str(audit), "--policy", str(path),
                   "--write", "--yes")
    assert wrote.returncode == 0, wrote.stderr
    patched = path.read_text()
    assert patched.startswith(POLICY.split("  # deny rules below")[0])  # every old line kept
    assert "# deny rules below\n  deny: []\n" in patched
    assert "# reviewed by sec-team 2026-12-01: keep this comment" in patched
    parse_policy(patched, str(path))
    again = bottle("policy", "suggest", "--from-audit", str(audit), "--policy", str(path))
    assert again.returncode == 0 and "+++" not in again.stdout, again.stdout

    proc2 = egress(path)
    results = traffic(proc2.client_env(), origin.port)
    for res in results[:4]:
        assert "hello from origin" in res.stdout, (res.stdout, res.stderr)
    assert json.loads(results[4].stdout)["rule"].startswith("dlp/"), results[4].stdout
    assert sorted(origin.paths()) == sorted([
        "/repos/acme/widgets/issues?token=abc", "/repos/acme/widgets/pulls/7",
        "/repos/acme/widgets/issues", "/upload/big"])
    proc2.stop()
    for artefact in (audit, proc2.audit_path):
        assert AWS_KEY not in artefact.read_text()


def test_write_refuses_the_built_in_default(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    res = bottle("policy", "suggest", "--from-audit", str(audit), "--write", "--yes")
    assert res.returncode == 2 and "--write needs --policy" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("since", ["bogus", "10x"])
def test_bad_since_is_a_one_line_error(tmp_path: Path, since: str) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    res = bottle("policy", "suggest", "--from-audit", str(audit), "--since", since)
    assert res.returncode == 2 and "--since" in res.stderr and "Traceback" not in res.stderr


def _tty_run(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, answer its prompt, return (exit code, everything it
    printed)."""
    import pty
    import select

    env = dict(os.environ, PYTHONPATH=str(REPO))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI with the terminal as stdin/stdout/stderr
        os.chdir(REPO)
        os.execvpe(sys.executable, [sys.executable, "-m", "cli.main", *args], env)
    out = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"[y/N]" in out:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize(("answer", "written"), [(b"y\n", True), (b"n\n", False)])
def test_write_asks_on_a_terminal(tmp_path: Path, answer: bytes, written: bool) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text(json.dumps({
        "time": "2026-12-07T00:00:00.000Z", "event": "http", "method": "GET", "scheme": "https",
        "host": "api.example.com", "port": 443, "path": "/v1/models", "status": 403,
        "verdict": "block", "findings": [{"scanner": "hosts", "rule": "host-not-allowed",
                                          "action": "block", "where": "connect", "reason": "x"}],
        "policy": "0123456789abcdef"}) + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    code, out = _tty_run(["policy", "suggest", "--from-audit", str(audit), "--policy",
                          str(policy), "--write"], answer)
    assert f"Write these rules to {policy}? [y/N]" in out, out
    assert "Traceback" not in out
    if written:
        assert code == 0, out
        assert "hosts: [api.example.com]" in policy.read_text()
        parse_policy(policy.read_text(), str(policy))
    else:
        assert code == 2 and "nothing written" in out, out
        assert policy.read_text() == POLICY
