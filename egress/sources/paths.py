"""Where the proxy keeps things on the host: per-bottle state, audit logs, derived caches.

Its own module, free of heavy imports, because the launcher needs these paths too and must
not pay for importing the proxy engine (mitmproxy alone is ~0.5 s) on `bottle start`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def default_state_root() -> Path:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and Path(runtime_dir).is_dir():
        return Path(runtime_dir) / "bottle-egress"
    return Path(tempfile.gettempdir()) / f"bottle-egress-{os.getuid()}"


def default_audit_path(bottle_id: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "bottle-egress" / "audit" / f"{bottle_id}.jsonl"
