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


class _Task:
    def __init__(self) -> None:
        self.cancelled: str | None = None

    def cancel(self, msg: str | None = None) -> bool:
        self.cancelled = msg or "cancelled"
        return True


class _Handler:
    """The parts of mitmproxy's connection handler the response timer reaches into."""

    def __init__(self, f: Any, task: _Task | None) -> None:
        io = type("IO", (), {"handler": task})() if task is not None else None
        self.transports = {f.server_conn: io} if io is not None else {}


def test_response_timeout_answers_504_and_closes_the_server_connection(
        tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("allowed.test")
    task = _Task()
    addon._expire(f, _Handler(f, task), 2.0)
    doc = assert_denied(f, 504, "error/upstream-timeout", "error")
    assert "limits.response_timeout (2 s)" in doc["reason"]
    assert task.cancelled == "response timeout"


def test_response_timeout_leaves_answered_and_connecting_flows_alone(
        tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    answered = https_flow("allowed.test")
    answered.response = origin_response(b"late but here")
    task = _Task()
    addon._expire(answered, _Handler(answered, task), 2.0)
    assert task.cancelled is None and answered.response.content == b"late but here"

    connecting = https_flow("allowed.test")
    async def expire() -> None:  # still connecting: re-armed, not answered
        addon._expire(connecting, _Handler(connecting, None), 2.0)
    tctx.master.event_loop.run_until_complete(expire())
    assert connecting.response is None and connecting.id in addon._timers
    addon._disarm(connecting)
    assert addon._timers == {}


def test_request_outside_the_live_proxy_arms_no_timer(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("allowed.test")
    call(tctx, addon, "request", f)
    assert addon._timers == {} and f.response is None
