"""Large request bodies are scanned off the event loop, within `limits.scan_timeout`.

Through the real proxy to a real origin: a scan that overruns its budget refuses the request
as `limits/scan-timeout` (JSON 413, nothing forwarded, an audit event), and while one large
body is being scanned, small requests on another connection keep being answered. Plus the
unit-level reason the worker needs its own hyperscan scratch space: two threads scanning at
once with one engine."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from addons.dlp import OFF_LOOP_BYTES
from benchmarks.agent_corpus import body
from egress.sources.dlp_catalogue import dlp_engine
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.proxy import EgressProcess
from tests.support.rawhttp import Reply, read_reply, tunnel
from tests.test_dlp_decoding_e2e import POLICY

JSON = {"content-type": "application/json"}


@pytest.fixture
def start(egress: EgressFactory, write_policy: PolicyWriter) -> Callable[[str], EgressProcess]:
    def run(policy: str) -> EgressProcess:
        return egress(write_policy(policy))
    return run


def client_for(proc: EgressProcess) -> httpx.Client:
    return httpx.Client(proxy=proc.url, verify=ssl.create_default_context(
        cafile=proc.env["SSL_CERT_FILE"]), timeout=120)


def test_a_scan_over_its_time_budget_refuses_the_request(
        start: Callable[[str], EgressProcess], origin: Origin) -> None:
    proc = start(POLICY + "    limits:\n      scan_timeout: 0.001\n")
    base = f"https://allowed.test:{origin.port}"
    large = body(512 * 1024, seed=3)
    assert OFF_LOOP_BYTES <= len(large) < 1024**2  # scanned off the loop, buffered whole
    with client_for(proc) as client:
        small = client.get(base + "/small")
        res = client.post(base + "/large", content=large, headers=JSON)
    assert small.status_code == 200  # no body, no body scan: nothing to overrun
    assert res.status_code == 413
    assert res.headers["x-bottle-block-reason"].startswith("limits/scan-timeout")
    assert res.json()["rule"] == "limits/scan-timeout"
    assert origin.paths() == ["/small"]
    proc.stop()
    events = [json.loads(line) for line in proc.audit_path.read_text().splitlines()]
    large_events = [e for e in events if e.get("path") == "/large"]
    assert [f["rule"] for e in large_events for f in e["findings"]] == ["scan-timeout"]
    assert large_events[0]["verdict"] == "block"


def test_small_requests_are_answered_while_a_large_body_is_scanned(
        start: Callable[[str], EgressProcess], origin: Origin) -> None:
    # A large buffered body (not streamed): several MB of agent conversation, whose scan
    # takes far longer than a small request's round trip.
    # (A generous time budget: the machine running the suite may be busy.)
    proc = start(POLICY + "    dlp:\n      stream_threshold: 32MiB\n    limits:\n      scan_timeout: 300\n")
    base = f"https://allowed.test:{origin.port}"
    large = body(2_000_000, seed=5)
    sent = threading.Event()
    replies: list[Reply | None] = []

    def send_large() -> None:
        # A raw socket: once `sendall` returns, the proxy has read all but the last socket
        # buffer of the body, so what happens after is its scan, not the upload.
        with tunnel(proc, f"allowed.test:{origin.port}", timeout=300) as sock:
            sock.sendall(b"POST /large HTTP/1.1\r\nHost: allowed.test\r\n"
                         b"Content-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(large)}\r\n\r\n".encode() + large)
            sent.set()
            replies.append(read_reply(sock))

    worker = threading.Thread(target=send_large)
    with client_for(proc) as client:
        assert client.get(base + "/warm").status_code == 200
        worker.start()
        assert sent.wait(300)
        n = 0
        while worker.is_alive():
            assert client.get(f"{base}/small-{n}").status_code == 200
            n += 1
    worker.join()
    assert replies and replies[0] is not None and replies[0].status == 200
    order = origin.paths()
    assert "/large" in order
    # Small requests sent after the large body was uploaded reached the origin before it:
    # they were served while it was held for its scan (inline, they would wait behind it).
    before_large = order[:order.index("/large")]
    assert len([p for p in before_large if p.startswith("/small-")]) >= 5, order


def test_two_threads_scan_with_one_engine_at_once() -> None:
    """A hyperscan database's scratch space serves one scan at a time: the worker thread
    must use its own, or the loop's scans fail while a large body is being scanned."""
    engine = dlp_engine()
    large = body(400_000, seed=6)
    errors: list[str] = []

    def scan_large() -> None:
        try:
            for _ in range(3):
                engine.scan_body(large, "application/json")
        except Exception as e:  # the failure being tested for (ScratchInUseError)
            errors.append(type(e).__name__)

    worker = threading.Thread(target=scan_large)
    worker.start()
    small = 0
    while worker.is_alive():
        assert engine.scan_body(b'{"a": "hello ghp_x world"}', "application/json") == []
        small += 1
    worker.join()
    assert errors == [] and small > 0


def test_scan_timeout_is_a_policy_key(tmp_path: Path) -> None:
    from egress.policy.loader import parse_policy
    from egress.policy.problems import PolicyError
    assert parse_policy("version: 1\nlimits:\n  scan_timeout: 2.5\n").limits.scan_timeout == 2.5
    assert parse_policy("version: 1\n").limits.scan_timeout == 10.0
    with pytest.raises(PolicyError):
        parse_policy("version: 1\nlimits:\n  scan_timeout: 0\n")
