"""Size and decoding limits: over-limit bodies are refused, never streamed through uninspected;
and who streams a response.

Live, mitmproxy's `body_size_limit` (kept equal to the policy's `max_body_bytes`) refuses a
body whose announced length is over the limit, and a buffered body that grows past it; this
addon records that refusal, and applies the same limit to flows it is shown whole (replay).

In `responseheaders` it decides whether the response is buffered (known length up to
`limits.response_stream_threshold`) or streamed (larger, unknown length, event streams), and
for a streamed one installs the pipeline (`addons.streams.ResponseStream`) that counts it
against `max_body_bytes` (event streams excepted: they are long-lived by design) and to which
the MCP and credential addons add their stages.
"""

from __future__ import annotations

from mitmproxy import http

from addons.flowrecord import keep_cut, record_of, report, settle_answer
from addons.guard import FailClosed
from addons.streams import ResponseStream, streams_response
from egress.findings import Finding
from egress.runtime import Runtime

RULES = {
    "body-too-large": "A request or response body exceeded limits.max_body_bytes.",
    "decompressed-too-large": "A body decoded past limits.max_decompressed_bytes.",
    "decompression-bomb": "A body expanded past limits.max_compression_ratio times its encoded "
    "size while being decoded (a decompression bomb); decoding stopped there.",
    "undecodable-body": "A body's content encoding could not be decoded (corrupt, truncated or "
    "unsupported).",
    # Judged by `addons.dlp` (a large body is scanned in a worker thread, within a budget).
    "scan-timeout": "The DLP scan of a request body took longer than limits.scan_timeout; the "
    "request is refused with a JSON 413 and nothing is forwarded, in audit mode too (fail "
    "closed).",
    # Judged by `addons.trailers`.
    "trailers": "A request, or a response from an HTTP/1 origin or to an HTTP/1 client, carried "
    "trailer fields: no scanner reads them and they are never forwarded; the message is "
    "refused (a JSON 400 or 502; cut off if its body already left), in audit mode too.",
}


def _too_large(where: str, size: int, limit: int, status: int) -> Finding:
    return Finding("limits", "body-too-large", "block", where,
                   f"{where} of {size} bytes exceeds the {limit}-byte limit", status=status)


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
            report(flow, self.runtime, [_too_large("request.body", size, limit, 413)])

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
            report(flow, self.runtime, [_too_large("response.body", size, limit, 502)])

    def error(self, flow: http.HTTPFlow) -> None:
        keep_cut(flow)
        if flow.error is None or "body_size_limit" not in flow.error.msg:
            return
        rec = record_of(flow, self.runtime)
        limit = rec.policy.policy.limits.max_body_bytes
        where = "request.body" if flow.response is None else "response.body"
        finding = Finding("limits", "body-too-large", "block", where,
                          f"{where} exceeds the {limit}-byte limit", status=413)
        rec.findings.append(finding)
        rec.blocked = rec.blocked or finding
