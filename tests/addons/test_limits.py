"""`addons.limits.Limits` on crafted flows: over-limit request and response bodies, mitmproxy's
own `body_size_limit` refusal, and which responses are streamed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import flow

from addons.limits import Limits
from addons.support.failclosed import FailClosed
from tests.addons.conftest import (
    assert_denied,
    assert_untouched,
    call,
    exchange,
    https_flow,
    make_env,
    origin_response,
    respond,
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
      response_stream_threshold: 50
"""


def setup(tmp_path: Path, mode: str = "enforce") -> Limits:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    return Limits(env.runtime, FailClosed(env.runtime))


def test_bodies_within_the_limit_pass_untouched(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow(method="POST", content=b"x" * 100)
    exchange(tctx, addon, f, origin_response(b"y" * 40))
    assert f.request.content == b"x" * 100
    assert f.response is not None and f.response.content == b"y" * 40 and not f.response.stream
    assert_untouched(f)
    assert rules(f) == []


def test_an_over_limit_request_body_is_refused(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow(method="POST", content=b"x" * 101)
    call(tctx, addon, "request", f)
    body = assert_denied(f, 413, "limits/body-too-large")
    assert body["where"] == "request.body" and "101 bytes" in body["reason"]


def test_an_over_limit_buffered_response_is_replaced(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow()
    respond(f, b"s" * 101)
    call(tctx, addon, "response", f)
    assert_denied(f, 502, "limits/body-too-large")
    assert b"s" * 101 not in (f.response.content or b"")  # type: ignore[union-attr]


def test_audit_mode_records_an_over_limit_body_but_changes_nothing(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, "audit")
    f = https_flow(method="POST", content=b"x" * 101)
    call(tctx, addon, "request", f)
    assert f.response is None and f.killable
    assert rules(f) == ["limits/body-too-large"] and verdict(f) == "allow"


def test_mitmproxys_body_size_limit_refusal_is_recorded_as_a_block(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, "audit")  # mitmproxy refused it: nothing went out in any mode
    f = https_flow(method="POST")
    f.error = flow.Error("HTTP/1 body_size_limit exceeded")
    call(tctx, addon, "error", f)
    assert rules(f) == ["limits/body-too-large"] and verdict(f) == "block"
    # other errors are not this addon's
    g = https_flow()
    g.error = flow.Error("connection refused")
    call(tctx, addon, "error", g)
    assert rules(g) == []


def test_large_and_unknown_length_responses_stream_and_are_counted(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    small = https_flow()
    respond(small, b"a" * 50)
    call(tctx, addon, "responseheaders", small)
    assert small.response is not None and not small.response.stream
    big = https_flow()
    respond(big, b"")
    assert big.response is not None
    big.response.data.content = None  # only the head has arrived
    big.response.headers["content-length"] = "90"
    call(tctx, addon, "responseheaders", big)
    stream = big.response.stream
    assert callable(stream)
    assert list(stream(b"b" * 60)) == [b"b" * 60]  # passes as it arrives
    assert list(stream(b"b" * 41)) == []  # 101 bytes: over the limit, cut
    assert rules(big) == ["limits/body-too-large"] and verdict(big) == "block"
    assert not big.killable
    # an event stream is long-lived by design: streamed, not counted
    sse = https_flow()
    respond(sse, b"", headers={"content-type": "text/event-stream"})
    assert sse.response is not None
    del sse.response.headers["content-length"]
    call(tctx, addon, "responseheaders", sse)
    sse_stream = sse.response.stream
    assert callable(sse_stream)
    assert list(sse_stream(b"data: x\n\n" * 20)) == [b"data: x\n\n" * 20]
    assert rules(sse) == [] and sse.killable
