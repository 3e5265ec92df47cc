"""Fail closed: an exception in any hook blocks the flow it was handling.

mitmproxy logs an exception raised by an addon hook and lets the flow continue, which for
an inspecting proxy means "uninspected traffic leaves". `Guarded` wraps every hook of an
addon so that an exception instead blocks the flow (502 with a JSON reason), kills the
connection where there is no response to give, and is written to the audit log. The
exception's message is never logged: it may quote the data that was being inspected.

"Exception" means any `BaseException`: a hook that raises `KeyboardInterrupt`, `SystemExit`
or `GeneratorExit` fails its flow like any other error instead of ending the proxy or
hanging the request (only a real cancellation of an async hook is passed on, after the flow
is failed).

A connection or TLS hook that fails closes the connection it was about (for a server
connection: before mitmproxy writes the request to it, which with lazy connections happens
after every request hook has run), and poisons its client connection: every later flow on
it is blocked at its first hook.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mitmproxy import connection, ctx, dns, flow, http, tcp
from mitmproxy.net.dns import response_codes
from mitmproxy.proxy import layer, server_hooks
from mitmproxy.proxy.layers.modes import Socks5AuthData
from mitmproxy.tls import ClientHelloData, TlsData

from addons.support.flows import blocked, cut, fail, record_failure
from egress.audit import utc_now
from egress.findings import Finding
from egress.runtime import Runtime

log = logging.getLogger("egress.guard")

# Hooks whose first argument is a flow.
FLOW_HOOKS = (
    "requestheaders", "request", "responseheaders", "response", "error",
    "http_connect", "http_connect_upstream", "http_connected", "http_connect_error",
    "websocket_start", "websocket_message", "websocket_end",
    "tcp_start", "tcp_message", "tcp_end", "tcp_error",
    "udp_start", "udp_message", "udp_end", "udp_error",
    "dns_request", "dns_response", "dns_error",
)
# Hooks about a connection or TLS handshake rather than a flow.
CONNECTION_HOOKS = (
    "client_connected", "client_disconnected", "server_connect", "server_connected",
    "server_disconnected", "server_connect_error",
    "tls_clienthello", "tls_start_client", "tls_start_server", "tls_established_client",
    "tls_established_server", "tls_failed_client", "tls_failed_server",
    "next_layer", "quic_start_client", "quic_start_server", "socks5_auth",
)
# Of those, the ones about the server side of a connection: a failure closes that server
# connection (the client gets mitmproxy's 502 for a request in flight); a failure in the
# others closes the client connection.
SERVER_SIDE_HOOKS = frozenset((
    "server_connect", "server_connected", "server_disconnected", "server_connect_error",
    "tls_start_server", "tls_established_server", "tls_failed_server", "quic_start_server",
))
# Lifecycle hooks are not wrapped: a failure there must stop start-up loudly.
LIFECYCLE_HOOKS = ("load", "configure", "running", "done", "update")
# mitmproxy hooks no addon of the chain is called for: mitmproxy's own log records.
UNFORWARDED_HOOKS = ("add_log",)


def _where(exc: BaseException) -> str:
    """File and line of the raise: enough to find the bug, nothing of the data."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"


def error_finding(addon: str, hook: str, exc: BaseException) -> Finding:
    return Finding(
        "error", "addon-exception", "block", f"{addon}.{hook}",
        f"internal error in {addon}.{hook} ({type(exc).__name__}); blocked (fail closed)",
        status=502,
    )


