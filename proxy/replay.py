"""Replay: the live addon chain run offline over mitmproxy flow files, one verdict per flow.

Hooks are invoked in the order the live proxy would invoke them. A flow that carries a
recorded response is judged on its request first (with the response hidden, as it would
be live) and then on the response. Per-bottle scanner state (tool pins, hostname budgets)
lives in the addons, so it carries across the flows of one run in file order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mitmproxy import dns, flow, http, tcp
from mitmproxy.net.dns import types as dns_types

from addons.audit import safe_path
from addons.support.flows import KEY, FlowRecord, existing_record
from egress.audit import AuditLog
from egress.errors import ReplayError
from egress.findings import Finding
from egress.policy.compiled import CompiledPolicy
from egress.redact import KnownSecrets
from egress.runtime import FixedPolicy, Runtime
from proxy import flowfile
from proxy.chain import build_chain


@dataclass(frozen=True, slots=True)
class ReplayResult:
    id: str
    type: str
    method: str | None
    url: str | None
    verdict: str
    findings: tuple[Finding, ...]

    def as_json(self) -> dict[str, Any]:
        """The stable output contract of `bottle replay --format json`."""
        return {
            "id": self.id, "type": self.type, "method": self.method, "url": self.url,
            "verdict": self.verdict, "findings": [f.as_contract() for f in self.findings],
        }


def read_flows(paths: Sequence[str | Path]) -> Iterator[flow.Flow]:
    try:
        yield from flowfile.read_flows(paths)
    except flowfile.ReadError as e:
        raise ReplayError(str(e)) from None


def _copy_data(message: http.Message) -> Any:
    data = copy.copy(message.data)
    data.headers = data.headers.copy()
    if data.trailers is not None:
        data.trailers = data.trailers.copy()
    return data


class Snapshot:
    """What judging a flow can change, kept so the same flow can be judged again (diff):
    far cheaper than reading it twice, which is what the time of a replay goes to."""

    def __init__(self, f: flow.Flow) -> None:
        self.metadata = dict(f.metadata)
        self.error = f.error
        self.request: Any = None
        self.response: Any = None
        self.websocket: list[Any] | None = None
        self.tcp: list[Any] | None = None
        if isinstance(f, http.HTTPFlow):
            self.request = _copy_data(f.request)
            self.response = (f.response, _copy_data(f.response)) if f.response is not None else None
            if f.websocket is not None:
                self.websocket = [copy.copy(m) for m in f.websocket.messages]
        elif isinstance(f, dns.DNSFlow):
            self.response = f.response
        elif isinstance(f, tcp.TCPFlow):
            self.tcp = [copy.copy(m) for m in f.messages]

    def restore(self, f: flow.Flow) -> None:
        f.metadata = dict(self.metadata)
        f.error = self.error
        if isinstance(f, http.HTTPFlow):
            f.request.data = copy.copy(self.request)
            f.request.data.headers = self.request.headers.copy()
            if self.response is None:
                f.response = None
            else:
                f.response, data = self.response
                f.response.data = data
            if f.websocket is not None and self.websocket is not None:
                f.websocket.messages = [copy.copy(m) for m in self.websocket]
        elif isinstance(f, dns.DNSFlow):
            f.response = self.response
        elif isinstance(f, tcp.TCPFlow) and self.tcp is not None:
            f.messages = [copy.copy(m) for m in self.tcp]


STREAM_CHUNK = 64 * 1024


def _feed(stream: Callable[[bytes], object], body: bytes) -> None:
    """Run a streaming callable over a recorded body as mitmproxy does live: the body in
    chunks, then an empty chunk for its end. What it returns would go on the wire: dropped."""
    for start in range(0, len(body), STREAM_CHUNK):
        stream(body[start:start + STREAM_CHUNK])
    stream(b"")


class Replayer:
    """One replay run: one runtime, one chain, state carried across its flows."""

    def __init__(self, policy: CompiledPolicy, bottle_id: str = "replay",
                 secrets: KnownSecrets | None = None, audit: AuditLog | None = None,
                 extra_addons: Sequence[Any] = ()) -> None:
        known = secrets or KnownSecrets()
        self.runtime = Runtime(bottle_id, FixedPolicy(policy), audit or AuditLog(None, known),
                               known, live=False)
        _, self.chain = build_chain(self.runtime, extra_addons)
        self._call = self.chain.dispatch

    def judge(self, f: flow.Flow) -> ReplayResult:
        f.metadata.pop(KEY, None)
        method: str | None
        url: str | None
        if isinstance(f, http.HTTPFlow):
            kind = self._http(f)
            method, url = f.request.method, self._safe_url(f)
        elif isinstance(f, dns.DNSFlow):
            kind = "dns"
            self._dns(f)
            q = f.request.questions[0] if f.request.questions else None
            method = dns_types.to_str(q.type) if q else None
            url = q.name if q else None
        elif isinstance(f, tcp.TCPFlow):
            kind = "tcp"
            self._tcp(f)
            addr = f.server_conn.address
            method, url = None, f"tcp://{addr[0]}:{addr[1]}" if addr else None
        else:
            kind, method, url = type(f).__name__.lower(), None, None
        rec = existing_record(f)
        findings = tuple(rec.findings) if rec else ()
        verdict = rec.verdict.decision if rec else "allow"
        return ReplayResult(f.id, kind, method, url, verdict, findings)

    def run(self, flows: Iterable[flow.Flow]) -> Iterator[ReplayResult]:
        for f in flows:
            yield self.judge(f)

    # -- per flow type --------------------------------------------------------------------

    def _blocked(self, f: flow.Flow) -> bool:
        rec = existing_record(f)
        return rec is not None and rec.blocked is not None

    def _http(self, f: http.HTTPFlow) -> str:
        recorded, websocket, error = f.response, f.websocket, f.error
        f.response, f.websocket, f.error = None, None, None
        f.live = False
        if f.request.method == "CONNECT":
            f.response = None
            self._call("http_connect", f)
            if not self._blocked(f):
                self._call("http_connected", f)
            else:
                self._call("http_connect_error", f)
            return "http"
        self._call("requestheaders", f)
        if not self._blocked(f) and callable(f.request.stream):
            # Live, an addon that chose to stream the body (DLP above its threshold) judges it
            # chunk by chunk before `request`: replay feeds it the same way, so large and
            # chunked bodies get the same verdict offline.
            _feed(f.request.stream, f.request.raw_content or b"")
        if not self._blocked(f):
            self._call("request", f)
        if self._blocked(f):
            self._call("response", f)
            return "websocket" if websocket is not None else "http"
        if recorded is not None:
            f.response = recorded
            self._call("responseheaders", f)
            if not self._blocked(f) and f.response is recorded and callable(recorded.stream):
                _feed(recorded.stream, recorded.raw_content or b"")
            if websocket is not None and recorded.status_code == 101:
                messages = list(websocket.messages)
                websocket.messages = []
                f.websocket = websocket
                self._call("response", f)
                self._call("websocket_start", f)
                for message in messages:
                    if self._blocked(f):
                        break
                    websocket.messages.append(message)
                    self._call("websocket_message", f)
                self._call("websocket_end", f)
                return "websocket"
            self._call("response", f)
        elif error is not None:
            f.error = error
            self._call("error", f)
        else:
            self._call("response", f)
        return "http"

    def _dns(self, f: dns.DNSFlow) -> None:
        recorded = f.response
        f.response = None
        self._call("dns_request", f)
        if not self._blocked(f) and recorded is not None:
            f.response = recorded
        self._call("dns_response", f)

    def _tcp(self, f: tcp.TCPFlow) -> None:
        messages = list(f.messages)
        f.messages = []
        self._call("tcp_start", f)
        for message in messages:
            if self._blocked(f):
                break
            f.messages.append(message)
            self._call("tcp_message", f)
        self._call("tcp_end", f)

    def _safe_url(self, f: http.HTTPFlow) -> str:
        req = f.request
        rec: FlowRecord | None = existing_record(f)
        if req.method == "CONNECT":
            url = f"{req.host}:{req.port}"  # a CONNECT target can carry a secret as well
        else:
            default_port = {"http": 80, "https": 443}.get(req.scheme)
            port = "" if req.port == default_port else f":{req.port}"
            url = f"{req.scheme}://{req.host}{port}{safe_path(req.path)}"
        return self.runtime.secrets.scrub(url, rec.sensitive if rec else ())


def format_table(results: Iterable[ReplayResult]) -> Iterator[str]:
    yield f"{'#':>4}  {'verdict':<7}  {'type':<9}  {'method':<7}  {'url':<60}  findings"
    for i, r in enumerate(results, 1):
        url = (r.url or "")[:60]
        found = ", ".join(f"{f.scanner}/{f.rule}({f.action})" for f in r.findings) or "-"
        yield f"{i:>4}  {r.verdict:<7}  {r.type:<9}  {(r.method or ''):<7}  {url:<60}  {found}"


# `json.dumps(value, separators=(",", ":"))` builds an encoder per call (its arguments are
# not the defaults): one line per flow is encoded by this one instead, the same text.
_LINE = json.JSONEncoder(separators=(",", ":"))


def format_json(results: Iterable[ReplayResult]) -> Iterator[str]:
    encode = _LINE.encode
    for r in results:
        yield encode(r.as_json())
