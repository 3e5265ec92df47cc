"""Per-bottle MCP tool pins, persisted in the bottle's state directory.

The first `tools/list` of a server pins each tool's canonical-JSON hash (trust on first use);
a later different definition is a rug pull until a reviewer pins the new hash in the policy.
The file is rewritten atomically on every change (changes are rare: a new server, a new or
changed tool), so a restarted proxy keeps what the bottle had already seen. Without a state
directory (replay) pins live in memory for the run.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from egress.scan.mcp.pins import MemoryPins, Pin

log = logging.getLogger("egress.mcp")

PINS_FILE = "mcp-pins.json"


class ToolPins(MemoryPins):
    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            self._load(path)

    @classmethod
    def in_state_dir(cls, state_dir: Path | None) -> ToolPins:
        return cls(state_dir / PINS_FILE if state_dir is not None else None)

    def _load(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text())
            for server, tools in doc.get("servers", {}).items():
                for name, entry in tools.get("pinned", {}).items():
                    self.pins.setdefault(server, {})[name] = Pin(entry["hash"], entry["definition"])
                for name, entry in tools.get("changed", {}).items():
                    self.changed.setdefault(server, {})[name] = Pin(entry["hash"], entry["definition"])
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
            # A damaged pin file must not silently trust everything anew: keep what loaded, say so.
            log.error("MCP pin file %s is unreadable (%s); tools not found in it are pinned again "
                      "on first use", path, type(e).__name__)

    def as_document(self) -> dict[str, Any]:
        servers: dict[str, Any] = {}
        for server in sorted(set(self.pins) | set(self.changed)):
            servers[server] = {
                "pinned": {n: {"hash": p.hash, "definition": p.definition}
                           for n, p in sorted(self.pins.get(server, {}).items())},
                "changed": {n: {"hash": p.hash, "definition": p.definition}
                            for n, p in sorted(self.changed.get(server, {}).items())},
            }
        return {"version": 1, "servers": servers}

    def _save(self) -> None:
        if self.path is None:
            return
        data = json.dumps(self.as_document(), indent=1, sort_keys=True, ensure_ascii=False)
        with self._lock:
            fd, tmp = tempfile.mkstemp(prefix=".mcp-pins-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def set(self, server: str, tool: str, pin: Pin) -> None:
        if self.get(server, tool) == pin:
            return
        super().set(server, tool, pin)
        self._save()

    def set_pending(self, server: str, tool: str, pin: Pin | None) -> None:
        if self.pending(server, tool) == pin:
            return
        super().set_pending(server, tool, pin)
        self._save()
