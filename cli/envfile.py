"""`bottle egress run --env-file FILE`: the client environment, written once the proxy listens.

A script that starts the proxy in the background waits for FILE to exist and then sources it;
it must never see a half-written file (the rename is atomic) nor a file left by an earlier run
(it is removed at start, before anything else, and at stop).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def clear(path: Path) -> None:
    """Remove a file left by an earlier run (a missing file is fine)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` as one rename: readers see no file or the whole file, mode 0600
    (it names the proxy and, with credentials, placeholder values)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
