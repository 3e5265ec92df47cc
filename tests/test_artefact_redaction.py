"""Secrets in names and locations are redacted like values, in every artefact: the audit log,
flow files written by `--record`, the proxy's stderr, denial bodies, and policy error
messages (hot reload, `bottle policy check`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mitmproxy import http, io
from mitmproxy.test import tflow

from addons.record import Recorder
from addons.support.flows import record_of
from egress.audit import AuditLog
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.runtime import FixedPolicy, Runtime
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

REPO = Path(__file__).resolve().parents[1]
# An AWS access key id (a shape the DLP catalogue knows) and a hostname label that carries
# encoded data: the canaries, looked for in any letter case.
AWS_KEY = "AKIAZBBU4KN55QIHJAMQ"
LABEL = "k2j4h6g8f0d2s4a6p8o0i2u4y6t8r0e2w4q6z8x0c2v4b7n1m3q5w7e9r2t4"
POLICY = """
    hosts:
      allow:
        - hosts: [allowed.test, "*.allowed.test"]
"""


def _curl(proc: Any, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "15", "-i", *extra, url],
                          env=proc.client_env(), capture_output=True, text=True, check=False)


def _nowhere(canary: str, *texts: str | bytes) -> None:
    for text in texts:
        blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        assert canary.lower() not in blob.lower()


def test_secrets_in_header_names_and_host_labels_reach_no_artefact(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    record = tmp_path / "session.mitm"
    proc = egress(write_policy(POLICY), "--record", str(record))

    # HTTP/1.1 keeps the name's case (HTTP/2 clients lower-case header names)
    as_name = _curl(proc, f"https://allowed.test:{origin.port}/h", "--http1.1", "-H",
                    f"X-{AWS_KEY}: 1")
    assert " 403" in as_name.stdout and "dlp/aws-access-key-id" in as_name.stdout
    denial = json.loads(as_name.stdout[as_name.stdout.index("\n{") + 1:])
    assert denial["where"].startswith("request.header[")  # the location is still named

    as_label = _curl(proc, f"https://{LABEL}.allowed.test:{origin.port}/l")
    assert "hostnames/encoded-hostname" in as_label.stdout
    assert origin.seen == []

    proc.stop()
    audit = proc.audit_path.read_text()
    recorded = record.read_bytes()
    assert "aws-access-key-id" in audit and "encoded-hostname" in audit
    assert recorded  # both flows were recorded ...
    # ... and no artefact names either secret, in any case
    _nowhere(AWS_KEY, audit, recorded, proc.stderr(), as_name.stdout)
    _nowhere(LABEL, audit, recorded, proc.stderr())


def _bottle(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_policy_errors_never_echo_a_secret(egress: EgressFactory, write_policy: PolicyWriter,
                                           origin: Origin, tmp_path: Path) -> None:
    path = write_policy(POLICY)
    proc = egress(path)
    bad = POLICY + f"    zz_{AWS_KEY}: 1\n"
    path.write_text(bad)
    deadline = time.monotonic() + 10
    failed: list[dict[str, Any]] = []
    while not failed and time.monotonic() < deadline:
        time.sleep(0.1)
        events = [json.loads(x) for x in proc.audit_path.read_text().splitlines() if x]
        failed = [e for e in events if e["event"] == "policy-reload-failed"]
    assert failed and "unknown field" in failed[0]["problems"][0]
    assert f"{path}:" in failed[0]["problems"][0]  # still says where
    time.sleep(0.3)
    assert "reload FAILED" in proc.stderr()
    _nowhere(AWS_KEY, proc.audit_path.read_text(), proc.stderr())

    # `bottle policy check`, and every other command that reports a policy error
    res = _bottle("policy", "check", str(path))
    assert res.returncode == 1 and "unknown field" in res.stderr
    _nowhere(AWS_KEY, res.stdout, res.stderr)
    res = _bottle("replay", "--policy", str(path), str(tmp_path / "none.mitm"))
    assert res.returncode == 2 and "unknown field" in res.stderr
    _nowhere(AWS_KEY, res.stdout, res.stderr)


def test_known_and_matched_values_are_scrubbed_longest_first_together(tmp_path: Path) -> None:
    # A known secret that holds what a rule matched, and a matched value that holds a known
    # secret: one longest-first order over both kinds, so neither leaves a piece of the other
    # behind. The audit log (every DNS guard event goes through it) and flow files (the
    # recorder) scrub with the same function.
    known_value, matched = "tok_very_secret_value_123_and_its_tail", "tok_very_secret_value_123"
    short_known, long_matched = "AKIAQWERTYUIOPASDFGH", "AKIAQWERTYUIOPASDFGH.tail-of-label-9f8e7d"
    known = KnownSecrets()
    known.add("token", known_value)
    known.add("key", short_known)
    for text, extra in ((f"a {known_value} b", [matched]),
                        (f"h x.{long_matched}.evil.test", [long_matched])):
        out = known.scrub(text, extra)
        assert "its_tail" not in out and "tail-of-label" not in out, out
    assert known.scrub(f"a {known_value} b", [matched]) == "a [REDACTED:token] b"
    log = AuditLog(tmp_path / "audit.jsonl", known)
    log.write({"event": "dns", "host": f"{known_value}.evil.test",
               "name": f"{long_matched}.evil.test"}, [matched, long_matched])
    log.close()
    line = (tmp_path / "audit.jsonl").read_text()
    assert "its_tail" not in line and "tail-of-label" not in line, line
    runtime = Runtime("b", FixedPolicy(compile_policy(parse_policy("version: 1\n"), "p")),
                      AuditLog(None, known), known)
    f = tflow.tflow(resp=True)
    f.request.path = f"/{known_value}/{long_matched}"
    record_of(f, runtime).sensitive.update([matched, long_matched])
    recorder = Recorder(runtime, tmp_path / "flows.mitm")
    recorder.response(f)
    recorder.done()
    with (tmp_path / "flows.mitm").open("rb") as handle:
        (copy,) = list(io.FlowReader(handle).stream())
    assert isinstance(copy, http.HTTPFlow)
    assert copy.request.path == "/[REDACTED:token]/[REDACTED]", copy.request.path
