"""Denial hints that name the smallest policy change (issue 14, "from block to rule"): every
refusal a reviewer could lift by a policy change says which rule to add and where, in the
policy's own syntax, and points to `bottle policy suggest`; the hint names the host, method
and at most the path's first two segments, never a query or anything else of the request.
Scanner findings (DLP) keep their "remove the secret" hint and suggest no policy change."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from egress.scan.hosts import allow_snippet
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

TOKEN = "tok" + "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
AWS_KEY = "AKIA" + "QWERTYUIOPASDFGH"
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
          methods: [GET, POST]
          paths: [/docs]
      deny:
        - name: no-admin
          hosts: [allowed.test]
          paths: [/docs/admin]
"""
SUGGEST = "bottle policy suggest --from-audit"


def call(env: dict[str, str], url: str, *extra: str) -> dict[str, Any]:
    res = subprocess.run(["curl", "-sS", "--max-time", "20", *extra, url], env=env,
                         capture_output=True, text=True, check=False)
    assert res.stdout.startswith("{"), (res.stdout, res.stderr)
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_policy_denials_name_the_rule_that_would_allow_them(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    path = write_policy(POLICY)
    proc = egress(path)
    env, port = proc.client_env(), origin.port

    host = call(env, f"https://other.test:{port}/v1/models")
    assert host["rule"] == "hosts/host-not-allowed"
    assert "{hosts: [other.test]}" in host["hint"] and "hosts.allow in policy.yaml" in host["hint"]
    assert SUGGEST in host["hint"]

    request = call(env, f"https://allowed.test:{port}/private/a/{TOKEN}/x?key={TOKEN}", "-X", "PUT")
    assert request["rule"] == "hosts/request-not-allowed"
    assert "{hosts: [allowed.test], methods: [PUT], paths: [/private/a]}" in request["hint"]
    assert SUGGEST in request["hint"]

    denied = call(env, f"https://allowed.test:{port}/docs/admin/users")
    assert denied["rule"] == "hosts/host-denied"
    assert "deny[0] (no-admin)" in denied["hint"] and "policy.yaml" in denied["hint"]

    dlp = call(env, f"https://allowed.test:{port}/docs/x", "-X", "POST", "-d", f"k={AWS_KEY}")
    assert dlp["rule"].startswith("dlp/")
    assert "hosts.allow" not in dlp["hint"] and "suggest" not in dlp["hint"]
    assert "Remove it" in dlp["hint"]

    assert origin.paths() == []
    proc.stop()
    everything = json.dumps([host, request, denied, dlp]) + proc.audit_path.read_text() + proc.stderr()
    # the hint names at most two path segments and no query (the reason names the path, as
    # it did before hints)
    assert not [d["hint"] for d in (host, request, denied, dlp) if TOKEN in d["hint"]]
    assert AWS_KEY not in everything and str(path.parent) not in json.dumps([host, request])


def test_port_and_private_address_denials_name_ports_and_allow_private(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    path = write_policy(POLICY)
    ports = egress(path, "--allow-private", "127.0.0.1", local_origin=False)
    port = call(ports.client_env(), f"https://allowed.test:{origin.port}/docs/a")
    assert port["rule"] == "hosts/port-not-allowed"
    # refused at CONNECT, before any request: the destination is all there is to allow
    assert f"{{hosts: [allowed.test], ports: [{origin.port}]}}" in port["hint"], port["hint"]
    assert SUGGEST in port["hint"]
    ports.stop()

    private = egress(write_policy(POLICY.replace("allowed.test]\n          methods",
                                                 "allowed.test]\n          ports: ['*']\n          methods")),
                     local_origin=False)
    refused = call(private.client_env(), f"https://allowed.test:{origin.port}/docs/a")
    assert refused["rule"] == "hosts/private-address"
    assert '"127.0.0.1"' in refused["hint"] and "hosts.allow_private" in refused["hint"]
    assert origin.paths() == []


@pytest.mark.parametrize(("path", "shown"), [
    ("/v1/chat/completions", "/v1/chat"),
    ("/api/models", "/api/models"),
    ("/v1/AKIAZBBU4KN55QIHJAMQ", "/v1"),  # a token is never spelled: the prefix stops before it
    ("/d41d8cd98f00b204e9800998ecf8427e/x", "/"),
    ("/repos/ghp_Zp4Lm8Qx2Rv6Tn0Wb3Yc7Kd1Hf5Js9abcd/x", "/repos"),
])
def test_a_hint_names_path_words_only(path: str, shown: str) -> None:
    snippet = allow_snippet("api.example.com", 443, "GET", path)
    assert f"paths: [{shown}]" in snippet
    assert all(seg not in snippet for seg in path.split("/") if len(seg) > 12)
