"""Hostname exfiltration through the real proxy: the origin and the resolver never see a
blocked name, whether it travels as the CONNECT target, the TLS SNI or the Host header."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from typing import Any

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.dns import DNSFixture
from tests.support.origin import Origin

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test, "*.allowed.test"]
"""
# 60 random-looking characters under an allowed wildcard: the allowlist alone would pass it.
LABEL = "k2j4h6g8f0d2s4a6p8o0i2u4y6t8r0e2w4q6z8x0c2v4b7n1m3q5w7e9r2t4"
ENCODED = f"{LABEL}.allowed.test"


def curl(proc: Any, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *extra, url],
                          env=proc.client_env(), capture_output=True, text=True, check=False)


def events(proc: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.audit_path.read_text().splitlines() if line]


def never_seen(name: str, dns: DNSFixture, origin: Origin) -> None:
    assert all(name not in n for n in dns.resolver.names()), dns.resolver.names()
    assert all(name not in r.host and name != r.sni for r in origin.seen)


def test_encoded_connect_target_is_refused_before_any_lookup(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, dns: DNSFixture) -> None:
    proc = egress(write_policy(POLICY))
    ok = curl(proc, f"https://api.allowed.test:{origin.port}/ok", "-w", "\n%{http_code}")
    assert ok.stdout.splitlines()[-1] == "200", ok.stderr
    res = curl(proc, f"https://{ENCODED}:{origin.port}/x", "-v")
    assert res.returncode != 0 and "403" in res.stderr
    assert "X-Bottle-Block-Reason: hostnames/encoded-hostname" in res.stderr
    never_seen(LABEL, dns, origin)
    assert origin.paths() == ["/ok"]
    blocked = [e for e in events(proc) if e.get("verdict") == "block"]
    assert blocked and blocked[0]["findings"][0]["rule"] == "encoded-hostname"
    assert LABEL not in proc.audit_path.read_text()  # the data part is scrubbed


def test_host_header_fronting_and_encoding_inside_tls(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, dns: DNSFixture) -> None:
    proc = egress(write_policy(POLICY))
    for header, rule in ((f"Host: {ENCODED}", "hostnames/encoded-hostname"),
                         (f"Host: other.allowed.test:{origin.port}", "hostnames/domain-fronting")):
        res = curl(proc, f"https://api.allowed.test:{origin.port}/p", "-i", "-H", header)
        head = res.stdout[res.stdout.rfind("HTTP/"):]
        assert " 403" in head.splitlines()[0], res.stdout
        assert f"x-bottle-block-reason: {rule}" in head.lower()
    never_seen(LABEL, dns, origin)
    assert origin.seen == []
    assert "other.allowed.test" not in dns.resolver.names()


def _tls_through_proxy(proc: Any, connect: str, sni: str, host: str) -> str:
    """CONNECT to `connect`, TLS with SNI `sni`, then one request with Host `host`."""
    proxy_host, proxy_port = proc.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((proxy_host, int(proxy_port)), timeout=20) as raw:
        raw.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += raw.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        ctx = ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            tls.sendall(f"GET /tls HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    return data.decode("utf-8", "replace")


def test_sni_is_judged_at_the_handshake(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, dns: DNSFixture) -> None:
    proc = egress(write_policy(POLICY))
    target = f"api.allowed.test:{origin.port}"
    ok = _tls_through_proxy(proc, target, "api.allowed.test", target)
    assert ok.startswith("HTTP/1.1 200"), ok
    # an encoded SNI: the connection is condemned, even though Host names an ordinary host
    bad = _tls_through_proxy(proc, target, ENCODED, target)
    assert bad.startswith("HTTP/1.1 403") and "hostnames/encoded-hostname" in bad, bad
    # SNI differs from the CONNECT target: domain fronting
    fronted = _tls_through_proxy(proc, target, "cdn.allowed.test", target)
    assert fronted.startswith("HTTP/1.1 403") and "hostnames/domain-fronting" in fronted, fronted
    never_seen(LABEL, dns, origin)
    assert origin.paths() == ["/tls"]
    # decided at the ClientHello (where: sni), before any request was read
    wheres = [f["where"] for e in events(proc) if e.get("verdict") == "block" for f in e["findings"]]
    assert wheres[:2] == ["sni", "sni"], wheres
    assert "cdn.allowed.test" not in dns.resolver.names()
