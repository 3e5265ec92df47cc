"""Resource limits of a bottle's containers: memory, processes, CPUs.

Pure (no Docker import): the CLI parser shows the defaults, `bottle start` turns them into
the engine's settings, `bottle ls` and `bottle doctor` read them back from the containers.

Defaults. The agent gets 4 GiB, 1,024 processes (threads count) and every core: enough for
builds and test suites, while a fork bomb or a runaway process stops at its own limit instead
of taking the host down. The egress container's come from `benchmarks/egress_memory.py`
(README, "Limits"): the proxy holds 78 MB resident idle, 94 MB after 400 small requests 8 at
a time, 130 MB while 20 uploads of 30 MiB each are scanned at once, and 1.28 GB while 20
downloads of 30 MiB each are buffered at once, with at most 7 threads. It gets 2 GiB (the
heaviest of those loads with room to spare; a proxy that grows past it is killed and the
bottle loses its only way out, which fails closed), 128 processes and one core (the proxy
runs its Python on one thread; more would only let it take CPU from the agent and the host).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from launcher.errors import LauncherError

MiB = 1024**2
GiB = 1024**3
# Docker refuses memory limits under 6 MB; below this a container cannot even start a shell.
MIN_MEMORY = 32 * MiB
MIN_PIDS = 16

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": MiB, "g": GiB, "t": 1024 * GiB}


@dataclass(frozen=True)
class Limits:
    """One container's limits. `cpus` None: every core of the engine's host."""

    memory: int
    pids: int
    cpus: float | None

    def docker_kwargs(self) -> dict[str, Any]:
        """`containers.create` arguments. Swap equals memory: the limit is not doubled by
        swap on hosts that have some."""
        return {"mem_limit": self.memory, "memswap_limit": self.memory,
                "pids_limit": self.pids, "nano_cpus": cpus_to_nano(self.cpus)}

    def describe(self) -> str:
        """`memory 4 GiB, 1024 pids, all CPUs` (0 memory or pids: no limit)."""
        memory = format_size(self.memory) if self.memory else "unlimited"
        pids = f"{self.pids} pids" if self.pids > 0 else "unlimited pids"
        cpus = ("all CPUs" if self.cpus is None
                else f"{format_cpus(self.cpus)} CPU{'' if self.cpus == 1 else 's'}")
        return f"memory {memory}, {pids}, {cpus}"

    def as_json(self) -> dict[str, Any]:
        return {"memory_bytes": self.memory, "pids": self.pids, "cpus": self.cpus}


AGENT_DEFAULTS = Limits(memory=4 * GiB, pids=1024, cpus=None)
EGRESS_DEFAULTS = Limits(memory=2 * GiB, pids=128, cpus=1.0)


def cpus_to_nano(cpus: float | None) -> int:
    return 0 if cpus is None else round(cpus * 1e9)


def parse_memory(flag: str, value: str) -> int:
    """`512m`, `4g`, `4GiB`, `1073741824`: binary units, as Docker reads them."""
    m = _SIZE.match(value)
    if not m:
        raise LauncherError(f"{flag} {value!r}: expected a size such as 512m, 4g or 4GiB",
                            exit_code=2)
    size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if size < MIN_MEMORY:
        raise LauncherError(f"{flag} {value}: at least {format_size(MIN_MEMORY)}", exit_code=2)
    return size


def parse_pids(flag: str, value: str) -> int:
    try:
        pids = int(value)
    except ValueError:
        raise LauncherError(f"{flag} {value!r}: expected a number of processes", exit_code=2) from None
    if pids < MIN_PIDS:
        raise LauncherError(f"{flag} {value}: at least {MIN_PIDS} (the container's own "
                            "processes count too)", exit_code=2)
    return pids


def parse_cpus(flag: str, value: str) -> float | None:
    if value.strip().lower() == "all":
        return None
    try:
        cpus = float(value)
    except ValueError:
        raise LauncherError(f"{flag} {value!r}: expected a number of CPUs (1.5) or all",
                            exit_code=2) from None
    if not 0.01 <= cpus <= 1024:
        raise LauncherError(f"{flag} {value}: expected 0.01 or more (or all)", exit_code=2)
    return cpus


def limits_from_flags(flags: Mapping[str, str | None], prefix: str, defaults: Limits) -> Limits:
    """Limits from `--{prefix}memory`, `--{prefix}pids`, `--{prefix}cpus` (None: default)."""
    memory, pids, cpus = (flags.get(k) for k in ("memory", "pids", "cpus"))
    return Limits(
        memory=defaults.memory if memory is None else parse_memory(f"--{prefix}memory", memory),
        pids=defaults.pids if pids is None else parse_pids(f"--{prefix}pids", pids),
        cpus=defaults.cpus if cpus is None else parse_cpus(f"--{prefix}cpus", cpus))


def limits_of(host_config: dict[str, Any]) -> Limits | None:
    """A container's limits as the engine holds them; None when it has none at all (a
    container from before the launcher set limits)."""
    memory = int(host_config.get("Memory") or 0)
    pids = int(host_config.get("PidsLimit") or 0)
    nano = int(host_config.get("NanoCpus") or 0)
    if not memory and pids <= 0 and not nano:
        return None
    return Limits(memory=memory, pids=pids, cpus=nano / 1e9 if nano else None)


def format_size(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB)):
        if n >= size and n % (size // 16) == 0:
            return f"{n / size:g} {unit}"
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} B"


def format_cpus(cpus: float) -> str:
    return f"{cpus:g}"
