"""`addons.refused.RefusedRequests` on crafted flows: the head of a request refused before DLP
read it is scanned, so that a secret in it stays out of the audit log; the refusal stays the
decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import flow

from addons.audit import Audit
from addons.hosts import Hosts
from addons.refused import RefusedRequests
from tests.addons.conftest import (
    AWS_KEY,
    assert_denied,
    call,
    connect_flow,
    exchange,
    https_flow,
    make_env,
    origin_response,
    rules,
    summary,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
"""


def setup(tmp_path: Path, mode: str = "enforce") -> tuple[RefusedRequests, Hosts, Audit, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    rt = env.runtime
    return RefusedRequests(rt), Hosts(rt), Audit(rt), env


def test_an_allowed_request_is_left_alone(tctx: Any, tmp_path: Path) -> None:
    addon, hosts, _, _ = setup(tmp_path)
    f = https_flow("allowed.test", f"/v1/{AWS_KEY}")  # DLP's to judge: it was not refused
    call(tctx, hosts, "requestheaders", f)
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.response is not None and f.response.content == b"origin"
    assert rules(f) == [] and f.request.path == f"/v1/{AWS_KEY}"


def test_a_secret_in_a_refused_request_is_found_and_kept_out_of_the_log(tctx: Any, tmp_path: Path) -> None:
    addon, hosts, audit, env = setup(tmp_path)
    f = https_flow("elsewhere.test", f"/v1/{AWS_KEY}", headers=[("x-key", AWS_KEY)])
    call(tctx, hosts, "requestheaders", f)
    call(tctx, addon, "requestheaders", f)
    body = assert_denied(f, 403, "hosts/host-not-allowed")  # the refusal stays the decision
    assert rules(f) == ["hosts/host-not-allowed", "dlp/aws-access-key-id"]
    found = (summary(f) or {})["findings"][1]
    assert found["action"] == "audit" and "refused already (hosts/host-not-allowed)" in found["reason"]
    assert AWS_KEY not in str(body)
    call(tctx, audit, "response", f)
    assert env.events()[0]["verdict"] == "block"
    assert AWS_KEY not in env.audit_text()


def test_a_secret_in_a_refused_connect_target_is_scrubbed_as_a_name(tctx: Any, tmp_path: Path) -> None:
    addon, hosts, audit, env = setup(tmp_path)
    name = f"{AWS_KEY.lower()}.evil.test"
    f = connect_flow(name)
    call(tctx, hosts, "http_connect", f)
    call(tctx, addon, "http_connect", f)
    assert f.response is not None and f.response.status_code == 403
    assert "dlp/aws-access-key-id" in rules(f)
    call(tctx, audit, "http_connect_error", f)
    text = env.audit_text()
    assert env.events()[0]["event"] == "connect"
    assert AWS_KEY not in text and AWS_KEY.lower() not in text


def test_in_audit_mode_the_connect_target_is_scanned_but_nothing_changes(tctx: Any, tmp_path: Path) -> None:
    addon, hosts, _, _ = setup(tmp_path, "audit")
    f = connect_flow(f"{AWS_KEY.lower()}.evil.test")
    call(tctx, hosts, "http_connect", f)
    call(tctx, addon, "http_connect", f)
    assert f.response is None
    assert rules(f) == ["hosts/host-not-allowed", "dlp/aws-access-key-id"]
    assert (summary(f) or {})["verdict"] == "allow"


def test_a_request_mitmproxy_refused_itself_is_scanned(tctx: Any, tmp_path: Path) -> None:
    """An invalid head (mitmproxy's own refusal) arrives with the error set and no scanner's
    record: its head is scanned all the same."""
    addon, _, audit, env = setup(tmp_path)
    f = https_flow("allowed.test", f"/{AWS_KEY}")
    f.error = flow.Error("HTTP/1 protocol error: invalid request head")
    call(tctx, addon, "requestheaders", f)
    assert rules(f) == ["dlp/aws-access-key-id"]
    assert "refused already (by mitmproxy)" in (summary(f) or {})["findings"][0]["reason"]
    call(tctx, audit, "error", f)
    assert env.events() and AWS_KEY not in env.audit_text()
