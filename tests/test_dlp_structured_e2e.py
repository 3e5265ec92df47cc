"""Structured bodies end to end: a JSON-escaped secret inside code inside a JSON string, an
XML body, a form body and an NDJSON body through the real proxy to a real origin. Each is
denied with the rule and the path of the value it sits in, the origin receives none of them,
no artefact holds the secret, and `bottle replay` over the same requests gives the same
verdicts."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from proxy.flowbuild import http_flow, write_flows
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.proxy import EgressProcess
from tests.test_dlp_decoding_e2e import POLICY, assert_artefacts_clean
from tests.test_dlp_e2e import github_token

REPO = Path(__file__).resolve().parents[1]
SECRET = github_token("Hs8Kq2Wn6Yb0Ed4Gj7Lp1Rt5Vx9Zc3")
GENERIC = "q8WmZ2xKv7RtN4pL9sYb3JhC6dFg1TeA"

CODE = 'func main() {\n\tapiKey := "' + GENERIC + '"\n\tcall(apiKey)\n}\n'
XML_SECRET = "".join(f"&#x{ord(c):x};" for c in SECRET)

# (name, content type, body, rule, where)
CASES: list[tuple[str, str, bytes, str, str]] = [
    ("json-code", "application/json", json.dumps({"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "review this:\n" + CODE}]}]}).encode(),
     "dlp/generic-secret-assignment", "request.body.json[messages][0][content][0][text]"),
    ("xml", "application/xml", f"<a><b><v>{XML_SECRET}</v></b></a>".encode(),
     "dlp/github-token", "request.body.xml[/a/b/v]"),
    ("form", "application/x-www-form-urlencoded",
     ("note=hello+world&t=" + "".join(f"%{b:02X}" for b in SECRET.encode())).encode(),
     "dlp/github-token", "request.body.form[t]"),
    ("ndjson", "application/x-ndjson",
     "\n".join([json.dumps({"i": i}) for i in range(4)] + [json.dumps({"x": f"tok {SECRET}"})]).encode(),
     "dlp/github-token", "request.body.ndjson[4][x]"),
]


def test_the_raw_json_body_hides_the_code_secret_from_a_raw_scan() -> None:
    """Why the JSON case needs parsing: in the raw body the code's quotes are escaped."""
    assert b'apiKey := \\"' + GENERIC.encode() + b'\\"' in CASES[0][2]


@pytest.fixture
def start(egress: EgressFactory, write_policy: PolicyWriter,
          tmp_path: Path) -> Callable[[], EgressProcess]:
    def run() -> EgressProcess:
        return egress(write_policy(POLICY), "--record", str(tmp_path / "recorded.mitm"))
    return run


def test_structured_bodies_are_denied_at_their_path_and_replay_agrees(
        start: Callable[[], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    proc = start()
    base = f"https://allowed.test:{origin.port}"
    ctx = ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])
    live: dict[str, tuple[str, str]] = {}
    with httpx.Client(proxy=proc.url, verify=ctx, timeout=30) as client:
        ok = client.post(f"{base}/clean", json={"messages": [{"role": "user", "content": "hello"}]})
        assert ok.status_code == 200
        for name, ctype, body, _, _ in CASES:
            res = client.post(f"{base}/{name}", content=body, headers={"Content-Type": ctype})
            assert res.status_code == 403, (name, res.status_code)
            doc = res.json()
            live[name] = (doc["rule"], doc["where"])
            assert SECRET not in res.text and GENERIC not in res.text
    assert live == {name: (rule, where) for name, _, _, rule, where in CASES}
    assert origin.paths() == ["/clean"]
    assert all(SECRET.encode() not in r.body and GENERIC.encode() not in r.body for r in origin.seen)
    assert_artefacts_clean(proc, tmp_path, SECRET, GENERIC)

    # The same requests replayed offline: the same rule at the same path.
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    flows = write_flows(tmp_path / "cases.mitm", [
        http_flow("POST", f"https://allowed.test/{name}", headers={"Content-Type": ctype}, body=body)
        for name, ctype, body, _, _ in CASES])
    replay = subprocess.run([sys.executable, "-m", "cli.main", "replay", str(flows), "--policy",
                             str(policy), "--format", "json"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert replay.returncode == 0, replay.stderr
    rows = [json.loads(line) for line in replay.stdout.splitlines()]
    assert [r["verdict"] for r in rows] == ["block"] * len(CASES)
    for row, (name, _, _, rule, where) in zip(rows, CASES, strict=True):
        assert {"scanner": "dlp", "rule": rule.removeprefix("dlp/"), "action": "block",
                "where": where} in row["findings"], (name, row["findings"])
    assert SECRET not in replay.stdout and GENERIC not in replay.stdout
