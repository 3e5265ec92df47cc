"""`addons.dlp.DLP` and `addons.dlp.LiveDLP` on crafted flows: secrets in the URL, headers,
buffered, streamed and WebSocket bodies are blocked, redacted or audited; a body that cannot be
decoded or scanned in time is refused."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from mitmproxy import http, websocket
from mitmproxy.test import tflow
from wsproto.frame_protocol import Opcode

from addons.dlp import DLP, OFF_LOOP_BYTES, LiveDLP
from addons.support.failclosed import FailClosed
from tests.addons.conftest import (
    AWS_KEY,
    assert_denied,
    assert_untouched,
    call,
    exchange,
    https_flow,
    make_env,
    origin_response,
    rules,
    streamed,
    verdict,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
    limits:
      scan_timeout: {scan_timeout}
    dlp:
      stream_threshold: 1000
      actions:
        aws-access-key-id: {action}
"""


def setup(tmp_path: Path, mode: str = "enforce", action: str = "block", live: bool = False,
          scan_timeout: float = 10) -> DLP:
    env = make_env(tmp_path, POLICY.format(mode=mode, action=action, scan_timeout=scan_timeout))
    return (LiveDLP if live else DLP)(env.runtime, FailClosed(env.runtime))


def post(body: bytes, path: str = "/v1/upload", **headers: str) -> http.HTTPFlow:
    return https_flow("allowed.test", path, method="POST", content=body,
                      headers=[("content-type", "application/json"), *headers.items()])


