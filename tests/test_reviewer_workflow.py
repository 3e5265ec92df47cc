"""Reviewer workflow: record through the live proxy, test policies, diff, explain, docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mitmproxy import http, io

from cli.docs import policy_reference
from egress.redact import encoded_forms
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin, Reply

REPO = Path(__file__).resolve().parents[1]

# Recorded flows keep the test origin's port, which replay judges: the rules list it.
OLD = """
    hosts:
      allow:
        - hosts: [allowed.test, other.test]
          ports: ["*"]
"""
NEW = """
    hosts:
      allow:
        - hosts: [allowed.test]
          ports: ["*"]
        - hosts: [other.test]
          ports: ["*"]
          methods: [GET]
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=120)


def curl(proc: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], env=proc.client_env(),
                          capture_output=True, text=True, check=False)


def read(path: Path) -> list[http.HTTPFlow]:
    with path.open("rb") as fh:
        return [f for f in io.FlowReader(fh).stream() if isinstance(f, http.HTTPFlow)]


def test_record_then_diff_two_policies(tmp_path: Path, egress: EgressFactory, write_policy: PolicyWriter,
                                       origin: Origin) -> None:
    origin.routes["/big"] = lambda r: Reply(200, {"Content-Type": "text/plain"}, b"B" * 200_000)
    record = tmp_path / "session.mitm"
    old = write_policy(OLD, "old.yaml")
    new = write_policy(NEW, "new.yaml")
    proc = egress(old, "--record", str(record), "--record-max-body", "10KiB")
    base_a, base_o = f"https://allowed.test:{origin.port}", f"https://other.test:{origin.port}"
    assert curl(proc, f"{base_a}/one").returncode == 0
    assert curl(proc, "-X", "POST", "-d", "hello", f"{base_o}/form").returncode == 0
    assert curl(proc, f"{base_o}/big").returncode == 0
    curl(proc, f"https://denied.test:{origin.port}/x")
    proc.stop()

    flows = read(record)
    assert [f.request.path for f in flows] == ["/one", "/form", "/big", "/x"]
    # the denied host's request, answered inside the tunnel held for it, is recorded too
    assert flows[3].request.method == "GET" and flows[3].request.host == "denied.test"
    assert flows[3].metadata["bottle-egress"]["verdict"] == "block"
    big = flows[2].response
    assert big is not None and big.raw_content is not None
    assert len(big.raw_content) < 11_000 and b"truncated 189760 bytes" in big.raw_content
    assert flows[0].metadata["bottle-egress"]["verdict"] == "allow"
    assert oct(record.stat().st_mode & 0o777) == "0o600"

    res = cli("replay", str(record), "--policy", str(old), "--against", str(new), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"] == {"flows": 4, "newly_blocked": 1, "newly_allowed": 0, "findings_changed": 0,
                              "unchanged": 3}
    [change] = doc["changes"]
    assert change["change"] == "newly-blocked" and change["method"] == "POST"
    assert change["cause"].startswith("hosts/request-not-allowed")
    table = cli("replay", str(record), "--policy", str(old), "--against", str(new))
    assert "newly-blocked" in table.stdout and "1 newly blocked" in table.stdout
    reverse = json.loads(cli("replay", str(record), "--policy", str(new), "--against", str(old),
                             "--format", "json").stdout)
    assert reverse["summary"]["newly_allowed"] == 1


