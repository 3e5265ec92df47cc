"""`addons.hostnames.Hostnames` on crafted flows: every name a connection is routed by (CONNECT
target, TLS SNI, Host header) and every DNS question and answer is scored for encoded data,
fronting and rebinding, before anything upstream is contacted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import dns
from mitmproxy.net.dns import classes, response_codes, types
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow, tutils

from addons.hostnames import Hostnames
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

ENCODED = "k2j4h6g8f0d2s4a6p8o0i2u4y6t8r0e2w4q6z8x0c2v4b7n1m3q5w7e9r2t4.allowed.test"
POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test, "*.allowed.test"]
    dns:
      private_answers: [lan.allowed.test]
"""


def setup(tmp_path: Path, mode: str = "enforce") -> tuple[Hostnames, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    return Hostnames(env.runtime), env


def query(name: str, qtype: int = types.A) -> dns.DNSFlow:
    return tflow.tdnsflow(req=tutils.tdnsreq(questions=[dns.Question(name, qtype, classes.IN)]))


def answered(name: str, rrtype: int, data: bytes) -> dns.DNSFlow:
    f = query(name, rrtype)
    f.response = tutils.tdnsresp(questions=[dns.Question(name, rrtype, classes.IN)],
                                 answers=[dns.ResourceRecord(name, rrtype, classes.IN, 60, data)])
    return f


def test_plain_names_pass_untouched(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    c = connect_flow("api.allowed.test")
    call(tctx, addon, "http_connect", c)
    assert c.response is None
    f = https_flow("api.allowed.test")
    f.client_conn = c.client_conn
    f.client_conn.tls, f.client_conn.sni = True, "api.allowed.test"
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.response is not None and f.response.content == b"origin"
    assert_untouched(f)
    d = query("api.allowed.test")
    call(tctx, addon, "dns_request", d)
    assert d.response is None and rules(d) == []


def test_an_encoded_connect_target_gets_the_structured_denial(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = connect_flow(ENCODED)
    call(tctx, addon, "http_connect", f)
    assert_denied(f, 403, "hostnames/encoded-hostname")


def test_a_host_header_disagreeing_with_the_sni_is_domain_fronting(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("api.allowed.test", sni="cdn.allowed.test")
    call(tctx, addon, "requestheaders", f)
    body = assert_denied(f, 403, "hostnames/domain-fronting")
    assert "sni cdn.allowed.test" in body["reason"]


def test_audit_mode_records_but_does_not_change_the_flow(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path, "audit")
    f = connect_flow(ENCODED)
    call(tctx, addon, "http_connect", f)
    assert f.response is None and rules(f) == ["hostnames/encoded-hostname"]
    assert verdict(f) == "allow"
    hello = client_hello("api.allowed.test", ENCODED)
    call(tctx, addon, "tls_clienthello", hello)
    g = https_flow("api.allowed.test")
    g.client_conn = hello.context.client
    call(tctx, addon, "requestheaders", g)
    assert g.response is None  # the connection was not condemned


def test_an_encoded_sni_condemns_its_connection(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    hello = client_hello("api.allowed.test", ENCODED)
    hello.ignore_connection = True
    call(tctx, addon, "tls_clienthello", hello)
    assert hello.ignore_connection is False  # the handshake is ours: nothing upstream
    client = hello.context.client
    f = https_flow("api.allowed.test")
    f.client_conn = client
    call(tctx, addon, "requestheaders", f)
    assert_denied(f, 403, "hostnames/encoded-hostname")
    server = tflow.tserver_conn()
    server.error = None
    call(tctx, addon, "server_connect", ServerConnectionHookData(server, client))
    assert server.error is not None and server.error.startswith("blocked by egress policy")
    t = tflow.ttcpflow(client_conn=client)
    call(tctx, addon, "tcp_start", t)
    assert not t.killable
    call(tctx, addon, "client_disconnected", client)  # forgotten with its connection
    server.error = None
    call(tctx, addon, "server_connect", ServerConnectionHookData(server, client))
    assert server.error is None


def test_dns_questions_and_answers_are_judged_like_the_dns_guard(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    encoded = query(ENCODED)
    call(tctx, addon, "dns_request", encoded)
    assert encoded.response is not None
    assert encoded.response.response_code == response_codes.NXDOMAIN
    assert "hostnames/encoded-hostname" in rules(encoded) and verdict(encoded) == "block"
    rebinding = answered("api.allowed.test", types.A, bytes([10, 0, 0, 7]))
    call(tctx, addon, "dns_response", rebinding)
    assert rebinding.response is not None
    assert rebinding.response.response_code == response_codes.NXDOMAIN and verdict(rebinding) == "block"
    lan = answered("lan.allowed.test", types.A, bytes([10, 0, 0, 7]))
    call(tctx, addon, "dns_response", lan)
    assert lan.response is not None and lan.response.response_code == response_codes.NOERROR
    assert rules(lan) == []


def test_a_malformed_svcb_answer_is_refused(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = answered("api.allowed.test", types.HTTPS, b"\x00\x01\x05abc")  # target runs past the end
    call(tctx, addon, "dns_response", f)
    assert rules(f) == ["hostnames/dns-upstream"] and verdict(f) == "block"
    assert f.response is not None and f.response.response_code == response_codes.NXDOMAIN
    assert f.response.answers == []
