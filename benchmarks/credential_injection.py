"""Added time to first event of a streamed SSE response: credential injection + scrubbing
(`bottle egress run` with a `credentials:` policy) versus plain mitmproxy streaming (a Master
with mitmproxy's own proxy, TLS and a stream-everything addon, none of ours), same run.

Both proxies run as subprocesses; the TLS origin (checks the credential, echoes it in the first
event) and the client run here. Requests alternate between the proxies on one keep-alive
tunnel each, so drift hits both alike. Prints JSON.

    .venv/bin/python -m benchmarks.credential_injection [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
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
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOST = "localhost"
TARGET_P50_MS = 2.0

POLICY = """
version: 1
hosts:
  allow:
    - hosts: [localhost]
audit:
  log_allowed: true
credentials:
  - name: bench
    host: localhost
    header: "Authorization: Bearer {secret}"
    source: {env: BENCH_REAL_TOKEN}
    placeholder: {env: BENCH_TOKEN}
"""


# -- the origin --------------------------------------------------------------------------------

def start_origin(cert: Path, key: Path, token: str) -> int:
    """A TLS origin in a thread: checks the Bearer token, answers with three SSE events (the
    first echoes the token it received) over chunked encoding, keep-alive."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ready: list[int] = []
    started = threading.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                auth = next((ln.split(":", 1)[1].strip() for ln in lines[1:]
                             if ln.lower().startswith("authorization:")), "")
                if auth != f"Bearer {token}":
                    writer.write(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                events = [f'data: {{"echo": "{auth[7:]}"}}\n\n'.encode(), b"data: two\n\n",
                          b"data: [DONE]\n\n"]
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
                for event in events:
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def run() -> None:
        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
            ready.append(server.sockets[0].getsockname()[1])
            started.set()
            await server.serve_forever()
        asyncio.run(main())

    threading.Thread(target=run, daemon=True).start()
    started.wait(10)
    return ready[0]


# -- the baseline proxy (subprocess mode) -----------------------------------------------------

def run_baseline_proxy(confdir: str, upstream_ca: str) -> None:
    from mitmproxy import http, options
    from mitmproxy.addons import next_layer, proxyserver, tlsconfig
    from mitmproxy.master import Master

    class StreamAll:
        def responseheaders(self, flow: http.HTTPFlow) -> None:
            if flow.response is not None:
                flow.response.stream = True

    class Announce:
        def __init__(self, ps: proxyserver.Proxyserver) -> None:
            self.ps = ps

        def running(self) -> None:
            port = self.ps.listen_addrs()[0][1]
            print(f"export HTTPS_PROXY=http://127.0.0.1:{port}", flush=True)
            print(f"export SSL_CERT_FILE={confdir}/mitmproxy-ca-cert.pem", flush=True)
            print("export BOTTLE_ID=baseline", flush=True)

    async def main() -> None:
        opts = options.Options()
        master = Master(opts)
        ps = proxyserver.Proxyserver()
        master.addons.add(ps, next_layer.NextLayer(), tlsconfig.TlsConfig(), StreamAll(), Announce(ps))
        opts.update(mode=["regular"], listen_host="127.0.0.1", listen_port=0, confdir=confdir,
                    connection_strategy="lazy", ssl_verify_upstream_trusted_ca=upstream_ca)
        await master.run()

    asyncio.run(main())


# -- client ------------------------------------------------------------------------------------

def start_proxy(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
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
    raise RuntimeError(f"proxy did not start: {cmd}")


class Tunnel:
    """One CONNECT tunnel through a proxy with TLS to the origin, HTTP/1.1 keep-alive."""

    def __init__(self, proxy_url: str, cafile: str, origin_port: int) -> None:
        host, port = proxy_url.removeprefix("http://").rsplit(":", 1)
        raw = socket.create_connection((host, int(port)))
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
    sys.path.insert(0, str(REPO))
    from tests.support.pki import TestPKI

    token = "bench-real-" + secrets.token_hex(20)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki = TestPKI(tmp / "pki")
        cert = pki.server_cert("origin", [HOST])
        origin_port = start_origin(cert.cert_path, cert.key_path, token)
        policy = tmp / "policy.yaml"
        policy.write_text(POLICY)
        env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_REAL_TOKEN": token}
        ours, ours_env = start_proxy(
            [sys.executable, "-m", "egress.cli", "egress", "run", "--listen", "127.0.0.1:0",
             "--policy", str(policy), "--upstream-ca", str(pki.ca_path),
             "--state-dir", str(tmp / "state"), "--audit-log", str(tmp / "audit.jsonl")], env)
        (tmp / "mitm").mkdir()
        base, base_env = start_proxy(
            [sys.executable, "-m", "benchmarks.credential_injection", "--baseline-proxy",
             str(tmp / "mitm"), str(pki.ca_path)], env)
        try:
            placeholder = ours_env["BENCH_TOKEN"]
            t_ours = Tunnel(ours_env["HTTPS_PROXY"], ours_env["SSL_CERT_FILE"], origin_port)
            t_base = Tunnel(base_env["HTTPS_PROXY"], base_env["SSL_CERT_FILE"], origin_port)
            s_ours: list[float] = []
            s_base: list[float] = []
            for i in range(warmup + requests):
                e_base, first_base = t_base.request(token)
                e_ours, first_ours = t_ours.request(placeholder)
                if i == 0:
                    # injected (the origin accepted the placeholder) and scrubbed (echo)
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--baseline-proxy", nargs=2, metavar=("CONFDIR", "UPSTREAM_CA"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_proxy:
        run_baseline_proxy(*args.baseline_proxy)
        return
    print(json.dumps(bench(args.requests, args.warmup), indent=2))


if __name__ == "__main__":
    main()
