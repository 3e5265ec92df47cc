"""Hostname exfiltration adapter: scores every name a connection is routed by.

The CONNECT target (`http_connect`), the TLS SNI (`tls_clienthello`) and the Host header
(`requestheaders`) are scored before any upstream contact or DNS lookup: with the `lazy`
connection strategy nothing is resolved or dialled until a request has passed
`requestheaders`. A block at the TLS handshake marks the client connection; every request
on it is then refused and `server_connect` refuses to dial for it. Names that disagree
(CONNECT vs SNI vs Host) are a finding of their own (domain fronting).

DNS flows (mitmproxy's `DNSFlow`, in flow files under `bottle replay`) are judged exactly
as the DNS guard (`proxy/dns/guard.py`) judges live queries.
"""

from __future__ import annotations

import time

from mitmproxy import connection, dns, flow, http, tcp
from mitmproxy.net.dns import classes as dns_classes
from mitmproxy.net.dns import response_codes
from mitmproxy.net.dns import types as dns_types
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.tls import ClientHelloData

from addons.support.flows import record_of, report
from egress.audit import utc_now
from egress.findings import Finding
from egress.policy.compiled import CompiledPolicy
from egress.runtime import Runtime
from egress.scan.dns import Answer, judge_answer, judge_query, svcb_hints
from egress.scan.hostnames import (
    HostnameJudgement,
    authority_host,
    budget_event,
    fronting_finding,
)
from egress.scan.name_secrets import NameSecretScanner
from egress.verdict import planned


def _bare(host: str | None) -> str:
    """Host without port or brackets, case kept: every path scores the name as it came
    (`egress.scan.hostnames.host_name` drops the trailing dot; fronting ignores case)."""
    return authority_host(host)


