"""Which uid and gid the agent runs as, and what its image needs to know about that user.

The agent never runs as root. Without a user namespace, uid 0 in the container is uid 0 on
the host for every file it writes to the bind-mounted workdir (18.1 in
docs/bypass-resistance.md). The agent's uid is, in this order:

1. `--user UID[:GID]` (numbers: the image may not know a name);
2. the user who ran `sudo bottle start` (`SUDO_UID`/`SUDO_GID`), when running as root;
3. the user running `bottle start`, when it is not root;
4. when root runs it directly (CI, a root shell): the owner of `--workdir` if that is not
   root, so the agent can write the project as its owner would;
5. otherwise uid/gid 1000 (`DEFAULT_UID`), the first ordinary user on most distributions.

Files the agent creates in the workdir therefore belong to the user whose project it is. When
the chosen user cannot write to the workdir (root-owned, say), `bottle start` says so and how
to fix it; it never changes the directory's ownership itself.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import LauncherError

DEFAULT_UID = 1000
USER_NAME = "bottle"
HOME = "/home/bottle"


@dataclass(frozen=True)
class AgentUser:
    uid: int
    gid: int
    reason: str  # why this user: shown by `bottle start`

    @property
    def spec(self) -> str:
        return f"{self.uid}:{self.gid}"


def parse_user(value: str) -> tuple[int, int]:
    uid_s, _, gid_s = value.partition(":")
    try:
        uid = int(uid_s)
        gid = int(gid_s) if gid_s else uid
    except ValueError:
        raise LauncherError(f"--user {value!r}: expected UID or UID:GID (numbers)",
                            exit_code=2) from None
    if uid < 0 or gid < 0:
        raise LauncherError(f"--user {value!r}: expected UID or UID:GID (numbers)", exit_code=2)
    if uid == 0 or gid == 0:
        raise LauncherError(f"--user {value}: the agent never runs as root (uid or gid 0): "
                            "files it writes to the workdir would be root's on the host",
                            "pick an unprivileged UID:GID", exit_code=2)
    return uid, gid


def _sudo_user(env: Mapping[str, str]) -> tuple[int, int] | None:
    try:
        uid = int(env.get("SUDO_UID", ""))
    except ValueError:
        return None
    try:
        gid = int(env.get("SUDO_GID", "") or uid)
    except ValueError:
        gid = uid
    return (uid, gid) if uid > 0 and gid > 0 else None


def choose_agent_user(requested: str | None, workdir: Path | None,
                      env: Mapping[str, str] | None = None, euid: int | None = None,
                      egid: int | None = None) -> AgentUser:
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    if requested is not None:
        return AgentUser(*parse_user(requested), reason="--user")
    if euid == 0:
        sudo = _sudo_user(env)
        if sudo is not None:
            return AgentUser(*sudo, reason="the user who ran sudo (SUDO_UID)")
        if workdir is not None:
            st = workdir.stat()
            if st.st_uid != 0:  # its group, unless that is root's
                return AgentUser(st.st_uid, st.st_gid or st.st_uid, reason="the owner of --workdir")
        return AgentUser(DEFAULT_UID, DEFAULT_UID, reason="the default for a root launcher")
    if egid == 0:
        egid = euid
    return AgentUser(euid, egid, reason="the user running bottle start")


def workdir_problem(user: AgentUser, workdir: Path) -> str | None:
    """Why the agent's user cannot write to the workdir, or None when it can."""
    st = workdir.stat()
    if st.st_uid == user.uid:
        writable = bool(st.st_mode & stat.S_IWUSR)
    elif st.st_gid == user.gid:
        writable = bool(st.st_mode & stat.S_IWGRP)
    else:
        writable = bool(st.st_mode & stat.S_IWOTH)
    if writable:
        return None
    return (f"the agent (uid {user.uid}, gid {user.gid}) cannot write to --workdir {workdir} "
            f"(owner {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o}); give it the "
            f"directory (`chown -R {user.spec} {workdir}`) or pick its user with --user")


# -- the image's account database -------------------------------------------------------------

def _has_id(table: bytes, id_: int) -> bool:
    for line in table.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(id_):
            return True
    return False


def _has_name(table: bytes, name: str) -> bool:
    return any(line.split(":", 1)[0] == name
               for line in table.decode(errors="replace").splitlines())


def _append(table: bytes, line: str) -> bytes:
    return (table if table.endswith(b"\n") or not table else table + b"\n") + line.encode() + b"\n"


def account_archive(user: AgentUser, passwd: bytes | None, group: bytes | None) -> bytes | None:
    """A tar (for `put_archive` at `/`) that gives the image an account for the agent's uid,
    with a home directory it owns, so `$HOME`, `whoami`, git and ssh work; None when the image
    already has the uid (its own account stays) or has no /etc/passwd at all."""
    if passwd is None or _has_id(passwd, user.uid):
        return None
    name = USER_NAME if not _has_name(passwd, USER_NAME) else f"{USER_NAME}{user.uid}"
    entries: list[tuple[str, bytes | None, int, int, int]] = [
        ("etc/passwd", _append(passwd, f"{name}:x:{user.uid}:{user.gid}:bottle agent:{HOME}:"
                                       "/bin/sh"), 0o644, 0, 0)]
    if group is not None and not _has_id(group, user.gid):
        gname = name if not _has_name(group, name) else f"{USER_NAME}{user.gid}"
        entries.append(("etc/group", _append(group, f"{gname}:x:{user.gid}:"), 0o644, 0, 0))
    entries.append((HOME.lstrip("/"), None, 0o700, user.uid, user.gid))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data, mode, uid, gid in entries:
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, int(time.time())
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
