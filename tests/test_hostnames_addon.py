"""The hostnames addon on mitmproxy test flows, and `bottle replay` over HTTP and DNS flows."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy import dns, http, io
from mitmproxy.net.dns import domain_names, response_codes
from mitmproxy.net.dns import types as dns_types
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow, tutils

from addons.audit import Audit
from addons.hostnames import Hostnames
from addons.support.flows import existing_record
from egress.audit import AuditLog
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.runtime import FixedPolicy, Runtime
from proxy.chain import inspection_addons
from proxy.flowbuild import write_flows
from proxy.replay import Replayer

ENCODED = "k2j4h6g8f0d2s4a6p8o0i2u4y6t8r0e2w4q6z8x0c2v4b7n1m3q5w7e9r2t4.allowed.test"
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test, "*.allowed.test"]
    dns:
      private_answers: [lan.allowed.test]
"""
REPO = Path(__file__).resolve().parents[1]


def runtime(policy: str = POLICY, live: bool = True) -> tuple[Runtime, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    class Sink(AuditLog):
        @property
        def active(self) -> bool:
            return True

        def write(self, event: dict[str, Any], sensitive: Any = ()) -> None:
            events.append(json.loads(self.serialize(event, sensitive)))

    compiled = compile_policy(parse_policy(textwrap.dedent(policy)), "test")
    return Runtime("t", FixedPolicy(compiled), Sink(None, KnownSecrets()), live=live), events


def https_flow(host: str, header: str | None = None, sni: str | None = None) -> http.HTTPFlow:
    req = tutils.treq(host=host, port=443, scheme=b"https",
                      headers=http.Headers(host=header or host))
    f = tflow.tflow(req=req)
    f.client_conn.sni = sni if sni is not None else host
    f.client_conn.tls = True
    return f


def connect_flow(host: str) -> http.HTTPFlow:
    req = tutils.treq(host=host, port=443, method=b"CONNECT", scheme=b"", path=b"",
                      authority=f"{host}:443".encode(), headers=http.Headers())
    return tflow.tflow(req=req)


def rules(f: Any) -> list[str]:
    rec = existing_record(f)
    return [x.rule for x in rec.findings] if rec else []


def test_registered_right_after_hosts() -> None:
    rt, _ = runtime()
    names = [a.name for a in inspection_addons(rt)]
    # (only the answerer of held denied tunnels, which judges nothing itself, comes first)
    assert names[:3] == ["denied-tunnel-answers", "hosts", "hostnames"]


def test_connect_target_is_scored_before_anything_else() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    f = connect_flow(ENCODED)
    addon.http_connect(f)
    assert f.response is not None and f.response.status_code == 403
    assert rules(f) == ["encoded-hostname"]
    assert f.response.headers["X-Bottle-Block-Reason"].startswith("hostnames/encoded-hostname")
    ok = connect_flow("api.allowed.test")
    Hostnames(runtime()[0]).http_connect(ok)  # a bottle that sent no encoded name there
    assert ok.response is None and rules(ok) == []
    # this bottle sent one: allowed.test is closed to it for the budget's window
    closed = connect_flow("api.allowed.test")
    addon.http_connect(closed)
    assert rules(closed) == ["volume-budget"] and closed.response is not None
    assert "refused names" in existing_record(closed).findings[0].reason  # type: ignore[union-attr]


def test_host_header_and_sni_are_scored_and_compared() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    ok = https_flow("api.allowed.test")
    addon.requestheaders(ok)
    assert ok.response is None

    encoded_header = https_flow("api.allowed.test", header=ENCODED, sni="api.allowed.test")
    addon.requestheaders(encoded_header)
    assert "encoded-hostname" in rules(encoded_header) and "domain-fronting" in rules(encoded_header)
    assert encoded_header.response is not None and encoded_header.response.status_code == 403

    fronted = https_flow("api.allowed.test", sni="cdn.allowed.test")
    Hostnames(runtime()[0]).requestheaders(fronted)  # (the encoded name closed allowed.test)
    assert rules(fronted) == ["domain-fronting"]
    body = json.loads(fronted.response.content or b"{}")  # type: ignore[union-attr]
    assert body["rule"] == "hostnames/domain-fronting" and "sni cdn.allowed.test" in body["reason"]


def test_connect_target_must_match_the_inner_request() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    c = connect_flow("api.allowed.test")
    addon.http_connect(c)
    inner = https_flow("www.allowed.test", sni="www.allowed.test")
    inner.client_conn = c.client_conn
    inner.client_conn.sni = "www.allowed.test"
    addon.requestheaders(inner)
    assert rules(inner) == ["domain-fronting"]
    assert "connect api.allowed.test" in existing_record(inner).findings[0].reason  # type: ignore[union-attr]


def test_port_case_and_trailing_dot_are_not_fronting() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    f = https_flow("api.allowed.test", header="API.Allowed.Test.:443", sni="api.allowed.test")
    addon.requestheaders(f)
    assert f.response is None and rules(f) == []


def test_internationalised_names_are_one_host_on_every_path() -> None:
    """mitmproxy decodes punycode in the CONNECT target and URL host but not in the Host
    header or SNI: the same IDN host is neither fronting nor malformed."""
    rt, _ = runtime(POLICY.replace('"*.allowed.test"]', '"*.allowed.test", "xn--mnchen-3ya.de"]'))
    addon = Hostnames(rt)
    c = connect_flow("m\u00fcnchen.de")
    addon.http_connect(c)
    assert c.response is None and rules(c) == []
    inner = https_flow("m\u00fcnchen.de", header="xn--mnchen-3ya.de", sni="xn--mnchen-3ya.de")
    inner.client_conn = c.client_conn
    addon.requestheaders(inner)
    assert inner.response is None and rules(inner) == []


def test_fronting_can_be_audited_or_off() -> None:
    for setting, expect in (("audit", ["domain-fronting"]), ("off", [])):
        rt, _ = runtime(POLICY + f"    hostnames:\n      fronting: {setting}\n")
        f = https_flow("api.allowed.test", sni="cdn.allowed.test")
        Hostnames(rt).requestheaders(f)
        assert f.response is None and rules(f) == expect


def _clienthello(client: Any, sni: str, connect: str) -> Any:
    server = SimpleNamespace(address=(connect, 443))
    return SimpleNamespace(context=SimpleNamespace(client=client, server=server),
                           client_hello=SimpleNamespace(sni=sni), ignore_connection=False)


def test_a_bad_sni_condemns_the_connection() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    client = tflow.tclient_conn()
    addon.tls_clienthello(_clienthello(client, ENCODED, "api.allowed.test"))
    # every request on that connection is refused, whatever it says
    f = https_flow("api.allowed.test")
    f.client_conn = client
    addon.requestheaders(f)
    assert f.response is not None and f.response.status_code == 403
    assert rules(f) == ["encoded-hostname"]
    # and nothing is dialled for it
    server = tflow.tserver_conn()
    addon.server_connect(ServerConnectionHookData(server=server, client=client))
    assert server.error and "blocked" in server.error
    raw = tflow.ttcpflow(client_conn=client)
    addon.tcp_start(raw)
    assert rules(raw) == ["encoded-hostname"]
    addon.client_disconnected(client)
    assert not addon._condemned


def test_sni_that_differs_from_connect_condemns_the_connection() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    client = tflow.tclient_conn()
    addon.tls_clienthello(_clienthello(client, "cdn.allowed.test", "api.allowed.test"))
    assert addon._condemned[client.id].rule == "domain-fronting"


def test_audit_mode_only_logs() -> None:
    rt, events = runtime(POLICY.replace("version: 1", "version: 1\n    mode: audit"))
    addon = Hostnames(rt)
    client = tflow.tclient_conn()
    addon.tls_clienthello(_clienthello(client, ENCODED, "api.allowed.test"))
    assert not addon._condemned and events and events[0]["event"] == "tls"
    f = connect_flow(ENCODED)
    addon.http_connect(f)
    assert f.response is None and existing_record(f).findings[0].action == "audit"  # type: ignore[union-attr]


def test_budget_trip_is_reported_once() -> None:
    rt, events = runtime(POLICY + "    hostnames:\n      budget: {max_encoded_names: 2}\n")
    addon = Hostnames(rt)
    flows = [connect_flow(f"{i:024x}.allowed.test") for i in range(5)]
    for f in flows:
        addon.http_connect(f)
    assert [f.response is not None for f in flows] == [False, False, True, True, True]
    assert [e["event"] for e in events] == ["hostname-budget"]
    assert events[0]["registered_domain"] == "allowed.test" and events[0]["encoded_names"] == 3


def test_the_audit_event_does_not_carry_the_encoded_labels() -> None:
    rt, events = runtime()
    f = connect_flow(ENCODED)
    Hostnames(rt).http_connect(f)
    Audit(rt).http_connect_error(f)
    line = json.dumps(events[0])
    assert ENCODED.split(".")[0] not in line and events[0]["host"] == "[REDACTED].allowed.test"


# -- DNS flows and replay ---------------------------------------------------------------------

def dns_flow(name: str, qtype: int = dns_types.A, answer: str | None = None) -> dns.DNSFlow:
    req = dns.DNSMessage(id=7, query=True, op_code=0, authoritative_answer=False,
                         truncation=False, recursion_desired=True, recursion_available=False,
                         reserved=0, response_code=0,
                         questions=[dns.Question(name, qtype, 1)], answers=[], authorities=[],
                         additionals=[])
    f = tflow.tdnsflow(req=req)
    if answer is not None:
        f.response = req.succeed([dns.ResourceRecord.A(name, ipaddress.IPv4Address(answer))])
    return f


def test_dns_flows_are_judged_like_the_guard() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    cases = {
        "www.allowed.test": [],
        "denied.test": ["host-not-allowed"],
        ENCODED: ["encoded-hostname"],
    }
    for name, expect in cases.items():
        f = dns_flow(name)
        addon.dns_request(f)
        assert rules(f) == expect, name
        if expect:
            assert f.response is not None and f.response.response_code == response_codes.NXDOMAIN
    txt = dns_flow("www.allowed.test", dns_types.TXT)
    Hostnames(runtime()[0]).dns_request(txt)  # (the encoded name closed allowed.test)
    assert rules(txt) == ["dns-qtype"]


def test_dns_responses_are_checked_for_rebinding() -> None:
    rt, _ = runtime(POLICY + "      blocked_rcode: refused\n")
    addon = Hostnames(rt)
    f = dns_flow("www.allowed.test", answer="10.0.0.5")
    addon.dns_response(f)
    assert rules(f) == ["dns-rebinding"]
    assert f.response is not None and f.response.response_code == response_codes.REFUSED
    ok = dns_flow("lan.allowed.test", answer="10.0.0.5")
    addon.dns_response(ok)
    assert rules(ok) == []


def test_replay_judges_http_and_dns_flows(tmp_path: Path) -> None:
    flows: list[Any] = [
        dns_flow("www.allowed.test", answer="93.184.216.34"),
        dns_flow("www.allowed.test", answer="127.0.0.1"),
        https_flow("api.allowed.test"),
        https_flow("api.allowed.test", sni="cdn.allowed.test"),
        dns_flow(ENCODED),
        https_flow("api.allowed.test", header=ENCODED, sni=ENCODED),
        # the encoded names closed allowed.test's budget: the same flow as the third
        https_flow("api.allowed.test"),
    ]
    path = write_flows(tmp_path / "flows.mitm", flows)
    policy = tmp_path / "policy.yaml"
    policy.write_text(textwrap.dedent(POLICY))
    compiled = compile_policy(parse_policy(policy.read_text()), str(policy))
    results = list(Replayer(compiled).run(io.FlowReader(path.open("rb")).stream()))
    verdicts = [(r.type, r.verdict, [f.rule for f in r.findings]) for r in results]
    assert verdicts == [
        ("dns", "allow", []),
        ("dns", "block", ["dns-rebinding"]),
        ("http", "allow", []),
        ("http", "block", ["domain-fronting"]),
        ("dns", "block", ["encoded-hostname"]),
        ("http", "block", ["encoded-hostname", "volume-budget", "domain-fronting"]),
        ("http", "block", ["volume-budget"]),
    ]
    out = subprocess.run([sys.executable, "-m", "cli.main", "replay", str(path), "--policy",
                          str(policy), "--format", "json"], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["verdict"] for line in lines] == [v for _, v, _ in verdicts]


@pytest.mark.parametrize("live", [True, False])
def test_replay_budget_uses_flow_time(live: bool) -> None:
    rt, _ = runtime(POLICY + "    hostnames:\n      budget: {max_encoded_names: 1, "
                             "window_seconds: 10}\n", live=live)
    addon = Hostnames(rt)
    first, second = connect_flow(f"{1:024x}.allowed.test"), connect_flow(f"{2:024x}.allowed.test")
    first.timestamp_created, second.timestamp_created = 1000.0, 1020.0
    addon.http_connect(first)
    addon.http_connect(second)
    # replay: 20 s of flow time apart, outside the 10 s window; live: same monotonic instant
    assert (second.response is None) is (not live)


def test_a_credential_placeholder_in_a_name_is_exfiltration() -> None:
    from egress.policy.model import Credential
    rt, _ = runtime()
    spec = Credential.model_validate({"name": "api", "host": "api.allowed.test",
                                      "header": "Authorization: Bearer {secret}",
                                      "source": {"env": "X"}, "placeholder": {"env": "API"}})
    rt.credentials.load([spec], lambda s: "real-secret-value-0001")
    placeholder = rt.credentials.placeholders()["api"]
    addon = Hostnames(rt)
    f = dns_flow(f"{placeholder}.allowed.test")
    addon.dns_request(f)
    assert "placeholder-exfiltration" in rules(f)
    assert f.response is not None and f.response.response_code == response_codes.NXDOMAIN
    client = tflow.tclient_conn()
    addon.tls_clienthello(_clienthello(client, f"{placeholder.upper()}.allowed.test",
                                       f"{placeholder.upper()}.allowed.test"))
    assert addon._condemned[client.id].rule == "placeholder-exfiltration"


def _svcb(ipv4: list[str] = (), ipv6: list[str] = ()) -> bytes:  # type: ignore[assignment]
    """SVCB/HTTPS record data: priority 1, target ".", alpn=h2 and the address hints."""
    data = b"\x00\x01\x00" + b"\x00\x01\x00\x03\x02h2"
    if ipv4:
        packed = b"".join(ipaddress.IPv4Address(a).packed for a in ipv4)
        data += (4).to_bytes(2, "big") + len(packed).to_bytes(2, "big") + packed
    if ipv6:
        packed = b"".join(ipaddress.IPv6Address(a).packed for a in ipv6)
        data += (6).to_bytes(2, "big") + len(packed).to_bytes(2, "big") + packed
    return data


def test_replayed_dns_answers_are_checked_in_hints_and_every_section() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)

    def answered(name: str, qtype: int, answers: list[dns.ResourceRecord],
                 additionals: list[dns.ResourceRecord] = ()) -> dns.DNSFlow:  # type: ignore[assignment]
        f = dns_flow(name, qtype)
        f.response = f.request.succeed(answers)
        f.response.additionals = list(additionals)
        addon.dns_response(f)
        return f

    def https(name: str, data: bytes) -> dns.ResourceRecord:
        return dns.ResourceRecord(name, dns_types.HTTPS, 1, 60, data)

    hint = answered("svc.allowed.test", dns_types.HTTPS,
                    [https("svc.allowed.test", _svcb(["169.254.169.254"]))])
    assert rules(hint) == ["dns-rebinding"]
    glue = answered("mx.allowed.test", dns_types.MX, [],
                    [dns.ResourceRecord.A("mail.allowed.test", ipaddress.IPv4Address("10.9.9.9"))])
    assert rules(glue) == ["dns-rebinding"]
    public = answered("pub.allowed.test", dns_types.HTTPS,
                      [https("pub.allowed.test", _svcb(["93.184.216.34"], ["2606:4700::1"]))])
    assert rules(public) == []
    broken = answered("bad.allowed.test", dns_types.HTTPS,
                      [https("bad.allowed.test", b"\x00\x01\x00\x00\x04\x00\x03\x0a\x00\x00")])
    assert rules(broken) == ["dns-upstream"]


