"""Fail closed: an exception in any hook blocks the flow it was handling.

mitmproxy logs an exception raised by an addon hook and lets the flow continue, which for
an inspecting proxy means "uninspected traffic leaves". `Guarded` wraps every hook of an
addon so that an exception instead blocks the flow (502 with a JSON reason), kills the
connection where there is no response to give, and is written to the audit log. The
exception's message is never logged: it may quote the data that was being inspected.
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mitmproxy import connection, dns, flow, http, tcp
from mitmproxy.net.dns import response_codes
from mitmproxy.proxy import server_hooks
from mitmproxy.tls import ClientHelloData, TlsData

from addons.flowrecord import blocked, cut, fail, record_of
from egress.audit import utc_now
from egress.findings import Finding
from egress.runtime import Runtime

log = logging.getLogger("egress.guard")

RULES = {
    "addon-exception": "An addon hook raised; the flow was blocked (fail closed).",
    "connection-failed-closed": "An earlier TLS or connection hook of this connection failed; "
    "its requests are blocked.",
    "dns-guard-exception": "The DNS guard failed on a query; it was answered SERVFAIL and not "
    "forwarded (fail closed).",
}

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
)
# Lifecycle hooks are not wrapped: a failure there must stop start-up loudly.
LIFECYCLE_HOOKS = ("load", "configure", "running", "done", "update")


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

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.poisoned: set[str] = set()

    def on_error(self, addon: str, hook: str, args: tuple[Any, ...], exc: BaseException) -> None:
        finding = error_finding(addon, hook, exc)
        target = args[0] if args else None
        fid = getattr(target, "id", None)
        log.error("%s.%s raised %s at %s; %s blocked (fail closed)", addon, hook,
                  type(exc).__name__, _where(exc), f"flow {fid}" if fid else "connection")
        if isinstance(target, flow.Flow):
            self._fail_flow(target, hook, finding)
            return
        client = None
        if isinstance(target, (ClientHelloData, TlsData)):
            client = target.context.client
            if isinstance(target, TlsData):
                target.conn.error = "blocked: internal error (fail closed)"
        elif isinstance(target, server_hooks.ServerConnectionHookData):
            client = target.client
            target.server.error = "blocked: internal error (fail closed)"
        elif isinstance(target, connection.Client):
            client = target
            target.error = "blocked: internal error (fail closed)"
        if client is not None:
            self.poisoned.add(client.id)
        self.runtime.audit.write({
            "time": utc_now(), "event": "error", "bottle": self.runtime.bottle_id,
            "client": _peer(client), "verdict": "block",
            "findings": [finding.as_audit()],
        })

    def _fail_flow(self, f: flow.Flow, hook: str, finding: Finding) -> None:
        if isinstance(f, http.HTTPFlow):
            if hook == "http_connect_upstream":
                # The CONNECT to the upstream proxy is sent right after this hook whatever
                # we do; point it at a name that can never resolve (RFC 6761).
                f.request.host, f.request.port = "egress-blocked.invalid", 1
                f.request.authority = "egress-blocked.invalid:1"
                record_of(f, self.runtime).findings.append(finding)
                return
            if hook == "websocket_message" and f.websocket and f.websocket.messages:
                f.websocket.messages[-1].drop()
            # An upgraded WebSocket gets the denial as a message; later ones are all dropped.
            fail(f, self.runtime, finding)
        elif isinstance(f, dns.DNSFlow):
            rec = record_of(f, self.runtime)
            rec.findings.append(finding)
            rec.blocked = rec.blocked or finding
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
        rec = record_of(f, self.runtime)
        rec.findings.append(finding)
        if rec.blocked is None:
            rec.blocked = finding
        cut(f)

    def check_poisoned(self, f: flow.Flow) -> None:
        if self.poisoned and f.client_conn.id in self.poisoned:
            fail(f, self.runtime, Finding(
                "error", "connection-failed-closed", "block", "connection",
                "an earlier inspection step of this connection failed; blocked (fail closed)",
                status=502))


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
            except Exception as exc:
                failclosed.on_error(addon, hook, args, exc)
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
            except Exception as exc:
                failclosed.on_error(addon, hook, args, exc)
                return None
        return run_message

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        if first_http_hook and args and isinstance(args[0], flow.Flow):
            failclosed.check_poisoned(args[0])
        try:
            return fn(*args)
        except Exception as exc:
            failclosed.on_error(addon, hook, args, exc)
            return None
    return run


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
        except Exception as exc:
            broken = True
            failclosed.on_stream_error(f, addon, exc)
            return []
    return run
