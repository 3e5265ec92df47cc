"""A TLS origin that keeps every byte each connection sent it, whole request or not.

`tests.support.origin.Origin` records a request once it has read all of it; a request cut off
mid-body (the proxy stopping a stream) is lost there. This one records raw bytes as they
arrive, per connection, so a test can say exactly how much of a cut request reached the
origin. A request that does complete (Content-Length reached, or the last chunk of a chunked
body) is answered 200 with `Connection: close`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

from tests.support.pki import ServerCert


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return body.endswith(b"\r\n0\r\n\r\n") or body == b"0\r\n\r\n"
    return len(body) >= int(fields.get(b"content-length", b"0") or 0)


def dechunk(body: bytes) -> bytes:
    """The data of a chunked body, as far as it arrived (a cut-off chunk counts as far as
    its bytes go)."""
    out = b""
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


class SinkOrigin:
    def __init__(self, cert: ServerCert) -> None:
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert.cert_path, cert.key_path)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._done = threading.Event()
        self._finished = threading.Condition(self._lock)
        self.finished = 0  # connections that ended (answered, closed or cut)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> SinkOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, raw: socket.socket) -> None:
        try:
            self._read(raw)
        finally:
            with self._finished:
                self.finished += 1
                self._finished.notify_all()

    def wait_finished(self, count: int, timeout: float = 30) -> None:
        """Until `count` connections have ended (all their bytes are in `received`)."""
        with self._finished:
            if not self._finished.wait_for(lambda: self.finished >= count, timeout):
                raise AssertionError(f"only {self.finished} of {count} origin connections ended")

    def _read(self, raw: socket.socket) -> None:
        with self._lock:
            index = len(self.received)
            self.received.append(b"")
        raw.settimeout(30)
        try:
            conn = self._ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        with contextlib.closing(conn):
            data = b""
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                    with self._lock:
                        self.received[index] = data
                    if _complete(data):
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                     b"Connection: close\r\n\r\nok\n")
                        return
            except (OSError, ssl.SSLError):
                return  # cut off: what arrived is kept

    def requests(self) -> list[tuple[bytes, bytes]]:
        """(head, body as far as it arrived) of every connection that sent a request head."""
        with self._lock:
            received = list(self.received)
        out = []
        for data in received:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                out.append((head, dechunk(body) if b"chunked" in head.lower() else body))
        return out
