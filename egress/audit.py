"""The JSONL audit log: one event per decision, scrubbed of secrets, size-rotated.

Every line passes through `KnownSecrets.scrub` (plus the values scanners matched in that
flow) after serialisation, so a secret cannot reach the file through any field, including
ones a future scanner adds.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from egress.redact import KnownSecrets


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    def __init__(self, path: Path | None, secrets: KnownSecrets, *, max_bytes: int = 50 * 1024**2,
                 backups: int = 5, stream: TextIO | None = None) -> None:
        self.path = path
        self.secrets = secrets
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._stream = stream
        self._file: TextIO | None = None
        self._size = 0
        if path is not None:
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._size = os.fstat(fd).st_size

    def configure(self, max_bytes: int, backups: int) -> None:
        with self._lock:
            self.max_bytes, self.backups = max_bytes, backups

    def _rotate(self) -> None:
        assert self.path is not None and self._file is not None
        self._file.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    src.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._open()

    def serialize(self, event: dict[str, Any], sensitive: Iterable[str] = ()) -> str:
        extra = set()
        for value in sensitive:
            extra.add(value)
            extra.add(json.dumps(value, ensure_ascii=False)[1:-1])  # its JSON-escaped form
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
        return self.secrets.scrub(line, extra)

    @property
    def active(self) -> bool:
        """False for a log that writes nowhere (replay): events need not even be built."""
        return self._file is not None or self._stream is not None

    def write(self, event: dict[str, Any], sensitive: Iterable[str] = ()) -> None:
        if not self.active:
            return
        if "time" not in event:
            event["time"] = utc_now()
        line = self.serialize(event, sensitive) + "\n"
        with self._lock:
            if self._file is not None:
                if self.max_bytes and self._size + len(line) > self.max_bytes and self._size > 0:
                    self._rotate()
                self._file.write(line)
                self._size += len(line.encode("utf-8"))
            if self._stream is not None:
                self._stream.write(line)
                self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def monotonic_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def stderr_stream() -> TextIO:
    return sys.stderr