class FailClosed:
    """Shared fail-closed state of one proxy: connections poisoned by a failed TLS hook."""

    # Connection ids remembered (oldest forgotten first): far more than a proxy has open.
    MAX_POISONED = 65536

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.poisoned: dict[str, None] = {}

    def poison(self, client: connection.Client) -> None:
        self.poisoned[client.id] = None
        if len(self.poisoned) > self.MAX_POISONED:
            del self.poisoned[next(iter(self.poisoned))]

    def on_error(self, addon: str, hook: str, args: tuple[Any, ...], exc: BaseException) -> None:
        finding = error_finding(addon, hook, exc)
        target = args[0] if args else None
        fid = getattr(target, "id", None) if isinstance(target, flow.Flow) else None
        log.error("%s.%s raised %s at %s; %s blocked (fail closed)", addon, hook,
                  type(exc).__name__, _where(exc), f"flow {fid}" if fid else "connection")
        if self.runtime.metrics is not None:
            self.runtime.metrics.failclosed_error(addon, hook)
        if isinstance(target, flow.Flow):
            self._fail_flow(target, hook, finding)
            return
        client = self._fail_connection(hook, target)
        self.runtime.audit.write({
            "time": utc_now(), "event": "error", "bottle": self.runtime.bottle_id,
            "client": _peer(client), "verdict": "block",
            "findings": [finding.as_audit()],
        })

    def _fail_connection(self, hook: str, target: Any) -> connection.Client | None:
        """Undo whatever the failed hook may have half-done, close the connection it was
        about and poison its client connection. Returns that client."""
        error = "blocked: internal error (fail closed)"
        client: connection.Client | None = None
        conn: connection.Connection | None = None
        if isinstance(target, ClientHelloData):
            client = conn = target.context.client
            # never the passthrough (or early server contact) a failed hook may have asked for
            target.ignore_connection = False
            target.establish_server_tls_first = False
        elif isinstance(target, TlsData):
            client, conn = target.context.client, target.conn
            if hook in ("tls_start_client", "tls_start_server", "quic_start_client",
                        "quic_start_server"):
                # mitmproxy closes a connection whose start hook leaves no TLS context
                target.ssl_conn = None
        elif isinstance(target, server_hooks.ServerConnectionHookData):
            client, conn = target.client, target.server
        elif isinstance(target, connection.Client):
            client = conn = target
        elif isinstance(target, layer.NextLayer):
            client = conn = target.context.client
            target.layer = None
        elif isinstance(target, Socks5AuthData):
            client = conn = target.client_conn
            target.valid = False
        if client is None:
            return None
        self.poison(client)
        if hook in SERVER_SIDE_HOOKS:
            if conn is not None and conn is not client:
                conn.error = error  # `server_connect`: mitmproxy then never dials
                _close(client, conn, cancel=False)
        else:
            client.error = client.error or error  # `client_connected`: mitmproxy hangs up
            _close(client, client, cancel=True)
        return client

    def _fail_flow(self, f: flow.Flow, hook: str, finding: Finding) -> None:
        if isinstance(f, http.HTTPFlow):
            if hook == "http_connect_upstream":
                # The CONNECT to the upstream proxy is sent right after this hook whatever
                # we do; point it at a name that can never resolve (RFC 6761).
                f.request.host, f.request.port = "egress-blocked.invalid", 1
                f.request.authority = "egress-blocked.invalid:1"
                record_failure(f, self.runtime, [finding])
                return
            if hook == "websocket_message" and f.websocket and f.websocket.messages:
                f.websocket.messages[-1].drop()
            # An upgraded WebSocket gets the denial as a message; later ones are all dropped.
            fail(f, self.runtime, finding)
        elif isinstance(f, dns.DNSFlow):
            record_failure(f, self.runtime, [finding])
            f.response = f.request.fail(response_codes.SERVFAIL)
        elif isinstance(f, tcp.TCPFlow):
            if hook == "tcp_message" and f.messages:
                f.messages[-1].content = b""
            # No connection if it was not made yet; every later message dropped if it was.
            fail(f, self.runtime, finding)
        else:
            fail(f, self.runtime, finding)

    def on_stream_error(self, f: http.HTTPFlow, addon: str, exc: BaseException) -> None:
        """A streaming callable failed: record it; the caller forwards nothing more.

        The response object is left alone: mitmproxy is mid-stream, and swapping the
        response would also swap out the streaming callable that now drops all data.
        """
        finding = error_finding(addon, "stream", exc)
        log.error("%s stream callable raised %s at %s; rest of flow %s dropped (fail closed)",
                  addon, type(exc).__name__, _where(exc), f.id)
        if self.runtime.metrics is not None:
            self.runtime.metrics.failclosed_error(addon, "stream")
        record_failure(f, self.runtime, [finding])
        cut(f)

    def check_poisoned(self, f: flow.Flow) -> None:
        if self.poisoned and f.client_conn.id in self.poisoned:
            fail(f, self.runtime, Finding(
                "error", "connection-failed-closed", "block", "connection",
                "an earlier inspection step of this connection failed; blocked (fail closed)",
                status=502))


