"""Credential injection end to end: the real proxy, local TLS origins that check the credential,
real clients (curl, git, the anthropic SDK). Each shows that the origin saw the real value, that
the agent side never did, and that the placeholder sent to a second host was blocked. Every
artefact a test produces (audit log, proxy stderr, client output, recorded flow files, cloned
files) is searched for the real value in its common encodings."""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anthropic
import pytest

from egress.redact import encoded_forms
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.git_origin import git_backend, make_repo
from tests.support.origin import Origin, Reply, SeenRequest, echo
from tests.support.pki import ServerCert, TestPKI
from tests.support.prereq import require_binary
from tests.support.proxy import REPO, EgressProcess

NAMES = ["api.cred.test", "git.cred.test", "llm.cred.test", "other.test"]
RECORDER = REPO / "tests" / "support" / "record_flows.py"

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [api.cred.test, git.cred.test, llm.cred.test, other.test]
    credentials:
      - name: api
        host: api.cred.test
        header: "Authorization: Bearer {{secret}}"
        source: {{env: REAL_API_TOKEN}}
        placeholder: {{env: API_TOKEN}}
      - name: git
        host: git.cred.test
        basic: {{user: x-access-token}}
        source: {{file: {git_file}}}
        placeholder: {{env: GIT_TOKEN}}
      - name: anthropic
        host: llm.cred.test
        header: "x-api-key: {{secret}}"
        add_if_missing: false
        source: {{command: [cat, {llm_file}]}}
        placeholder: {{env: ANTHROPIC_API_KEY, shape: like-secret}}
