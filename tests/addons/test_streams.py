"""`addons.support.streams` on crafted flows: the streamed-response pipeline `Limits` installs and the
stages other addons add to it (here `Credentials`' scrubbing): decoded in bounded pieces,
passed on as it arrives, and cut — with a fail-closed finding, in audit mode too — on a bomb,
an undecodable body or a stage that raises."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from mitmproxy import http

from addons.credentials import Credentials
from addons.limits import Limits
from addons.support.failclosed import FailClosed
from addons.support.streams import response_stream
from egress.findings import Finding
from tests.addons.conftest import call, https_flow, make_env, rules, streamed, verdict

REAL = "real-oauth-abcdefabcdef0123456"
POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [api.example.com]
    limits:
      response_stream_threshold: 10
    credentials:
      - name: oauth
        host: api.example.com
        header: "Authorization: Bearer {{secret}}"
        source: {{env: O}}
        placeholder: {{env: OAUTH}}
"""


class Chain:
    """`Limits` then `Credentials`, as the chain orders their `responseheaders`."""

    def __init__(self, tmp_path: Path, mode: str = "enforce") -> None:
        env = make_env(tmp_path, POLICY.format(mode=mode))
        rt = env.runtime
        rt.credentials.load(rt.policy.policy.credentials, lambda s: {"O": REAL}[s.env or ""])
        self.placeholder = rt.credentials.placeholders()["oauth"]
        failclosed = FailClosed(rt)
        self.addons = [Limits(rt, failclosed), Credentials(rt, failclosed)]

    def head(self, tctx: Any, headers: dict[str, str]) -> http.HTTPFlow:
        """A response whose head has arrived (its body is to stream)."""
        f = https_flow("api.example.com")
        f.response = http.Response.make(200, b"")
        f.response.headers.clear()
        f.response.headers.update(headers)  # no content-length: unknown length
        f.response.data.content = None
        for addon in self.addons:
            call(tctx, addon, "responseheaders", f)
        return f


def drain(f: http.HTTPFlow, chunks: list[bytes]) -> bytes:
    assert f.response is not None
    return b"".join(streamed(f.response.stream, chunks))


def test_a_large_plain_response_streams_through_unchanged(tctx: Any, tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    f = https_flow("api.example.com")
    f.response = http.Response.make(200, b"")
    f.response.headers["content-length"] = "4000"
    f.response.data.content = None
    call(tctx, chain.addons[0], "responseheaders", f)  # no stage: bytes pass as they come
    assert drain(f, [b"a" * 2000, b"b" * 2000]) == b"a" * 2000 + b"b" * 2000
    assert f.response.headers["content-length"] == "4000" and f.killable


def test_a_stage_sees_decoded_pieces_and_a_value_split_across_chunks(tctx: Any, tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    f = chain.head(tctx, {"content-type": "application/json", "content-encoding": "gzip",
                          "content-length": "999"})
    assert f.response is not None
    assert "content-encoding" not in f.response.headers  # the client gets it decoded
    assert "content-length" not in f.response.headers  # a stage may change its length
    assert f.response.headers["transfer-encoding"] == "chunked"
    wire = gzip.compress(f'{{"echo": "{REAL}"}}'.encode() * 3)
    half = len(wire) // 2
    out = drain(f, [wire[:half], wire[half:]])
    assert out == f'{{"echo": "{chain.placeholder}"}}'.encode() * 3
    assert f.killable and rules(f) == []


def test_a_bomb_is_cut_in_audit_mode_too(tctx: Any, tmp_path: Path) -> None:
    chain = Chain(tmp_path, "audit")
    f = chain.head(tctx, {"content-encoding": "gzip"})
    wire = gzip.compress(b"0" * 5_000_000)
    out = drain(f, [wire[i:i + 1000] for i in range(0, len(wire), 1000)])
    assert len(out) < 5_000_000
    assert rules(f) == ["limits/decompression-bomb"] and verdict(f) == "block"
    assert not f.killable


def test_an_undecodable_body_is_cut(tctx: Any, tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    f = chain.head(tctx, {"content-encoding": "gzip"})
    assert drain(f, [b"\x1f\x8b\x08\x00 not really gzip at all"]) == b""
    assert rules(f) == ["limits/undecodable-body"] and not f.killable


def test_a_stage_that_raises_stops_the_stream_fail_closed(tctx: Any, tmp_path: Path) -> None:
    chain = Chain(tmp_path)
    f = chain.head(tctx, {"content-type": "text/plain"})

    class Raising:
        def feed(self, data: bytes) -> list[bytes]:
            if b"boom" in data:
                raise RuntimeError("stage failed")
            return [data]

        def end(self) -> list[bytes]:
            return []

        def fail(self, finding: Finding) -> list[bytes]:
            return []

    stream = response_stream(f)
    assert stream is not None
    stream.add("raising", Raising())
    out = drain(f, [b"first ", b"boom ", b"after"])
    assert b"after" not in out and b"boom" not in out
    assert rules(f) == ["error/addon-exception"] and verdict(f) == "block" and not f.killable
