"""Size and decoding limits: over-limit bodies are refused, never streamed through uninspected;
and who streams a response.

Live, mitmproxy's `body_size_limit` (kept equal to the policy's `max_body_bytes`) refuses a
body whose announced length is over the limit, and a buffered body that grows past it; this
addon records that refusal, and applies the same limit to flows it is shown whole (replay).

In `responseheaders` it decides whether the response is buffered (known length up to
`limits.response_stream_threshold`) or streamed (larger, unknown length, event streams), and
for a streamed one installs the pipeline (`addons.support.streams.ResponseStream`) that counts it
against `max_body_bytes` (event streams excepted: they are long-lived by design) and to which
the MCP and credential addons add their stages.
"""

from __future__ import annotations

from mitmproxy import http

from addons.support.failclosed import FailClosed
from addons.support.flows import keep_cut, record_failure, record_of, report, settle_answer
from addons.support.streams import ResponseStream, streams_response
from egress.runtime import Runtime
from egress.scan.limits import too_large


class Limits:
    name = "limits"

    def __init__(self, runtime: Runtime, failclosed: FailClosed | None = None) -> None:
        self.runtime = runtime
        self.failclosed = failclosed or FailClosed(runtime)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        rec = record_of(flow, self.runtime)
        limit = rec.policy.policy.limits.max_body_bytes
        size = len(flow.request.raw_content or b"")
        if size > limit:
            report(flow, self.runtime, [too_large("request.body", size, limit, 413)])

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.error or not self.runtime.live:
            return
        rec = record_of(flow, self.runtime)
        if rec.blocked is not None or flow.websocket is not None:
            return
        limits = rec.policy.policy.limits
        streamed = streams_response(flow, limits.response_stream_threshold)
        if streamed:
            ResponseStream(flow, self.runtime, self.failclosed,
                           None if streamed == "event-stream" else limits.max_body_bytes)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            return
        settle_answer(flow)
        if flow.response.stream:
            return
        rec = record_of(flow, self.runtime)
        if rec.blocked is not None:
            return
        limit = rec.policy.policy.limits.max_body_bytes
        size = len(flow.response.raw_content or b"")
        if size > limit:
            report(flow, self.runtime, [too_large("response.body", size, limit, 502)])

    def error(self, flow: http.HTTPFlow) -> None:
        keep_cut(flow)
        if flow.error is None or "body_size_limit" not in flow.error.msg:
            return
        rec = record_of(flow, self.runtime)
        limit = rec.policy.policy.limits.max_body_bytes
        where = "request.body" if flow.response is None else "response.body"
        record_failure(flow, self.runtime, [too_large(where, None, limit, 413)])
