"""The flow glue every addon shares: the flow's decision record, and applying a verdict to a
flow (structured denial, NXDOMAIN, kill, cut).

Scanners return findings; addons hand them to `report()` (or `note`, `judge`, `fail`,
`record_failure`), which records them through `egress.verdict.record` (policy mode, the
block derived from the findings) and, when one blocks, answers the flow with a
machine-readable denial. Only this module turns a finding into a response. Not an addon:
it imports none.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from mitmproxy import ctx, dns, flow, http, tcp
from mitmproxy.net.dns import response_codes
from mitmproxy.net.http import status_codes

from egress.decompress import DecodeError, decode_body, encodings
from egress.findings import Finding
from egress.hostmatch import normalize_host
from egress.policy.compiled import CompiledPolicy
from egress.runtime import Runtime
from egress.scan import authority
from egress.scan import credentials as creds
from egress.verdict import Verdict, decide, denial_body, first_block, reason_header, record

KEY = "bottle-egress"


@dataclass(slots=True)
class FlowRecord:
    policy: CompiledPolicy
    # Every finding recorded (through `egress.verdict.record` only); what blocks is derived.
    findings: list[Finding] = field(default_factory=list)
    # Raw values scanners matched in this flow: scrubbed from every artefact we write.
    sensitive: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.perf_counter)
    audited: bool = False
    passthrough: bool = False
    # Names of the credentials injected into this flow's request (never their values).
    injected: list[str] = field(default_factory=list)
    # The request body with its content encodings undone, for the raw body it came from
    # (several scanners read it; it is decoded once).
    decoded_body: tuple[bytes, bytes | DecodeError] | None = None
    # Bytes of the body already went out (a streamed request or response past its first
    # chunk): a block can no longer be answered, only cut (`cut`).
    request_sent: bool = False
    response_sent: bool = False
    # An answer given when only the server's response head had arrived, and its body: put
    # back by `settle_answer` should mitmproxy have read the server's body into it.
    owned: tuple[http.Response, bytes] | None = None
    cut: bool = False

    @property
    def blocked(self) -> Finding | None:
        """The finding that blocks this flow (the first blocking one), if any."""
        return first_block(self.findings)

    @property
    def verdict(self) -> Verdict:
        return decide(self.findings)

    def as_metadata(self) -> dict[str, Any]:
        """A serialisable summary (flow files cannot hold Python objects)."""
        return {
            "verdict": self.verdict.decision,
            "policy": self.policy.digest,
            "findings": [f.as_audit() for f in self.findings],
            **({"credentials": list(self.injected)} if self.injected else {}),
        }


def header_host(f: http.HTTPFlow) -> str | None:
    """The normalised host of the request's Host header (`:authority`), if exactly one."""
    return authority.header_host(f.request.host_header)


def request_hosts(f: http.HTTPFlow) -> list[str]:
    """Every name this request could be routed by: connection target, Host header, TLS SNI."""
    return authority.request_hosts(f.request.host, f.request.host_header, f.client_conn.sni)


def destination(f: http.HTTPFlow) -> str | None:
    """The request's host if CONNECT target (server address), request host, Host header and,
    for HTTPS, SNI all name it; else None."""
    req = f.request
    address = f.server_conn.address
    sni = f.client_conn.sni
    return creds.verified_host(req.scheme, normalize_host(address[0]) if address else None,
                               normalize_host(req.host), normalize_host(sni) if sni else None,
                               header_host(f))


def overwritten_headers(f: http.HTTPFlow, table: creds.CredentialTable) -> frozenset[str]:
    """Lower-case names of the headers this request's credentials will overwrite
    (`egress.credentials.overwritten_headers`)."""
    if not table:
        return frozenset()
    dest = destination(f)
    if dest is None:
        return frozenset()
    return creds.overwritten_headers(table, dest, f.request.scheme, f.request.path)


