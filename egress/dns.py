"""The DNS guard: the bottle's only resolver, UDP and TCP, deciding before it forwards.

`bottle egress run --dns-listen HOST:PORT` starts it beside the proxy, on the proxy's event
loop and with the proxy's runtime, so it reads the live (hot-reloaded) policy on every
query and shares the bottle's hostname volume budget with the HTTP side.

Per query, in order:
1. per-client rate limit (token bucket per source address; excess is dropped silently,
   reported at most once per client per `RATE_REPORT_SECONDS`). Over TCP, connections are
   capped per client (`dns.tcp`), closed after `dns.tcp.idle_seconds` without a query, and
   a full guard closes the longest-idle connection of the client holding the most;
2. strict parsing: one standard query, one question, no answer/authority records, at most
   an OPT record, labels of printable ASCII, at most `MAX_QUERY_BYTES`. Anything else is
   answered FORMERR (or dropped when not even a header can be read) and never forwarded;
3. `egress.scan.dns.judge_query`: zone transfers (REFUSED), secrets in the name (credential
   placeholders, DLP rules, known secrets), class, query type, allowed for DNS, hostname
   score and volume budget. A blocked query is answered NXDOMAIN (or `dns.blocked_rcode:
   refused`) and audited, the name's data part and any secret scrubbed from the event;
4. forwarding a *fresh* query (new random id, only the question, RD, and an OPT record
   without options: client EDNS options such as client-subnet or cookies can carry data)
   to the upstream resolver over the client's transport;
5. `egress.scan.dns.judge_answer` on every record of the upstream answer (rebinding in
   A/AAAA records and SVCB/HTTPS address hints of all three sections, CNAME targets); a
   dropped answer becomes the blocked rcode, an unparseable one SERVFAIL; otherwise the
   upstream bytes go back with the client's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import CLASS, QTYPE, RCODE, DNSBuffer, DNSRecord

from egress.audit import utc_now
from egress.dns_clients import TcpConnection, TcpConnections, TokenBuckets
from egress.findings import Finding
from egress.runtime import Runtime
from egress.scan.dns import Answer, judge_answer, judge_query, svcb_hints
from egress.scan.hostnames import budget_event
from egress.scan.name_secrets import NameSecretScanner
from egress.verdict import Decisions, record

log = logging.getLogger("egress.dns")

MAX_QUERY_BYTES = 512          # a query carries one question of at most 255 bytes and an OPT
EDNS_UDP_SIZE = 1232           # the payload size we offer upstream (DNS flag day 2020)
UPSTREAM_TIMEOUT = 3.0
MAX_IN_FLIGHT = 2048           # UDP queries being answered at once; more are dropped

OPCODE_QUERY = 0
TYPE_OPT = 41
TYPE_SVCB = 64
TYPE_HTTPS = 65
RCODES = {"nxdomain": RCODE.NXDOMAIN, "refused": RCODE.REFUSED}


class DnsConfigError(Exception):
    """A user error in how the guard was asked to run."""


def parse_hostport(value: str, default_port: int, flag: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, str(default_port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise DnsConfigError(f"{flag} {value!r}: expected HOST:PORT, e.g. 127.0.0.1:5353")
    return host, int(port)


def system_resolver(resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, int]:
    """The host's resolver: the first `nameserver` of resolv.conf."""
    try:
        text = resolv_conf.read_text()
    except OSError as e:
        raise DnsConfigError(f"cannot read {resolv_conf} ({e.strerror}); give --dns-upstream") from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            return parts[1].split("%", 1)[0], 53
    raise DnsConfigError(f"{resolv_conf} names no nameserver; give --dns-upstream HOST:PORT")


