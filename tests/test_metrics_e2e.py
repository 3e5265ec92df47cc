"""`bottle egress run --metrics-listen`: the real proxy, scraped over HTTP while real clients
(curl) go through it to the local TLS origin. Counters must move by exactly the events the
test caused; no hostname, path or secret may reach the exposition."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from egress.metrics import SERIES
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.proxy import REPO, EgressProcess

SECRET = "ghp_Q7vXr2LmN9pK4sT8wY1zB6cD3fG5hJ3bVNdR"  # DLP's github-pat shape (test value)
REAL_TOKEN = "real-metrics-token-7c0f1e2d9a8b6c5d4e3f"  # the credential's real value
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test, api.allowed.test]
    credentials:
      - name: metrics-api
        host: api.allowed.test
        header: "Authorization: Bearer {{secret}}"
        source: {env: REAL_METRICS_TOKEN}
        placeholder: {env: METRICS_API_TOKEN}
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port: int) -> tuple[Samples, str]:
    status, text = get(port, "/metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return samples, text


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def curl(proc: EgressProcess, url: str, *extra: str) -> tuple[str, bytes]:
    res = subprocess.run(["curl", "-sS", "--max-time", "15", "-w", "\n%{http_connect} %{http_code}",
                          *extra, url], env=proc.client_env(), capture_output=True, check=False)
    body, _, codes = res.stdout.rpartition(b"\n")
    connect, code = codes.decode().split()
    return (code if code != "000" else connect), body


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_counters_move_by_exactly_an_allowed_request_a_denial_a_dlp_block_and_a_reload(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    port = free_port()
    policy = write_policy(POLICY)
    proc = egress(policy, "--metrics-listen", f"127.0.0.1:{port}",
                  env={"REAL_METRICS_TOKEN": REAL_TOKEN})
    assert get(port, "/healthz") == (200, "ok\n")
    status, body = get(port, "/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True})

    before, _ = scrape(port)
    start = next(e for e in events(proc.audit_path) if e["event"] == "start")
    assert before[("bottle_egress_policy_info", (("digest", start["policy"]),))] == 1
    assert total(before, "bottle_egress_flows_total") == 0
    assert total(before, "bottle_egress_ca_remaining_seconds") > 23 * 3600  # 24 h default

    base = f"https://allowed.test:{origin.port}"
    assert curl(proc, f"{base}/allowed")[0] == "200"
    assert curl(proc, f"https://denied.test:{origin.port}/denied")[0] == "403"
    code, denial = curl(proc, f"{base}/dlp", "--data-binary", f"token={SECRET}")
    assert code == "403"
    dlp_rule = json.loads(denial)["rule"].split("/", 1)[1]
    placeholder = proc.env["METRICS_API_TOKEN"]
    assert curl(proc, f"https://api.allowed.test:{origin.port}/cred", "-H",
                f"Authorization: Bearer {placeholder}")[0] == "200"
    # What the origin received: the allowed request, and the credentialed one with the real value.
    assert origin.paths() == ["/allowed", "/cred"]
    assert {k.lower(): v for k, v in origin.seen[1].headers.items()}["authorization"] == (
        f"Bearer {REAL_TOKEN}")

    after, text = scrape(port)
    flows = "bottle_egress_flows_total"
    assert total(after, flows) == 4
    assert total(after, flows, verdict="allow", scanner="none", rule="none") == 2
    assert total(after, flows, verdict="block", scanner="hosts") == 1
    assert total(after, flows, verdict="block", scanner="hosts", rule="other") == 0
    assert total(after, flows, verdict="block", scanner="dlp", rule=dlp_rule, action="block") == 1
    assert total(after, "bottle_egress_findings_total", scanner="dlp", rule=dlp_rule) == 1
    assert total(after, "bottle_egress_credential_injections_total", credential="metrics-api") == 1
    assert total(after, "bottle_egress_scanned_bytes_total", location="body") >= len(f"token={SECRET}")
    assert total(after, "bottle_egress_scanned_bytes_total", location="url") > 0
    assert total(after, "bottle_egress_hook_seconds_count", hook="request") >= 3
    assert total(after, "bottle_egress_body_scan_seconds_count", size="1KiB") == 1
    assert total(after, "bottle_egress_policy_reloads_total") == 0
    assert total(after, "bottle_egress_failclosed_errors_total") == 0
    assert total(after, "bottle_egress_dns_queries_total") == 0

    # A valid edit, then a broken one: one reload each way, the digest follows the good one.
    policy.write_text(policy.read_text().replace("api.allowed.test]", "api.allowed.test, other.test]"))
    wait_for(lambda: total(scrape(port)[0], "bottle_egress_policy_reloads_total") >= 1)
    reload = next(e for e in events(proc.audit_path) if e["event"] == "policy-reload")
    policy.write_text("hosts: [\n")
    wait_for(lambda: total(scrape(port)[0], "bottle_egress_policy_reloads_total") >= 2)
    reloaded, text2 = scrape(port)
    assert total(reloaded, "bottle_egress_policy_reloads_total", result="ok") == 1
    assert total(reloaded, "bottle_egress_policy_reloads_total", result="failed") == 1
    info = {dict(ls)["digest"]: v for (n, ls), v in reloaded.items() if n == "bottle_egress_policy_info"}
    assert info == {reload["policy"]: 1}
    assert total(reloaded, flows) == 4  # reloads are not flows

    # Nothing from traffic in the exposition: no secret, credential value, host or path.
    for leak in (SECRET, REAL_TOKEN, placeholder, "denied.test", "allowed.test", "/dlp", "/cred"):
        assert leak not in text and leak not in text2, leak
    for artefact in (proc.audit_path.read_text(), proc.stderr()):
        assert SECRET not in artefact and REAL_TOKEN not in artefact
    assert proc.stop() == 0


def test_many_distinct_hosts_through_the_proxy_add_no_series(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    port = free_port()
    proc = egress(write_policy(POLICY), "--metrics-listen", f"127.0.0.1:{port}",
                  env={"REAL_METRICS_TOKEN": REAL_TOKEN})
    assert curl(proc, f"https://denied.test:{origin.port}/x")[0] == "403"
    first, _ = scrape(port)
    for i in range(25):
        assert curl(proc, f"https://h{i}-metrics.denied.test:{origin.port}/p{i}")[0] == "403"
    later, text = scrape(port)
    assert set(later) == set(first)
    assert total(later, "bottle_egress_flows_total", verdict="block", scanner="hosts") == 26
    assert "metrics.denied" not in text


def test_readyz_is_unready_while_the_upstream_is_down_and_ready_once_it_listens(
        egress: EgressFactory, write_policy: PolicyWriter) -> None:
    port, upstream = free_port(), free_port()
    proc = egress(write_policy(POLICY), "--metrics-listen", f"127.0.0.1:{port}",
                  "--upstream", f"http://127.0.0.1:{upstream}", env={"REAL_METRICS_TOKEN": REAL_TOKEN})
    status, body = get(port, "/readyz")
    assert status == 503
    assert json.loads(body)["ready"] is False
    assert f"upstream 127.0.0.1:{upstream} unreachable" in json.loads(body)["reason"]
    assert get(port, "/healthz")[0] == 200  # alive all the same: a restart would not help
    with socket.create_server(("127.0.0.1", upstream)):
        wait_for(lambda: get(port, "/readyz")[0] == 200)
        assert get(port, "/readyz") == (200, '{"ready": true}\n')
    wait_for(lambda: get(port, "/readyz")[0] == 503)
    assert get(port, "/readyz")[0] == 503
    assert get(port, "/nothing-here")[0] == 404
    assert proc.stop() == 0


def _run(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "egress", "run", "--listen",
                           "127.0.0.1:0", "--state-dir", str(tmp / "state"), "--audit-log",
                           str(tmp / "audit.jsonl"), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)


def test_a_busy_or_malformed_metrics_address_is_a_one_line_start_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        res = _run("--metrics-listen", f"127.0.0.1:{port}", tmp=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        f"bottle: --metrics-listen 127.0.0.1:{port}: cannot listen (Address already in use)")
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())
    res = _run("--metrics-listen", "9090", tmp=tmp_path)
    assert res.returncode == 2
    assert res.stderr == ("bottle: --metrics-listen '9090': expected HOST:PORT, e.g. 127.0.0.1:9090 "
                          "(port 0 picks a free port)\n")


def test_every_exposed_family_is_documented_in_series() -> None:
    from egress.metrics import ProxyMetrics
    from proxy.chain import DISPATCHED_HOOKS

    exposed = {f.name for f in text_string_to_metric_families(
        ProxyMetrics(hooks=DISPATCHED_HOOKS).exposition().decode())}
    documented = {name.removesuffix("_total") for name, *_ in SERIES}
    assert exposed == documented


def test_a_failing_addon_hook_is_counted_by_addon_and_hook_without_its_data(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    port = free_port()
    canary = "metrics-canary-5e1b7d"
    proc = egress(write_policy(POLICY), "--metrics-listen", f"127.0.0.1:{port}", "--addon",
                  str(REPO / "tests/support/failing_addon.py"), env={"REAL_METRICS_TOKEN": REAL_TOKEN})
    code, _ = curl(proc, f"https://allowed.test:{origin.port}/boom-{canary}")
    assert code == "502"
    assert origin.paths() == []  # failed closed: nothing reached the origin
    samples, text = scrape(port)
    assert total(samples, "bottle_egress_failclosed_errors_total") == 1
    assert total(samples, "bottle_egress_failclosed_errors_total", addon="exploding", hook="request") == 1
    assert total(samples, "bottle_egress_flows_total", verdict="block", scanner="error",
                 rule="addon-exception") == 1
    assert ("bottle_egress_open_connections", ()) in samples
    assert canary not in text
