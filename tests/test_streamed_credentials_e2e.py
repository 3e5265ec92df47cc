"""Credential injection on request bodies that stream, end to end (bypass row 17.f1).

A body larger than `dlp.stream_threshold` (or chunked without a length) is forwarded as it
arrives, and its head leaves before the body does: the credential must be in that head, and
a placeholder in the body must be stopped before its bytes reach anyone. Real clients (httpx
over HTTP/1.1, curl over HTTP/1.1 and HTTP/2, git) through the real proxy to local TLS origins; each test
checks what the origin received, what the client got, and every artefact (audit log, proxy
stderr, `--record` flows, and a plain recorder that keeps flows as the chain left them).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mitmproxy import http, io

from egress.redact import encoded_forms
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.git_origin import git, git_backend, make_repo
from tests.support.origin import Origin, Reply, SeenRequest
from tests.support.pki import ServerCert, TestPKI
from tests.support.prereq import require_binary
from tests.support.proxy import REPO
from tests.support.sink_origin import SinkOrigin

NAMES = ["api.cred.test", "git.cred.test", "other.test"]
RECORDER = REPO / "tests" / "support" / "record_flows.py"
THRESHOLD = 64 * 1024
POLICY = f"""
    version: 1
    hosts:
      allow:
        - hosts: [api.cred.test, git.cred.test, other.test]
    dlp:
      stream_threshold: {THRESHOLD}
    credentials:
      - name: api
        host: api.cred.test
        header: "Authorization: Bearer {{secret}}"
        source: {{env: REAL_API_TOKEN}}
        placeholder: {{env: API_TOKEN}}
      - name: git
        host: git.cred.test
        basic: {{user: x-access-token}}
        source: {{env: REAL_GIT_TOKEN}}
        placeholder: {{env: GIT_TOKEN}}
