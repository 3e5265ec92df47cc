"""`addons.tunnel_denials` on crafted flows: a refused CONNECT is held (`HoldDeniedTunnels`)
when the bottle CA may issue for its host, every request inside it gets the CONNECT's JSON
denial (`AnswerDeniedTunnels`), nothing is dialled, and one audit event is written per denial.
`DeniedTunnels` is the state both share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow

from addons.audit import Audit
from addons.hosts import Hosts
from addons.tunnel_denials import AnswerDeniedTunnels, DeniedTunnels, HoldDeniedTunnels
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
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
"""


class Tunnels:
    def __init__(self, tmp_path: Path, mode: str = "enforce", issue: bool = True) -> None:
        self.env = make_env(tmp_path, POLICY.format(mode=mode))
        self.state = DeniedTunnels(self.env.runtime, (lambda host: issue),
                                   Audit(self.env.runtime).http_connect_error)
        self.answer = AnswerDeniedTunnels(self.state)
        self.hold = HoldDeniedTunnels(self.state)
        self.hosts = Hosts(self.env.runtime)

    def connect(self, tctx: Any, host: str) -> Any:
        f = connect_flow(host)
        call(tctx, self.hosts, "http_connect", f)
        call(tctx, self.hold, "http_connect", f)
        return f


def test_an_allowed_tunnel_and_its_requests_pass_untouched(tctx: Any, tmp_path: Path) -> None:
    t = Tunnels(tmp_path)
    c = t.connect(tctx, "allowed.test")
    assert c.response is None and t.state.held == {}
    f = https_flow("allowed.test")
    f.client_conn = c.client_conn
    exchange(tctx, t.answer, f, origin_response(b"origin"))
    assert f.response is not None and f.response.content == b"origin"
    assert_untouched(f)


def test_a_refused_connect_is_held_and_each_request_inside_gets_its_denial(tctx: Any, tmp_path: Path) -> None:
    t = Tunnels(tmp_path)
    c = t.connect(tctx, "elsewhere.test")
    assert c.response is None  # mitmproxy answers 200: the client's TLS goes to the bottle CA
    client = c.client_conn
    hello = client_hello("elsewhere.test", "elsewhere.test", client)
    hello.ignore_connection = hello.establish_server_tls_first = True
    call(tctx, t.hold, "tls_clienthello", hello)
    assert not hello.ignore_connection and not hello.establish_server_tls_first
    inside = https_flow("elsewhere.test", "/v1/x")
    inside.client_conn = client
    call(tctx, t.answer, "requestheaders", inside)
    body = assert_denied(inside, 403, "hosts/host-not-allowed")
    assert body["where"] == "connect"
    raw = tflow.ttcpflow(client_conn=client)
    call(tctx, t.answer, "tcp_start", raw)
    assert not raw.killable and rules(raw) == ["hosts/host-not-allowed"]
    server = tflow.tserver_conn()
    server.error = None
    call(tctx, t.hold, "server_connect", ServerConnectionHookData(server, client))
    assert server.error is not None and "denied tunnel" in server.error
    # answered inside: the CONNECT itself is not audited again at disconnect
    call(tctx, t.hold, "client_disconnected", client)
    assert t.env.events() == [] and t.state.held == {}


def test_a_held_tunnel_without_requests_is_audited_as_the_refused_connect(tctx: Any, tmp_path: Path) -> None:
    t = Tunnels(tmp_path)
    c = t.connect(tctx, "elsewhere.test")
    call(tctx, t.hold, "client_disconnected", c.client_conn)
    [event] = t.env.events()
    assert event["event"] == "connect" and event["status"] == 403 and event["verdict"] == "block"
    assert event["findings"][0]["rule"] == "host-not-allowed"


def test_without_a_ca_that_may_issue_the_connect_stays_refused_with_a_telling_reason(
        tctx: Any, tmp_path: Path) -> None:
    t = Tunnels(tmp_path, issue=False)
    c = t.connect(tctx, "elsewhere.test")
    assert_denied(c, 403, "hosts/host-not-allowed")
    assert c.response.reason == ("Blocked by bottle policy: hosts/host-not-allowed "
                                 "elsewhere.test")
    assert t.state.held == {}


def test_audit_mode_holds_nothing(tctx: Any, tmp_path: Path) -> None:
    t = Tunnels(tmp_path, "audit")
    c = t.connect(tctx, "elsewhere.test")
    assert c.response is None and t.state.held == {}
    f = https_flow("elsewhere.test")
    f.client_conn = c.client_conn
    call(tctx, t.answer, "requestheaders", f)
    assert f.response is None


def test_a_hostile_host_cannot_break_the_reason_phrase(tctx: Any, tmp_path: Path) -> None:
    t = Tunnels(tmp_path, issue=False)
    c = connect_flow("elsewhere.test")
    call(tctx, t.hosts, "http_connect", c)
    c.request.host = "evil\r\nX-Injected: 1.test"
    call(tctx, t.hold, "http_connect", c)
    assert c.response is not None
    assert "\r" not in c.response.reason and "\n" not in c.response.reason
