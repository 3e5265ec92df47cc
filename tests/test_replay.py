"""`bottle replay`: the same chain offline, one verdict per flow, stable JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from egress.findings import Finding
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.verdict import denial_body
from proxy.replay import Replayer, ReplayResult, format_json, read_flows
from tests.support.flows import http_flow, write_flows

REPO = Path(__file__).resolve().parents[1]
SECRET = "ghp_R7eplQy3SxV0kd82MzLw5JfNa1TgU9cHb4Po"

POLICY = """
hosts:
  allow:
    - hosts: [api.github.com]
      methods: [GET]
    - hosts: [pypi.org]
limits:
  max_body_bytes: 1KiB
"""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, check=False)


def test_replay_json_contract_in_input_order(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    flows = write_flows(tmp_path / "a.mitm", [
        http_flow("GET", "https://api.github.com/user?session=opaque-session-value-1234", status=200,
                  response_body=b"{}"),
        http_flow("POST", "https://api.github.com/gists", body=b"x"),
        http_flow("GET", "https://evil.example/steal"),
        http_flow("PUT", "https://pypi.org/upload", body=b"y" * 5000),
    ])
    more = write_flows(tmp_path / "b.mitm", [http_flow("GET", "https://pypi.org/simple/", status=200)])
    res = run_cli("replay", str(flows), str(more), "--policy", str(policy), "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["verdict"] for r in rows] == ["allow", "block", "block", "block", "allow"]
    assert all(set(r) == {"id", "type", "method", "url", "verdict", "findings"} for r in rows)
    assert rows[1]["findings"] == [{"scanner": "hosts", "rule": "request-not-allowed",
                                    "action": "block", "where": "request"}]
    assert rows[2]["findings"][0]["rule"] == "host-not-allowed"
    assert rows[3]["findings"][0] == {"scanner": "limits", "rule": "body-too-large",
                                      "action": "block", "where": "request.body"}
    assert rows[0]["type"] == "http" and rows[0]["method"] == "GET"
    assert "opaque-session-value" not in res.stdout  # query values never printed
    table = run_cli("replay", str(flows), "--policy", str(policy))
    assert table.returncode == 0 and "host-not-allowed" in table.stdout


def test_audit_mode_degrades_blocks_to_audit() -> None:
    compiled = compile_policy(parse_policy("mode: audit\n" + POLICY), "p")
    [result] = Replayer(compiled).run([http_flow("GET", "https://evil.example/")])
    assert result.verdict == "allow"
    assert result.findings[0].action == "audit" and result.findings[0].rule == "host-not-allowed"


def test_replay_of_a_missing_or_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    res = run_cli("replay", str(tmp_path / "nope.mitm"))
    assert res.returncode == 2 and "nope.mitm" in res.stderr and "Traceback" not in res.stderr
    junk = tmp_path / "junk.mitm"
    junk.write_bytes(b"this is not a flow file")
    res = run_cli("replay", str(junk))
    assert res.returncode == 2 and "junk.mitm" in res.stderr and "Traceback" not in res.stderr


def test_replay_runs_the_same_fail_closed_guard() -> None:
    class Exploding:
        name = "exploding"

        def request(self, flow: object) -> None:
            raise RuntimeError("bug")

    compiled = compile_policy(parse_policy(POLICY), "p")
    [result] = Replayer(compiled, extra_addons=[Exploding()]).run(
        [http_flow("GET", "https://api.github.com/")])
    assert result.verdict == "block"
    assert [(f.scanner, f.rule) for f in result.findings] == [("error", "addon-exception")]


def test_diff_judges_each_flow_as_an_independent_replay_would(tmp_path: Path) -> None:
    """Diff judges one read of each flow twice (restoring it in between); the verdicts must be
    those of two separate replays, even where the first judgement rewrote the flow."""
    from cli.diff import diff

    token = "ghp_" + "R8xk2LmQ7vN4pW9sT3yU6zA1bC5dE0fG2hJ4"
    flows = write_flows(tmp_path / "m.mitm", [
        http_flow("POST", "https://api.github.com/notes", {"Content-Type": "text/plain"},
                  f"see {token} here".encode(), 200, b"ok"),
        http_flow("GET", f"https://api.github.com/q?t={token}", status=200),
        http_flow("GET", "https://evil.example/"),
        http_flow("POST", "https://pypi.org/legacy/", body=b"x" * 3000, status=200),
    ])
    a = compile_policy(parse_policy(POLICY.replace("methods: [GET]", "methods: [GET, POST]")
                                    + "dlp:\n  actions: {github-token: redact}\n"), "a")
    b = compile_policy(parse_policy(POLICY), "b")
    independent = [(x.verdict, y.verdict, [f.rule for f in x.findings], [f.rule for f in y.findings])
                   for x, y in zip(Replayer(a).run(read_flows([flows])),
                                   Replayer(b).run(read_flows([flows])), strict=True)]
    changes = list(diff([flows], a, b))
    assert len(changes) == len(independent)
    for change, (va, vb, _, _) in zip(changes, independent, strict=True):
        if va == vb and change is None:
            continue
        assert change is not None and (change.old_verdict, change.new_verdict) == (va, vb)
    assert independent[0][0] == "allow" and independent[0][1] == "block"  # redacted vs blocked


def test_large_and_chunked_bodies_are_judged_as_the_live_proxy_streams_them() -> None:
    """Live, DLP scans a body above `dlp.stream_threshold` (or chunked) chunk by chunk as it
    streams; replay must feed it the same way, or a large body would replay as allowed."""
    compiled = compile_policy(parse_policy("""
hosts:
  allow:
    - hosts: [pypi.org]
limits:
  max_body_bytes: 8MiB
"""), "p")
    filler = b"x" * (2 * 1024 * 1024)
    large = filler + b" " + SECRET.encode() + b" " + filler
    flows = [
        http_flow("POST", "https://pypi.org/upload", body=large,
                  headers={"Content-Length": str(len(large))}),
        http_flow("POST", "https://pypi.org/upload", body=b"a" * 100 + SECRET.encode(),
                  headers={"Transfer-Encoding": "chunked"}),
        http_flow("POST", "https://pypi.org/upload", body=filler),
    ]
    results = list(Replayer(compiled).run(flows))
    assert [r.verdict for r in results] == ["block", "block", "allow"]
    assert [f.rule for f in results[0].findings] == ["github-token"]
    assert [f.rule for f in results[1].findings] == ["github-token"]


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=12))
@settings(max_examples=200, deadline=None)
def test_json_lines_and_denial_bodies_are_what_json_dumps_writes(reason: str, where: str,
                                                                 rule: str) -> None:
    # Both are written by one shared compact encoder instead of `json.dumps` per call.
    finding = Finding("dlp", rule, "block", where, reason, hint=reason[::-1])
    result = ReplayResult("id", "http", "POST", where, "block", (finding, finding))
    assert list(format_json([result])) == [json.dumps(result.as_json(), separators=(",", ":"))]
    doc = json.loads(denial_body(finding, "flow-1", "bottle"))
    assert denial_body(finding, "flow-1", "bottle") == json.dumps(
        doc, separators=(",", ":")).encode() + b"\n"
