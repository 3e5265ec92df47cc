"""What the Kubernetes manifests rely on `bottle egress run` for, tested live without a cluster:
- `--export-dir`: the public CA files appear in the pod's shared volume once the proxy listens
  (the sidecar's startup probe waits for them), never the key, and go at stop;
- the policy mounted from a ConfigMap (a `..data` symlink swapped to a new timestamped
  directory on every update) is hot-reloaded;
- in a pod the DNS guard is the egress container's resolver too: the proxy still reaches its
  upstream (pipelock's Service name, a private address) through it, while other names keep
  every check.
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from tests.conftest import LOCAL_ORIGIN_FLAGS, EgressFactory, PolicyWriter, private_key_files
from tests.support.dns import DNSFixture
from tests.support.origin import Origin
from tests.support.proxy import EgressProcess
from tests.support.squid import Squid

POLICY = "hosts:\n  allow:\n    - hosts: [allowed.test]\n"
REPO = Path(__file__).resolve().parents[1]
EGRESS_RUN = [sys.executable, "-m", "cli.main", "egress", "run", "--listen", "127.0.0.1:0"]


def _status(env: dict[str, str], url: str, *extra: str) -> str:
    res = subprocess.run(["curl", "-sS", "--max-time", "15", "-o", "/dev/null", "-w",
                          "%{http_connect} %{http_code}", *extra, url], env=env,
                         capture_output=True, text=True, check=False)
    connect, code = res.stdout.split()
    return code if code != "000" else connect


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def test_export_dir_gets_only_the_public_ca_files_once_listening_and_loses_them_at_stop(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    export = tmp_path / "bottle-ca"  # the pod's shared emptyDir
    export.mkdir()
    proc = egress(write_policy(POLICY), "--export-dir", str(export))
    assert sorted(p.name for p in export.iterdir()) == ["bottle-ca.pem", "ca-bundle.pem"]
    for p in export.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644  # another uid (the agent) reads them
        assert b"PRIVATE KEY" not in p.read_bytes()
    cert = (export / "bottle-ca.pem").read_bytes()
    assert cert == (proc.state_dir / "bottle-ca.pem").read_bytes()
    assert cert in (export / "ca-bundle.pem").read_bytes()
    # A client that trusts nothing but the exported bundle gets through the intercepting proxy.
    env = {k: v for k, v in proc.client_env().items()
           if k not in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE")}
    url = f"https://allowed.test:{origin.port}/exported"
    assert _status(env, url, "--cacert", str(export / "ca-bundle.pem")) == "200"
    assert origin.paths() == ["/exported"]
    assert private_key_files(tmp_path) == []
    assert proc.stop() == 0
    assert list(export.iterdir()) == []


def test_export_dir_that_cannot_be_written_is_a_clear_start_error(
        write_policy: PolicyWriter, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    res = subprocess.run([*EGRESS_RUN, "--policy", str(write_policy(POLICY)),
                          "--state-dir", str(tmp_path / "state"), "--export-dir", str(missing)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert res.returncode == 2
    assert f"--export-dir {missing}: not a directory this user can write" in res.stderr
    assert "Traceback" not in res.stderr


def _configmap_dir(root: Path, text: str, generation: int) -> None:
    """What the kubelet makes of a ConfigMap volume: `KEY -> ..data/KEY`, `..data -> ..<ts>`;
    an update writes a new timestamped directory and renames a new `..data` link over the old."""
    ts = root / f"..2026_01_01_00_00_0{generation}.{random.randint(1000, 9999)}"
    ts.mkdir()
    (ts / "policy.yaml").write_text(text)
    tmp_link = root / "..data_tmp"
    tmp_link.symlink_to(ts.name)
    os.replace(tmp_link, root / "..data")
    if not (root / "policy.yaml").is_symlink():
        (root / "policy.yaml").symlink_to("..data/policy.yaml")


def test_policy_in_a_configmap_volume_reloads_when_its_data_link_is_swapped(
        egress: EgressFactory, origin: Origin, tmp_path: Path) -> None:
    volume = tmp_path / "policy-volume"
    volume.mkdir()
    _configmap_dir(volume, POLICY, 1)
    proc = egress(volume / "policy.yaml")
    allowed, other = f"https://allowed.test:{origin.port}/a", f"https://other.test:{origin.port}/b"
    assert _status(proc.client_env(), allowed) == "200"
    assert _status(proc.client_env(), other) == "403"
    # The update: same file name, same size (the path the proxy polls never changes itself).
    swapped = POLICY.replace("[allowed.test]", "[other.test]  ")
    assert len(swapped) == len(POLICY)
    _configmap_dir(volume, swapped, 2)
    deadline = time.monotonic() + 10
    while _status(proc.client_env(), other) != "200" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(proc.client_env(), other) == "200"
    assert _status(proc.client_env(), allowed) == "403"
    assert origin.paths() == ["/a", "/b", "/b"]
    assert [e["event"] for e in _events(proc.audit_path)].count("policy-reload") == 1
    # A broken update keeps the last good policy in force, loudly.
    _configmap_dir(volume, "hosts: [\n", 3)
    deadline = time.monotonic() + 10
    while "policy-reload-failed" not in [e["event"] for e in _events(proc.audit_path)] \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "policy-reload-failed" in [e["event"] for e in _events(proc.audit_path)]
    assert _status(proc.client_env(), other) == "200"


def test_egress_reaches_pipelock_by_name_through_its_own_dns_guard(
        write_policy: PolicyWriter, origin: Origin, dns: DNSFixture, pki: Any,
        tmp_path: Path) -> None:
    """The sidecar pod's setup: resolv.conf names the guard (on port 53 of a loopback address),
    the guard forwards to the cluster DNS (here the test resolver), and --upstream is a
    Service name that resolves to a private address."""
    guard_ip = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
    with Squid({"allowed.test": "127.0.0.1"}) as squid:
        upstream = f"http://pipelock.test:{squid.port}"
        workdir = tmp_path / "proc"
        workdir.mkdir()
        proc = EgressProcess(
            ["--policy", str(write_policy(POLICY)), "--state-dir", str(tmp_path / "state"),
             "--upstream-ca", str(pki.ca_path), "--upstream", upstream, "--bottle-id", "agent-7",
             "--dns-listen", f"{guard_ip}:53", "--dns-upstream", f"{dns.address}:53",
             *LOCAL_ORIGIN_FLAGS],
            workdir, dns=SimpleNamespace(address=guard_ip))  # type: ignore[arg-type]
        try:
            url = f"https://allowed.test:{origin.port}/via-pipelock"
            assert _status(proc.client_env(), url) == "200"
            assert origin.paths() == ["/via-pipelock"]
            assert any(line.startswith("CONNECT allowed.test:") and line.endswith("agent=agent-7")
                       for line in squid.lines())
            # the guard answered the next hop's name, private address and all ...
            hop = DNSRecord.parse(DNSRecord.question("pipelock.test").send(guard_ip, 53, timeout=5))
            assert hop.header.rcode == RCODE.NOERROR and str(hop.rr[0].rdata) == "127.0.0.1"
            # ... and nothing else: another name in the same zone, or another record type of
            # the next hop's name, gets the checks as before
            other = DNSRecord.parse(DNSRecord.question("pipelock2.test").send(guard_ip, 53, timeout=5))
            assert other.header.rcode == RCODE.NXDOMAIN and not other.rr
            txt = DNSRecord.parse(DNSRecord.question("pipelock.test", "TXT").send(guard_ip, 53, timeout=5))
            assert txt.header.rcode != RCODE.NOERROR or not txt.rr
            events = [e for e in _events(proc.audit_path) if e["event"] == "dns"]
            hops = [e for e in events if e.get("next_hop")]
            assert hops and all(e["host"] == "pipelock.test" and e["verdict"] == "allow" for e in hops)
            assert {e["qtype"] for e in hops} <= {QTYPE[QTYPE.A], QTYPE[QTYPE.AAAA]}
            assert [e["verdict"] for e in events if e["host"] == "pipelock2.test"] == ["block"]
        finally:
            proc.stop()
