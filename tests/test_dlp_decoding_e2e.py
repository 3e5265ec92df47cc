"""DLP end to end for the attack review's decoding and splitting rows (17.5, 17.6, 17.14,
17.15): each evasion as a real request (or WebSocket message) through the running proxy to a
real origin. The origin must receive none of them, the client must get the DLP denial, and
afterwards no artefact (audit log, `--record` flow file, proxy stderr) may hold the secret in
any of its encodings.
"""

from __future__ import annotations

import base64
import gzip
import json
import ssl
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from egress.redact import encoded_forms
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.pki import ServerCert
from tests.support.prereq import require_binary
from tests.support.proxy import EgressProcess
from tests.support.websocket import EchoOrigin, ProxiedClient
from tests.test_dlp_e2e import SECRET

RAW = SECRET.encode()
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test, api.allowed.test]
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def nested_b64(data: bytes, times: int) -> str:
    for _ in range(times):
        data = b64(data).encode()
    return data.decode()


@pytest.fixture
def start(egress: EgressFactory, write_policy: PolicyWriter,
          tmp_path: Path) -> Callable[[str], EgressProcess]:
    def run(policy: str = POLICY) -> EgressProcess:
        return egress(write_policy(policy), "--record", str(tmp_path / "recorded.mitm"))
    return run


def assert_artefacts_clean(proc: EgressProcess, tmp_path: Path, *secrets: str) -> None:
    """The audit log, the recorded flows and stderr hold no encoding of any secret."""
    proc.stop()
    blobs = {"audit log": proc.audit_path.read_bytes(), "stderr": proc.stderr().encode(),
             "flow file": (tmp_path / "recorded.mitm").read_bytes()}
    assert blobs["flow file"], "nothing was recorded"
    for secret in secrets:
        forms = {f.encode() for f in encoded_forms(secret) if len(f) >= 12}
        forms |= {secret.encode(wide) for wide in ("utf-16-le", "utf-16-be")}
        for form in forms:
            for name, blob in blobs.items():
                assert form not in blob, f"{name} holds a form of the secret"


def rule_of(res: httpx.Response) -> str | None:
    """The rule a denial names (None for anything but the proxy's 403)."""
    if res.status_code != 403 or "x-bottle-block-reason" not in res.headers:
        return None
    return str(res.json()["rule"])


def denied(res: httpx.Response, rule: str = "dlp/github-token") -> bool:
    return rule_of(res) == rule


def check_rows(proc: EgressProcess, origin: Origin, rows: list[tuple[str, dict[str, Any]]],
               rules: tuple[str, ...] = ("dlp/github-token",)) -> None:
    base = f"https://allowed.test:{origin.port}"
    failures = []
    ctx = ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])
    with httpx.Client(proxy=proc.url, verify=ctx, timeout=60) as client:
        assert client.post(base + "/clean", json={"hello": "world"}).status_code == 200
        for i, (label, spec) in enumerate(rows):
            res = client.post(f"{base}/row-{i}", **spec)
            if rule_of(res) not in rules:
                failures.append(f"{label}: {res.status_code} {res.headers.get('x-bottle-block-reason')}")
    assert not failures, "\n".join(failures)
    assert origin.paths() == ["/clean"], "a request carrying the secret reached the origin"


# -- 17.5: multipart that does not parse cleanly -------------------------------------------------

def multipart(boundary_header: str, body: str) -> dict[str, Any]:
    return {"content": body.replace("\n", "\r\n").encode(),
            "headers": {"Content-Type": f"multipart/form-data; {boundary_header}"}}


