"""Trailers adapter: header fields after a body are refused (`limits/trailers`), never forwarded.

No scanner reads trailers, and mitmproxy 12 cannot carry them over HTTP/1: its HTTP/1 layer
raises `NotImplementedError` on them (a traceback, and a connection that hangs). `install()`
wraps the chunked body reader of every HTTP/1 connection so that trailers are taken off the
message and their names remembered for the connection they arrived on; the hooks here turn
that (and HTTP/2 trailers, which mitmproxy does parse) into refusals:

- a request that declares trailers (`Trailer` header), or whose trailers arrived together
  with its head, gets a JSON 400 before anything is sent;
- a request whose body is already streaming upstream when its trailers arrive (DLP streams
  chunked bodies) is aborted on both sides — the trailers end it as a protocol error, so
  the origin never sees it complete — and audited;
- a buffered request with trailers (HTTP/1 or HTTP/2) gets a JSON 400;
- a response that declares trailers (`Trailer` header) gets a JSON 502 before any of its body
  leaves; one with undeclared trailers gets a JSON 502, or, if it was streamed, is cut off —
  except an HTTP/2 response to an HTTP/2 client (gRPC ends every call with trailers), which
  passes.

Refusals hold in audit mode too. Runs last among the inspection addons: it must see whether
an earlier one chose to stream the request body.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator
from typing import Any

import h11
from h11._readers import ChunkedReader
from mitmproxy import http
from mitmproxy.connection import Connection
from mitmproxy.proxy.layers.http import _http1

from addons.support.flows import fail, record_failure, record_of
from egress.findings import Finding
from egress.runtime import Runtime

# connection -> names of the trailer fields that ended its last message
_SEEN: weakref.WeakKeyDictionary[Connection, list[str]] = weakref.WeakKeyDictionary()
# client connections whose current request body streams upstream as it arrives
_STREAMING: weakref.WeakSet[Connection] = weakref.WeakSet()
_MARK = "_bottle_egress_trailers"


class _TrailerCatcher:
    """A chunked body reader that takes trailer fields off and records their names."""

    def __init__(self, inner: ChunkedReader, conn: Connection, is_request: bool) -> None:
        self.inner = inner
        self.conn = conn
        self.is_request = is_request

    def __call__(self, buf: Any) -> Any:
        event = self.inner(buf)
        if isinstance(event, h11.EndOfMessage) and event.headers:
            _SEEN[self.conn] = [bytes(name).decode("latin-1") for name, _ in event.headers]
            if self.is_request and self.conn in _STREAMING:
                # mitmproxy turns this into a protocol error on both sides, no traceback.
                raise h11.RemoteProtocolError("trailer fields are refused")
            return h11.EndOfMessage()
        return event

    def read_eof(self) -> Any:
        return self.inner.read_eof()


def install() -> None:
    """Wrap `Http1Connection.read_body` once per process (idempotent; live proxy only)."""
    original = _http1.Http1Connection.read_body
    if getattr(original, _MARK, False):
        return

    def read_body(self: Any, event: Any) -> Generator[Any, Any, None]:
        if isinstance(self.body_reader, ChunkedReader):
            is_request = isinstance(self, _http1.Http1Server)
            self.body_reader = _TrailerCatcher(self.body_reader, self.conn, is_request)
        yield from original(self, event)

    setattr(read_body, _MARK, True)
    _http1.Http1Connection.read_body = read_body  # type: ignore[method-assign]


def _take(conn: Connection | None) -> list[str]:
    return _SEEN.pop(conn, []) if conn is not None else []


def _names(trailers: http.Headers | None) -> list[str]:
    return list(trailers.keys()) if trailers else []


class Trailers:
    name = "trailers"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _refuse(self, flow: http.HTTPFlow, where: str, count: int, status: int,
                gone: bool = False) -> None:
        rec = record_of(flow, self.runtime)
        # Field names are the sender's words: counted, not quoted.
        finding = Finding("limits", "trailers", "block", where,
                          f"the {where.split('.')[0]} carries {count} trailer field(s); trailers "
                          "are not inspected and never forwarded", status=status)
        if rec.blocked is not None:
            record_failure(flow, self.runtime, [finding])
        elif gone:
            # Part of the message has left already: record the refusal and cut the flow off.
            record_failure(flow, self.runtime, [finding])
            if flow.killable:
                flow.kill()
        else:
            fail(flow, self.runtime, finding)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        client = flow.client_conn
        # Trailers already read: the whole request came in with its head. Declared ones: refused
        # before the body arrives. Either way nothing has been sent upstream yet.
        count = len(_take(client)) if _SEEN else 0
        if not count and "trailer" in flow.request.headers:
            count = sum(len(v.split(",")) for v in flow.request.headers.get_all("trailer"))
        if count:
            _STREAMING.discard(client)
            flow.request.stream = False  # a denial and a streamed body cannot go together
            self._refuse(flow, "request.trailers", count, 400)
        elif flow.request.stream and flow.response is None:
            _STREAMING.add(client)
        else:
            _STREAMING.discard(client)

    def request(self, flow: http.HTTPFlow) -> None:
        names = (_take(flow.client_conn) if _SEEN else []) or _names(flow.request.trailers)
        if names:
            flow.request.trailers = None  # sent after this hook when the body was streamed
            self._refuse(flow, "request.trailers", len(names), 400, gone=bool(flow.request.stream))

    def error(self, flow: http.HTTPFlow) -> None:
        names = _take(flow.client_conn) if _SEEN else []
        if names:
            self._refuse(flow, "request.trailers", len(names), 400, gone=True)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        # A response that declares trailers is refused before any of its body leaves, streamed
        # or not: afterwards only a cut would be left (gRPC's HTTP/2 end to end excepted).
        response = flow.response
        if response is None or "trailer" not in response.headers:
            return
        if flow.request.is_http2 and response.is_http2:
            return
        count = sum(len(v.split(",")) for v in response.headers.get_all("trailer"))
        self._refuse(flow, "response.trailers", count, 502)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or record_of(flow, self.runtime).blocked is not None:
            return
        names = _take(flow.server_conn) if _SEEN else []
        if not names and not (flow.request.is_http2 and flow.response.is_http2):
            names = _names(flow.response.trailers)
        if names:
            flow.response.trailers = None
            self._refuse(flow, "response.trailers", len(names), 502,
                         gone=bool(flow.response.stream))