def record_of(f: flow.Flow, runtime: Runtime) -> FlowRecord:
    """The flow's record, created on first use with a snapshot of the current policy."""
    rec = f.metadata.get(KEY)
    if not isinstance(rec, FlowRecord):
        rec = FlowRecord(policy=runtime.policy)
        f.metadata[KEY] = rec
    return rec


def decoded_request_body(f: http.HTTPFlow, rec: FlowRecord) -> bytes:
    """The request body with `Content-Encoding` undone within the policy's limits, decoded
    once per raw body however many scanners ask. Raises `DecodeError` (over-limit, bomb,
    corrupt, unsupported) every time it is asked for an undecodable body."""
    raw = f.request.raw_content or b""
    cached = rec.decoded_body
    if cached is None or cached[0] is not raw:
        encoding = f.request.headers.get("content-encoding")
        if not raw or not encodings(encoding):
            cached = (raw, raw)
        else:
            limits = rec.policy.policy.limits
            try:
                cached = (raw, decode_body(raw, encoding, max_out=limits.max_decompressed_bytes,
                                           max_ratio=limits.max_compression_ratio))
            except DecodeError as e:
                cached = (raw, e)
        rec.decoded_body = cached
    if isinstance(cached[1], DecodeError):
        raise cached[1]
    return cached[1]


def existing_record(f: flow.Flow) -> FlowRecord | None:
    rec = f.metadata.get(KEY)
    return rec if isinstance(rec, FlowRecord) else None


def report(f: flow.Flow, runtime: Runtime, findings: Iterable[Finding],
           sensitive: Iterable[str] = ()) -> FlowRecord:
    """Record findings under the policy mode; block the flow on the first blocking one."""
    rec = record_of(f, runtime)
    rec.sensitive.update(sensitive)
    out = record(rec, [_located_safely(x, runtime, rec) for x in findings], rec.policy.policy.mode)
    if out.blocked is not None:
        deny(f, out.blocked, runtime.bottle_id)
    return rec


def note(f: flow.Flow, runtime: Runtime, findings: Iterable[Finding],
         sensitive: Iterable[str] = ()) -> list[Finding]:
    """Record findings under the policy mode without touching the flow: for addons that act on
    a part of a message (an MCP JSON-RPC message inside a body or an event stream). Returns
    the findings as recorded (blocking ones degraded to `audit` in audit mode)."""
    rec = record_of(f, runtime)
    rec.sensitive.update(sensitive)
    located = [_located_safely(x, runtime, rec) for x in findings]
    return list(record(rec, located, rec.policy.policy.mode).findings)


def _located_safely(finding: Finding, runtime: Runtime, rec: FlowRecord) -> Finding:
    """A location names where a value was found, and that place can be the value itself (a
    secret used as a header name, a hostname label): it is scrubbed like a value, in any
    letter case, before it reaches a denial, the audit log, a flow file or replay output."""
    if not rec.sensitive and not len(runtime.secrets):
        return finding
    where = runtime.secrets.scrub(finding.where, rec.sensitive)
    reason = runtime.secrets.scrub(finding.reason, rec.sensitive)
    if where == finding.where and reason == finding.reason:
        return finding
    return replace(finding, where=where, reason=reason)


def judge(f: flow.Flow, runtime: Runtime, hard_rules: Collection[str], findings: Iterable[Finding],
          sensitive: Iterable[str] = ()) -> None:
    """`report` for a scanner with rules about malformed or dangerous requests (`hard_rules`,
    rule ids): those block whatever the policy mode, like `fail`; the others go through the
    policy mode like every finding."""
    findings = list(findings)
    hard = [x for x in findings if x.rule in hard_rules and x.action == "block"]
    rec = record_of(f, runtime)
    rec.sensitive.update(sensitive)
    out = record(rec, hard, rec.policy.policy.mode, fail_closed=True)
    if out.blocked is not None:
        deny(f, out.blocked, runtime.bottle_id)
    soft = [x for x in findings if x not in hard]
    if soft:
        report(f, runtime, soft)


