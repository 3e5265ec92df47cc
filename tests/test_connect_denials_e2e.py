"""Denials at CONNECT that reach the agent: every client library shows the rule id.

A host no rule allows used to be refused at CONNECT with a JSON body that clients discard.
Now the proxy completes TLS with a bottle-CA leaf for the denied name, dials nothing, and
answers the first request inside with the JSON denial; where the CA may not issue for the
name (name constraints) the CONNECT is refused with a reason phrase that names rule and host.
A listener stands where the denied name resolves: it must never see a connection, and the
test resolver must never be asked for the name."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from addons.tunnel_denials import reason_phrase
from ca import BottleCA
from cli.launcher import _pretty_event
from egress.findings import Finding
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.dns import DNSFixture
from tests.support.proxy import EgressProcess
from tests.support.rawhttp import proxy_address, read_head, tunnel

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
"""
CONSTRAINED = POLICY + """    ca:
      name_constraints: true
"""
RULE = "hosts/host-not-allowed"


class CountingListener:
    """A TCP listener on loopback that counts the connections it accepts (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    lst = CountingListener()
    yield lst
    lst.close()


def events_for(proc: EgressProcess, host: str) -> list[dict[str, Any]]:
    return [e for line in proc.audit_path.read_text().splitlines() if line
            for e in [json.loads(line)] if e.get("host") == host]


def assert_denial_doc(doc: dict[str, Any], rule: str = RULE) -> None:
    assert doc["error"] == "blocked" and doc["rule"] == rule, doc
    assert doc["hint"] and doc["reason"] and doc["flow"], doc


def assert_nothing_upstream(dns: DNSFixture, listener: CountingListener, name: str) -> None:
    assert name not in dns.resolver.names(), dns.resolver.names()
    assert listener.accepted == 0


def test_every_client_library_shows_the_rule_inside_tls(
        egress: EgressFactory, write_policy: PolicyWriter, dns: DNSFixture,
        listener: CountingListener) -> None:
    proc = egress(write_policy(POLICY))
    bundle = proc.env["SSL_CERT_FILE"]
    url = f"https://denied.test:{listener.port}/agent/path"

    # urllib (http.client): an HTTPError carrying the JSON body
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proc.url}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=bundle)))
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(url, timeout=20)
    assert caught.value.code == 403
    assert_denial_doc(json.loads(caught.value.read()))

    r = requests.get(url, proxies={"https": proc.url}, verify=bundle, timeout=20)
    assert r.status_code == 403 and r.headers["x-bottle-block-reason"].startswith(RULE)
    assert_denial_doc(r.json())

    with httpx.Client(proxy=proc.url, verify=bundle, timeout=20) as c:
        r2 = c.get(url)
    assert r2.status_code == 403
    assert_denial_doc(r2.json())

    for http in ("--http1.1", "--http2"):
        res = subprocess.run(["curl", "-sS", "--max-time", "20", http, "-w", "\n%{http_version} "
                              "%{http_code}", url], env=proc.client_env(), capture_output=True,
                             text=True, check=False)
        body, _, status = res.stdout.rpartition("\n")
        assert status == ("2 403" if http == "--http2" else "1.1 403"), res.stderr
        assert_denial_doc(json.loads(body))

    assert_nothing_upstream(dns, listener, "denied.test")
    # exactly one audit event per denial: the request answered inside, never its CONNECT too
    events = events_for(proc, "denied.test")
    assert len(events) == 5, events
    for event in events:
        assert event["event"] == "http" and event["verdict"] == "block"
        assert event["status"] == 403 and event["path"] == "/agent/path"
        assert [f"{f['scanner']}/{f['rule']}" for f in event["findings"]] == [RULE]
    printed = _pretty_event(json.dumps(events[0]), color=False)
    assert " block " in printed and " 403 " in printed and RULE in printed


def test_plain_http_and_raw_bytes_inside_a_denied_tunnel(
        egress: EgressFactory, write_policy: PolicyWriter, dns: DNSFixture,
        listener: CountingListener) -> None:
    proc = egress(write_policy(POLICY))
    target = f"denied.test:{listener.port}"
    with tunnel(proc, target, tls=False) as sock:
        sock.sendall(f"GET /plain HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 403") and RULE.encode() in head, head
    # Bytes that are neither TLS nor HTTP: the tunnel is closed, nothing is relayed.
    with tunnel(proc, target, tls=False) as sock:
        sock.sendall(b"SSH-2.0-OpenSSH_9.6\r\n" + b"\x00" * 64)
        sock.settimeout(20)
        try:
            got = sock.recv(4096)
        except ConnectionResetError:
            got = b""
        assert b"SSH" not in got
    assert_nothing_upstream(dns, listener, "denied.test")


def test_a_client_that_distrusts_the_ca_still_gets_one_audit_event(
        egress: EgressFactory, write_policy: PolicyWriter, dns: DNSFixture,
        listener: CountingListener) -> None:
    proc = egress(write_policy(POLICY))
    res = subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", proc.url,
                          "--cacert", str(Path(__file__)), f"https://denied.test:{listener.port}/"],
                         capture_output=True, text=True, check=False)
    assert res.returncode != 0
    assert_nothing_upstream(dns, listener, "denied.test")
    deadline = 50
    events: list[dict[str, Any]] = []
    while deadline and not events:  # audited when the client's connection is closed
        events = events_for(proc, "denied.test")
        if not events:
            deadline -= 1
            threading.Event().wait(0.1)
    assert len(events) == 1, events
    assert events[0]["event"] == "connect" and events[0]["status"] == 403
    assert events[0]["verdict"] == "block" and events[0]["findings"][0]["rule"] == "host-not-allowed"


def test_name_constraints_refuse_connect_with_a_reason_phrase(
        egress: EgressFactory, write_policy: PolicyWriter, dns: DNSFixture,
        listener: CountingListener) -> None:
    proc = egress(write_policy(CONSTRAINED))
    bundle = proc.env["SSL_CERT_FILE"]
    url = f"https://denied.test:{listener.port}/"
    phrase = f"Blocked by bottle policy: {RULE} denied.test"

    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proc.url}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=bundle)))
    with pytest.raises(urllib.error.URLError) as caught:
        opener.open(url, timeout=20)
    assert phrase in str(caught.value)
    with pytest.raises(requests.exceptions.ProxyError) as caught_requests:
        requests.get(url, proxies={"https": proc.url}, verify=bundle, timeout=20)
    assert phrase in str(caught_requests.value)
    with pytest.raises(httpx.ProxyError) as caught_httpx, \
            httpx.Client(proxy=proc.url, verify=bundle, timeout=20) as c:
        c.get(url)
    assert phrase in str(caught_httpx.value)
    res = subprocess.run(["curl", "-sS", "-v", "--max-time", "20", url], env=proc.client_env(),
                         capture_output=True, text=True, check=False)
    assert res.returncode != 0 and f"403 {phrase}" in res.stderr, res.stderr

    assert_nothing_upstream(dns, listener, "denied.test")
    events = events_for(proc, "denied.test")
    assert len(events) == 4 and all(e["event"] == "connect" and e["status"] == 403
                                    for e in events), events
    # an allowed host (inside the constraints) is still served
    raw = socket.create_connection(proxy_address(proc), timeout=20)
    with raw:
        raw.sendall(b"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n")
        assert read_head(raw).startswith(b"HTTP/1.1 200")


def test_ca_may_issue_follows_its_name_constraints(tmp_path: Path) -> None:
    free = BottleCA.create(tmp_path / "free", "t1")
    bound = BottleCA.create(tmp_path / "bound", "t2",
                            permitted_hosts=["allowed.test", "*.wild.test", "10.1.2.3"])
    try:
        assert free.may_issue("anything.example") and free.may_issue("10.9.9.9")
        assert bound.may_issue("allowed.test") and bound.may_issue("ALLOWED.test.")
        assert bound.may_issue("a.wild.test") and bound.may_issue("10.1.2.3")
        assert not bound.may_issue("denied.test") and not bound.may_issue("notallowed.test")
        assert not bound.may_issue("10.1.2.4") and not bound.may_issue("[::1]")
    finally:
        free.destroy()
        bound.destroy()


def test_reason_phrase_is_one_printable_line() -> None:
    finding = Finding("hosts", "host-not-allowed", "block", "connect", "not allowed")
    phrase = reason_phrase(finding, "evil\r\nX-Injected: 1\x00é.test")
    assert phrase.startswith("Blocked by bottle policy: hosts/host-not-allowed evil??X-Injected")
    assert all(0x20 <= ord(ch) < 0x7f for ch in phrase)
