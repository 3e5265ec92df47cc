"""Trailers and connection timeouts through the live proxy (issue 17 row 24, issue 18 row 9)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.artefacts import assert_nowhere, audit_events, http_events
from tests.support.origin import Origin, Reply, SeenRequest, echo
from tests.support.rawhttp import exchange, h2_request, plain_proxy_request, read_reply, tunnel

CANARY = "AKIAQ7VXR2LMN9PK4ST8"
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
"""


class TrailerOrigin:
    """A plain-HTTP origin whose chunked responses end with a trailer field holding CANARY."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n"
                             b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n"
                             b"X-Sum: " + CANARY.encode() + b"\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


def _no_traceback(proc: Any) -> None:
    time.sleep(0.3)
    assert "Traceback" not in proc.stderr() and "NotImplementedError" not in proc.stderr()


def test_response_trailers_are_refused_with_a_json_error(
        egress: EgressFactory, write_policy: PolicyWriter) -> None:
    origin = TrailerOrigin()
    try:
        proc = egress(write_policy(POLICY))
        reply = plain_proxy_request(proc, (f"GET http://allowed.test:{origin.port}/t HTTP/1.1\r\n"
                                           f"Host: allowed.test:{origin.port}\r\n"
                                           "Connection: close\r\n\r\n").encode(), timeout=15)
    finally:
        origin.close()
    assert reply is not None and reply.status == 502, reply
    assert reply.json()["rule"] == "limits/trailers"
    assert CANARY.encode() not in reply.body and CANARY not in reply.head
    assert len(origin.requests) == 1
    _no_traceback(proc)
    proc.stop()
    event = http_events(proc)[0]
    assert event["verdict"] == "block" and event["findings"][0]["rule"] == "trailers"
    assert_nowhere(proc, [CANARY])


def test_declared_request_trailers_are_refused_before_anything_is_sent(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    proc = egress(write_policy(POLICY))
    port = origin.port
    request = (f"POST /up HTTP/1.1\r\nHost: allowed.test:{port}\r\nTransfer-Encoding: chunked\r\n"
               f"Trailer: X-Sum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n"
               f"X-Sum: {CANARY}\r\n\r\n").encode()
    reply = exchange(proc, f"allowed.test:{port}", request, sni="allowed.test")
    assert reply is not None and reply.status == 400, reply
    assert reply.json()["rule"] == "limits/trailers"
    assert origin.seen == []
    _no_traceback(proc)
    proc.stop()
    assert_nowhere(proc, [CANARY])


def test_undeclared_request_trailers_are_refused(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    """Trailers that arrive with the head: nothing has left yet, a JSON 400 answers."""
    proc = egress(write_policy(POLICY))
    port = origin.port
    request = (f"POST /up HTTP/1.1\r\nHost: allowed.test:{port}\r\nTransfer-Encoding: chunked\r\n"
               f"Connection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: {CANARY}\r\n\r\n").encode()
    reply = exchange(proc, f"allowed.test:{port}", request, sni="allowed.test")
    assert reply is not None and reply.status == 400 and reply.json()["rule"] == "limits/trailers"
    assert origin.seen == []
    _no_traceback(proc)
    proc.stop()
    assert_nowhere(proc, [CANARY])


def test_trailers_after_a_streaming_body_abort_the_request(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    """The body of a chunked request streams upstream as it arrives; trailers arriving later
    abort it on both sides (the origin never sees it complete), audited, no hang."""
    proc = egress(write_policy(POLICY))
    port = origin.port
    with tunnel(proc, f"allowed.test:{port}", "allowed.test", timeout=15) as sock:
        sock.sendall(f"POST /up HTTP/1.1\r\nHost: allowed.test:{port}\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n".encode())
        time.sleep(1.0)  # the head has been judged and the body is streaming
        sock.sendall(f"0\r\nX-Sum: {CANARY}\r\n\r\n".encode())
        reply = read_reply(sock)  # returns at once: the proxy closes the connection
    assert reply is None or reply.status >= 400, reply
    time.sleep(0.5)
    assert origin.seen == []  # it got "hello" and then a closed connection, never a request
    _no_traceback(proc)
    proc.stop()
    blocked = [f for e in http_events(proc) for f in e["findings"]]
    assert blocked and blocked[0]["rule"] == "trailers"
    assert_nowhere(proc, [CANARY])


def test_http2_request_trailers_are_refused(egress: EgressFactory, write_policy: PolicyWriter,
                                            origin: Origin) -> None:
    proc = egress(write_policy(POLICY))
    port = origin.port
    reply = h2_request(proc, f"allowed.test:{port}", [
        (":method", "POST"), (":scheme", "https"), (":authority", f"allowed.test:{port}"),
        (":path", "/up")], body=b"hello", sni="allowed.test", trailers=[("x-sum", CANARY)])
    assert reply.status == 400 and b"limits/trailers" in reply.body, reply
    assert origin.seen == []
    proc.stop()
    assert_nowhere(proc, [CANARY])


# -- timeouts ---------------------------------------------------------------------------------

def _policy(idle: float, header: float) -> str:
    return POLICY + f"""
    limits:
      idle_timeout_seconds: {idle}
      header_timeout_seconds: {header}
"""


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the proxy closes `sock` within `seconds` (EOF or reset)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


@pytest.fixture
def slow_origin(origin_cert: Any) -> Iterator[Origin]:
    def slow(req: SeenRequest) -> Reply:
        time.sleep(2.5)
        return echo(req)

    with Origin(origin_cert, {"/slow": slow, "/": echo}) as o:
        yield o


def test_idle_tunnels_and_keep_alive_connections_are_closed(
        egress: EgressFactory, write_policy: PolicyWriter, slow_origin: Origin) -> None:
    proc = egress(write_policy(_policy(idle=1, header=30)))
    port = slow_origin.port
    # a CONNECT tunnel on which nothing is sent
    with tunnel(proc, f"allowed.test:{port}", tls=False) as idle:
        assert _closed_within(idle, 10)
    # a keep-alive connection: a slow answer (longer than the idle timeout) is waited for,
    # then the idle connection is closed
    with tunnel(proc, f"allowed.test:{port}", "allowed.test") as tls:
        tls.sendall(f"GET /slow HTTP/1.1\r\nHost: allowed.test:{port}\r\n\r\n".encode())
        reply = read_reply(tls)
        assert reply is not None and reply.status == 200, reply
        assert _closed_within(tls, 10)
    assert slow_origin.paths() == ["/slow"]
    proc.stop()
    kinds = [e["kind"] for e in audit_events(proc) if e.get("event") == "timeout"]
    assert kinds.count("idle") == 2, kinds


def test_a_request_head_sent_slowly_is_cut_off(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    proc = egress(write_policy(_policy(idle=30, header=1)))
    port = origin.port
    with tunnel(proc, f"allowed.test:{port}", "allowed.test") as tls:
        tls.sendall(f"GET /trickle HTTP/1.1\r\nHost: allowed.test:{port}\r\n".encode())
        closed = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                tls.sendall(b"X-Slow: a\r\n")  # a header line every 0.3 s: never a whole head
            except OSError:
                closed = True
                break
            if _closed_within(tls, 0.3):
                closed = True
                break
        assert closed
    assert origin.seen == []
    proc.stop()
    kinds = [e["kind"] for e in audit_events(proc) if e.get("event") == "timeout"]
    assert kinds == ["header"], kinds
