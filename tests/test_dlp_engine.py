"""The DLP engine's behaviour: decoding layers, known secrets, request locations, redaction,
policy (actions, suppressions, known-secret sources), streams, and the adapter under replay
(HTTP and WebSocket)."""

from __future__ import annotations

import base64
import gzip
import json
import textwrap
import urllib.parse
from pathlib import Path

import pytest
from mitmproxy.test import tflow

from egress.decompress import StreamDecoder
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.policy.problems import PolicyError
from egress.redact import KnownSecrets
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import ScanContext
from egress.scan.dlp.streams import StreamGate
from egress.sources.dlp_catalogue import dlp_engine
from proxy.replay import Replayer
from tests.test_dlp_e2e import KNOWN, SECRET

ENGINE = dlp_engine()
RAW = SECRET.encode()


def rules(text: str, engine: DLPEngine = ENGINE, ctx: ScanContext | None = None) -> set[str]:
    return {m.rule for m in engine.scan(text, "test", ctx or ScanContext())}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- decoding layers -------------------------------------------------------------------

LAYER_TABLE = [
    ("plain", SECRET),
    ("url all bytes", "".join(f"%{b:02x}" for b in RAW)),
    ("url nested x3", urllib.parse.quote(urllib.parse.quote(urllib.parse.quote(SECRET, safe=""), safe=""),
                                         safe="")),
    ("base64 padded", b64(b"x" + RAW)),
    ("base64 unpadded url-safe", base64.urlsafe_b64encode(b"\xfb\xff" + RAW).decode().rstrip("=")),
    ("base64 glued to text, offset 1", "Z" + b64(RAW)),
    ("base64 glued to text, offset 3", "abc" + b64(b"12" + RAW)),
    ("base32", base64.b32encode(RAW).decode()),
    ("base32 lower unpadded", base64.b32encode(b"k:" + RAW).decode().lower().rstrip("=")),
    ("hex lower", RAW.hex()),
    ("hex dash", "-".join(f"{b:02X}" for b in RAW)),
    ("hex space", " ".join(f"{b:02x}" for b in RAW)),
    ("hex \\x", "".join(f"\\x{b:02x}" for b in RAW)),
    ("hex 0x", ",".join(f"0x{b:02x}" for b in RAW)),
    ("json \\u", "".join(f"\\u{ord(c):04x}" for c in SECRET)),
    ("quoted-printable", "".join(f"={b:02X}" for b in RAW)),
    ("base64(hex)", b64(RAW.hex().encode())),
    ("hex(base64)", b64(RAW).encode().hex()),
    ("base64(url(base64))", b64(urllib.parse.quote(b64(RAW)).encode())),
    ("zero-width + fullwidth", "ｇｈｐ\u200b_" + SECRET[4:]),
    ("binary around base64", b64(b"\x00\x01\x02\xff" * 4 + RAW + b"\x00\x9f" * 8)),
]


@pytest.mark.parametrize(("label", "text"), LAYER_TABLE, ids=[r[0] for r in LAYER_TABLE])
def test_decoding_layer_table(label: str, text: str) -> None:
    assert "github-token" in rules(f"payload {text} end"), label


def nested_b64(data: bytes, times: int) -> str:
    for _ in range(times):
        data = b64(data).encode()
    return data.decode()


def test_depth_limit_and_layer_switches() -> None:
    # Five layers are unwrapped by default (4x base64 was an evasion at depth 3).
    assert "github-token" in rules(nested_b64(RAW, 4))
    assert "github-token" in rules(nested_b64(RAW, 5))
    # A sixth is past the default max_depth: what still decodes there was not scanned, so
    # the depth counts as an exhausted budget, which blocks.
    past = ENGINE.scan(nested_b64(RAW, 6), "body")
    assert [(m.rule, m.action) for m in past] == [("decode-budget-exhausted", "block")]
    assert "max_depth" in past[0].reason
    shallow = dlp_engine(parse_policy("dlp: {decode: {max_depth: 1}}").dlp)
    assert "github-token" in rules(b64(RAW), shallow)
    assert rules(b64(b64(RAW).encode()), shallow) == {"decode-budget-exhausted"}
    no_b64 = dlp_engine(parse_policy("dlp: {decode: {base64: false}}").dlp)
    assert not rules(b64(RAW), no_b64)
    assert "github-token" in rules(RAW.hex(), no_b64)
    # Decoding switched off entirely is a choice, not an exhausted budget.
    off = dlp_engine(parse_policy("dlp: {decode: {max_depth: 0}}").dlp)
    assert not rules(b64(RAW), off)


