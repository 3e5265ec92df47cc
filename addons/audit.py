"""Writes one audit event per decided flow. Last in the chain, so it sees every finding."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote_plus

from mitmproxy import connection, dns, flow, http, tcp
from mitmproxy.net.dns import types as dns_types

from addons.support.flows import FlowRecord, existing_record, record_of
from egress.agent_identity import AGENT_KEY
from egress.audit import utc_now
from egress.runtime import Runtime


def safe_path(path: str) -> str:
    """The path with query values masked: queries are where ad-hoc tokens travel most."""
    base, sep, query = path.partition("?")
    if not sep:
        return base
    keys = [part.partition("=")[0] for part in query.split("&") if part]
    return base + "?" + "&".join(f"{unquote_plus(k)}=…" for k in keys or ["…"])


def _peer(client: connection.Client) -> str | None:
    return f"{client.peername[0]}:{client.peername[1]}" if client.peername else None


class Audit:
    name = "audit"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _write(self, f: flow.Flow, rec: FlowRecord, event: dict[str, Any]) -> None:
        if rec.audited:
            return
        rec.audited = True
        metrics = self.runtime.metrics
        if metrics is not None:  # once per flow, like its audit event (which may be off)
            metrics.flow(event["event"], rec.verdict.decision, rec.findings, rec.injected)
        if not self.runtime.audit.active:
            return
        if not rec.findings and not rec.policy.policy.audit.log_allowed:
            return
        base: dict[str, Any] = {
            "time": utc_now(),
            "event": event.pop("event"),
            "bottle": self.runtime.bottle_id,
            "flow": f.id,
            "client": _peer(f.client_conn),
        }
        agent = f.metadata.get(AGENT_KEY)
        if agent is not None:  # behind a shared egress: the authenticated agent
            base["agent"] = agent
        base.update(event)
        base["verdict"] = rec.verdict.decision
        base["findings"] = [x.as_audit() for x in rec.findings]
        if rec.injected:
            base["credentials"] = list(rec.injected)
        base["policy"] = rec.policy.digest
        base["latency_ms"] = round((time.perf_counter() - rec.started) * 1000, 3)
        self.runtime.audit.write(base, rec.sensitive)

    def _http(self, f: http.HTTPFlow, kind: str = "http") -> None:
        rec = record_of(f, self.runtime)
        req = f.request
        event: dict[str, Any] = {
            "event": kind, "method": req.method, "scheme": req.scheme or "https",
            "host": req.host, "port": req.port, "path": safe_path(req.path),
        }
        if f.response is not None:
            event["status"] = f.response.status_code
        if f.error is not None:
            event["error"] = f.error.msg[:200]
        if rec.passthrough:
            event["passthrough"] = True
        self._write(f, rec, event)

    def response(self, f: http.HTTPFlow) -> None:
        if f.websocket is None:
            self._http(f)

    def error(self, f: http.HTTPFlow) -> None:
        self._http(f)

    def websocket_end(self, f: http.HTTPFlow) -> None:
        self._http(f, "websocket")

    def http_connect_error(self, f: http.HTTPFlow) -> None:
        self._http(f, "connect")

    def http_connected(self, f: http.HTTPFlow) -> None:
        rec = existing_record(f)
        if rec is not None and (rec.passthrough or rec.findings):
            self._http(f, "connect")

    def tcp_end(self, f: tcp.TCPFlow) -> None:
        rec = existing_record(f)
        if rec is not None:
            address = f.server_conn.address
            self._write(f, rec, {"event": "tcp", "host": address[0] if address else None,
                                 "port": address[1] if address else None})

    tcp_error = tcp_end

    def dns_response(self, f: dns.DNSFlow) -> None:
        rec = record_of(f, self.runtime)
        q = f.request.questions[0] if f.request.questions else None
        self._write(f, rec, {"event": "dns", "host": q.name if q else None,
                             "qtype": dns_types.to_str(q.type) if q else None})

    dns_error = dns_response
