"""Credential scrubbing end to end against a credential host that reflects the real token it
received in transformed spellings (attack review rows 17.16 and 18.4): JSON `\\u` escapes,
reversed, HTML character references, base64 wrapped every 8 characters, UTF-16, split by a
newline, base32, upper case, rot13, one character per line.

The real proxy injects the token for a real curl client, the real origin reflects it; the
client must get the placeholder back in the same spelling and never the real token in any,
streamed (SSE, split across chunks) or not; no artefact (audit log, both recorded flow
files, proxy stderr, client output) may hold the token in any spelling either.
"""

from __future__ import annotations

import base64
import codecs
import html
import json
import secrets
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from egress.redact import encoded_forms
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin, Reply, SeenRequest
from tests.support.pki import ServerCert, TestPKI
from tests.support.prereq import require_binary
from tests.support.proxy import REPO, EgressProcess

RECORDER = REPO / "tests" / "support" / "record_flows.py"
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [api.cred.test]
    credentials:
      - name: api
        host: api.cred.test
        header: "Authorization: Bearer {secret}"
        source: {env: REAL_API_TOKEN}
        placeholder: {env: API_TOKEN}
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _u_escaped(token: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in token)


# kind -> (what the origin sends for a token, how the agent would read the token back)
SPELLINGS: dict[str, tuple[Callable[[str], bytes], Callable[[bytes], str]]] = {
    "json-u-escapes": (lambda t: ('{"echo": "' + _u_escaped(t) + '"}').encode(),
                       lambda b: json.loads(b)["echo"]),
    "reversed": (lambda t: t[::-1].encode(), lambda b: b.decode()[::-1]),
    "html-entities": (lambda t: ("<p>" + "".join(f"&#{ord(c)};" for c in t) + "</p>").encode(),
                      lambda b: html.unescape(b.decode())),
    "base64-wrapped-8": (lambda t: "\n".join(textwrap.wrap(b64(t), 8)).encode(),
                         lambda b: base64.b64decode(b"".join(b.split())).decode()),
    "utf-16": (lambda t: f"token: {t}".encode("utf-16"), lambda b: b.decode("utf-16")),
    "split-by-newline": (lambda t: f"{t[:11]}\n{t[11:]}".encode(), lambda b: b.decode().replace("\n", "")),
    "base32": (lambda t: base64.b32encode(t.encode()), lambda b: base64.b32decode(b).decode()),
    "upper-case": (lambda t: t.upper().encode(), lambda b: b.decode()),
    "rot13": (lambda t: codecs.encode(t, "rot13").encode(), lambda b: codecs.decode(b.decode(), "rot13")),
    "one-char-per-line": (lambda t: "\n".join(t).encode(), lambda b: b.decode().replace("\n", "")),
}


@pytest.fixture(scope="module")
def cred_cert(pki: TestPKI) -> ServerCert:
    return pki.server_cert("credentials-reflect", ["api.cred.test"])


@pytest.fixture
def real() -> str:
    # Letters of both cases and digits: every spelling above changes it.
    return "Real" + secrets.token_hex(8) + "Tok" + secrets.token_hex(8).upper() + "en"


@pytest.fixture
def proxy(egress: EgressFactory, write_policy: PolicyWriter, real: str, tmp_path: Path) -> EgressProcess:
    return egress(write_policy(POLICY), "--addon", str(RECORDER), "--record", str(tmp_path / "recorded.mitm"),
                  env={"REAL_API_TOKEN": real, "BOTTLE_TEST_FLOWS": str(tmp_path / "flows.mitm")})


def received_token(req: SeenRequest) -> str:
    auth = next((v for k, v in req.headers.items() if k.lower() == "authorization"), "")
    return auth.removeprefix("Bearer ")


def reflect(req: SeenRequest) -> Reply:
    kind = req.path.rsplit("/", 1)[1]
    return Reply(200, {"Content-Type": "application/octet-stream"}, SPELLINGS[kind][0](received_token(req)))


