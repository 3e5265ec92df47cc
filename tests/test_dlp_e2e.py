"""DLP end to end: the evasion table as real requests through the running proxy.

Every row hides the same secret a different way (each decoding layer, nesting, splitting
across JSON fields / headers / query parameters / stream chunks, Unicode tricks) and must be
blocked before the origin sees it. Afterwards neither the audit log nor the proxy's stderr
may contain the secret in any of its encodings.
"""

from __future__ import annotations

import base64
import gzip
import json
import quopri
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from egress.redact import encoded_forms
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def github_token(body30: str) -> str:
    n, digits = zlib.crc32(body30.encode()), ""
    while n:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    return "ghp_" + body30 + digits.rjust(6, "0")


SECRET = github_token("Q7vXr2LmN9pK4sT8wY1zB6cD3fG5hJ")
KNOWN = "deploy-Zq81-kX0p-77Wn-uu2R-Lm"  # no rule matches this shape: only known-secret can
RAW = SECRET.encode()
HALF = len(SECRET) // 2

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
    dlp:
      known_secrets:
        - name: deploy-key
          env: BOTTLE_TEST_KNOWN_SECRET
"""

Row = tuple[str, dict[str, Any]]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rows() -> list[Row]:
    hexed = RAW.hex()
    return [
        ("raw json body", {"json": {"note": SECRET}}),
        ("raw query", {"params": {"t": SECRET}}),
        ("raw header", {"headers": {"X-Debug": SECRET}}),
        ("raw path segment", {"path": f"/{SECRET}/x"}),
        ("url-encoded query", {"raw_query": "t=" + "".join(f"%{b:02X}" for b in RAW)}),
        ("double url-encoded", {"raw_query": "t=" + urllib.parse.quote(urllib.parse.quote(SECRET, safe=""),
                                                                         safe="")}),
        ("base64 body", {"content": ("data=" + b64(RAW)).encode()}),
        ("base64url unpadded header", {"headers": {"X-Trace": base64.urlsafe_b64encode(b"id:" + RAW)
                                                   .decode().rstrip("=")}}),
        ("base64 misaligned in text", {"content": ("blob:" + b64(b"ab" + RAW + b"cd")).encode()}),
        ("base32 body", {"content": base64.b32encode(RAW)}),
        ("hex plain", {"content": hexed.encode()}),
        ("hex upper colon", {"content": ":".join(hexed[i:i + 2] for i in range(0, len(hexed), 2))
                             .upper().encode()}),
        ("hex \\x escapes", {"content": "".join(f"\\x{b:02x}" for b in RAW).encode()}),
        ("hex 0x list", {"content": ", ".join(f"0x{b:02x}" for b in RAW).encode()}),
        ("json \\u escapes", {"content": json.dumps({"v": "".join(f"\\u{ord(c):04x}" for c in SECRET)})
                              .encode(), "headers": {"Content-Type": "application/json"}}),
        ("quoted-printable multipart", {"files": None, "multipart_qp": True}),
        ("nested base64(url(hex))", {"content": b64(urllib.parse.quote(hexed).encode()).encode()}),
        ("nested base64(base64)", {"content": b64(b64(RAW).encode()).encode()}),
        ("split across json fields", {"json": {"a": SECRET[:HALF], "b": SECRET[HALF:]}}),
        ("split across headers", {"headers": {"X-A": SECRET[:HALF], "X-B": SECRET[HALF:]}}),
        ("split across query params", {"params": {"a": SECRET[:HALF], "b": SECRET[HALF:]}}),
        ("gzip body", {"content": gzip.compress(("token=" + SECRET).encode()),
                       "headers": {"Content-Encoding": "gzip"}}),
        ("zero-width characters",
         {"json": {"v": SECRET[:6] + "\u200b" + SECRET[6:10] + "\u2060" + SECRET[10:]}}),
        ("fullwidth prefix", {"json": {"v": "ｇｈｐ＿" + SECRET[4:]}}),
        ("cyrillic look-alike prefix", {"json": {"v": "ghр_" + SECRET[4:]}}),
        ("multipart filename", {"files": {"upload": (f"{SECRET}.txt", b"hello", "text/plain")}}),
        ("form-urlencoded", {"data": {"comment": f"here {SECRET} it is"}}),
        ("known secret raw", {"json": {"v": KNOWN}}),
        ("known secret base64", {"content": b64(b"k=" + KNOWN.encode()).encode()}),
        ("known secret hex any case", {"content": KNOWN.encode().hex().upper().encode()}),
        ("known secret url-encoded", {"params": {"v": KNOWN + "/x"}}),
    ]


def send(client: httpx.Client, base: str, path: str, spec: dict[str, Any]) -> httpx.Response:
    url = base + spec.get("path", path)
    if "raw_query" in spec:
        url += "?" + spec["raw_query"]
    if spec.get("multipart_qp"):
        boundary = "b0undary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode()
        body += quopri.encodestring(RAW, quotetabs=True).replace(b"_", b"=5F").replace(b"p", b"=70")
        body += f"\r\n--{boundary}--\r\n".encode()
        return client.post(url, content=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    kwargs = {k: spec[k] for k in ("json", "params", "headers", "content", "data", "files") if k in spec}
    return client.post(url, **kwargs)


def forbidden_strings() -> set[str]:
    out = encoded_forms(SECRET) | encoded_forms(KNOWN)
    out.add(SECRET[4:])  # the token body alone
    return {s for s in out if len(s) >= 12}


@pytest.fixture
def proxy(egress: EgressFactory, write_policy: PolicyWriter,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    monkeypatch.setenv("BOTTLE_TEST_KNOWN_SECRET", KNOWN)

    def start(policy: str = POLICY) -> Any:
        return egress(write_policy(policy))
    yield start


def test_evasion_table_blocked_before_the_origin(proxy: Callable[[str], Any], origin: Origin) -> None:
    proc = proxy(POLICY)
    base = f"https://allowed.test:{origin.port}"
    failures = []
    with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as client:
        ok = client.post(base + "/clean", json={"hello": "world", "n": 1})
        assert ok.status_code == 200
        for i, (label, spec) in enumerate(rows()):
            res = send(client, base, f"/row-{i}", spec)
            if res.status_code != 403 or not res.headers.get("x-bottle-block-reason", "").startswith("dlp/"):
                failures.append(f"{label}: {res.status_code} {res.headers.get('x-bottle-block-reason')}")
            elif res.json()["rule"] not in ("dlp/github-token", "dlp/known-secret"):
                failures.append(f"{label}: unexpected rule {res.json()['rule']}")
    assert not failures, "\n".join(failures)
    # the origin received only the clean request
    assert origin.paths() == ["/clean"]
    proc.stop()
    audit = proc.audit_path.read_text()
    stderr = proc.stderr()
    leaked = [s for s in forbidden_strings() if s in audit or s in stderr]
    assert not leaked
    events = [json.loads(line) for line in audit.splitlines()]
    dlp = [f for e in events for f in e.get("findings", []) if f["scanner"] == "dlp"]
    assert {"github-token", "known-secret"} <= {f["rule"] for f in dlp}
    assert all("sha256:" in f["evidence"] for f in dlp)


def test_secret_split_across_stream_chunks_never_reaches_the_origin(
        proxy: Callable[[str], Any], origin: Origin) -> None:
    proc = proxy(POLICY.replace("    dlp:\n", "    dlp:\n      stream_threshold: 1000\n"))
    base = f"https://allowed.test:{origin.port}"
    filler = b"x" * 4000 + b" "

    def chunks() -> Iterator[bytes]:
        yield filler
        yield b"token " + RAW[:HALF]
        yield RAW[HALF:] + b" end"
        yield filler

    with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as client:
        clean = client.post(base + "/stream-clean", content=iter([filler, filler, b"done"]))
        assert clean.status_code == 200
        with pytest.raises(httpx.HTTPError):
            client.post(base + "/stream-secret", content=chunks())
    assert origin.seen[0].body == filler * 2 + b"done"
    assert all(RAW[:HALF] not in r.body and RAW[HALF:] not in r.body for r in origin.seen)
    proc.stop()
    audit = proc.audit_path.read_text()
    assert "github-token" in audit and SECRET not in audit


def test_redact_action_rewrites_body_and_content_length(proxy: Callable[[str], Any], origin_cert) -> None:
    from tests.support.origin import echo
    policy = POLICY + "      actions:\n        github-token: redact\n"
    with Origin(origin_cert, {"/echo": echo}) as o:
        proc = proxy(policy)
        with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as client:
            res = client.post(f"https://allowed.test:{o.port}/echo", json={"k": SECRET, "x": "y"})
        assert res.status_code == 200
        seen = o.seen[0]
        assert SECRET.encode() not in seen.body
        assert json.loads(seen.body) == {"k": "[REDACTED:github-token]", "x": "y"}
        assert int(seen.headers["Content-Length"]) == len(seen.body)


def test_audit_mode_forwards_and_logs(proxy: Callable[[str], Any], origin: Origin) -> None:
    proc = proxy(POLICY.replace("version: 1\n", "version: 1\n    mode: audit\n"))
    with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as client:
        res = client.post(f"https://allowed.test:{origin.port}/a", json={"k": SECRET})
    assert res.status_code == 200
    proc.stop()
    audit = proc.audit_path.read_text()
    assert '"rule":"github-token","action":"audit"' in audit and SECRET not in audit
