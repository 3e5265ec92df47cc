"""Name resolution for the proxy's own connections, pinned to what was checked.

The proxy checks the addresses a name resolves to before it connects (`addons.destinations`).
Checking one answer and then letting the connection resolve the name again would let a
DNS-rebinding name pass the check with a public address and be dialled at a private one.
So the check resolves the name itself, and `install()` makes the event loop's
`getaddrinfo` — the one mitmproxy's `asyncio.open_connection` calls — answer a
`(host, port)` that was just checked with exactly the checked addresses.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

AddrInfo = tuple[Any, ...]  # (family, type, proto, canonname, sockaddr)
GetAddrInfo = Callable[..., Awaitable[list[AddrInfo]]]

RESOLVE_TTL = 10.0  # seconds a resolution is reused for the checks of later requests
PIN_TTL = 30.0  # seconds a checked answer is served to the connection that follows it
MAX_ENTRIES = 4096
# A resolver answering "temporary failure" (EAI_AGAIN: a busy or restarting DNS server, Docker's
# embedded one under load) is asked again this many times, after these pauses, before the
# flow fails as unresolvable.
AGAIN_DELAYS = (0.2, 1.0)


class PinnedResolver:
    def __init__(self) -> None:
        self._resolved: OrderedDict[tuple[str, int], tuple[float, list[AddrInfo]]] = OrderedDict()
        self._pinned: OrderedDict[tuple[str, int], tuple[float, list[AddrInfo]]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._original: GetAddrInfo | None = None
        # (host, port) -> the lookup in progress: twenty requests that reach a new name at
        # once share one lookup instead of sending twenty pairs of queries.
        self._inflight: dict[tuple[str, int], asyncio.Future[list[AddrInfo]]] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Route `loop.getaddrinfo` through the pins (idempotent per loop)."""
        if self._loop is loop:
            return
        original: GetAddrInfo = loop.getaddrinfo
        self._loop, self._original = loop, original

        async def getaddrinfo(host: Any, port: Any, *, family: int = 0, type: int = 0,
                              proto: int = 0, flags: int = 0) -> list[AddrInfo]:
            pinned = self.pinned(host, port)
            if pinned is not None:
                return [ai for ai in pinned if (not family or ai[0] == family)
                        and (not type or ai[1] == type)]
            return await original(host, port, family=family, type=type, proto=proto, flags=flags)

        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]

    async def resolve(self, host: str, port: int) -> list[AddrInfo]:
        """The TCP addresses of `host`, reused for `RESOLVE_TTL`. Raises `OSError`
        (`socket.gaierror`) when the name does not resolve."""
        key = (host, port)
        now = time.monotonic()
        cached = self._resolved.get(key)
        if cached is not None and now - cached[0] < RESOLVE_TTL:
            return cached[1]
        task = self._inflight.get(key)
        if task is None:
            self.install(asyncio.get_running_loop())
            # a task of its own: one requester's flow being cancelled does not cancel the
            # lookup the others wait for
            task = self._inflight[key] = asyncio.ensure_future(self._lookup(host, port))
            task.add_done_callback(lambda done: self._settled(key, done))
        return list(await asyncio.shield(task))

    def _settled(self, key: tuple[str, int], task: asyncio.Future[list[AddrInfo]]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and task.exception() is None:
            _store(self._resolved, key, (time.monotonic(), task.result()))

    async def _lookup(self, host: str, port: int) -> list[AddrInfo]:
        assert self._original is not None
        for delay in (*AGAIN_DELAYS, None):
            try:
                return list(await self._original(host, port, type=socket.SOCK_STREAM))
            except socket.gaierror as e:
                if e.errno != socket.EAI_AGAIN or delay is None:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def pin(self, host: str, port: int, infos: list[AddrInfo]) -> None:
        """The connection to (host, port) about to be made gets exactly `infos`."""
        _store(self._pinned, (host, port), (time.monotonic(), list(infos)))

    def pinned(self, host: Any, port: Any) -> list[AddrInfo] | None:
        if isinstance(host, bytes):
            host = host.decode("idna")
        try:
            key = (str(host), int(port))
        except (TypeError, ValueError):
            return None
        entry = self._pinned.get(key)
        if entry is None or time.monotonic() - entry[0] >= PIN_TTL:
            return None
        return entry[1]


def _store(table: OrderedDict[tuple[str, int], tuple[float, list[AddrInfo]]],
           key: tuple[str, int], value: tuple[float, list[AddrInfo]]) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_ENTRIES:
        table.popitem(last=False)