def test_decode_budget_exhaustion_blocks_unless_the_policy_says_otherwise() -> None:
    # Each layer of this blob decodes to printable text that decodes again: far more
    # decoded text than the blob is long, and more than the (small) budget.
    blob = nested_b64(" ".join(f"harmless text number {i}" for i in range(300)).encode(), 4)
    engine = dlp_engine(parse_policy("dlp: {decode: {budget: 2000}}").dlp)
    matches = engine.scan(blob, "body")
    assert [(m.rule, m.action) for m in matches] == [("decode-budget-exhausted", "block")]
    assert "dlp.decode.budget" in matches[0].reason
    audit = dlp_engine(parse_policy("dlp: {decode: {budget: 2000, on_budget_exhausted: audit}}").dlp)
    assert [(m.rule, m.action) for m in audit.scan(blob, "body")] == [("decode-budget-exhausted", "audit")]
    scoped = dlp_engine(parse_policy(textwrap.dedent("""
        dlp:
          decode: {budget: 2000}
          suppress:
            - rules: [decode-budget-exhausted]
              hosts: [uploads.example.com]
              reason: large nested uploads are expected here
    """)).dlp)
    here = scoped.scan(blob, "body", ScanContext(host="uploads.example.com"))
    elsewhere = scoped.scan(blob, "body", ScanContext(host="allowed.test"))
    assert [m.action for m in here] == ["audit"] and [m.action for m in elsewhere] == ["block"]
    # A long text may decode to as much text as it has: one big base64 upload of plain text
    # is scanned whole (the secret at its end is found), not cut off at the budget.
    upload = b64((" ".join(f"line {i} of a large file" for i in range(4000)) + " " + SECRET).encode())
    assert rules(upload, engine) == {"github-token"}


def test_random_base64_and_hex_are_quiet() -> None:
    import random
    rng = random.Random(3)
    noise = " ".join(b64(rng.randbytes(48)) + " " + rng.randbytes(20).hex() for _ in range(200))
    assert not rules(noise)


# -- known secrets ---------------------------------------------------------------------

def test_known_secret_every_form_and_runtime_registration() -> None:
    known = KnownSecrets()
    ctx = ScanContext(known=known)
    raw = KNOWN.encode()
    forms = [KNOWN, b64(raw), "xyz" + b64(b"a" + raw), b64(b"ab" + raw),
             base64.urlsafe_b64encode(raw).decode(),
             base64.b32encode(b"xyz" + raw).decode(), raw.hex().upper(), ":".join(f"{b:02x}" for b in raw),
             "".join(f"%{b:02X}" for b in raw), urllib.parse.quote(KNOWN + "/", safe="")]
    assert not any(rules(f) for f in forms)  # unknown until registered
    known.add("deploy-key", KNOWN)
    for form in forms:
        found = ENGINE.scan(f"x {form} y", "body", ctx)
        assert [m.rule for m in found] == ["known-secret"], form
        assert "deploy-key" in found[0].reason
    version = known.version
    known.add("deploy-key", KNOWN)
    assert known.version == version  # unchanged: the matcher is not rebuilt
    known.add("other", "another-secret-value-42")
    assert rules("another-secret-value-42", ctx=ctx) == {"known-secret"}
    assert "[REDACTED:deploy-key]" in known.scrub(b64(raw))