"""


@pytest.fixture(scope="module")
def cert(pki: TestPKI) -> ServerCert:
    return pki.server_cert("streamed-credentials", NAMES)


class Run:
    """One proxy with its real values, and everything its run leaves behind."""

    def __init__(self, egress: EgressFactory, write_policy: PolicyWriter, tmp: Path) -> None:
        self.api = "real-api-" + secrets.token_urlsafe(24)
        self.git = "real-git-" + secrets.token_hex(20)
        self.tmp = tmp
        self.recorded = tmp / "recorded.mitm"
        self.plain = tmp / "plain.mitm"
        self.proc = egress(write_policy(POLICY), "--addon", str(RECORDER),
                           "--record", str(self.recorded),
                           env={"REAL_API_TOKEN": self.api, "REAL_GIT_TOKEN": self.git,
                                "BOTTLE_TEST_FLOWS": str(self.plain)})
        self.outputs: list[str] = []

    @property
    def ph(self) -> str:
        return self.proc.env["API_TOKEN"]

    def client(self) -> httpx.Client:
        return httpx.Client(proxy=self.proc.url, verify=self.proc.env["SSL_CERT_FILE"],
                            timeout=60)

    def curl(self, url: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["curl", "-sS", "--max-time", "60", *args, url],
                              env=self.proc.client_env(), capture_output=True, text=True,
                              check=False)
        self.outputs += [done.stdout, done.stderr]
        return done

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.proc.audit_path.read_text().splitlines() if x]

    def plain_flows(self) -> list[http.HTTPFlow]:
        with self.plain.open("rb") as handle:
            return [f for f in io.FlowReader(handle).stream() if isinstance(f, http.HTTPFlow)]

    def assert_clean(self) -> None:
        """No real value, in any encoding, in anything the run wrote or the client saw."""
        self.proc.stop()
        blobs = {"proxy stderr": self.proc.stderr().encode(),
                 "client output": "\n".join(self.outputs).encode(),
                 "audit log": self.proc.audit_path.read_bytes()}
        for path in (self.recorded, self.plain):
            assert path.is_file() and path.stat().st_size, f"{path} was not written"
            blobs[path.name] = path.read_bytes()
        for value in (self.api, self.git):
            for form in encoded_forms(value):
                for name, blob in blobs.items():
                    assert form.encode() not in blob, f"a real value leaked into {name}"


@pytest.fixture
def run(egress: EgressFactory, write_policy: PolicyWriter, tmp_path: Path) -> Run:
    return Run(egress, write_policy, tmp_path)


def header(req: SeenRequest, name: str) -> str | None:
    return next((v for k, v in req.headers.items() if k.lower() == name), None)


def digest(req: SeenRequest) -> Reply:
    doc = {"auth": header(req, "authorization"), "length": len(req.body),
           "sha256": hashlib.sha256(req.body).hexdigest()}
    return Reply(200, {"Content-Type": "application/json"}, json.dumps(doc).encode())


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_large_streamed_uploads_reach_the_credential_host_with_the_real_token(
        run: Run, cert: ServerCert) -> None:
    ph, real = run.ph, run.api
    body = payload(3 * 1024 * 1024, 1)
    expected = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    with Origin(cert, {"/upload": digest}) as o:
        url = f"https://api.cred.test:{o.port}/upload"
        # 1. chunked (no length), the placeholder in the header: httpx over HTTP/1.1
        with run.client() as client:
            r = client.post(url, content=pieces(body), headers={"Authorization": f"Bearer {ph}"})
        run.outputs.append(r.text)
        assert r.status_code == 200, r.text
        seen = o.seen[-1]
        assert header(seen, "transfer-encoding") == "chunked"  # streamed, not buffered
        assert header(seen, "authorization") == f"Bearer {real}"
        assert seen.body == body
        # the origin's echo of the credential comes back as the placeholder
        assert r.json() == {"auth": f"Bearer {ph}", **expected}
        # 2. a Content-Length body, no credential sent (the proxy adds it): curl
        upload = run.tmp / "upload.bin"
        upload.write_bytes(body)
        done = run.curl(url, "--data-binary", f"@{upload}", "-H",
                        "Content-Type: application/octet-stream")
        assert done.returncode == 0, done.stderr
        seen = o.seen[-1]
        assert header(seen, "content-length") == str(len(body))
        assert header(seen, "authorization") == f"Bearer {real}" and seen.body == body
        assert json.loads(done.stdout) == {"auth": f"Bearer {ph}", **expected}
        # 3. a Content-Length body over HTTP/2, the placeholder in the header: curl --http2
        done = run.curl(url, "--http2", "--data-binary", f"@{upload}", "-H",
                        f"Authorization: Bearer {ph}", "-w", "\n%{http_version}")
        assert done.returncode == 0, done.stderr
        answer, version = done.stdout.rsplit("\n", 1)
        assert version == "2" and json.loads(answer) == {"auth": f"Bearer {ph}", **expected}
        seen = o.seen[-1]
        assert header(seen, "authorization") == f"Bearer {real}" and seen.body == body
        assert len(o.seen) == 3
    events = [e for e in run.audit() if e.get("event") == "http" and e.get("path") == "/upload"]
    assert len(events) == 3
    assert all(e["verdict"] == "allow" and e.get("credentials") == ["api"] for e in events)
    run.proc.stop()
    # the flows as the chain left them (no recorder scrubbing): the placeholder is back
    kept = [f for f in run.plain_flows() if f.request.path == "/upload"]
    assert len(kept) == 3
    assert all(f.request.headers["authorization"] == f"Bearer {ph}" for f in kept)
    run.assert_clean()


def test_a_large_git_push_carries_the_injected_token(run: Run, cert: ServerCert) -> None:
    require_binary("git")
    ph = run.proc.env["GIT_TOKEN"]
    repos = run.tmp / "repos"
    bare = make_repo(repos)
    home = run.tmp / "home"
    home.mkdir()
    env = {**run.proc.client_env(), "HOME": str(home), "GIT_TERMINAL_PROMPT": "0",
           "GIT_CONFIG_NOSYSTEM": "1"}
    work = run.tmp / "clone"

    def push(*config: str) -> None:
        done = subprocess.run(["git", *config, "push", "-q", "origin", "main"], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        run.outputs.extend([done.stdout, done.stderr])
        assert done.returncode == 0, done.stderr

    def commit(name: str, seed: int) -> None:
        # far over git's 1 MiB post buffer: git sends the pack without announcing its length
        (work / name).write_bytes(payload(3 * 1024 * 1024, seed))
        git("add", name, cwd=work)
        git("commit", "-q", "-m", name, cwd=work, env={"HOME": str(home)})

    with Origin(cert, {"/": git_backend(repos, "x-access-token", run.git)}) as o:
        remote = f"https://x-access-token:{ph}@git.cred.test:{o.port}/repo.git"
        done = subprocess.run(["git", "clone", "-q", remote, str(work)], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        run.outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stderr
        # git's default, HTTP/2: the pack comes in DATA frames with no length; the proxy
        # buffers it and the HTTP/1 origin gets it with its length (bypass row 17.f3)
        commit("over-h2.bin", 2)
        push()
        # HTTP/1.1: the pack comes chunked, and the proxy streams it as it arrives
        commit("over-h1.bin", 3)
        push("-c", "http.version=HTTP/1.1")
        packs = [r for r in o.seen if r.path.endswith("/git-receive-pack")
                 and len(r.body) > 3 * 1024 * 1024]
        assert [header(r, "transfer-encoding") for r in packs] == [None, "chunked"]
        assert header(packs[0], "content-length") == str(len(packs[0].body))
    # the origin stored both pushed commits
    log = git("--git-dir", str(bare), "log", "--format=%s", "main").split()
    assert log[:2] == ["over-h1.bin", "over-h2.bin"]
    pushes = [e for e in run.audit() if str(e.get("path", "")).endswith("/git-receive-pack")]
    assert pushes and all(e.get("credentials") == ["git"] for e in pushes)
    run.assert_clean()


def field(head: bytes, name: bytes) -> bytes | None:
    """A header field of a raw HTTP/1 request head (names in any case)."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def cut_off(run: Run, sink: SinkOrigin, url: str, body: bytes, how: str,
            headers: dict[str, str]) -> tuple[bytes, bytes]:
    """Send `body` (chunked through httpx, or with a length through curl) and return the head
    and body as far as the origin received them. The proxy must have cut it off."""
    before = len(sink.received)
    if how == "chunked":
        with run.client() as client, pytest.raises(httpx.HTTPError):
            # pieces that do not line up with the placeholder: it is split across two
            client.post(url, content=pieces(body, 40_000), headers=headers)
    else:
        upload = run.tmp / "upload.bin"
        upload.write_bytes(body)
        done = run.curl(url, "--data-binary", f"@{upload}",
                        *[x for k, v in headers.items() for x in ("-H", f"{k}: {v}")])
        assert done.returncode != 0 and "ok" not in done.stdout, done.stdout
    sink.wait_finished(before + 1)
    got = sink.requests()[before:]
    assert len(got) == 1, "the head of a streamed request reaches the origin before its body"
    return got[0]


