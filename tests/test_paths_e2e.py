"""Path rules against the ways origins read a path (issue 17 row 17), through the live proxy
with raw request targets (curl and HTTP client libraries normalise paths before sending)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.artefacts import http_events
from tests.support.origin import Origin
from tests.support.rawhttp import exchange, h2_request

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
        - name: public-only
          hosts: [other.test]
          paths: [/public]
      deny:
        - hosts: [allowed.test]
          paths: [/admin]
          reason: no admin
"""

DENIED = ["/ADMIN", "/Admin/users", "/admin;x=1", "/admin;jsessionid=1/users", "/admin%2f",
          "/admin%2Fusers", "/x/..%2fadmin", "/x/%2e%2e/admin", "/%2561dmin", "/%252561dmin",
          "/x\\..\\admin", "/x%5c..%5cadmin", "/..;/admin", "/admin#frag", "/./admin"]
MALFORMED = ["/admin%00", "/admin%09", "/admin%2500", "/%0aadmin"]
ALLOWED = ["/administrator", "/public/admin", "/adminx", "/x/admin"]


@pytest.fixture
def proc(egress: EgressFactory, write_policy: PolicyWriter) -> Any:
    return egress(write_policy(POLICY))


def _get(proc: Any, host: str, port: int, path: str) -> Any:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    return exchange(proc, f"{host}:{port}", request.encode(), sni=host)


@pytest.mark.parametrize("path", DENIED)
def test_deny_rule_matches_every_reading_of_the_path(proc: Any, origin: Origin, path: str) -> None:
    reply = _get(proc, "allowed.test", origin.port, path)
    assert reply is not None and reply.status == 403, (path, reply)
    assert reply.json()["rule"] == "hosts/host-denied"
    assert origin.seen == []


@pytest.mark.parametrize("path", MALFORMED)
def test_control_characters_in_a_path_are_refused(proc: Any, origin: Origin, path: str) -> None:
    reply = _get(proc, "allowed.test", origin.port, path)
    assert reply is not None and reply.status == 400, (path, reply)
    assert reply.json()["rule"] == "hosts/malformed-path"
    assert origin.seen == []
    proc.stop()
    assert http_events(proc)[0]["findings"][0]["rule"] == "malformed-path"


def test_paths_outside_the_deny_prefix_still_pass(proc: Any, origin: Origin) -> None:
    for path in ALLOWED:
        reply = _get(proc, "allowed.test", origin.port, path)
        assert reply is not None and reply.status == 200, (path, reply)
    assert origin.paths() == ALLOWED


@pytest.mark.parametrize("path", ["/public/..%2fprivate", "/public%2f..%2f..%2fprivate",
                                  "/public/%252e%252e/private", "/public\\..\\private",
                                  "/public;x/../private"])
def test_allow_rule_must_cover_every_reading(proc: Any, origin: Origin, path: str) -> None:
    reply = _get(proc, "other.test", origin.port, path)
    assert reply is not None and reply.status == 403, (path, reply)
    assert reply.json()["rule"] == "hosts/request-not-allowed"
    assert origin.seen == []


def test_path_rules_hold_over_http2(proc: Any, origin: Origin) -> None:
    port = origin.port
    for path, status in (("/ADMIN", 403), ("/x/..%2fadmin", 403), ("/admin%00", 400),
                         ("/administrator", 200)):
        reply = h2_request(proc, f"allowed.test:{port}", [
            (":method", "GET"), (":scheme", "https"), (":authority", f"allowed.test:{port}"),
            (":path", path)], sni="allowed.test")
        assert reply.status == status, (path, reply)
    assert origin.paths() == ["/administrator"]


def test_case_sensitivity_is_a_rule_option(egress: EgressFactory, write_policy: PolicyWriter,
                                           origin: Origin) -> None:
    proc = egress(write_policy("""
        version: 1
        hosts:
          allow:
            - hosts: [allowed.test]
          deny:
            - hosts: [allowed.test]
              paths: [/Admin]
              ignore_case: false
    """))
    assert _get(proc, "allowed.test", origin.port, "/Admin").status == 403
    assert _get(proc, "allowed.test", origin.port, "/admin").status == 200
    assert origin.paths() == ["/admin"]
