"""A TLS test origin for containers: stdlib only, one JSON line per request on stdout.

Run as `python3 origin_server.py CERT KEY PORT`. It answers `/` with a greeting and every
other path with an echo of the request; tests read what it saw from `docker logs`. For
memory measurements: `GET /bytes/N` answers N bytes, `/sink` reads the body and logs only its
size.
"""

from __future__ import annotations

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        if self.path.startswith(("/bytes/", "/sink")):
            self._bulk()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"method": self.command, "path": self.path, "host": self.headers.get("Host", ""),
                "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
        print(json.dumps(seen), flush=True)
        reply = b"hello from origin\n" if self.path in ("/", "/hello") else json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path in ("/", "/hello")
                         else "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    def _bulk(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = 0
        while received < length:
            received += len(self.rfile.read(min(1 << 20, length - received)))
        size = int(self.path.split("/")[2]) if self.path.startswith("/bytes/") else 0
        print(json.dumps({"bulk": f"{self.command} {self.path}", "body_bytes": received}),
              flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = bytes(range(256)) * 4096  # 1 MiB
        while size > 0:
            self.wfile.write(chunk[:size])
            size -= len(chunk)

    do_GET = do_POST = do_PUT = do_HEAD = _handle


def main() -> None:
    cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"listening": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
