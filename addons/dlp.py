"""DLP adapter: hands every part of a request (and every WebSocket message) to the DLP
engine (`egress.scan.dlp`) and applies what it finds: block, redact or audit.

- `requestheaders`: the URL (path segments, each query key and value) and every header
  (each alone and all values joined). A body larger than `dlp.stream_threshold`, or chunked
  without a length, is then scanned while it streams: each chunk is held back until the
  data after it has been scanned (overlap >= the longest rule), and on a hit nothing more
  is forwarded and the flow is killed. mitmproxy connects upstream right after this hook
  for a streamed body, so the host allowlist (earlier in the chain) has decided already.
- `request`: a buffered body, content-decoded within the policy's limits (a bomb or an
  undecodable body is blocked as `limits/...`), taken apart by media type and character
  set (a body that does not parse cleanly is scanned raw too). A large JSON body is scanned
  block by block, blocks seen clean before skipped (`egress.scan.dlp.blocks`: an agent resends
  its conversation every turn); the counts go to the flow's `dlp-blocks` metadata. A body
  of `OFF_LOOP_BYTES` or more is scanned in a worker thread, a smaller one on the event
  loop (and in replay); either way within `limits.scan_timeout`, past which the flow is
  refused as `limits/scan-timeout` (fail closed).
- Every body scan runs under that budget (`egress.scan.deadline`): a buffered body as a
  whole, a streamed body per chunk, a WebSocket message per message. The engine checks the
  budget between its (linear) steps and stops itself, so a worker thread whose scan ran
  over stops too, instead of piling up with the next overrunning scan.
- A streamed body is decoded in bounded pieces as it passes (`egress.decompress`): a bomb
  is stopped at `limits.max_compression_ratio` or `max_decompressed_bytes`, and the
  connections cut.
- `websocket_message`: both directions, with a window over earlier messages and the
  unfinished tokens of recent ones (a secret split across messages far apart); binary
  messages in UTF-16 are read as text; a blocked message is dropped and the connection
  closed.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from mitmproxy import http

from addons.support.failclosed import FailClosed, guarded_stream
from addons.support.flows import (
    FlowRecord,
    cut,
    decoded_request_body,
    fail,
    note,
    overwritten_headers,
    record_of,
    report,
)
from egress.decompress import DecodeError, StreamDecoder
from egress.findings import Finding
from egress.metrics import ProxyMetrics
from egress.policy.compiled import CompiledPolicy
from egress.runtime import Runtime
from egress.scan import deadline
from egress.scan.dlp.blocks import BlockStats
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import Match, ScanContext
from egress.scan.dlp.streams import StreamGate
from egress.scan.limits import decode_finding
from egress.verdict import planned, record

# Reported under the `limits` scanner (registered in `egress.scan.limits.RULES`).
SCAN_TIMEOUT_RULE = "scan-timeout"

_STREAMED = "bottle-egress-dlp-stream"
_WEBSOCKET = "bottle-egress-dlp-websocket"
# Not under `bottle-egress`: flow files keep it (see `addons.record`).
BLOCKS_METADATA = "dlp-blocks"


def _limits_finding(err: DecodeError, where: str) -> Finding:
    return decode_finding(err, where, status=413 if err.kind in ("too-large", "bomb") else 400)


def _unredactable(f: Finding) -> Finding:
    return replace(f, action="block", reason=f"{f.reason}; cannot be redacted here, blocked")


@dataclass(frozen=True, slots=True)
class _BodyJob:
    rec: FlowRecord
    body: bytes
    stats: BlockStats
    scan: Callable[[], list[Match]]


def _timed(scan: Callable[[], list[Match]], metrics: ProxyMetrics, size: int) -> Callable[[], list[Match]]:
    """`scan`, observed by the body-scan series (`--metrics-listen`), on whichever thread runs it."""
    def run() -> list[Match]:
        started = time.perf_counter()
        try:
            return scan()
        finally:
            metrics.body_scan(size, time.perf_counter() - started)
            metrics.scanned_bytes("body", size)
    return run


def _timeout(what: str, where: str, timeout: float, outcome: str) -> Finding:
    return Finding("limits", SCAN_TIMEOUT_RULE, "block", where,
                   f"the DLP scan of {what} took longer than limits.scan_timeout "
                   f"({timeout:g} s); {outcome}", status=413)


def _sensitive(matches: list[Match]) -> list[str]:
    return [s for m in matches for s in m.sensitive if s]


SCAN_CACHE = 1024  # scans of URLs and header sets kept per policy
# Buffered bodies at least this large are scanned in a worker thread, so that the event loop
# keeps serving other flows (and SSE streams) meanwhile; smaller ones cost less than the
# hand-off. Two workers: a third large body waits for one (and its time budget runs).
OFF_LOOP_BYTES = 128 * 1024
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dlp-scan")


class DLP:
    name = "dlp"

    def __init__(self, runtime: Runtime, failclosed: FailClosed | None = None) -> None:
        self.runtime = runtime
        self.failclosed = failclosed or FailClosed(runtime)
        self._synced: CompiledPolicy | None = None
        self._cache: OrderedDict[tuple[Any, ...], tuple[Match, ...]] = OrderedDict()
        self._cache_engine: DLPEngine | None = None

    # -- shared ----------------------------------------------------------------------------

    def _engine(self, flow: http.HTTPFlow) -> tuple[FlowRecord, DLPEngine | None, ScanContext]:
        rec = record_of(flow, self.runtime)
        engine = rec.policy.dlp
        if rec.policy is not self._synced:
            # The policy's known secrets join the runtime registry, so the audit log scrubs
            # them like every other known value.
            for name, value in engine.known_values:
                self.runtime.secrets.add(name, value)
            self._synced = rec.policy
        ctx = ScanContext(flow.request.host, flow.request.path, self.runtime.secrets,
                          self.runtime.credentials.placeholder_set())
        return rec, engine if engine.enabled else None, ctx

    def _apply(self, flow: http.HTTPFlow, rec: FlowRecord, matches: list[Match],
               rewrite: Callable[[list[Match]], list[Match]] | None) -> None:
        """Report `matches`; redact the `redact` ones through `rewrite` (which returns those
        it could not place), and block what cannot be redacted."""
        if not matches:
            return
        findings = [m.finding for m in matches]
        redacts = [m for m in matches if m.action == "redact"]
        plan = planned(findings, rec.policy.policy.mode)
        if redacts and plan.blocked is None and plan.rewrites:
            failed = rewrite(redacts) if rewrite is not None else redacts
            if failed:
                stuck = {(m.rule, m.where) for m in failed}
                findings = [_unredactable(f) if (f.rule, f.where) in stuck else f for f in findings]
        report(flow, self.runtime, findings, _sensitive(matches))

    # -- request head ----------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.error:
            return
        rec, engine, ctx = self._engine(flow)
        if engine is None:
            return
        req = flow.request
        cache = self._cache_for(engine, ctx)
        # The method and the request target's authority are locations like any other.
        # They are judged even when an earlier scanner refused the request (a secret in a
        # method or authority is what got it refused), so the value stays out of artefacts.
        line = (req.method, req.authority)
        matches = list(cache("line", line, lambda: self._scan_line(engine, *line, ctx)))
        if flow.response:
            if matches:
                note(flow, self.runtime, [m.finding for m in matches], _sensitive(matches))
            return
        matches += cache("url", req.path, lambda: engine.scan_url(req.path, ctx))
        found = {(m.rule, m.value) for m in matches}
        # Headers a credential will overwrite never leave as the agent wrote them.
        skip = overwritten_headers(flow, self.runtime.credentials.table)
        headers = tuple((k, v) for k, v in req.headers.items(multi=True) if k.lower() not in skip)
        head = cache("head", headers, lambda: engine.scan_headers(headers, ctx))
        matches += [m for m in head if (m.rule, m.value) not in found]
        self._apply(flow, rec, matches, lambda ms: self._redact_head(flow, ms))
        metrics = self.runtime.metrics
        if metrics is not None:
            metrics.scanned_bytes("url", len(req.path))
            metrics.scanned_bytes("headers", sum(len(k) + len(v) for k, v in headers))
        if rec.blocked is None and self._streams(req, engine):
            self._stream(flow, rec, engine, ctx)

    @staticmethod
    def _scan_line(engine: DLPEngine, method: str, authority: str, ctx: ScanContext) -> list[Match]:
        matches = engine.scan(method, "request.method", ctx)
        return matches + engine.scan(authority, "request.authority", ctx) if authority else matches

    def _cache_for(self, engine: DLPEngine, ctx: ScanContext) -> Callable[
            [str, object, Callable[[], list[Match]]], tuple[Match, ...]]:
        """A lookup in the scan cache for this engine and context.

        Keep-alive clients send the same header set request after request, and API clients
        hit the same URL again and again (`POST /v1/messages`): scanning the same text again
        under the same policy, known secrets and destination finds nothing new. The cache is
        per compiled policy (a reload starts afresh) and keyed by everything a finding
        depends on."""
        if self._cache_engine is not engine:
            self._cache.clear()
            self._cache_engine = engine
        known = ctx.known.version if ctx.known is not None else 0
        scope = (ctx.host, ctx.path if engine.path_scoped else None, known, ctx.benign)

        def lookup(kind: str, text: object, scan: Callable[[], list[Match]]) -> tuple[Match, ...]:
            key = (kind, text, scope)
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            result = tuple(scan())
            self._cache[key] = result
            if len(self._cache) > SCAN_CACHE:
                self._cache.popitem(last=False)
            return result
        return lookup

    @staticmethod
    def _redact_head(flow: http.HTTPFlow, matches: list[Match]) -> list[Match]:
        req = flow.request
        placed: set[int] = set()

        def rewrite(text: str) -> str:
            placed.update(i for i, m in enumerate(matches) if any(f and f in text for f in m.fragments))
            return DLPEngine.redact(text, matches)[0]

        req.path = rewrite(req.path)
        fields = [(k, rewrite(val)) for k, val in req.headers.items(multi=True)]
        req.headers.clear()
        for k, val in fields:
            req.headers.add(k, val)
        return [m for i, m in enumerate(matches) if i not in placed]

    # -- buffered body ---------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        """A buffered body, scanned here (replay; `LiveDLP` scans large ones off the loop)."""
        job = self._body_job(flow)
        if job is not None:
            self._scan_here(flow, job)

    def _scan_here(self, flow: http.HTTPFlow, job: _BodyJob) -> None:
        """Scan a body on this thread within `limits.scan_timeout`; past it, refuse the flow."""
        timeout = job.rec.policy.policy.limits.scan_timeout
        try:
            with deadline.within(timeout):
                matches = job.scan()
        except deadline.ScanTimeout:
            self._timed_out(flow, job, timeout)
            return
        self._body_verdict(flow, job, matches)

    def _timed_out(self, flow: http.HTTPFlow, job: _BodyJob, timeout: float) -> None:
        # Whatever the mode: what was not scanned cannot be let through (fail closed).
        fail(flow, self.runtime, _timeout(f"the {len(job.body)}-byte body", "request.body",
                                          timeout, "nothing was forwarded"))

    def _body_job(self, flow: http.HTTPFlow) -> _BodyJob | None:
        if flow.response or flow.error or flow.metadata.get(_STREAMED):
            return None
        raw = flow.request.raw_content
        if not raw:
            return None
        rec, engine, ctx = self._engine(flow)
        if engine is None:
            return None
        try:
            body = decoded_request_body(flow, rec)
        except DecodeError as e:
            report(flow, self.runtime, [_limits_finding(e, "request.body")])
            return None
        stats = BlockStats()
        scan = functools.partial(engine.scan_body, body, flow.request.headers.get("content-type"),
                                 "request.body", ctx, stats=stats)
        metrics = self.runtime.metrics
        return _BodyJob(rec, body, stats, scan if metrics is None else _timed(scan, metrics, len(body)))

    def _body_verdict(self, flow: http.HTTPFlow, job: _BodyJob, matches: list[Match]) -> None:
        if job.stats.blocks:
            # Counts only (no content): kept in `--record` flow files, so a reviewer (and the
            # tests) can see what the conversation cache saved on this request.
            flow.metadata[BLOCKS_METADATA] = job.stats.as_dict()
        self._apply(flow, job.rec, matches, lambda ms: self._redact_body(flow, job.body, ms))

    @staticmethod
    def _redact_body(flow: http.HTTPFlow, body: bytes, matches: list[Match]) -> list[Match]:
        text, missing = DLPEngine.redact(body.decode("utf-8", "surrogateescape"), matches)
        if missing:
            return missing
        # Setting `content` re-applies the content encoding and fixes Content-Length.
        flow.request.content = text.encode("utf-8", "surrogateescape")
        return []

    # -- streamed body ---------------------------------------------------------------------

    @staticmethod
    def _streams(req: http.Request, engine: DLPEngine) -> bool:
        length = req.headers.get("content-length")
        if length is not None:
            try:
                return int(length) > engine.section.stream_threshold
            except ValueError:
                return False
        return "chunked" in req.headers.get("transfer-encoding", "").lower()

    def _stream(self, flow: http.HTTPFlow, rec: FlowRecord, engine: DLPEngine, ctx: ScanContext) -> None:
        limits = rec.policy.policy.limits
        try:
            decoder = StreamDecoder(flow.request.headers.get("content-encoding"),
                                    max_out=limits.max_decompressed_bytes,
                                    max_ratio=limits.max_compression_ratio)
        except DecodeError as e:
            report(flow, self.runtime, [_limits_finding(e, "request.body")])
            return
        gate = StreamGate(engine.stream("request.body(stream)", ctx), engine.overlap,
                          decoder if decoder.layers else None)
        stopped = False
        timeout = limits.scan_timeout

        # An empty bytes chunk would go out as HTTP/1's last chunk: return no chunks instead.
        def on_chunk(chunk: bytes) -> list[bytes]:
            nonlocal stopped
            if stopped:
                return []
            rec.request_sent = True
            if self.runtime.metrics is not None:
                self.runtime.metrics.scanned_bytes("body", len(chunk))
            try:
                # Each chunk within the scan budget: a chunk is held back until it is scanned.
                with deadline.within(timeout):
                    out, matches = gate.push(chunk) if chunk else gate.finish()
            except DecodeError as e:
                stopped = self._stop(flow, rec, [_limits_finding(e, "request.body(stream)")], [])
                return []
            except deadline.ScanTimeout:
                stopped = self._stop(flow, rec, [_timeout(
                    f"a {len(chunk)}-byte chunk of the streamed body", "request.body(stream)",
                    timeout, "the stream was cut before that chunk")], [])
                return []
            if matches:
                # Bytes already forwarded cannot be rewritten: redaction blocks in a stream.
                findings = [_unredactable(m.finding) if m.action == "redact" else m.finding
                            for m in matches]
                stopped = self._stop(flow, rec, findings, _sensitive(matches))
                if stopped:
                    return []
            return [out] if out else []

        flow.request.stream = guarded_stream(flow, self.failclosed, self.name, on_chunk)
        flow.metadata[_STREAMED] = True

    def _stop(self, flow: http.HTTPFlow, rec: FlowRecord, findings: list[Finding],
              sensitive: list[str]) -> bool:
        """Record findings mid-stream; on a block, cut the flow. mitmproxy is already
        streaming, so no denial response can be set: the connection is cut instead, the
        server's too (so the origin sees an aborted request, never a truncated one ended
        properly)."""
        rec.sensitive.update(sensitive)
        mode = rec.policy.policy.mode
        for f in findings:
            # An undecodable or over-limit stream blocks whatever the mode (fail closed).
            record(rec, [f], mode, fail_closed=f.scanner == "limits")
        if rec.blocked is not None:
            cut(flow)
            return True
        return False

    # -- WebSocket -------------------------------------------------------------------------

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket is not None
        rec, engine, ctx = self._engine(flow)
        if engine is None or rec.blocked is not None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        side = "client" if message.from_client else "server"
        scanners = flow.metadata.setdefault(_WEBSOCKET, {})
        if side not in scanners:
            scanners[side] = engine.stream(f"websocket.{side}", ctx, engine.section.websocket_window,
                                           messages=True)
        timeout = rec.policy.policy.limits.scan_timeout
        try:
            with deadline.within(timeout):
                matches = scanners[side].feed(message.content)
        except deadline.ScanTimeout:
            # Dropped, and every later message of the connection too (a blocked flow).
            message.drop()
            fail(flow, self.runtime, _timeout(
                f"a {len(message.content)}-byte WebSocket message", f"websocket.{side}", timeout,
                "the message was dropped"))
            return
        if self.runtime.metrics is not None:
            self.runtime.metrics.scanned_bytes("websocket", len(message.content))
        if not matches:
            return

        def rewrite(ms: list[Match]) -> list[Match]:
            if not message.is_text:
                return ms
            text, missing = DLPEngine.redact(message.text, ms)
            if not missing:
                message.text = text
            return missing

        if planned([m.finding for m in matches], rec.policy.policy.mode).blocked is not None:
            message.drop()
        self._apply(flow, rec, matches, rewrite)
        if rec.blocked is not None and not message.dropped:
            message.drop()


class LiveDLP(DLP):
    """The proxy's DLP: a body of `OFF_LOOP_BYTES` or more is scanned in a worker thread
    while the event loop serves other flows, within `limits.scan_timeout`. (Replay keeps
    `DLP`: its dispatch is synchronous, and an event loop per flow would cost more than the
    scan of most bodies.)"""

    async def request(self, flow: http.HTTPFlow) -> None:  # type: ignore[override]
        job = self._body_job(flow)
        if job is None:
            return
        if len(job.body) < OFF_LOOP_BYTES:
            self._scan_here(flow, job)
            return
        timeout = job.rec.policy.policy.limits.scan_timeout
        submitted = time.monotonic()

        def scan() -> list[Match]:
            # The budget counts from submission (time spent queued for a worker included);
            # the scan stops itself at the deadline, so its thread is free again soon after.
            with deadline.within(timeout, started=submitted):
                return job.scan()

        try:
            matches = await asyncio.wait_for(asyncio.wrap_future(_WORKERS.submit(scan)), timeout)
        except (TimeoutError, deadline.ScanTimeout):
            self._timed_out(flow, job, timeout)
            return
        if flow.error:  # the client went away while the body was scanned
            return
        self._body_verdict(flow, job, matches)