def test_multipart_that_does_not_parse_cleanly_is_scanned_raw(
        start: Callable[[str], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    part = 'Content-Disposition: form-data; name="note"\n\n'
    wrapped = "\n".join(textwrap.wrap(b64(b"token " + RAW + b" end"), 76))
    rows = [
        ("wrong boundary", multipart("boundary=declared",
                                     f"--actual\n{part}{SECRET}\n--actual--\n")),
        ("duplicate boundary, the first one used", multipart(
            "boundary=first; boundary=second", f"--first\n{part}{SECRET}\n--first--\n")),
        ("secret in the preamble", multipart(
            "boundary=b0", f"preamble {SECRET}\n--b0\n{part}hello\n--b0--\n")),
        ("secret in the epilogue", multipart(
            "boundary=b0", f"--b0\n{part}hello\n--b0--\nepilogue {SECRET}\n")),
        ("no closing delimiter, base64 part under a wrong boundary", multipart(
            "boundary=declared",
            f"--actual\n{part.rstrip()}\nContent-Transfer-Encoding: base64\n\n{wrapped}\n")),
        ("quoted boundary with a different one in the body", multipart(
            'boundary="quoted"', f"--other\n{part}{SECRET}\n--other--\n")),
    ]
    proc = start(POLICY)
    check_rows(proc, origin, rows)
    assert_artefacts_clean(proc, tmp_path, SECRET)


# -- 17.6: an exhausted decoding budget ------------------------------------------------------------

def test_exhausted_decode_budget_blocks_unless_a_host_opts_out(
        start: Callable[[str], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    # The review's request: ~650 KiB of gzip expanding to 14 MB of base64 filler, then the
    # secret in base64. The filler used to eat the whole budget; now a text may decode to as
    # much text as it has, so the secret behind it is found.
    filler = "".join(f"harmless filler line number {i} of the report\n" for i in range(220000))
    padded = gzip.compress(f"{b64(filler.encode())} {b64(RAW)}".encode(), 6)
    assert len(padded) < 1024 * 1024  # buffered, not streamed: the path the review took
    # Nested filler does decode to more text than it has: the budget runs out, and what was
    # left undecoded is blocked, unless the policy says otherwise for the host.
    nested = nested_b64(" ".join(f"harmless text number {i}" for i in range(3000)).encode(), 4)
    policy = POLICY + textwrap.indent(textwrap.dedent("""
        dlp:
          decode: {budget: 64KiB}
          suppress:
            - rules: [decode-budget-exhausted]
              hosts: [api.allowed.test]
              reason: this upload API takes large nested encodings
    """), "    ")
    proc = start(policy)
    ctx = ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])
    with httpx.Client(proxy=proc.url, verify=ctx, timeout=120) as client:
        res = client.post(f"https://allowed.test:{origin.port}/padded", content=padded,
                          headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        assert denied(res)
        res = client.post(f"https://allowed.test:{origin.port}/nested", content=nested.encode())
        assert denied(res, "dlp/decode-budget-exhausted")
        assert res.json()["rule"] == "dlp/decode-budget-exhausted"
        ok = client.post(f"https://api.allowed.test:{origin.port}/nested", content=nested.encode())
        assert ok.status_code == 200
    assert origin.paths() == ["/nested"]
    assert origin.seen[0].body == nested.encode() and origin.seen[0].host.startswith("api.allowed.test")
    proc.stop()
    findings = [f for line in proc.audit_path.read_text().splitlines()
                for f in json.loads(line).get("findings", [])]
    exhausted = [f["action"] for f in findings if f["rule"] == "decode-budget-exhausted"]
    assert exhausted == ["block", "audit"]
    assert_artefacts_clean(proc, tmp_path, SECRET)


# -- 17.14: secrets split across parts -------------------------------------------------------------

def pieces(text: str, n: int) -> list[str]:
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def split_rows() -> list[tuple[str, dict[str, Any]]]:
    filler = {f"f{i}": f"unrelated value {i}" for i in range(20)}
    return [
        ("17.14a prefix cut across two headers", {"headers": {"X-Part-A": "gh", "X-Part-B": SECRET[2:]}}),
        ("17.14b prefix cut across two JSON fields", {"json": {"a": "gh", "b": SECRET[2:]}}),
        ("17.14c first field over 256 characters",
         {"json": {"a": "note " + "x" * 300 + " " + SECRET[:18], "b": SECRET[18:]}}),
        ("17.14d more than 4 fields", {"json": {f"k{i}": p for i, p in enumerate(pieces(SECRET, 8))}}),
        ("17.14e non-adjacent headers", {"headers": {"X-A": SECRET[:20], "X-Middle": "text/plain; q=1",
                                                     "X-B": SECRET[20:]}}),
        ("17.14f non-adjacent JSON fields", {"json": {"a": SECRET[:20], **filler, "b": SECRET[20:]}}),
        ("17.14g prefix cut across non-adjacent JSON fields",
         {"json": {"a": "gh", **filler, "b": SECRET[2:]}}),
        ("17.14h split form fields, prefix cut", {"data": {"a": "g", "m": "x", "b": SECRET[1:]}}),
    ]


def test_secrets_split_across_parts_are_rebuilt(
        start: Callable[[str], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    proc = start(POLICY)
    check_rows(proc, origin, split_rows())
    assert_artefacts_clean(proc, tmp_path, SECRET)


def test_a_prefix_cut_across_http2_headers_is_rebuilt(
        start: Callable[[str], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    require_binary("curl")
    proc = start(POLICY)
    rows = [
        ("17.14i h2 headers, prefix cut", [("x-part-a", "gh"), ("x-part-b", SECRET[2:])]),
        ("17.14i h2 headers, non-adjacent",
         [("x-a", SECRET[:15]), ("x-m", "some other value"), ("x-b", SECRET[15:])]),
    ]
    base = f"https://allowed.test:{origin.port}"
    for label, headers in [("clean", [("x-a", "hello")]), *rows]:
        args = [a for k, v in headers for a in ("-H", f"{k}: {v}")]
        done = subprocess.run(["curl", "-sS", "--http2", "--max-time", "20",
                               "-w", "\n%{http_version} %{http_code}", *args, f"{base}/{label.split()[0]}"],
                              env=proc.client_env(), capture_output=True, text=True, check=False)
        body, _, status = done.stdout.rpartition("\n")
        if label == "clean":
            assert status == "2 200", (done.stdout, done.stderr)
            continue
        assert status == "2 403", (label, done.stdout, done.stderr)
        assert json.loads(body)["rule"] == "dlp/github-token", label
    assert origin.paths() == ["/clean"]
    assert_artefacts_clean(proc, tmp_path, SECRET)


def test_websocket_halves_far_apart_and_utf16_messages_are_stopped(
        start: Callable[[str], EgressProcess], origin_cert: ServerCert, tmp_path: Path) -> None:
    proc = start(POLICY)
    with EchoOrigin(origin_cert) as ws_origin:
        def client() -> ProxiedClient:
            return ProxiedClient(proc.url, "allowed.test", ws_origin.port, proc.env["SSL_CERT_FILE"])

        # 17.14j: halves 6 KiB apart (the window over earlier messages is 4 KiB)
        ws = client()
        try:
            assert ws.exchange(f"first half {SECRET[:20]}").startswith("echo:")
            for i in range(6):
                assert ws.exchange(f"message {i} " + "lorem ipsum " * 90).startswith("echo:")
            denial = json.loads(ws.exchange(f"{SECRET[20:]} second half"))
            assert denial["error"] == "blocked" and denial["rule"] == "dlp/github-token"
        finally:
            ws.close()
        # 17.15: a UTF-16 binary message
        ws = client()
        try:
            assert ws.exchange("hello").startswith("echo:")
            denial = json.loads(ws.exchange(f"\ufeffnote {SECRET}".encode("utf-16-le")))
            assert denial["rule"] == "dlp/github-token"
        finally:
            ws.close()
        time.sleep(0.3)
        assert all(SECRET[20:] not in m for m in ws_origin.received)
        assert ws_origin.received_bytes == []
    assert_artefacts_clean(proc, tmp_path, SECRET)


# -- 17.15: decodings the review found missing ---------------------------------------------------

def private_key_body() -> tuple[str, str]:
    """A PEM key's base64 lines without the BEGIN/END lines, and one of those lines."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    return "\n".join(lines), lines[1]


def decoding_rows(key_lines: str) -> list[tuple[str, dict[str, Any]]]:
    doc = {"messages": [{"role": "user", "content": f"deploy with {SECRET} please"}]}
    return [
        ("UTF-16LE JSON with a BOM", {"content": json.dumps(doc).encode("utf-16"),
                                      "headers": {"Content-Type": "application/json"}}),
        ("UTF-16BE JSON, charset declared, no BOM", {
            "content": json.dumps(doc).encode("utf-16-be"),
            "headers": {"Content-Type": "application/json; charset=utf-16be"}}),
        ("UTF-16LE JSON labelled utf-8", {"content": json.dumps(doc).encode("utf-16-le"),
                                          "headers": {"Content-Type": "application/json; charset=utf-8"}}),
        ("HTML character references", {"content": "".join(f"&#{ord(c)};" for c in SECRET).encode(),
                                       "headers": {"Content-Type": "text/html"}}),
        ("combining U+0301 inside the key", {"json": {"v": SECRET[:9] + "\u0301" + SECRET[9:]}}),
        ("base64 wrapped every 8 characters", {"json": {"v": "\n".join(textwrap.wrap(b64(RAW), 8))}}),
        ("base64(gzip(secret))", {"json": {"blob": b64(gzip.compress(RAW))}}),
        ("4x base64", {"content": nested_b64(RAW, 4).encode()}),
        ("PEM key without BEGIN/END lines", {"json": {"key": key_lines}}),
    ]


def test_decodings_the_review_found_missing(
        start: Callable[[str], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    key_lines, key_line = private_key_body()
    proc = start(POLICY)
    check_rows(proc, origin, decoding_rows(key_lines), rules=("dlp/github-token", "dlp/private-key"))
    assert all(key_line.encode() not in r.body for r in origin.seen)
    assert_artefacts_clean(proc, tmp_path, SECRET, key_line)