def fail(f: flow.Flow, runtime: Runtime, finding: Finding) -> None:
    """Record a fail-closed finding (it blocks whatever the policy mode says) and deny the
    flow with the finding that blocks it: this one, or the earlier block the response and
    the audit event already name (a hook that raises on a flow blocked before)."""
    rec = record_failure(f, runtime, [finding])
    deny(f, rec.blocked or finding, runtime.bottle_id)


def record_failure(f: flow.Flow, runtime: Runtime, findings: Iterable[Finding]) -> FlowRecord:
    """Record fail-closed findings without touching the flow: for a caller that stops the
    flow its own way (cuts a stream, kills it, answers SERVFAIL) or finds it stopped."""
    rec = record_of(f, runtime)
    record(rec, findings, rec.policy.policy.mode, fail_closed=True)
    return rec


_TEMPLATES: dict[int, http.Response] = {}


def _template(status: int) -> http.Response:
    """A validated response per status, built once: mitmproxy type-checks every field of a
    new response, which cost more than the rest of a denial together."""
    template = _TEMPLATES.get(status)
    if template is None:
        reason = status_codes.RESPONSES.get(status, "").encode("ascii")
        template = http.Response(b"HTTP/1.1", status, reason, http.Headers(), b"", None, 0.0, 0.0)
        _TEMPLATES[status] = template
    return template


def denial_response(finding: Finding, flow_id: str, bottle_id: str) -> http.Response:
    body = denial_body(finding, flow_id, bottle_id)
    now = time.time()
    template = _template(finding.status)
    data = copy.copy(template.data)
    data.headers = http.Headers([
        (b"Content-Type", b"application/json"),
        (b"X-Bottle-Block-Reason", reason_header(finding).encode("ascii")),
        (b"Cache-Control", b"no-store"),
        (b"Content-Length", str(len(body)).encode("ascii")),
    ])
    data.content = body
    data.timestamp_start = data.timestamp_end = now
    response = copy.copy(template)
    response.data = data
    return response


def deny(f: flow.Flow, finding: Finding, bottle_id: str) -> None:
    """Stop the flow: a structured denial for HTTP, NXDOMAIN for DNS, no connection for raw TCP.

    An upgraded WebSocket cannot be answered or killed in transit (mitmproxy relays it until
    either side closes), so from here on every message of the flow, both ways, is dropped
    (`addons.support.failclosed` does that before any addon sees it) and the client is sent the denial
    as a text message, so the agent learns why rather than waiting for an answer."""
    if isinstance(f, http.HTTPFlow):
        if f.websocket is not None and f.response is not None and f.response.status_code == 101:
            _notify_websocket_client(f, denial_body(finding, f.id, bottle_id))
            return
        answer(f, denial_response(finding, f.id, bottle_id))
    elif isinstance(f, dns.DNSFlow):
        f.response = f.request.fail(response_codes.NXDOMAIN)
    elif isinstance(f, tcp.TCPFlow):
        # Checked when mitmproxy is about to dial: a tunnel denied at `tcp_start` never connects.
        f.server_conn.error = f"blocked by egress policy: {finding.scanner}/{finding.rule}"
        if f.killable:
            f.kill()


