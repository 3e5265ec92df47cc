"""Streamed responses: one pipeline from the server's bytes to the client's, in bounded steps.

A response that is large, of unknown length or an event stream is not buffered (`Limits`
decides in `responseheaders`): a `ResponseStream` becomes `flow.response.stream`, and the
addons that must read the body add a stage to it (MCP inspection, credential scrubbing).

- Without stages, the server's bytes pass through untouched (and are counted against
  `limits.max_body_bytes`, event streams excepted).
- With a stage, the content encoding is undone first, in pieces of at most
  `egress.decompress.STEP` bytes within `limits.max_decompressed_bytes` and
  `limits.max_compression_ratio`, and each piece runs through the stages in order; the client
  gets the result without `Content-Encoding` (its length is then unknown: HTTP/1 goes chunked).
- The pipeline yields its output lazily, so mitmproxy writes each piece to the client before
  the next is decoded: one network chunk that expands a thousandfold never sits in memory.
- A block in the middle (a bomb, an undecodable body, a stage that raises `Stop`) records a
  fail-closed finding, lets each stage have a last word that carries no server data (MCP
  answers the requests still waiting), and cuts the connection: no server byte follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from mitmproxy import http

from addons.support.failclosed import FailClosed
from addons.support.flows import FlowRecord, cut, record_failure, record_of
from egress.decompress import DecodeError, StreamDecoder, encodings
from egress.findings import Finding, Scanner
from egress.runtime import Runtime
from egress.scan.limits import decode_finding


class Stop(Exception):
    """Raised by a stage when the response cannot go on: `finding` is recorded (it blocks),
    `last` still goes to the client, then the connection is cut."""

    def __init__(self, finding: Finding, last: list[bytes] | None = None) -> None:
        super().__init__(finding.reason)
        self.finding = finding
        self.last = last or []


class Stage(Protocol):
    """Reads the decoded body piece by piece. `feed` and `end` return what goes on (never an
    empty chunk); `fail` is the last word when the stream is stopped (no server data in it)."""

    def feed(self, data: bytes) -> list[bytes]: ...

    def end(self) -> list[bytes]: ...

    def fail(self, finding: Finding) -> list[bytes]: ...



def response_stream(flow: http.HTTPFlow) -> ResponseStream | None:
    """The flow's pipeline, if its response is streamed (live only)."""
    # Kept on the response only (flow metadata is copied and serialised by recorders): an
    # answer of the proxy's that replaced the response leaves the pipeline behind with it.
    stream = flow.response.stream if flow.response is not None else None
    return stream if isinstance(stream, ResponseStream) else None


class ResponseStream:
    def __init__(self, flow: http.HTTPFlow, runtime: Runtime, failclosed: FailClosed,
                 max_raw: int | None) -> None:
        assert flow.response is not None
        self.flow = flow
        self.runtime = runtime
        self.failclosed = failclosed
        self.rec: FlowRecord = record_of(flow, runtime)
        self.max_raw = max_raw
        self.raw = 0
        self.encoding = flow.response.headers.get("content-encoding")
        self.decoder: StreamDecoder | None = None
        self.stages: list[tuple[str, Stage]] = []
        # What a corrupt or unsupported encoding is reported as (MCP names its own rule).
        self.undecodable: tuple[Scanner, str] = ("limits", "undecodable-body")
        self.stopped = False
        flow.response.stream = self

    def add(self, name: str, stage: Stage) -> None:
        """Add a stage that reads the body as plain bytes. Raises `DecodeError` when the
        content encoding cannot be undone (the caller answers the flow: nothing was sent)."""
        resp = self.flow.response
        assert resp is not None
        if not self.stages:
            if encodings(self.encoding):
                limits = self.rec.policy.policy.limits
                self.decoder = StreamDecoder(self.encoding, max_out=limits.max_decompressed_bytes,
                                             max_ratio=limits.max_compression_ratio)
                resp.headers.pop("content-encoding", None)
            # A stage may change the body: its length is no longer known.
            if "content-length" in resp.headers:
                resp.headers.pop("content-length")
                if resp.http_version.startswith("HTTP/1") and "transfer-encoding" not in resp.headers:
                    resp.headers["transfer-encoding"] = "chunked"
        self.stages.append((name, stage))

    # -- mitmproxy calls this for every chunk of the server's body, and with b"" at its end --

    def __call__(self, chunk: bytes) -> Iterator[bytes]:
        return self._run(chunk)

    def _run(self, chunk: bytes) -> Iterator[bytes]:
        if self.stopped:
            return
        self.rec.response_sent = True
        try:
            if chunk:
                self.raw += len(chunk)
                if self.max_raw is not None and self.raw > self.max_raw:
                    yield from self._stop(Finding(
                        "limits", "body-too-large", "block", "response.body",
                        f"response.body exceeds the {self.max_raw}-byte limit", status=502))
                    return
            if not self.stages:
                if chunk:
                    yield chunk
                return
            if self.decoder is not None:
                pieces: Iterable[bytes] = self.decoder.feed(chunk) if chunk else self.decoder.finish()
            else:
                pieces = (chunk,) if chunk else ()
            for piece in pieces:
                yield from self._through(piece)
            if not chunk:
                yield from self._end()
        except DecodeError as e:
            yield from self._stop(decode_finding(e, "response.body(stream)",
                                                 undecodable=self.undecodable))
        except Stop as e:
            yield from e.last
            yield from self._stop(e.finding)
        except Exception as e:  # fail closed: nothing more of this response goes out
            self.stopped = True
            self.failclosed.on_stream_error(self.flow, "response-stream", e)

    def _through(self, piece: bytes) -> list[bytes]:
        data = [piece]
        for _, stage in self.stages:
            data = [out for d in data for out in stage.feed(d) if out]
        return data

    def _end(self) -> list[bytes]:
        data: list[bytes] = []
        for _, stage in self.stages:
            data = [out for d in data for out in stage.feed(d) if out]
            data += [out for out in stage.end() if out]
        return data

    def _stop(self, finding: Finding) -> Iterator[bytes]:
        """Record `finding` (fail closed: it blocks whatever the mode), give each stage its
        last word, and cut the connection once that is out."""
        self.stopped = True
        record_failure(self.flow, self.runtime, [finding])
        last = [out for _, stage in self.stages for out in stage.fail(finding) if out]
        yield from last
        cut(self.flow)


def streams_response(flow: http.HTTPFlow, threshold: int) -> str:
    """Whether the response is streamed rather than buffered, and why ("" if not): an event
    stream, a body of unknown length (chunked, or read until the connection closes), or one
    over `threshold`."""
    resp = flow.response
    assert resp is not None
    if flow.request.method == "HEAD" or resp.status_code < 200 or resp.status_code in (204, 304):
        return ""  # no body
    # One pass over the raw fields: this runs for every response.
    length = None
    for name, value in resp.headers.fields:
        name = name.lower()
        if name == b"content-type" and b"text/event-stream" in value.lower():
            return "event-stream"
        if name == b"content-length":
            length = value
    if length is None:
        return "unknown length"
    try:
        return "large" if int(length) > threshold else ""
    except ValueError:
        return "unknown length"


def is_encoded(resp: http.Response) -> bool:
    return bool(encodings(resp.headers.get("content-encoding")))
