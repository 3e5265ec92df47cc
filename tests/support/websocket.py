"""A WebSocket echo origin over TLS and a client that goes through the proxy (wsproto)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Request,
    TextMessage,
)

from tests.support.pki import ServerCert


class EchoOrigin:
    """Accepts WebSocket upgrades and echoes every text message; records what it received."""

    def __init__(self, cert: ServerCert) -> None:
        self.received: list[str] = []
        self.received_bytes: list[bytes] = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert.cert_path, cert.key_path)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> EchoOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            return
        ws = WSConnection(ConnectionType.SERVER)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        conn.sendall(ws.send(AcceptConnection()))
                    elif isinstance(event, TextMessage):
                        self.received.append(event.data)
                        conn.sendall(ws.send(Message(data=f"echo:{event.data}")))
                    elif isinstance(event, BytesMessage):
                        self.received_bytes.append(bytes(event.data))
                        conn.sendall(ws.send(Message(data=b"echo:" + bytes(event.data))))
                    elif isinstance(event, CloseConnection):
                        conn.sendall(ws.send(event.response()))
                        return


class ProxiedClient:
    """A WebSocket client speaking through an HTTP proxy (CONNECT, then TLS, then upgrade)."""

    def __init__(self, proxy_url: str, host: str, port: int, cafile: str) -> None:
        phost, pport = proxy_url.removeprefix("http://").rsplit(":", 1)
        raw = socket.create_connection((phost, int(pport)), timeout=10)
        raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(4096)
            if not chunk:
                raise ConnectionError("proxy closed the connection")
            head += chunk
        if b" 200" not in head.split(b"\r\n")[0]:
            raise ConnectionError(head.split(b"\r\n")[0].decode())
        ctx = ssl.create_default_context(cafile=cafile)
        self.conn = ctx.wrap_socket(raw, server_hostname=host)
        self.conn.settimeout(5)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.conn.sendall(self.ws.send(Request(host=f"{host}:{port}", target="/ws")))
        self._pending: list[Any] = []
        if not any(isinstance(e, AcceptConnection) for e in self._events()):
            raise ConnectionError("upgrade refused")

    def _events(self) -> list[Any]:
        data = self.conn.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        self.ws.receive_data(data)
        return list(self.ws.events())

    def exchange(self, text: str | bytes) -> str:
        """Send a text (or, for bytes, binary) message; return the reply as text (raises
        ConnectionError if the link dies)."""
        if isinstance(text, str):
            self.conn.sendall(self.ws.send(Message(data=text)))
        else:
            self.conn.sendall(self.ws.send(Message(data=text)))
        while True:
            for event in self._events():
                if isinstance(event, TextMessage):
                    return str(event.data)
                if isinstance(event, BytesMessage):
                    return bytes(event.data).decode("utf-8", "replace")
                if isinstance(event, CloseConnection):
                    raise ConnectionError(f"closed: {event.code}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
