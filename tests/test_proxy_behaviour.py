"""Fail-closed, limits, hot reload, audit hygiene, upstream chaining and passthrough."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.dns import DNSFixture
from tests.support.origin import Origin, echo
from tests.support.squid import Squid

REPO = Path(__file__).resolve().parents[1]
SECRET = "ghp_Xk29PqLm7RtV4wZb8NcY3hJd6FsG1aQe5uTo"

ALLOW = """
    hosts:
      allow:
        - hosts: [allowed.test, other.test]
"""


def curl(proc: Any, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *extra, url], env=proc.client_env(),
                          capture_output=True, text=True, check=False)


def status(proc: Any, url: str, *extra: str) -> str:
    """The answer's status: the origin's, or the proxy's answer to CONNECT when denied there."""
    res = curl(proc, url, "-o", "/dev/null", "-w", "%{http_connect} %{http_code}", *extra)
    connect, code = res.stdout.split()
    return code if code != "000" else connect


def events(proc: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in proc.audit_path.read_text().splitlines() if x]


def test_exception_in_an_addon_blocks_the_flow(egress: EgressFactory, write_policy: PolicyWriter,
                                               origin: Origin) -> None:
    proc = egress(write_policy(ALLOW), "--addon", str(REPO / "tests/support/failing_addon.py"))
    probe = "probe-value-quoted-by-the-exception"
    res = curl(proc, f"https://allowed.test:{origin.port}/x", "-i", "-H", f"x-secret-probe: {probe}")
    last = res.stdout[res.stdout.rfind("HTTP/"):]  # after the proxy's answer to CONNECT
    assert last.split()[1] == "502"
    body = json.loads(res.stdout[res.stdout.rfind("\n{") + 1:])
    assert body["rule"] == "error/addon-exception" and "fail closed" in body["reason"]
    assert origin.seen == []  # the request never reached the origin
    ev = [e for e in events(proc) if e.get("event") == "http"]
    assert ev and ev[0]["verdict"] == "block"
    assert ev[0]["findings"][0]["scanner"] == "error"
    time.sleep(0.2)
    assert "ValueError" in proc.stderr() and "exploding.request" in proc.stderr()
    assert probe not in proc.stderr() and probe not in proc.audit_path.read_text()


def test_body_over_limit_is_refused_and_audited(egress: EgressFactory, write_policy: PolicyWriter,
                                                origin: Origin) -> None:
    proc = egress(write_policy(ALLOW + "    limits:\n      max_body_bytes: 1KiB\n"))
    res = curl(proc, f"https://allowed.test:{origin.port}/upload", "-w", "\n%{http_code}",
               "--data-binary", "x" * 5000)
    assert res.stdout.splitlines()[-1] == "413"
    small = curl(proc, f"https://allowed.test:{origin.port}/upload", "-w", "\n%{http_code}",
                 "--data-binary", "x" * 500)
    assert small.stdout.splitlines()[-1] == "200"
    assert origin.paths() == ["/upload"] and len(origin.seen[0].body) == 500
    blocked = [e for e in events(proc) if e.get("verdict") == "block"]
    assert blocked and blocked[0]["findings"][0]["rule"] == "body-too-large"


