"""Server-sent events framing for MCP streams: events reassembled across network chunks,
parsed, and re-encoded when one is replaced."""

from __future__ import annotations

import re
from dataclasses import dataclass

_EVENT_END = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
_LINE = re.compile(rb"\r\n|\n|\r")


class EventTooLarge(Exception):
    pass


@dataclass(slots=True)
class SseEvent:
    raw: bytes
    data: str | None
    event: str
    id: str | None

    @property
    def is_message(self) -> bool:
        return self.event == "message"


def parse_event(raw: bytes) -> SseEvent:
    data: list[str] = []
    event, eid = "message", None
    for line in _LINE.split(raw):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", "replace")
        if name == b"data":
            data.append(text)
        elif name == b"event":
            event = text or "message"
        elif name == b"id":
            eid = text
    return SseEvent(raw, "\n".join(data) if data else None, event, eid)


def event_bytes(data: str, like: SseEvent | None = None) -> bytes:
    """An SSE event carrying `data`, keeping the event name and id of the one it replaces."""
    lines = []
    if like is not None and like.id is not None:
        lines.append(f"id: {like.id}")
    if like is not None and like.event != "message":
        lines.append(f"event: {like.event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class SseDecoder:
    """Reassembles SSE events across network chunks. Only complete events come out."""

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if chunk:
            self._buf += chunk
        out: list[SseEvent] = []
        start = 0
        while True:
            m = _EVENT_END.search(self._buf, start)
            # A trailing CR may be the first half of CRLF: wait for the next chunk.
            if m is None or (m.end() == len(self._buf) and self._buf.endswith(b"\r") and chunk):
                break
            raw = bytes(self._buf[start:m.end()])
            start = m.end()
            if raw.strip(b"\r\n"):
                out.append(parse_event(raw))
            else:
                out.append(SseEvent(raw, None, "message", None))
        if start:
            del self._buf[:start]
        if len(self._buf) > self.max_event_bytes:
            raise EventTooLarge(f"an SSE event exceeds {self.max_event_bytes} bytes")
        return out

    def rest(self) -> bytes:
        """An unterminated last event at the end of the stream (dropped per the SSE spec)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest
