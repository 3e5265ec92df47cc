"""`addons.hosts.Authority` on crafted flows: one request, one destination, origin-form on
the way out, and a length for an HTTP/2 body forwarded to an HTTP/1 origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from addons.hosts import Authority
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
        - hosts: [allowed.test, other.test]
"""


def setup(tmp_path: Path, mode: str = "enforce", **runtime: Any) -> Authority:
    return Authority(make_env(tmp_path, POLICY.format(mode=mode), **runtime).runtime)


def test_a_consistent_request_passes_and_leaves_in_origin_form(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow("allowed.test", "/x?y=1")
    f.request.authority = "allowed.test:443"  # absolute-form target
    exchange(tctx, addon, f, origin_response())
    assert f.request.authority == "" and f.request.path == "/x?y=1"
    assert f.request.host_header == "allowed.test"
    assert_untouched(f)


def test_a_host_header_naming_another_host_is_refused(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow("allowed.test")
    f.request.headers["host"] = "other.test"
    call(tctx, addon, "requestheaders", f)
    assert_denied(f, 403, "hosts/authority-mismatch")


def test_audit_mode_records_a_mismatch_but_forwards(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, "audit")
    f = https_flow("allowed.test", sni="other.test")
    call(tctx, addon, "requestheaders", f)
    assert f.response is None
    assert rules(f) == ["hosts/authority-mismatch"] and verdict(f) == "allow"


def test_two_host_headers_are_refused_in_audit_mode_too(tctx: Any, tmp_path: Path) -> None:
    """An ambiguous head is malformed input: refused whatever the mode (fail closed)."""
    addon = setup(tmp_path, "audit")
    f = https_flow("allowed.test")
    f.request.headers.add("host", "other.test")
    f.request.authority = "allowed.test"
    call(tctx, addon, "requestheaders", f)
    assert_denied(f, 400, "hosts/ambiguous-host")
    assert f.request.authority == "allowed.test"  # a refused request keeps its target


def test_plain_http_to_an_upstream_proxy_keeps_its_absolute_form(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, upstream=("pipelock.test", 8888))
    f = https_flow("allowed.test")
    f.request.scheme = "http"
    f.request.port = 80
    f.client_conn.tls = False
    f.request.authority = "allowed.test"
    call(tctx, addon, "requestheaders", f)
    assert f.request.authority == "allowed.test" and f.response is None


def test_an_http2_body_without_length_gets_one(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow("allowed.test", method="POST", content=b"0123456789")
    f.request.http_version = "HTTP/2.0"
    f.request.headers.pop("content-length")  # HTTP/2 frames the body itself
    call(tctx, addon, "request", f)
    assert f.request.headers["content-length"] == "10"
    # HTTP/1 requests are framed by the client as they are: left alone
    g = https_flow("allowed.test", method="POST", content=b"0123456789")
    g.request.headers.pop("content-length")
    call(tctx, addon, "request", g)
    assert "content-length" not in g.request.headers