def check_not_self(listen: tuple[str, int], upstream: tuple[str, int]) -> None:
    """Refuse an upstream that is the guard itself (it would forward to itself forever)."""
    lhost, lport = listen
    uhost, uport = upstream
    if lport == 0 or lport != uport:
        return
    own = {lhost}
    if lhost in ("0.0.0.0", "::", ""):
        own |= {"127.0.0.1", "::1", "0.0.0.0", "::", "localhost"}
    if uhost in own:
        raise DnsConfigError(f"--dns-upstream {uhost}:{uport} is the guard's own address; "
                             "give the real resolver with --dns-upstream HOST:PORT")


# -- wire helpers (no dnslib on the hot path where bytes suffice) ---------------------------

def _error_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare reply (no question) carrying the request's id, opcode and RD bit."""
    if len(data) < 12:
        return None
    flags = struct.unpack("!H", data[2:4])[0]
    opcode_rd = flags & 0x7900  # opcode bits and RD
    return data[:2] + struct.pack("!HHHHH", 0x8000 | opcode_rd | rcode, 0, 0, 0, 0)


def _encode_name(labels: tuple[bytes, ...]) -> bytes:
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\x00"


def _encode_query(qid: int, rd: bool, labels: tuple[bytes, ...], qtype: int, qclass: int,
                  edns: tuple[int, bool] | None) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 1 if edns else 0)
    body = _encode_name(labels) + struct.pack("!HH", qtype, qclass)
    if edns is not None:
        size, do = edns
        body += b"\x00" + struct.pack("!HHIH", TYPE_OPT, size, 0x8000 if do else 0, 0)
    return header + body


def _reply(request: DNSRecord, rcode: int) -> bytes:
    q = request.q
    flags = 0x8000 | (0x0100 if request.header.rd else 0) | 0x0080 | rcode  # QR, RD, RA
    return (struct.pack("!HHHHHH", request.header.id, flags, 1, 0, 0, 0)
            + _encode_name(tuple(q.qname.label)) + struct.pack("!HH", q.qtype, q.qclass))


@dataclass(frozen=True, slots=True)
class Parsed:
    record: DNSRecord
    name: str
    labels: tuple[bytes, ...]
    qtype: str
    qclass: str
    edns: tuple[int, bool] | None


def parse_query(data: bytes) -> Parsed | str:
    """A strictly valid standard query, or why not (never raises)."""
    if len(data) > MAX_QUERY_BYTES:
        return f"query of {len(data)} bytes exceeds {MAX_QUERY_BYTES}"
    if len(data) < 12:
        return "shorter than a DNS header"
    try:
        record = DNSRecord.parse(data)
    except Exception as e:  # dnslib raises DNSError, BufferError, struct.error, ...
        return f"unparseable ({type(e).__name__})"
    h = record.header
    if h.qr:
        return "a response, not a query"
    if h.opcode != OPCODE_QUERY:
        return f"opcode {h.opcode} is not a standard query"
    if len(record.questions) != 1:
        return f"{len(record.questions)} questions (exactly one is answered)"
    if record.rr or record.auth:
        return "query carries answer or authority records"
    edns: tuple[int, bool] | None = None
    for rr in record.ar:
        if rr.rtype != TYPE_OPT or edns is not None:
            return "additional records other than one OPT"
        do = bool(rr.ttl & 0x8000)
        edns = (max(512, min(EDNS_UDP_SIZE, rr.rclass)), do)
    q = record.q
    labels = tuple(q.qname.label)
    if not labels:
        return "empty name (root)"
    size = sum(len(lb) + 1 for lb in labels) + 1
    if size > 255 or any(not 0 < len(lb) <= 63 for lb in labels):
        return "name or label longer than DNS allows"
    for lb in labels:
        if any(b < 0x21 or b > 0x7E or b == 0x2E for b in lb):
            return "label with bytes no hostname has"
    name = b".".join(labels).decode("ascii")
    qtype = QTYPE.get(q.qtype, f"TYPE{q.qtype}")
    qclass = CLASS.get(q.qclass, f"CLASS{q.qclass}")
    return Parsed(record, name, labels, str(qtype), str(qclass), edns)


