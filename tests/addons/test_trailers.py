"""`addons.trailers.Trailers` on crafted flows: trailer fields are refused (`limits/trailers`)
and never forwarded, in audit mode too; gRPC's HTTP/2 response trailers pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mitmproxy import http

from addons.trailers import Trailers
from tests.addons.conftest import (
    assert_denied,
    assert_untouched,
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
"""


def setup(tmp_path: Path, mode: str = "enforce") -> Trailers:
    return Trailers(make_env(tmp_path, POLICY.format(mode=mode)).runtime)


def test_messages_without_trailers_pass_untouched(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow(method="POST", content=b"body")
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.response is not None and f.response.content == b"origin"
    assert_untouched(f)


def test_declared_request_trailers_are_refused_before_the_body_in_audit_mode_too(
        tctx: Any, tmp_path: Path) -> None:
    for mode in ("enforce", "audit"):
        addon = setup(tmp_path, mode)
        f = https_flow(method="POST", headers=[("trailer", "x-checksum, x-sig")])
        f.request.stream = True
        call(tctx, addon, "requestheaders", f)
        body = assert_denied(f, 400, "limits/trailers")
        assert "2 trailer field(s)" in body["reason"] and "x-checksum" not in body["reason"]
        assert f.request.stream is False  # a denial and a streamed body cannot go together


def test_buffered_request_trailers_are_refused_and_dropped(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow(method="POST", content=b"body")
    f.request.http_version = "HTTP/2.0"
    f.request.trailers = http.Headers(x_checksum="abc")
    call(tctx, addon, "request", f)
    assert f.request.trailers is None
    assert_denied(f, 400, "limits/trailers")


def test_trailers_after_a_streamed_request_body_cut_the_flow(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow(method="POST")
    f.request.stream = True
    call(tctx, addon, "requestheaders", f)
    f.request.trailers = http.Headers(x_checksum="abc")
    call(tctx, addon, "request", f)
    assert f.request.trailers is None and f.response is None
    assert rules(f) == ["limits/trailers"] and verdict(f) == "block" and not f.killable


def test_response_trailers(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    declared = https_flow()
    declared.response = origin_response(b"x", headers={"trailer": "grpc-status"})
    call(tctx, addon, "responseheaders", declared)
    assert_denied(declared, 502, "limits/trailers")
    undeclared = https_flow()
    undeclared.response = origin_response(b"secret-ish body")
    undeclared.response.trailers = http.Headers(x_sig="1")
    call(tctx, addon, "response", undeclared)
    assert_denied(undeclared, 502, "limits/trailers")
    assert undeclared.response is not None and b"secret-ish" not in (undeclared.response.content or b"")
    # gRPC: HTTP/2 end to end keeps its trailers
    grpc = https_flow(method="POST", content=b"\x00")
    grpc.request.http_version = "HTTP/2.0"
    grpc.response = origin_response(b"\x00", headers={"trailer": "grpc-status"})
    grpc.response.http_version = "HTTP/2.0"
    grpc.response.trailers = http.Headers(grpc_status="0")
    call(tctx, addon, "responseheaders", grpc)
    call(tctx, addon, "response", grpc)
    assert grpc.response.status_code == 200 and grpc.response.trailers is not None
    assert rules(grpc) == []
