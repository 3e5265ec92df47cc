"""Where the proxy connects, through the live proxy (issue 17 row 9, issue 18 rows 5 and 6): IP
literals in every spelling, ports, and the address a name resolves to. Internal services are
real listeners on loopback that record every connection; the test resolver answers every
`*.test` name with 127.0.0.1, a private address the proxy must not dial unless the policy
lists it. These tests start the proxy without the suite's `--allow-private`/`--any-port`."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.artefacts import audit_events, http_events
from tests.support.dns import DNSFixture
from tests.support.origin import Origin, echo
from tests.support.rawhttp import (
    connect_answer,
    exchange,
    plain_proxy_request,
    proxy_address,
    read_head,
)

REPO = Path(__file__).resolve().parents[1]


class Listener:
    """A TCP service on a loopback address that records every connection and what it got."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while chunk := conn.recv(4096):
                        data += chunk
                        if b"\r\n\r\n" in data:
                            break
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"
                                 b"internal")
                except OSError:
                    pass
                self.received.append(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def internal() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def _connect_status(proc: Any, target: str) -> bytes:
    """The head (and body) of what a client learns of a CONNECT to `target`: its refusal, or
    the denial answered inside the tunnel the proxy holds for it without dialling."""
    reply = connect_answer(proc, target)
    return reply.head.encode("latin-1") + b"\r\n\r\n" + reply.body


SPELLINGS = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.000.000.001",
             "[::ffff:127.0.0.1]", "0x7f.1", "0.0.0.0", "0"]


def test_ip_literals_in_every_spelling_are_canonical_and_non_public_ones_refused(
        egress: EgressFactory, write_policy: PolicyWriter, internal: Listener) -> None:
    """17.9: `allow: ["*"]`, `deny: [127.0.0.1, ::1]`; every other spelling of loopback, and
    0.0.0.0 / 0 (which reach the local host on Linux), must not reach the internal service."""
    proc = egress(write_policy("""
        version: 1
        hosts:
          allow:
            - hosts: ["*"]
              ports: ["*"]
          deny:
            - hosts: [127.0.0.1, "::1"]
    """), local_origin=False)
    for spelling in SPELLINGS:
        reply = plain_proxy_request(proc, (f"GET http://{spelling}:{internal.port}/x HTTP/1.1\r\n"
                                           f"Host: {spelling}:{internal.port}\r\n"
                                           "Connection: close\r\n\r\n").encode())
        assert reply is not None and reply.status == 403, (spelling, reply)
        assert reply.json()["rule"] in ("hosts/host-denied", "hosts/private-address"), spelling
        head = _connect_status(proc, f"{spelling}:{internal.port}")
        assert head.startswith(b"HTTP/1.1 403"), (spelling, head)
    ipv6 = _connect_status(proc, f"[0:0:0:0:0:0:0:1]:{internal.port}")
    assert ipv6.startswith(b"HTTP/1.1 403"), ipv6
    assert internal.received == []
    rules = {f["rule"] for e in audit_events(proc) if e.get("verdict") == "block"
             for f in e["findings"]}
    assert rules == {"host-denied", "private-address"}


def test_policy_ip_patterns_match_every_spelling(
        egress: EgressFactory, write_policy: PolicyWriter, internal: Listener) -> None:
    """Canonical form on the policy side too: `2130706433` in a rule is 127.0.0.1."""
    proc = egress(write_policy("""
        version: 1
        hosts:
          allow:
            - hosts: ["2130706433"]
              ports: ["*"]
          allow_private: ["127.1"]
    """), local_origin=False)
    for spelling in ("127.0.0.1", "0x7f000001", "[::ffff:7f00:1]"):
        reply = plain_proxy_request(proc, (f"GET http://{spelling}:{internal.port}/ok HTTP/1.1\r\n"
                                           f"Host: {spelling}:{internal.port}\r\n"
                                           "Connection: close\r\n\r\n").encode())
        assert reply is not None and reply.status == 200 and reply.body == b"internal", spelling
    assert len(internal.received) == 3
    assert all(r.startswith(b"GET /ok HTTP/1.1") for r in internal.received)


def test_ports_need_an_allow_rule(egress: EgressFactory, write_policy: PolicyWriter,
                                  internal: Listener) -> None:
    """18.5: `POST http://allowed.test:25/` with SMTP lines in the body reached port 25. Allow
    rules cover 80 and 443 unless they list ports."""
    policy = write_policy("""
        version: 1
        hosts:
          allow:
            - hosts: [allowed.test]
    """)
    proc = egress(policy, "--allow-private", "127.0.0.1", local_origin=False)
    smtp = b"HELO bottle\r\nMAIL FROM:<a@allowed.test>\r\nRCPT TO:<b@evil.test>\r\nDATA\r\n"
    reply = plain_proxy_request(proc, (f"POST http://allowed.test:{internal.port}/ HTTP/1.1\r\n"
                                       f"Host: allowed.test:{internal.port}\r\n"
                                       f"Content-Length: {len(smtp)}\r\nConnection: close\r\n\r\n"
                                       ).encode() + smtp)
    assert reply is not None and reply.status == 403, reply
    assert reply.json()["rule"] == "hosts/port-not-allowed"
    head = _connect_status(proc, f"allowed.test:{internal.port}")
    assert head.startswith(b"HTTP/1.1 403") and b"hosts/port-not-allowed" in head, head
    assert internal.received == []
    proc.stop()
    # the port listed in the rule (here, as a range around it): reachable
    policy.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [allowed.test]\n"
                      f"      ports: [443, \"{internal.port - 1}-{internal.port + 1}\"]\n")
    proc = egress(policy, "--allow-private", "127.0.0.1", local_origin=False)
    reply = plain_proxy_request(proc, (f"GET http://allowed.test:{internal.port}/ok HTTP/1.1\r\n"
                                       f"Host: allowed.test:{internal.port}\r\n"
                                       "Connection: close\r\n\r\n").encode())
    assert reply is not None and reply.status == 200, reply
    assert internal.received and internal.received[0].startswith(b"GET /ok")


