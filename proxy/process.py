"""What the proxy does to its own process: signal handlers (stop, reload), no core dumps (the
CA key lives in memory only), and settling the heap once listening."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import linecache
import logging
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger("egress")

# Signals that stop the proxy the clean way (a `stop` audit event, the CA destroyed, its state
# removed): every catchable one whose default action would end the process without that.
# SIGHUP reloads the policy (the daemon convention). SIGPIPE stays ignored, as Python sets it:
# a closed socket is an error on that socket, never a reason to stop. Faults (SIGSEGV, SIGBUS,
# ...) and SIGKILL cannot be handled; the CA key, kept in memory only, dies with the process.
STOP_SIGNALS = tuple(
    sig for name in ("SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                     "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGXFSZ", "SIGIO", "SIGPWR", "SIGSTKFLT")
    if (sig := getattr(signal, name, None)) is not None)
RELOAD_SIGNALS = (signal.SIGHUP,)


class ProcessSignals:
    """The proxy's signal handlers, on the event loop: stop signals set `stop` (and remember
    which one arrived), SIGHUP sets `reload`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        self.loop = loop
        self.stop = stop
        self.reload = asyncio.Event()
        self.received: str | None = None
        self.installed: list[signal.Signals] = []
        for sig in STOP_SIGNALS:
            self._install(sig, self._on_stop, sig)
        for sig in RELOAD_SIGNALS:
            self._install(sig, self.reload.set)

    def _install(self, sig: signal.Signals, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, OSError):
            self.loop.add_signal_handler(sig, callback, *args)
            self.installed.append(sig)

    def _on_stop(self, sig: signal.Signals) -> None:
        if self.received is None:
            self.received = sig.name
            log.warning("%s: stopping the proxy and destroying the bottle CA", sig.name)
        self.stop.set()

    def remove(self) -> None:
        for sig in self.installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.remove_signal_handler(sig)
        self.installed.clear()


def no_core_dumps() -> None:
    """A core file would hold the CA key the proxy keeps in memory only."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def settle() -> None:
    """Once listening: what start-up built lives as long as the proxy, so the collector stops
    walking it (gc.freeze: each full collection would otherwise traverse every module's
    objects), and source lines cached while importing (pyparsing reads its whole source
    for stack inspection, ~0.5 MB) are dropped; a traceback reloads what it needs."""
    gc.collect()
    gc.freeze()
    linecache.clearcache()