def test_replayed_dns_names_are_scanned_for_secrets() -> None:
    rt, _ = runtime()
    addon = Hostnames(rt)
    key = "AKIAY54DFF4BDIFIBW6L"
    f = dns_flow(f"{key[:8].lower()}.{key[8:].lower()}.allowed.test")
    addon.dns_request(f)
    assert "aws-access-key-id" in rules(f)
    assert f.response is not None and f.response.response_code == response_codes.NXDOMAIN
    rec = existing_record(f)
    # the data part is scrubbed from every artefact of the flow
    assert rec is not None and f"{key[:8].lower()}.{key[8:].lower()}" in rec.sensitive


# -- one normalisation: every path gives the same name the same score -------------------------

MIXED = "q3VjZ5X2k8M4n7P1w9R6t0Y2u5I8o3A6s9D2f5G8h1J4k7L0.allowed.test"


def _score_in(reason: str) -> str:
    return reason.split("score ", 1)[1].split(" ", 1)[0]


def _cname_flow(name: str, target: str) -> dns.DNSFlow:
    f = dns_flow(name)
    f.response = f.request.succeed([dns.ResourceRecord(name, dns_types.CNAME, 1, 60,
                                                       domain_names.pack(target))])
    return f


def _paths(name: str, cname: bool = True) -> dict[str, list[Any]]:
    """The findings each path reports for `name`: CONNECT, SNI, Host header, absolute-form
    URL, DNS question, CNAME answer (`cname`: only names a CNAME record can carry)."""
    def fresh() -> Hostnames:
        # a bottle of its own per path: the budget (a refused name closes its zone) must
        # not let one path's verdict decide the next one's
        return Hostnames(runtime()[0])

    out: dict[str, list[Any]] = {}
    connect = connect_flow(name)
    fresh().http_connect(connect)
    out["connect"] = list(existing_record(connect).findings)  # type: ignore[union-attr]
    client = tflow.tclient_conn()
    addon = fresh()
    addon.tls_clienthello(_clienthello(client, name, name))
    out["sni"] = [addon._condemned[client.id]] if client.id in addon._condemned else []
    header = https_flow("api.allowed.test", header=name, sni="api.allowed.test")
    fresh().requestheaders(header)
    out["host-header"] = [x for x in existing_record(header).findings  # type: ignore[union-attr]
                          if x.rule != "domain-fronting"]
    absolute = tflow.tflow(req=tutils.treq(host=name, port=80, scheme=b"http",
                                           authority=name.encode(),
                                           headers=http.Headers(host=name)))
    fresh().requestheaders(absolute)
    out["absolute-url"] = list(existing_record(absolute).findings)  # type: ignore[union-attr]
    question = dns_flow(name)
    fresh().dns_request(question)
    out["dns"] = list(existing_record(question).findings)  # type: ignore[union-attr]
    if cname:
        answer = _cname_flow("www.allowed.test", name)
        fresh().dns_response(answer)
        out["cname"] = list(existing_record(answer).findings)  # type: ignore[union-attr]
    return out


