"""Shared builders for the addon unit tests: a real `Runtime` over a policy compiled from YAML
text, an audit log in a temporary file, crafted mitmproxy flows, and hooks dispatched the way
mitmproxy dispatches them (`taddons.context`, the addon manager, hook classes by name).

Assertions go through what an addon changes on a flow (response, headers, error, kill) and
the flow's record summary (`flow.metadata["bottle-egress"].as_metadata()`), never through
private helpers: the internals of the flow record, guard and streams are being reworked.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# imported for their side effect: defining every hook class registers it in `hooks.all_hooks`
import mitmproxy.addons
import mitmproxy.proxy.layers  # noqa: F401
import pytest
from mitmproxy import connection, flow, hooks, http, options
from mitmproxy.proxy import context
from mitmproxy.test import taddons, tflow, tutils
from mitmproxy.tls import ClientHello, ClientHelloData

from egress.audit import AuditLog
from egress.policy.compiled import CompiledPolicy, compile_policy
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.runtime import FixedPolicy, Runtime

RECORD_KEY = "bottle-egress"
BOTTLE = "bottle-t"
# Matches `dlp/aws-access-key-id` (and is not one of the documented example keys).
AWS_KEY = "AKIAZBBU4KN55QIHJAMQ"


def compiled(policy: str, source: str = "policy.yaml") -> CompiledPolicy:
    text = textwrap.dedent(policy)
    return compile_policy(parse_policy(text, source), source)


@dataclass
class Env:
    """One bottle's runtime with its audit log in a file."""

    runtime: Runtime
    audit_path: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line]

    def audit_text(self) -> str:
        return self.audit_path.read_text() if self.audit_path.exists() else ""


def make_env(tmp_path: Path, policy: str, *, live: bool = True, **runtime: Any) -> Env:
    known = KnownSecrets()
    path = tmp_path / f"audit-{len(list(tmp_path.glob('audit-*.jsonl')))}.jsonl"
    rt = Runtime(BOTTLE, FixedPolicy(compiled(policy)), AuditLog(path, known), known,
                 live=live, **runtime)
    return Env(rt, path)


@pytest.fixture
def tctx() -> Iterator[Any]:
    """A mitmproxy test context (`ctx.master` set, no proxy server: nothing is dialled)."""
    with taddons.context() as ctx:
        yield ctx


def call(tctx: Any, addon: object, hook: str, *args: Any) -> None:
    """Run `addon`'s `hook` the way mitmproxy does: the hook class registered under that name,
    dispatched by the addon manager (sync or async alike). Exceptions propagate."""
    event = hooks.all_hooks[hook](*args)
    tctx.master.event_loop.run_until_complete(tctx.master.addons.invoke_addon(addon, event))


def exchange(tctx: Any, addon: object, f: http.HTTPFlow, response: http.Response | None = None) -> None:
    """One HTTP exchange through `addon` in mitmproxy's hook order: the request hooks, then
    (unless the addon answered the request itself) the origin's `response` arrives and the
    response hooks run; without one, the flow ends as an error would."""
    for hook in ("requestheaders", "request"):
        call(tctx, addon, hook, f)
    if f.response is None and response is not None:
        f.response = response
    if f.response is not None:
        for hook in ("responseheaders", "response"):
            call(tctx, addon, hook, f)


def origin_response(content: bytes = b"ok", status: int = 200,
                    headers: dict[str, str] | None = None) -> http.Response:
    return http.Response.make(status, content, {"content-type": "text/plain", **(headers or {})})