def answer(f: http.HTTPFlow, response: http.Response) -> None:
    """Give the client `response` instead of the server's, whatever stage the flow is at.

    - Before the request went out: mitmproxy sends `response` once it has read the request
      (a request that was to be streamed is read whole instead).
    - Once bytes of a streamed request or response went out: nothing can be answered any
      more; the connection is cut (`cut`).
    - With only the server's response head in (`responseheaders`): mitmproxy would read the
      server's body into `response` and send that. `response` is streamed instead, with a
      stream that sends its own body and throws the server's away (`_OwnedBody`).
    - With the whole response in: `response` simply replaces it."""
    rec = existing_record(f)
    if f.response is None:
        if f.request.stream:
            if rec is not None and rec.request_sent:
                cut(f)
                return
            f.request.stream = False
        f.response = response
        return
    if f.response.data.content is None:
        if rec is not None and rec.response_sent:
            cut(f)
            return
        body = response.raw_content or b""
        response.headers["content-length"] = str(len(body))
        http1 = f.client_conn.alpn in (None, b"", b"http/1.1", b"http/1.0")
        if http1:
            response.headers["connection"] = "close"
        limit = rec.policy.policy.limits.max_body_bytes if rec is not None else 0
        response.stream = _OwnedBody(f, body, http1, limit)
        if rec is not None:
            rec.owned = (response, body)
    f.response = response


class _OwnedBody:
    """The stream of an answer given at `responseheaders`: the answer's body goes out on the
    first call, every byte of the server's body is dropped.

    Over HTTP/1 the client has all it needs then (Content-Length, `Connection: close`), so the
    server connection is closed at once rather than drained. Over HTTP/2 the stream ends
    when the server's body does (only then can mitmproxy end it); a server body longer
    than `limits.max_body_bytes` is not drained, the stream is reset instead."""

    def __init__(self, f: http.HTTPFlow, body: bytes, http1: bool, limit: int) -> None:
        self.flow = f
        self.body = body
        self.http1 = http1
        self.limit = limit
        self.sent = False
        self.dropped = 0

    def __call__(self, chunk: bytes) -> list[bytes]:
        if not self.sent:
            self.sent = True
            if self.http1 and chunk:
                close_server(self.flow)
            return [self.body] if self.body else []
        self.dropped += len(chunk)
        if self.dropped > self.limit and chunk:
            close_server(self.flow)
        return []


def settle_answer(f: http.HTTPFlow) -> None:
    """In `response`: put back the body of an answer given at `responseheaders`. A server
    response that ended with its head (no body) was never streamed: mitmproxy stored its
    empty body in the answer, and would send that."""
    rec = existing_record(f)
    if rec is None or rec.owned is None:
        return
    response, body = rec.owned
    if f.response is response and response.raw_content != body:
        response.raw_content = body


def cut(f: http.HTTPFlow) -> None:
    """Stop a flow whose bytes are already on their way: kill it and close its server
    connection now. mitmproxy cannot kill a flow in transit (it only looks at the next hook),
    so without closing, a streamed request would still be ended properly at the origin and
    a streamed response would keep the client waiting for the server's end."""
    rec = existing_record(f)
    if rec is not None:
        rec.cut = True
    if f.killable:
        f.kill()
    close_server(f)


def keep_cut(f: http.HTTPFlow) -> None:
    """In `error`: a flow we cut stays killed. Closing its server connection makes mitmproxy
    report "server closed connection" in its place, and answer the client with its own HTML
    502; killed, the client's connection is simply cut (never any server byte)."""
    rec = existing_record(f)
    if rec is not None and rec.cut and f.error is not None and f.error.msg != flow.Error.KILLED_MESSAGE:
        f.error = flow.Error(flow.Error.KILLED_MESSAGE)


def close_server(f: http.HTTPFlow) -> None:
    """Close the flow's server connection (live only; replay has none)."""
    master = getattr(ctx, "master", None)
    if master is None:
        return
    proxyserver = master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(f.client_conn.id)
    if handler is not None and f.server_conn in handler.transports:
        handler.close_connection(f.server_conn)


def _notify_websocket_client(f: http.HTTPFlow, body: bytes) -> None:
    master = getattr(ctx, "master", None)
    if master is None:  # replay: no connection to tell
        return
    with contextlib.suppress(Exception):
        master.commands.call("inject.websocket", f, True, body.rstrip(b"\n"), True)


def blocked(f: flow.Flow) -> bool:
    rec = f.metadata.get(KEY)
    return isinstance(rec, FlowRecord) and rec.blocked is not None
