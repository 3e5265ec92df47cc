"""`bottle start --inspect` latency and the egress container's memory, printed as JSON.

- start: wall time from running `bottle start --inspect` (a fresh CLI process, images present)
  to the agent's first successful HTTPS request through egress -> squid -> TLS origin; the
  baseline in the same run is a plain `docker run` of the same agent image on the origin's
  network making the same request through squid alone (no launcher, no inspection).
- memory: RSS of the egress container's proxy process (read from the host's /proc), idle
  2 s after the first request (every run's; for the last run also split into private and
  shared file-backed pages, and PSS), and peak while the agent sends a bounded burst of
  HTTPS requests (new connection per request).

Targets: start < 3 s, idle RSS < 80 MB. Run as root with a Docker engine:
    .venv/bin/python -m benchmarks.bottle_start [--runs 5] [--requests 400]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from launcher.bottle import Names
from tests.support.docker_env import (
    bottle_cli,
    build_test_images,
    docker_client,
    outside_world,
    release_test_images,
    run_name,
    tar_files,
)
from tests.support.pki import TestPKI

POLICY = "version: 1\nhosts:\n  allow:\n    - name: origin\n      hosts: [allowed.test]\n"
FIRST_REQUEST = ("until curl -sf -o /dev/null https://allowed.test/hello; do sleep 0.02; done; "
                 "date +%s.%N; exec sleep infinity")


def status_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for_stamp(container: Any, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = container.logs(stdout=True, stderr=False).decode().strip()
        if out:
            return float(out.splitlines()[-1])
        time.sleep(0.02)
    raise RuntimeError(f"{container.name} made no successful request: {container.logs().decode()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()

    load_before = round(os.getloadavg()[0], 2)
    client = docker_client()
    images = build_test_images(client)
    tmp = Path(tempfile.mkdtemp(prefix="bottle-bench-"))
    atexit.register(shutil.rmtree, tmp, True)  # the test PKI's keys
    pki = TestPKI(tmp)
    cert = pki.server_cert("origin", ["allowed.test"])
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    name = run_name("bench")
    starts, cli_times, baselines = [], [], []
    idle_all: list[float] = []
    memory: dict[str, float] = {}
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(release_test_images, client, images)
        world = cleanup.enter_context(outside_world(client, images, cert))
        for run in range(args.runs):
            # Baseline: the agent image, straight on the origin's network, through squid only.
            t0 = time.time()
            plain = client.containers.create(
                images["agent"], ["sh", "-c", FIRST_REQUEST], detach=True, network=world.network,
                environment={"HTTPS_PROXY": world.squid_url, "CURL_CA_BUNDLE": "/srv/ca.pem"},
                labels={"io.bottle-egress.test": "bench"})
            plain.put_archive("/srv", tar_files({"ca.pem": pki.ca_path.read_bytes()}))
            plain.start()
            baselines.append(wait_for_stamp(plain) - t0)
            plain.remove(force=True)

            bottle_cli("stop", name)
            t0 = time.time()
            res = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                             "--egress-image", images["egress"], "--policy", str(policy),
                             "--upstream", world.squid_url, "--upstream-network", world.network,
                             "--upstream-ca", str(pki.ca_path), "--", "sh", "-c", FIRST_REQUEST)
            cli_times.append(time.time() - t0)
            if res.returncode != 0:
                raise RuntimeError(res.stderr)
            agent = client.containers.get(Names(name).agent)
            starts.append(wait_for_stamp(agent) - t0)
            egress = client.containers.get(Names(name).egress)
            pid = egress.attrs["State"]["Pid"]
            time.sleep(2)
            # Every run's idle RSS: file-backed pages vary by ~1 MB from run to run.
            idle_all.append(rss_mb(pid))
            if run == args.runs - 1:
                memory["idle_rss_mb"] = round(rss_mb(pid), 1)
                # RSS counts the shared libraries' pages too; every bottle's egress maps the
                # same image files, so the private part is what one more bottle costs.
                memory["idle_private_mb"] = round(status_mb(pid, "RssAnon"), 1)
                memory["idle_shared_file_mb"] = round(status_mb(pid, "RssFile"), 1)
                memory["idle_pss_mb"] = round(pss_mb(pid), 1)
                peak = [memory["idle_rss_mb"]]
                done = threading.Event()

                def sample(pid: int = pid, peak: list[float] = peak, done: threading.Event = done
                           ) -> None:
                    while not done.is_set():
                        peak.append(rss_mb(pid))
                        time.sleep(0.05)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                load = (f"seq {args.requests} | xargs -P {args.concurrency} -I{{}} "
                        "curl -sf -o /dev/null https://allowed.test/echo/{}; echo rc=$?")
                t_load = time.monotonic()
                out = agent.exec_run(["sh", "-c", load]).output.decode()
                load_s = time.monotonic() - t_load
                done.set()
                sampler.join()
                memory["load_peak_rss_mb"] = round(max(peak), 1)
                memory["after_load_rss_mb"] = round(rss_mb(pid), 1)
                memory["load_requests"] = args.requests
                memory["load_concurrency"] = args.concurrency
                memory["load_requests_per_s"] = round(args.requests / load_s, 1)
                memory["load_ok"] = out.strip().endswith("rc=0")
            bottle_cli("stop", name)

    def summary(xs: list[float]) -> dict[str, float]:
        return {"median_s": round(statistics.median(xs), 3), "min_s": round(min(xs), 3),
                "max_s": round(max(xs), 3)}

    print(json.dumps({
        "benchmark": "bottle_start",
        "runs": args.runs,
        # 2 shared cores: CPU-bound steps (the CLI's imports, the egress boot) stretch with load
        "load_average_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "start_to_first_https_request": summary(starts),
        "start_command_returns": summary(cli_times),
        "baseline_plain_docker_run_to_first_request": summary(baselines),
        "egress_memory": memory,
        "egress_idle_rss_mb_every_run": {"median": round(statistics.median(idle_all), 1),
                                         "min": round(min(idle_all), 1),
                                         "max": round(max(idle_all), 1)},
        "targets": {"start_s": 3.0, "idle_rss_mb": 80},
    }, indent=2))


if __name__ == "__main__":
    main()