def https_flow(host: str = "allowed.test", path: str = "/v1/x", *, method: str = "GET",
               headers: list[tuple[str, str]] | None = None, content: bytes = b"",
               sni: str | None = None, port: int = 443) -> http.HTTPFlow:
    """A decrypted HTTPS request inside a CONNECT tunnel to `host` (origin-form, SNI = host)."""
    fields = [(b"host", host.encode()), *((k.encode(), v.encode()) for k, v in headers or [])]
    if content and not any(k.lower() == "content-length" for k, _ in headers or []):
        fields.append((b"content-length", str(len(content)).encode()))
    req = tutils.treq(host=host, port=port, scheme=b"https", method=method.encode(),
                      path=path.encode(), authority=b"", headers=http.Headers(fields),
                      content=content)
    f = tflow.tflow(req=req)
    f.client_conn.tls = True
    f.client_conn.sni = sni if sni is not None else host
    f.server_conn.address = (host, port)
    return f


def connect_flow(host: str = "allowed.test", port: int = 443) -> http.HTTPFlow:
    req = tutils.treq(host=host, port=port, method=b"CONNECT", scheme=b"", path=b"",
                      authority=f"{host}:{port}".encode(), headers=http.Headers(), content=b"")
    f = tflow.tflow(req=req)
    f.client_conn.sni = None
    f.server_conn.address = (host, port)
    return f


def respond(f: http.HTTPFlow, content: bytes = b"ok", status: int = 200,
            headers: dict[str, str] | None = None) -> http.Response:
    f.response = origin_response(content, status, headers)
    return f.response


def streamed(stream: Any, chunks: list[bytes], end: bool = True) -> list[bytes]:
    """Push `chunks` (and the empty chunk that ends a body, when `end`) through a message's
    stream callable as mitmproxy does; what it forwarded, chunk by chunk."""
    assert callable(stream), "the message is not streamed"
    out: list[bytes] = []
    for chunk in [*chunks, b""] if end else chunks:
        result = stream(chunk)
        out += [result] if isinstance(result, bytes) else list(result)
    return out


def summary(f: flow.Flow) -> dict[str, Any] | None:
    """The flow's record as flow files carry it (None: no addon recorded anything)."""
    rec = f.metadata.get(RECORD_KEY)
    return None if rec is None else dict(rec.as_metadata())


def rules(f: flow.Flow) -> list[str]:
    s = summary(f)
    return [] if s is None else [f"{x['scanner']}/{x['rule']}" for x in s["findings"]]


def verdict(f: flow.Flow) -> str | None:
    s = summary(f)
    return None if s is None else str(s["verdict"])


def assert_denied(f: http.HTTPFlow, status: int, rule: str, decision: str = "block") -> dict[str, Any]:
    """`f` was answered with the structured denial for `rule` (scanner/rule); its JSON body."""
    assert f.response is not None, "no denial"
    assert f.response.status_code == status
    assert f.response.headers["content-type"] == "application/json"
    assert f.response.headers["x-bottle-block-reason"].startswith(f"{rule}: ")
    body = json.loads(f.response.content or b"")
    assert body["rule"] == rule and body["bottle"] == BOTTLE and body["flow"] == f.id
    assert verdict(f) == decision
    return dict(body)


def assert_untouched(f: http.HTTPFlow) -> None:
    """Nothing refused, answered or cut: the request goes on as it came."""
    assert f.response is None or f.response.status_code < 400
    assert f.error is None and f.killable
    assert verdict(f) in (None, "allow")


def client_hello(host: str | None, sni: str | None,
                 client: connection.Client | None = None) -> ClientHelloData:
    """The `tls_clienthello` hook's data: a TLS ClientHello offering `sni`, on a connection to
    `host` (the CONNECT target; None: no server address yet)."""
    ext = b""
    if sni is not None:
        name = sni.encode()
        entry = b"\x00" + len(name).to_bytes(2, "big") + name
        names = len(entry).to_bytes(2, "big") + entry
        ext = b"\x00\x00" + len(names).to_bytes(2, "big") + names
    # TLS 1.2 ClientHello: version, random, no session id, one cipher suite, null compression
    raw = (b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
           + len(ext).to_bytes(2, "big") + ext)
    ctx = context.Context(client or tflow.tclient_conn(), options.Options())
    ctx.server = tflow.tserver_conn()
    ctx.server.address = (host, 443) if host is not None else None
    return ClientHelloData(ctx, ClientHello(raw))