"""


@pytest.fixture(scope="module")
def cred_cert(pki: TestPKI) -> ServerCert:
    return pki.server_cert("credentials", NAMES)


class Secrets:
    def __init__(self, tmp: Path) -> None:
        self.api = "real-api-" + secrets.token_urlsafe(24)
        self.git = "real-git-" + secrets.token_hex(20)
        self.llm = "sk-ant-api03-" + secrets.token_urlsafe(60)
        self.git_file = tmp / "git-token"
        self.git_file.write_text(self.git + "\n")
        self.llm_file = tmp / "llm-key"
        self.llm_file.write_text(self.llm)

    def all(self) -> list[str]:
        return [self.api, self.git, self.llm]


@pytest.fixture
def real(tmp_path: Path) -> Secrets:
    return Secrets(tmp_path)


@pytest.fixture
def proxy(egress: EgressFactory, write_policy: PolicyWriter, real: Secrets,
          tmp_path: Path) -> Iterator[EgressProcess]:
    policy = write_policy(POLICY.format(git_file=real.git_file, llm_file=real.llm_file))
    # Two recorders: `--record` (which also scrubs known secrets) and a plain one that keeps
    # flows as the chain left them, so the placeholder restore is checked on its own.
    proc = egress(policy, "--addon", str(RECORDER), "--record", str(tmp_path / "recorded.mitm"),
                  env={"REAL_API_TOKEN": real.api, "BOTTLE_TEST_FLOWS": str(tmp_path / "flows.mitm")})
    yield proc


class Artefacts:
    """Everything a test run leaves behind, searched for real values at the end."""

    def __init__(self, proc: EgressProcess, tmp: Path) -> None:
        self.proc, self.tmp = proc, tmp
        self.outputs: list[str] = []

    def add(self, *texts: str) -> None:
        self.outputs.extend(texts)

    def assert_clean(self, values: list[str], extra_files: Sequence[Path] = ()) -> None:
        self.proc.stop()
        blobs: dict[str, bytes] = {
            "proxy stderr": self.proc.stderr().encode(),
            "client output": "\n".join(self.outputs).encode(),
        }
        for path in [*self.tmp.rglob("*.jsonl*"), *self.tmp.rglob("*.mitm"), *extra_files]:
            if path.is_file():
                blobs[str(path)] = path.read_bytes()
        recorded = [name for name in blobs if name.endswith(".mitm")]
        assert len(recorded) == 2 and all(blobs[n] for n in recorded), "flows were not recorded"
        for value in values:
            for form in encoded_forms(value):
                for name, blob in blobs.items():
                    assert form.encode() not in blob, f"a real value leaked into {name}"


def curl(proc: EgressProcess, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *extra, url], env=proc.client_env(),
                          capture_output=True, text=True, check=False)


def audit(proc: EgressProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.audit_path.read_text().splitlines() if line]


def rules(proc: EgressProcess) -> list[str]:
    return [f"{f['scanner']}/{f['rule']}" for e in audit(proc) for f in e.get("findings", [])]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def header(req: SeenRequest, name: str) -> str | None:
    return next((v for k, v in req.headers.items() if k.lower() == name.lower()), None)


def test_placeholders_are_exported_before_bottle_id(proxy: EgressProcess, real: Secrets):
    env = proxy.env
    assert env["API_TOKEN"].startswith("bottle-api-") and env["GIT_TOKEN"].startswith("bottle-git-")
    key = env["ANTHROPIC_API_KEY"]
    # like-secret: same length and public prefix as the real key, not the real key
    assert key.startswith("sk-ant-api03-") and len(key) == len(real.llm) and key != real.llm
    assert list(env)[-1] == "BOTTLE_ID"
    assert not set(real.all()) & set(env.values())


def test_curl_header_injection_scrubbing_and_exfiltration(
        proxy: EgressProcess, real: Secrets, cred_cert: ServerCert, tmp_path: Path):
    ph = proxy.env["API_TOKEN"]

    def leak(req: SeenRequest) -> Reply:
        token = (header(req, "authorization") or "").removeprefix("Bearer ")
        doc = {"raw": token, "b64": base64.b64encode(token.encode()).decode(),
               "url": urllib.parse.quote(token, safe="")}
        return Reply(200, {"Content-Type": "application/json", "X-Echo": token}, json.dumps(doc).encode())

    def redirect(req: SeenRequest) -> Reply:
        return Reply(302, {"Location": f"https://other.test:{o.port}/echo"})

    seen_by_host: dict[str, list[SeenRequest]] = {}
    arte = Artefacts(proxy, tmp_path)
    with Origin(cred_cert, {"/echo": echo, "/leak": leak, "/redirect": redirect}) as o:
        base = f"https://api.cred.test:{o.port}"
        # 1. the placeholder in a header becomes the real value; the echo comes back scrubbed
        r = curl(proxy, f"{base}/echo", "-H", f"Authorization: Bearer {ph}")
        arte.add(r.stdout, r.stderr)
        assert r.returncode == 0, r.stderr
        assert header(o.seen[-1], "authorization") == f"Bearer {real.api}"
        echoed = {k.lower(): v for k, v in json.loads(r.stdout)["headers"].items()}
        assert echoed["authorization"] == f"Bearer {ph}"
        # 2. no credential sent: the proxy adds it
        r = curl(proxy, f"{base}/echo")
        arte.add(r.stdout, r.stderr)
        assert header(o.seen[-1], "authorization") == f"Bearer {real.api}"
        # 3. raw, base64 and URL-encoded echoes in body and headers are all scrubbed
        r = curl(proxy, f"{base}/leak", "-i", "-H", f"Authorization: Bearer {ph}")
        arte.add(r.stdout, r.stderr)
        doc = json.loads(r.stdout[r.stdout.index("{"):])
        assert doc == {"raw": ph, "b64": base64.b64encode(ph.encode()).decode(),
                       "url": urllib.parse.quote(ph, safe="")}
        assert f"x-echo: {ph}" in r.stdout.lower()
        # 4. a different credential from the agent is overridden (and reported)
        r = curl(proxy, f"{base}/echo", "-H", "Authorization: Bearer agents-own-token-1234")
        arte.add(r.stdout, r.stderr)
        assert header(o.seen[-1], "authorization") == f"Bearer {real.api}"
        assert "credentials/credential-overridden" in rules(proxy)
        before = len(o.seen)
        # 5. the placeholder anywhere else is blocked before it leaves
        for url, args in (
            (f"https://other.test:{o.port}/echo", ["-H", f"Authorization: Bearer {ph}"]),
            (f"https://other.test:{o.port}/echo", ["-H", f"X-Note: {b64(ph)}"]),
            (f"{base}/echo?token={ph}", []),
            (f"{base}/echo", ["-d", json.dumps({"note": ph})]),
            (f"{base}/echo/{ph}", []),
        ):
            r = curl(proxy, url, "-i", *args)
            arte.add(r.stdout, r.stderr)
            # curl -i prints the proxy's CONNECT answer first; the last header block is ours
            status_line = r.stdout[r.stdout.rfind("HTTP/"):].splitlines()[0]
            assert " 403" in status_line, (url, r.stdout)
            assert "x-bottle-block-reason: credentials/placeholder-exfiltration" in r.stdout.lower(), url
        assert len(o.seen) == before, "a blocked request reached the origin"
        # 6. redirects: the credential is decided per request, by destination
        r = curl(proxy, f"{base}/redirect", "-L")  # proxy-added credential, redirect to other.test
        arte.add(r.stdout, r.stderr)
        assert r.returncode == 0, r.stderr
        assert header(o.seen[-1], "host") == f"other.test:{o.port}"
        assert header(o.seen[-1], "authorization") is None
        before = len(o.seen)
        r = curl(proxy, f"{base}/redirect", "-L", "--location-trusted", "-i",
                 "-H", f"Authorization: Bearer {ph}")  # the client re-sends it: blocked
        arte.add(r.stdout, r.stderr)
        assert "credentials/placeholder-exfiltration" in r.stdout
        assert [header(s, "host") for s in o.seen[before:]] == [f"api.cred.test:{o.port}"]
        for req in o.seen:
            seen_by_host.setdefault(header(req, "host") or "", []).append(req)
    # the second host never received the real value nor the placeholder
    for req in seen_by_host.get(f"other.test:{o.port}", []):
        assert real.api not in json.dumps(req.headers) and ph not in json.dumps(req.headers)
    events = audit(proxy)
    injected = [e for e in events if e.get("credentials") == ["api"]]
    assert len(injected) >= 4
    arte.assert_clean(real.all())


def test_git_clone_over_https_with_token_as_basic_password(
        proxy: EgressProcess, real: Secrets, cred_cert: ServerCert, tmp_path: Path):
    require_binary("git")
    ph = proxy.env["GIT_TOKEN"]
    repos = tmp_path / "repos"
    make_repo(repos)
    arte = Artefacts(proxy, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {**proxy.client_env(), "HOME": str(home), "GIT_TERMINAL_PROMPT": "0",
           "GIT_CONFIG_NOSYSTEM": "1"}

    def clone(url: str, dest: Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["git", "clone", "-q", url, str(dest)], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        arte.add(done.stdout, done.stderr)
        return done

    with Origin(cred_cert, {"/": git_backend(repos, "x-access-token", real.git)}) as o:
        # the agent's git holds the placeholder as the password in its remote URL
        done = clone(f"https://x-access-token:{ph}@git.cred.test:{o.port}/repo.git", tmp_path / "c1")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "c1" / "README").read_text() == "hello from git\n"
        # no credential at all: the proxy adds it
        done = clone(f"https://git.cred.test:{o.port}/repo.git", tmp_path / "c2")
        assert done.returncode == 0, done.stderr
        authed = [r for r in o.seen if r.host.startswith("git.cred.test")]
        expected = "Basic " + base64.b64encode(f"x-access-token:{real.git}".encode()).decode()
        assert authed and all(header(r, "authorization") == expected for r in authed)
        # the same placeholder pointed at another host: blocked after the origin's challenge
        done = clone(f"https://x-access-token:{ph}@other.test:{o.port}/repo.git", tmp_path / "c3")
        assert done.returncode != 0
        assert "403" in done.stderr
        other = [r for r in o.seen if r.host.startswith("other.test")]
        assert other and all(header(r, "authorization") is None for r in other)
    assert "credentials/placeholder-exfiltration" in rules(proxy)
    cloned = [p for d in ("c1", "c2") for p in (tmp_path / d).rglob("*") if p.is_file()]
    assert ph in (tmp_path / "c1" / ".git" / "config").read_text()
    arte.assert_clean(real.all(), cloned)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def sent_key(req: SeenRequest) -> str:
    return header(req, "x-api-key") or (header(req, "authorization") or "").removeprefix("Bearer ")


def anthropic_route(expected_key: str, go: threading.Event, waited: list[bool]):
    """A Messages API origin: checks the key (`x-api-key`, or `Authorization: Bearer` as newer
    SDKs send it), streams SSE, and echoes the key it received in
    one event, split across two chunks. It waits, after the first delta, until the client has
    seen it: a proxy that buffered the stream would never let the test get that far."""

    def route(req: SeenRequest) -> Reply:
        key = sent_key(req)
        if key != expected_key:
            return Reply(401, {"Content-Type": "application/json"}, json.dumps(
                {"type": "error", "error": {"type": "authentication_error",
                                            "message": "invalid x-api-key"}}).encode())

        def events() -> Iterator[bytes]:
            yield sse("message_start", {"type": "message_start", "message": {
                "id": "msg_test", "type": "message", "role": "assistant", "model": "claude-test",
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 0}}})
            yield sse("content_block_start", {"type": "content_block_start", "index": 0,
                                              "content_block": {"type": "text", "text": ""}})
            yield sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": "Hello."}})
            waited.append(go.wait(15))
            echo_event = sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                     "delta": {"type": "text_delta",
                                                               "text": f" Your key is {key}."}})
            cut = echo_event.index(key.encode()) + len(key) // 2
            yield echo_event[:cut]
            time.sleep(0.05)
            yield echo_event[cut:]
            yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield sse("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                        "usage": {"output_tokens": 9}})
            yield sse("message_stop", {"type": "message_stop"})
        return Reply(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                     chunks=events())
    return route


def test_anthropic_sdk_streams_with_the_key_injected_and_its_echo_scrubbed(
        proxy: EgressProcess, real: Secrets, cred_cert: ServerCert, tmp_path: Path):
    key = proxy.env["ANTHROPIC_API_KEY"]
    go = threading.Event()
    waited: list[bool] = []
    arte = Artefacts(proxy, tmp_path)
    ctx = ssl.create_default_context(cafile=proxy.env["SSL_CERT_FILE"])
    with Origin(cred_cert, {"/v1/messages": anthropic_route(real.llm, go, waited)}) as o:
        def client(host: str) -> anthropic.Anthropic:
            return anthropic.Anthropic(
                api_key=key, base_url=f"https://{host}:{o.port}", max_retries=0,
                http_client=anthropic.DefaultHttpxClient(proxy=proxy.url, verify=ctx, timeout=30))

        texts: list[str] = []
        with client("llm.cred.test").messages.stream(
                model="claude-test", max_tokens=64,
                messages=[{"role": "user", "content": "hi"}]) as stream:
            for text in stream.text_stream:
                texts.append(text)
                go.set()  # the first delta arrived while the origin was still mid-stream
            final = stream.get_final_message()
        arte.add(*texts, final.model_dump_json())
        assert waited == [True], "the stream was not delivered incrementally"
        assert texts == ["Hello.", f" Your key is {key}."]
        assert sent_key(o.seen[-1]) == real.llm
        # the placeholder sent to a second host never leaves the proxy
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            client("other.test").messages.create(
                model="claude-test", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        arte.add(str(denied.value))
        assert "placeholder-exfiltration" in str(denied.value)
        assert all(r.host.startswith("llm.cred.test") for r in o.seen)
    arte.assert_clean(real.all())


def test_hot_reload_keeps_placeholders_and_rejects_an_unreadable_source(
        egress: EgressFactory, write_policy: PolicyWriter, real: Secrets, cred_cert: ServerCert):
    text = POLICY.format(git_file=real.git_file, llm_file=real.llm_file)
    path = write_policy(text)
    proc = egress(path, env={"REAL_API_TOKEN": real.api})
    ph = proc.env["API_TOKEN"]

    def wait_for(event: str, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [e for e in audit(proc) if e.get("event") == event]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {event} event")

    with Origin(cred_cert, {"/echo": echo}) as o:
        # a reload that changes the credential's header keeps the placeholder the agent holds
        path.write_text(text.replace("Bearer {secret}", "token {secret}"))
        wait_for("policy-reload", 1)
        r = curl(proc, f"https://api.cred.test:{o.port}/echo", "-H", f"Authorization: token {ph}")
        assert r.returncode == 0 and header(o.seen[-1], "authorization") == f"token {real.api}"
        # a source that cannot be read rejects the reload; the last good policy stays
        path.write_text(text.replace(str(real.git_file), str(real.git_file) + ".missing"))
        failed = wait_for("policy-reload-failed", 1)
        problem = failed[0]["problems"][0]
        assert "credential 'git'" in problem and ".missing" in problem and str(path) in problem
        r = curl(proc, f"https://api.cred.test:{o.port}/echo", "-H", f"Authorization: token {ph}")
        assert header(o.seen[-1], "authorization") == f"token {real.api}"
    proc.stop()
    assert real.api not in proc.stderr() and real.api not in proc.audit_path.read_text()


def test_a_missing_source_stops_the_start_naming_the_credential(
        write_policy: PolicyWriter, real: Secrets, tmp_path: Path):
    path = write_policy(POLICY.format(git_file=real.git_file, llm_file=real.llm_file))
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "egress", "run", "--listen",
         "127.0.0.1:0", "--policy", str(path), "--audit-log", str(tmp_path / "a.jsonl"),
         "--state-dir", str(tmp_path / "state")],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)})
    assert done.returncode == 2
    assert f"{path}:" in done.stderr and "credential 'api'" in done.stderr
    assert "REAL_API_TOKEN is not set" in done.stderr
    assert done.stdout == ""


def test_the_benchmark_runs_and_checks_injection_and_scrubbing():
    from benchmarks.credential_injection import bench

    result = bench(requests=5, warmup=1)
    assert result["requests"] == 5 and result["real_value_in_audit_log"] is False
    assert {"p50", "p90", "p99", "mean"} <= set(result["added_ms"])


def test_a_command_source_is_refreshed_on_its_ttl_and_a_mismatch_can_block(
        egress: EgressFactory, write_policy: PolicyWriter, cred_cert: ServerCert, tmp_path: Path):
    token_file = tmp_path / "rotating"
    first, second = "rotating-" + secrets.token_hex(12), "rotated-" + secrets.token_hex(12)
    token_file.write_text(first)
    path = write_policy(f"""
        version: 1
        hosts:
          allow:
            - hosts: [api.cred.test]
        credentials:
          - name: rotating
            host: api.cred.test
            header: "PRIVATE-TOKEN: {{secret}}"
            on_mismatch: block
            source: {{command: [cat, {token_file}], ttl: 1}}
            placeholder: {{env: ROTATING_TOKEN}}
    """)
    proc = egress(path)
    ph = proc.env["ROTATING_TOKEN"]
    with Origin(cred_cert, {"/echo": echo}) as o:
        url = f"https://api.cred.test:{o.port}/echo"
        r = curl(proc, url, "-H", f"PRIVATE-TOKEN: {ph}")
        assert r.returncode == 0 and header(o.seen[-1], "private-token") == first
        token_file.write_text(second)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(e.get("event") == "credential-refresh" and e.get("rotated") for e in audit(proc)):
                break
            time.sleep(0.2)
        r = curl(proc, url, "-H", f"PRIVATE-TOKEN: {ph}")
        assert header(o.seen[-1], "private-token") == second
        assert ph in r.stdout and second not in r.stdout
        before = len(o.seen)
        r = curl(proc, url, "-i", "-H", "PRIVATE-TOKEN: the-agents-own-token")
        assert "credentials/credential-mismatch" in r.stdout and len(o.seen) == before
    proc.stop()
    for value in (first, second):
        assert value not in proc.stderr() and value not in proc.audit_path.read_text()
