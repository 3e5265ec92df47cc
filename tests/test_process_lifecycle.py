"""The proxy process: signals (stop cleanly, SIGHUP reloads, SIGPIPE ignored) and the CA key
never on disk, whatever way the process ends (SIGKILL included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EgressFactory, PolicyWriter, a_private_key_pem, private_key_files
from tests.support.origin import Origin

POLICY = "hosts:\n  allow:\n    - hosts: [allowed.test]\n"


def _events(proc: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in proc.audit_path.read_text().splitlines() if x]


def _status(proc: Any, url: str) -> str:
    res = subprocess.run(["curl", "-sS", "--max-time", "15", "-o", "/dev/null", "-w",
                          "%{http_connect} %{http_code}", url], env=proc.client_env(),
                         capture_output=True, text=True, check=False)
    connect, code = res.stdout.split()
    return code if code != "000" else connect


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1,
                                 signal.SIGUSR2, signal.SIGALRM], ids=lambda s: s.name)
def test_a_stop_signal_ends_the_proxy_cleanly(egress: EgressFactory, write_policy: PolicyWriter,
                                              origin: Origin, tmp_path: Path,
                                              sig: signal.Signals) -> None:
    proc = egress(write_policy(POLICY))
    assert _status(proc, f"https://allowed.test:{origin.port}/") == "200"
    state = proc.state_dir
    proc.proc.send_signal(sig)
    assert proc.proc.wait(15) == 0
    last = _events(proc)[-1]
    assert last["event"] == "stop" and last["signal"] == sig.name
    assert not (state / "bottle-ca.pem").exists() and not (state / "ca-bundle.pem").exists()
    assert private_key_files(tmp_path) == []
    time.sleep(0.2)
    assert "Traceback" not in proc.stderr()


def test_sigpipe_is_ignored(egress: EgressFactory, write_policy: PolicyWriter,
                            origin: Origin) -> None:
    proc = egress(write_policy(POLICY))
    proc.proc.send_signal(signal.SIGPIPE)
    time.sleep(0.3)
    assert proc.proc.poll() is None
    assert _status(proc, f"https://allowed.test:{origin.port}/") == "200"
    assert origin.paths() == ["/"]


def test_sighup_reloads_the_policy_at_once(egress: EgressFactory, write_policy: PolicyWriter,
                                           origin: Origin) -> None:
    path = write_policy(POLICY)
    proc = egress(path)
    other = f"https://other.test:{origin.port}/"
    assert _status(proc, other) == "403"
    # Same size, same inode, same mtime: polling cannot see this edit; only SIGHUP can.
    before = os.stat(path)
    edited = POLICY.replace("[allowed.test]", "[other.test]  ")
    assert len(edited) == len(POLICY)
    path.write_text(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    time.sleep(1.2)  # two polls: nothing happens
    assert _status(proc, other) == "403"
    proc.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while _status(proc, other) != "200" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(proc, other) == "200"
    assert proc.proc.poll() is None
    assert origin.paths()[-1:] == ["/"]
    assert "policy-reload" in [e["event"] for e in _events(proc)]
    assert "SIGHUP" in proc.stderr()


def test_sigkill_leaves_no_key_and_the_next_start_clears_stale_ones(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    policy = write_policy(POLICY)
    state = tmp_path / "shared-state"
    proc = egress(policy, "--state-dir", str(state))
    # the CA is in use (the client trusts it, TLS is intercepted) and on disk nowhere
    assert _status(proc, f"https://allowed.test:{origin.port}/") == "200"
    assert private_key_files(tmp_path) == []
    proc.proc.kill()
    proc.proc.wait(10)
    assert private_key_files(tmp_path) == []
    # What an older version (its key in mitmproxy-ca.pem) would have left after a SIGKILL:
    # the next start on that state directory shreds it.
    stale = state / "mitmproxy-ca.pem"
    stale.write_bytes(a_private_key_pem())
    assert private_key_files(tmp_path) == [stale]  # the detector sees a real key
    again = egress(policy, "--state-dir", str(state))
    assert not stale.exists() and private_key_files(tmp_path) == []
    assert _status(again, f"https://allowed.test:{origin.port}/") == "200"
    assert again.stop() == 0
