"""Policy loading is bounded: alias expansion ("billion laughs"), node count, nesting depth and
size. Over-limit files get one clear error (file, line, the limit), in `bottle policy check`,
`bottle replay --policy`, `bottle policy test` and in a running proxy, which keeps its last
good policy and stays responsive and stoppable."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from egress.policy.loader import MAX_POLICY_BYTES, parse_policy
from egress.policy.problems import PolicyError
from egress.policy.yamlbounds import MAX_ALIASES, MAX_DEPTH, MAX_NODES
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

REPO = Path(__file__).resolve().parents[1]
POLICY = "hosts:\n  allow:\n    - hosts: [allowed.test]\n"


def billion_laughs(levels: int = 9) -> str:
    """Under 500 bytes that expand to 9**levels strings (the review's anchor bomb)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nhosts: {allow: [{hosts: [allowed.test]}]}\n"


def _limited() -> None:
    # The old loader expands the bomb at ~70 MB/s: cap the child so a regression fails the
    # test instead of eating the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def bottle(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=_limited)


def _problem(text: str, source: str = "p.yaml") -> str:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, source)
    assert len(err.value.problems) == 1
    return str(err.value)


def test_an_anchor_bomb_is_rejected_naming_file_line_and_limit() -> None:
    bomb = billion_laughs()
    assert len(bomb) < 520
    msg = _problem(bomb)
    assert msg.startswith("p.yaml:") and f"more than {MAX_NODES} nodes" in msg
    line = int(msg.split(":")[1])
    assert 2 <= line <= 9  # where the expansion crossed the limit


def test_too_many_aliases_too_deep_and_too_large_are_rejected() -> None:
    many = "x: &x 1\nhosts:\n  allow:\n    - hosts: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    assert f"more than {MAX_ALIASES} alias uses" in _problem(many)
    deep = "hosts: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    assert f"nested more than {MAX_DEPTH} levels" in _problem(deep)
    very_deep = "hosts: " + "[" * 100_000 + "]" * 100_000 + "\n"  # RecursionError before
    assert "p.yaml:1:" in _problem(very_deep)
    flat = "hosts:\n  allow:\n    - hosts: [" + ",".join(["a.test"] * (MAX_NODES + 1)) + "]\n"
    assert f"more than {MAX_NODES} nodes" in _problem(flat)
    big = "# " + "x" * MAX_POLICY_BYTES + "\n"
    assert "the limit is" in _problem(big)


def test_anchors_used_normally_still_work() -> None:
    policy = parse_policy("""
hosts:
  allow:
    - name: github
      hosts: &gh [github.com, api.github.com]
      methods: &read [GET, HEAD]
    - hosts: [pypi.org]
      methods: *read
    - hosts: *gh
      methods: [POST]
      paths: [/repos/]
""")
    rules = policy.hosts.allow
    assert rules[1].methods == ["GET", "HEAD"] and rules[2].hosts == ["github.com", "api.github.com"]


def test_cli_rejects_the_bomb_with_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    res = bottle("policy", "check", str(bomb))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"{bomb}:") and "YAML too complex" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1

    flows = tmp_path / "none.mitm"
    flows.write_bytes(b"")
    res = bottle("replay", "--policy", str(bomb), str(flows))
    assert res.returncode == 2 and "YAML too complex" in res.stderr and "Traceback" not in res.stderr

    good = tmp_path / "good.yaml"
    good.write_text(POLICY)
    res = bottle("replay", "--policy", str(good), "--against", str(bomb), str(flows))
    assert res.returncode == 2 and "YAML too complex" in res.stderr

    cases = tmp_path / "cases.yaml"
    cases.write_text(billion_laughs().replace("hosts:", "cases:", 1))
    res = bottle("policy", "test", str(good), str(cases))
    assert res.returncode == 2 and "YAML too complex" in res.stderr and "Traceback" not in res.stderr


def _status(proc: Any, url: str) -> str:
    res = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                          "%{http_connect} %{http_code}", url], env=proc.client_env(),
                         capture_output=True, text=True, check=False)
    connect, code = res.stdout.split()
    return code if code != "000" else connect


def test_a_bomb_written_over_the_live_policy_is_refused_and_the_proxy_stays_responsive(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    path = write_policy(POLICY)
    proc = egress(path)
    allowed, other = f"https://allowed.test:{origin.port}/a", f"https://other.test:{origin.port}/"
    assert _status(proc, allowed) == "200"
    path.write_text(billion_laughs().replace("[allowed.test]", "[allowed.test, other.test]"))
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [json.loads(x) for x in proc.audit_path.read_text().splitlines() if x]
        if any(e["event"] == "policy-reload-failed" for e in events):
            break
        time.sleep(0.1)
    failed = [e for e in events if e["event"] == "policy-reload-failed"]
    assert failed and "YAML too complex" in failed[0]["problems"][0]
    assert f"{path}:" in failed[0]["problems"][0]
    # the last good policy is in force, and the proxy answers at once
    assert _status(proc, allowed) == "200" and _status(proc, other) == "403"
    assert [s.path for s in origin.seen] == ["/a", "/a"]
    assert "reload FAILED" in proc.stderr() and "Traceback" not in proc.stderr()
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(15) == 0
    last = json.loads(proc.audit_path.read_text().splitlines()[-1])
    assert last["event"] == "stop"
