"""The real values of a bottle's credentials: read from their sources (environment, files,
commands) and kept, refreshed on their TTL, in `CredentialRegistry` — the I/O half of credential
injection (`egress.scan.credentials` is the pure half).

`CredentialRegistry` (one per bottle, on `Runtime.credentials`) is what other parts read:
the current placeholders and real values, and `find()` to spot a placeholder in any text
(the DNS guard and DLP use it). No real value ever goes into an exception, a log line or a
`repr`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from egress.policy.model import Credential, SecretSource
from egress.redact import MIN_SECRET_LEN, KnownSecrets

# Re-exported: the adapter and other callers scrub through this module.
from egress.scan.credentials import (
    ActiveCredential,
    CredentialError,
    CredentialTable,
    SourceError,
    make_placeholder,
)

COMMAND_TIMEOUT = 30.0
MAX_SECRET_BYTES = 16 * 1024
# A failed refresh is retried this soon (or after the TTL, if shorter).
RETRY_SECONDS = 60.0



def clean_value(raw: bytes) -> str:
    """Surrounding whitespace stripped; one line of printable text, at least 8 characters."""
    if len(raw) > MAX_SECRET_BYTES:
        raise SourceError(f"value is longer than {MAX_SECRET_BYTES} bytes")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SourceError("value is not UTF-8 text") from None
    if not text:
        raise SourceError("value is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise SourceError("value contains line breaks or control characters")
    if len(text) < MIN_SECRET_LEN:
        raise SourceError(f"value is shorter than {MIN_SECRET_LEN} characters")
    return text


def read_source(source: SecretSource, environ: Mapping[str, str] | None = None,
                run_commands: bool = True) -> str | None:
    """The real value. Raises `SourceError`. With `run_commands=False` a command source is
    only checked to be runnable and None is returned."""
    if source.env is not None:
        env = os.environ if environ is None else environ
        if source.env not in env:
            raise SourceError(f"environment variable {source.env} is not set")
        return clean_value(env[source.env].encode("utf-8", "surrogateescape"))
    if source.file is not None:
        try:
            with open(source.file, "rb") as handle:
                raw = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as e:
            raise SourceError(f"cannot read {source.file}: {e.strerror or type(e).__name__}") from None
        return clean_value(raw)
    assert source.command is not None
    argv = source.command
    if not run_commands:
        if not (os.sep in argv[0] and os.access(argv[0], os.X_OK)) and not shutil.which(argv[0]):
            raise SourceError(f"command {argv[0]!r} not found")
        return None
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        raise SourceError(f"command {argv[0]!r} not found") from None
    except PermissionError:
        raise SourceError(f"command {argv[0]!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"command {argv[0]!r} did not finish within {COMMAND_TIMEOUT:g} s") from None
    except OSError as e:
        raise SourceError(f"command {argv[0]!r} failed to start: {e.strerror}") from None
    if done.returncode != 0:
        # Its output is not shown: a failing token helper may well print the token.
        raise SourceError(f"command {argv[0]!r} exited with status {done.returncode}")
    return clean_value(done.stdout)


@dataclass(frozen=True, slots=True)
class RefreshResult:
    name: str
    error: str | None = None
    rotated: bool = False


Resolver = Callable[[SecretSource], str | None]


class CredentialRegistry:
    """The credentials of one running bottle: placeholders stable for its lifetime (per
    credential name, across policy reloads), values read from their sources, registered as
    known secrets so every artefact scrubs them and DLP blocks them elsewhere."""

    def __init__(self, known: KnownSecrets | None = None) -> None:
        self.known = known if known is not None else KnownSecrets()
        self.table = CredentialTable()
        self._placeholders: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- read side (hot path, other scanners) ----------------------------------------------

    def placeholders(self) -> dict[str, str]:
        """Credential name -> placeholder, for the credentials in force."""
        return {c.name: c.placeholder for c in self.table.credentials}

    def placeholder_set(self) -> frozenset[str]:
        """Every placeholder in force: values that look like secrets but are not."""
        return self.table.placeholder_values

    def values(self) -> dict[str, str]:
        """Credential name -> current real value (for DLP's known secrets)."""
        return {c.name: c.value for c in self.table.credentials}

    def environment(self) -> dict[str, str]:
        """Agent environment variable -> placeholder."""
        return {c.spec.placeholder.env: c.placeholder for c in self.table.credentials}

    def find(self, data: str | bytes) -> str | None:
        """Name of the credential whose placeholder appears in `data` (any common encoding)."""
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        hit = self.table.find(raw)
        return hit.name if hit is not None else None

    def find_in_name(self, name: str) -> str | None:
        """Name of the credential whose placeholder appears in a host name, ignoring case."""
        hit = self.table.find_in_name(name)
        return hit.name if hit is not None else None

    # -- write side --------------------------------------------------------------------------

    def load(self, specs: Sequence[Credential], resolve: Resolver = read_source) -> None:
        """Bring the registry in line with a policy's `credentials:`. All or nothing: a source
        that fails raises `CredentialError` and nothing changes. Unchanged sources are not
        read again; placeholders are kept per name."""
        current = {c.name: c for c in self.table.credentials}
        built: list[ActiveCredential] = []
        shared: dict[str, str] = {}  # agent variable -> placeholder (entries may share one)
        for i, spec in enumerate(specs):
            old = current.get(spec.name)
            env = spec.placeholder.env
            if old is not None and old.spec.source == spec.source:
                built.append(replace(old, index=i, spec=spec))
                shared.setdefault(env, old.placeholder)
                continue
            value = self._resolve(i, spec, resolve)
            placeholder = self._placeholders.get(spec.name) or shared.get(env)
            if placeholder is None:
                try:
                    placeholder = make_placeholder(spec, value)
                except SourceError as e:
                    raise CredentialError(i, spec.name, "placeholder.shape", str(e)) from None
            shared.setdefault(env, placeholder)
            retired = (old.value, *old.retired) if old is not None else ()
            built.append(ActiveCredential.build(i, spec, placeholder, value, retired))
        with self._lock:
            for cred in built:
                self._register(cred)
                self._placeholders.setdefault(cred.name, cred.placeholder)
            self.table = CredentialTable.of(built)

    def due(self, now: float | None = None) -> list[ActiveCredential]:
        now = time.monotonic() if now is None else now
        return [c for c in self.table.credentials
                if c.next_refresh is not None and c.next_refresh <= now]

    def refresh(self, now: float | None = None, resolve: Resolver = read_source) -> list[RefreshResult]:
        """Read again every source whose TTL ran out. A failure keeps the old value (and is
        retried soon); it is reported by name, never by value. Sources are read outside the
        lock (a command may take a while); a value is applied only if a reload did not change
        that credential's source meanwhile."""
        now = time.monotonic() if now is None else now
        results: list[RefreshResult] = []
        fresh: dict[str, tuple[SecretSource, str | None]] = {}
        for cred in self.due(now):
            try:
                value: str | None = self._resolve(cred.index, cred.spec, resolve)
            except CredentialError as e:
                value = None
                results.append(RefreshResult(cred.name, e.message))
            else:
                results.append(RefreshResult(cred.name, None, value != cred.value))
            fresh[cred.name] = (cred.spec.source, value)
        if not fresh:
            return results
        with self._lock:
            table: list[ActiveCredential] = []
            for c in self.table.credentials:
                source, value = fresh.get(c.name, (None, None))
                if source != c.spec.source:
                    table.append(c)
                elif value is None:
                    retry = min(c.spec.source.ttl or RETRY_SECONDS, RETRY_SECONDS)
                    table.append(replace(c, next_refresh=now + retry))
                else:
                    retired = (*c.retired, c.value) if value != c.value else c.retired
                    c = ActiveCredential.build(c.index, c.spec, c.placeholder, value, retired, now)
                    self._register(c)
                    table.append(c)
            self.table = CredentialTable.of(table)
        return results

    def next_due(self) -> float | None:
        times = [c.next_refresh for c in self.table.credentials if c.next_refresh is not None]
        return min(times) if times else None

    def _resolve(self, index: int, spec: Credential, resolve: Resolver) -> str:
        try:
            value = resolve(spec.source)
        except SourceError as e:
            raise CredentialError(index, spec.name, f"source.{spec.source.kind}", str(e)) from None
        if value is None:
            raise CredentialError(index, spec.name, f"source.{spec.source.kind}", "no value")
        return value

    def _register(self, cred: ActiveCredential) -> None:
        self.known.add(f"credentials/{cred.name}", cred.value)


def check_sources(specs: Sequence[Credential],
                  environ: Mapping[str, str] | None = None) -> list[CredentialError]:
    """For `bottle policy check`: every env and file source resolves (commands are only looked
    up, not run). Values are read and dropped."""
    problems = []
    for i, spec in enumerate(specs):
        try:
            value = read_source(spec.source, environ, run_commands=False)
            if value is not None:
                make_placeholder(spec, value)
        except SourceError as e:
            problems.append(CredentialError(i, spec.name, f"source.{spec.source.kind}", str(e)))
    return problems