def _close(client: connection.Client, conn: connection.Connection, cancel: bool) -> None:
    """Close `conn` (the client connection or one of its server connections) now.

    Closing the writer makes mitmproxy drop everything it would still send on it (its send
    path skips a closing writer), so this holds even for a server connection whose request
    is written right after the failed hook returns. `cancel` also ends the task reading the
    connection, as mitmproxy's own close does; it is never done for a server connection,
    whose hooks run in that very task (cancelling it would hang the client's request)."""
    try:
        master = getattr(ctx, "master", None)
        server = master.addons.get("proxyserver") if master is not None else None
        handler = getattr(server, "connections", {}).get(client.id) if server is not None else None
        io = getattr(handler, "transports", {}).get(conn) if handler is not None else None
        if io is None:
            return  # not open (yet, or any more), or no live proxy (replay)
        if io.writer is not None and not io.writer.is_closing():
            io.writer.close()
        if cancel and io.handler is not None and io.handler is not asyncio.current_task():
            io.handler.cancel("fail closed")
    except Exception as e:  # never let failing closed fail: the poisoning still holds
        log.error("could not close a failed connection (%s)", type(e).__name__)


def _peer(client: connection.Client | None) -> str | None:
    if client is None or not client.peername:
        return None
    return f"{client.peername[0]}:{client.peername[1]}"


def _drop_last_message(f: flow.Flow) -> None:
    if isinstance(f, http.HTTPFlow) and f.websocket is not None and f.websocket.messages:
        message = f.websocket.messages[-1]
        if not message.injected and not message.dropped:
            message.drop()
    elif isinstance(f, tcp.TCPFlow) and f.messages:
        f.messages[-1].content = b""


def _wrap(failclosed: FailClosed, addon: str, hook: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    first_http_hook = hook in ("requestheaders", "http_connect", "tcp_start", "websocket_start")

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any) -> Any:
            try:
                return await fn(*args)
            except BaseException as exc:
                failclosed.on_error(addon, hook, args, exc)
                if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                    raise  # a real cancellation (shutdown) goes on once the flow is failed
                return None
        return run_async

    if hook in ("websocket_message", "tcp_message"):
        @functools.wraps(fn)
        def run_message(*args: Any) -> Any:
            f = args[0] if args else None
            if isinstance(f, flow.Flow) and blocked(f):
                # A blocked flow forwards nothing more, in either direction.
                _drop_last_message(f)
                return None
            try:
                return fn(*args)
            except BaseException as exc:
                failclosed.on_error(addon, hook, args, exc)
                return None
        return run_message

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        if first_http_hook and args and isinstance(args[0], flow.Flow):
            failclosed.check_poisoned(args[0])
        try:
            return fn(*args)
        except BaseException as exc:
            failclosed.on_error(addon, hook, args, exc)
            return None
    return run


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Guarded:
    """An addon whose flow and connection hooks fail closed. Lifecycle hooks pass through."""

    def __init__(self, inner: Any, failclosed: FailClosed) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__.lower())
        for hook in (*FLOW_HOOKS, *CONNECTION_HOOKS):
            fn = getattr(inner, hook, None)
            if callable(fn):
                setattr(self, hook, _wrap(failclosed, self.name, hook, fn))
        for hook in LIFECYCLE_HOOKS:
            fn = getattr(inner, hook, None)
            if callable(fn):
                setattr(self, hook, fn)
        if hasattr(inner, "addons"):
            self.addons = [Guarded(a, failclosed) for a in inner.addons]

    def __repr__(self) -> str:
        return f"Guarded({self.name})"


def guard_all(addons: Iterable[Any], failclosed: FailClosed) -> list[Guarded]:
    return [Guarded(a, failclosed) for a in addons]


def guarded_stream(f: http.HTTPFlow, failclosed: FailClosed, addon: str,
                   fn: Callable[[bytes], bytes | Iterable[bytes]]) -> Callable[[bytes], Any]:
    """Wrap a streaming callable: after an exception nothing more is forwarded."""
    broken = False

    def run(chunk: bytes) -> Any:
        nonlocal broken
        if broken:
            return []
        try:
            return fn(chunk)
        except BaseException as exc:
            broken = True
            failclosed.on_stream_error(f, addon, exc)
            return []
    return run
