"""Credential injection adapter: real values in on the way out, placeholders back on the way in.

Per request, by destination: when the names a request is routed by agree (CONNECT target,
TLS SNI, Host) and equal a credential's host, the placeholder is replaced by the real value
(or the credential added); a placeholder anywhere else is blocked as exfiltration. Responses
from a credential's host are scrubbed of the real value (streamed ones included: a scrubbing
stage of the response pipeline, `addons.support.streams`). Once a
request has been sent, its kept copy gets the placeholder back, so what flow files and later
hooks see never holds a real value. The logic lives in `egress.credentials`.

A buffered request is judged whole in `request`. A request whose body streams (DLP streams
bodies over `dlp.stream_threshold`, and chunked ones without a length) has its head sent
upstream right after `requestheaders`, before the body has even arrived: its head is judged
and the credential injected in `requestheaders`, and its body passes a
`PlaceholderGate` (`egress.scan.placeholder_stream`) after DLP's own gate, which holds back
the tail a placeholder could start in; a placeholder found cuts the connection before any of
its bytes is forwarded. As soon as the head has gone (the first call of the body stream),
the flow keeps a copy of the request with the placeholder back, and the request object sent
(which mitmproxy may still be holding in a queue, HTTP/2) keeps the real value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mitmproxy import http

from addons.support.failclosed import FailClosed, guarded_stream
from addons.support.flows import (
    FlowRecord,
    decoded_request_body,
    destination,
    existing_record,
    fail,
    record_of,
    report,
    request_hosts,
)
from addons.support.streams import response_stream
from egress.decompress import DecodeError, StreamDecoder, decode_body, encodings
from egress.findings import Finding
from egress.runtime import Runtime
from egress.scan.credentials import ActiveCredential, CredentialTable, misplaced, scrub_bytes, scrubber_for
from egress.scan.limits import decode_finding
from egress.scan.placeholder_stream import PlaceholderGate
from egress.scan.token_scrub import StreamScrubber, TokenScrubber

# The request's head was judged, and its credentials injected, in `requestheaders`: its body
# streams, through the `_StreamedBody` kept here (flow metadata under `bottle-egress*` stays
# out of flow files).
_STREAMED = "bottle-egress-credentials-stream"



def _exfiltration(cred: ActiveCredential, where: str, host: str) -> Finding:
    return Finding(
        "credentials", "placeholder-exfiltration", "block", where,
        f"the placeholder of credential {cred.name!r} was sent in {where} to {host}; it may only "
        f"go to {cred.spec.host} in a request's headers (possible exfiltration attempt)")


def _not_scrubbable(e: DecodeError) -> Finding:
    return Finding("credentials", "response-not-scrubbable", "block", "response.body",
                   f"the response from a credential's host could not be decoded ({e.kind}) to "
                   "remove the credential from it", status=502)


class _Scrubbing:
    """The scrubbing stage of a streamed response (`addons.support.streams`): a value split across
    pieces is still replaced (`StreamScrubber` holds back the tail that could begin one)."""

    def __init__(self, scope: TokenScrubber) -> None:
        self.scrubber = StreamScrubber(scope)

    def feed(self, data: bytes) -> list[bytes]:
        out = self.scrubber.feed(data)
        return [out] if out else []

    def end(self) -> list[bytes]:
        out = self.scrubber.flush()
        return [out] if out else []

    def fail(self, finding: Finding) -> list[bytes]:
        return []  # what is held back is the server's: it stays unsent


def _headers(pairs: list[tuple[str, str]]) -> http.Headers:
    return http.Headers([(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
                         for k, v in pairs])


def _undecodable(e: DecodeError, where: str) -> Finding:
    """A request body the placeholder check cannot decode: refused like DLP refuses it."""
    return decode_finding(e, where, status=413 if e.kind in ("too-large", "bomb") else 400)


def _target(flow: http.HTTPFlow) -> str:
    return f"{flow.request.scheme}://{flow.request.pretty_host}"


Stream = bool | Callable[[bytes], bytes | Iterable[bytes]]


class _StreamedBody:
    """The stream of a request body that is forwarded as it arrives: what the stream before
    it (DLP's gate) lets through, then through the placeholder gate. On a placeholder found
    (enforce mode) nothing more is forwarded and the flow is cut."""

    def __init__(self, addon: Credentials, flow: http.HTTPFlow, rec: FlowRecord,
                 table: CredentialTable, inner: Stream, gate: PlaceholderGate[ActiveCredential]) -> None:
        self.addon, self.flow, self.rec, self.table = addon, flow, rec, table
        self.inner = inner
        self.gate = gate
        self.started = False
        self.stopped = False
        self.reported: set[str] = set()

    def __call__(self, chunk: bytes) -> list[bytes]:
        if self.stopped:
            return []
        rec = self.rec
        rec.request_sent = True
        if not self.started:
            self.started = True
            self.addon.keep_placeholder_copy(self.flow, self.table)
        out: list[bytes] = []
        try:
            for piece in self._inner(chunk):
                released, found = self.gate.push(piece)
                if self._blocks(found):
                    return []
                out.append(released)
            if not chunk:
                released, found = self.gate.finish()
                if self._blocks(found):
                    return []
                out.append(released)
        except DecodeError as e:
            self.stopped = True
            fail(self.flow, self.addon.runtime, _undecodable(e, "request.body(stream)"))
            return []
        if rec.blocked is not None:
            self.stopped = True  # the stream before this one blocked (and cut) the flow
            return []
        return [b for b in out if b]

    def _inner(self, chunk: bytes) -> list[bytes]:
        inner = self.inner
        if not callable(inner):
            return [chunk] if chunk else []
        result = inner(chunk)
        return [result] if isinstance(result, bytes) else list(result)

    def _blocks(self, found: ActiveCredential | None) -> bool:
        if found is None or found.name in self.reported:
            return False
        self.reported.add(found.name)
        report(self.flow, self.addon.runtime, [_exfiltration(found, "request.body", _target(self.flow))])
        # Blocked: `report` cut the flow (its body was already on its way).
        self.stopped = self.rec.blocked is not None
        return self.stopped


class Credentials:
    name = "credentials"

    def __init__(self, runtime: Runtime, failclosed: FailClosed) -> None:
        self.runtime = runtime
        self.failclosed = failclosed  # told when a scrubbing stream fails

    # -- requests ------------------------------------------------------------------------------

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        hit = self.runtime.credentials.table.find_in_name(flow.request.host)
        if hit is not None:
            report(flow, self.runtime, [_exfiltration(hit, "connect", "a CONNECT target")])

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Only for a body that streams (DLP, earlier in the chain, decided): its head leaves
        # right after this hook. A buffered request is judged whole in `request`.
        if flow.response or flow.error or not flow.request.stream:
            return
        table = self.runtime.credentials.table
        if not table:
            return
        rec = record_of(flow, self.runtime)
        if rec.blocked is not None:
            return
        flow.metadata[_STREAMED] = None
        self._judge(flow, rec, table, b"")
        if rec.blocked is None:
            self._gate(flow, rec, table)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return
        table = self.runtime.credentials.table
        if not table:
            return
        rec = record_of(flow, self.runtime)
        if rec.blocked is not None:
            return
        if _STREAMED in flow.metadata:
            body = flow.metadata[_STREAMED]
            if not isinstance(body, _StreamedBody) or not body.started:
                # The body came whole after all (streaming called off, or `bottle replay`,
                # which hands over recorded bodies whole): judged here.
                self._judge_body(flow, rec, table, self._request_body(flow, rec))
            return
        self._judge(flow, rec, table, self._request_body(flow, rec))

    def _judge_body(self, flow: http.HTTPFlow, rec: FlowRecord, table: CredentialTable,
                    body: bytes) -> None:
        hit = table.find(body) if body else None
        if hit is not None:
            report(flow, self.runtime, [_exfiltration(hit, "request.body", _target(flow))])

    def _judge(self, flow: http.HTTPFlow, rec: FlowRecord, table: CredentialTable,
               body: bytes) -> None:
        """Block a misplaced placeholder (in the head, or in `body`); inject the credentials of
        the request's verified destination."""
        req = flow.request
        dest = destination(flow)
        matched = [c for c in table.for_host(dest) if c.applies(req.scheme, req.path)] if dest else []
        headers = list(req.headers.items(multi=True))
        query = list(req.query.items(multi=True))
        found = misplaced(table, {c.name for c in matched}, headers, req.path.split("?", 1)[0],
                          query, body)
        if found is not None:
            cred, where = found
            report(flow, self.runtime, [_exfiltration(cred, where, _target(flow))])
            if rec.blocked is not None:
                return
        new_headers, new_query = headers, query
        for cred in matched:
            rewrite = cred.apply(new_headers, new_query, [c.value for c in matched if c is not cred])
            if rewrite.outcome == "mismatch":
                report(flow, self.runtime, [Finding(
                    "credentials", "credential-mismatch", "block", self._slot(cred),
                    f"a different credential than {cred.name!r} was sent to {cred.spec.host}")])
                if rec.blocked is not None:
                    return
                continue
            if rewrite.outcome == "overridden":
                report(flow, self.runtime, [Finding(
                    "credentials", "credential-overridden", "audit", self._slot(cred),
                    f"the agent's own credential for {cred.spec.host} was replaced by {cred.name!r}")])
            if rewrite.changed:
                rec.injected.append(cred.name)
            new_headers, new_query = rewrite.headers, rewrite.query
        if new_headers != headers:
            req.headers = _headers(new_headers)
        if new_query != query:
            req.query = new_query

    def _gate(self, flow: http.HTTPFlow, rec: FlowRecord, table: CredentialTable) -> None:
        """Put a placeholder check behind the stream that forwards the body (DLP's gate)."""
        limits = rec.policy.policy.limits
        try:
            decoder = StreamDecoder(flow.request.headers.get("content-encoding"),
                                    max_out=limits.max_decompressed_bytes,
                                    max_ratio=limits.max_compression_ratio)
        except DecodeError as e:
            fail(flow, self.runtime, _undecodable(e, "request.body"))
            return
        longest = max((len(form) for c in table.credentials for form in c.detect), default=0)
        body = _StreamedBody(self, flow, rec, table, flow.request.stream,
                             PlaceholderGate(table.find, longest, decoder))
        flow.metadata[_STREAMED] = body
        flow.request.stream = guarded_stream(flow, self.failclosed, self.name, body)

    def keep_placeholder_copy(self, flow: http.HTTPFlow, table: CredentialTable) -> None:
        """Once a streamed request's head has gone: the flow keeps a copy of the request with
        the placeholder back. The object that was sent is left as it is: mitmproxy may still
        hold it in a queue (an HTTP/2 connection with no free stream) and send it later."""
        rec = existing_record(flow)
        if rec is None or not rec.injected:
            return
        sent = flow.request
        kept = http.Request.from_state(sent.get_state())
        kept.stream = sent.stream
        flow.request = kept
        self._restore(flow, table)

    @staticmethod
    def _slot(cred: ActiveCredential) -> str:
        target = cred.spec.target_header
        return f"request.headers.{target}" if target else f"request.query.{cred.spec.query}"

    @staticmethod
    def _request_body(flow: http.HTTPFlow, rec: FlowRecord) -> bytes:
        try:
            return decoded_request_body(flow, rec)
        except DecodeError:
            return flow.request.raw_content or b""  # undecodable: the size/DLP scanners judge it

    # -- after the request left: restore, scrub ------------------------------------------------

    def _restore(self, flow: http.HTTPFlow, table: CredentialTable) -> None:
        """Put the placeholder back into the kept copy of a request that carried a real value."""
        rec = existing_record(flow)
        if rec is None or not rec.injected:
            return  # (idempotent: `response` calls it again for flows with no responseheaders)
        req = flow.request
        headers = list(req.headers.items(multi=True))
        query = list(req.query.items(multi=True))
        new_headers, new_query = headers, query
        for cred in table.credentials:
            if cred.name in rec.injected:
                new_headers, new_query = cred.restore(new_headers, new_query)
        if new_headers != headers:
            req.headers = _headers(new_headers)
        if new_query != query:
            req.query = new_query

    def _scope(self, flow: http.HTTPFlow, table: CredentialTable) -> TokenScrubber | None:
        """The scrubber of every credential whose host this flow was routed by."""
        items = tuple(dict.fromkeys(item for host in request_hosts(flow)
                                    for cred in table.for_host(host) for item in cred.scrub_items))
        return scrubber_for(items) if items else None

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            return
        table = self.runtime.credentials.table
        if not table:
            return
        self._restore(flow, table)
        pairs = self._scope(flow, table)
        if not pairs:
            return
        resp = flow.response
        fields = list(resp.headers.fields)
        scrubbed = [(k, scrub_bytes(v, pairs)) for k, v in fields]
        if scrubbed != fields:
            resp.headers = http.Headers(scrubbed)
        stream = response_stream(flow)
        rec = existing_record(flow)
        if stream is None or (rec is not None and rec.blocked is not None):
            return  # buffered: scrubbed whole in `response`
        try:
            stream.add(self.name, _Scrubbing(pairs))
        except DecodeError as e:
            report(flow, self.runtime, [_not_scrubbable(e)])

    def response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        if resp is None or resp.stream:
            return
        table = self.runtime.credentials.table
        if not table:
            return
        self._restore(flow, table)
        rec = existing_record(flow)
        if rec is not None and rec.blocked is not None:
            return  # our own denial: nothing of the origin's in it
        pairs = self._scope(flow, table)
        raw = resp.raw_content
        if not pairs or not raw:
            return
        encoding = resp.headers.get("content-encoding")
        body = raw
        if encodings(encoding):
            limits = record_of(flow, self.runtime).policy.policy.limits
            try:
                body = decode_body(raw, encoding, max_out=limits.max_decompressed_bytes,
                                   max_ratio=limits.max_compression_ratio)
            except DecodeError as e:
                report(flow, self.runtime, [_not_scrubbable(e)])
                return
        scrubbed = scrub_bytes(body, pairs)
        if scrubbed != body:
            resp.content = scrubbed

    def error(self, flow: http.HTTPFlow) -> None:
        table = self.runtime.credentials.table
        if table:
            self._restore(flow, table)

    # -- WebSocket -------------------------------------------------------------------------------

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None or not flow.websocket.messages:
            return
        table = self.runtime.credentials.table
        if not table:
            return
        message = flow.websocket.messages[-1]
        if message.from_client:
            hit = table.find(message.content)
            if hit is not None:
                message.drop()
                report(flow, self.runtime, [_exfiltration(hit, "websocket.message",
                                                          flow.request.pretty_host)])
            return
        pairs = self._scope(flow, table)
        if pairs:
            scrubbed = scrub_bytes(message.content, pairs)
            if scrubbed != message.content:
                message.content = scrubbed
