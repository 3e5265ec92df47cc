"""`addons.support.failclosed` on crafted flows: `Guarded` wraps every hook of an addon so that an exception
(any `BaseException`) blocks the flow, closes the connection it was about, or stops a stream,
in audit mode too, without the exception's text reaching the client or the audit log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mitmproxy import websocket
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow, tutils
from wsproto.frame_protocol import Opcode

from addons.hosts import Hosts
from addons.support.failclosed import FailClosed, Guarded, guarded_stream
from tests.addons.conftest import (
    assert_denied,
    assert_untouched,
    call,
    client_hello,
    connect_flow,
    exchange,
    https_flow,
    make_env,
    origin_response,
    rules,
    verdict,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
"""
CANARY = "canary-7f3a9c-in-the-exception-text"
RAISED = ValueError(CANARY)


class Exploding:
    """An addon whose hooks raise `exc` (when `armed`)."""

    name = "exploding"

    def __init__(self, exc: BaseException | None = None) -> None:
        self.exc = exc
        self.seen: list[str] = []

    def _maybe_raise(self, hook: str) -> None:
        self.seen.append(hook)
        if self.exc is not None:
            raise self.exc

    def requestheaders(self, f: Any) -> None:
        self._maybe_raise("requestheaders")

    def response(self, f: Any) -> None:
        self._maybe_raise("response")

    def http_connect_upstream(self, f: Any) -> None:
        self._maybe_raise("http_connect_upstream")

    def tls_clienthello(self, data: Any) -> None:
        self._maybe_raise("tls_clienthello")

    def server_connect(self, data: Any) -> None:
        self._maybe_raise("server_connect")

    def dns_request(self, f: Any) -> None:
        self._maybe_raise("dns_request")

    def tcp_message(self, f: Any) -> None:
        self._maybe_raise("tcp_message")

    def websocket_message(self, f: Any) -> None:
        self._maybe_raise("websocket_message")

    async def request(self, f: Any) -> None:
        await asyncio.sleep(0)
        self._maybe_raise("request")


def setup(tmp_path: Path, exc: BaseException | None = RAISED,
          mode: str = "enforce") -> tuple[Guarded, Exploding, FailClosed, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    inner = Exploding(exc)
    failclosed = FailClosed(env.runtime)
    return Guarded(inner, failclosed), inner, failclosed, env


def test_a_hook_that_does_not_raise_changes_nothing(tctx: Any, tmp_path: Path) -> None:
    guarded, inner, _, env = setup(tmp_path, exc=None)
    f = https_flow()
    exchange(tctx, guarded, f, origin_response(b"origin"))
    assert inner.seen == ["requestheaders", "request", "response"]
    assert f.response is not None and f.response.content == b"origin"
    assert_untouched(f)
    assert env.events() == []


def test_an_exception_blocks_the_flow_with_a_502_that_does_not_quote_it(tctx: Any, tmp_path: Path) -> None:
    for exc in (ValueError(CANARY), KeyboardInterrupt(CANARY), SystemExit(CANARY)):
        guarded, _, _, _ = setup(tmp_path, exc, mode="audit")  # fail closed in audit mode too
        f = https_flow()
        call(tctx, guarded, "requestheaders", f)
        body = assert_denied(f, 502, "error/addon-exception")
        assert body["where"] == "exploding.requestheaders" and body["error"] == "blocked"
        assert CANARY not in (f.response.content or b"").decode()  # type: ignore[union-attr]
        assert CANARY not in f.response.headers["x-bottle-block-reason"]  # type: ignore[union-attr]


def test_an_async_hook_that_raises_blocks_its_flow(tctx: Any, tmp_path: Path) -> None:
    guarded, _, _, _ = setup(tmp_path)
    f = https_flow(method="POST", content=b"x")
    call(tctx, guarded, "request", f)
    assert_denied(f, 502, "error/addon-exception")


def test_a_failed_tls_hook_poisons_the_connection_and_is_audited(tctx: Any, tmp_path: Path) -> None:
    guarded, _, failclosed, env = setup(tmp_path)
    data = client_hello("allowed.test", "allowed.test")
    data.ignore_connection = True  # what a failing hook may have half-done: never passthrough
    call(tctx, guarded, "tls_clienthello", data)
    assert data.ignore_connection is False
    [event] = env.events()
    assert event["event"] == "error" and event["verdict"] == "block"
    assert event["findings"][0]["rule"] == "addon-exception"
    assert event["findings"][0]["where"] == "exploding.tls_clienthello"
    assert CANARY not in env.audit_text()
    # every later request on that client connection is refused at its first hook, whichever
    # guarded addon sees it first
    hosts = Guarded(Hosts(env.runtime), failclosed)
    f = https_flow("allowed.test")
    f.client_conn = data.context.client
    call(tctx, hosts, "requestheaders", f)
    assert_denied(f, 502, "error/connection-failed-closed")
    other = https_flow("allowed.test")
    call(tctx, hosts, "requestheaders", other)
    assert_untouched(other)


def test_a_failed_server_side_hook_never_lets_the_server_be_dialled(tctx: Any, tmp_path: Path) -> None:
    guarded, _, _, env = setup(tmp_path)
    server = tflow.tserver_conn()
    server.error = None
    client = tflow.tclient_conn()
    call(tctx, guarded, "server_connect", ServerConnectionHookData(server, client))
    assert server.error == "blocked: internal error (fail closed)"
    assert env.events()[0]["event"] == "error"


def test_a_failed_connect_upstream_is_pointed_at_a_name_that_never_resolves(
        tctx: Any, tmp_path: Path) -> None:
    guarded, _, _, _ = setup(tmp_path)
    f = connect_flow("allowed.test")
    call(tctx, guarded, "http_connect_upstream", f)
    assert (f.request.host, f.request.port) == ("egress-blocked.invalid", 1)
    assert rules(f) == ["error/addon-exception"]


def test_dns_tcp_and_websocket_flows_fail_closed(tctx: Any, tmp_path: Path) -> None:
    guarded, _, _, _ = setup(tmp_path)
    d = tflow.tdnsflow(req=tutils.tdnsreq())
    call(tctx, guarded, "dns_request", d)
    assert d.response is not None and d.response.response_code == 2  # SERVFAIL
    assert verdict(d) == "block"
    t = tflow.ttcpflow()
    call(tctx, guarded, "tcp_message", t)
    assert t.messages[-1].content == b"" and not t.killable
    ws = https_flow()
    ws.websocket = tflow.twebsocket()
    call(tctx, guarded, "websocket_message", ws)
    assert ws.websocket.messages[-1].dropped and verdict(ws) == "block"
    # once blocked, every later message is dropped before the addon sees it
    guarded_ok, inner, _, _ = setup(tmp_path, exc=None)
    ws.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, True, b"more"))
    call(tctx, guarded_ok, "websocket_message", ws)
    assert ws.websocket.messages[-1].dropped and inner.seen == []


def test_a_stream_callable_that_raises_forwards_nothing_more(tctx: Any, tmp_path: Path) -> None:
    _, _, failclosed, _ = setup(tmp_path)
    f = https_flow(method="POST")
    calls = []

    def scan(chunk: bytes) -> bytes:
        calls.append(chunk)
        if b"boom" in chunk:
            raise RuntimeError(CANARY)
        return chunk

    stream = guarded_stream(f, failclosed, "scanner", scan)
    assert stream(b"first") == b"first"
    assert stream(b"boom") == []
    assert stream(b"after") == [] and calls == [b"first", b"boom"]
    assert rules(f) == ["error/addon-exception"] and verdict(f) == "block"
    assert not f.killable
