"""Where a request goes: the host allowlist (`Hosts`), deciding at CONNECT, at each request and
again before connecting, and one destination per request (`Authority`).

Decisions happen before any upstream contact: with mitmproxy's `lazy` connection strategy
nothing is resolved or dialled until a request has passed `requestheaders`, and
`server_connect` re-checks the destination as a last line of defence. Destinations are
(host, port): a CONNECT to an allowed host on a port no rule lists is refused. An IP literal
in any spelling is judged in its canonical form, and refused when it is not a public address
that the policy does not list (`hosts.allow_private`); names are judged once resolved, by
`addons.destinations`. A method that is not a method token is refused before anything else.

`Authority`: one request, one destination, sent in origin-form.

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

from mitmproxy import http, tcp
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.tls import ClientHelloData

from addons.support.flows import blocked, judge, record_of, report, request_hosts
from egress.addresses import parse_ip
from egress.findings import Finding
from egress.hostmatch import normalize_host
from egress.policy.compiled import CompiledPolicy
from egress.redact import MIN_SECRET_LEN
from egress.runtime import Runtime
from egress.scan.authority import ambiguity, check_routing, method_problem
from egress.scan.hosts import FAIL_CLOSED_RULES
from egress.verdict import planned


class Hosts:
    name = "hosts"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _literal(self, policy: CompiledPolicy, host: str, where: str) -> Finding | None:
        """`hosts/private-address` for an IP-literal destination the proxy may not dial."""
        if parse_ip(host) is None:
            return None  # a name: judged once resolved (`addons.destinations`)
        return policy.hosts.check_address(host, self.runtime.addresses(policy), where)

    def _port(self, port: int) -> int | None:
        # `--any-port` (development and tests): every allow rule covers every port.
        return None if self.runtime.any_port else port

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        rec = record_of(flow, self.runtime)
        host, port = flow.request.host, flow.request.port
        address = self._literal(rec.policy, host, "connect")
        finding = rec.policy.hosts.check_host(host, self._port(port))
        judge(flow, self.runtime, FAIL_CLOSED_RULES, [x for x in (address, finding) if x is not None])
        if rec.blocked is None and finding is None and \
                rec.policy.hosts.is_passthrough(host, self._port(port)):
            rec.passthrough = True

    def tls_clienthello(self, data: ClientHelloData) -> None:
        address = data.context.server.address
        if address is None:
            return
        hosts = self.runtime.policy.hosts
        if not hosts.is_passthrough(address[0], self._port(address[1])):
            return
        sni = data.client_hello.sni
        # Only the CONNECT target decides passthrough; an SNI naming another host means
        # the client wants something else than it asked for: intercept and inspect it.
        if sni is None or normalize_host(sni) == normalize_host(address[0]):
            data.ignore_connection = True

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        rec = record_of(flow, self.runtime)
        req = flow.request
        # The method as sent: mitmproxy's `Request.method` upper-cases it for us.
        method = req.data.method.decode("utf-8", "surrogateescape")
        problem = method_problem(method)
        if problem is not None:
            # Whatever stands where the method belongs is data: kept out of every artefact
            # (when it is long enough to be a secret; scrubbing `get` would maul the log).
            sensitive = [method] if len(method) >= MIN_SECRET_LEN else []
            judge(flow, self.runtime, FAIL_CLOSED_RULES, [Finding(
                "hosts", "invalid-method", "block", "request.method", problem, status=400)],
                sensitive)
            return
        ambiguous = ambiguity(req.authority or None, req.headers.get_all("host"))
        if ambiguous is not None:
            judge(flow, self.runtime, FAIL_CLOSED_RULES, [Finding(
                "hosts", ambiguous.rule, "block", "request", ambiguous.reason, status=400)])
            return
        hosts = rec.policy.hosts
        findings: list[Finding] = []
        address = self._literal(rec.policy, req.host, "request")
        if address is not None:
            findings.append(address)
        port = self._port(req.port)
        for host in request_hosts(flow):
            for finding in hosts.check_request(host, method, req.path, port):
                if finding not in findings:
                    findings.append(finding)
        if findings:
            judge(flow, self.runtime, FAIL_CLOSED_RULES, findings)

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        rec = record_of(flow, self.runtime)
        if rec.policy.hosts.non_http == "allow":
            return
        address = flow.server_conn.address
        target = f"{address[0]}:{address[1]}" if address else "unknown"
        report(flow, self.runtime, [Finding(
            "hosts", "non-http-tunnel", "block", "connect",
            f"tunnel to {target} carries neither TLS nor HTTP and cannot be inspected")])

    def server_connect(self, data: ServerConnectionHookData) -> None:
        # Last line of defence: whatever path a flow took, never dial a host the policy
        # cannot allow. (Resolved names are judged by `addons.destinations`.)
        address = data.server.address
        if address is None or address == self.runtime.upstream:
            return  # the configured next-hop proxy: what travels through it was decided
        policy = self.runtime.policy
        literal = self._literal(policy, address[0], "connect")
        if literal is not None:
            data.server.error = f"blocked by egress policy: {literal.reason}"
            return
        finding = policy.hosts.check_host(address[0], self._port(address[1]))
        if finding is not None and planned([finding], policy.policy.mode).blocked is not None:
            data.server.error = f"blocked by egress policy: {finding.reason}"


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