def test_policy_test_reports_failures_with_exit_code(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("hosts:\n  allow:\n    - hosts: [api.github.com]\n      methods: [GET]\n")
    tests = tmp_path / "p.tests.yaml"
    tests.write_text("""
cases:
  - name: read allowed
    request: {url: "https://api.github.com/user"}
    expect: {verdict: allow}
  - name: wrong expectation on purpose
    request: {method: POST, url: "https://api.github.com/user", body: {a: 1}}
    expect: {verdict: allow, absent_rules: [hosts/request-not-allowed]}
  - name: mcp exchange is judged like any request
    mcp:
      url: "https://mcp.evil.example/mcp"
      request: {jsonrpc: "2.0", id: 1, method: tools/list}
      response: {jsonrpc: "2.0", id: 1, result: {tools: []}}
    expect: {verdict: block, rules: [hosts/host-not-allowed]}
""")
    res = cli("policy", "test", str(policy), str(tests))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    marks = [line.split()[0] for line in lines[1:] if line.startswith(("PASS", "FAIL"))]
    assert marks == ["PASS", "FAIL", "PASS"]
    assert "expected verdict allow" in res.stdout and "unexpected hosts/request-not-allowed" in res.stdout
    assert "2 passed, 1 failed" in res.stdout
    bad = tmp_path / "bad.tests.yaml"
    bad.write_text("cases:\n  - name: x\n    expect: {verdict: maybe}\n")
    res = cli("policy", "test", str(policy), str(bad))
    assert res.returncode == 2 and f"{bad}:3" in res.stderr and "Traceback" not in res.stderr


def test_explain_names_the_deciding_rule(tmp_path: Path) -> None:
    res = cli("policy", "explain", str(REPO / "policies/default.yaml"), "--url",
              "https://api.github.com/gists", "--method", "POST")
    assert res.returncode == 0
    assert "hosts: block by deny[0] (no-gists)" in res.stdout
    assert "verdict: block by hosts/host-denied" in res.stdout
    res = cli("policy", "explain", str(REPO / "policies/default.yaml"), "--url", "https://pypi.org/simple/")
    assert "hosts: allow by allow[2] (python-packages)" in res.stdout and "verdict: allow" in res.stdout
    res = cli("policy", "explain", str(REPO / "policies/default.yaml"), "--url", "notaurl")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_generated_reference_is_current() -> None:
    text = "\n".join(policy_reference()) + "\n"
    current = (REPO / "docs/policy-reference.md").read_text()
    assert text == current, ("docs/policy-reference.md is stale: "
                             "run `bottle policy docs --output docs/policy-reference.md`")
    for rule in ("hosts/host-not-allowed", "limits/body-too-large", "error/addon-exception"):
        assert rule in current


def test_recorded_flows_hold_neither_secrets_nor_injected_credentials(
        tmp_path: Path, egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    real = "realtok-" + "Qm9vdHN0cmFwVG9rZW5WYWx1ZTQ0NTU"
    leaked = "ghp_" + "R8xk2LmQ7vN4pW9sT3yU6zA1bC5dE0fG2hJ4"  # a GitHub token shape (DLP rule)
    record = tmp_path / "session.mitm"
    policy = write_policy("""
        hosts:
          allow:
            - hosts: [allowed.test, other.test]
              ports: ["*"]
        dlp:
          actions: {github-token: redact}
        credentials:
          - name: api
            host: allowed.test
            header: "Authorization: Bearer {secret}"
            source: {env: REAL_TOKEN}
            placeholder: {env: API_TOKEN}
    """)
    proc = egress(policy, "--record", str(record), env={"REAL_TOKEN": real})
    placeholder = proc.env["API_TOKEN"]
    base = f"https://allowed.test:{origin.port}"
    ok = curl(proc, "-H", f"Authorization: Bearer {placeholder}", f"{base}/with-credential")
    assert ok.returncode == 0
    redacted = curl(proc, "-X", "POST", "-d", f"note={leaked}", f"https://other.test:{origin.port}/paste")
    assert redacted.returncode == 0
    laundered = curl(proc, "-o", "/dev/null", "-w", "%{http_code}", "-H",
                     f"Authorization: Bearer {placeholder}", f"https://other.test:{origin.port}/x")
    assert laundered.stdout == "403"  # the placeholder may only go to its own host
    proc.stop()

    # what really left: the origin saw the real credential and a redacted body
    seen = {k.lower(): v for k, v in origin.seen[0].headers.items()}
    assert seen["authorization"] == f"Bearer {real}"
    assert len(origin.seen) == 2
    assert origin.seen[1].body == b"note=[REDACTED:github-token]"
    blob = record.read_bytes()
    assert blob
    for secret in (real, leaked):
        for form in encoded_forms(secret):
            assert form.encode() not in blob, "a secret reached the recorded flow file"
    flows = read(record)
    assert flows[0].request.headers["authorization"] == f"Bearer {placeholder}"
    # the recording replays, and a stricter policy's diff is computed from it
    strict = write_policy(NEW, "strict.yaml")
    res = cli("replay", str(record), "--policy", str(policy), "--against", str(strict), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"]["flows"] == len(flows) and doc["summary"]["newly_blocked"] >= 1
    for secret in (real, leaked):
        assert secret not in res.stdout and secret not in proc.stderr()
