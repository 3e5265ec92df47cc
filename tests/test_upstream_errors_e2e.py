"""Failures towards the origin answered as JSON the agent can read, audited as `error`.

Through the live proxy with real clients: an origin that refuses connections, an origin whose
certificate the proxy does not trust, a body over `limits.max_body_bytes`. Each asserts the
bytes the client got (status, JSON rule id), what the origin got, the audit event (verdict,
status) and the line `bottle logs --audit` prints for it."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

import httpx
import pytest

from addons.upstream import classify
from cli.launcher import _pretty_event
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.proxy import EgressProcess

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [down.test, untrusted.test, allowed.test]
    limits:
      max_body_bytes: 4KiB
"""


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def curl(proc: EgressProcess, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", *extra, url],
                          env=proc.client_env(), capture_output=True, text=True, check=False)


def split(res: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    text, _, code = res.stdout.rpartition("\n")
    return int(code), json.loads(text.rpartition("\n\n")[2])  # after any headers (-i)


def audit_lines(proc: EgressProcess, host: str) -> list[str]:
    return [line for line in proc.audit_path.read_text().splitlines()
            if line and json.loads(line).get("host") == host]


def assert_audited(proc: EgressProcess, host: str, verdict: str, status: int, rule: str) -> None:
    lines = audit_lines(proc, host)
    assert len(lines) == 1, lines
    event = json.loads(lines[0])
    assert event["verdict"] == verdict and event["status"] == status, event
    assert [f"{f['scanner']}/{f['rule']}" for f in event["findings"]] == [rule], event
    printed = _pretty_event(lines[0], color=False)
    assert f"  {verdict} " in printed and f" {status}  " in printed and rule in printed, printed


@pytest.mark.parametrize("http", ["--http1.1", "--http2"])
def test_refused_origin_answers_json_502_and_audits_error(
        egress: EgressFactory, write_policy: PolicyWriter, http: str) -> None:
    proc = egress(write_policy(POLICY))
    port = closed_port()
    res = curl(proc, f"https://down.test:{port}/x", "-i", http)
    code, doc = split(res)
    assert code == 502, res.stdout
    assert doc["rule"] == "error/upstream-unreachable" and doc["error"] == "failed", doc
    assert doc["hint"] and doc["flow"]
    head = res.stdout.lower()
    assert ("http/2 502" if http == "--http2" else "http/1.1 502") in head, res.stdout
    assert "x-bottle-block-reason: error/upstream-unreachable" in head
    assert "<html" not in head
    assert_audited(proc, "down.test", "error", 502, "error/upstream-unreachable")


def test_unreachable_upstream_proxy_answers_json_502(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    # the next-hop proxy (pipelock) is down: the allowed request cannot leave
    proc = egress(write_policy(POLICY), "--upstream", f"http://127.0.0.1:{closed_port()}")
    res = curl(proc, f"https://allowed.test:{origin.port}/via-upstream")
    code, doc = split(res)
    assert code == 502 and doc["rule"] == "error/upstream-unreachable", res.stdout
    assert origin.paths() == []
    assert_audited(proc, "allowed.test", "error", 502, "error/upstream-unreachable")


def test_untrusted_origin_certificate_answers_json_502_upstream_tls(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    # The proxy is not told to trust the origin's test CA: its certificate fails verification.
    proc = egress(write_policy(POLICY), trust_origin=False)
    with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as c:
        r = c.get(f"https://untrusted.test:{origin.port}/secret-path")
    assert r.status_code == 502 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["rule"] == "error/upstream-tls" and doc["error"] == "failed", doc
    assert origin.paths() == []  # the handshake failed: no request reached it
    assert_audited(proc, "untrusted.test", "error", 502, "error/upstream-tls")


def test_over_limit_body_answers_our_json_413(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    proc = egress(write_policy(POLICY))
    canary = "BODYCANARY" * 1000  # 10 kB: over the 4 KiB limit, refused on its Content-Length
    with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as c:
        r = c.post(f"https://allowed.test:{origin.port}/upload", content=canary)
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"
    assert r.json()["rule"] == "limits/body-too-large"
    assert origin.paths() == []
    assert_audited(proc, "allowed.test", "block", 413, "limits/body-too-large")
    assert "BODYCANARY" not in proc.audit_path.read_text() + proc.stderr()


def test_failures_are_answered_in_audit_mode_too(
        egress: EgressFactory, write_policy: PolicyWriter) -> None:
    proc = egress(write_policy(POLICY + "    mode: audit\n"))
    res = curl(proc, f"https://down.test:{closed_port()}/x")
    code, doc = split(res)
    assert code == 502 and doc["rule"] == "error/upstream-unreachable"
    assert_audited(proc, "down.test", "error", 502, "error/upstream-unreachable")


@pytest.mark.parametrize(("message", "rule"), [
    ("[Errno 111] Connect call failed ('127.0.0.1', 9)", "upstream-unreachable"),
    ("[Errno -2] Name or service not known", "upstream-unreachable"),
    ("server closed connection", "upstream-unreachable"),
    ("Multiple exceptions: [Errno 110] Connect call failed ('192.0.2.1', 443)", "upstream-timeout"),
    ("timed out", "upstream-timeout"),
    ("TLS handshake failed: certificate verify failed", "upstream-tls"),
    ("Client disconnected", None),
    ("Connection killed: blocked by egress policy: not allowed", None),
    ("Request body exceeds mitmproxy's body_size_limit.", None),
])
def test_failure_messages_are_classified(message: str, rule: str | None) -> None:
    found = classify(message)
    assert (found.rule if found else None) == rule
    if found is not None:
        assert found.status == (504 if rule == "upstream-timeout" else 502) and found.hint