def test_scan_text_api_returns_findings_without_values() -> None:
    findings = ENGINE.scan_text(f"tool args: {{\"token\": \"{SECRET}\"}}", "mcp.tools/call")
    assert {f.rule for f in findings} >= {"github-token"}
    for f in findings:
        assert f.scanner == "dlp" and f.where == "mcp.tools/call" and f.action == "block"
        assert SECRET not in f.reason and SECRET not in (f.evidence or "")


# -- locations -------------------------------------------------------------------------

def test_headers_each_and_split() -> None:
    half = len(SECRET) // 2
    found = ENGINE.scan_headers([("Host", "a.test"), ("X-A", SECRET[:half]), ("X-B", SECRET[half:])])
    assert [(m.rule, m.where) for m in found] == [("github-token", "request.header(joined)")]
    found = ENGINE.scan_headers([("Authorization", f"token {SECRET}")])
    assert ("github-token", "request.header[authorization]") in {(m.rule, m.where) for m in found}


def test_url_segments_and_query() -> None:
    where = {m.where for m in ENGINE.scan_url(f"/a/{SECRET}/b?x=1")}
    assert "request.url.path" in where
    where = {m.where for m in ENGINE.scan_url(f"/a?x=1&tok={urllib.parse.quote(SECRET)}")}
    assert "request.url.query[tok]" in where


def test_json_values_split_and_escaped() -> None:
    half = len(SECRET) // 2
    body = json.dumps({"a": SECRET[:half], "n": 3, "b": SECRET[half:]}).encode()
    assert [m.rule for m in ENGINE.scan_body(body, "application/json")] == ["github-token"]
    assert not ENGINE.scan_body(json.dumps({"a": "ghp_", "b": "short"}).encode(), "application/json")


def test_multipart_fields_filenames_and_transfer_encodings() -> None:
    boundary = "XyZ"
    parts = [
        ('name="a"', "Content-Transfer-Encoding: base64", b64(RAW)),
        ('name="b"', "Content-Transfer-Encoding: quoted-printable", "".join(f"={b:02X}" for b in RAW)),
        (f'name="f"; filename="{SECRET}.txt"', "Content-Type: text/plain", "hi"),
    ]
    for disposition, header, content in parts:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n{header}\r\n\r\n"
                f"{content}\r\n--{boundary}--\r\n").encode()
        found = ENGINE.scan_body(body, f"multipart/form-data; boundary={boundary}")
        assert "github-token" in {m.rule for m in found}, disposition


def test_form_and_binary_bodies() -> None:
    form = urllib.parse.urlencode({"a": "1", "secret": SECRET}).encode()
    found = ENGINE.scan_body(form, "application/x-www-form-urlencoded")
    assert "request.body.form[secret]" in {m.where for m in found}
    binary = b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) + b"tEXt" + RAW + b"\x00\xff"
    assert [m.where for m in ENGINE.scan_body(binary, "image/png")] == ["request.body(binary)"]


def test_redact_replaces_every_fragment() -> None:
    text = f'{{"a": "{SECRET}", "b": "{b64(RAW)}"}}'
    matches = ENGINE.scan(text, "body")
    out, missing = DLPEngine.redact(text, matches)
    assert not missing and SECRET not in out and b64(RAW) not in out
    assert out.count("[REDACTED:github-token]") == 2
    # an encoded copy is redacted as the token it was found in, not the whole text around it
    text = f'{{"note": "keep this", "url": "https://x.test/?t={urllib.parse.quote(SECRET, safe="")}"}}'
    out, missing = DLPEngine.redact(text, ENGINE.scan(text, "body"))
    assert not missing and "keep this" in out and "x.test" in out and "%67" not in out


# -- policy ----------------------------------------------------------------------------

