"""`addons.audit.Audit` on crafted flows: one JSONL event per decided flow, in the file, with
the verdict, the findings and nothing secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import flow
from mitmproxy.test import tflow, tutils

from addons.audit import Audit
from addons.dlp import DLP
from addons.hosts import Hosts
from egress.agent_identity import AGENT_KEY
from tests.addons.conftest import (
    AWS_KEY,
    BOTTLE,
    call,
    connect_flow,
    exchange,
    https_flow,
    make_env,
    origin_response,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
    audit:
      log_allowed: {log_allowed}
"""


def setup(tmp_path: Path, mode: str = "enforce", log_allowed: bool = True) -> tuple[Audit, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode, log_allowed=str(log_allowed).lower()))
    return Audit(env.runtime), env


def test_an_allowed_flow_is_logged_once_and_left_untouched(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path)
    f = https_flow("allowed.test", "/v1/items?token=abc&page=2", method="POST", content=b"body")
    exchange(tctx, addon, f, origin_response(b"fine", 201))
    call(tctx, addon, "error", f)  # a late error of the same flow: no second event
    assert f.response is not None and f.response.status_code == 201
    assert f.response.content == b"fine" and f.request.content == b"body"
    [event] = env.events()
    assert event["event"] == "http" and event["verdict"] == "allow" and event["findings"] == []
    assert event["bottle"] == BOTTLE and event["flow"] == f.id and event["status"] == 201
    assert (event["method"], event["host"], event["port"]) == ("POST", "allowed.test", 443)
    assert event["path"] == "/v1/items?token=…&page=…"  # query values never logged
    assert event["policy"] == env.runtime.policy.digest
    assert "abc" not in env.audit_text()


def test_log_allowed_false_logs_only_flows_with_findings(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path, log_allowed=False)
    hosts = Hosts(env.runtime)
    quiet = https_flow("allowed.test")
    exchange(tctx, addon, quiet, origin_response())
    refused = https_flow("elsewhere.test")
    call(tctx, hosts, "requestheaders", refused)
    call(tctx, addon, "response", refused)
    [event] = env.events()
    assert event["flow"] == refused.id and event["verdict"] == "block" and event["status"] == 403
    assert [x["rule"] for x in event["findings"]] == ["host-not-allowed"]


def test_a_block_is_logged_with_the_secret_scrubbed(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path)
    dlp = DLP(env.runtime)
    f = https_flow("allowed.test", f"/upload/{AWS_KEY}", method="POST")
    call(tctx, dlp, "requestheaders", f)
    call(tctx, addon, "response", f)
    [event] = env.events()
    assert event["verdict"] == "block" and event["status"] == 403
    assert event["findings"][0]["rule"] == "aws-access-key-id"
    assert AWS_KEY not in env.audit_text()


def test_audit_mode_logs_the_finding_with_an_allow_verdict(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path, "audit")
    hosts = Hosts(env.runtime)
    f = https_flow("elsewhere.test")
    call(tctx, hosts, "requestheaders", f)
    assert f.response is None
    f.response = origin_response(b"origin")
    call(tctx, addon, "response", f)
    assert f.response.content == b"origin"
    [event] = env.events()
    assert event["verdict"] == "allow"
    assert event["findings"][0]["rule"] == "host-not-allowed"
    assert event["findings"][0]["action"] == "audit"


def test_errors_connects_tunnels_and_dns_are_logged(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path)
    err = https_flow("allowed.test")
    err.error = flow.Error("connection refused")
    err.metadata[AGENT_KEY] = "alice"
    call(tctx, addon, "error", err)
    refused = connect_flow("elsewhere.test")
    call(tctx, Hosts(env.runtime), "http_connect", refused)
    call(tctx, addon, "http_connect_error", refused)
    quiet_connect = connect_flow("allowed.test")
    call(tctx, addon, "http_connected", quiet_connect)  # unremarkable: its requests are logged
    tunnel = tflow.ttcpflow()
    call(tctx, Hosts(env.runtime), "tcp_start", tunnel)
    call(tctx, addon, "tcp_end", tunnel)
    d = tflow.tdnsflow(req=tutils.tdnsreq(), resp=True)
    call(tctx, addon, "dns_response", d)
    events = env.events()
    assert [e["event"] for e in events] == ["http", "connect", "tcp", "dns"]
    assert events[0]["error"] == "connection refused" and events[0]["agent"] == "alice"
    assert events[1]["verdict"] == "block" and events[1]["status"] == 403
    assert events[2]["verdict"] == "block" and events[2]["findings"][0]["rule"] == "non-http-tunnel"
    assert events[3]["host"] == "dns.google" and events[3]["qtype"] == "A"
