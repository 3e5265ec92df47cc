"""Forwarding to the upstream resolver: a *fresh* query (new random id, only the question,
RD, and an OPT record without options: client EDNS options such as client-subnet or cookies
can carry data) over the client's transport, and only a reply to that very question back."""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
from typing import Any

from proxy.dns.wire import Parsed, encode_name, encode_query

log = logging.getLogger("proxy.dns")

UPSTREAM_TIMEOUT = 3.0


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


class UpstreamResolver:
    """The resolver the guard forwards to. `open()` connects its UDP socket; `close()` closes it."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self._up: _UpstreamUdp | None = None

    async def open(self) -> None:
        _, self._up = await asyncio.get_running_loop().create_datagram_endpoint(
            _UpstreamUdp, remote_addr=self.address)

    def close(self) -> None:
        if self._up is not None and self._up.transport is not None:
            self._up.transport.close()

    async def forward(self, parsed: Parsed, transport: str) -> bytes | None:
        """The upstream's answer to `parsed` (None: no usable answer in time)."""
        q = parsed.record.q
        rd = bool(parsed.record.header.rd)
        question_len = len(encode_name(parsed.labels)) + 4
        if transport == "tcp":
            query = encode_query(secrets.randbits(16), rd, parsed.labels, q.qtype, q.qclass,
                                 parsed.edns)
            return await self._forward_tcp(query, query[12 : 12 + question_len])
        up = self._up
        assert up is not None and up.transport is not None
        qid = up.new_id()
        query = encode_query(qid, rd, parsed.labels, q.qtype, q.qclass, parsed.edns)
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
                asyncio.open_connection(*self.address), UPSTREAM_TIMEOUT)
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