def test_actions_and_scoped_suppressions() -> None:
    policy = parse_policy(textwrap.dedent("""
        dlp:
          actions: {jwt: audit, github-token: redact}
          suppress:
            - rules: [anthropic-api-key, generic-secret-assignment]
              hosts: [api.anthropic.com]
              locations: [request.header]
              reason: the agent's own model key, sent to its provider
    """))
    engine = compile_policy(policy, "p").dlp
    assert {m.action for m in engine.scan(SECRET, "x")} == {"redact"}
    key = ("sk-ant-api03-aB3dE5gH7jK9mN1pQ3sT5vX7zA2cE4gI6kM8oQ0sU2wY4aC6eG8iK0mO2qS4uW6yA8cE0gI2kM"
           "4oQ6sU8wY0a1b2c3d4AA")
    at_home = ScanContext(host="api.anthropic.com")
    head = engine.scan_headers([("x-api-key", key)], at_home)
    assert head
    assert {(m.action, "suppressed by dlp.suppress[0]" in m.reason) for m in head} == {("audit", True)}
    body = engine.scan_body(json.dumps({"k": key}).encode(), "application/json", ctx=at_home)
    assert "block" in {m.action for m in body}
    elsewhere = engine.scan_headers([("x-api-key", key)], ScanContext(host="evil.test"))
    assert {m.action for m in elsewhere} == {"block"}


