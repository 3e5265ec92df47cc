"""The policy a running proxy reads, swapped atomically when its file changes.

Addons read `store.current` once per flow; a reload replaces that reference in one
assignment, so a flow never sees half of an old policy and half of a new one. An invalid
edit is reported loudly and the last good policy stays in force.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from egress.policy.compiled import CompiledPolicy, compile_policy
from egress.policy.loader import PolicyError, Problem, parse_policy

log = logging.getLogger("egress.policy")

POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    digest: str
    error: PolicyError | None = None


def _read(path: Path) -> tuple[CompiledPolicy, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {e.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError([Problem(str(path), None, "", f"not UTF-8 text (byte {e.start})")]) from None
    policy = parse_policy(text, str(path))
    return compile_policy(policy, str(path), raw), raw


# A gate sees a compiled policy (and its file's bytes, to locate problems) before it takes
# effect, and may reject it by raising `PolicyError`: e.g. a credential source that fails.
Gate = Callable[[CompiledPolicy, bytes], None]


class PolicyStore:
    def __init__(self, path: Path, current: CompiledPolicy, raw: bytes) -> None:
        self.path = path
        self.current = current
        self._listeners: list[Callable[[CompiledPolicy], None]] = []
        self._gates: list[Gate] = []
        self._signature = self._stat()
        self._last_bad: str | None = None
        self._raw_digest = hashlib.sha256(raw).hexdigest()

    @classmethod
    def open(cls, path: str | Path) -> PolicyStore:
        p = Path(path)
        compiled, raw = _read(p)
        return cls(p, compiled, raw)

    def subscribe(self, listener: Callable[[CompiledPolicy], None]) -> None:
        self._listeners.append(listener)

    def add_gate(self, gate: Gate) -> None:
        self._gates.append(gate)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def poll(self) -> ReloadResult | None:
        """Reload if the file changed. Returns what happened, or None if nothing changed."""
        sig = self._stat()
        if sig == self._signature:
            return None
        self._signature = sig
        try:
            raw = self.path.read_bytes()
        except OSError:
            raw = b""
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._raw_digest:
            return None
        try:
            compiled, raw = _read(self.path)
            for gate in self._gates:
                gate(compiled, raw)
        except PolicyError as e:
            if digest != self._last_bad:
                self._last_bad = digest
                log.error("policy reload FAILED; keeping the previous policy (%s) in force:\n%s",
                          self.current.digest, e)
            return ReloadResult(False, digest[:16], e)
        except Exception as e:  # a compiler bug must not take the proxy down
            log.error("policy reload FAILED (%s); keeping the previous policy in force",
                      type(e).__name__)
            return ReloadResult(False, digest[:16], None)
        self._raw_digest = digest
        self._last_bad = None
        self.current = compiled
        for listener in self._listeners:
            try:
                listener(compiled)
            except Exception:
                log.exception("policy listener failed")
        log.warning("policy reloaded from %s (digest %s)", self.path, compiled.digest)
        return ReloadResult(True, compiled.digest)

    async def watch(self, on_result: Callable[[ReloadResult], None] | None = None) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            result = self.poll()
            if result is not None and on_result is not None:
                on_result(result)
