"""The agent's workdir mount: `nosuid,nodev`, which Docker's bind mounts cannot ask for.

Docker has no bind-mount option for `nosuid` or `nodev`, and its `local` volume driver passes
them to a bind mount, where the kernel ignores them. So once the agent runs, a short-lived
helper container sets them on the agent's `/workspace` mount (and every mount below it):
it joins the agent's PID namespace, enters the mount namespace of the agent's first process
and calls `mount_setattr(2)` (Linux >= 5.12; a bind remount otherwise). It runs from the
egress image, as root with CAP_SYS_ADMIN, CAP_SYS_CHROOT (setns) and CAP_SYS_PTRACE (to open
another user's namespace), no network, and nothing else: after entering the agent's mount
namespace every path it could open is the agent's, so it imports, opens and runs nothing
more. `bottle start` fails, and removes everything, when the helper does.

The agent's first instructions run before the remount (a few hundred milliseconds). What
`nosuid` and `nodev` add is defence in depth there: no-new-privileges already makes a
setuid file grant nothing inside the bottle, the seccomp profile (`launcher/seccomp.py`)
refuses setting the bits at all, and without CAP_MKNOD no device node can be made.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker.errors

from launcher.errors import LauncherError

WORKSPACE = "/workspace"
PYTHON = "/opt/bottle/bin/python"

# Run with `python -I -S -c`: the helper's own filesystem until setns, the agent's after.
REMOUNT_SCRIPT = r"""
import ctypes, os, sys

def fail(what):
    os.write(2, b"%s failed: errno %d\n" % (what, ctypes.get_errno()))
    os._exit(1)

class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

libc = ctypes.CDLL(None, use_errno=True)
target = sys.argv[1].encode()
attr = MountAttr(0x2 | 0x4, 0, 0, 0)  # MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
size = ctypes.c_size_t(ctypes.sizeof(attr))
fd = os.open("/proc/1/ns/mnt", os.O_RDONLY)
if libc.setns(fd, 0x00020000) != 0:  # CLONE_NEWNS
    fail(b"setns")
# From here on every path is the agent's: nothing is imported, opened or run.
# mount_setattr (442 on every architecture): AT_FDCWD, AT_RECURSIVE | AT_SYMLINK_NOFOLLOW
if libc.syscall(442, -100, target, 0x8000 | 0x100, ctypes.byref(attr), size) != 0:
    # MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV: this mount only (kernels before 5.12)
    if libc.mount(None, target, None, 0x20 | 0x1000 | 0x2 | 0x4, None) != 0:
        fail(b"remount")
os._exit(0)
"""


def create_helper(client: Any, agent: Any, helper_image: str, labels: dict[str, str]) -> Any:
    """The helper for `agent`, created with it (off the start's critical path); it may only
    start once the agent runs."""
    return client.containers.create(
        helper_image, ["-I", "-S", "-c", REMOUNT_SCRIPT, WORKSPACE], entrypoint=[PYTHON],
        user="0", network_mode="none", pid_mode=f"container:{agent.id}", labels=labels,
        cap_drop=["ALL"], cap_add=["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"],
        security_opt=["no-new-privileges", "apparmor=unconfined"], read_only=True,
        mem_limit=64 * 1024**2, pids_limit=16, detach=True)


def seal_workdir(helper: Any, agent: Any) -> None:
    """Run the helper against the running agent, then remove it; a LauncherError when the
    remount fails while the agent still runs (an agent that already exited has nothing left
    to protect)."""
    try:
        try:
            helper.start()
        except docker.errors.APIError as e:
            agent.reload()
            if agent.status != "running":
                return
            raise LauncherError(f"could not remount the workdir nosuid,nodev: "
                                f"{e.explanation or e}") from None
        code = helper.wait(timeout=30).get("StatusCode", 1)
        if code != 0:
            agent.reload()
            if agent.status != "running":
                return
            err = helper.logs(stdout=False, stderr=True).decode(errors="replace").strip()
            raise LauncherError(f"could not remount the workdir nosuid,nodev: {err}",
                                "the engine must let a container with CAP_SYS_ADMIN enter "
                                "another container's namespaces (rootful or rootless Docker "
                                "do); report the error above")
    finally:
        with contextlib.suppress(docker.errors.APIError):
            helper.remove(force=True)
