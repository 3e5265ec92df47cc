"""Size limits: over-limit bodies are refused, never streamed through uninspected.

Live, mitmproxy's `body_size_limit` (kept equal to the policy's `max_body_bytes`) refuses
the body while it arrives; this addon records that refusal, and applies the same limit to
flows it is shown whole (replay).
"""

from __future__ import annotations

from mitmproxy import http

from addons.flowrecord import record_of, report
from egress.findings import Finding
from egress.runtime import Runtime

RULES = {
    "body-too-large": "A request or response body exceeded limits.max_body_bytes.",
    "decompressed-too-large": "A body decoded past limits.max_decompressed_bytes or the "
    "allowed compression ratio (a decompression bomb).",
    "undecodable-body": "A body's content encoding could not be decoded.",
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

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        rec = record_of(flow, self.runtime)
        limit = rec.policy.policy.limits.max_body_bytes
        size = len(flow.request.raw_content or b"")
        if size > limit:
            report(flow, self.runtime, [_too_large("request.body", size, limit, 413)])

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or flow.response.stream:
            return
        rec = record_of(flow, self.runtime)
        if rec.blocked is not None:
            return
        limit = rec.policy.policy.limits.max_body_bytes
        size = len(flow.response.raw_content or b"")
        if size > limit:
            report(flow, self.runtime, [_too_large("response.body", size, limit, 502)])

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.error is None or "body_size_limit" not in flow.error.msg:
            return
        rec = record_of(flow, self.runtime)
        limit = rec.policy.policy.limits.max_body_bytes
        where = "request.body" if flow.response is None else "response.body"
        finding = Finding("limits", "body-too-large", "block", where,
                          f"{where} exceeds the {limit}-byte limit", status=413)
        rec.findings.append(finding)
        rec.blocked = rec.blocked or finding
