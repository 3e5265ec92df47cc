"""Added time to first event of a streamed SSE response: credential injection + scrubbing
(`bottle egress run` with a `credentials:` policy) versus plain mitmproxy streaming (the same
core addons and options as `benchmarks/proxy_overhead.py`, plus one addon that streams every
response, none of ours), same run.

Both proxies run as subprocesses; the TLS origin (checks the credential, echoes it in the first
event) and the client run here. Requests alternate between the proxies on one keep-alive
tunnel each, so drift hits both alike. Prints JSON.

    .venv/bin/python -m benchmarks.credential_injection [--requests 400]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.proxy_overhead import serve_plain, start_plain, wait_port  # noqa: E402
from tests.support.origin import Origin, Reply, SeenRequest  # noqa: E402
from tests.support.pki import TestPKI  # noqa: E402

HOST = "localhost"
TARGET_P50_MS = 2.0

POLICY = """
version: 1
hosts:
  allow:
    - hosts: [localhost]
      ports: ["*"]          # the benchmark origin listens on a free port of loopback
  allow_private: [127.0.0.1]
credentials:
  - name: bench
    host: localhost
    header: "Authorization: Bearer {secret}"
    source: {env: BENCH_REAL_TOKEN}
    placeholder: {env: BENCH_TOKEN}
"""


def sse_route(token: str):
    """Checks the Bearer token; answers three SSE events, the first echoing the token."""

    def route(req: SeenRequest) -> Reply:
        auth = next((v for k, v in req.headers.items() if k.lower() == "authorization"), "")
        if auth != f"Bearer {token}":
            return Reply(401)
        events = [f'data: {{"echo": "{token}"}}\n\n'.encode(), b"data: two\n\n", b"data: [DONE]\n\n"]
        return Reply(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                     chunks=events)
    return route


class StreamAll:
    """The baseline's streaming: every response body is passed through as it arrives."""

    def responseheaders(self, flow: Any) -> None:
        if flow.response is not None:
            flow.response.stream = True


# -- client ------------------------------------------------------------------------------------

def start_bottle(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`bottle egress run`, and the environment it prints (proxy URL, bundle, placeholder)."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stdout is not None
    out: dict[str, str] = {}
    for line in proc.stdout:
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export":
            k, v = parts[1].split("=", 1)
            out[k] = v
            if k == "BOTTLE_ID":
                return proc, out
    raise RuntimeError("bottle egress run did not start")


class Tunnel:
    """One CONNECT tunnel through a proxy with TLS to the origin, HTTP/1.1 keep-alive."""

    def __init__(self, proxy_port: int, cafile: str, origin_port: int) -> None:
        raw = socket.create_connection(("127.0.0.1", proxy_port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        target = f"{HOST}:{origin_port}"
        raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            resp += raw.recv(4096)
        assert b" 200" in resp.split(b"\r\n", 1)[0], resp
        ctx = ssl.create_default_context(cafile=cafile)
        self.sock = ctx.wrap_socket(raw, server_hostname=HOST)
        self.target = target
        self.buf = b""

    def _read_until(self, marker: bytes) -> None:
        while marker not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("tunnel closed")
            self.buf += data

    def request(self, token: str) -> tuple[float, bytes]:
        """Seconds from sending the request to receiving the whole first event, and that event."""
        self.buf = b""
        t0 = time.perf_counter()
        self.sock.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: {self.target}\r\n"
                          f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self._read_until(b"\n\n")  # the first event's end (it is inside the first body chunk)
        elapsed = time.perf_counter() - t0
        head, _, body = self.buf.partition(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n", 1)[0], head
        first = body.split(b"\r\n", 1)[1].split(b"\n\n", 1)[0] if b"\r\n" in body else body
        self._read_until(b"\r\n0\r\n\r\n")
        return elapsed, first


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"p50": round(statistics.median(ms), 3), "p90": round(pct(ms, 0.9), 3),
            "p99": round(pct(ms, 0.99), 3), "mean": round(statistics.fmean(ms), 3)}


def bench(requests: int, warmup: int) -> dict[str, Any]:
    from ca import BottleCA
    from ca.bundle import merged_bundle

    token = "bench-real-" + secrets.token_hex(20)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki = TestPKI(tmp / "pki")
        cert = pki.server_cert("origin", [HOST])
        trust = tmp / "trust.pem"
        trust.write_bytes(merged_bundle(pki.ca_path.read_bytes()))
        plain_ca = BottleCA.create(tmp / "plain", "plain-mitmproxy")  # same CA key type for both
        policy = tmp / "policy.yaml"
        policy.write_text(POLICY)
        env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_REAL_TOKEN": token}
        with Origin(cert, {"/v1/stream": sse_route(token)}, host="127.0.0.1") as origin:
            ours, ours_env = start_bottle(
                [sys.executable, "-m", "cli.main", "egress", "run", "--listen", "127.0.0.1:0",
                 "--policy", str(policy), "--upstream-ca", str(pki.ca_path),
                 "--state-dir", str(tmp / "state"), "--audit-log", str(tmp / "audit.jsonl")], env)
            base = start_plain(
                [sys.executable, "-m", "benchmarks.credential_injection", "--serve-plain",
                 str(tmp / "plain"), str(trust)], plain_ca, env, cwd=REPO)
            try:
                placeholder = ours_env["BENCH_TOKEN"]
                ours_port = int(ours_env["HTTPS_PROXY"].rsplit(":", 1)[1])
                t_ours = Tunnel(ours_port, ours_env["SSL_CERT_FILE"], origin.port)
                t_base = Tunnel(wait_port(base), str(plain_ca.files.cert), origin.port)
                s_ours: list[float] = []
                s_base: list[float] = []
                for i in range(warmup + requests):
                    origin.seen.clear()
                    e_base, first_base = t_base.request(token)
                    e_ours, first_ours = t_ours.request(placeholder)
                    if i == 0:
                        # injected (the origin accepted the placeholder) and scrubbed (the echo)
                        assert token.encode() in first_base, first_base
                        assert placeholder.encode() in first_ours and token.encode() not in first_ours
                    if i >= warmup:
                        s_base.append(e_base)
                        s_ours.append(e_ours)
                audit_text = (tmp / "audit.jsonl").read_text()
            finally:
                for proc in (ours, base):
                    proc.terminate()
                    proc.wait(10)
    b, o = summary(s_base), summary(s_ours)
    added = {k: round(o[k] - b[k], 3) for k in ("p50", "p90", "p99", "mean")}
    return {
        "benchmark": "credential_injection",
        "what": "time to first SSE event through the proxy, keep-alive TLS tunnel, loopback origin",
        "requests": requests,
        "baseline_plain_mitmproxy_streaming_ms": b,
        "bottle_injection_and_scrubbing_ms": o,
        "added_ms": added,
        "target_added_p50_ms": TARGET_P50_MS,
        "within_target": added["p50"] < TARGET_P50_MS,
        "real_value_in_audit_log": token in audit_text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--serve-plain", nargs=2, metavar=("CONFDIR", "TRUST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        confdir, trust = args.serve_plain
        serve_plain(confdir, trust, [StreamAll()])
        return
    print(json.dumps(bench(args.requests, args.warmup), indent=2))


if __name__ == "__main__":
    main()