def test_a_clean_request_passes_untouched(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    body = json.dumps({"note": "nothing to see", "n": 42}).encode()
    f = post(body, "/v1/upload?page=2", **{"x-trace": "abc"})
    exchange(tctx, addon, f, origin_response(b"stored"))
    assert f.request.content == body and f.request.path == "/v1/upload?page=2"
    assert f.request.headers["x-trace"] == "abc"
    assert f.response is not None and f.response.content == b"stored"
    assert_untouched(f)
    assert rules(f) == []


def test_a_secret_in_the_body_url_or_headers_gets_the_structured_denial(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    for f in (post(json.dumps({"k": AWS_KEY}).encode()),
              post(b"{}", f"/v1/{AWS_KEY}"),
              post(b"{}", **{"x-debug": AWS_KEY})):
        exchange(tctx, addon, f, origin_response())
        body = assert_denied(f, 403, "dlp/aws-access-key-id")
        assert AWS_KEY not in json.dumps(body)
        assert AWS_KEY not in str(f.response.headers)  # type: ignore[union-attr]


def test_a_gzip_body_is_decoded_before_it_is_scanned(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = post(gzip.compress(json.dumps({"k": AWS_KEY}).encode()), **{"content-encoding": "gzip"})
    exchange(tctx, addon, f)
    assert_denied(f, 403, "dlp/aws-access-key-id")


def test_redact_rewrites_what_is_sent_upstream(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, action="redact")
    f = post(json.dumps({"k": AWS_KEY, "other": "kept"}).encode(), f"/v1/x?key={AWS_KEY}",
             **{"x-debug": f"id {AWS_KEY}"})
    call(tctx, addon, "requestheaders", f)
    call(tctx, addon, "request", f)
    assert f.response is None and f.killable
    sent = f.request.content or b""
    assert AWS_KEY.encode() not in sent and b'"other": "kept"' in sent
    assert AWS_KEY not in f.request.path and AWS_KEY not in f.request.headers["x-debug"]
    assert f.request.headers["content-length"] == str(len(sent))
    assert set(rules(f)) == {"dlp/aws-access-key-id"} and verdict(f) == "allow"


def test_audit_mode_records_the_secret_but_sends_the_request_as_it_was(tctx: Any, tmp_path: Path) -> None:
    for action in ("block", "redact"):
        addon = setup(tmp_path, "audit", action)
        body = json.dumps({"k": AWS_KEY}).encode()
        f = post(body)
        exchange(tctx, addon, f, origin_response(b"stored"))
        assert f.request.content == body
        assert f.response is not None and f.response.content == b"stored"
        assert rules(f) == ["dlp/aws-access-key-id"] and verdict(f) == "allow"


def test_an_undecodable_body_is_refused_not_scanned_raw(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = post(b"\x1f\x8b definitely not gzip", **{"content-encoding": "gzip"})
    exchange(tctx, addon, f, origin_response())
    assert_denied(f, 400, "limits/undecodable-body")
    bomb = post(gzip.compress(b"0" * 5_000_000), **{"content-encoding": "gzip"})
    bomb.request.headers.pop("content-length")  # no length, not chunked: buffered
    exchange(tctx, addon, bomb, origin_response())
    assert_denied(bomb, 413, "limits/decompression-bomb")


def test_a_streamed_bomb_is_cut_once_it_expands_too_far(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, "audit")  # a decoding limit holds in audit mode too
    raw = gzip.compress(b"0" * 5_000_000)
    f = post(raw, **{"content-encoding": "gzip"})  # longer than the stream threshold
    call(tctx, addon, "requestheaders", f)
    sent = streamed(f.request.stream, [raw[i:i + 1000] for i in range(0, len(raw), 1000)])
    assert sum(len(c) for c in sent) < len(raw)
    assert rules(f) == ["limits/decompression-bomb"] and verdict(f) == "block"
    assert not f.killable


def test_a_streamed_body_is_scanned_as_it_passes_and_cut_on_a_secret(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    clean = post(b"", **{"content-length": "3000"})
    call(tctx, addon, "requestheaders", clean)
    out = streamed(clean.request.stream, [b"a" * 1500, b"b" * 1500])
    assert b"".join(out) == b"a" * 1500 + b"b" * 1500  # everything, in order, once
    assert clean.killable and rules(clean) == []
    dirty = post(b"", **{"content-length": "3000"})
    call(tctx, addon, "requestheaders", dirty)
    sent = b"".join(streamed(dirty.request.stream,
                             [b"x" * 1500, b"key=" + AWS_KEY.encode() + b"y" * 1476]))
    assert AWS_KEY.encode() not in sent
    assert rules(dirty) == ["dlp/aws-access-key-id"] and verdict(dirty) == "block"
    assert not dirty.killable  # killed: the origin sees an aborted request


def test_websocket_messages_are_scanned_both_ways(tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path)
    f = https_flow("allowed.test")
    f.websocket = tflow.twebsocket(messages=False)
    f.response = origin_response(b"", 101)
    f.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, True, b"hello"))
    call(tctx, addon, "websocket_message", f)
    assert not f.websocket.messages[-1].dropped and rules(f) == []
    f.websocket.messages.append(websocket.WebSocketMessage(
        Opcode.TEXT, False, f"the key is {AWS_KEY}".encode()))
    call(tctx, addon, "websocket_message", f)
    assert f.websocket.messages[-1].dropped
    assert rules(f) == ["dlp/aws-access-key-id"] and verdict(f) == "block"


def test_live_dlp_scans_a_large_body_off_the_loop(tctx: Any, tmp_path: Path) -> None:
    # A generous timeout: this test is about where the scan runs, not how long it may take.
    addon = setup(tmp_path, live=True, scan_timeout=300)
    big = json.dumps({"pad": "clean words " * (OFF_LOOP_BYTES // 12 + 1), "k": AWS_KEY}).encode()
    f = post(big, **{"content-length": str(len(big))})
    f.request.headers["content-length"] = "500"  # under the stream threshold: buffered
    call(tctx, addon, "request", f)
    assert_denied(f, 403, "dlp/aws-access-key-id")
    clean = post(b"[" + b'"clean",' * (OFF_LOOP_BYTES // 8) + b'"end"]')
    call(tctx, addon, "request", clean)
    assert_untouched(clean)


def test_live_dlp_refuses_a_body_whose_scan_takes_too_long_in_audit_mode_too(
        tctx: Any, tmp_path: Path) -> None:
    addon = setup(tmp_path, "audit", live=True, scan_timeout=0.000001)
    f = post(json.dumps({"pad": "p " * OFF_LOOP_BYTES}).encode())
    call(tctx, addon, "request", f)
    body = assert_denied(f, 413, "limits/scan-timeout")
    assert "limits.scan_timeout" in body["reason"]
