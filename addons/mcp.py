"""MCP adapter: finds JSON-RPC messages in requests, JSON responses, SSE streams and WebSocket
frames, hands them to `egress.scan.mcp.McpInspector`, and applies its decisions.

- Requests: a blocked `tools/call` (tool policy, argument rules, secrets in arguments, a changed
  tool) never reaches the server; the client gets a JSON-RPC error with the same id.
- JSON responses are inspected whole; event streams stay streamed: each SSE event is inspected
  and forwarded as soon as it is complete, never buffered to the end of the stream.
- `block` replaces a message with a JSON-RPC error carrying its id (notifications and server
  requests, which have no one waiting for an answer, are dropped); `strip` removes a poisoned
  or changed tool from a listing; `audit` only logs. In audit mode nothing is changed.

MCP traffic is recognised by content (JSON-RPC 2.0 with MCP methods, SSE events carrying
JSON-RPC) and by session (`Mcp-Session-Id`, `Mcp-Protocol-Version`, an endpoint already seen
speaking MCP, the legacy transport's `endpoint` event). On such a session, a message that is
not valid JSON-RPC is a `mcp/malformed-message` finding.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mitmproxy import ctx, http

from addons.support.failclosed import FailClosed
from addons.support.flows import FlowRecord, answer, decoded_request_body, note, record_failure, record_of
from addons.support.mcp_body import McpBody, errors_document
from addons.support.streams import Stop, response_stream
from egress.decompress import DecodeError, decode_body, encodings
from egress.findings import Finding, Scanner
from egress.runtime import Runtime
from egress.scan.dlp.results import ScanContext
from egress.scan.limits import decode_finding
from egress.scan.mcp import Decision, Exchange, McpInspector, McpPolicy
from egress.scan.mcp.inspector import ArgumentScanner
from egress.scan.mcp.jsonrpc import (
    INVALID_REQUEST,
    PARSE_ERROR,
    Malformed,
    blocked_error,
    dumps,
    error_message,
    looks_like_jsonrpc,
    parse,
)
from egress.sources.mcp_pins import ToolPins
from egress.verdict import first_block

log = logging.getLogger("egress.mcp")

KEY = "bottle-egress-mcp"
MAX_LEGACY_SESSIONS = 1024


def dlp_arguments(flow: http.HTTPFlow, rec: FlowRecord, runtime: Runtime,
                  sensitive: list[str]) -> ArgumentScanner | None:
    """The DLP engine over `tools/call` arguments, for this flow's destination and policy.

    Only blocking matches are returned: MCP turns them into a JSON-RPC error (same id) the
    client understands, where DLP alone would answer with an HTTP 403. Everything else (redact,
    audit) is left to the DLP addon, which scans the whole body next; matched values go to
    `sensitive` so that the audit log scrubs them."""
    engine = rec.policy.dlp
    if not engine.enabled:
        return None
    ctx = ScanContext(flow.request.pretty_host, flow.request.path, runtime.secrets,
                      runtime.credentials.placeholder_set())

    def scan(parts: Sequence[tuple[str, str]]) -> list[Finding]:
        matches = [m for m in engine.scan_parts(parts, ctx) if m.action == "block"]
        sensitive.extend(v for m in matches for v in m.sensitive if v)
        return [m.finding for m in matches]
    return scan


def server_of(req: http.Request) -> str:
    """An MCP server's identity: scheme, host, port and endpoint path (no query)."""
    default = {"http": 80, "https": 443}.get(req.scheme)
    port = "" if req.port == default else f":{req.port}"
    # The connection target, not the Host header: that is what the pins and sessions belong
    # to (a Host header naming another host is the hostnames scanner's domain-fronting case).
    return f"{req.scheme}://{req.host.lower()}{port}{req.path.partition('?')[0] or '/'}"


def _origin(req: http.Request) -> str:
    server = server_of(req)
    return server[:server.index("/", len(req.scheme) + 3)]


@dataclass
class McpFlow:
    """What the addon knows about one HTTP exchange that carries MCP."""

    exchange: Exchange
    request_ids: list[Any] = field(default_factory=list)
    answered: bool = False  # the proxy answered the client itself
    body: McpBody | None = None  # the inspection stage of a streamed response


def _state(flow: http.HTTPFlow) -> McpFlow | None:
    st = flow.metadata.get(KEY)
    return st if isinstance(st, McpFlow) else None


