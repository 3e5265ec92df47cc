"""A bottle's audit log on the host, where it outlives the bottle.

While a bottle runs, its egress container (uid 10001) writes the log, and rotates it, in a
per-bottle "live" directory bind-mounted at its audit path: `<audit dir>/<bottle>.live/`, owned
by 10001, mode 0700 (rotation renames files, so a directory is mounted, not a file). Nobody else
can read it; its parent, the audit directory, belongs to the invoking user, mode 0700.
`bottle stop` stops the proxy gracefully (its `stop` event is the last line), appends the
rotated files, oldest first, to `<audit dir>/<bottle>.jsonl`, hands that file back to the
invoking user (mode 0600) and removes the live directory. The audit directory is
`$XDG_STATE_HOME/bottle-egress/audit` or `~/.local/state/bottle-egress/audit`, where `bottle
egress run` keeps its own logs. The log holds no secret: the proxy scrubs every event.

Only root can hand a directory to uid 10001 and back, and only a local engine shares this
disk: otherwise the log stays on the egress container's disk and `bottle stop` copies it out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import re
import shutil
import stat
import tarfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker.errors

from launcher.engine import LABEL_POLICY, LABEL_ROLE
from launcher.errors import LauncherError

# Labels of the egress container: where its log goes at stop, and to whom.
LABEL_LOG = "io.bottle-egress.audit-log"
LABEL_LIVE = "io.bottle-egress.audit-live"
LABEL_OWNER = "io.bottle-egress.audit-owner"
LOG_NAME = "audit.jsonl"
META_SUFFIX = ".bottle.json"


def invoking_user(env: Mapping[str, str] | None = None, euid: int | None = None,
                  egid: int | None = None) -> tuple[int, int]:
    """Whose the log is: the user who ran sudo (root running it), else whoever runs `bottle`."""
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    if euid == 0:
        with contextlib.suppress(ValueError):
            uid = int(env.get("SUDO_UID", ""))
            gid = int(env.get("SUDO_GID", "") or uid)
            if uid > 0 and gid >= 0:
                return uid, gid
    return euid, egid


def audit_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/bottle-egress/audit`, else the invoking user's
    `~/.local/state/bottle-egress/audit` (under sudo: the sudo user's home, so the user finds
    the log without sudo)."""
    env = os.environ if env is None else env
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "bottle-egress" / "audit"
    home = Path.home()
    uid, _ = invoking_user(env)
    if uid != os.geteuid():
        with contextlib.suppress(KeyError):
            home = Path(pwd.getpwuid(uid).pw_dir)
    return home / ".local" / "state" / "bottle-egress" / "audit"


def log_path(bottle: str, directory: Path | None = None) -> Path:
    return (directory or audit_dir()) / f"{bottle}.jsonl"


def live_dir(log: Path) -> Path:
    return log.with_name(log.name.removesuffix(".jsonl") + ".live")


