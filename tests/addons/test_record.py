"""`addons.record.Recorder` on crafted flows: finished flows written once to a mitmproxy flow
file, decoded, truncated and scrubbed of every secret, with the verdict attached."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from mitmproxy import flow, http, io, websocket
from mitmproxy.test import tflow
from wsproto.frame_protocol import Opcode

from addons.dlp import DLP
from addons.record import Recorder
from tests.addons.conftest import (
    AWS_KEY,
    call,
    exchange,
    https_flow,
    make_env,
    origin_response,
    summary,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
"""


def setup(tmp_path: Path, mode: str = "enforce", max_body: int = 1024) -> tuple[Recorder, Any, Path]:
    env = make_env(tmp_path, POLICY.format(mode=mode))
    path = tmp_path / "flows" / "bottle.flows"
    return Recorder(env.runtime, path, max_body=max_body), env, path


def read(recorder: Recorder, path: Path) -> list[flow.Flow]:
    recorder.done()
    with path.open("rb") as fh:
        return list(io.FlowReader(fh).stream())


def test_an_allowed_flow_is_recorded_once_as_it_was(tctx: Any, tmp_path: Path) -> None:
    addon, _, path = setup(tmp_path)
    f = https_flow("allowed.test", "/v1/x", method="POST", content=b"hello")
    exchange(tctx, addon, f, origin_response(b"world"))
    call(tctx, addon, "error", f)  # a flow is written once
    assert f.response is not None and f.response.content == b"world"  # the live flow: untouched
    [copy] = read(addon, path)
    assert isinstance(copy, http.HTTPFlow) and copy.request.path == "/v1/x"
    assert copy.request.content == b"hello" and copy.response is not None
    assert copy.response.content == b"world"
    assert copy.metadata["bottle-egress"] == {}  # no addon judged it here
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_blocked_flow_is_recorded_with_its_verdict_and_without_the_secret(
        tctx: Any, tmp_path: Path) -> None:
    addon, env, path = setup(tmp_path)
    dlp = DLP(env.runtime)
    f = https_flow("allowed.test", f"/k/{AWS_KEY}", method="POST",
                   headers=[("x-key", AWS_KEY), ("content-encoding", "gzip")],
                   content=gzip.compress(f"key={AWS_KEY}".encode()))
    call(tctx, dlp, "requestheaders", f)
    call(tctx, addon, "response", f)
    [copy] = read(addon, path)
    assert isinstance(copy, http.HTTPFlow)
    assert copy.metadata["bottle-egress"] == summary(f)
    assert copy.metadata["bottle-egress"]["verdict"] == "block"
    assert copy.response is not None and copy.response.status_code == 403
    assert b"key=" in (copy.request.content or b"")  # decoded so that it could be scrubbed
    assert "content-encoding" not in copy.request.headers
    assert AWS_KEY.encode() not in path.read_bytes()
    assert AWS_KEY.lower().encode() not in path.read_bytes().lower()


def test_large_bodies_are_truncated_with_a_marker(tctx: Any, tmp_path: Path) -> None:
    addon, _, path = setup(tmp_path, max_body=10)
    f = https_flow("allowed.test", method="POST", content=b"a" * 50)
    exchange(tctx, addon, f, origin_response(b"b" * 50))
    [copy] = read(addon, path)
    assert isinstance(copy, http.HTTPFlow) and copy.response is not None
    assert copy.request.content == b"a" * 10 + b"\n\xe2\x80\xa6[bottle-egress: truncated 40 bytes]"
    assert copy.request.headers["content-length"] == str(len(copy.request.content or b""))
    assert (copy.response.content or b"").startswith(b"b" * 10 + b"\n")


def test_an_undecodable_body_is_not_recorded_rather_than_raising(tctx: Any, tmp_path: Path) -> None:
    addon, _, path = setup(tmp_path)
    f = https_flow("allowed.test", method="POST", headers=[("content-encoding", "gzip")],
                   content=b"this is not gzip")
    exchange(tctx, addon, f, origin_response())
    [copy] = read(addon, path)
    assert isinstance(copy, http.HTTPFlow)
    assert copy.request.content == b"[bottle-egress: corrupt body not recorded]"


def test_tunnels_and_dns_flows_are_recorded(tctx: Any, tmp_path: Path) -> None:
    addon, _, path = setup(tmp_path)
    t = tflow.ttcpflow()
    call(tctx, addon, "tcp_end", t)
    d = tflow.tdnsflow(resp=True)
    call(tctx, addon, "dns_response", d)
    copies = read(addon, path)
    assert [type(c).__name__ for c in copies] == ["TCPFlow", "DNSFlow"]
    assert copies[0].messages[0].content == b"hello"  # type: ignore[attr-defined]


def test_websocket_messages_are_recorded_scrubbed(tctx: Any, tmp_path: Path) -> None:
    addon, env, path = setup(tmp_path)
    f = https_flow("allowed.test")
    f.websocket = websocket.WebSocketData()
    f.response = origin_response(b"", 101)
    f.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, True, b"hello"))
    f.websocket.messages.append(websocket.WebSocketMessage(Opcode.TEXT, True,
                                                           f"key {AWS_KEY}".encode()))
    call(tctx, DLP(env.runtime), "websocket_message", f)  # blocks it, and knows the value
    call(tctx, addon, "response", f)  # an upgraded flow is written when it ends, not here
    call(tctx, addon, "websocket_end", f)
    [copy] = read(addon, path)
    assert isinstance(copy, http.HTTPFlow) and copy.websocket is not None
    assert [m.content[:5] for m in copy.websocket.messages] == [b"hello", b"key ["]
    assert copy.metadata["bottle-egress"]["verdict"] == "block"
    assert AWS_KEY.encode() not in path.read_bytes()
