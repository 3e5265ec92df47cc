"""The credentials addon on mitmproxy test flows: destination checks, injection, restore,
response scrubbing (buffered, encoded and streamed), WebSocket and CONNECT, audit mode."""

from __future__ import annotations

import base64
import gzip
import textwrap
import zlib

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from addons.credentials import Credentials
from addons.dlp import DLP
from addons.limits import Limits
from addons.support.failclosed import FailClosed
from addons.support.flows import existing_record
from egress.audit import AuditLog
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.runtime import FixedPolicy, Runtime

KEY = "real-key-0123456789abcdef0123"
OAUTH = "real-oauth-abcdefabcdef0123456"

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [api.example.com, other.example.com]
    credentials:
      - name: key
        host: api.example.com
        header: "x-api-key: {{secret}}"
        add_if_missing: false
        source: {{env: K}}
        placeholder: {{env: KEY}}
      - name: oauth
        host: api.example.com
        header: "Authorization: Bearer {{secret}}"
        source: {{env: O}}
        placeholder: {{env: OAUTH}}
"""


def setup(mode: str = "enforce") -> tuple[Credentials, Runtime]:
    compiled = compile_policy(parse_policy(textwrap.dedent(POLICY.format(mode=mode))), "p")
    known = KnownSecrets()
    runtime = Runtime("b1", FixedPolicy(compiled), AuditLog(None, known), known)
    values = {"K": KEY, "O": OAUTH}
    runtime.credentials.load(compiled.policy.credentials, lambda s: values[s.env or ""])
    return Credentials(runtime, FailClosed(runtime)), runtime


def flow(host: str = "api.example.com", sni: str | None = "api.example.com",
         headers: list[tuple[bytes, bytes]] | None = None, path: str = "/v1/messages",
         content: bytes = b"") -> http.HTTPFlow:
    f = tflow.tflow()
    f.request = tutils.treq(host=host, port=443, scheme=b"https", path=path.encode(),
                            headers=http.Headers([(b"host", host.encode()), *(headers or [])]),
                            content=content)
    f.server_conn.address = (host, 443)
    f.client_conn.sni = sni
    return f


def finding_rules(f: http.HTTPFlow) -> list[str]:
    rec = existing_record(f)
    return [x.rule for x in rec.findings] if rec else []


def test_injects_only_when_every_name_agrees():
    addon, rt = setup()
    ph = rt.credentials.placeholders()["oauth"]
    ok = flow(headers=[(b"authorization", f"Bearer {ph}".encode())])
    addon.request(ok)
    assert ok.request.headers["authorization"] == f"Bearer {OAUTH}" and ok.response is None
    assert existing_record(ok).injected == ["oauth"]  # type: ignore[union-attr]
    # SNI names another host: no injection, and the placeholder may not leave
    for bad in (flow(sni="other.example.com", headers=[(b"authorization", f"Bearer {ph}".encode())]),
                flow(sni=None, headers=[(b"authorization", f"Bearer {ph}".encode())])):
        addon.request(bad)
        assert bad.response is not None and bad.response.status_code == 403
        assert finding_rules(bad) == ["placeholder-exfiltration"]
        assert OAUTH not in str(bad.request.headers)
    # nothing sent: the proxy adds the credential (but not the `add_if_missing: false` one)
    bare = flow()
    addon.request(bare)
    assert bare.request.headers["authorization"] == f"Bearer {OAUTH}"
    assert "x-api-key" not in bare.request.headers


def test_sibling_credentials_on_one_host_do_not_override_each_other():
    addon, rt = setup()
    key_ph = rt.credentials.placeholders()["key"]
    # a newer SDK sends the API key as a Bearer token: it stays the API key
    f = flow(headers=[(b"authorization", f"Bearer {key_ph}".encode())])
    addon.request(f)
    assert f.request.headers["authorization"] == f"Bearer {KEY}"
    assert finding_rules(f) == []


def test_the_kept_request_gets_the_placeholder_back_and_the_response_is_scrubbed():
    addon, rt = setup()
    ph = rt.credentials.placeholders()["oauth"]
    f = flow(headers=[(b"authorization", f"Bearer {ph}".encode())])
    addon.request(f)
    f.response = tutils.tresp(headers=http.Headers([(b"content-type", b"application/json"),
                                                    (b"x-echo", KEY.encode())]),
                              content=f'{{"auth": "Bearer {OAUTH}"}}'.encode())
    addon.responseheaders(f)
    assert f.request.headers["authorization"] == f"Bearer {ph}"
    assert f.response.headers["x-echo"] == rt.credentials.placeholders()["key"]
    addon.response(f)
    assert f.response.content == f'{{"auth": "Bearer {ph}"}}'.encode()


def test_encoded_responses_are_decoded_to_be_scrubbed():
    addon, rt = setup()
    f = flow()
    addon.request(f)
    body = gzip.compress(b"token=" + base64.b64encode(OAUTH.encode()))
    f.response = tutils.tresp(headers=http.Headers([(b"content-encoding", b"gzip")]), content=b"")
    f.response.raw_content = body
    addon.responseheaders(f)
    addon.response(f)
    ph = rt.credentials.placeholders()["oauth"]
    assert f.response.content == b"token=" + base64.b64encode(ph.encode())
    corrupt = flow()
    corrupt.response = tutils.tresp(headers=http.Headers([(b"content-encoding", b"gzip")]), content=b"")
    corrupt.response.raw_content = b"not gzip at all"
    addon.response(corrupt)
    assert corrupt.response.status_code == 502
    assert finding_rules(corrupt) == ["response-not-scrubbable"]


def test_event_streams_stay_streamed_and_are_scrubbed_across_chunks():
    addon, rt = setup()
    f = flow()
    f.response = tutils.tresp(headers=http.Headers([(b"content-type", b"text/event-stream")]),
                              content=None)
    Limits(rt).responseheaders(f)  # streams it: the chain's order
    addon.responseheaders(f)
    stream = f.response.stream
    assert callable(stream)
    event = f"data: {{\"k\": \"{OAUTH}\"}}\n\n".encode()
    out: list[bytes] = []
    for part in (event[:20], event[20:25], event[25:]):
        got = stream(part)
        chunks = [got] if isinstance(got, bytes) else list(got)
        assert b"" not in chunks  # an empty chunk would end the response mid-stream
        out.extend(chunks)
    end = stream(b"")
    out.extend([end] if isinstance(end, bytes) else list(end))
    ph = rt.credentials.placeholders()["oauth"]
    assert b"".join(out) == f"data: {{\"k\": \"{ph}\"}}\n\n".encode()
    # responses from other hosts are left alone
    other = flow(host="other.example.com", sni="other.example.com")
    other.response = tutils.tresp(headers=http.Headers([(b"content-type", b"text/event-stream")]))
    Limits(rt).responseheaders(other)
    addon.responseheaders(other)
    passed = other.response.stream
    assert callable(passed) and list(passed(event)) == [event]


def test_placeholders_in_websocket_messages_and_connect_targets_are_blocked():
    addon, rt = setup()
    ph = rt.credentials.placeholders()["oauth"]
    ws = tflow.twebsocketflow()
    ws.websocket.messages[-1].from_client = True  # type: ignore[union-attr]
    ws.websocket.messages[-1].content = f"hello {ph}".encode()  # type: ignore[union-attr]
    addon.websocket_message(ws)
    assert ws.websocket.messages[-1].dropped  # type: ignore[union-attr]
    assert finding_rules(ws) == ["placeholder-exfiltration"]
    connect = tflow.tflow()
    connect.request = tutils.treq(method=b"CONNECT", host=f"{ph}.evil.example", port=443, path=b"")
    addon.http_connect(connect)
    assert connect.response is not None and connect.response.status_code == 403


def test_audit_mode_reports_but_does_not_block():
    addon, rt = setup("audit")
    ph = rt.credentials.placeholders()["oauth"]
    f = flow(host="other.example.com", sni="other.example.com",
             headers=[(b"authorization", f"Bearer {ph}".encode())])
    addon.request(f)
    assert f.response is None and finding_rules(f) == ["placeholder-exfiltration"]
    assert f.request.headers["authorization"] == f"Bearer {ph}"


# -- streamed request bodies: the head leaves before the body has arrived ------------------

def streamed(addon: Credentials, rt: Runtime, f: http.HTTPFlow) -> None:
    """`requestheaders` as the chain runs it for a chunked body: DLP decides it streams."""
    f.request.headers["transfer-encoding"] = "chunked"
    f.request.headers.pop("content-length", None)
    f.request.data.content = None
    DLP(rt, FailClosed(rt)).requestheaders(f)
    assert callable(f.request.stream)
    addon.requestheaders(f)


def pump(f: http.HTTPFlow, chunks: list[bytes]) -> tuple[bytes, bool]:
    """Feed a request body through its stream as mitmproxy does (b"" at the end); what was
    forwarded, and whether the stream stopped (nothing more forwarded) before the end."""
    out: list[bytes] = []
    stream = f.request.stream
    assert callable(stream)
    for chunk in [*chunks, b""]:
        got = stream(chunk)
        pieces = [got] if isinstance(got, bytes) else list(got)
        assert b"" not in pieces  # an empty chunk would end an HTTP/1 body early
        out.extend(pieces)
        rec = existing_record(f)
        if rec is not None and rec.blocked is not None:
            return b"".join(out), True
    return b"".join(out), False


def test_a_streamed_request_gets_its_credential_at_the_head_and_keeps_a_placeholder_copy():
    addon, rt = setup()
    ph = rt.credentials.placeholders()["oauth"]
    f = flow(headers=[(b"authorization", f"Bearer {ph}".encode())])
    streamed(addon, rt, f)
    # what mitmproxy sends right after this hook: the real value
    sent = f.request
    assert sent.headers["authorization"] == f"Bearer {OAUTH}"
    body, stopped = pump(f, [b"x" * 5000, b"y" * 3000])
    assert not stopped and body == b"x" * 5000 + b"y" * 3000
    # once the head is out, the flow keeps a copy with the placeholder back; the object sent
    # (HTTP/2 may still hold it in a queue) is left with the real value
    assert f.request is not sent and f.request.stream is sent.stream
    assert f.request.headers["authorization"] == f"Bearer {ph}"
    assert sent.headers["authorization"] == f"Bearer {OAUTH}"
    addon.request(f)  # the body was judged as it passed: nothing more to do
    assert finding_rules(f) == [] and existing_record(f).injected == ["oauth"]  # type: ignore[union-attr]
    assert f.request.headers["authorization"] == f"Bearer {ph}"


def test_a_placeholder_in_a_streamed_body_stops_it_before_any_byte_of_the_placeholder():
    addon, rt = setup()
    ph = rt.credentials.placeholders()["oauth"].encode()
    filler = b"x" * 6000
    for host in ("api.example.com", "other.example.com"):
        for form, encoding in ((ph, None), (base64.b64encode(ph), None), (ph.hex().encode(), "gzip")):
            f = flow(host=host, sni=host)
            body = filler + b" note " + form + b" end " + filler
            wire = gzip.compress(body) if encoding else body
            if encoding:
                f.request.headers["content-encoding"] = encoding
            streamed(addon, rt, f)
            cut = body.index(form) + len(form) // 2  # the placeholder split across chunks
            chunks = [wire[:cut], wire[cut:]] if not encoding else \
                [wire[i:i + 97] for i in range(0, len(wire), 97)]
            out, stopped = pump(f, chunks)
            assert stopped, (host, form[:8])
            assert finding_rules(f) == ["placeholder-exfiltration"]
            assert existing_record(f).blocked.where == "request.body"  # type: ignore[union-attr]
            if encoding is None:
                assert body.startswith(out) and len(out) <= body.index(form)
            else:
                # whole gzip chunks are held: what went out decodes to a prefix before it
                decoded = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(out)
                assert body.startswith(decoded) and len(decoded) <= body.index(form)


def test_audit_mode_forwards_a_streamed_body_with_a_placeholder_and_reports_it_once():
    addon, rt = setup("audit")
    ph = rt.credentials.placeholders()["oauth"].encode()
    f = flow(host="other.example.com", sni="other.example.com")
    streamed(addon, rt, f)
    body = b"a" * 3000 + ph + b"b" * 3000 + ph + b"c" * 100
    out, stopped = pump(f, [body[:3010], body[3010:]])
    assert not stopped and out == body
    assert finding_rules(f) == ["placeholder-exfiltration"]


def test_a_body_that_was_to_stream_but_came_whole_is_judged_in_request():
    # `bottle replay` (or streaming called off after the head) hands the body over whole:
    # the stream never ran, so the placeholder check happens in `request`.
    addon, rt = setup()
    ph = rt.credentials.placeholders()["oauth"].encode()
    f = flow(host="other.example.com", sni="other.example.com")
    streamed(addon, rt, f)
    f.request.data.content = b"x" * 5000 + ph
    addon.request(f)
    assert finding_rules(f) == ["placeholder-exfiltration"]
    assert f.response is not None and f.response.status_code == 403
