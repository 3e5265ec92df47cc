"""The README quick start, copied verbatim from the README, runs (issue 14, traps 2 and 8).

The block between `<!-- quickstart -->` markers is run by bash as written. Only what the test
environment needs differs: `./bottle` in the working directory is the real `bottle` with the
suite's flags (a policy allowing the local origin, its test CA, loopback allowed), the proxy
resolves through the test resolver, and the URLs are the block's own variables, pointed at
the local origin. The old quick start (`> env &` then `. env` at once) sourced an empty file
and sent the request around the proxy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import LOCAL_ORIGIN_FLAGS
from tests.support.dns import DNSFixture
from tests.support.origin import Origin
from tests.support.pki import TestPKI

REPO = Path(__file__).resolve().parents[1]
BOTTLE = [sys.executable, "-m", "cli.main"]


def quickstart() -> str:
    readme = (REPO / "README.md").read_text()
    m = re.search(r"<!-- quickstart -->\n```sh\n(.*?)```\n<!-- /quickstart -->", readme, re.S)
    assert m, "README.md has no <!-- quickstart --> block"
    return m.group(1)


def test_quickstart_block_is_the_one_the_readme_shows() -> None:
    block = quickstart()
    assert "--env-file /tmp/bottle.env" in block and "until [ -s /tmp/bottle.env ]" in block
    assert "sudo" not in block


# Runs the block with a private /tmp (a fresh tmpfs in its own mount namespace), so its fixed
# /tmp/bottle.env is this test's alone, and the test resolver as /etc/resolv.conf. A stale env
# file from a "dead run" is planted first; afterwards the script waits for the stopped proxy
# to remove its file.
# When the checkout itself lives under /tmp (CI clones there), the old /tmp is kept on a
# namespace-only mount under /mnt and the checkout is bound back at its own path.
NAMESPACE_SCRIPT = """
mount --bind "$1" /etc/resolv.conf || exit 97
case "$3" in
  /tmp/*) mount -t tmpfs tmpfs /mnt && mkdir /mnt/old-tmp && mount --bind /tmp /mnt/old-tmp \
            || exit 97 ;;
esac
mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 97
case "$3" in
  /tmp/*) mkdir -p "$3" && mount --bind "/mnt/old-tmp/${3#/tmp/}" "$3" || exit 97 ;;
esac
echo 'export HTTPS_PROXY=http://127.0.0.1:9' > /tmp/bottle.env
bash -c "$2"; rc=$?
for _ in $(seq 150); do [ -e /tmp/bottle.env ] || break; sleep 0.1; done
[ -e /tmp/bottle.env ] && echo "ENV FILE LEFT BEHIND"
exit $rc
"""


def test_readme_quickstart_runs_verbatim(origin: Origin, pki: TestPKI, dns: DNSFixture) -> None:
    # Outside /tmp: the block's namespace has a private, empty /tmp.
    work = REPO / ".state" / f"quickstart-{os.getpid()}-{time.monotonic_ns()}"
    work.mkdir(parents=True)
    try:
        run_quickstart(work, origin, pki, dns)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_quickstart(work: Path, origin: Origin, pki: TestPKI, dns: DNSFixture) -> None:
    policy = work / "policy.yaml"
    policy.write_text("version: 1\nhosts:\n  allow: [{name: test-origin, hosts: [allowed.test]}]\n")
    ca = work / "origin-ca.pem"
    shutil.copyfile(pki.ca_path, ca)
    audit = work / "audit.jsonl"
    flags = ["--policy", str(policy), "--upstream-ca", str(ca), *LOCAL_ORIGIN_FLAGS,
             "--state-dir", str(work / "state"), "--audit-log", str(audit)]
    wrapper = work / "bottle"
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in BOTTLE)
                       + ' "$@" ' + " ".join(shlex.quote(f) for f in flags) + "\n")
    wrapper.chmod(0o755)
    conf = work / "resolv.conf"
    conf.write_text(f"nameserver {dns.address}\noptions timeout:1 attempts:1\n")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PYTHONPATH=str(REPO), ALLOWED_URL=f"https://allowed.test:{origin.port}/hello",
               DENIED_URL=f"https://denied.test:{origin.port}/secret")
    res = subprocess.run(["unshare", "--mount", "sh", "-c", NAMESPACE_SCRIPT, "sh", str(conf),
                          quickstart(), str(REPO)], cwd=work, env=env, capture_output=True, text=True,
                         timeout=180, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "did not start" not in res.stdout + res.stderr
    # the client got the origin's answer through the proxy, and the denial with its reason
    assert "hello from origin" in res.stdout, res.stdout + res.stderr
    # (inside the TLS the bottle CA completes for the denied name; HTTP/2 lower-cases names)
    assert "x-bottle-block-reason: hosts/host-not-allowed" in res.stdout.lower()
    assert '"rule":"hosts/host-not-allowed"' in res.stdout  # the JSON body reached curl
    assert origin.paths() == ["/hello"]
    events = [json.loads(line) for line in audit.read_text().splitlines() if line]
    assert [e["verdict"] for e in events if e.get("host") == "allowed.test"] == ["allow"]
    assert [e["verdict"] for e in events if e.get("host") == "denied.test"] == ["block"]
    # `kill %1` stopped it, and the env file went with the CA it pointed at
    assert any(e.get("event") == "stop" for e in events)
    assert "ENV FILE LEFT BEHIND" not in res.stdout


def test_env_file_is_private_and_written_only_once_listening(tmp_path: Path) -> None:
    env_file = tmp_path / "bottle.env"
    env_file.write_text("stale\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([*BOTTLE, "egress", "run", "--listen", f"127.0.0.1:{port}",
                              "--env-file", str(env_file), "--state-dir", str(tmp_path / "s"),
                              "--audit-log", str(tmp_path / "audit.jsonl")],
                             cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                             capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1 and "already in use" in res.stderr
    assert not env_file.exists()  # the stale file is gone and no new one was written

    proc = subprocess.Popen([*BOTTLE, "egress", "run", "--listen", "127.0.0.1:0", "--env-file",
                             str(env_file), "--state-dir", str(tmp_path / "s2"),
                             "--audit-log", str(tmp_path / "audit2.jsonl")],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        text = env_file.read_text()
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert text.endswith("\n") and "export BOTTLE_ID=" in text  # complete: the last line
        proxy = re.search(r"export HTTPS_PROXY=http://127\.0\.0\.1:(\d+)\n", text)
        assert proxy, text
        with socket.create_connection(("127.0.0.1", int(proxy.group(1))), timeout=5):
            pass  # listening by the time the file exists
        assert not list(tmp_path.glob(".bottle.env.*"))  # no temporary left behind
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert out == ""  # with --env-file, nothing on stdout
    assert proc.returncode == 0 and not env_file.exists()
