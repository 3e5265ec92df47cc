"""The agent container's seccomp profile: Docker's default policy, plus no setuid/setgid bits.

Why not Docker's own default: it cannot be extended (a profile replaces it whole), and it lets
any process set the setuid bit on a file it owns. A file the agent owns in the bind-mounted
workdir is a file on the host: with the bit set, whoever runs it on the host runs it as the
agent's uid (18.1 in docs/bypass-resistance.md). A mount option cannot stop that: `nosuid`
only changes what `execve` does on that one mount, not the bit kept on disk.

So this profile, like Docker's, allows what ordinary programs need and refuses the calls that
reach kernel surfaces a container has no business with (namespaces, mounts, keyrings, eBPF,
perf, io_uring, kernel modules, clocks, ...), with EPERM; calls newer than the table are
refused too (ENOSYS above the highest the profile names). On top, every call that sets a
file mode (chmod, fchmod, fchmodat, open/openat/creat with O_CREAT, mknod/mknodat) is refused
with EPERM when the mode carries S_ISUID or S_ISGID; `openat2` and `fchmodat2`, whose mode
the filter cannot see or that libseccomp may not know, answer ENOSYS so the C library falls
back to the calls above. Supported architectures: x86_64 (with its i386 and x32 ABIs) and
arm64 (with arm32).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from launcher.syscalls import SYSCALLS

EPERM = 1
ENOSYS = 38
SETID_BITS = 0o6000  # S_ISUID | S_ISGID
# clone(2) flags that create namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
# NEWPID, NEWNET.
CLONE_NAMESPACES = 0x7E020000
AF_VSOCK = 40
# personality(2) values programs use: Linux, 32-bit Linux, uname26, both, and the query.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# Refused outright: each needs a capability the agent does not have, or opens a kernel
# surface no coding agent needs (the same classes Docker's default profile refuses).
DENIED = frozenset({
    # namespaces and mounts (an unprivileged user namespace would hand out capabilities)
    "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen",
    "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    # kernel keyrings, eBPF, perf, userfaultfd, io_uring, handles, process comparison
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "name_to_handle_at",
    "open_by_handle_at", "kcmp", "lookup_dcookie", "fanotify_init",
    # kernel modules, kexec, reboot, swap, accounting, quotas, syslog, hostnames
    "init_module", "finit_module", "delete_module", "create_module", "query_module",
    "get_kernel_syms", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "quotactl_fd", "syslog", "sethostname", "setdomainname", "vhangup", "bdflush",
    # clocks
    "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
    "clock_adjtime64",
    # NUMA memory policy (Docker allows it only with CAP_SYS_NICE)
    "mbind", "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages",
    "set_mempolicy_home_node",
    # hardware ports, vm86, obsolete interfaces
    "ioperm", "iopl", "vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl",
})

# Calls that set a file's mode, and the index of the mode argument.
MODE_ARGUMENT = {"chmod": 1, "fchmod": 1, "fchmodat": 2, "creat": 1, "open": 2, "openat": 3,
                 "mknod": 1, "mknodat": 2}
# The C library falls back to the calls above when these say "not implemented".
NOT_IMPLEMENTED = ("clone3", "openat2", "fchmodat2")
CONDITIONAL = frozenset({"clone", "personality", "socket"})


def _rule(names: list[str], action: str = "SCMP_ACT_ALLOW", *, errno: int | None = None,
          args: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": names, "action": action}
    if errno is not None:
        rule["errnoRet"] = errno
    if args:
        rule["args"] = args
    return rule


def _arg(index: int, value: int, op: str, value_two: int = 0) -> dict[str, Any]:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def profile() -> dict[str, Any]:
    """The profile, in Docker's JSON format."""
    special = DENIED | set(MODE_ARGUMENT) | set(NOT_IMPLEMENTED) | CONDITIONAL
    rules = [_rule(sorted(SYSCALLS - special))]
    for name, index in MODE_ARGUMENT.items():
        rules.append(_rule([name], args=[_arg(index, SETID_BITS, "SCMP_CMP_MASKED_EQ", 0)]))
    rules.append(_rule(list(NOT_IMPLEMENTED), "SCMP_ACT_ERRNO", errno=ENOSYS))
    rules.append(_rule(["clone"], args=[_arg(0, CLONE_NAMESPACES, "SCMP_CMP_MASKED_EQ", 0)]))
    rules += [_rule(["personality"], args=[_arg(0, p, "SCMP_CMP_EQ")]) for p in PERSONALITIES]
    rules.append(_rule(["socket"], args=[_arg(0, AF_VSOCK, "SCMP_CMP_NE")]))
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": rules,
    }


@cache
def security_opt() -> str:
    """The `--security-opt` value that applies the profile (the engine takes the JSON itself)."""
    return "seccomp=" + json.dumps(profile(), separators=(",", ":"))