def make_private_dirs(path: Path, owner: tuple[int, int]) -> None:
    """Create the missing directories of `path`, 0700 and the owner's (under sudo, root would
    otherwise own them inside the user's home)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(p, *owner)


def prepare_live(log: Path, owner: tuple[int, int], writer_uid: int) -> Path:
    """The empty live directory the egress container writes into (see the module doc)."""
    make_private_dirs(log.parent, owner)
    live = live_dir(log)
    if live.is_symlink() or (live.exists() and not live.is_dir()):
        live.unlink()  # planted in the user's directory: never followed
    shutil.rmtree(live, ignore_errors=True)
    live.mkdir(mode=0o700)
    os.chown(live, writer_uid, writer_uid)
    return live


def rotated_order(names: Iterable[str]) -> list[str]:
    """audit.jsonl and its backups, oldest first (audit.jsonl.N ... .1, then audit.jsonl)."""
    def age(name: str) -> int:
        suffix = name.removeprefix(LOG_NAME).removeprefix(".")
        return int(suffix) if suffix.isdigit() else 0
    ours = [n for n in names if n == LOG_NAME or re.fullmatch(rf"{re.escape(LOG_NAME)}\.\d+", n)]
    return sorted(ours, key=age, reverse=True)


def _open_private(path: Path, flags: int, owner: tuple[int, int]) -> int:
    """Open a file in the user's directory for writing as root may (under sudo): never through
    a symlink (O_NOFOLLOW) and never a hard link to another file, then give it to `owner`."""
    try:
        fd = os.open(path, flags | os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise LauncherError(f"cannot write {path}: {e.strerror} (a symlink is never followed)",
                            f"move it away; the audit log stays in {live_dir(path)}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise LauncherError(f"{path} is not a regular file of its own (a link?): not written",
                            f"move it away; the audit log stays in {live_dir(path)}")
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    if os.geteuid() == 0:
        os.fchown(fd, *owner)
    return fd


def _append_private(log: Path, chunks: Iterable[bytes], owner: tuple[int, int]) -> None:
    with os.fdopen(_open_private(log, os.O_APPEND, owner), "ab") as out:
        for chunk in chunks:
            out.write(chunk if chunk.endswith(b"\n") or not chunk else chunk + b"\n")


def _read_live(live: Path) -> Iterator[bytes]:
    """The live files, oldest first, read without following any symlink the egress container
    (or anyone) planted: as root, a link would otherwise copy any file into the user's log."""
    dfd = os.open(live, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in rotated_order(os.listdir(dfd)):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as f:
                if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    yield f.read()
    finally:
        os.close(dfd)


def finish_live(live: Path, log: Path, owner: tuple[int, int]) -> Path | None:
    """Move a stopped bottle's live files into its host log (appended: a reused name keeps its
    earlier runs), hand it to `owner`, remove the live directory."""
    if live.is_symlink() or not live.is_dir():
        return None
    make_private_dirs(log.parent, owner)
    _append_private(log, _read_live(live), owner)
    shutil.rmtree(live, ignore_errors=True)
    return log


def copy_out(container: Any, directory: str, log: Path, owner: tuple[int, int]) -> Path | None:
    """The same from the egress container's own disk (no bind mount: remote engine, not root)."""
    try:
        stream, _ = container.get_archive(directory)
    except docker.errors.NotFound:
        return None
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar:
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                files[Path(member.name).name] = f.read()
    names = rotated_order(files)
    if not names:
        return None
    make_private_dirs(log.parent, owner)
    _append_private(log, (files[n] for n in names), owner)
    return log


def owner_of(labels: Mapping[str, str]) -> tuple[int, int]:
    """Whom `bottle start` recorded as the invoking user (else whoever stops the bottle)."""
    try:
        uid, _, gid = labels.get(LABEL_OWNER, "").partition(":")
        return int(uid), int(gid)
    except ValueError:
        return invoking_user()


def keep(egress: Any, containers: list[Any], container_dir: str) -> Path | None:
    """Stop the proxy gracefully (its `stop` event is the log's last line), then move its
    audit log to the host file named in its labels, the invoking user's (`launcher.auditlog`)."""
    labels = egress.labels
    log, owner = Path(labels[LABEL_LOG]), owner_of(labels)
    with contextlib.suppress(docker.errors.APIError):
        egress.stop(timeout=10)
    live = labels.get(LABEL_LIVE)
    kept = (finish_live(Path(live), log, owner) if live
            else copy_out(egress, container_dir, log, owner))
    if kept is not None:
        agent = next((c for c in containers if c.labels.get(LABEL_ROLE) == "agent"), None)
        agent_labels = agent.labels if agent is not None else {}
        write_meta(kept, {
            "image": agent_labels.get("io.bottle-egress.image", "-"),
            "inspect": agent_labels.get("io.bottle-egress.inspect") == "1",
            "upstream": agent_labels.get("io.bottle-egress.upstream", "-"),
            "policy": labels.get(LABEL_POLICY, "-"),
            "stopped": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")},
            owner)
    return kept


def write_meta(log: Path, meta: dict[str, Any], owner: tuple[int, int]) -> None:
    """What `bottle ls --all` shows of a stopped bottle (a host `egress run` log has none)."""
    path = log.with_name(log.name.removesuffix(".jsonl") + META_SUFFIX)
    with os.fdopen(_open_private(path, os.O_TRUNC, owner), "w", encoding="utf-8") as out:
        json.dump(meta, out)


def stopped_bottles(directory: Path | None = None) -> list[dict[str, Any]]:
    directory = directory or audit_dir()
    out: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        for meta in sorted(directory.glob(f"*{META_SUFFIX}")):
            name = meta.name.removesuffix(META_SUFFIX)
            if not log_path(name, directory).is_file():
                continue
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(meta.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    out.append({**data, "name": name,
                                "log": str(log_path(name, directory))})
    return out


def read_stopped(bottle: str) -> Iterator[str]:
    log = log_path(bottle)
    try:
        with log.open(encoding="utf-8", errors="replace") as f:
            yield from (line.rstrip("\n") for line in f)
    except FileNotFoundError:
        raise LauncherError(f"no bottle named {bottle}, and no audit log at {log}",
                            "`bottle ls --all` lists bottles and stopped bottles with logs"
                            ) from None
    except PermissionError:
        raise LauncherError(f"cannot read {log}: it belongs to another user",
                            "run as that user (or with sudo)") from None


# -- --since and --tail ----------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`10m`, `1h30m`, `45s`, `2d` (before now), or an ISO 8601 time (without an offset: local
    time) -> an aware datetime."""
    now = now or datetime.now(UTC)
    text = value.strip()
    if text and _DURATION.sub("", text) == "":
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LauncherError(f"--since {value!r}: expected a duration (10m, 1h30m, 45s, 2d) or "
                            "an ISO 8601 time (2026-01-31T12:00:00Z)", exit_code=2) from None
    return when if when.tzinfo is not None else when.astimezone()


def event_time(line: str) -> datetime | None:
    try:
        ev = json.loads(line)
        when = datetime.fromisoformat(str(ev["time"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def select(lines: Iterable[str], since: datetime | None = None,
           tail: int | None = None) -> list[str]:
    """Non-empty lines at or after `since` (a line without a readable time is left out when
    `since` is given), then the last `tail` of them."""
    def recent(line: str) -> bool:
        if since is None:
            return True
        when = event_time(line)
        return when is not None and when >= since
    kept = (line for line in lines if line.strip() and recent(line))
    if tail is None:
        return list(kept)
    return list(deque(kept, maxlen=tail)) if tail > 0 else []
