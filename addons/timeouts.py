"""Idle and header-read timeouts for client connections (`limits.idle_timeout_seconds`,
`limits.header_timeout_seconds`).

mitmproxy closes a connection only after `tcp_timeout` (600 s) without any traffic, and a
client that trickles a request head a byte at a time never reaches even that. This addon
tracks each client connection: while a request, CONNECT, WebSocket or raw tunnel is in
progress it leaves the connection alone (a slow origin is not the client's doing; mitmproxy's
own inactivity limit still applies). Between requests:

- nothing sent: the connection is closed `idle_timeout_seconds` after it went idle (after
  it was accepted, the CONNECT was answered, or the last response finished);
- bytes arriving (a request head, or a TLS handshake after CONNECT): the request head must
  be complete within `header_timeout_seconds` of the first of them.

A closed connection is written to the audit log (`event: timeout`). Live only: it reaches
into mitmproxy's connection handlers, which replay does not have.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import connection, ctx, http, tcp
from mitmproxy.proxy import events

from egress.audit import utc_now
from egress.runtime import Runtime


@dataclass
class _Watch:
    handler: Any  # mitmproxy's ProxyConnectionHandler for the client connection
    flows: set[str] = field(default_factory=set)
    idle_since: float = field(default_factory=time.monotonic)
    head_started: float | None = None
    timer: asyncio.TimerHandle | None = None
    first_bytes: Callable[[events.Event], Awaitable[None]] | None = None


class ConnectionTimeouts:
    name = "connection-timeouts"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._watches: dict[str, _Watch] = {}

    @staticmethod
    def _handler(client: connection.Client) -> Any:
        """mitmproxy's handler of this client connection (None outside the live proxy)."""
        master = getattr(ctx, "master", None)
        server = master.addons.get("proxyserver") if master is not None else None
        connections = getattr(server, "connections", None)
        return connections.get(client.id) if connections is not None else None

    # -- connection lifecycle ---------------------------------------------------------------

    def client_connected(self, client: connection.Client) -> None:
        handler = self._handler(client)
        if handler is None or client.transport_protocol != "tcp":
            return
        watch = _Watch(handler)
        self._watches[client.id] = watch
        original: Callable[[events.Event], Awaitable[None]] = handler.server_event

        async def first_bytes(event: events.Event) -> None:
            # The first bytes from the client on an idle connection start its head timer.
            if isinstance(event, events.DataReceived) and event.connection is client:
                _unwatch_events(handler)
                if watch.head_started is None and not watch.flows:
                    watch.head_started = time.monotonic()
                    self._schedule(client.id, watch)
            await original(event)

        watch.first_bytes = first_bytes
        self._idle(client.id, watch)

    def client_disconnected(self, client: connection.Client) -> None:
        watch = self._watches.pop(client.id, None)
        if watch is not None:
            _unwatch_events(watch.handler)
            if watch.timer is not None:
                watch.timer.cancel()

    def _idle(self, client_id: str, watch: _Watch) -> None:
        watch.idle_since = time.monotonic()
        watch.head_started = None
        # Events are looked at only while idle, until the first bytes: one wrapped call per
        # request, not one per event.
        watch.handler.server_event = watch.first_bytes
        self._schedule(client_id, watch)

    # -- what is in progress ----------------------------------------------------------------

    def _busy(self, f: http.HTTPFlow | tcp.TCPFlow) -> None:
        watch = self._watches.get(f.client_conn.id)
        if watch is None:
            return
        watch.flows.add(f.id)
        _unwatch_events(watch.handler)
        if watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None

    def _done(self, f: http.HTTPFlow | tcp.TCPFlow) -> None:
        watch = self._watches.get(f.client_conn.id)
        if watch is None or f.id not in watch.flows:
            return
        watch.flows.discard(f.id)
        if not watch.flows:
            self._idle(f.client_conn.id, watch)

    def http_connect(self, f: http.HTTPFlow) -> None:
        self._busy(f)

    def requestheaders(self, f: http.HTTPFlow) -> None:
        self._busy(f)

    def websocket_start(self, f: http.HTTPFlow) -> None:
        self._busy(f)

    def tcp_start(self, f: tcp.TCPFlow) -> None:
        self._busy(f)

    def response(self, f: http.HTTPFlow) -> None:
        if f.websocket is None:
            self._done(f)

    def http_connected(self, f: http.HTTPFlow) -> None:
        self._done(f)

    http_connect_error = http_connected
    error = http_connected
    websocket_end = http_connected

    def tcp_end(self, f: tcp.TCPFlow) -> None:
        self._done(f)

    tcp_error = tcp_end

    # -- deadlines ----------------------------------------------------------------------------

    def _schedule(self, client_id: str, watch: _Watch) -> None:
        if watch.timer is not None:
            watch.timer.cancel()
            watch.timer = None
        if watch.flows:
            return
        limits = self.runtime.policy.policy.limits
        if watch.head_started is not None:
            deadline = watch.head_started + limits.header_timeout_seconds
        else:
            deadline = watch.idle_since + limits.idle_timeout_seconds
        loop = asyncio.get_running_loop()
        # The loop's clock is monotonic too: convert a time.monotonic() deadline to it.
        when = loop.time() + (deadline - time.monotonic())
        watch.timer = loop.call_at(when, self._expire, client_id, watch)

    def _expire(self, client_id: str, watch: _Watch) -> None:
        watch.timer = None
        if self._watches.get(client_id) is not watch or watch.flows:
            return
        client = watch.handler.client
        io = watch.handler.transports.get(client)
        writer = getattr(io, "writer", None)
        transport = getattr(writer, "transport", None)
        if transport is not None and transport.get_write_buffer_size() > 0:
            # Still sending the last response to a slow reader: not idle. Look again later.
            watch.idle_since = time.monotonic()
            self._schedule(client_id, watch)
            return
        kind = "header" if watch.head_started is not None else "idle"
        limits = self.runtime.policy.policy.limits
        seconds = limits.header_timeout_seconds if kind == "header" else limits.idle_timeout_seconds
        peer = f"{client.peername[0]}:{client.peername[1]}" if client.peername else None
        self.runtime.audit.write({
            "time": utc_now(), "event": "timeout", "bottle": self.runtime.bottle_id,
            "client": peer, "kind": kind, "seconds": seconds,
            "reason": ("no complete request head within the header timeout" if kind == "header"
                       else "no request on an idle connection within the idle timeout"),
        })
        if io is not None and io.handler is not None:
            with contextlib.suppress(Exception):
                io.handler.cancel(f"{kind} timeout")


def _unwatch_events(handler: Any) -> None:
    """Back to the handler's own `server_event` (the watching one is an instance attribute)."""
    handler.__dict__.pop("server_event", None)
