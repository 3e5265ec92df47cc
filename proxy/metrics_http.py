"""`--metrics-listen`: one small HTTP listener for `/metrics`, `/healthz` and `/readyz`.

It runs in threads of its own (`ThreadingHTTPServer`), never on mitmproxy's event loop: a
slow scraper or the readiness check's TCP connect to the upstream cannot stall a flow.
Nothing it answers holds a hostname, a path or a value from traffic.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from egress.metrics import ProxyMetrics

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

# The upstream check: a TCP connect this short, its answer reused this long (probes and
# scrapes every few seconds must not open a connection to pipelock each time).
UPSTREAM_TIMEOUT = 1.0
UPSTREAM_CACHE_SECONDS = 2.0


@dataclass
class Readiness:
    """What `/readyz` reports on; `_serve` sets the flags as start-up gets there."""

    policy_loaded: bool = False
    listening: bool = False
    upstream: tuple[str, int] | None = None
    _checked: tuple[float, str | None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _upstream_problem(self) -> str | None:
        if self.upstream is None:
            return None
        with self._lock:
            now = time.monotonic()
            if self._checked is not None and now - self._checked[0] < UPSTREAM_CACHE_SECONDS:
                return self._checked[1]
            host, port = self.upstream
            try:
                with socket.create_connection((host, port), timeout=UPSTREAM_TIMEOUT):
                    problem = None
            except OSError as e:
                problem = f"upstream {host}:{port} unreachable ({e.strerror or type(e).__name__})"
            self._checked = (time.monotonic(), problem)
            return problem

    def problem(self) -> str | None:
        """Why the proxy is not ready, or None."""
        if not self.policy_loaded:
            return "policy not loaded"
        if not self.listening:
            return "proxy listener not up"
        return self._upstream_problem()


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: ProxyMetrics, readiness: Readiness) -> None:
        self.metrics = metrics
        self.readiness = readiness
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="bottle-metrics",
                                        kwargs={"poll_interval": 0.5}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        self.server_close()

    @property
    def url(self) -> str:
        raw, port = self.server_address[0], self.server_address[1]
        host = raw.decode() if isinstance(raw, bytes) else raw
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    # A client that connects and sends nothing does not hold a thread for ever.
    timeout = 10
    server_version = "bottle-egress"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            self._send(200, CONTENT_TYPE_LATEST, self.server.metrics.exposition())
        elif path == HEALTH_PATH:
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        elif path == READY_PATH:
            problem = self.server.readiness.problem()
            doc: dict[str, Any] = {"ready": problem is None}
            if problem is not None:
                doc["reason"] = problem
            self._send(200 if problem is None else 503, "application/json",
                       json.dumps(doc).encode() + b"\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz, /readyz\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: probes every few seconds would drown the proxy's own log."""


def start_server(address: tuple[str, int], metrics: ProxyMetrics, readiness: Readiness) -> MetricsServer:
    """Bind and start serving; raises `OSError` when the address cannot be bound."""
    server = MetricsServer(address, metrics, readiness)
    server.start()
    return server
