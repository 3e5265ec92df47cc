"""Policy error messages are redacted like audit events before anyone sees them.

A policy problem quotes what the reviewer wrote (an unknown key, a bad value) so it can be
found and fixed, and a policy may hold a secret in the wrong place (a token pasted as a
key). Every `Problem` is therefore passed through the DLP engine's default rules as it is
made: a secret becomes `[REDACTED:<rule>]` in `bottle policy check`, the CLI's errors, the
proxy's stderr and the `policy-reload-failed` audit event alike. File and line still say
where to look.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from egress.redact import preview

if TYPE_CHECKING:
    from egress.scan.dlp.engine import DLPEngine

_lock = threading.Lock()
_engine: DLPEngine | None = None
# If the DLP engine itself fails, long unbroken tokens are hidden instead (fail closed).
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_+/=.-]{16,}")


def _default_engine() -> DLPEngine:
    global _engine
    with _lock:
        if _engine is None:
            # Imported on first use: the scanners are heavy, and valid policies never get here.
            from egress.sources.dlp_catalogue import dlp_engine

            _engine = dlp_engine()
        return _engine


def redact_text(text: str) -> str:
    """`text` with every secret the default DLP rules find replaced by `[REDACTED:<rule>]`."""
    if len(text) < 8:
        return text
    try:
        engine = _default_engine()
        matches = engine.scan(text, "policy-error")
        if not matches:
            return text
        clean, missing = engine.redact(text, matches)
        if missing:
            clean = _LONG_TOKEN.sub(lambda m: preview(m.group()), clean)
        return clean
    except Exception:
        return _LONG_TOKEN.sub(lambda m: preview(m.group()), text)