class Mcp:
    name = "mcp"

    def __init__(self, runtime: Runtime, failclosed: FailClosed | None = None) -> None:
        self.runtime = runtime
        self.failclosed = failclosed or FailClosed(runtime)
        self.inspector = McpInspector(ToolPins.in_state_dir(runtime.state_dir))
        # (origin, sessionId) of the legacy HTTP+SSE transport -> the stream's server key.
        self.legacy: OrderedDict[tuple[str, str], str] = OrderedDict()

    # -- requests -----------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        rec = record_of(flow, self.runtime)
        policy = rec.policy.mcp
        if not policy.enabled:
            return
        req = flow.request
        if req.method == "GET" and "text/event-stream" not in req.headers.get("accept", ""):
            return  # only a GET that opens an event stream can carry MCP
        server, scope, associated, legacy = self._locate(flow)
        if req.method == "GET":
            # Whatever type the answer claims, it is read as MCP by content (strictly on a
            # known session); an honest server is asked not to compress it.
            flow.metadata[KEY] = McpFlow(self._exchange(flow, server, scope, associated))
            req.headers["accept-encoding"] = "identity"
            return
        if req.method == "DELETE" and "mcp-session-id" in req.headers:
            self.inspector.sessions.drop(scope)
            return
        raw = req.raw_content or b""
        if not raw or not (associated or looks_like_jsonrpc(raw) or req.headers.get("content-encoding")):
            return
        try:
            body = decoded_request_body(flow, rec)
        except DecodeError:
            body = b""
        if not associated and not looks_like_jsonrpc(body):
            return
        try:
            parsed = parse(body)
        except Malformed as e:
            if associated:
                self._refuse_request(flow, rec, policy, str(e))
            return
        if not (associated or parsed.is_mcp):
            return
        st = McpFlow(self._exchange(flow, server, scope, True),
                     [m.id for m in parsed.messages if m.kind == "request"])
        flow.metadata[KEY] = st
        req.headers["accept-encoding"] = "identity"
        sensitive: list[str] = []
        decisions = self.inspector.client_messages(
            policy, st.exchange, parsed.messages, dlp_arguments(flow, rec, self.runtime, sensitive))
        extra = self._header_mismatch(req, parsed.messages, policy)
        recorded = note(flow, self.runtime, [*extra, *(f for d in decisions for f in d.findings)],
                        sensitive)
        blocking = first_block(recorded)
        if blocking is None:
            return
        if legacy:
            # Answers travel on the session's event stream: send stand-ins whose answers the
            # stream inspector replaces with the errors.
            forward = self.inspector.divert(st.exchange, decisions)
            if forward:
                req.content = dumps(forward if parsed.batch else forward[0])
                return
            st.answered = True
            flow.response = http.Response.make(202, b"", {"Cache-Control": "no-store"})
            return
        replies = [blocked_error(d.message.id, d.blocking or blocking)
                   for d in decisions if d.message.kind == "request"]
        self.inspector.answered_locally(st.exchange, st.request_ids)
        st.answered = True
        payload: Any = replies if parsed.batch else (replies[0] if replies else None)
        flow.response = http.Response.make(
            200 if payload is not None else 202, dumps(payload) if payload is not None else b"",
            {"Content-Type": "application/json", "Cache-Control": "no-store"})

    def _refuse_request(self, flow: http.HTTPFlow, rec: FlowRecord, policy: McpPolicy,
                        problem: str) -> None:
        finding = self.inspector.malformed(policy, "request.body", problem)
        recorded = note(flow, self.runtime, [finding])
        if recorded[0].action != "block":
            return
        code = PARSE_ERROR if problem == "not valid JSON" else INVALID_REQUEST
        flow.response = http.Response.make(
            400, dumps(error_message(None, code, f"Blocked by bottle-egress (mcp/malformed-message): "
                                     f"{finding.reason}")),
            {"Content-Type": "application/json", "Cache-Control": "no-store"})

    def _header_mismatch(self, req: http.Request, messages: list[Any], policy: McpPolicy) -> list[Finding]:
        method_header = req.headers.get("mcp-method")
        if method_header is None or len(messages) != 1:
            return []
        msg = messages[0]
        name_header = req.headers.get("mcp-name")
        params = msg.params if isinstance(msg.params, dict) else {}
        if msg.method != method_header or (
                name_header is not None and msg.method == "tools/call" and params.get("name") != name_header):
            return [Finding("mcp", "header-mismatch", policy.action("protocol"), "request.headers",
                            "the Mcp-Method/Mcp-Name headers do not match the JSON-RPC body")]
        return []

    def _locate(self, flow: http.HTTPFlow) -> tuple[str, str, bool, bool]:
        """(server key, pairing scope, is this a known MCP session or endpoint, is it one of
        the HTTP+SSE transport, whose answers come on the event stream)."""
        req = flow.request
        server = server_of(req)
        session_id = req.headers.get("mcp-session-id")
        if session_id:
            return server, f"{server}#{session_id}", True, False
        legacy_id = _legacy_session_id(req.path)
        if legacy_id:
            stream_server = self.legacy.get((_origin(req), legacy_id))
            if stream_server is not None:
                return stream_server, f"{stream_server}#{legacy_id}", True, True
        known = server in self.inspector.servers or "mcp-protocol-version" in req.headers
        return server, f"flow:{flow.id}", known, False

    def _exchange(self, flow: http.HTTPFlow, server: str, scope: str, strict: bool) -> Exchange:
        return Exchange(server, scope, flow.request.host, flow.request.path, strict)

    # -- responses ------------------------------------------------------------------------------

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """A streamed response of an MCP exchange (or any event stream) gets the inspection
        stage; a buffered one is judged whole in `response`."""
        resp = flow.response
        if resp is None or flow.error:
            return
        st = _state(flow)
        event_stream = _is_event_stream(resp)
        if (st is None and not event_stream) or (st is not None and st.answered):
            return
        rec = record_of(flow, self.runtime)
        if not rec.policy.mcp.enabled or rec.blocked is not None:
            return
        if st is None:
            # Not an MCP request, but event streams are inspected by content all the same.
            st = McpFlow(self._loose_exchange(flow))
            flow.metadata[KEY] = st
        stream = response_stream(flow)
        if st is None or stream is None:
            return
        st.body = McpBody(self, flow, st.exchange, st.request_ids, event_stream)
        try:
            stream.add(self.name, st.body)
        except DecodeError as e:  # an encoding nobody can undo: nothing was sent yet
            self._refuse_response(flow, st, decode_finding(e, "response.headers", undecodable=UNDECODABLE))
            return
        stream.undecodable = UNDECODABLE

    def response(self, flow: http.HTTPFlow) -> None:
        st = _state(flow)
        resp = flow.response
        try:
            if resp is None or flow.websocket is not None:
                return
            if st is None:
                # (an event stream got its state in `responseheaders`, replay included)
                if not _json_rpc_by_content(resp):
                    return
                st = McpFlow(self._loose_exchange(flow))
            if st.answered or st.body is not None:
                return  # answered by the proxy, or inspected while it streamed
            self._whole_response(flow, st)
        finally:
            if st is not None and st.exchange.scope.startswith("flow:"):
                self.inspector.sessions.drop(st.exchange.scope)

    def error(self, flow: http.HTTPFlow) -> None:
        st = _state(flow)
        if st is not None and st.exchange.scope.startswith("flow:"):
            self.inspector.sessions.drop(st.exchange.scope)

    def _loose_exchange(self, flow: http.HTTPFlow) -> Exchange:
        return Exchange(server_of(flow.request), f"flow:{flow.id}", flow.request.pretty_host,
                        flow.request.path, strict=False)

    def _whole_response(self, flow: http.HTTPFlow, st: McpFlow) -> None:
        """A buffered response (or any response, in replay): decoded within the limits, then
        the same inspection as a streamed one."""
        resp = flow.response
        assert resp is not None
        rec = record_of(flow, self.runtime)
        if not rec.policy.mcp.enabled or rec.blocked is not None:
            return
        raw = resp.raw_content or b""
        if not raw:
            return
        limits = rec.policy.policy.limits
        try:
            body = decode_body(raw, resp.headers.get("content-encoding"),
                               max_out=limits.max_decompressed_bytes,
                               max_ratio=limits.max_compression_ratio)
        except DecodeError as e:
            self._refuse_response(flow, st, decode_finding(e, "response.body", undecodable=UNDECODABLE))
            return
        inspected = McpBody(self, flow, st.exchange, st.request_ids, _is_event_stream(resp))
        try:
            new = b"".join([*inspected.feed(body), *inspected.end()])
        except Stop as e:
            self._refuse_response(flow, st, e.finding)
            return
        if new == body and inspected.status is None:
            return
        resp.content = new
        if inspected.status is not None:
            resp.status_code = inspected.status

    def _refuse_response(self, flow: http.HTTPFlow, st: McpFlow, finding: Finding) -> None:
        """The response cannot be inspected: it is blocked whatever the mode (fail closed), and
        every request of the exchange gets its error."""
        record_failure(flow, self.runtime, [finding])
        st.answered = True
        body = errors_document(st.request_ids, finding)
        answer(flow, http.Response.make(200 if st.request_ids else 502, body,
                                        {"Content-Type": "application/json",
                                         "Cache-Control": "no-store"}))

    def outcome(self, flow: http.HTTPFlow, rec: FlowRecord, decisions: list[Decision],
                 batch: bool) -> bytes | None:
        """Record the findings; the body to send instead of the server's (b"" when nothing is
        left to send), or None to send it unchanged."""
        note(flow, self.runtime, [f for d in decisions for f in d.findings])
        if not _enforced(rec) or not any(d.changed for d in decisions):
            return None
        kept = _apply(decisions)
        if not kept:
            return b""
        return dumps(kept if batch else kept[0])

    def legacy_endpoint(self, flow: http.HTTPFlow, exchange: Exchange, data: str) -> None:
        """HTTP+SSE transport: the `endpoint` event names where the client POSTs its messages."""
        session_id = _legacy_session_id(data.strip())
        if not session_id:
            return
        server = exchange.server
        self.legacy_session(_origin(flow.request), session_id, server)
        exchange.scope = f"{server}#{session_id}"
        exchange.strict = True
        self.inspector.servers.add(server)

    # -- WebSocket ------------------------------------------------------------------------------

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        ws = flow.websocket
        if ws is None or not ws.messages:
            return
        rec = record_of(flow, self.runtime)
        policy = rec.policy.mcp
        message = ws.messages[-1]
        if not policy.enabled or not message.is_text or not looks_like_jsonrpc(message.content):
            return
        st = _state(flow)
        try:
            parsed = parse(message.content)
        except Malformed as e:
            if st is not None:
                finding = self.inspector.malformed(policy, "websocket.message", str(e))
                if note(flow, self.runtime, [finding])[0].action == "block":
                    message.drop()
            return
        if st is None:
            if not parsed.is_mcp:
                return
            st = McpFlow(self._exchange(flow, server_of(flow.request), f"flow:{flow.id}", True))
            flow.metadata[KEY] = st
        if not message.from_client:
            decisions = self.inspector.server_messages(policy, st.exchange, parsed.messages)
            new = self.outcome(flow, rec, decisions, parsed.batch)
            if new == b"":
                message.drop()
            elif new is not None:
                message.content = new
            return
        sensitive: list[str] = []
        decisions = self.inspector.client_messages(
            policy, st.exchange, parsed.messages, dlp_arguments(flow, rec, self.runtime, sensitive))
        note(flow, self.runtime, [f for d in decisions for f in d.findings], sensitive)
        if not _enforced(rec) or not any(d.changed for d in decisions):
            return
        # Blocked requests never reach the server; their errors go back to the client.
        forward = [d.message.obj for d in decisions if not d.changed]
        if forward:
            message.content = dumps(forward if parsed.batch else forward[0])
        else:
            message.drop()
        for d in decisions:
            if d.replacement is not None:
                self._inject_to_client(flow, dumps(d.replacement))

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.error(flow)

    def _inject_to_client(self, flow: http.HTTPFlow, data: bytes) -> None:
        if not self.runtime.live:
            return
        try:
            ctx.master.commands.call("inject.websocket", flow, True, data, True)
        except Exception as e:  # the client then times out instead of getting the error
            log.warning("could not answer a blocked MCP WebSocket request (%s)", type(e).__name__)

    def legacy_session(self, origin: str, session_id: str, server: str) -> None:
        self.legacy[(origin, session_id)] = server
        self.legacy.move_to_end((origin, session_id))
        while len(self.legacy) > MAX_LEGACY_SESSIONS:
            self.legacy.popitem(last=False)


