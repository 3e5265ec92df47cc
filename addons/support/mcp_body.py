"""The body of an MCP response, read by content: an event stream, or one JSON-RPC document.

What a body is comes from its first bytes, not its `Content-Type` (a poisoned `tools/list`
served as `text/plain` is still a `tools/list`): a body whose first non-blank byte is `{` or
`[` is JSON and is inspected whole once it is complete (it is held back until then, at most
`limits.max_body_bytes`); anything else is read as an event stream, each event inspected and
forwarded as soon as it is complete. `McpBody` is a stage of a streamed response
(`addons.support.streams`) and, fed the whole decoded body at once, the check of a buffered one:
both paths run the same code.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from mitmproxy import http

from addons.support.flows import FlowRecord, note, record_of
from addons.support.streams import Stop
from egress.findings import Finding
from egress.runtime import Runtime
from egress.scan.mcp import Decision, Exchange, McpInspector
from egress.scan.mcp.jsonrpc import (
    INVALID_REQUEST,
    Malformed,
    blocked_error,
    dumps,
    error_message,
    looks_like_jsonrpc,
    parse,
)
from egress.scan.mcp.sessions import id_key
from egress.scan.mcp.sse import EventTooLarge, SseDecoder, SseEvent, event_bytes


class Mcp(Protocol):
    """What a body needs of the MCP addon (`addons.mcp.Mcp`), which owns the bodies."""

    runtime: Runtime
    inspector: McpInspector

    def outcome(self, flow: http.HTTPFlow, rec: FlowRecord, decisions: list[Decision],
                batch: bool) -> bytes | None: ...

    def legacy_endpoint(self, flow: http.HTTPFlow, exchange: Exchange, data: str) -> None: ...

# Leading blank bytes looked at before a body is taken for an event stream.
SNIFF = 64 * 1024
_BLANK = b" \t\r\n\xef\xbb\xbf"  # whitespace and a UTF-8 byte order mark


def errors_document(request_ids: list[Any], finding: Finding) -> bytes:
    """A JSON-RPC error for every request of the exchange (one document), or a lone error."""
    errors = [blocked_error(i, finding) for i in request_ids]
    if errors:
        return dumps(errors if len(errors) != 1 else errors[0])
    return dumps(error_message(None, INVALID_REQUEST, f"Blocked by bottle-egress ({finding.scanner}/"
                               f"{finding.rule}): {finding.reason}"))


class McpBody:
    """One response body of an MCP exchange, streamed or whole."""

    def __init__(self, addon: Mcp, flow: http.HTTPFlow, exchange: Exchange,
                 request_ids: list[Any], event_stream: bool) -> None:
        self.addon = addon
        self.flow = flow
        self.exchange = exchange
        self.request_ids = request_ids
        self.rec: FlowRecord = record_of(flow, addon.runtime)
        self.policy = self.rec.policy.mcp
        self.max_body = self.rec.policy.policy.limits.max_body_bytes
        self.event_stream = event_stream  # the server said so: its spec applies
        self.mode = "sse" if event_stream else ""
        self.head = bytearray()
        self.json = bytearray()
        self.sse = StreamInspector(addon, self) if event_stream else None
        self.closed = False
        # For a whole body: the status to answer with when nothing of it is left (202), or
        # when it was replaced by errors that answer no request (502).
        self.status: int | None = None

    # -- the Stage protocol (addons.support.streams) ----------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        if self.closed or not data:
            return []
        if not self.mode:
            self.head += data
            start = len(self.head) - len(self.head.lstrip(_BLANK))
            if start == len(self.head) and len(self.head) <= SNIFF:
                return []  # only blanks so far
            first = bytes(self.head[start:start + 1])
            self.mode = "json" if first in (b"{", b"[") else "sse"
            if self.mode == "sse":
                self.sse = StreamInspector(self.addon, self)
            data, self.head = bytes(self.head), bytearray()
        if self.mode == "json":
            self.json += data
            if len(self.json) > self.max_body:
                raise Stop(Finding("limits", "body-too-large", "block", "response.body",
                                   f"an MCP JSON body exceeds the {self.max_body}-byte limit",
                                   status=502))
            return []
        assert self.sse is not None
        return self.sse.feed(data)

    def end(self) -> list[bytes]:
        if self.closed:
            return []
        if not self.mode:
            self.closed = True
            return [bytes(self.head)]
        if self.mode == "json":
            self.closed = True
            return [self._json(bytes(self.json))]
        assert self.sse is not None
        out = self.sse.feed(b"")
        self.closed = True
        return out

    def fail(self, finding: Finding) -> list[bytes]:
        """The last word of a stopped stream: errors for the requests still waiting, as
        events on an event stream, as one JSON-RPC document otherwise."""
        if self.closed:
            return []
        self.closed = True
        if self.sse is not None:
            return self.sse.finish(finding)
        return [errors_document(self.request_ids, finding)]

    # -- JSON -------------------------------------------------------------------------------

    def _json(self, body: bytes) -> bytes:
        """The body to send instead of a JSON document: itself when nothing changes."""
        strict = self.exchange.strict
        if not strict and not looks_like_jsonrpc(body):
            return body
        try:
            parsed = parse(body)
        except Malformed as e:
            if not strict:
                return body
            finding = self.addon.inspector.malformed(self.policy, "response.body", str(e))
            if note(self.flow, self.addon.runtime, [finding])[0].action != "block":
                return body
            if not self.request_ids:
                self.status = 502
            return errors_document(self.request_ids, finding)
        decisions = self.addon.inspector.server_messages(self.policy, self.exchange, parsed.messages)
        new = self.addon.outcome(self.flow, self.rec, decisions, parsed.batch)
        if new is None:
            return body
        if not new:
            self.status = 202
        return new


class StreamInspector:
    """Inspects an event stream event by event as it passes."""

    def __init__(self, addon: Mcp, body: McpBody) -> None:
        self.addon = addon
        self.body = body
        self.flow = body.flow
        self.rec = body.rec
        self.policy = body.policy
        self.decoder = SseDecoder(body.max_body)
        self.lost = False  # a message was dropped unanswerable: answer what is left at the end
        self.closed = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Per piece of the body, and once with b"" at the end. Never returns b"" (mid-stream
        that would end a chunked response)."""
        if self.closed:
            return []
        if not chunk:
            # The end settles an event terminated by a lone CR. An unterminated one is dropped
            # from an event stream (as its spec says); from a body that was only recognised
            # as one, it is inspected like the others (the client may not follow that spec).
            out = [data for ev in self.decoder.feed(b"") if (data := self._event(ev))]
            rest = self.decoder.rest()
            if rest and not self.body.event_stream:
                ev = self.decoder.feed(rest + b"\n\n")
                out += [data for e in ev if (data := self._event(e))]
            return out + self.finish(None)
        try:
            events = self.decoder.feed(chunk)
        except EventTooLarge as e:
            raise Stop(Finding("mcp", "oversized-event", "block", "response.stream", str(e),
                               status=502)) from None
        return [data for ev in events if (data := self._event(ev))]

    def finish(self, finding: Finding | None) -> list[bytes]:
        """Errors for the requests of this exchange still unanswered, when messages were
        dropped or the stream is stopped."""
        if self.closed:
            return []
        self.closed = True
        if not (self.lost or finding):
            return []
        if finding is None and self.rec.policy.policy.mode != "enforce":
            return []
        blocking = finding or self.rec.blocked
        if blocking is None:
            return []
        session = self.addon.inspector.sessions.find(self.body.exchange.scope)
        if session is None:
            return []
        if self.body.request_ids:
            pending = [i for i in self.body.request_ids if id_key(i) in session.client_pending]
        else:
            # A session's own stream (HTTP+SSE): every answer still owed was to come here.
            pending = [json.loads(k) for k in session.client_pending]
        return [event_bytes(dumps(blocked_error(i, blocking)).decode()) for i in pending]

    def _event(self, ev: SseEvent) -> bytes:
        exchange = self.body.exchange
        if ev.event == "endpoint" and ev.data:
            self.addon.legacy_endpoint(self.flow, exchange, ev.data)
            return ev.raw
        if not ev.is_message or ev.data is None or not ev.data.strip():
            return ev.raw
        strict = exchange.strict
        if not strict and not looks_like_jsonrpc(ev.data):
            return ev.raw
        try:
            parsed = parse(ev.data)
        except Malformed as e:
            if not strict:
                return ev.raw
            finding = self.addon.inspector.malformed(self.policy, "response.event", str(e))
            if note(self.flow, self.addon.runtime, [finding])[0].action == "block":
                self.lost = True
                return b""
            return ev.raw
        decisions = self.addon.inspector.server_messages(self.policy, exchange, parsed.messages)
        new = self.addon.outcome(self.flow, self.rec, decisions, parsed.batch)
        if new is None:
            return ev.raw
        return event_bytes(new.decode(), ev) if new else b""
