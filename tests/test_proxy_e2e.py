"""The foundation end to end: real proxy, real TLS origin, real clients, real resolver."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest
import requests

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.dns import DNSFixture
from tests.support.nginx import Nginx
from tests.support.origin import Origin, echo

ALLOW_ALLOWED = """
    version: 1
    hosts:
      allow:
        - name: test-origin
          hosts: [allowed.test, "*.allowed.test"]
        - name: read-only
          hosts: [other.test]
          methods: [GET]
          paths: [/public]
"""


def curl(proc, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *extra, url],
                          env=proc.client_env(), capture_output=True, text=True, check=False)


def audit_events(proc) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.audit_path.read_text().splitlines() if line]


def test_curl_reaches_allowed_host_and_gets_structured_denial(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, dns: DNSFixture):
    proc = egress(write_policy(ALLOW_ALLOWED))
    ok = curl(proc, f"https://allowed.test:{origin.port}/hello", "-w", "\n%{http_code}")
    assert ok.stdout.splitlines()[-1] == "200", ok.stderr
    assert "hello from origin" in ok.stdout

    denied = curl(proc, f"https://denied.test:{origin.port}/secret", "-v")
    # answered inside a TLS tunnel to nowhere: curl shows the JSON denial, not a tunnel error
    assert "< HTTP/2 403" in denied.stderr or "< HTTP/1.1 403" in denied.stderr, denied.stderr
    assert "x-bottle-block-reason: hosts/host-not-allowed" in denied.stderr.lower()
    assert json.loads(denied.stdout)["rule"] == "hosts/host-not-allowed"

    # the denied host was never looked up, never contacted
    assert "denied.test" not in dns.resolver.names()
    assert "allowed.test" in dns.resolver.names()
    assert all(r.host.split(":")[0] != "denied.test" for r in origin.seen)
    assert origin.paths() == ["/hello"]

    events = audit_events(proc)
    connect = [e for e in events if e.get("host") == "denied.test"]
    assert connect and connect[0]["verdict"] == "block"
    assert connect[0]["findings"][0]["rule"] == "host-not-allowed"
    allowed = [e for e in events if e.get("host") == "allowed.test"]
    assert allowed[0]["verdict"] == "allow" and allowed[0]["status"] == 200


def test_method_and_path_rules_answer_with_json_inside_tls(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin):
    proc = egress(write_policy(ALLOW_ALLOWED))
    base = f"https://other.test:{origin.port}"
    got = curl(proc, f"{base}/public/readme", "-w", "\n%{http_code}")
    assert got.stdout.splitlines()[-1] == "200"
    for args, path in ((["-X", "POST", "-d", "x=1"], "/public/readme"), ([], "/private/x"),
                       ([], "/public/../private/x"), ([], "/publicity")):
        res = curl(proc, f"{base}{path}", "--path-as-is", "-i", *args)
        # curl -i prints the proxy's CONNECT answer first; the last header block is ours
        head, _, body = res.stdout[res.stdout.rfind("HTTP/"):].partition("\n\n")
        assert head.startswith("HTTP/") and " 403" in head.splitlines()[0], (path, res.stdout)
        assert "x-bottle-block-reason: hosts/request-not-allowed" in head.lower()
        doc = json.loads(body)
        assert doc["error"] == "blocked" and doc["rule"] == "hosts/request-not-allowed"
        assert doc["reason"] and doc["hint"] and doc["flow"]
    assert origin.paths() == ["/public/readme"]


def test_python_clients_trust_only_the_printed_bundle(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert, pki):
    with Origin(origin_cert, {"/echo": echo}) as o:
        proc = egress(write_policy(ALLOW_ALLOWED))
        bundle = proc.env["REQUESTS_CA_BUNDLE"]
        proxies = {"https": proc.url, "http": proc.url}
        r = requests.get(f"https://allowed.test:{o.port}/echo", proxies=proxies, verify=bundle,
                         timeout=20)
        assert r.status_code == 200 and r.json()["host"] == f"allowed.test:{o.port}"
        with httpx.Client(proxy=proc.url, verify=proc.env["SSL_CERT_FILE"], timeout=20) as c:
            r2 = c.post(f"https://api.allowed.test:{o.port}/echo", json={"k": "v"})
        assert r2.status_code == 200 and json.loads(r2.json()["body"]) == {"k": "v"}
        # the origin's own CA is not in the bundle: the proxy's certificate is what clients see
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://allowed.test:{o.port}/echo", proxies=proxies,
                         verify=str(pki.ca_path), timeout=20)
        denied = requests.get(f"https://denied.test:{o.port}/", proxies=proxies, verify=bundle,
                              timeout=20)
        assert denied.status_code == 403 and denied.json()["rule"] == "hosts/host-not-allowed"
        assert o.paths() == ["/echo", "/echo"]


def test_http2_to_the_client(egress: EgressFactory, write_policy: PolicyWriter, origin: Origin):
    proc = egress(write_policy(ALLOW_ALLOWED))
    res = curl(proc, f"https://allowed.test:{origin.port}/h2", "--http2", "-w",
               "\n%{http_version} %{http_code}")
    assert res.stdout.splitlines()[-1] == "2 200", res.stderr


def test_http2_to_the_origin_when_the_client_speaks_it(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert) -> None:
    with Nginx(origin_cert) as nginx:
        proc = egress(write_policy(ALLOW_ALLOWED))
        h2 = curl(proc, f"https://allowed.test:{nginx.port}/", "--http2")
        assert h2.stdout.strip() == "protocol=HTTP/2.0", h2.stderr
        h1 = curl(proc, f"https://allowed.test:{nginx.port}/", "--http1.1")
        assert h1.stdout.strip() == "protocol=HTTP/1.1", h1.stderr
