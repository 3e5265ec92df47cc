"""`limits.scan_timeout` covers every body scan, not only large buffered bodies scanned in
a worker: a small buffered body (scanned on the event loop), a streamed body (each chunk),
a WebSocket message, and the replay of a recorded flow, which gives the same verdict.

Through the real proxy to a real origin, with a tiny budget and an adversarial body (a long
run of one letter, the input that used to cost hyperscan seconds): the flow is refused as
`limits/scan-timeout` (fail closed, an audit event), the origin never receives the body, and
other flows on the same proxy are served. Plus the mechanism that keeps an overrunning scan
from holding its worker thread: the engine checks its budget and stops itself."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from egress.policy.model import DLPSection
from egress.scan import deadline
from egress.sources.dlp_catalogue import dlp_engine
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.pki import ServerCert
from tests.support.proxy import EgressProcess
from tests.support.websocket import EchoOrigin, ProxiedClient

REPO = Path(__file__).resolve().parents[1]
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
          ports: ["*"]  # the test origin's port, in replay too (no --any-port there)
    limits:
      scan_timeout: 0.001
"""
# Under `addons.dlp.OFF_LOOP_BYTES` (128 KiB): scanned on the event loop, where no budget
# applied before.
SMALL = b'{"content": "' + b"A" * 100_000 + b'"}'


def client_for(proc: EgressProcess) -> httpx.Client:
    return httpx.Client(proxy=proc.url, verify=ssl.create_default_context(
        cafile=proc.env["SSL_CERT_FILE"]), timeout=60)


def audit_findings(proc: EgressProcess, path: str | None = None) -> list[str]:
    events = [json.loads(line) for line in proc.audit_path.read_text().splitlines()]
    return [f"{f['scanner']}/{f['rule']}" for e in events if path is None or e.get("path") == path
            for f in e.get("findings", [])]


def test_a_small_buffered_body_over_budget_is_refused_and_replays_the_same(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    policy = write_policy(POLICY)
    flows = tmp_path / "flows.mitm"
    proc = egress(policy, "--record", str(flows))
    base = f"https://allowed.test:{origin.port}"
    with client_for(proc) as client:
        res = client.post(base + "/small-body", content=SMALL,
                          headers={"content-type": "application/json"})
        other = client.get(base + "/other")
    assert res.status_code == 413
    assert res.json()["rule"] == "limits/scan-timeout"
    assert res.headers["x-bottle-block-reason"].startswith("limits/scan-timeout")
    assert other.status_code == 200  # the proxy goes on serving
    assert origin.paths() == ["/other"]  # the refused body never left
    proc.stop()
    assert audit_findings(proc, "/small-body") == ["limits/scan-timeout"]
    # The recorded flow replayed under the same policy: the same verdict, fail closed.
    out = subprocess.run([sys.executable, "-m", "cli.main", "replay", str(flows), "--policy",
                          str(policy), "--format", "json"], cwd=REPO, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    posted = [r for r in rows if r["url"].endswith("/small-body")]
    assert len(posted) == 1 and posted[0]["verdict"] == "block"
    assert [f["rule"] for f in posted[0]["findings"]] == ["scan-timeout"]


def test_a_streamed_body_over_budget_is_cut(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    proc = egress(write_policy(POLICY + "    dlp:\n      stream_threshold: 1000\n"))
    base = f"https://allowed.test:{origin.port}"

    def chunks() -> Iterator[bytes]:
        for _ in range(16):
            yield b"A" * 128 * 1024

    with client_for(proc) as client:
        with pytest.raises(httpx.HTTPError):
            client.post(base + "/streamed", content=chunks())
        assert client.get(base + "/other").status_code == 200
    # The first chunk is held back until it is scanned: it never reached the origin whole.
    assert all(r.path != "/streamed" or len(r.body) < 128 * 1024 for r in origin.seen)
    proc.stop()
    assert audit_findings(proc, "/streamed") == ["limits/scan-timeout"]


def test_a_websocket_message_over_budget_is_dropped(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert: ServerCert) -> None:
    with EchoOrigin(origin_cert) as ws_origin:
        proc = egress(write_policy(POLICY.replace("scan_timeout: 0.001", "scan_timeout: 0.002")))
        client = ProxiedClient(proc.url, "allowed.test", ws_origin.port, proc.env["SSL_CERT_FILE"])
        try:
            assert client.exchange("hello") == "echo:hello"
            denial = json.loads(client.exchange("A" * 60_000))
            assert denial["error"] == "blocked" and denial["rule"] == "limits/scan-timeout"
            with pytest.raises((ConnectionError, OSError)):
                client.exchange("anything else")
        finally:
            client.close()
        time.sleep(0.3)
        assert ws_origin.received == ["hello"]
        proc.stop()
    assert "limits/scan-timeout" in audit_findings(proc)


def test_a_scan_stops_itself_at_its_deadline() -> None:
    """What keeps a worker thread from running on after its flow was refused: the engine
    checks the budget between its steps and raises, rather than finishing a long scan."""
    engine = dlp_engine(DLPSection.model_validate({}))
    text = b"A" * 2_000_000
    with pytest.raises(deadline.ScanTimeout), deadline.within(0.0, started=time.monotonic() - 1):
        engine.scan_body(text, "application/json")
    with deadline.within(3600):  # a budget it does not reach changes nothing
        assert engine.scan_body(b'{"a": "plain words"}', "application/json") == []
    engine.scan_body(b"A" * 1000, "text/plain")  # and outside a budget there is no limit


def test_budgets_nest_and_end() -> None:
    with deadline.within(3600):
        with deadline.within(0.0, started=time.monotonic() - 1), pytest.raises(deadline.ScanTimeout):
            deadline.check()
        deadline.check()  # the outer budget is back
    deadline.check()  # and none after it
