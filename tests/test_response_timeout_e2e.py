"""`limits.response_timeout` (issue 14): an origin that accepts a request and never answers
used to hold the agent for mitmproxy's 600 s and end without JSON. Now the agent gets a JSON
504 `error/upstream-timeout` after the limit, the audit says `error` with status 504, the
upstream connection is closed (the origin sees it end), and other flows go on as before; for
HTTP/1 and HTTP/2 clients, buffered and streamed request bodies."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.pki import ServerCert

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
    limits:
      response_timeout: 2
"""


class SilentOrigin:
    """A TLS origin that reads requests and never answers; counts connections that ended."""

    def __init__(self, cert: ServerCert) -> None:
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert.cert_path, cert.key_path)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.heads: list[bytes] = []
        self.closed = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(raw,), daemon=True).start()

    def _connection(self, raw: socket.socket) -> None:
        raw.settimeout(120)
        try:
            conn = self._ctx.wrap_socket(raw, server_side=True)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and data not in self.heads:
                    with self._lock:
                        self.heads.append(data.partition(b"\r\n\r\n")[0])
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self.closed += 1
            raw.close()

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def silent(origin_cert: ServerCert) -> Iterator[SilentOrigin]:
    server = SilentOrigin(origin_cert)
    yield server
    server.close()


def curl(env: dict[str, str], url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    res = subprocess.run(["curl", "-sS", "--max-time", "60", "-w", "\n%{http_code} %{http_version}",
                          *extra, url], env=env, capture_output=True, text=True, check=False)
    return res, time.monotonic() - started


def answer(res: subprocess.CompletedProcess[str]) -> tuple[dict[str, Any], str, str]:
    body, _, status_line = res.stdout.rpartition("\n")
    status, version = status_line.split()
    return json.loads(body), status, version


@pytest.mark.parametrize("client", [
    pytest.param(["--http1.1"], id="http1-buffered"),
    pytest.param(["--http2"], id="http2-buffered"),
    pytest.param(["--http1.1", "-X", "POST", "--data-binary", "@-"], id="http1-streamed"),
    pytest.param(["--http2", "-X", "POST", "--data-binary", "@-"], id="http2-streamed"),
])
def test_origin_that_never_answers_gets_a_json_504(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, silent: SilentOrigin,
        client: list[str]) -> None:
    proc = egress(write_policy(POLICY))
    env = proc.client_env()
    result: dict[str, Any] = {}

    def hang() -> None:
        body = b"x" * (3 * 1024 * 1024)  # over dlp.stream_threshold: the body streams
        started = time.monotonic()
        cmd = ["curl", "-sS", "--max-time", "60", "-w", "\n%{http_code} %{http_version}", *client,
               f"https://allowed.test:{silent.port}/slow"]
        result["res"] = subprocess.run(cmd, env=env, input=body if "@-" in client else None,
                                       capture_output=True, check=False)
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=hang)
    thread.start()
    # another flow while the first one waits: unaffected
    time.sleep(0.5)
    other, _ = curl(env, f"https://allowed.test:{origin.port}/during", *client[:1])
    assert "hello from origin" in other.stdout, other.stderr
    thread.join(90)
    res = result["res"]
    doc, status, version = answer(subprocess.CompletedProcess(
        res.args, res.returncode, res.stdout.decode(), res.stderr.decode()))
    assert status == "504", res.stdout
    assert version == ("2" if "--http2" in client else "1.1")
    assert doc["rule"] == "error/upstream-timeout" and doc["error"] == "failed"
    assert "limits.response_timeout (2 s)" in doc["reason"]
    assert 1.5 < result["seconds"] < 30, result["seconds"]
    assert [h.split(b"\r\n")[0] for h in silent.heads][:1] in (
        [b"GET /slow HTTP/1.1"], [b"POST /slow HTTP/1.1"])

    # the upstream connection was closed by the proxy, not left open
    deadline = time.monotonic() + 10
    while silent.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert silent.closed >= 1

    after, _ = curl(env, f"https://allowed.test:{origin.port}/after", *client[:1])
    assert "hello from origin" in after.stdout, after.stderr
    assert origin.paths() == ["/during", "/after"]
    proc.stop()
    events = [json.loads(line) for line in proc.audit_path.read_text().splitlines() if line]
    slow = [e for e in events if e.get("path") == "/slow"]
    assert len(slow) == 1, events
    assert slow[0]["verdict"] == "error" and slow[0]["status"] == 504
    assert [f["rule"] for f in slow[0]["findings"]] == ["upstream-timeout"]
    assert all(e["verdict"] == "allow" for e in events if e.get("path") in ("/during", "/after"))
