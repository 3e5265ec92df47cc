"""Denials at CONNECT that every client shows its caller.

HTTP clients discard the body of a refused CONNECT: Python says `Tunnel connection failed:
403 Forbidden`, curl `CONNECT tunnel failed, response 403`, and the agent never learns the
rule or the hint. So a CONNECT that the chain refused (host not allowed, port, private
address, an encoded hostname, ...) is, when the bottle CA may issue a certificate for its
host (no name constraints, or the host inside them), accepted instead, and the tunnel is
held: nothing upstream is ever contacted for it.

- `HoldDeniedTunnels.http_connect` (after every other `http_connect`) takes the denial off
  the CONNECT flow and remembers it for the client connection; mitmproxy answers
  `200 Connection established`. Without a CA that may issue for the host, the CONNECT stays
  refused, with a reason phrase that carries the rule and host
  (`403 Blocked by bottle policy: hosts/host-not-allowed example.com`): what clients print.
- Inside the held tunnel the client's TLS handshake completes with a leaf from the bottle CA
  (mitmproxy issues it; `tls_clienthello` forbids passthrough and server-first TLS), and
  `AnswerDeniedTunnels` (first in the chain) answers every request with the CONNECT's JSON
  denial, plain HTTP or TLS, HTTP/1 or HTTP/2, before any addon could resolve or dial. Raw
  TCP in the tunnel is refused at `tcp_start` (no connection, the client is cut).
- `server_connect` refuses every server connection of a held client connection: the last
  line of defence whatever path a flow took.

One audit event per denial: the CONNECT flow is not audited when the tunnel is held; each
request answered inside it is (same finding, event `http`, status 403). A held tunnel in
which no request arrived (a client that does not trust the bottle CA, or goes away) is
audited as the refused CONNECT it was (event `connect`, status 403) when its client
disconnects. Live only: replay judges recorded flows, it holds no tunnels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mitmproxy import connection, http, tcp
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.tls import ClientHelloData

from addons.support.flows import FlowRecord, deny, existing_record, record_failure, record_of
from egress.findings import Finding
from egress.runtime import Runtime

REASON_PREFIX = "Blocked by bottle policy"
_NOT_HOST = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")


def reason_phrase(finding: Finding, host: str) -> str:
    """`Blocked by bottle policy: <scanner>/<rule> <host>`, printable ASCII on one line: the
    host is the client's own text and may hold anything."""
    safe_host = _NOT_HOST.sub("?", host)[:255]
    return f"{REASON_PREFIX}: {finding.scanner}/{finding.rule} {safe_host}"


@dataclass(slots=True)
class _Held:
    connect: http.HTTPFlow
    rec: FlowRecord
    finding: Finding
    denial: http.Response
    answered: bool = False


class DeniedTunnels:
    """The held tunnels of one proxy, by client connection id."""

    def __init__(self, runtime: Runtime, may_issue: Callable[[str], bool] | None,
                 audit_connect: Callable[[http.HTTPFlow], None]) -> None:
        self.runtime = runtime
        self.may_issue = may_issue
        # Writes the audit event of a refused CONNECT (`addons.audit.Audit.http_connect_error`,
        # handed in by the chain: addons do not import each other).
        self.audit_connect = audit_connect
        self.held: dict[str, _Held] = {}


class AnswerDeniedTunnels:
    """First in the chain: a request inside a held tunnel gets the CONNECT's denial."""

    name = "denied-tunnel-answers"

    def __init__(self, tunnels: DeniedTunnels) -> None:
        self.tunnels = tunnels

    def _held(self, f: http.HTTPFlow | tcp.TCPFlow) -> _Held | None:
        if not self.tunnels.held:
            return None
        return self.tunnels.held.get(f.client_conn.id)

    def _refuse(self, f: http.HTTPFlow | tcp.TCPFlow) -> None:
        held = self._held(f)
        if held is None:
            return
        held.answered = True
        rec = record_of(f, self.tunnels.runtime)
        if rec.blocked is not None:
            return
        # The CONNECT's record carries over: its findings (the refusal, and what the scan of
        # its target found) and the values scrubbed from every artefact.
        rec.sensitive.update(held.rec.sensitive)
        record_failure(f, self.tunnels.runtime, held.rec.findings)
        deny(f, held.finding, self.tunnels.runtime.bottle_id)

    def requestheaders(self, f: http.HTTPFlow) -> None:
        self._refuse(f)

    def tcp_start(self, f: tcp.TCPFlow) -> None:
        self._refuse(f)


class HoldDeniedTunnels:
    """Last of the inspection addons: turns a refused CONNECT into a held tunnel."""

    name = "denied-tunnels"

    def __init__(self, tunnels: DeniedTunnels) -> None:
        self.tunnels = tunnels

    def http_connect(self, f: http.HTTPFlow) -> None:
        rec = existing_record(f)
        if rec is None or rec.blocked is None or f.response is None or f.response.status_code < 400:
            return
        if f.response.status_code == 407:
            return  # a proxy-auth challenge the client answers on the CONNECT itself
        host = f.request.host
        may_issue = self.tunnels.may_issue
        if may_issue is None or not may_issue(host):
            f.response.reason = reason_phrase(rec.blocked, host)
            return
        self.tunnels.held[f.client_conn.id] = _Held(f, rec, rec.blocked, f.response)
        f.response = None  # mitmproxy answers 200; nothing is dialled (`server_connect`)
        rec.audited = True  # by the requests answered inside, or at disconnect

    def tls_clienthello(self, data: ClientHelloData) -> None:
        if data.context.client.id in self.tunnels.held:
            # Terminate TLS here, whatever an earlier hook asked (passthrough would dial).
            data.ignore_connection = False
            data.establish_server_tls_first = False

    def server_connect(self, data: ServerConnectionHookData) -> None:
        held = self.tunnels.held.get(data.client.id)
        if held is not None:
            data.server.error = (f"blocked by egress policy: {held.finding.scanner}/"
                                 f"{held.finding.rule} (denied tunnel)")

    def client_disconnected(self, client: connection.Client) -> None:
        held = self.tunnels.held.pop(client.id, None)
        if held is None or held.answered:
            return
        # No request reached us in the tunnel: audit the refused CONNECT as such.
        held.connect.response = held.denial
        held.rec.audited = False
        self.tunnels.audit_connect(held.connect)
