"""Secrets in the head of a refused request, found so that no artefact keeps them.

A request refused before DLP reads it (at CONNECT: `hosts/host-not-allowed`,
`hosts/private-address`, a hostname or placeholder finding; in `requestheaders`: the host
allowlist, the path rules, the address and authority checks, an invalid method, a condemned
TLS connection, mitmproxy's own validation of the head) is still audited and recorded, and
its URL, names, method and headers are often exactly what got it refused:
`CONNECT AKIA….evil.test:443`, `GET /v1/<token>`. DLP reads only the method and authority of
a request refused before it runs. Here, last among the inspection addons, every part of a
refused request's head is scanned with the DLP rules and known secrets, and every value
found joins the values scrubbed from the audit log, flow files and replay output
(`FlowRecord.sensitive`).

What is found is recorded as `audit` findings (with the rule that refused the request in
their reason): the refusal stays the decision, and a reviewer sees that the refused request
carried a secret. Names (CONNECT target, request host, Host header, authority, TLS SNI,
server address) are scanned as names are (`egress.scan.name_secrets.name_texts`: in upper
and lower case, and split over consecutive labels), and a name with a secret in it has its
whole data part scrubbed, the way the DNS guard logs such a name.

A CONNECT flow that is audited without being refused (audit mode, a passthrough tunnel) has
its target scanned too: its audit event names it. Requests that were not refused were
scanned whole by DLP already.
"""

from __future__ import annotations

from dataclasses import replace

from mitmproxy import http

from addons.support.flows import FlowRecord, existing_record, note, record_of
from egress.policy.compiled import CompiledPolicy
from egress.redact import MIN_SECRET_LEN
from egress.runtime import Runtime
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import Match, ScanContext
from egress.scan.name_secrets import name_texts


class RefusedRequests:
    name = "refused"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def http_connect(self, flow: http.HTTPFlow) -> None:
        rec = existing_record(flow)
        if rec is None or not (rec.findings or rec.passthrough):
            return  # allowed and unremarkable: no artefact names the tunnel
        req = flow.request
        self._judge(flow, rec, None, None,
                    [("connect", req.host), ("request.headers.host", req.host_header or "")])

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        rec = existing_record(flow)
        if flow.error is None and (rec is None or rec.blocked is None):
            return
        # (mitmproxy calls this hook for a request it refused itself, an invalid head, with
        # the error set: no scanner judged it.)
        rec = rec or record_of(flow, self.runtime)
        if rec.injected:
            return  # a request with a credential injected was not refused when DLP scanned it
        req = flow.request
        names = [("request.host", req.host), ("request.authority", req.authority),
                 ("request.headers.host", req.host_header or ""),
                 ("sni", flow.client_conn.sni or "")]
        address = flow.server_conn.address
        if address:
            names.append(("connect", str(address[0])))
        # The method as sent (mitmproxy upper-cases `Request.method`).
        self._judge(flow, rec, req.data.method.decode("utf-8", "surrogateescape"), req.path,
                    names)

    def _judge(self, flow: http.HTTPFlow, rec: FlowRecord, method: str | None,
               path: str | None, names: list[tuple[str, str]]) -> None:
        engine = rec.policy.dlp
        if not engine.enabled:
            return
        req = flow.request
        known = self.runtime.secrets
        placeholders = self.runtime.credentials.placeholder_set()
        ctx = ScanContext(req.host, req.path, known, placeholders)
        matches: list[Match] = []
        if method:
            matches += engine.remembered("method", method, ctx,
                                         lambda: engine.scan(method, "request.method", ctx))
        if path:
            matches += engine.scan_url(path, ctx)
        matches += engine.scan_headers(req.headers.items(multi=True), ctx)
        sensitive = [s for m in matches for s in m.sensitive if s]
        seen: set[str] = set()
        for where, name in names:
            if not name or name.lower() in seen:
                continue
            seen.add(name.lower())
            found, data = self._name(rec.policy, engine, name, where,
                                     ScanContext(name, None, known, placeholders))
            if found:
                matches += found
                sensitive += [s for m in found for s in m.sensitive if s]
                # A secret split over labels is found glued together: scrubbing that would
                # leave the labels as they are, so the name's data part goes whole.
                sensitive.append(data)
        # One finding per rule and value (a name is scanned in several letter cases, a Host
        # header as a header and as a name), none for what an earlier scanner reported.
        fresh: dict[tuple[str, str], Match] = {}
        for m in matches:
            if not {s for s in m.sensitive if s} <= rec.sensitive:
                fresh.setdefault((m.rule, m.value.lower()), m)
        if not fresh:
            rec.sensitive.update(sensitive)  # a name's data part may be new all the same
            return
        blocked = rec.blocked
        if blocked is not None:
            why = f"; the request was refused already ({blocked.scanner}/{blocked.rule})"
        else:
            why = "; the request was refused already (by mitmproxy)" if flow.error else ""
        note(flow, self.runtime, [replace(m.finding, action="audit", reason=m.finding.reason + why)
                                  for m in fresh.values()], sensitive)

    @staticmethod
    def _name(policy: CompiledPolicy, engine: DLPEngine, name: str, where: str,
              ctx: ScanContext) -> tuple[list[Match], str]:
        """Secrets in a name (`host`, `host:port`, or whatever stands in a Host header), and
        the part of it to scrub when there is one: its data part, or all of it."""
        host = name.rsplit(":", 1)[0] if name.count(":") == 1 else name.strip("[]")
        _, data = policy.hostnames.scorer.split(host)
        texts = name_texts(name, data)
        cased = dict.fromkeys(v for t in texts for v in (t, t.upper(), t.lower()))
        parts = tuple((where, t) for t in cased)
        found = engine.remembered("name-parts", parts, ctx,
                                  lambda: engine.scan_parts(parts, ctx, join=False))
        return found, data if len(data) >= MIN_SECRET_LEN else host

