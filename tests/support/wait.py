"""Waiting for a test server process to accept connections."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def wait_listening(proc: subprocess.Popen[bytes], port: int, name: str, why_exited: Callable[[], str],
                   timeout: float = 20.0) -> None:
    """Return once 127.0.0.1:`port` accepts; raise with `why_exited()` if `proc` dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {why_exited()}") from None
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s")
