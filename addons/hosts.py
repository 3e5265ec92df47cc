"""Host allowlist adapter: decides at CONNECT, at each request, and again before connecting.

Decisions happen before any upstream contact: with mitmproxy's `lazy` connection strategy
nothing is resolved or dialled until a request has passed `requestheaders`, and
`server_connect` re-checks the destination as a last line of defence.
"""

from __future__ import annotations

from mitmproxy import http, tcp
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.tls import ClientHelloData

from addons.flowrecord import record_of, report
from egress.findings import Finding
from egress.hostmatch import normalize_host
from egress.runtime import Runtime


def header_host(flow: http.HTTPFlow) -> str | None:
    """The normalised host of the Host header (`:authority` in HTTP/2), port removed."""
    header = flow.request.host_header
    if not header:
        return None
    return normalize_host(header.rsplit(":", 1)[0] if not header.endswith("]") else header)


def request_hosts(flow: http.HTTPFlow) -> list[str]:
    """Every name this request could be routed by: connection target, Host header, TLS SNI."""
    target = normalize_host(flow.request.host)
    names = [target]
    host = header_host(flow)
    if host and host != target:
        names.append(host)
    sni = flow.client_conn.sni
    if sni:
        sni = normalize_host(sni)
        if sni not in names:
            names.append(sni)
    return names


class Hosts:
    name = "hosts"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        rec = record_of(flow, self.runtime)
        finding = rec.policy.hosts.check_host(flow.request.host)
        if finding is not None:
            report(flow, self.runtime, [finding])
        elif rec.policy.hosts.is_passthrough(flow.request.host):
            rec.passthrough = True

    def tls_clienthello(self, data: ClientHelloData) -> None:
        address = data.context.server.address
        if address is None:
            return
        hosts = self.runtime.policy.hosts
        if not hosts.is_passthrough(address[0]):
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
        method, path = flow.request.method, flow.request.path
        findings: list[Finding] = []
        for host in request_hosts(flow):
            findings.extend(rec.policy.hosts.check_request(host, method, path))
        if findings:
            report(flow, self.runtime, findings)

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
        # cannot allow.
        address = data.server.address
        if address is None or address == self.runtime.upstream:
            return  # the configured next-hop proxy: what travels through it was decided
        policy = self.runtime.policy
        finding = policy.hosts.check_host(address[0])
        if finding is not None and finding.action == "block" and policy.mode == "enforce":
            data.server.error = f"blocked by egress policy: {finding.reason}"
