"""A real DNS resolver on loopback (dnslib) that answers test names and records every query."""

from __future__ import annotations

import threading
from typing import Any

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class RecordingResolver(BaseResolver):  # type: ignore[misc]
    """Answers `A` for names under `zones` (suffix -> IPv4); NXDOMAIN for everything else."""

    def __init__(self, zones: dict[str, str]) -> None:
        self.zones = {z.lower().rstrip("."): ip for z, ip in zones.items()}
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        with self._lock:
            self.queries.append((name, QTYPE[q.qtype]))
        ip = next((ip for zone, ip in self.zones.items()
                   if name == zone or name.endswith("." + zone)), None)
        if ip is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif q.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=5))
        return reply

    def names(self) -> list[str]:
        with self._lock:
            return [n for n, _ in self.queries]


class DNSFixture:
    def __init__(self, address: str, port: int, zones: dict[str, str]) -> None:
        self.address, self.port = address, port
        self.resolver = RecordingResolver(zones)
        quiet = DNSLogger(logf=lambda _: None)
        self.udp = DNSServer(self.resolver, address=address, port=port, logger=quiet)
        self.tcp = DNSServer(self.resolver, address=address, port=port, tcp=True, logger=quiet)

    def __enter__(self) -> DNSFixture:
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.udp.stop()
        self.tcp.stop()
        self.udp.server.server_close()
        self.tcp.server.server_close()
