"""`bottle demo` (issue 14, trap 8): an allowed request, a host denial, a DLP block and the
audit lines, offline. The test runs it in a network namespace that has only loopback, so
anything that needed the internet would fail."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.prereq import require_binary, require_root

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_offline() -> None:
    require_root("the demo runs in a network namespace with only loopback")
    require_binary("unshare", "util-linux")
    require_binary("ip", "iproute2")
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
           sys.executable, "-m", "cli.main", "demo"]
    res = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "Traceback" not in out + res.stderr
    steps = re.findall(r"^\d\. (.+?): (\w+) (\S+)\n   -> (.*)$", out, re.M)
    assert [(t, m) for t, m, _, _ in steps] == [
        ("allowed request", "GET"), ("host not allowed", "GET"), ("secret in a body", "POST")]
    assert steps[0][3] == "200 'hello from the demo origin'"
    # the denial: refused at CONNECT today (or a 403 JSON once CONNECT denials complete TLS)
    assert "hosts/host-not-allowed" in out.split("3. secret")[0].split("2. host")[1]
    assert steps[2][3].startswith("403 dlp/aws-secret-access-key"), steps[2]
    # the origin saw the allowed request only: neither the denial nor the secret reached it
    assert "origin received: GET /hello\n" in out
    audit = [json.loads(line) for line in out.split("no secret values):\n")[1].splitlines()
             if line.startswith("  {")]
    assert [(e["host"], e["verdict"]) for e in audit] == [
        ("127.0.0.1", "allow"), ("example.com", "block"), ("127.0.0.1", "block")]
    # the generated key appears only redacted (its first 4 characters and a hash)
    evidence = audit[2]["findings"][0]["evidence"]
    assert re.fullmatch(r".{4}…\[40 chars, sha256:[0-9a-f]{12}\]", evidence), evidence
    assert not re.search(r"aws_secret_access_key\s*=\s*\S{40}", out + res.stderr)
    assert re.search(r"^done in \d+\.\d s$", out, re.M)
