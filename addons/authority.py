"""Request-target adapter: one request, one destination, sent in origin-form.

Every name a request carries — the request target's authority (absolute-form HTTP/1,
HTTP/2 `:authority`), the Host header, the TLS SNI and the CONNECT target (or a plain-HTTP
proxy request's URL) — must name the same host (and port, where one is given); otherwise
the request is refused (`hosts/authority-mismatch`), whatever `hostnames.fronting` says.
(Duplicate Host headers, user info or anything that is not one host were refused already, by
`addons.hosts`, as `hosts/ambiguous-host`.) HTTP/1 requests then leave in origin-form only:
an origin never sees an absolute-form target it might route by. The check itself lives in
`egress.scan.authority`.

Runs after `Hostnames`, so a Host/SNI that disagrees with the CONNECT target is still reported
as `hostnames/domain-fronting` when that check blocks it first.

An HTTP/2 or HTTP/3 request body is framed by its protocol and may come without a
Content-Length; mitmproxy forwards such a request to an HTTP/1 origin with no length at all,
and the origin reads the body as the next request on its connection: a request smuggled past
every check (path rules, DLP on its head, credentials). A buffered body of such a request
leaves with its length (`request`). (DLP streams HTTP/2 bodies only when they announce a
length, so a streamed one always has it.)
"""

from __future__ import annotations

from mitmproxy import http

from addons.support.flows import blocked, judge
from egress.findings import Finding
from egress.runtime import Runtime
from egress.scan.authority import check_routing
from egress.scan.hosts import FAIL_CLOSED_RULES


class Authority:
    name = "authority"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        req = flow.request
        sni = flow.client_conn.sni if flow.client_conn.tls else None
        problem = check_routing(req.host, req.port, req.authority or None,
                                req.headers.get_all("host"), sni)
        if problem is not None:
            status = 400 if problem.rule == "ambiguous-host" else 403
            judge(flow, self.runtime, FAIL_CLOSED_RULES, [Finding("hosts", problem.rule, "block", "request",
                                               problem.reason, status=status)])
        if req.authority and not (req.is_http2 or req.is_http3) and not blocked(flow) \
                and not (self.runtime.upstream is not None and req.scheme == "http"):
            # Origin-form only: the Host header (checked above) is what the origin routes by.
            # A refused request keeps its target, for DLP to judge and flow files to show.
            # Plain HTTP to an upstream proxy keeps its absolute-form: mitmproxy sends it to
            # the proxy as it is (no CONNECT), and a proxy routes by nothing else.
            req.authority = ""

    def request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        if not (req.is_http2 or req.is_http3) or req.stream or not req.raw_content:
            return
        if "content-length" not in req.headers and "transfer-encoding" not in req.headers:
            # (A later change of the body through `Request.content` keeps it right.)
            req.headers["content-length"] = str(len(req.raw_content))