def test_the_same_name_gets_the_same_score_on_every_path() -> None:
    paths = _paths(MIXED)
    scores = {}
    for path, findings in paths.items():
        assert findings, path
        want = "dns-cname-target" if path == "cname" else "encoded-hostname"
        assert findings[0].rule == want, (path, findings)
        scores[path] = _score_in(findings[0].reason)
    assert len(set(scores.values())) == 1, scores
    # case was kept everywhere: lower-cased, the same label scores far less (no finding)
    assert not _paths(MIXED.lower())["host-header"]


@pytest.mark.parametrize(("name", "wire"), [
    ("abc.FFFF..hidemyself.org", False), ("a" * 64 + ".allowed.test", False),
    ("q+Z8AnwaBA.allowed.test", True), ("x.*.allowed.test", True)])
def test_malformed_names_get_the_same_verdict_on_every_path(name: str, wire: bool) -> None:
    """`wire`: a DNS record can carry the name (an empty or 64-character label cannot)."""
    for path, findings in _paths(name, cname=wire).items():
        rules_seen = [x.rule for x in findings]
        if path == "cname":
            assert rules_seen == ["dns-cname-target"] and "not a valid host name" in \
                findings[0].reason, (path, findings)
        else:
            assert "malformed-hostname" in rules_seen, (path, rules_seen)
            assert all(x.action == "block" for x in findings if x.rule == "malformed-hostname")