def reflect_sse(req: SeenRequest) -> Reply:
    """The spelling inside an SSE event, cut in three chunks (mid-token), sent apart."""
    kind = req.path.rsplit("/", 1)[1]
    spelled = SPELLINGS[kind][0](received_token(req))
    event = b"data: " + base64.b64encode(b"x") + b"\n\n"

    def chunks() -> Iterator[bytes]:
        yield event
        third = len(spelled) // 3
        for piece in (spelled[:third], spelled[third:2 * third], spelled[2 * third:] + b"\n\n"):
            time.sleep(0.05)
            yield piece
        yield b'data: {"done": true}\n\n'
    return Reply(200, {"Content-Type": "text/event-stream"}, chunks=chunks())


def curl(proc: EgressProcess, url: str, token: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-H", f"Authorization: Bearer {token}", url],
                          env=proc.client_env(), capture_output=True, check=False)


def assert_artefacts_clean(proc: EgressProcess, tmp_path: Path, real: str, outputs: list[bytes]) -> None:
    proc.stop()
    blobs = {"proxy stderr": proc.stderr().encode(), "client output": b"\n".join(outputs),
             "audit log": proc.audit_path.read_bytes()}
    for path in tmp_path.rglob("*.mitm"):
        blobs[str(path)] = path.read_bytes()
    assert len([n for n in blobs if n.endswith(".mitm") and blobs[n]]) == 2, "flows were not recorded"
    spellings = {f.encode() for f in encoded_forms(real)}
    spellings |= {spell(real) for spell, _ in SPELLINGS.values()}
    for name, blob in blobs.items():
        leaked = [s for s in spellings if s in blob]
        assert not leaked, f"{name} holds a spelling of the real token"


def check(kind: str, body: bytes, real: str, placeholder: str) -> list[str]:
    read_back = SPELLINGS[kind][1]
    problems = []
    try:
        text = read_back(body)
    except (ValueError, UnicodeError, KeyError, TypeError) as e:
        return [f"{kind}: the client cannot read the reflection back ({type(e).__name__}): {body[:80]!r}"]
    if real.lower() in text.lower():
        problems.append(f"{kind}: the real token is recoverable")
    if placeholder.lower() not in text.lower():
        problems.append(f"{kind}: the placeholder is not there in the same spelling: {body[:80]!r}")
    return problems


def test_reflected_token_spellings_are_scrubbed(
        proxy: EgressProcess, real: str, cred_cert: ServerCert, tmp_path: Path) -> None:
    require_binary("curl")
    ph = proxy.env["API_TOKEN"]
    outputs: list[bytes] = []
    problems: list[str] = []
    with Origin(cred_cert, {"/reflect/": reflect}) as origin:
        for kind in SPELLINGS:
            done = curl(proxy, f"https://api.cred.test:{origin.port}/reflect/{kind}", ph)
            outputs += [done.stdout, done.stderr]
            assert done.returncode == 0, done.stderr
            assert received_token(origin.seen[-1]) == real, "the real token was not injected"
            problems += check(kind, done.stdout, real, ph)
    assert not problems, "\n".join(problems)
    assert_artefacts_clean(proxy, tmp_path, real, outputs)


def test_reflected_spellings_split_across_sse_chunks_are_scrubbed(
        proxy: EgressProcess, real: str, cred_cert: ServerCert, tmp_path: Path) -> None:
    require_binary("curl")
    ph = proxy.env["API_TOKEN"]
    outputs: list[bytes] = []
    problems: list[str] = []
    with Origin(cred_cert, {"/sse/": reflect_sse}) as origin:
        for kind in SPELLINGS:
            done = curl(proxy, f"https://api.cred.test:{origin.port}/sse/{kind}", ph)
            outputs += [done.stdout, done.stderr]
            assert done.returncode == 0, done.stderr
            assert received_token(origin.seen[-1]) == real
            events = done.stdout.split(b"\n\n")
            assert events[0] == b"data: eA==" and events[-2] == b'data: {"done": true}', done.stdout
            problems += check(kind, b"\n\n".join(events[1:-2]), real, ph)
    assert not problems, "\n".join(problems)
    assert_artefacts_clean(proxy, tmp_path, real, outputs)
