"""MCP sessions and request/response pairing: who asked what on each session, and what was
answered, in tables bounded so a flood of ids cannot grow them."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_PENDING = 4096
MAX_SESSIONS = 4096


def id_key(value: Any) -> str:
    """Pairing key of a JSON-RPC id: 1 and "1" are different ids."""
    return json.dumps(value)


class Bounded(OrderedDict[str, Any]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class Session:
    """One MCP session (or one stateless exchange): who asked what, and what was answered."""

    server: str
    client_pending: Bounded = field(default_factory=lambda: Bounded(MAX_PENDING))
    client_answered: Bounded = field(default_factory=lambda: Bounded(MAX_PENDING))
    server_pending: Bounded = field(default_factory=lambda: Bounded(MAX_PENDING))
    server_answered: Bounded = field(default_factory=lambda: Bounded(MAX_PENDING))
    # Blocked requests sent on as a harmless stand-in (HTTP+SSE transport): id -> the finding
    # whose error replaces the server's answer on the event stream.
    held: Bounded = field(default_factory=lambda: Bounded(MAX_PENDING))


class SessionTable:
    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._sessions: Bounded = Bounded(limit)

    def get(self, scope: str, server: str) -> Session:
        s = self._sessions.get(scope)
        if s is None:
            s = Session(server)
            self._sessions.put(scope, s)
        else:
            self._sessions.move_to_end(scope)
        return s

    def find(self, scope: str) -> Session | None:
        found: Session | None = self._sessions.get(scope)
        return found

    def drop(self, scope: str) -> None:
        self._sessions.pop(scope, None)
