"""Per-client limits of the DNS guard: query rate (token buckets) and TCP connections.

One client must not be able to use up the guard for everyone: queries are rate-limited per
source address, and TCP connections are counted per source address
(`dns.tcp.max_connections_per_client`) within a global cap (`MAX_TCP_CLIENTS`). Only an
*idle* connection (waiting for its next query) is ever closed to make room for another.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

MAX_TCP_CLIENTS = 256          # TCP connections held at once, all clients together
MAX_CLIENTS_TRACKED = 10_000   # rate-limit buckets kept (oldest forgotten first)
RATE_REPORT_SECONDS = 10.0


class TokenBuckets:
    """A token bucket per client address (query rate), and drop counts reported at most once
    per client per `RATE_REPORT_SECONDS`."""

    def __init__(self) -> None:
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self._dropped: dict[str, tuple[int, float]] = {}

    def take(self, client: str, rate: float, burst: int, now: float) -> bool:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = [float(burst), now]
            self._buckets[client] = bucket
            if len(self._buckets) > MAX_CLIENTS_TRACKED:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket[0] = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        return False

    def note_drop(self, client: str, now: float) -> int | None:
        """Count a drop; return the count to report when a report is due."""
        count, last = self._dropped.pop(client, (0, 0.0))
        count += 1
        due = now - last >= RATE_REPORT_SECONDS
        # re-inserted last: the oldest-reported client is forgotten first when full
        self._dropped[client] = (0, now) if due else (count, last)
        if len(self._dropped) > MAX_CLIENTS_TRACKED:
            del self._dropped[next(iter(self._dropped))]
        return count if due else None


@dataclass(eq=False, slots=True)
class TcpConnection:
    client: str
    writer: asyncio.StreamWriter
    idle_since: float | None  # when it began waiting for a query; None while one is handled


class TcpConnections:
    """The guard's TCP connections by client address, with the caps of `dns.tcp`."""

    def __init__(self) -> None:
        self.by_client: dict[str, list[TcpConnection]] = {}
        self.total = 0

    def admit(self, client: str, per_client: int, now: float) -> tuple[bool, str | None]:
        """Whether a new connection from `client` may be served, and why a connection was
        closed or refused to make that decision (None: nothing happened)."""
        own = self.by_client.get(client, [])
        if len(own) >= per_client:
            victim = self._longest_idle(own)
            if victim is None:
                return False, (f"client holds {len(own)} busy TCP connections "
                               f"(dns.tcp.max_connections_per_client {per_client}); new one closed")
            self.close(victim)
            return True, (f"client at {per_client} TCP connections "
                          "(dns.tcp.max_connections_per_client); its longest-idle one closed")
        if self.total >= MAX_TCP_CLIENTS:
            for holder in sorted(self.by_client.values(), key=len, reverse=True):
                victim = self._longest_idle(holder)
                if victim is not None:
                    self.close(victim)
                    return True, None
            return False, f"guard holds {self.total} busy TCP connections; new one closed"
        return True, None

    @staticmethod
    def _longest_idle(conns: list[TcpConnection]) -> TcpConnection | None:
        idle = [c for c in conns if c.idle_since is not None]
        return min(idle, key=lambda c: c.idle_since or 0.0) if idle else None

    def add(self, conn: TcpConnection) -> None:
        self.by_client.setdefault(conn.client, []).append(conn)
        self.total += 1

    def remove(self, conn: TcpConnection) -> None:
        own = self.by_client.get(conn.client)
        if own is None or conn not in own:
            return
        own.remove(conn)
        if not own:
            del self.by_client[conn.client]
        self.total -= 1

    def close(self, conn: TcpConnection) -> None:
        """Close a connection now (its reader fails and its handler ends)."""
        self.remove(conn)
        conn.writer.transport.abort()
