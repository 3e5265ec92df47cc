"""Reading a running bottle's audit log from its egress container (`bottle logs --audit`);
a stopped bottle's is a host file (`launcher.auditlog`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from launcher import auditlog
from launcher.bottle import AUDIT_LOG, EGRESS_UID, exec_checked, find_container
from launcher.engine import bottle_filter
from launcher.errors import LauncherError


def bottle_running_audit(client: Any, name: str) -> tuple[bytes, int, Any] | None:
    """A running bottle's audit log (its rotated files oldest first, then the current one), the
    current file's size (where following starts) and egress container; None when the bottle
    has no containers any more (its log is the host file `bottle stop` kept)."""
    if not client.containers.list(all=True, filters=bottle_filter(name)):
        return None
    egress = find_container(client, name, "egress")
    if egress.status != "running":
        raise LauncherError(f"the egress container of {name} is not running ({egress.status})",
                            f"`bottle stop {name}` keeps its audit log on this host")
    directory = str(Path(AUDIT_LOG).parent)
    listing = exec_checked(egress, ["ls", "-1", directory], user=EGRESS_UID).decode()
    rotated = [n for n in auditlog.rotated_order(listing.split()) if n != Path(AUDIT_LOG).name]
    older = (exec_checked(egress, ["cat", *(f"{directory}/{n}" for n in rotated)],
                          user=EGRESS_UID) if rotated else b"")
    current = exec_checked(egress, ["cat", AUDIT_LOG], user=EGRESS_UID)
    return older + current, len(current), egress


def follow_audit(egress: Any, offset: int = 0) -> Iterator[str]:
    """New lines of the running log from byte `offset` on (across rotations: tail -F)."""
    res = egress.exec_run(["tail", "-c", f"+{offset + 1}", "-F", AUDIT_LOG], user=EGRESS_UID,
                          stream=True)
    buf = b""
    for chunk in res.output:
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode(errors="replace")
