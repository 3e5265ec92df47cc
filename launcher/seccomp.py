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


# Every Linux system call name, as of Linux 6.1: the union of the x86_64, i386 and generic
# (arm64, riscv64, ...) tables of the kernel's UAPI headers (`asm/unistd_64.h`, `asm/unistd_32.h`,
# `asm-generic/unistd.h`). Data only; the functions above build the profile from it.
#
# A name the engine's libseccomp does not know for its architecture is skipped by the runtime;
# a call newer than this table is refused (the runtime answers ENOSYS above the highest number
# the profile names, EPERM otherwise), as Docker's own default profile does.
SYSCALLS: frozenset[str] = frozenset((
    "_llseek", "_newselect", "_sysctl", "accept", "accept4", "access", "acct", "add_key",
    "adjtimex", "afs_syscall", "alarm", "arch_prctl", "bdflush", "bind", "bpf", "break", "brk",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "chroot", "clock_adjtime",
    "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
    "clock_nanosleep", "clock_nanosleep_time64", "clock_settime", "clock_settime64", "clone",
    "clone3", "close", "close_range", "connect", "copy_file_range", "creat", "create_module",
    "delete_module", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
    "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
    "fadvise64", "fadvise64_64", "fallocate", "fanotify_init", "fanotify_mark", "fchdir",
    "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
    "fgetxattr", "finit_module", "flistxattr", "flock", "fork", "fremovexattr", "fsconfig",
    "fsetxattr", "fsmount", "fsopen", "fspick", "fstat", "fstat64", "fstatat", "fstatat64",
    "fstatfs", "fstatfs64", "fsync", "ftime", "ftruncate", "ftruncate64", "futex", "futex_time64",
    "futex_waitv", "futimesat", "get_kernel_syms", "get_mempolicy", "get_robust_list",
    "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getpmsg", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
    "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32",
    "getxattr", "gtty", "idle", "init_module", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
    "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "io_uring_enter",
    "io_uring_register", "io_uring_setup", "ioctl", "ioperm", "iopl", "ioprio_get", "ioprio_set",
    "ipc", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "llseek", "lock", "lookup_dcookie",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "mbind", "membarrier",
    "memfd_create", "memfd_secret", "migrate_pages", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mount",
    "mount_setattr", "move_mount", "move_pages", "mprotect", "mpx", "mq_getsetattr", "mq_notify",
    "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "nfsservctl", "nice",
    "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname", "open", "open_by_handle_at",
    "open_tree", "openat", "openat2", "pause", "perf_event_open", "personality", "pidfd_getfd",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pivot_root", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_madvise", "process_mrelease", "process_vm_readv", "process_vm_writev",
    "prof", "profil", "pselect6", "pselect6_time64", "ptrace", "putpmsg", "pwrite64", "pwritev",
    "pwritev2", "query_module", "quotactl", "quotactl_fd", "read", "readahead", "readdir",
    "readlink", "readlinkat", "readv", "reboot", "recvfrom", "recvmmsg", "recvmmsg_time64",
    "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
    "request_key", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "security", "select", "semctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "set_mempolicy", "set_mempolicy_home_node", "set_robust_list", "set_thread_area",
    "set_tid_address", "setdomainname", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "sethostname", "setitimer", "setns",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "setsid", "setsockopt", "settimeofday",
    "setuid", "setuid32", "setxattr", "sgetmask", "shmat", "shmctl", "shmdt", "shmget",
    "shutdown", "sigaction", "sigaltstack", "signal", "signalfd", "signalfd4", "sigpending",
    "sigprocmask", "sigreturn", "sigsuspend", "socket", "socketcall", "socketpair", "splice",
    "ssetmask", "stat", "stat64", "statfs", "statfs64", "statx", "stime", "stty", "swapoff",
    "swapon", "symlink", "symlinkat", "sync", "sync_file_range", "sync_file_range2", "syncfs",
    "sysfs", "sysinfo", "syslog", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "tuxcall", "ugetrlimit",
    "ulimit", "umask", "umount", "umount2", "uname", "unlink", "unlinkat", "unshare", "uselib",
    "userfaultfd", "ustat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vhangup", "vm86", "vm86old", "vmsplice", "vserver", "wait4", "waitid", "waitpid", "write",
    "writev"
))
