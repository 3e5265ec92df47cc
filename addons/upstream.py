"""The next hop: chaining to the forward proxy (pipelock) and telling it which bottle is
speaking (`Upstream`); failures towards the origin or the upstream proxy, and mitmproxy's own
refusals, answered as JSON (`UpstreamErrors`).

When mitmproxy cannot reach the origin (or the next-hop proxy), fails the TLS handshake
with it, or refuses a body over `body_size_limit`, it sets the flow's error, calls the
`error` hook, and then answers the client with an HTML page of its own. An agent cannot
tell that page from an origin's, and the audit said `allow`. Here:

- the `error` hook (`UpstreamErrors`) classifies the failure into a finding
  (`error/upstream-unreachable`, `error/upstream-tls`, `error/upstream-timeout`; a body over
  the limit was already recorded by `addons.limits` as `limits/body-too-large`), records it
  fail-closed (audit mode too: nothing was forwarded anyway), and sets our JSON answer as
  the flow's response, so the audit event has the status and the verdict (`error`);
- `install()` wraps mitmproxy's HTTP stream so that the HTML error it is about to send for
  such a flow is replaced by that answer (headers, body, end of message), after which the
  connection is closed as mitmproxy would have (HTTP/1; an HTTP/2 stream simply ends).

Only failures the client has received nothing of are answered; a streamed response that
fails midway is cut as before. Live only: replay has no connections to fail.

mitmproxy has no per-request response timeout: an origin that accepts a request and never
answers holds the agent until mitmproxy's 600 s inactivity limit, and then ends without
JSON. `UpstreamErrors` arms a timer when a request is complete (the `request` hook; for a
streamed body, after its last byte) and disarms it at `responseheaders` or `error`. When it
fires (`limits.response_timeout`), the flow gets `error/upstream-timeout` and our 504 as its
response, and the task reading the server connection is cancelled: mitmproxy then closes that
connection (freeing it) and fails the stream with a protocol error, whose error page the
wrapper below replaces with the 504, exactly as for a connect failure. A server connection
shared by HTTP/2 streams (an h2 origin) ends for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Generator
from typing import Any

from mitmproxy import connection, ctx, flow, http
from mitmproxy.proxy import events, layer
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import SendHttp
from mitmproxy.proxy.layers.http._events import (
    ErrorCode,
    ResponseData,
    ResponseEndOfMessage,
    ResponseHeaders,
    ResponseProtocolError,
)

from addons.support.flows import denial_response, existing_record, record_failure, record_of
from egress.agent_identity import agent_of
from egress.findings import Finding
from egress.runtime import Runtime

AGENT_HEADER = "X-Pipelock-Agent"


class Upstream:
    name = "upstream"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _agent(self, flow: http.HTTPFlow) -> str:
        """The bottle id, or behind a shared egress (`--agent-identities`) the agent that
        authenticated this flow or its tunnel's CONNECT."""
        identities = self.runtime.identities
        if identities is None:
            return self.runtime.bottle_id
        agent = agent_of(flow.metadata) or identities.connections.get(flow.client_conn.id)
        if agent is None:  # unreachable: unauthenticated flows are answered 407 first
            raise RuntimeError("flow to the upstream without an authenticated agent")
        return agent

    def http_connect_upstream(self, flow: http.HTTPFlow) -> None:
        flow.request.headers[AGENT_HEADER] = self._agent(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Plain-HTTP requests travel to the upstream proxy as they are: stamp them too, and
        # overwrite whatever the agent put there so one bottle cannot pose as another.
        if flow.response or flow.error:
            return
        # (In upstream mode mitmproxy sends every plain-HTTP request to the upstream proxy;
        # `server_conn.via` is set only once the connection is opened, after this hook.)
        if flow.request.scheme == "http":
            flow.request.headers[AGENT_HEADER] = self._agent(flow)
        elif AGENT_HEADER in flow.request.headers:
            del flow.request.headers[AGENT_HEADER]


_HINTS = {
    "upstream-unreachable": "The destination is allowed but did not answer. Check that it is up "
    "and reachable from the egress proxy; retrying later may help.",
    "upstream-tls": "The destination is allowed but its TLS certificate is not trusted by the "
    "egress proxy (or the handshake failed). It is not a policy denial; report it to the "
    "bottle's operator (`--upstream-ca` adds a trusted CA).",
    "upstream-timeout": "The destination is allowed but did not answer in time; retry later.",
}
RESPONSE_TIMEOUT_HINT = ("The destination is allowed and accepted the request but sent no "
                         "response in time (limits.response_timeout); retry later, or ask the "
                         "bottle's operator to raise the limit for slow endpoints.")


def _connection_handler(client: connection.Client) -> Any:
    """mitmproxy's handler of this client connection (None outside the live proxy)."""
    master = getattr(ctx, "master", None)
    server = master.addons.get("proxyserver") if master is not None else None
    connections = getattr(server, "connections", None)
    return connections.get(client.id) if connections is not None else None

# Flows whose mitmproxy error page is to be replaced by the flow's (JSON) response.
_ANSWERED: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
_MARK = "_bottle_egress_json_errors"


def classify(message: str) -> Finding | None:
    """The finding for an error message mitmproxy reports about the server side, or None for
    one that is not about reaching the server (a client that went away, a kill)."""
    text = message.lower()
    if message == flow.Error.KILLED_MESSAGE or "client disconnected" in text \
            or "body_size_limit" in text or text.startswith("connection killed"):
        return None
    if "tls" in text or "ssl" in text or "certificate" in text:
        rule, status, what = "upstream-tls", 502, "the TLS handshake with the destination failed"
    elif "timed out" in text or "timeout" in text or "errno 110" in text:  # ETIMEDOUT
        rule, status, what = "upstream-timeout", 504, "connecting to the destination timed out"
    elif "connect" in text or "errno" in text or "server closed connection" in text \
            or "name or service" in text or "unreachable" in text or "refused" in text:
        rule, status, what = "upstream-unreachable", 502, "the destination could not be reached"
    else:
        return None
    return Finding("error", rule, "block", "upstream", what, status=status, hint=_HINTS[rule])


class UpstreamErrors:
    name = "upstream-errors"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # flow id -> its response timer, while the flow waits for response headers
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # -- response timeout ---------------------------------------------------------------------

    def request(self, f: http.HTTPFlow) -> None:
        if f.response is not None or f.error is not None:
            return  # refused, answered, or the response came early: nothing to wait for
        handler = _connection_handler(f.client_conn)
        if handler is None:
            return
        seconds = record_of(f, self.runtime).policy.policy.limits.response_timeout
        self._arm(f, handler, seconds)

    def _arm(self, f: http.HTTPFlow, handler: Any, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[f.id] = loop.call_later(seconds, self._expire, f, handler, seconds)

    def _disarm(self, f: http.HTTPFlow) -> None:
        timer = self._timers.pop(f.id, None)
        if timer is not None:
            timer.cancel()

    def responseheaders(self, f: http.HTTPFlow) -> None:
        self._disarm(f)

    response = responseheaders

    def _expire(self, f: http.HTTPFlow, handler: Any, seconds: float) -> None:
        self._timers.pop(f.id, None)
        if f.response is not None or f.error is not None or not f.live:
            return
        io = handler.transports.get(f.server_conn)
        task = getattr(io, "handler", None)
        if task is None:
            # Still connecting (mitmproxy's connect timeout decides that): look again later.
            self._arm(f, handler, seconds)
            return
        finding = Finding("error", "upstream-timeout", "block", "upstream",
                          f"the destination sent no response headers within "
                          f"limits.response_timeout ({seconds:g} s)", status=504,
                          hint=RESPONSE_TIMEOUT_HINT)
        finding = record_failure(f, self.runtime, [finding]).blocked or finding
        f.response = denial_response(finding, f.id, self.runtime.bottle_id)
        _ANSWERED.add(f)
        # mitmproxy closes the connection and fails the stream; `error` and the wrapper in
        # `install()` then audit it and send the 504.
        with contextlib.suppress(Exception):
            task.cancel("response timeout")

    # -- failures -------------------------------------------------------------------------------

    def error(self, f: http.HTTPFlow) -> None:
        self._disarm(f)
        if f.error is None or f.websocket is not None:
            return
        rec = existing_record(f)
        cut = rec is not None and rec.cut
        if cut or (f.response is not None and f.response.stream):
            return  # bytes already went to the client: it is cut, not answered
        if "body_size_limit" in f.error.msg:
            # `addons.limits` recorded `limits/body-too-large`; mitmproxy read no more of it.
            if rec is None or rec.blocked is None:
                return
            finding = rec.blocked
        else:
            if f.response is not None:
                return
            found = classify(f.error.msg)
            if found is None:
                return
            finding = record_failure(f, self.runtime, [found]).blocked or found
        f.response = denial_response(finding, f.id, self.runtime.bottle_id)
        _ANSWERED.add(f)


def _answer(stream: Any, error: ResponseProtocolError) -> Generator[Any, None, None]:
    response: http.Response = stream.flow.response
    body = response.raw_content or b""
    yield SendHttp(ResponseHeaders(error.stream_id, response, not body), stream.context.client)
    if body:
        yield SendHttp(ResponseData(error.stream_id, body), stream.context.client)
    yield SendHttp(ResponseEndOfMessage(error.stream_id), stream.context.client)
    # What mitmproxy does after its own error page: close an HTTP/1 connection (its request
    # may be half read). An answered HTTP/2 stream is closed already: nothing happens there.
    yield SendHttp(ResponseProtocolError(error.stream_id, error.message,
                                         ErrorCode.PASSTHROUGH_CLOSE), stream.context.client)


def install() -> None:
    """Wrap `HttpStream.handle_event` once per process (idempotent; live proxy only)."""
    stream_class = http_layers.HttpStream
    original = stream_class.handle_event
    if getattr(original, _MARK, False):
        return

    def handle_event(self: Any, event: events.Event) -> layer.CommandGenerator[None]:
        for command in original(self, event):
            if isinstance(command, SendHttp) and isinstance(command.event, ResponseProtocolError) \
                    and command.connection is self.context.client \
                    and getattr(self, "flow", None) in _ANSWERED and self.flow.response is not None:
                _ANSWERED.discard(self.flow)
                yield from _answer(self, command.event)
            else:
                yield command

    setattr(handle_event, _MARK, True)
    stream_class.handle_event = handle_event  # type: ignore[method-assign]