class Hostnames:
    name = "hostnames"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # client connection id -> CONNECT target, and -> the finding that condemned it at TLS
        self._connect: dict[str, str] = {}
        self._condemned: dict[str, Finding] = {}
        self._clean: dict[str, tuple[CompiledPolicy, set[str]]] = {}
        self._names = NameSecretScanner()

    # -- shared -------------------------------------------------------------------------

    def _now(self, f: flow.Flow | None = None) -> float:
        if self.runtime.live or f is None:
            return time.monotonic()
        return f.timestamp_created

    def _judge(self, policy: CompiledPolicy, name: str, where: str,
               f: flow.Flow | None = None) -> HostnameJudgement:
        judged = policy.hostnames.judge(name, self.runtime.hostname_budget, self._now(f), where)
        if judged.charge.first:
            self._report_budget(policy, judged, where)
        return judged

    def _report_budget(self, policy: CompiledPolicy, judged: HostnameJudgement, where: str) -> None:
        """The first refusal of a budget episode gets an event of its own (report once)."""
        self.runtime.audit.write({
            "time": utc_now(), "event": "hostname-budget", "bottle": self.runtime.bottle_id,
            "where": where,
            **budget_event(judged.charge, judged.score.registered, policy.hostnames.limits),
            "action": policy.hostnames.budget_action, "policy": policy.digest,
        })

    # -- CONNECT ------------------------------------------------------------------------

    def http_connect(self, f: http.HTTPFlow) -> None:
        if f.response or f.error:
            return
        rec = record_of(f, self.runtime)
        host = f.request.host
        self._connect[f.client_conn.id] = _bare(host)
        judged = self._judge(rec.policy, host, "connect", f)
        if judged.findings:
            report(f, self.runtime, judged.findings, judged.sensitive)

    # -- TLS ClientHello: before the handshake completes, before any upstream contact ---

    def tls_clienthello(self, data: ClientHelloData) -> None:
        sni = data.client_hello.sni
        if not sni:
            return
        policy = self.runtime.policy
        client = data.context.client
        address = data.context.server.address
        findings = list(self._judge(policy, sni, "sni").findings)
        credential = self.runtime.credentials.find_in_name(sni)
        if credential is not None:
            findings.append(Finding(
                "credentials", "placeholder-exfiltration", "block", "sni",
                f"the placeholder of credential {credential!r} was sent in a TLS SNI "
                "(possible exfiltration attempt)"))
        connect = self._connect.get(client.id) or (_bare(address[0]) if address else "")
        fronting = fronting_finding({"connect": connect, "sni": _bare(sni)},
                                    policy.hostnames.fronting, "sni")
        if fronting is not None:
            findings.append(fronting)
        blocking = planned(findings, policy.policy.mode).blocked
        if blocking is not None:
            # The handshake is ours (the bottle CA answers it); nothing upstream has been
            # contacted. Condemn the connection: each request on it gets a structured
            # denial, raw tunnels are killed and server_connect refuses to dial.
            self._condemned[client.id] = blocking
            data.ignore_connection = False
        elif findings:
            self._condemned_audit(client, findings, policy)

    def _condemned_audit(self, client: connection.Client, findings: list[Finding],
                         policy: CompiledPolicy) -> None:
        peer = f"{client.peername[0]}:{client.peername[1]}" if client.peername else None
        self.runtime.audit.write({
            "time": utc_now(), "event": "tls", "bottle": self.runtime.bottle_id, "client": peer,
            "verdict": "allow", "findings": [x.as_audit() for x in findings],
            "policy": policy.digest,
        })

    # -- requests -----------------------------------------------------------------------

    def requestheaders(self, f: http.HTTPFlow) -> None:
        if f.response or f.error:
            return
        rec = record_of(f, self.runtime)
        client_id = f.client_conn.id
        condemned = self._condemned.get(client_id)
        if condemned is not None:
            report(f, self.runtime, [condemned])
            return
        names = {
            "connect": self._connect.get(client_id, ""),
            "sni": _bare(f.client_conn.sni) if f.client_conn.tls else "",
            "host": _bare(f.request.host),
            "host-header": _bare(f.request.host_header),
        }
        findings: list[Finding] = []
        sensitive: list[str] = []
        # Names already judged clean on this connection under this policy are not judged
        # again for every keep-alive request (their budget answer would not change).
        memo = self._clean.get(client_id)
        if memo is None or memo[0] is not rec.policy:
            memo = (rec.policy, set())
            self._clean[client_id] = memo
        for name in dict.fromkeys(n for n in names.values() if n):
            if name in memo[1]:
                continue
            judged = self._judge(rec.policy, name, "request", f)
            if judged.findings:
                findings.extend(judged.findings)
                sensitive.extend(judged.sensitive)
            else:
                memo[1].add(name)
        fronting = fronting_finding(names, rec.policy.hostnames.fronting, "request")
        if fronting is not None:
            findings.append(fronting)
        if findings:
            report(f, self.runtime, findings, sensitive)

    def tcp_start(self, f: tcp.TCPFlow) -> None:
        condemned = self._condemned.get(f.client_conn.id)
        if condemned is not None:
            report(f, self.runtime, [condemned])

    def server_connect(self, data: ServerConnectionHookData) -> None:
        condemned = self._condemned.get(data.client.id)
        if condemned is not None:
            data.server.error = f"blocked by egress policy: {condemned.reason}"

    def client_disconnected(self, client: connection.Client) -> None:
        self._connect.pop(client.id, None)
        self._condemned.pop(client.id, None)
        self._clean.pop(client.id, None)

    # -- DNS flows (replay, or mitmproxy's DNS mode): judged like the DNS guard ---------

    def dns_request(self, f: dns.DNSFlow) -> None:
        if f.response or f.error:
            return
        rec = record_of(f, self.runtime)
        policy = rec.policy
        findings: list[Finding] = []
        sensitive: list[str] = []
        secrets_in = self._names.finder(policy.dlp, self.runtime.secrets, self.runtime.credentials)
        for q in f.request.questions:
            judged = judge_query(policy.dns, policy.hostnames, self.runtime.hostname_budget,
                                 q.name, dns_types.to_str(q.type), dns_classes.to_str(q.class_),
                                 self._now(f), secrets_in)
            findings.extend(judged.findings)
            sensitive.extend(judged.sensitive)
            if judged.hostname is not None and judged.hostname.charge.first:
                self._report_budget(policy, judged.hostname, "dns")
        if findings:
            self._deny_dns(f, findings, sensitive)

    def dns_response(self, f: dns.DNSFlow) -> None:
        rec = record_of(f, self.runtime)
        if f.response is None or rec.blocked is not None:
            return
        policy = rec.policy
        q = f.request.question
        if q is None:
            return
        try:
            answers = [Answer(dns_types.to_str(rr.type), rr.name, _rdata(rr), section,
                              svcb_hints(rr.data) if rr.type in _SVCB_TYPES else ())
                       for section, records in (("answer", f.response.answers),
                                                ("authority", f.response.authorities),
                                                ("additional", f.response.additionals))
                       for rr in records]
        except ValueError:
            self._deny_dns(f, [Finding("hostnames", "dns-upstream", "block", "dns.upstream",
                                       "an SVCB/HTTPS record of the answer could not be parsed")],
                           ())
            return
        findings = judge_answer(policy.dns, policy.hostnames, q.name, answers)
        if findings:
            self._deny_dns(f, findings, ())

    def _deny_dns(self, f: dns.DNSFlow, findings: list[Finding],
                  sensitive: list[str] | tuple[str, ...]) -> None:
        rec = report(f, self.runtime, findings, sensitive)
        if rec.blocked is not None and rec.policy.dns.rcode == "refused":
            f.response = f.request.fail(response_codes.REFUSED)


_SVCB_TYPES = (dns_types.SVCB, dns_types.HTTPS)


def _rdata(rr: dns.ResourceRecord) -> str:
    try:
        if rr.type == dns_types.A:
            return str(rr.ipv4_address)
        if rr.type == dns_types.AAAA:
            return str(rr.ipv6_address)
        if rr.type == dns_types.CNAME:
            return rr.domain_name
    except (ValueError, IndexError):
        return ""
    return ""
