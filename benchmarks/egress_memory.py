"""Memory and threads of a bottle's egress container under load, printed as JSON: the figures
behind the launcher's egress limits (`launcher/limits.py`).

One bottle (`bottle start --inspect`, the test origin behind it, no upstream proxy), then, in
order, each phase's peak resident memory of the proxy process (VmHWM, read from the host's
/proc; the cgroup's own peak too, which adds the tmpfs files and page cache the limit also
counts), its thread count, and the CPU it used (seconds, and cores on average over the
phase):
- idle: 2 s after the first request;
- burst: REQUESTS small HTTPS requests, CONCURRENCY at a time, a new connection each;
- uploads: PARALLEL POSTs of SIZE MiB each at once (buffered and scanned by DLP);
- downloads: PARALLEL GETs of SIZE MiB each at once.
A phase that kills the proxy (the container's memory limit) is reported as `oom_killed`.

Run as root with a Docker engine:
    .venv/bin/python -m benchmarks.egress_memory [--egress-memory 1g] [--parallel 20 --size 30]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.docker_env import (
    bottle_cli,
    build_test_images,
    docker_client,
    outside_world,
    release_test_images,
    run_name,
)
from tests.support.pki import TestPKI

# The origin lives on the test network's private address: the proxy may dial it (ORIGIN_IP).
POLICY = ("version: 1\nhosts:\n  allow:\n    - name: origin\n      hosts: [allowed.test]\n"
          "  allow_private: [ORIGIN_IP]\n"
          "dns:\n  private_answers: [allowed.test]\n")


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "Threads"):
            out[key] = int(value.split()[0])
    return out


def cgroup_peak_mb(egress: Any) -> float | None:
    res = egress.exec_run(["sh", "-c", "cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes "
                           "2>/dev/null || cat /sys/fs/cgroup/memory.peak"], user="10001")
    try:
        return round(int(res.output.decode().strip()) / 2**20, 1)
    except ValueError:
        return None


def cgroup_cpu_seconds(egress: Any) -> float | None:
    """CPU time of the whole container: cgroup v1 counts nanoseconds, v2 microseconds."""
    res = egress.exec_run(["sh", "-c", "f=/sys/fs/cgroup/cpuacct/cpuacct.usage; "
                           "if [ -r $f ]; then echo ns $(cat $f); else "
                           "echo us $(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat); fi"],
                          user="10001")
    unit, _, value = res.output.decode().strip().partition(" ")
    try:
        return int(value) / (1e9 if unit == "ns" else 1e6)
    except ValueError:
        return None


def phase(agent: Any, egress: Any, pid: int, script: str) -> dict[str, Any]:
    cpu_before = cgroup_cpu_seconds(egress)
    t0 = time.monotonic()
    out = agent.exec_run(["sh", "-c", script]).output.decode(errors="replace")
    seconds = round(time.monotonic() - t0, 1)
    egress.reload()
    if egress.status != "running":
        state = egress.attrs["State"]
        return {"seconds": seconds, "oom_killed": state.get("OOMKilled"),
                "exit_code": state.get("ExitCode"), "client": out.strip()[-300:]}
    status = proc_status(pid)
    cpu_after = cgroup_cpu_seconds(egress)
    cpu = (round(cpu_after - cpu_before, 1)
           if cpu_before is not None and cpu_after is not None else None)
    return {"seconds": seconds, "cpu_seconds": cpu,
            "cpu_cores_average": round(cpu / seconds, 2) if cpu and seconds else None,
            "peak_rss_mb": round(status["VmHWM"] / 1024, 1),
            "rss_after_mb": round(status["VmRSS"] / 1024, 1), "threads": status["Threads"],
            "cgroup_peak_mb": cgroup_peak_mb(egress), "client": out.strip()[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--egress-memory", default=None, help="the egress limit (default: launcher's)")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--size", type=int, default=30, help="MiB per upload and download")
    ap.add_argument("--skip", action="append", default=[], choices=["uploads", "downloads"])
    args = ap.parse_args()

    client = docker_client()
    images = build_test_images(client)
    tmp = Path(tempfile.mkdtemp(prefix="bottle-bench-"))
    pki = TestPKI(tmp)
    policy = tmp / "policy.yaml"
    name = run_name("bench-mem")
    report: dict[str, Any] = {"benchmark": "egress_memory", "load_average_before":
                              round(os.getloadavg()[0], 2)}
    # Undone in reverse: the bottle is stopped before the outside world goes (its egress
    # container is attached to the world's network, which cannot be removed while it is).
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(release_test_images, client, images)
        world = cleanup.enter_context(
            outside_world(client, images, pki.server_cert("origin", ["allowed.test"])))
        policy.write_text(POLICY.replace("ORIGIN_IP", world.origin_ip))
        cleanup.callback(bottle_cli, "stop", name)
        extra = ["--egress-memory", args.egress_memory] if args.egress_memory else []
        res = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                         "--egress-image", images["egress"], "--policy", str(policy),
                         "--upstream", "none", "--upstream-network", world.network,
                         "--upstream-ca", str(pki.ca_path), *extra, "--json", "--",
                         "sleep", "infinity")
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        agent = client.containers.get(f"bottle-{name}-agent")
        egress = client.containers.get(f"bottle-{name}-egress")
        report["egress_limit_mb"] = round(egress.attrs["HostConfig"]["Memory"] / 2**20)
        pid = egress.attrs["State"]["Pid"]
        size = args.size * 2**20
        report["idle"] = phase(agent, egress, pid, "curl -sf -o /dev/null "
                               "https://allowed.test/hello && sleep 2; echo rc=$?")
        report["burst"] = phase(agent, egress, pid, (
            f"seq {args.requests} | xargs -P {args.concurrency} -I{{}} "
            "curl -sf -o /dev/null https://allowed.test/echo/{}; echo rc=$?"))
        if "uploads" not in args.skip:
            report["uploads"] = phase(agent, egress, pid, (
                f"head -c {size} /dev/zero | tr '\\0' a > /tmp/up; "
                f"seq {args.parallel} | xargs -P {args.parallel} -I{{}} curl -s -o /dev/null "
                "-w '%{http_code} ' --data-binary @/tmp/up https://allowed.test/sink; "
                "echo; echo rc=$?"))
        if "downloads" not in args.skip and egress.status == "running":
            report["downloads"] = phase(agent, egress, pid, (
                f"seq {args.parallel} | xargs -P {args.parallel} -I{{}} curl -s -o /dev/null "
                f"-w '%{{http_code}} ' https://allowed.test/bytes/{size}; echo; echo rc=$?"))
    report["parallel"], report["size_mib"] = args.parallel, args.size
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