@pytest.mark.parametrize(("snippet", "message"), [
    ("dlp:\n  known_secrets:\n    - {name: k, value: hunter2hunter2}", "would put the secret itself"),
    ("dlp:\n  known_secrets:\n    - hunter2hunter2", "never write the secret itself"),
    ("dlp:\n  known_secrets:\n    - {name: k, env: BOTTLE_NOT_SET_ANYWHERE}", "is not set"),
    ("dlp:\n  known_secrets:\n    - {name: k, file: /nonexistent/secret}", "cannot read"),
    ("dlp:\n  known_secrets:\n    - {name: k, env: A, file: B}", "exactly one source"),
    ("dlp:\n  actions: {no-such-rule: block}", "unknown DLP rule"),
    ("dlp:\n  suppress:\n    - rules: [jwt]\n      reason: ''", "non-empty reason"),
    ("dlp:\n  suppress:\n    - rules: [jwt]", "required"),
])
def test_policy_errors_name_the_line(snippet: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy("version: 1\n" + snippet, "bottle.yaml")
    text = str(err.value)
    assert message in text and "bottle.yaml:" in text and "hunter2" not in text


def test_known_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTTLE_TEST_SECRET_ENV", "env-secret-value-123")
    (tmp_path / "s").write_text("file-secret-value-456\n")
    policy = parse_policy(f"dlp:\n  known_secrets:\n    - {{name: e, env: BOTTLE_TEST_SECRET_ENV}}\n"
                          f"    - {{name: f, file: {tmp_path / 's'}}}\n")
    engine = compile_policy(policy, "p").dlp
    assert rules("x env-secret-value-123 y", engine) == {"known-secret"}
    assert rules(b64(b"file-secret-value-456"), engine) == {"known-secret"}
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(PolicyError, match="shorter than 8"):
        parse_policy(f"dlp:\n  known_secrets:\n    - {{name: s, file: {short}}}\n")


# -- streams ---------------------------------------------------------------------------

def test_stream_gate_holds_back_until_the_secret_is_seen() -> None:
    gate = StreamGate(ENGINE.stream("body"), ENGINE.overlap)
    filler = b"a" * (ENGINE.overlap * 2)
    forwarded = b""
    out, found = gate.push(filler + b" token " + RAW[:10])
    forwarded += out
    assert not found and RAW[:10] not in forwarded
    out, found = gate.push(RAW[10:] + b" tail")
    assert [m.rule for m in found] == ["github-token"]
    assert RAW[:10] not in forwarded + b""  # the caller forwards nothing more after a hit


def test_stream_gate_with_gzip_and_clean_passthrough() -> None:
    data = b"line of clean text\n" * 5000
    packed = gzip.compress(data)
    gate = StreamGate(ENGINE.stream("body"), ENGINE.overlap, StreamDecoder("gzip", max_out=10**7))
    out = b""
    for i in range(0, len(packed), 1000):
        chunk, found = gate.push(packed[i:i + 1000])
        assert not found
        out += chunk
    tail, found = gate.finish()
    assert not found and gzip.decompress(out + tail) == data
    secret = gzip.compress(b"x" * 3000 + b" " + RAW + b" " + b"y" * 3000)
    gate = StreamGate(ENGINE.stream("body"), ENGINE.overlap, StreamDecoder("gzip", max_out=10**7))
    hits = [m for i in range(0, len(secret), 7) for m in gate.push(secret[i:i + 7])[1]]
    assert [m.rule for m in hits] == ["github-token"]


# -- the adapter under replay ----------------------------------------------------------

def _replayer(policy: str = "version: 1\nhosts: {allow: [{hosts: ['*'], ports: ['*']}]}\n") -> Replayer:
    return Replayer(compile_policy(parse_policy(policy), "p"))


def test_replay_blocks_body_and_reports_limits_for_bombs() -> None:
    r = _replayer()
    flow = tflow.tflow()
    flow.request.content = json.dumps({"k": SECRET}).encode()
    flow.request.headers["content-type"] = "application/json"
    result = r.judge(flow)
    assert result.verdict == "block" and [f.rule for f in result.findings] == ["github-token"]
    bomb = tflow.tflow()
    bomb.request.headers["content-encoding"] = "gzip"
    bomb.request.raw_content = gzip.compress(b"\0" * (80 * 1024 * 1024))
    result = r.judge(bomb)
    assert result.verdict == "block" and result.findings[0].as_contract()["scanner"] == "limits"


def test_replay_websocket_split_across_messages() -> None:
    from mitmproxy import websocket
    r = _replayer()
    flow = tflow.twebsocketflow(messages=False)
    half = len(SECRET) // 2
    assert flow.websocket is not None
    flow.websocket.messages = [
        websocket.WebSocketMessage(1, True, b"hello"),
        websocket.WebSocketMessage(1, True, f"part one {SECRET[:half]}".encode()),
        websocket.WebSocketMessage(1, True, SECRET[half:].encode() + b" part two"),
        websocket.WebSocketMessage(1, True, b"never sent"),
    ]
    result = r.judge(flow)
    assert result.verdict == "block" and [f.rule for f in result.findings] == ["github-token"]
    assert result.findings[0].where == "websocket.client"
    assert flow.websocket.messages[2].dropped and len(flow.websocket.messages) == 3


def test_replay_server_messages_are_scanned_too() -> None:
    from mitmproxy import websocket
    flow = tflow.twebsocketflow(messages=False)
    assert flow.websocket is not None
    flow.websocket.messages = [websocket.WebSocketMessage(1, False, b64(RAW).encode())]
    assert _replayer().judge(flow).verdict == "block"


def test_default_policy_lets_the_agents_model_key_reach_its_provider_only() -> None:
    from egress.policy.compiled import default_policy_path
    from egress.policy.loader import load_policy
    engine = compile_policy(load_policy(default_policy_path()), "default").dlp
    key = ("sk-ant-api03-aB3dE5gH7jK9mN1pQ3sT5vX7zA2cE4gI6kM8oQ0sU2wY4aC6eG8iK0mO2qS4uW6yA8cE0gI2kM"
           "4oQ6sU8wY0a1b2c3d4AA")
    home = engine.scan_headers([("x-api-key", key)], ScanContext(host="api.anthropic.com"))
    assert home and {m.action for m in home} == {"audit"}
    away = engine.scan_headers([("x-api-key", key)], ScanContext(host="evil.test"))
    assert {m.action for m in away} == {"block"}
    body = engine.scan_body(json.dumps({"k": key}).encode(), "application/json",
                            ctx=ScanContext(host="api.anthropic.com"))
    assert "block" in {m.action for m in body}
