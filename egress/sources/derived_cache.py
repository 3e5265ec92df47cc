"""A disk cache for data the proxy derives from its own code and data files at start-up:
compiled hyperscan databases for the DLP rule catalogue, the parsed catalogue itself (both
loaded and stored by `egress.sources.dlp_catalogue`: the scanner never touches this cache).

Compiling the catalogue's databases (the rules', their prefilters' and the lazily built "ends"
databases) takes tens of seconds of CPU on a cold start (22.6 s to the first flow judged,
measured at 5a2bce8); loading them takes a fraction of a second. Nothing derived from a policy's secrets
(known-secret matchers, credentials) ever goes here: only what the shipped rules and the
policy's own patterns produce.

Where entries are read, in order:
- `/usr/share/bottle-egress/cache` (`BOTTLE_EGRESS_SYSTEM_CACHE`): read-only, filled when the
  egress image is built (`bottle egress precompile --cache-dir ...`);
- the user's cache, `$XDG_CACHE_HOME/bottle-egress` or `~/.cache/bottle-egress`
  (`BOTTLE_EGRESS_CACHE=DIR` elsewhere, `off` for none): also where new entries are written.

Never trusted blindly: an entry's name is a hash of every input that made it (a change in any
input is a different name, so a stale entry is never found), and its content carries a
SHA-256 of itself that is checked on every load. Callers validate what they load once more
(hyperscan checks its own checksum and platform) and recompile on any doubt; a missing,
corrupt, truncated or foreign entry is only ever a slower start, never an error. Writes go
to a temporary file that is renamed into place, so readers see a whole entry or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("egress.cache")

MAGIC = b"bottle-egress derived cache v1\n"
SYSTEM_DIR = Path("/usr/share/bottle-egress/cache")
# Larger entries are not ours: refuse before reading them into memory.
MAX_ENTRY = 64 * 1024 * 1024


# Set by `only()`: the one directory read and written (precompiling into an image).
_only: Path | None = None


@contextlib.contextmanager
def only(directory: Path) -> Iterator[None]:
    """Read and write `directory` alone while the block runs."""
    global _only
    saved, _only = _only, directory
    try:
        yield
    finally:
        _only = saved


def user_dir() -> Path | None:
    if _only is not None:
        return _only
    configured = os.environ.get("BOTTLE_EGRESS_CACHE")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bottle-egress"


def read_dirs() -> list[Path]:
    if _only is not None:
        return [_only]
    system = Path(os.environ.get("BOTTLE_EGRESS_SYSTEM_CACHE") or SYSTEM_DIR)
    user = user_dir()
    return [system] + ([user] if user is not None and user != system else [])


def key_of(kind: str, *inputs: object) -> str:
    """The entry name for `inputs` (anything JSON can represent; bytes as latin-1)."""
    doc = json.dumps([kind, *inputs], default=lambda b: b.decode("latin-1"), sort_keys=True)
    return f"{kind}-{hashlib.sha256(doc.encode()).hexdigest()[:32]}"


def _seal(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _unseal(data: bytes) -> bytes | None:
    head = len(MAGIC) + 32
    if len(data) < head or not data.startswith(MAGIC):
        return None
    digest, payload = data[len(MAGIC):head], data[head:]
    return payload if hashlib.sha256(payload).digest() == digest else None


def load(key: str) -> bytes | None:
    """The payload stored under `key` in the first directory holding an intact one."""
    for directory in read_dirs():
        path = directory / f"{key}.bin"
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_ENTRY + 1)
        except OSError:
            continue
        payload = _unseal(data) if len(data) <= MAX_ENTRY else None
        if payload is not None:
            return payload
        log.debug("ignoring damaged cache entry %s", path)
    return None


def store(key: str, payload: bytes, directory: Path | None = None) -> Path | None:
    """Write an entry (to the user's cache by default). Failing to write is not an error:
    the cache only saves time. Returns the path written, if any."""
    target_dir = directory or user_dir()
    if target_dir is None:
        return None
    try:
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_seal(payload))
            os.chmod(tmp, 0o644)
            path = target_dir / f"{key}.bin"
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        log.debug("cache %s not written: %s", target_dir, e.strerror)
        return None
    return path


def pack(meta: dict[str, object], blobs: list[bytes]) -> bytes:
    """JSON metadata plus binary blobs in one payload (no pickle: loading runs no code)."""
    head = json.dumps({"meta": meta, "sizes": [len(b) for b in blobs]}).encode()
    return len(head).to_bytes(4, "big") + head + b"".join(blobs)


def unpack(payload: bytes) -> tuple[dict[str, object], list[bytes]] | None:
    try:
        n = int.from_bytes(payload[:4], "big")
        head = json.loads(payload[4:4 + n])
        meta, sizes = head["meta"], head["sizes"]
        if not isinstance(meta, dict) or not all(isinstance(s, int) and s >= 0 for s in sizes):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    blobs, pos = [], 4 + n
    for size in sizes:
        blobs.append(payload[pos:pos + size])
        pos += size
    if pos != len(payload):
        return None
    return meta, blobs
