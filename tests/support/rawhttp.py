"""Protocol corners no ordinary client produces: raw HTTP/1 bytes and hand-built HTTP/2 frames
sent through the real proxy (CONNECT, TLS with a chosen SNI, then whatever the test writes)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events


def proxy_address(proc: Any) -> tuple[str, int]:
    host, port = proc.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def tunnel(proc: Any, connect: str, sni: str | None = None, tls: bool = True,
           alpn: list[str] | None = None, timeout: float = 20) -> Iterator[socket.socket]:
    """A CONNECT tunnel to `connect` through the proxy; TLS (bottle CA) with SNI `sni`."""
    raw = socket.create_connection(proxy_address(proc), timeout=timeout)
    try:
        raw.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
        reply = read_head(raw)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        if not tls:
            yield raw
            return
        ctx = ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])
        # ALPN as real clients send it: the proxy then reads HTTP whatever the first bytes are.
        ctx.set_alpn_protocols(alpn or ["http/1.1"])
        with ctx.wrap_socket(raw, server_hostname=sni or connect.rsplit(":", 1)[0]) as wrapped:
            yield wrapped
    finally:
        raw.close()


@dataclass
class Reply:
    status: int
    head: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def read_reply(sock: socket.socket) -> Reply | None:
    """One HTTP/1 response (Content-Length, chunked or until close); None if the connection
    was closed without one."""
    data = read_head(sock)
    if b"\r\n\r\n" not in data:
        return None
    head, _, rest = data.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    reply = Reply(int(text.split(" ", 2)[1]), text, b"")
    length = reply.header("content-length")
    if length is not None:
        while len(rest) < int(length):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        reply.body = rest[: int(length)]
    elif "chunked" in (reply.header("transfer-encoding") or "").lower():
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body, buf = body + buf[:size], buf[size + 2 :]
        reply.body = body
    else:
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                rest += chunk
        reply.body = rest
    return reply


def exchange(proc: Any, connect: str, request: bytes, sni: str | None = None,
             tls: bool = True) -> Reply | None:
    with tunnel(proc, connect, sni, tls) as sock:
        sock.sendall(request)
        return read_reply(sock)


def connect_answer(proc: Any, target: str, timeout: float = 20) -> Reply:
    """What a client learns of a CONNECT to `target` that the policy refuses: the refusal
    itself (a 4xx with its body), or, when the proxy holds the tunnel (the bottle CA may issue
    for the name: `addons/tunnel_denials.py`), the answer to a plain request sent inside it.
    A 200 to that request (a tunnel that really opened) is returned as it is."""
    with socket.create_connection(proxy_address(proc), timeout=timeout) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head, _, body = read_head(sock).partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        reply = Reply(int(text.split(" ", 2)[1]), text, body)
        if reply.status != 200:
            while len(reply.body) < int(reply.header("content-length") or 0):
                reply.body += sock.recv(65536)
            return reply
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n".encode())
        inner = read_reply(sock)
        assert inner is not None, f"no answer inside the tunnel to {target}"
        return inner


def plain_proxy_request(proc: Any, request: bytes, timeout: float = 20) -> Reply | None:
    """`request` (absolute-form, plain HTTP) sent to the proxy itself, no CONNECT."""
    with socket.create_connection(proxy_address(proc), timeout=timeout) as sock:
        sock.sendall(request)
        return read_reply(sock)


@dataclass
class H2Reply:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False

    @property
    def status(self) -> int:
        return int(self.headers.get(":status", "0"))


def h2_request(proc: Any, connect: str, headers: list[tuple[str, str]], body: bytes = b"",
               sni: str | None = None, trailers: list[tuple[str, str]] | None = None) -> H2Reply:
    """One HTTP/2 request with exactly `headers` (pseudo-headers included, not validated)."""
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                       validate_outbound_headers=False,
                                       normalize_outbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    reply = H2Reply()
    with tunnel(proc, connect, sni, alpn=["h2"]) as sock:
        assert isinstance(sock, ssl.SSLSocket) and sock.selected_alpn_protocol() == "h2"
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, headers, end_stream=not body and not trailers)
        if body:
            conn.send_data(stream, body, end_stream=not trailers)
        if trailers:
            conn.send_headers(stream, trailers, end_stream=True)
        sock.sendall(conn.data_to_send())
        done = False
        while not done:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    reply.headers = {str(k): str(v) for k, v in event.headers}
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    reply.body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    done = True
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                    reply.reset, done = True, True
                elif isinstance(event, h2.events.ConnectionTerminated):
                    done = True
            sock.sendall(conn.data_to_send())
    return reply
