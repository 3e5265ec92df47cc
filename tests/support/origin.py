"""A real HTTPS origin on loopback that records every request it receives."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.pki import ServerCert


@dataclass
class SeenRequest:
    method: str
    path: str
    host: str
    headers: dict[str, str]
    body: bytes
    sni: str | None = None


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # When set, the body is sent chunked, each chunk flushed as soon as it is produced
    # (server-sent events); `body` is then ignored. With a Content-Length header, the chunks
    # are written as they are, without chunked framing.
    chunks: Iterable[bytes] | None = None


Route = Callable[[SeenRequest], Reply]


def echo(req: SeenRequest) -> Reply:
    doc = {"method": req.method, "path": req.path, "host": req.host,
           "headers": req.headers, "body": req.body.decode("utf-8", "replace")}
    return Reply(200, {"Content-Type": "application/json"}, json.dumps(doc).encode())


class Origin:
    """`routes` maps a path prefix to a handler; the longest matching prefix answers."""

    def __init__(self, cert: ServerCert | None, routes: dict[str, Route] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.seen: list[SeenRequest] = []
        self.routes: dict[str, Route] = {"/": lambda r: Reply(200, {"Content-Type": "text/plain"},
                                                              b"hello from origin\n")}
        self.routes.update(routes or {})
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                sni = getattr(self.connection, "bottle_sni", None)
                req = SeenRequest(self.command, self.path, self.headers.get("Host", ""),
                                  {k: v for k, v in self.headers.items()}, body, sni)
                origin.seen.append(req)
                route = max((p for p in origin.routes if self.path.startswith(p)), key=len)
                reply = origin.routes[route](req)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.chunks is not None and "Content-Length" in reply.headers:
                    self.end_headers()
                    try:
                        for chunk in reply.chunks:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                    except OSError:
                        self.close_connection = True
                    return
                if reply.chunks is not None:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for chunk in reply.chunks:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                    except OSError:  # the proxy cut the connection
                        self.close_connection = True
                    return
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            def _read_chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert.cert_path, cert.key_path)

            def remember_sni(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
                sock.bottle_sni = name  # type: ignore[attr-defined]

            ctx.sni_callback = remember_sni
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Origin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [r.path for r in self.seen]
