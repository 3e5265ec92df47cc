"""One policy digest everywhere (issue 14, trap 7): `bottle policy check`, `bottle policy
explain` and the audit log of a real `bottle egress run` show the same digest for one file,
the first 16 hex digits of the SHA-256 of its bytes (what `sha256sum FILE` prints)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

REPO = Path(__file__).resolve().parents[1]

# Comments and key order are part of the file: a digest of the parsed model would hide them.
POLICY = """\
# reviewed 2026-12-06
version: 1
hosts:
  allow:
    - name: test-origin
      hosts: [allowed.test]
"""


def bottle(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_check_explain_and_audit_log_show_the_file_digest(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    path = write_policy(POLICY)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    check = bottle("policy", "check", str(path))
    assert check.returncode == 0, check.stderr
    assert re.findall(r"digest ([0-9a-z-]+)", check.stdout) == [expected], check.stdout

    explain = bottle("policy", "explain", str(path), "--url", "https://allowed.test/x")
    assert explain.returncode == 0, explain.stderr
    assert re.findall(r"digest ([0-9a-z-]+)", explain.stdout) == [expected], explain.stdout

    proc = egress(path)
    res = subprocess.run(["curl", "-sS", "--max-time", "20", f"https://allowed.test:{origin.port}/hello"],
                         env=proc.client_env(), capture_output=True, text=True, check=False)
    assert "hello from origin" in res.stdout, res.stderr
    assert origin.paths() == ["/hello"]
    proc.stop()
    events = [json.loads(line) for line in proc.audit_path.read_text().splitlines() if line]
    digests = {e["policy"] for e in events if "policy" in e}
    assert digests == {expected}, events
    assert any(e.get("host") == "allowed.test" and e.get("policy") == expected for e in events)