def test_a_name_resolving_to_a_private_address_is_not_dialled(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    """18.6: an allowed name that resolves to a non-public address (here, loopback)."""
    text = """
        version: 1
        hosts:
          allow:
            - hosts: [allowed.test]
              ports: ["*"]
    """
    proc = egress(write_policy(text), local_origin=False)
    reply = exchange(proc, f"allowed.test:{origin.port}",
                     b"GET /private HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n")
    assert reply is not None and reply.status == 403, reply
    doc = reply.json()
    assert doc["rule"] == "hosts/private-address" and "127.0.0.1" in doc["reason"]
    assert origin.seen == []
    event = http_events(proc)[0]
    assert event["verdict"] == "block" and event["findings"][0]["rule"] == "private-address"
    assert "allowed.test (127.0.0.1)" in event["findings"][0]["reason"]
    # listed in allow_private: reachable
    listed = egress(write_policy(text + "      allow_private: [127.0.0.1/32]\n", "listed.yaml"),
                    local_origin=False)
    ok = exchange(listed, f"allowed.test:{origin.port}",
                  b"GET /listed HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n")
    assert ok is not None and ok.status == 200, ok
    assert origin.paths() == ["/listed"]


def test_the_audit_only_example_policy_does_not_open_private_addresses(
        egress: EgressFactory, origin: Origin, internal: Listener) -> None:
    """18.6: the shipped audit-only policy allows every host in audit mode; the private-address
    refusal holds all the same: an allowed name resolving to loopback, a loopback literal,
    and the proxy's own DNS guard."""
    with socket.socket() as probe:  # a free port for the DNS guard
        probe.bind(("127.0.0.1", 0))
        dns_port = probe.getsockname()[1]
    proc = egress(REPO / "policies/examples/audit-only.yaml", "--dns-listen",
                  f"127.0.0.1:{dns_port}", local_origin=False)
    named = exchange(proc, f"allowed.test:{origin.port}",
                     b"GET / HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n")
    assert named is not None and named.status == 403 and named.json()["rule"] == "hosts/private-address"
    for target in (f"127.0.0.1:{internal.port}", f"127.0.0.1:{dns_port}"):
        head = _connect_status(proc, target)
        assert head.startswith(b"HTTP/1.1 403"), (target, head)
    assert origin.seen == [] and internal.received == []


def test_passthrough_tunnels_are_checked_when_they_connect(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, pki: Any) -> None:
    """No request is ever read from a passthrough tunnel: the address is judged when the
    proxy is about to connect (`server_connect`), and the refusal is audited with it."""
    proc = egress(write_policy("""
        version: 1
        hosts:
          allow:
            - hosts: [pinned.test]
              ports: ["*"]
          passthrough: [pinned.test]
    """), local_origin=False)
    with socket.create_connection(proxy_address(proc), timeout=20) as raw:
        target = f"pinned.test:{origin.port}"
        raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        assert read_head(raw).startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(pki.ca_path))
        with pytest.raises((ssl.SSLError, OSError)), \
                ctx.wrap_socket(raw, server_hostname="pinned.test") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
            assert tls.recv(100) == b""
            raise OSError("closed")
    assert origin.seen == []
    proc.stop()
    refused = [e for e in audit_events(proc) if e.get("event") == "server-connect"]
    assert refused and refused[0]["findings"][0]["rule"] == "private-address"
    assert refused[0]["host"] == "pinned.test"
    assert "127.0.0.1" in refused[0]["findings"][0]["reason"]


def test_the_connection_goes_to_the_address_that_was_checked(
        egress: EgressFactory, write_policy: PolicyWriter, dns: DNSFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: `rebind.test` answers 127.0.0.1 (listed in allow_private) the first time
    and 127.0.0.2 (not listed) afterwards. The proxy checks the first answer and must then
    connect to exactly that address, never resolve the name again for the connection."""
    with Origin(None, {"/": echo}) as plain:
        trap = Listener("127.0.0.2", plain.port)
        answers: list[str] = []
        original = dns.resolver.resolve

        def rebinding(request: DNSRecord, handler: Any) -> DNSRecord:
            name = str(request.q.qname).rstrip(".").lower()
            if name != "rebind.test":
                return original(request, handler)
            reply = request.reply()
            if request.q.qtype == QTYPE.A:
                ip = "127.0.0.1" if not answers else "127.0.0.2"
                answers.append(ip)
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(ip), ttl=0))
            return reply

        monkeypatch.setattr(dns.resolver, "resolve", rebinding)
        try:
            proc = egress(write_policy("""
                version: 1
                hosts:
                  allow:
                    - hosts: [rebind.test]
                      ports: ["*"]
                  allow_private: [127.0.0.1]
            """), local_origin=False)
            reply = exchange(proc, f"rebind.test:{plain.port}", b"GET /r HTTP/1.1\r\n"
                             b"Host: rebind.test\r\nConnection: close\r\n\r\n", tls=False)
        finally:
            trap.close()
        assert answers and answers[0] == "127.0.0.1"
        assert trap.received == []  # the rebound address was never dialled
        assert reply is not None and reply.status == 200, reply
        assert plain.paths() == ["/r"]
