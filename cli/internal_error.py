"""How the CLI reports a bug: where it happened, never what data it was handling."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

EXIT_INTERNAL = 70


def report_internal_error(e: BaseException) -> int:
    """Print file:line and the exception type (its message may quote inspected data); the
    full traceback only when BOTTLE_DEBUG is set. Returns the exit status."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    print(f"bottle: internal error {type(e).__name__}{where}; rerun with BOTTLE_DEBUG=1 for "
          "a traceback and please report it", file=sys.stderr)
    if os.environ.get("BOTTLE_DEBUG"):
        traceback.print_exc()
    return EXIT_INTERNAL
