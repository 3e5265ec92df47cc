"""`bottle doctor`'s isolation checks: what the bottle's containers really run with.

Read from inside each container (its own user, a POSIX shell), not from the launcher's
settings, so an engine that ignored a setting shows up: the agent's uid and gid, its
capabilities (effective and bounding), no-new-privileges and seccomp (`/proc/1/status`), the
workdir's mount flags (`/proc/self/mountinfo`), and the memory, process and CPU limits of the
agent and egress containers (their cgroup files, v1 or v2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from launcher.limits import Limits

# Prints /proc/1/status, then `@mount <mountinfo line>` for /workspace and
# `@cgroup <file> <value>` for every limit file it can read (cgroup v2, then v1 names).
SCRIPT = r"""
cat /proc/1/status 2>/dev/null
while IFS= read -r line; do
  set -- $line
  [ "$5" = /workspace ] && echo "@mount $line"
done < /proc/self/mountinfo
for f in memory.max pids.max cpu.max memory/memory.limit_in_bytes pids/pids.max \
         cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us; do
  [ -r "/sys/fs/cgroup/$f" ] && echo "@cgroup $f $(cat "/sys/fs/cgroup/$f")"
done
exit 0
"""

# Linux capability numbers -> names, for a readable CapEff/CapBnd.
CAPABILITIES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore")
# cgroup v1 reports "no memory limit" as the largest page-aligned 63-bit value.
UNLIMITED_V1 = 1 << 62


@dataclass
class Check:
    name: str
    status: str  # ok | fails | note | inconclusive
    detail: str


@dataclass
class Inside:
    """One container as seen from inside it."""

    status: dict[str, str]
    mount_options: list[str] | None  # /workspace's per-mount options, None without one
    cgroup: dict[str, str]


def parse_inside(text: str) -> Inside:
    status: dict[str, str] = {}
    mount: list[str] | None = None
    cgroup: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("@mount "):
            fields = line.split()
            if len(fields) > 6:
                mount = fields[6].split(",")
        elif line.startswith("@cgroup "):
            parts = line.split(None, 2)
            if len(parts) == 3:
                cgroup[parts[1]] = parts[2].strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            status[key.strip()] = value.strip()
    return Inside(status, mount, cgroup)


def cap_names(hex_mask: str) -> str:
    try:
        mask = int(hex_mask, 16)
    except ValueError:
        return f"unreadable ({hex_mask!r})"
    if not mask:
        return "none"
    names = [name for bit, name in enumerate(CAPABILITIES) if mask >> bit & 1]
    unknown = mask >> len(CAPABILITIES)
    return ",".join(names + ([f"0x{unknown << len(CAPABILITIES):x}"] if unknown else []))


def cgroup_limits(cgroup: dict[str, str]) -> Limits | None:
    """The limits in force, from the cgroup files (0 memory / 0 pids: none)."""
    if not cgroup:
        return None
    memory = pids = 0
    cpus: float | None = None
    raw_memory = cgroup.get("memory.max") or cgroup.get("memory/memory.limit_in_bytes")
    if raw_memory and raw_memory != "max" and int(raw_memory) < UNLIMITED_V1:
        memory = int(raw_memory)
    raw_pids = cgroup.get("pids.max") or cgroup.get("pids/pids.max")
    if raw_pids and raw_pids != "max":
        pids = int(raw_pids)
    if "cpu.max" in cgroup:
        quota, _, period = cgroup["cpu.max"].partition(" ")
        if quota != "max" and period:
            cpus = int(quota) / int(period)
    else:
        quota_s = cgroup.get("cpu/cpu.cfs_quota_us", "-1")
        period_s = cgroup.get("cpu/cpu.cfs_period_us", "0")
        if int(quota_s) > 0 and int(period_s) > 0:
            cpus = int(quota_s) / int(period_s)
    return Limits(memory=memory, pids=pids, cpus=cpus)


def limits_check(name: str, inside: Inside, configured: Limits | None) -> Check:
    found = cgroup_limits(inside.cgroup)
    if found is None:
        return Check(name, "inconclusive", "no cgroup limit file is readable inside")
    missing = [what for what, value in (("memory", found.memory), ("pids", found.pids))
               if not value]
    detail = found.describe()
    if configured is not None and (found.memory, found.pids) != (configured.memory,
                                                                 configured.pids):
        return Check(name, "fails", f"{detail}; the container was created with "
                     f"{configured.describe()}")
    if missing:
        return Check(name, "fails", f"{detail}: no {' or '.join(missing)} limit")
    return Check(name, "ok", detail)


def agent_checks(inside: Inside, configured: Limits | None) -> list[Check]:
    st = inside.status
    checks: list[Check] = []
    uid = (st.get("Uid") or "?").split()
    gid = (st.get("Gid") or "?").split()
    checks.append(Check("agent user", "fails" if "0" in uid else "ok",
                        f"uid {uid[0]}, gid {gid[0]}" + (": root" if "0" in uid else "")))
    eff, bnd = st.get("CapEff", "?"), st.get("CapBnd", "?")
    checks.append(Check("capabilities", "ok" if eff.strip("0") == "" else "fails",
                        f"effective {cap_names(eff)}; bounding {cap_names(bnd)}"))
    nnp = st.get("NoNewPrivs", "?")
    checks.append(Check("no-new-privileges", "ok" if nnp == "1" else "fails", f"NoNewPrivs {nnp}"))
    mode = st.get("Seccomp", "?")
    label = {"0": "disabled", "1": "strict", "2": "filter"}.get(mode, "unknown")
    checks.append(Check("seccomp", "ok" if mode == "2" else "fails", f"mode {mode} ({label})"))
    if inside.mount_options is None:
        checks.append(Check("workdir", "note", "no /workspace mount (started without --workdir)"))
    else:
        opts = inside.mount_options
        lacking = [flag for flag in ("nosuid", "nodev") if flag not in opts]
        checks.append(Check("workdir", "fails" if lacking else "ok",
                            f"/workspace {','.join(opts)}"
                            + (f": not {','.join(lacking)}" if lacking else "")))
    checks.append(limits_check("agent limits", inside, configured))
    return checks


def read_inside(container: Any, user: str = "") -> Inside | None:
    res = container.exec_run(["sh", "-c", SCRIPT], user=user, demux=True)
    out, _ = res.output
    if res.exit_code != 0 or not out:
        return None
    return parse_inside(out.decode(errors="replace"))
