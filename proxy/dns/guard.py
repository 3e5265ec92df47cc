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
import struct
import time
from collections.abc import Callable
from typing import Any

from dnslib import RCODE, DNSRecord

from egress.audit import utc_now
from egress.findings import Finding
from egress.runtime import Runtime
from egress.scan.dns import judge_answer, judge_query
from egress.scan.hostnames import budget_event
from egress.scan.name_secrets import NameSecretScanner
from egress.verdict import Decisions, record
from proxy.dns.addresses import DnsConfigError, check_not_self
from proxy.dns.clients import TcpConnection, TcpConnections, TokenBuckets
from proxy.dns.upstream import UpstreamResolver
from proxy.dns.wire import MAX_QUERY_BYTES, Parsed, answers, error_reply, parse_query, rcode_reply

log = logging.getLogger("proxy.dns")

MAX_IN_FLIGHT = 2048           # UDP queries being answered at once; more are dropped
RCODES = {"nxdomain": RCODE.NXDOMAIN, "refused": RCODE.REFUSED}


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
        self._resolver = UpstreamResolver(upstream)
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_conns = TcpConnections()
        self._tcp_reports = TokenBuckets()
        self._names = NameSecretScanner()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        host, port = self.listen
        await self._resolver.open()
        last_error: OSError | None = None
        for _ in range(5 if port == 0 else 1):
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _ListenUdp(self), local_addr=(host, port))
            except OSError as e:
                self._resolver.close()
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
        self._resolver.close()
        raise DnsConfigError(f"--dns-listen {host}:{port}: TCP bind failed "
                             f"({last_error.strerror if last_error else 'unknown'})")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 2)
        self._resolver.close()
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
            return error_reply(data, RCODE.SERVFAIL)

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
            return error_reply(data, RCODE.FORMERR)
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
            return rcode_reply(parsed.record, rcode)
        answer = await self._resolver.forward(parsed, transport)
        if answer is None:
            record(state, [Finding("hostnames", "dns-upstream", "block", "dns.upstream",
                                   f"upstream resolver {self.upstream[0]}:{self.upstream[1]} "
                                   "did not answer; answered SERVFAIL")], mode, fail_closed=True)
            self._audit({**event, "verdict": "block", "rcode": "SERVFAIL",
                         "findings": [f.as_audit() for f in findings],
                         "policy": policy.digest}, started, judged.sensitive)
            return rcode_reply(parsed.record, RCODE.SERVFAIL)
        try:
            upstream_record: DNSRecord | None = DNSRecord.parse(answer)
            records = answers(upstream_record)
        except Exception:  # dnslib raises DNSError, BufferError, ...; svcb_hints ValueError
            upstream_record = None
        if upstream_record is None:
            record(state, [Finding("hostnames", "dns-upstream", "block", "dns.upstream",
                                   "upstream answer could not be parsed; answered SERVFAIL")],
                   mode, fail_closed=True)
            self._audit({**event, "verdict": "block", "rcode": "SERVFAIL",
                         "findings": [f.as_audit() for f in findings],
                         "policy": policy.digest}, started, judged.sensitive)
            return rcode_reply(parsed.record, RCODE.SERVFAIL)
        answered = record(state, judge_answer(policy.dns, policy.hostnames, parsed.name, records),
                          mode)
        if answered.blocked is not None:
            rcode = RCODES[policy.dns.rcode]
            self._audit({**event, "verdict": "block", "rcode": RCODE.get(rcode),
                         "findings": [f.as_audit() for f in findings], "policy": policy.digest},
                        started, judged.sensitive)
            return rcode_reply(parsed.record, rcode)
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
        answer = await self._resolver.forward(parsed, transport)
        if answer is None:
            self._audit({**event, "verdict": "block", "rcode": "SERVFAIL"}, started)
            return rcode_reply(parsed.record, RCODE.SERVFAIL)
        if self.runtime.policy.policy.audit.log_allowed:
            self._audit({**event, "verdict": "allow"}, started)
        return data[:2] + answer[2:]

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
