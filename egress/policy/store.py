"""The policy a running proxy reads, swapped atomically when its file changes.

Addons read `store.current` once per flow; a reload replaces that reference in one
assignment, so a flow never sees half of an old policy and half of a new one. An invalid
edit is reported loudly and the last good policy stays in force.

Reading, validating and compiling a new policy (`prepare`) runs in a worker thread, so a
large or hostile file never stalls the proxy's event loop; only the swap and the listeners
(`apply`) run on the loop. The YAML itself is bounded (`egress.policy.yamlbounds`) and the
loop waits at most `RELOAD_TIMEOUT` for a reload before declaring it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from egress.policy.compiled import CompiledPolicy, compile_policy
from egress.policy.loader import (
    MAX_POLICY_BYTES,
    Check,
    decode_text,
    parse_policy,
    read_bytes,
)
from egress.policy.problems import PolicyError, Problem

log = logging.getLogger("egress.policy")

POLL_SECONDS = 0.5
RELOAD_TIMEOUT = 30.0

Signature = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    digest: str
    error: PolicyError | None = None


def _read_raw(path: Path) -> bytes:
    """The file's bytes, refusing (without reading them) more than the policy size limit."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_POLICY_BYTES + 1)
    except OSError as e:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {e.strerror}")]) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError([Problem(str(path), None, "", f"file is larger than {MAX_POLICY_BYTES} "
                                   "bytes (the limit)")])
    return raw


def _compile(path: Path, raw: bytes) -> CompiledPolicy:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError([Problem(str(path), None, "", f"not UTF-8 text (byte {e.start})")]) from None
    policy = parse_policy(text, str(path))
    return _served(compile_policy(policy, str(path), raw))


def _served(compiled: CompiledPolicy) -> CompiledPolicy:
    """A policy about to judge flows (the proxy, replay): what its DLP engine would build on
    first use is built now, outside any flow's scan budget (`DLPEngine.prepare`)."""
    compiled.dlp.prepare()
    return compiled


def load_compiled(path: str | Path,
                  extra_checks: Mapping[Check, Collection[str]] | None = None) -> CompiledPolicy:
    """Read, validate and compile a policy file for a one-shot command (`policy check`,
    `explain`, `replay`...), its digest taken of the bytes read, as the running proxy does."""
    raw = read_bytes(path)
    policy = parse_policy(decode_text(raw, str(path)), str(path), extra_checks)
    return _served(compile_policy(policy, str(path), raw))


def _read(path: Path) -> tuple[CompiledPolicy, bytes]:
    raw = _read_raw(path)
    return _compile(path, raw), raw


# A gate sees a compiled policy (and its file's bytes, to locate problems) before it takes
# effect, and may reject it by raising `PolicyError`: e.g. a credential source that fails.
Gate = Callable[[CompiledPolicy, bytes], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A changed policy file, read and judged off the event loop, not yet in force."""

    signature: Signature
    digest: str
    compiled: CompiledPolicy | None
    error: PolicyError | None
    # An unexpected exception (a compiler bug), by type name only.
    crash: str | None = None


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

    def _stat(self) -> Signature:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _look(self, force: bool) -> tuple[bool, Signature]:
        """Whether to reload (the file changed since the last look, or `force`), and the
        file's signature now."""
        sig = self._stat()
        return force or sig != self._signature, sig

    def prepare(self, signature: Signature, force: bool = False) -> Prepared | None:
        """Read, validate, compile and gate the file (thread-safe: changes nothing here).
        None when its content is what is in force already (unless `force`, a SIGHUP)."""
        try:
            raw = _read_raw(self.path)
        except PolicyError as e:
            return Prepared(signature, "unreadable", None, e)
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._raw_digest and not force:
            return None
        try:
            compiled = _compile(self.path, raw)
            for gate in self._gates:
                gate(compiled, raw)
        except PolicyError as e:
            return Prepared(signature, digest, None, e)
        except Exception as e:  # a compiler bug must not take the proxy down
            return Prepared(signature, digest, None, None, crash=type(e).__name__)
        return Prepared(signature, digest, compiled, None)

    def apply(self, prepared: Prepared | None, signature: Signature) -> ReloadResult | None:
        """Put a prepared policy in force, or report why it is not (on the event loop)."""
        if prepared is None:
            self._signature = signature
            return None
        self._signature = prepared.signature
        digest = prepared.digest
        if prepared.compiled is None:
            if prepared.crash is not None:
                log.error("policy reload FAILED (%s); keeping the previous policy in force",
                          prepared.crash)
            elif digest != self._last_bad:
                log.error("policy reload FAILED; keeping the previous policy (%s) in force:\n%s",
                          self.current.digest, prepared.error)
            self._last_bad = digest
            return ReloadResult(False, digest[:16], prepared.error)
        compiled = prepared.compiled
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

    def poll(self, force: bool = False) -> ReloadResult | None:
        """Reload now, in this thread, if the file changed (or `force`). Returns what
        happened, or None if nothing changed."""
        due, signature = self._look(force)
        if not due:
            return None
        return self.apply(self.prepare(signature, force), signature)

    async def reload(self, force: bool = False) -> ReloadResult | None:
        """`poll`, with the reading and compiling in a worker thread and a time limit."""
        due, signature = self._look(force)
        if not due:
            return None
        try:
            prepared = await asyncio.wait_for(asyncio.to_thread(self.prepare, signature, force),
                                              RELOAD_TIMEOUT)
        except TimeoutError:
            # The worker cannot be stopped; it finishes on its own and its result is dropped.
            # The file is not tried again until it changes.
            error = PolicyError([Problem(str(self.path), None, "", "reading the policy took "
                                         f"longer than {RELOAD_TIMEOUT:g} s (the limit)")])
            prepared = Prepared(signature, "timeout", None, error)
        return self.apply(prepared, signature)

    async def watch(self, on_result: Callable[[ReloadResult], None] | None = None,
                    wake: asyncio.Event | None = None) -> None:
        """Poll the file; `wake` (set on SIGHUP) forces a reload at once."""
        wake = wake or asyncio.Event()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)
            force = wake.is_set()
            wake.clear()
            if force:
                log.warning("SIGHUP: reloading the policy from %s", self.path)
            result = await self.reload(force)
            if result is not None and on_result is not None:
                on_result(result)