_SECTIONS = (("answer", "rr"), ("authority", "auth"), ("additional", "ar"))


def _answers(record: DNSRecord) -> list[Answer]:
    """Every record of an upstream answer, all three sections (raises ValueError for a
    malformed SVCB/HTTPS record: the answer is then treated as unparseable)."""
    out = []
    for section, attr in _SECTIONS:
        for rr in getattr(record, attr):
            if rr.rtype == TYPE_OPT:
                continue
            rtype = str(QTYPE.get(rr.rtype, f"TYPE{rr.rtype}"))
            owner = str(rr.rname)
            if rtype in ("A", "AAAA", "CNAME"):
                out.append(Answer(rtype, owner, str(rr.rdata), section))
            elif rr.rtype in (TYPE_SVCB, TYPE_HTTPS):
                buffer = DNSBuffer()
                rr.rdata.pack(buffer)
                out.append(Answer(rtype, owner, "", section, svcb_hints(bytes(buffer.data))))
            else:
                out.append(Answer(rtype, owner, "", section))
    return out


# -- the guard -----------------------------------------------------------------------------

class _UpstreamUdp(asyncio.DatagramProtocol):
    """One connected socket to the upstream resolver; replies matched by id and question."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[asyncio.Future[bytes], bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) < 12:
            return
        qid = struct.unpack("!H", data[:2])[0]
        entry = self.pending.get(qid)
        if entry is None:
            return
        future, question = entry
        # The question must come back as asked (case-insensitively): a reply to something
        # else with the right id is ignored, not trusted.
        if data[12 : 12 + len(question)].lower() != question.lower():
            return
        if not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("upstream UDP error: %s", exc)

    def new_id(self) -> int:
        while True:
            qid = secrets.randbits(16)
            if qid not in self.pending:
                return qid


class DnsGuard:
    """The bottle's resolver. `start()` binds UDP and TCP on one port; `close()` stops it."""

    def __init__(self, runtime: Runtime, listen: tuple[str, int], upstream: tuple[str, int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        check_not_self(listen, upstream)
        self.runtime = runtime
        self.listen = listen
        self.upstream = upstream
        self.clock = clock
        self.address: tuple[str, int] | None = None
        self._buckets = TokenBuckets()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._up: _UpstreamUdp | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_conns = TcpConnections()
        self._tcp_reports = TokenBuckets()
        self._names = NameSecretScanner()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        host, port = self.listen
        up_transport, up = await loop.create_datagram_endpoint(
            _UpstreamUdp, remote_addr=self.upstream)
        self._up = up
        last_error: OSError | None = None
        for _ in range(5 if port == 0 else 1):
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _ListenUdp(self), local_addr=(host, port))
            except OSError as e:
                up_transport.close()
                raise DnsConfigError(f"--dns-listen {host}:{port}: {e.strerror}") from None
            bound = udp.get_extra_info("sockname")
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, host, bound[1],
                                                       reuse_address=True)
            except OSError as e:
                udp.close()
                last_error = e
                continue
            self._udp = udp
            self.address = (bound[0], bound[1])
            return self.address
        up_transport.close()
        raise DnsConfigError(f"--dns-listen {host}:{port}: TCP bind failed "
                             f"({last_error.strerror if last_error else 'unknown'})")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        if self._up is not None and self._up.transport is not None:
            self._up.transport.close()
        for task in list(self._tasks):
            task.cancel()

    # -- transports -------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(self._tasks) >= MAX_IN_FLIGHT:
            return
        task = asyncio.get_running_loop().create_task(self._answer_udp(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.handle(data, addr, "udp")
        if reply is not None and self._udp is not None:
            self._udp.sendto(reply, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        client = (str(peer[0]), int(peer[1]))
        dns = self.runtime.policy.dns
        admitted, why = self._tcp_conns.admit(client[0], dns.tcp_per_client, self.clock())
        if why is not None:
            self._report_tcp_limit(client, why)
        if not admitted:
            writer.transport.abort()
            return
        conn = TcpConnection(client[0], writer, self.clock())
        self._tcp_conns.add(conn)
        try:
            while True:
                # Idle: waiting for the next query. Only an idle connection may be closed
                # to make room for another; the time to send one query is bounded too.
                idle = self.runtime.policy.dns.tcp_idle
                conn.idle_since = self.clock()
                head = await asyncio.wait_for(reader.readexactly(2), idle)
                conn.idle_since = None
                (length,) = struct.unpack("!H", head)
                if length > MAX_QUERY_BYTES:
                    self._audit_malformed(client, "tcp",
                                          f"query of {length} bytes exceeds {MAX_QUERY_BYTES}")
                    return
                data = await asyncio.wait_for(reader.readexactly(length), idle)
                reply = await self.handle(data, client, "tcp")
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await asyncio.wait_for(writer.drain(), idle)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tcp_conns.remove(conn)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _report_tcp_limit(self, client: tuple[str, int], why: str) -> None:
        count = self._tcp_reports.note_drop(client[0], self.clock())
        if count is None:
            return
        self._audit({"event": "dns", "client": client[0], "transport": "tcp",
                     "verdict": "block", "dropped": count,
                     "findings": [Finding("hostnames", "dns-tcp-limit", "block", "dns",
                                          f"{why} ({count} since the last report)").as_audit()]},
                    time.perf_counter())

    # -- one query ----------------------------------------------------------------------------

    async def handle(self, data: bytes, client: tuple[str, int], transport: str) -> bytes | None:
        """The reply to one query packet (None: send nothing). Never raises."""
        started = time.perf_counter()
        try:
            return await self._handle(data, client, transport, started)
        except Exception as e:  # fail closed: an internal error answers SERVFAIL
            log.error("DNS guard failed on a query (%s); answered SERVFAIL", type(e).__name__)
            self._audit({"event": "dns", "client": client[0], "transport": transport,
                         "verdict": "block",
                         "findings": [Finding("error", "dns-guard-exception", "block", "dns",
                                              f"internal error ({type(e).__name__}); "
                                              "answered SERVFAIL (fail closed)").as_audit()]},
                        started)
            return _error_reply(data, RCODE.SERVFAIL)

    async def _handle(self, data: bytes, client: tuple[str, int], transport: str,
                      started: float) -> bytes | None:
        policy = self.runtime.policy
        now = self.clock()
        if not self._buckets.take(client[0], policy.dns.rate, policy.dns.burst, now):
            count = self._buckets.note_drop(client[0], now)
            if count is not None:
                self._audit({"event": "dns", "client": client[0], "transport": transport,
                             "verdict": "block", "dropped": count,
                             "findings": [Finding("hostnames", "dns-rate-limit", "block", "dns",
                                                  f"client exceeded {policy.dns.rate:g} queries/s "
                                                  f"(burst {policy.dns.burst}); {count} dropped"
                                                  ).as_audit()]}, started)
            return None
        parsed = parse_query(data)
        if isinstance(parsed, str):
            self._audit_malformed(client, transport, parsed, started)
            return _error_reply(data, RCODE.FORMERR)
        if self._is_next_hop(parsed):
            return await self._next_hop(data, parsed, client, transport, started)
        judged = judge_query(policy.dns, policy.hostnames, self.runtime.hostname_budget,
                             parsed.name, parsed.qtype, parsed.qclass, now,
                             self._names.finder(policy.dlp, self.runtime.secrets,
                                                self.runtime.credentials))
        if judged.hostname is not None and judged.hostname.charge.first:
            self._audit_budget(judged.hostname.score.registered, judged.hostname.charge, policy)
        mode = policy.policy.mode
        state = Decisions()
        blocking = record(state, judged.findings, mode).blocked
        findings = state.findings
        event: dict[str, Any] = {"event": "dns", "client": client[0], "transport": transport,
                                 "host": judged.logged_name(parsed.name),
                                 "qtype": parsed.qtype}
        if blocking is not None:
            rcode = RCODE.REFUSED if blocking.rule == "dns-zone-transfer" \
                else RCODES[policy.dns.rcode]
            self._audit({**event, "verdict": "block", "rcode": RCODE.get(rcode),
                         "findings": [f.as_audit() for f in findings], "policy": policy.digest},
                        started, judged.sensitive)
            return _reply(parsed.record, rcode)
        answer = await self._forward(parsed, transport)
        if answer is None:
            record(state, [Finding("hostnames", "dns-upstream", "block", "dns.upstream",
                                   f"upstream resolver {self.upstream[0]}:{self.upstream[1]} "
                                   "did not answer; answered SERVFAIL")], mode, fail_closed=True)
            self._audit({**event, "verdict": "block", "rcode": "SERVFAIL",
                         "findings": [f.as_audit() for f in findings],
                         "policy": policy.digest}, started, judged.sensitive)
            return _reply(parsed.record, RCODE.SERVFAIL)
        try:
            upstream_record: DNSRecord | None = DNSRecord.parse(answer)
            records = _answers(upstream_record)
        except Exception:  # dnslib raises DNSError, BufferError, ...; svcb_hints ValueError
            upstream_record = None
        if upstream_record is None:
            record(state, [Finding("hostnames", "dns-upstream", "block", "dns.upstream",
                                   "upstream answer could not be parsed; answered SERVFAIL")],
                   mode, fail_closed=True)
            self._audit({**event, "verdict": "block", "rcode": "SERVFAIL",
                         "findings": [f.as_audit() for f in findings],
                         "policy": policy.digest}, started, judged.sensitive)
            return _reply(parsed.record, RCODE.SERVFAIL)
        answered = record(state, judge_answer(policy.dns, policy.hostnames, parsed.name, records),
                          mode)
        if answered.blocked is not None:
            rcode = RCODES[policy.dns.rcode]
            self._audit({**event, "verdict": "block", "rcode": RCODE.get(rcode),
                         "findings": [f.as_audit() for f in findings], "policy": policy.digest},
                        started, judged.sensitive)
            return _reply(parsed.record, rcode)
        if findings or policy.policy.audit.log_allowed:
            self._audit({**event, "verdict": "allow",
                         "rcode": RCODE.get(upstream_record.header.rcode),
                         "findings": [f.as_audit() for f in findings], "policy": policy.digest},
                        started, judged.sensitive)
        return data[:2] + answer[2:]

    def _is_next_hop(self, parsed: Parsed) -> bool:
        """An address query for the proxy's own upstream (`--upstream`) by name. In a pod the
        guard is the resolver of the egress container too (Kubernetes sets one resolver per
        pod), and pipelock's Service name is neither in the policy nor public."""
        upstream = self.runtime.upstream
        return (upstream is not None and parsed.qtype in ("A", "AAAA")
                and parsed.name.rstrip(".").lower() == upstream[0].lower())

    async def _next_hop(self, data: bytes, parsed: Parsed, client: tuple[str, int],
                        transport: str, started: float) -> bytes:
        """Forward it without the name and answer checks: a fixed name the operator chose
        carries no data, and its in-cluster (private) address is the expected answer."""
        event: dict[str, Any] = {"event": "dns", "client": client[0], "transport": transport,
                                 "host": parsed.name.rstrip(".").lower(), "qtype": parsed.qtype,
                                 "next_hop": True, "findings": [],
                                 "policy": self.runtime.policy.digest}
        answer = await self._forward(parsed, transport)
        if answer is None:
            self._audit({**event, "verdict": "block", "rcode": "SERVFAIL"}, started)
            return _reply(parsed.record, RCODE.SERVFAIL)
        if self.runtime.policy.policy.audit.log_allowed:
            self._audit({**event, "verdict": "allow"}, started)
        return data[:2] + answer[2:]

    async def _forward(self, parsed: Parsed, transport: str) -> bytes | None:
        q = parsed.record.q
        rd = bool(parsed.record.header.rd)
        question_len = len(_encode_name(parsed.labels)) + 4
        if transport == "tcp":
            query = _encode_query(secrets.randbits(16), rd, parsed.labels, q.qtype, q.qclass,
                                  parsed.edns)
            return await self._forward_tcp(query, query[12 : 12 + question_len])
        up = self._up
        assert up is not None and up.transport is not None
        qid = up.new_id()
        query = _encode_query(qid, rd, parsed.labels, q.qtype, q.qclass, parsed.edns)
        question = query[12 : 12 + question_len]
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        up.pending[qid] = (future, question)
        try:
            up.transport.sendto(query)
            return await asyncio.wait_for(future, UPSTREAM_TIMEOUT)
        except (TimeoutError, OSError):
            return None
        finally:
            up.pending.pop(qid, None)

    async def _forward_tcp(self, query: bytes, question: bytes) -> bytes | None:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, stream = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), UPSTREAM_TIMEOUT)
            writer = stream
            stream.write(struct.pack("!H", len(query)) + query)
            await stream.drain()
            head = await asyncio.wait_for(reader.readexactly(2), UPSTREAM_TIMEOUT)
            body = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]),
                                          UPSTREAM_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            return None
        finally:
            if writer is not None:
                writer.close()
        if body[:2] != query[:2] or body[12 : 12 + len(question)].lower() != question.lower():
            return None
        return body

    # -- audit ----------------------------------------------------------------------------------

    def _audit(self, event: dict[str, Any], started: float, sensitive: tuple[str, ...] = ()) -> None:
        base = {"time": utc_now(), "event": event.pop("event"), "bottle": self.runtime.bottle_id}
        base.update(event)
        base["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if self.runtime.metrics is not None and base["event"] == "dns":
            self.runtime.metrics.dns_query(base.get("verdict"))
        self.runtime.audit.write(base, sensitive)

    def _audit_malformed(self, client: tuple[str, int], transport: str, why: str,
                         started: float | None = None) -> None:
        self._audit({"event": "dns", "client": client[0], "transport": transport,
                     "verdict": "block",
                     "findings": [Finding("hostnames", "dns-malformed", "block", "dns",
                                          f"not forwarded: {why}").as_audit()]},
                    started if started is not None else time.perf_counter())

    def _audit_budget(self, registered: str, charge: Any, policy: Any) -> None:
        self.runtime.audit.write({
            "time": utc_now(), "event": "hostname-budget", "bottle": self.runtime.bottle_id,
            "where": "dns", **budget_event(charge, registered, policy.hostnames.limits),
            "action": policy.hostnames.budget_action, "policy": policy.digest,
        })


class _ListenUdp(asyncio.DatagramProtocol):
    def __init__(self, guard: DnsGuard) -> None:
        self.guard = guard

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.guard._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS guard UDP error: %s", exc)


def client_instructions(address: tuple[str, int], upstream: tuple[str, int]) -> list[str]:
    """How to point a client at the guard (printed on stderr at start)."""
    host, port = address
    shown = host if ":" not in host else f"[{host}]"
    lines = [f"DNS guard listening on {shown}:{port} (UDP and TCP), forwarding allowed names "
             f"to {upstream[0]}:{upstream[1]}"]
    if host in ("0.0.0.0", "::", ""):
        # a wildcard is where the guard listens, not an address a client can send to
        target = "ADDRESS"
        lines.append("listening on every address of this host: a client uses this host's "
                     f"address on the client's network (ADDRESS below), never {shown}")
    else:
        target = host
    if port == 53:
        lines.append(f"point a client at it: `nameserver {target}` in /etc/resolv.conf, or "
                     f"`docker run --dns {target} ...`")
    else:
        lines.append(f"point a client at it: `dig @{target} -p {port} NAME`; resolv.conf and "
                     "Docker's --dns only take port 53")
    return lines