def _legacy_session_id(url: str) -> str | None:
    """The session of the HTTP+SSE transport: `sessionId` (TypeScript SDK) or `session_id` (Python)."""
    query = parse_qs(urlsplit(url).query)
    found = query.get("sessionId") or query.get("session_id")
    return found[0] if found else None


UNDECODABLE: tuple[Scanner, str] = ("mcp", "undecodable-stream")


def _is_event_stream(resp: http.Response) -> bool:
    return "text/event-stream" in resp.headers.get("content-type", "").lower()


def _json_rpc_by_content(resp: http.Response) -> bool:
    """A buffered answer to a request not known as MCP that is JSON-RPC all the same, whatever
    its type says (only unencoded bodies: decoding every response to look would cost every
    request; an MCP client's own requests are always recognised, see `Mcp.request`)."""
    raw = resp.raw_content or b""
    return (looks_like_jsonrpc(raw) and raw.lstrip()[:1] in (b"{", b"[")
            and not encodings(resp.headers.get("content-encoding")))


def _enforced(rec: FlowRecord) -> bool:
    return rec.policy.policy.mode == "enforce"


def _apply(decisions: list[Decision]) -> list[Any]:
    """The messages to send on: replacements in place, dropped ones left out."""
    out: list[Any] = []
    for d in decisions:
        if d.drop:
            continue
        out.append(d.replacement if d.replacement is not None else d.message.obj)
    return out
