"""A time budget for one scan, checked by the scanner itself, so that a scan that runs
over its budget stops (it cannot be stopped from outside: Python threads cannot be
cancelled, and a worker thread left running would pile up with the next one).

The caller opens a budget around a scan (`within(seconds)`); the DLP engine calls `check()`
between its steps (each text layer, each rule's regex, each decoded part), every one of
which is linear in its input, so a scan stops soon after its deadline with `ScanTimeout`.
The budget is per thread: a worker thread and the event loop each have their own. No budget
open means no limit (pure callers, tests, the reviewer tools).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class ScanTimeout(Exception):
    """A scan ran past the deadline of its budget (see `within`)."""


_LOCAL = threading.local()


@contextmanager
def within(seconds: float, started: float | None = None) -> Iterator[None]:
    """Scans on this thread inside the block must finish `seconds` after `started`
    (`time.monotonic()`, default now), or `check()` raises `ScanTimeout`. Nested budgets keep
    the earlier deadline."""
    deadline = (time.monotonic() if started is None else started) + seconds
    outer: float | None = getattr(_LOCAL, "deadline", None)
    _LOCAL.deadline = deadline if outer is None else min(outer, deadline)
    try:
        yield
    finally:
        _LOCAL.deadline = outer


def check() -> None:
    """Raise `ScanTimeout` when this thread's scan budget has run out."""
    deadline: float | None = getattr(_LOCAL, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise ScanTimeout
