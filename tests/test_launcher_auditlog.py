"""The host-side audit log of launched bottles (`launcher/auditlog.py`): `--since` parsing,
`--tail`/`--since` selection, the hand-over of a live directory at stop. No Docker (the real
engine path is `tests/test_launcher_e2e.py::test_audit_log_outlives_the_bottle_on_the_host`)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launcher.auditlog import (
    audit_dir,
    copy_out,
    finish_live,
    invoking_user,
    live_dir,
    log_path,
    parse_since,
    prepare_live,
    select,
    stopped_bottles,
    write_meta,
)
from launcher.errors import LauncherError

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def line(when: datetime | None, **fields: str) -> str:
    ev = dict(fields)
    if when is not None:
        ev["time"] = when.isoformat().replace("+00:00", "Z")
    return json.dumps(ev)


@pytest.mark.parametrize(("value", "ago"), [
    ("10m", timedelta(minutes=10)), ("45s", timedelta(seconds=45)), ("2h", timedelta(hours=2)),
    ("1h30m", timedelta(hours=1, minutes=30)), ("2d", timedelta(days=2)),
    ("1.5h", timedelta(minutes=90)), (" 5m ", timedelta(minutes=5))])
def test_since_durations_count_back_from_now(value: str, ago: timedelta) -> None:
    assert parse_since(value, NOW) == NOW - ago


def test_since_iso_times_with_and_without_offset() -> None:
    assert parse_since("2026-12-06T11:00:00Z", NOW) == datetime(2026, 12, 6, 11, tzinfo=UTC)
    assert parse_since("2026-12-06T12:00:00+01:00", NOW) == datetime(2026, 12, 6, 11, tzinfo=UTC)
    local = parse_since("2026-12-06T11:00:00", NOW)
    assert local.tzinfo is not None
    assert local == datetime(2026, 12, 6, 11).astimezone()


@pytest.mark.parametrize("value", ["", "10", "m", "10x", "ten minutes", "10m junk", "-5m",
                                   "2026-13-01"])
def test_since_rejects_what_it_cannot_read_with_a_clear_error(value: str) -> None:
    with pytest.raises(LauncherError) as e:
        parse_since(value, NOW)
    assert e.value.exit_code == 2 and "--since" in e.value.message and "10m" in e.value.message


def test_select_since_then_tail() -> None:
    lines = [line(NOW - timedelta(minutes=m), host=f"h{m}") for m in (30, 20, 10, 5, 1)]
    lines.insert(2, "")  # blank lines are never events
    assert select(lines) == [x for x in lines if x]
    assert select(lines, tail=2) == lines[-2:]
    assert select(lines, tail=0) == []
    assert select(lines, tail=100) == [x for x in lines if x]
    recent = select(lines, since=NOW - timedelta(minutes=10))
    assert [json.loads(x)["host"] for x in recent] == ["h10", "h5", "h1"]
    assert [json.loads(x)["host"] for x in select(lines, since=NOW - timedelta(minutes=10),
                                                  tail=1)] == ["h1"]


def test_select_since_leaves_out_lines_without_a_time() -> None:
    lines = [line(None, event="x"), "not json", line(NOW, event="y")]
    assert select(lines, since=NOW - timedelta(minutes=1)) == [lines[2]]
    assert select(lines) == lines


def test_invoking_user_is_the_sudo_user_only_for_root() -> None:
    sudo = {"SUDO_UID": "4321", "SUDO_GID": "99"}
    assert invoking_user(sudo, euid=0, egid=0) == (4321, 99)
    assert invoking_user({"SUDO_UID": "4321"}, euid=0, egid=0) == (4321, 4321)
    assert invoking_user(sudo, euid=1000, egid=1000) == (1000, 1000)
    assert invoking_user({"SUDO_UID": "x"}, euid=0, egid=0) == (0, 0)
    assert invoking_user({"SUDO_UID": "0"}, euid=0, egid=0) == (0, 0)


def test_audit_dir_follows_xdg_state_home(tmp_path: Path) -> None:
    assert audit_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "bottle-egress" / "audit"
    home = audit_dir({})
    assert home.parts[-4:] == (".local", "state", "bottle-egress", "audit")


def test_live_directory_is_handed_back_merged_oldest_first(tmp_path: Path) -> None:
    """Runs as root, as the launcher tests do (it hands files between users)."""
    owner = (4321, 4322)
    log = log_path("b1", tmp_path / "state" / "audit")
    live = prepare_live(log, owner, 10001)
    assert live == live_dir(log)
    assert (live.stat().st_uid, live.stat().st_mode & 0o777) == (10001, 0o700)
    parent = log.parent.stat()
    assert (parent.st_uid, parent.st_gid, parent.st_mode & 0o777) == (4321, 4322, 0o700)
    # as the proxy leaves them after rotating twice: .2 oldest, then .1, then the current file
    for name, text in (("audit.jsonl.2", "a\n"), ("audit.jsonl.1", "b\n"),
                       ("audit.jsonl", "c"), ("flows.mitm", "not a log")):
        (live / name).write_text(text)
    log.write_text("earlier run\n")  # a reused name keeps its earlier runs
    assert finish_live(live, log, owner) == log
    assert log.read_text() == "earlier run\na\nb\nc\n"
    st = log.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (4321, 4322, 0o600)
    assert not live.exists()
    assert finish_live(live, log, owner) is None  # stop twice: nothing more to move
    write_meta(log, {"image": "img", "inspect": True}, owner)
    assert stopped_bottles(log.parent) == [
        {"image": "img", "inspect": True, "name": "b1", "log": str(log)}]
    log.unlink()  # metadata without its log is not a stopped bottle
    assert stopped_bottles(log.parent) == []


def test_hand_over_never_follows_links_planted_in_the_users_directory(tmp_path: Path) -> None:
    """Root writes into the sudo user's directory at stop: a symlink or hard link planted
    there (as the log, or inside the live directory) must not make it write or read anything
    else."""
    owner = (4321, 4321)
    victim = tmp_path / "victim"
    victim.write_text("root's\n")
    victim.chmod(0o644)
    log = log_path("b2", tmp_path / "audit")
    live = prepare_live(log, owner, 10001)
    (live / "audit.jsonl").write_text("event\n")
    (live / "audit.jsonl.1").symlink_to(victim)  # read as root, it would leak into the log
    log.symlink_to(victim)
    with pytest.raises(LauncherError, match="symlink is never followed"):
        finish_live(live, log, owner)
    assert victim.read_text() == "root's\n" and victim.stat().st_uid == 0
    log.unlink()
    os.link(victim, log)
    with pytest.raises(LauncherError, match="not a regular file of its own"):
        finish_live(live, log, owner)
    assert victim.read_text() == "root's\n" and victim.stat().st_uid == 0
    log.unlink()
    assert finish_live(live, log, owner) == log
    assert log.read_text() == "event\n"


class _ContainerDisk:
    """What `copy_out` uses of a docker container: `get_archive` of a directory (a tar of it,
    as the engine streams it)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(f"bottle/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        self.tar = buf.getvalue()

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, str]]:
        assert path == "/var/lib/bottle"
        return [self.tar[:100], self.tar[100:]], {}


def test_without_a_bind_mount_stop_copies_the_log_out_of_the_container(tmp_path: Path) -> None:
    owner = (os.getuid(), os.getgid())
    log = log_path("b3", tmp_path / "audit")
    disk = _ContainerDisk({"audit.jsonl": b"c\n", "audit.jsonl.1": b"b\n", "flows.mitm": b"x"})
    assert copy_out(disk, "/var/lib/bottle", log, owner) == log
    assert log.read_text() == "b\nc\n"
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.parent.stat().st_mode & 0o777 == 0o700
    assert copy_out(_ContainerDisk({"flows.mitm": b"x"}), "/var/lib/bottle",
                    log_path("b4", tmp_path / "audit"), owner) is None
