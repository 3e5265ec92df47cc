"""Tool pins in memory: the hash and definition of each tool as first seen, and the changed
definitions waiting for a reviewer. `egress.sources.mcp_pins.ToolPins` persists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Pin:
    hash: str
    definition: Any


class PinStore(Protocol):
    """Per-bottle memory of tool definitions (`egress.sources.mcp_pins.ToolPins` persists it)."""

    def get(self, server: str, tool: str) -> Pin | None: ...

    def set(self, server: str, tool: str, pin: Pin) -> None: ...

    def known(self, server: str) -> bool: ...

    def pending(self, server: str, tool: str) -> Pin | None: ...

    def set_pending(self, server: str, tool: str, pin: Pin | None) -> None: ...


class MemoryPins:
    def __init__(self) -> None:
        self.pins: dict[str, dict[str, Pin]] = {}
        self.changed: dict[str, dict[str, Pin]] = {}

    def get(self, server: str, tool: str) -> Pin | None:
        return self.pins.get(server, {}).get(tool)

    def set(self, server: str, tool: str, pin: Pin) -> None:
        self.pins.setdefault(server, {})[tool] = pin

    def known(self, server: str) -> bool:
        return bool(self.pins.get(server))

    def pending(self, server: str, tool: str) -> Pin | None:
        return self.changed.get(server, {}).get(tool)

    def set_pending(self, server: str, tool: str, pin: Pin | None) -> None:
        if pin is None:
            self.changed.get(server, {}).pop(tool, None)
        else:
            self.changed.setdefault(server, {})[tool] = pin