def test_hot_reload_applies_valid_edits_and_keeps_the_old_policy_on_invalid_ones(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    path = write_policy("hosts:\n  allow:\n    - hosts: [allowed.test]\n")
    proc = egress(path)
    url = f"https://other.test:{origin.port}/"
    assert status(proc, url) == "403"

    path.write_text("hosts:\n  allow:\n    - hosts: [allowed.test, other.test]\n")
    start = time.monotonic()
    while time.monotonic() - start < 2.0:
        if status(proc, url) == "200":
            break
        time.sleep(0.1)
    assert status(proc, url) == "200"
    assert time.monotonic() - start < 2.5

    path.write_text("hosts:\n  allow:\n    - hosts: [allowed.test]\n      methods: [FETCH]\n")
    time.sleep(1.5)
    assert status(proc, url) == "200"
    err = proc.stderr()
    assert "reload FAILED" in err and f"{path}:4" in err and "FETCH" in err
    kinds = [e["event"] for e in events(proc)]
    assert "policy-reload" in kinds and "policy-reload-failed" in kinds


def test_audit_log_never_contains_a_secret(egress: EgressFactory, write_policy: PolicyWriter,
                                           origin_cert: Any) -> None:
    with Origin(origin_cert, {"/echo": echo}) as o:
        # DLP in audit mode: the secret really leaves, so only the log's hygiene stands between
        proc = egress(write_policy(ALLOW + "    dlp:\n      default_action: audit\n"))
        r = requests.post(f"https://allowed.test:{o.port}/echo?token={SECRET}&page=2",
                          headers={"Authorization": f"Bearer {SECRET}"}, data=f"key={SECRET}",
                          proxies={"https": proc.url}, verify=proc.env["SSL_CERT_FILE"], timeout=20)
        assert r.status_code == 200 and SECRET in r.text  # it really went through
        proc.stop()
        text = proc.audit_path.read_text()
        assert '"path":"/echo?token=…&page=…"' in text
        assert SECRET not in text and SECRET not in proc.stderr()
        assert '"rule":"github-token"' in text  # DLP saw it, and logged only a preview


def test_upstream_proxy_sees_only_connect_and_the_agent_header(
        tmp_path: Path, egress: EgressFactory, write_policy: PolicyWriter, origin: Origin,
        dns: DNSFixture) -> None:
    with Squid({"allowed.test": "127.0.0.1", "denied.test": "127.0.0.1"}) as sq:
        proc = egress(write_policy(ALLOW), "--upstream", sq.url, "--bottle-id", "bottle-42")
        ok = curl(proc, f"https://allowed.test:{origin.port}/private/path?q=1", "-w", "\n%{http_code}",
                  "-d", "body-data=visible-only-to-origin")
        assert ok.stdout.splitlines()[-1] == "200", (ok.stdout, proc.stderr(), sq.lines())
        assert status(proc, f"https://denied.test:{origin.port}/") == "403"
        lines = sq.lines()
        assert lines == [f"CONNECT allowed.test:{origin.port} agent=bottle-42"], lines
        log = sq.log.read_text()
        assert "/private/path" not in log and "visible-only" not in log
        assert origin.paths() == ["/private/path?q=1"]
        # with an upstream, the proxy resolves nothing itself
        assert "allowed.test" not in dns.resolver.names()
        assert "denied.test" not in dns.resolver.names()


def test_passthrough_host_is_not_intercepted_but_still_policed(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, pki: Any) -> None:
    proc = egress(write_policy("""
        hosts:
          allow:
            - hosts: [pinned.test, allowed.test]
          passthrough: [pinned.test]
    """))
    # a pinned client trusts only the origin's real CA: works only if we do not intercept
    pinned = curl(proc, f"https://pinned.test:{origin.port}/pinned", "--cacert", str(pki.ca_path),
                  "-w", "\n%{http_code}")
    assert pinned.stdout.splitlines()[-1] == "200", pinned.stderr
    # the same client to an intercepted host fails: it sees the bottle CA
    intercepted = curl(proc, f"https://allowed.test:{origin.port}/", "--cacert", str(pki.ca_path))
    assert intercepted.returncode != 0
    # a denied host is answered inside TLS with a bottle-CA leaf: this client rejects it (and
    # nothing reaches the origin); a client that trusts the bottle CA reads the denial
    denied = curl(proc, f"https://denied.test:{origin.port}/", "--cacert", str(pki.ca_path), "-v")
    assert denied.returncode == 60, denied.stderr  # CURLE_PEER_FAILED_VERIFICATION
    readable = curl(proc, f"https://denied.test:{origin.port}/")
    assert json.loads(readable.stdout)["rule"] == "hosts/host-not-allowed"
    assert origin.paths() == ["/pinned"]
    ev = [e for e in events(proc) if e.get("passthrough")]
    assert ev and ev[0]["host"] == "pinned.test" and ev[0]["verdict"] == "allow"


class RawServer:
    """A plain TCP server (neither TLS nor HTTP) that records connections and echoes."""

    def __init__(self) -> None:
        import socket
        import threading

        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

        def serve() -> None:
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                self.connections += 1
                with conn:
                    data = conn.recv(1024)
                    conn.sendall(b"echo " + data)

        threading.Thread(target=serve, daemon=True).start()

    def close(self) -> None:
        self.sock.close()


def _raw_tunnel(proc: Any, port: int, payload: bytes) -> bytes:
    import socket

    host, pport = proc.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(pport)), timeout=10) as s:
        s.sendall(f"CONNECT allowed.test:{port} HTTP/1.1\r\nHost: allowed.test:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1024)
        assert b" 200" in head.split(b"\r\n")[0]
        s.sendall(payload)
        out = b""
        try:
            while chunk := s.recv(1024):
                out += chunk
                if b"echo" in out:
                    break
        except OSError:
            pass
        return out


def test_non_http_tunnels_are_refused_unless_allowed(egress: EgressFactory,
                                                    write_policy: PolicyWriter) -> None:
    raw = RawServer()
    try:
        proc = egress(write_policy(ALLOW))
        assert _raw_tunnel(proc, raw.port, b"SSH-2.0-OpenSSH_9.2\r\n") == b""
        time.sleep(0.3)
        assert raw.connections == 0  # never dialled
        proc.stop()
        blocked = [e for e in events(proc) if e.get("event") == "tcp"]
        assert blocked and blocked[0]["findings"][0]["rule"] == "non-http-tunnel"

        open_proc = egress(write_policy(ALLOW + "      non_http: allow\n", "open.yaml"))
        assert _raw_tunnel(open_proc, raw.port, b"SSH-2.0-OpenSSH_9.2\r\n").startswith(b"echo SSH")
        assert raw.connections == 1
    finally:
        raw.close()
