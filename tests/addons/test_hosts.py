"""`addons.hosts.Hosts` on crafted flows: the host allowlist at CONNECT, per request, at the
TLS ClientHello (passthrough), for raw tunnels and again before dialling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow

from addons.hosts import Hosts
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
        - hosts: [allowed.test, pinned.test]
        - hosts: [api.allowed.test]
          methods: [GET]
          paths: [/v1]
      passthrough: [pinned.test]
      deny:
        - hosts: [bad.allowed.test]
          reason: known bad
"""


def setup(tmp_path: Path, mode: str = "enforce", **runtime: Any) -> tuple[Hosts, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode), **runtime)
    return Hosts(env.runtime), env


def test_an_allowed_request_passes_untouched(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("allowed.test", "/anything", method="POST", content=b"data")
    exchange(tctx, addon, f, origin_response(b"origin says hi"))
    assert f.response is not None and f.response.content == b"origin says hi"
    assert f.request.content == b"data" and f.request.host == "allowed.test"
    assert_untouched(f)
    assert rules(f) == []


def test_a_host_not_allowed_gets_the_structured_denial(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("elsewhere.test")
    call(tctx, addon, "requestheaders", f)
    body = assert_denied(f, 403, "hosts/host-not-allowed")
    assert body["scanner"] == "hosts" and body["hint"]
    # a Host header naming another host is judged too
    g = https_flow("allowed.test", headers=[])
    g.request.headers["host"] = "elsewhere.test"
    call(tctx, addon, "requestheaders", g)
    assert "hosts/host-not-allowed" in rules(g) and g.response is not None


def test_path_and_method_rules_and_deny_rules(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    ok = https_flow("api.allowed.test", "/v1/models")
    call(tctx, addon, "requestheaders", ok)
    assert_untouched(ok)
    for f in (https_flow("api.allowed.test", "/admin"),
              https_flow("api.allowed.test", "/v1/models", method="DELETE")):
        call(tctx, addon, "requestheaders", f)
        assert f.response is not None and f.response.status_code == 403
    denied = https_flow("bad.allowed.test")
    call(tctx, addon, "requestheaders", denied)
    assert_denied(denied, 403, "hosts/host-denied")


def test_audit_mode_records_but_does_not_change_the_flow(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path, "audit")
    f = https_flow("elsewhere.test")
    call(tctx, addon, "requestheaders", f)
    assert f.response is None and f.killable
    assert rules(f) == ["hosts/host-not-allowed"] and verdict(f) == "allow"


def test_an_invalid_method_is_refused_whatever_the_mode(tctx: Any, tmp_path: Path) -> None:
    """Fail closed on a malformed request head: audit mode does not let it through."""
    for mode in ("enforce", "audit"):
        addon, _ = setup(tmp_path, mode)
        f = https_flow("allowed.test")
        f.request.data.method = b"GE T"
        call(tctx, addon, "requestheaders", f)
        assert_denied(f, 400, "hosts/invalid-method")


def test_a_private_ip_literal_is_refused_in_audit_mode_too(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path, "audit")
    f = https_flow("10.0.0.1")
    call(tctx, addon, "requestheaders", f)
    assert_denied(f, 403, "hosts/private-address")


def test_connect_to_a_port_no_rule_lists_is_refused(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    ok = connect_flow("allowed.test", 443)
    call(tctx, addon, "http_connect", ok)
    assert ok.response is None and verdict(ok) == "allow"
    bad = connect_flow("allowed.test", 8443)
    call(tctx, addon, "http_connect", bad)
    assert_denied(bad, 403, "hosts/port-not-allowed")


def test_passthrough_is_decided_by_the_connect_target_and_its_sni(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    same = client_hello("pinned.test", "pinned.test")
    call(tctx, addon, "tls_clienthello", same)
    assert same.ignore_connection is True
    # an SNI naming another host is intercepted and inspected
    other = client_hello("pinned.test", "allowed.test")
    call(tctx, addon, "tls_clienthello", other)
    assert other.ignore_connection is False
    normal = client_hello("allowed.test", "allowed.test")
    call(tctx, addon, "tls_clienthello", normal)
    assert normal.ignore_connection is False


def test_a_raw_tunnel_is_refused_without_connecting(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = tflow.ttcpflow(messages=[])
    call(tctx, addon, "tcp_start", f)
    assert f.server_conn.error is not None and "hosts/non-http-tunnel" in f.server_conn.error
    assert not f.killable  # killed
    assert rules(f) == ["hosts/non-http-tunnel"]


def test_server_connect_never_dials_a_host_the_policy_refuses(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path, upstream=("proxy.test", 3128))
    client = tflow.tclient_conn()
    for host, refused in (("allowed.test", False), ("elsewhere.test", True),
                          ("127.0.0.1", True), ("proxy.test", False)):
        server = tflow.tserver_conn()
        server.address = (host, 3128 if host == "proxy.test" else 443)
        server.error = None
        call(tctx, addon, "server_connect", ServerConnectionHookData(server, client))
        assert (server.error is not None) is refused, host
        if refused:
            assert server.error is not None and server.error.startswith("blocked by egress policy")
