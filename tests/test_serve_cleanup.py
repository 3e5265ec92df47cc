"""Every way `bottle egress run` can fail to start releases what it had acquired (the state
directory with the CA's public files and the merged upstream trust, the audit log, the DNS
guard's sockets) and says why in one line, no traceback. Run as a user runs it: the real CLI in
a subprocess, the real ports and files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import private_key_files
from tests.support.pki import TestPKI
from tests.support.proxy import REPO

BOTTLE = "cleanup-test"
POLICY = "version: 1\nhosts:\n  allow:\n    - hosts: [allowed.test]\n"
CREDENTIAL_POLICY = POLICY + (
    "credentials:\n"
    "  - name: api\n"
    "    host: allowed.test\n"
    "    header: 'Authorization: Bearer {secret}'\n"
    "    source: {env: BOTTLE_CLEANUP_TEST_UNSET}\n"
    "    placeholder: {env: API_TOKEN}\n")


def run(tmp: Path, *args: str, policy: str = POLICY,
        audit: Path | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`bottle egress run` with its default (made-for-this-run) state directory under `tmp`;
    returns the finished process and that state directory."""
    runtime = tmp / "run"
    runtime.mkdir(exist_ok=True)
    (tmp / "policy.yaml").write_text(policy)
    env = {k: v for k, v in os.environ.items() if k != "BOTTLE_CLEANUP_TEST_UNSET"}
    env.update(XDG_RUNTIME_DIR=str(runtime), PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "cli.main", "egress", "run", "--bottle-id",
                          BOTTLE, "--policy", str(tmp / "policy.yaml"), "--audit-log",
                          str(audit or tmp / "audit.jsonl"), *args],
                         cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)  # the first run of a session compiles the DLP databases
    return res, runtime / "bottle-egress" / BOTTLE


def events(tmp: Path) -> list[dict[str, object]]:
    path = tmp / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_released(tmp: Path, res: subprocess.CompletedProcess[str], state: Path) -> None:
    assert not state.exists(), sorted(p.name for p in state.iterdir())
    assert private_key_files(tmp) == []
    assert "Traceback" not in res.stderr
    assert res.stdout == ""  # no client environment for a proxy that never listened


@pytest.fixture
def busy_udp() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def busy_tcp() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_dns_guard_that_cannot_bind_releases_the_ca_trust_and_state(
        tmp_path: Path, pki: TestPKI, busy_udp: int) -> None:
    """The last start step fails: everything before it (CA, merged upstream trust in the
    state directory, audit log, mitmproxy built) is released."""
    res, state = run(tmp_path, "--listen", "127.0.0.1:0", "--upstream-ca", str(pki.ca_path),
                     "--dns-listen", f"127.0.0.1:{busy_udp}", "--dns-upstream", "127.0.0.1:9")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        f"bottle: --dns-listen 127.0.0.1:{busy_udp}: Address already in use")
    assert_released(tmp_path, res, state)
    assert events(tmp_path) == []  # never started, so no start and no stop event


def test_a_dns_guard_pointed_at_itself_is_a_one_line_error(tmp_path: Path) -> None:
    res, state = run(tmp_path, "--listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:5399",
                     "--dns-upstream", "127.0.0.1:5399")
    assert res.returncode == 2
    assert "bottle: --dns-upstream 127.0.0.1:5399 is the guard's own address" in res.stderr
    assert_released(tmp_path, res, state)


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file or directory"),
    (b"not a certificate\n", "no PEM certificate in file"),
])
def test_a_bad_upstream_ca_releases_the_ca_and_state(tmp_path: Path, content: bytes | None,
                                                     message: str) -> None:
    ca = tmp_path / "upstream-ca.pem"
    if content is not None:
        ca.write_bytes(content)
    res, state = run(tmp_path, "--listen", "127.0.0.1:0", "--upstream-ca", str(ca))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == f"bottle: --upstream-ca {ca}: {message}"
    assert_released(tmp_path, res, state)


def test_an_unresolvable_credential_releases_the_state(tmp_path: Path) -> None:
    res, state = run(tmp_path, "--listen", "127.0.0.1:0", policy=CREDENTIAL_POLICY)
    assert res.returncode == 2
    assert "credential 'api'" in res.stderr and "BOTTLE_CLEANUP_TEST_UNSET is not set" in res.stderr
    assert_released(tmp_path, res, state)


def test_an_audit_log_that_cannot_be_opened_releases_the_state(tmp_path: Path) -> None:
    """Fails on the code before the restructuring: the state directory made for the run was
    left behind when the audit log could not be opened."""
    (tmp_path / "not-a-dir").write_text("")
    res, state = run(tmp_path, "--listen", "127.0.0.1:0",
                     audit=tmp_path / "not-a-dir" / "audit.jsonl")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(f"bottle: {tmp_path / 'not-a-dir'}")
    assert_released(tmp_path, res, state)


def test_a_busy_listen_port_is_explained_and_the_stop_is_recorded_last(
        tmp_path: Path, busy_tcp: int) -> None:
    """mitmproxy itself fails to listen: the run got as far as serving, so its `stop` event is
    on record after the CA and state are gone."""
    res, state = run(tmp_path, "--listen", f"127.0.0.1:{busy_tcp}")
    assert res.returncode == 1
    assert (f"bottle egress: cannot listen on 127.0.0.1:{busy_tcp}: the port is already in use"
            in res.stderr)
    assert_released(tmp_path, res, state)
    recorded = events(tmp_path)
    assert [e["event"] for e in recorded] == ["stop"]
    assert recorded[-1]["bottle"] == BOTTLE
