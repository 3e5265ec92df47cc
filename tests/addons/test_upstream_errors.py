"""`addons.upstream.UpstreamErrors` on crafted flows: a failure to reach the destination
is answered with a JSON denial (verdict `error`) instead of mitmproxy's HTML page; what the
client already received part of is left cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import flow

from addons.limits import Limits
from addons.upstream import UpstreamErrors
from tests.addons.conftest import (
    assert_denied,
    call,
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
    limits:
      max_body_bytes: 100
"""


def setup(tmp_path: Path, mode: str = "enforce") -> tuple[UpstreamErrors, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    return UpstreamErrors(env.runtime), env


def failed(message: str) -> Any:
    f = https_flow("allowed.test")
    f.error = flow.Error(message)
    return f


def test_a_completed_exchange_is_untouched(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("allowed.test")
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.response is not None and f.response.content == b"origin" and rules(f) == []


def test_failures_to_reach_the_destination_are_answered_as_json(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    for message, status, rule in (
            ("Connection refused", 502, "error/upstream-unreachable"),
            ("[Errno -2] Name or service not known", 502, "error/upstream-unreachable"),
            ("TLS handshake failed: certificate verify failed", 502, "error/upstream-tls"),
            ("connection timed out", 504, "error/upstream-timeout")):
        f = failed(message)
        call(tctx, addon, "error", f)
        body = assert_denied(f, status, rule, decision="error")
        assert body["error"] == "failed" and body["hint"]
        assert message not in body["reason"]


def test_audit_mode_answers_failures_too(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path, "audit")
    f = failed("Connection refused")
    call(tctx, addon, "error", f)
    assert_denied(f, 502, "error/upstream-unreachable", decision="error")


def test_errors_that_are_not_about_the_destination_are_left_alone(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    for message in (flow.Error.KILLED_MESSAGE, "Client disconnected", "something else entirely"):
        f = failed(message)
        call(tctx, addon, "error", f)
        assert f.response is None and rules(f) == []


def test_a_body_over_the_limit_gets_its_recorded_413(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path)
    limits = Limits(env.runtime)
    f = failed("HTTP/1 body_size_limit exceeded")
    call(tctx, limits, "error", f)
    call(tctx, addon, "error", f)
    assert_denied(f, 413, "limits/body-too-large")
    # without the record of the limit, nothing to answer
    g = failed("HTTP/1 body_size_limit exceeded")
    call(tctx, addon, "error", g)
    assert g.response is None


def test_a_response_already_streaming_is_not_answered(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = failed("server closed connection")
    f.response = origin_response(b"")
    f.response.stream = True
    call(tctx, addon, "error", f)
    assert f.response.status_code == 200 and rules(f) == [] and verdict(f) is None