@pytest.mark.parametrize("how", ["chunked", "content-length"])
def test_a_placeholder_in_a_streamed_body_is_cut_off_before_it_reaches_any_host(
        run: Run, cert: ServerCert, how: str) -> None:
    ph = run.ph
    filler = b"an ordinary line of a large upload\n" * 12_000  # text: DLP scans it too
    body = filler + f' {{"note": "{ph}"}} '.encode() + filler
    offset = body.index(ph.encode())
    blocked = 0
    with SinkOrigin(cert) as sink:
        for host, headers in (("api.cred.test", {"Authorization": f"Bearer {ph}"}),
                              ("other.test", {})):
            head, received = cut_off(run, sink, f"https://{host}:{sink.port}/upload", body,
                                     how, headers)
            blocked += 1
            # what reached the origin is the start of the body, and stops before the
            # placeholder: nothing past the proxy's holdback
            assert body.startswith(received) and len(received) <= offset, (host, len(received))
            for form in encoded_forms(ph):
                assert form.encode() not in head + received
            if host == "api.cred.test":
                # the head went before the body arrived: with the real value in it
                assert field(head, b"authorization") == f"Bearer {run.api}".encode()
            else:
                assert field(head, b"authorization") is None
    findings = [(e["verdict"], f["rule"], f["where"]) for e in run.audit()
                for f in e.get("findings", []) if f["scanner"] == "credentials"]
    assert findings == [("block", "placeholder-exfiltration", "request.body")] * blocked
    run.assert_clean()


def test_a_placeholder_in_the_head_of_a_streamed_request_is_refused_before_the_head_leaves(
        run: Run, cert: ServerCert) -> None:
    body = payload(512 * 1024, 4)
    with SinkOrigin(cert) as sink, run.client() as client:
        # to another host, and in the query string to the credential's own host
        for url in (f"https://other.test:{sink.port}/upload",
                    f"https://api.cred.test:{sink.port}/upload?key={run.ph}"):
            r = client.post(url, content=pieces(body), headers={"Authorization": f"Bearer {run.ph}"}
                            if "other" in url else {})
            run.outputs.append(r.text)
            assert r.status_code == 403, r.text
            assert r.json()["rule"] == "credentials/placeholder-exfiltration"
        # nothing was sent: no connection to the origin at all
        assert sink.received == []
    wheres = [f["where"] for e in run.audit() for f in e.get("findings", [])
              if f["rule"] == "placeholder-exfiltration"]
    assert wheres == ["request.headers.authorization", "request.query"]
    run.assert_clean()
