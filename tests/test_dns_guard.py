"""The DNS guard against a real upstream resolver on loopback, with real clients."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dnslib import CLASS, CNAME, QTYPE, RCODE, RR, A, DNSHeader, DNSQuestion, DNSRecord
from dnslib.server import DNSLogger, DNSServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress.audit import AuditLog
from egress.policy.store import PolicyStore
from egress.redact import KnownSecrets
from egress.runtime import Runtime
from proxy.dns.addresses import DnsConfigError, check_not_self, parse_hostport, system_resolver
from proxy.dns.guard import DnsGuard
from proxy.dns.wire import MAX_QUERY_BYTES, parse_query
from tests.support.dns import DNSFixture, RecordingResolver
from tests.support.prereq import require_binary
from tests.support.proxy import REPO, with_resolver

ENCODED = "q3vjz5x2k8m4n7p1w9r6t0y2u5i8o3a6s9d2f5g8h1j4k7l0z3x6c9v2b5n8m1.allowed.test"

POLICY = textwrap.dedent("""\
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test, "*.allowed.test", public.example]
    dns:
      private_answers: [allowed.test, "*.allowed.test"]
""")


class CnameResolver(RecordingResolver):
    """The recording resolver, plus CNAME answers and public addresses for some names."""

    def __init__(self, zones: dict[str, str], cnames: dict[str, str]) -> None:
        super().__init__(zones)
        self.cnames = cnames

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        target = self.cnames.get(name)
        if target is None:
            return super().resolve(request, handler)
        with self._lock:
            self.queries.append((name, QTYPE[request.q.qtype]))
        reply = request.reply()
        reply.add_answer(RR(request.q.qname, QTYPE.CNAME, rdata=CNAME(target), ttl=5))
        reply.add_answer(RR(target, QTYPE.A, rdata=A("93.184.216.34"), ttl=5))
        return reply


class Upstream:
    """A real resolver (dnslib) on 127.0.0.1, UDP and TCP on one ephemeral port."""

    def __init__(self) -> None:
        self.resolver = CnameResolver(
            {"test": "127.0.0.1", "public.example": "93.184.216.34"},
            {"cdn.allowed.test": "edge.cdn.example.net",
             # downstream data in CNAME rdata, as iodine and dnscat2 send it
             "tunnel.allowed.test": "k2j4h6g8f0d2s4a6p8o0i2u4y6t8r0e2w4q6z8x0c2v4b7n1m3.q5w7e9r2t4y6"
                                    "u8i1o3p5a7s9d2f4g6h8j1k3l5z7x9c2.evil.example"})
        quiet = DNSLogger(logf=lambda _: None)
        for _ in range(20):
            self.udp = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=quiet)
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(self.resolver, address="127.0.0.1", port=self.port, tcp=True,
                                     logger=quiet)
                break
            except OSError:
                self.udp.server.server_close()
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def names(self) -> list[str]:
        return self.resolver.names()

    def close(self) -> None:
        for s in (self.udp, self.tcp):
            s.stop()
            s.server.server_close()


class Guard:
    """A DnsGuard on its own event loop thread, reading a policy file through a PolicyStore."""

    def __init__(self, tmp: Path, upstream: Upstream, policy: str,
                 listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.policy_path = tmp / "policy.yaml"
        self.policy_path.write_text(textwrap.dedent(policy))
        self.audit_path = tmp / "audit.jsonl"
        self.store = PolicyStore.open(self.policy_path)
        self.runtime = Runtime("guard-test", self.store, AuditLog(self.audit_path, KnownSecrets()))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.guard = DnsGuard(self.runtime, listen, upstream.address)
        self.address = self.run(self.guard.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def reload(self, policy: str) -> None:
        self.policy_path.write_text(textwrap.dedent(policy))
        time.sleep(0.01)
        result = self.store.poll()
        assert result is not None and result.ok, result

    def ask(self, name: str, qtype: str = "A", tcp: bool = False, qclass: str = "IN") -> DNSRecord:
        q = DNSRecord(DNSHeader(id=random.randint(0, 65535), rd=1),
                      q=DNSQuestion(name, getattr(QTYPE, qtype), getattr(CLASS, qclass)))
        raw = q.send(self.address[0], self.address[1], tcp=tcp, timeout=5)
        reply = DNSRecord.parse(raw)
        assert reply.header.id == q.header.id
        return reply

    def events(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line]

    def close(self) -> None:
        self.run(self.guard.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.runtime.audit.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def guard(tmp_path: Path, upstream: Upstream) -> Iterator[Guard]:
    g = Guard(tmp_path, upstream, POLICY)
    yield g
    g.close()


def answers(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


# -- forwarding and blocking ----------------------------------------------------------------

@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_allowed_names_are_forwarded(guard: Guard, upstream: Upstream, tcp: bool) -> None:
    reply = guard.ask("www.allowed.test", tcp=tcp)
    assert reply.header.rcode == RCODE.NOERROR and answers(reply) == ["127.0.0.1"]
    assert guard.ask("public.example", tcp=tcp).rr[0].rdata == A("93.184.216.34")
    assert upstream.names() == ["www.allowed.test", "public.example"]
    event = guard.events()[0]
    assert event["event"] == "dns" and event["verdict"] == "allow"
    assert event["transport"] == ("tcp" if tcp else "udp") and event["host"] == "www.allowed.test"


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize(("name", "qtype", "qclass", "rule", "rcode"), [
    ("denied.test", "A", "IN", "host-not-allowed", RCODE.NXDOMAIN),
    ("example.com", "AAAA", "IN", "host-not-allowed", RCODE.NXDOMAIN),
    (ENCODED, "A", "IN", "encoded-hostname", RCODE.NXDOMAIN),
    ("www.allowed.test", "TXT", "IN", "dns-qtype", RCODE.NXDOMAIN),
    ("www.allowed.test", "NULL", "IN", "dns-qtype", RCODE.NXDOMAIN),
    ("www.allowed.test", "ANY", "IN", "dns-qtype", RCODE.NXDOMAIN),
    ("allowed.test", "AXFR", "IN", "dns-zone-transfer", RCODE.REFUSED),
    ("allowed.test", "IXFR", "IN", "dns-zone-transfer", RCODE.REFUSED),
    ("version.bind", "TXT", "CH", "dns-class", RCODE.NXDOMAIN),
])
def test_blocked_queries_never_reach_the_upstream(
        guard: Guard, upstream: Upstream, tcp: bool, name: str, qtype: str, qclass: str,
        rule: str, rcode: int) -> None:
    reply = guard.ask(name, qtype, tcp=tcp, qclass=qclass)
    assert reply.header.rcode == rcode and not reply.rr
    assert str(reply.q.qname).rstrip(".") == name  # the question comes back as asked
    assert upstream.names() == []
    [event] = guard.events()
    assert event["verdict"] == "block" and rule in [f["rule"] for f in event["findings"]]
    if rule == "encoded-hostname":
        # the data part of the name never reaches the audit log
        assert ENCODED.split(".")[0] not in json.dumps(event)
        assert event["host"] == "[REDACTED].allowed.test"


def test_blocked_rcode_refused(guard: Guard, upstream: Upstream) -> None:
    guard.reload(POLICY + "  blocked_rcode: refused\n")
    assert guard.ask("denied.test").header.rcode == RCODE.REFUSED
    assert upstream.names() == []


def test_rebinding_answers_are_dropped(guard: Guard, upstream: Upstream) -> None:
    guard.reload(POLICY.replace('private_answers: [allowed.test, "*.allowed.test"]',
                                "private_answers: [lan.allowed.test]"))
    reply = guard.ask("www.allowed.test")  # upstream says 127.0.0.1
    assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr
    assert upstream.names() == ["www.allowed.test"]  # it was asked; the answer was dropped
    assert guard.events()[-1]["findings"][0]["rule"] == "dns-rebinding"
    assert answers(guard.ask("lan.allowed.test")) == ["127.0.0.1"]
    assert answers(guard.ask("public.example")) == ["93.184.216.34"]


def test_cname_chains_to_encoded_or_unknown_names_are_dropped(guard: Guard) -> None:
    assert answers(guard.ask("cdn.allowed.test")) == ["edge.cdn.example.net.", "93.184.216.34"]
    reply = guard.ask("tunnel.allowed.test")
    assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr
    assert guard.events()[-1]["findings"][0]["rule"] == "dns-cname-target"
    guard.reload(POLICY + "  cname_targets: allowed\n")
    assert guard.ask("cdn.allowed.test").header.rcode == RCODE.NXDOMAIN


def test_qtype_exceptions(guard: Guard, upstream: Upstream) -> None:
    guard.reload(POLICY + "  qtype_exceptions:\n    - {qtype: TXT, hosts: "
                 '[_acme-challenge.allowed.test], reason: "ACME DNS-01"}\n')
    assert guard.ask("_acme-challenge.allowed.test", "TXT").header.rcode == RCODE.NOERROR
    assert guard.ask("www.allowed.test", "TXT").header.rcode == RCODE.NXDOMAIN
    assert upstream.names() == ["_acme-challenge.allowed.test"]


def test_hot_reload_applies_to_the_next_query(guard: Guard, upstream: Upstream) -> None:
    assert guard.ask("public2.example").header.rcode == RCODE.NXDOMAIN
    guard.reload(POLICY.replace("public.example]", "public.example, public2.example]"))
    guard.ask("public2.example")
    assert upstream.names() == ["public2.example"]


def test_volume_budget_closes_a_tunnel_and_survives_reload(guard: Guard, upstream: Upstream) -> None:
    guard.reload(POLICY + "hostnames:\n  budget: {max_encoded_names: 3}\n")
    names = [f"{random.Random(i).getrandbits(80):020x}.allowed.test" for i in range(5)]
    codes = [guard.ask(n).header.rcode for n in names[:3]]
    assert codes == [RCODE.NOERROR] * 3
    guard.reload(POLICY + "hostnames:\n  budget: {max_encoded_names: 3}\n#\n")
    assert guard.ask(names[3]).header.rcode == RCODE.NXDOMAIN
    assert guard.ask(names[4]).header.rcode == RCODE.NXDOMAIN
    assert guard.ask(names[0]).header.rcode == RCODE.NOERROR  # seen before the trip
    assert upstream.names() == names[:3] + names[:1]
    budget_events = [e for e in guard.events() if e["event"] == "hostname-budget"]
    assert len(budget_events) == 1 and budget_events[0]["registered_domain"] == "allowed.test"


def test_credential_placeholders_never_leave_in_a_name(guard: Guard, upstream: Upstream) -> None:
    from egress.policy.model import Credential
    spec = Credential.model_validate({"name": "api", "host": "api.allowed.test",
                                      "header": "Authorization: Bearer {secret}",
                                      "source": {"env": "X"}, "placeholder": {"env": "API"}})
    guard.runtime.credentials.load([spec], lambda s: "real-secret-value-0001")
    placeholder = guard.runtime.credentials.placeholders()["api"]
    assert guard.ask(f"{placeholder}.allowed.test").header.rcode == RCODE.NXDOMAIN
    assert upstream.names() == []
    assert guard.events()[-1]["findings"][0]["rule"] == "placeholder-exfiltration"


def test_audit_mode_forwards_and_logs(guard: Guard, upstream: Upstream) -> None:
    guard.reload(POLICY.replace("version: 1", "version: 1\nmode: audit"))
    guard.ask("denied.test")
    assert upstream.names() == ["denied.test"]
    event = guard.events()[-1]
    assert event["verdict"] == "allow" and event["findings"][0]["action"] == "audit"


def test_upstream_silence_is_servfail(tmp_path: Path) -> None:
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind(("127.0.0.1", 0))

    class Silent:
        address = ("127.0.0.1", quiet.getsockname()[1])

    g = Guard(tmp_path, Silent(), POLICY)  # type: ignore[arg-type]
    try:
        assert g.ask("www.allowed.test").header.rcode == RCODE.SERVFAIL
        assert g.events()[-1]["findings"][-1]["rule"] == "dns-upstream"
    finally:
        g.close()
        quiet.close()


# -- rate limit -------------------------------------------------------------------------------

def test_rate_limit_per_client(guard: Guard, upstream: Upstream) -> None:
    guard.reload(POLICY + "  rate_limit: {queries_per_second: 2, burst: 5}\n")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    for i in range(30):
        sock.sendto(DNSRecord.question(f"h{i}.allowed.test").pack(), guard.address)
    replies = 0
    try:
        while True:
            sock.recv(4096)
            replies += 1
    except TimeoutError:
        pass
    sock.close()
    assert 5 <= replies <= 7 and len(upstream.names()) == replies
    limited = [e for e in guard.events() if any(f["rule"] == "dns-rate-limit"
                                                for f in e.get("findings", []))]
    assert len(limited) == 1  # reported once, not per dropped packet


# -- malformed input: answered FORMERR or dropped, never forwarded, never a crash -------------

def _query(name: bytes = b"\x03www\x07allowed\x04test\x00", qdcount: int = 1, flags: int = 0x0100,
           qtype: int = 1, extra: bytes = b"", ancount: int = 0) -> bytes:
    return (struct.pack("!HHHHHH", 0x1234, flags, qdcount, ancount, 0, 0) + name
            + struct.pack("!HH", qtype, 1) + extra)


MALFORMED = {
    "empty": b"",
    "short header": b"\x12\x34\x01",
    "header only": _query(b"", qdcount=1)[:12],
    "truncated name": _query()[:20],
    "truncated type": _query()[:-3],
    "compression loop": struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
    "forward pointer": struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\xc0\x20\x00\x01\x00\x01",
    "two questions": _query(qdcount=2) + b"\x01a\x00\x00\x01\x00\x01",
    "no question": struct.pack("!HHHHHH", 0x1234, 0x0100, 0, 0, 0, 0),
    "a response": _query(flags=0x8100),
    "notify opcode": _query(flags=0x2000),
    "answer records": _query(ancount=1) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x01\x02\x03\x04",
    "label of 64": _query(b"\x40" + b"a" * 64 + b"\x04test\x00"),
    "binary label": _query(b"\x03w\x00w\x04test\x00"),
    "dot in label": _query(b"\x03w.w\x04test\x00"),
    "oversize": _query(extra=b"\x00" * (MAX_QUERY_BYTES + 1)),
    "root": _query(b"\x00"),
}


@pytest.mark.parametrize("packet", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_packets(guard: Guard, upstream: Upstream, packet: bytes) -> None:
    assert isinstance(parse_query(packet), str)
    reply = guard.run(guard.guard.handle(packet, ("127.0.0.1", 9), "udp"))
    if len(packet) >= 12:
        assert reply is not None and reply[:2] == packet[:2]
        assert reply[3] & 0x0F == RCODE.FORMERR and reply[2] & 0x80
    else:
        assert reply is None
    assert upstream.names() == []
    assert guard.events()[-1]["findings"][0]["rule"] == "dns-malformed"


def test_malformed_over_the_wire(guard: Guard, upstream: Upstream) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.sendto(MALFORMED["compression loop"], guard.address)
    assert sock.recv(512)[3] & 0x0F == RCODE.FORMERR
    sock.close()
    with socket.create_connection(guard.address, timeout=5) as tcp:
        tcp.sendall(struct.pack("!H", 4000) + b"\x00" * 100)  # oversize length prefix
        assert tcp.recv(100) == b""  # closed, nothing answered
    with socket.create_connection(guard.address, timeout=5) as tcp:
        packet = MALFORMED["two questions"]
        tcp.sendall(struct.pack("!H", len(packet)) + packet)
        length = struct.unpack("!H", tcp.recv(2))[0]
        assert tcp.recv(length)[3] & 0x0F == RCODE.FORMERR
    assert guard.ask("www.allowed.test").header.rcode == RCODE.NOERROR  # still serving
    assert upstream.names() == ["www.allowed.test"]


@st.composite
def mutated_queries(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(["www.allowed.test", "denied.test", "x.public.example"]))
    qtype = draw(st.sampled_from(["A", "AAAA", "TXT", "ANY"]))
    base = bytearray(DNSRecord(DNSHeader(id=0x4242, rd=1),
                               q=DNSQuestion(name, getattr(QTYPE, qtype))).pack())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, len(base)))
        if op == 0 and pos < len(base):
            base[pos] = draw(st.integers(0, 255))
        elif op == 1:
            base[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del base[pos:pos + draw(st.integers(1, 8))]
    return bytes(base)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packet=st.one_of(st.binary(max_size=700), mutated_queries()))
def test_fuzz_never_crashes_and_forwards_only_allowed_names(
        guard: Guard, upstream: Upstream, packet: bytes) -> None:
    reply = guard.run(guard.guard.handle(packet, ("127.0.0.1", 9), "udp"))
    assert reply is None or (len(reply) >= 12 and reply[:2] == packet[:2])
    allowed = {"allowed.test", "public.example"}
    for name in upstream.names():
        assert any(name == a or name.endswith("." + a) for a in allowed), name
    parsed = parse_query(packet)
    if isinstance(parsed, str):
        assert reply is None or reply[3] & 0x0F == RCODE.FORMERR


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packet=mutated_queries())
def test_fuzz_over_tcp(guard: Guard, packet: bytes) -> None:
    with socket.create_connection(guard.address, timeout=5) as tcp:
        tcp.sendall(struct.pack("!H", len(packet)) + packet)
        tcp.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := tcp.recv(4096):
            data += chunk
    assert not data or struct.unpack("!H", data[:2])[0] == len(data) - 2


# -- configuration ------------------------------------------------------------------------------

def test_configuration_helpers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# x\nsearch lan\nnameserver 10.1.2.3\nnameserver 1.1.1.1\n")
    assert system_resolver(conf) == ("10.1.2.3", 53)
    conf.write_text("nameserver fe80::1%eth0\n")
    assert system_resolver(conf) == ("fe80::1", 53)
    conf.write_text("options ndots:1\n")
    with pytest.raises(DnsConfigError, match="no nameserver"):
        system_resolver(conf)
    assert parse_hostport("127.0.0.1:5353", 53, "--x") == ("127.0.0.1", 5353)
    assert parse_hostport("[::1]:53", 53, "--x") == ("::1", 53)
    assert parse_hostport("10.0.0.2", 53, "--x") == ("10.0.0.2", 53)
    with pytest.raises(DnsConfigError):
        parse_hostport("host:port", 53, "--x")
    with pytest.raises(DnsConfigError, match="own address"):
        check_not_self(("0.0.0.0", 53), ("127.0.0.1", 53))
    check_not_self(("0.0.0.0", 53), ("127.0.0.11", 53))  # Docker's embedded resolver


def test_listens_on_all_addresses(tmp_path: Path, upstream: Upstream) -> None:
    g = Guard(tmp_path, upstream, POLICY, listen=("0.0.0.0", 0))
    try:
        assert g.address[0] == "0.0.0.0"
        raw = DNSRecord.question("www.allowed.test").send("127.0.0.1", g.address[1], timeout=5)
        assert DNSRecord.parse(raw).header.rcode == RCODE.NOERROR
    finally:
        g.close()


# -- the CLI, real clients, the shared test resolver on port 53 ---------------------------------

def test_bottle_egress_run_with_dns_guard(tmp_path: Path, dns: DNSFixture) -> None:
    """`bottle egress run --dns-listen` beside the proxy; glibc's own resolver as the client."""
    require_binary("getent", "libc-bin")
    policy = tmp_path / "policy.yaml"
    policy.write_text(textwrap.dedent(POLICY))
    guard_ip = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "egress", "run", "--listen", "127.0.0.1:0",
         "--policy", str(policy), "--audit-log", str(tmp_path / "audit.jsonl"),
         "--state-dir", str(tmp_path / "state"), "--dns-listen", f"{guard_ip}:53",
         "--dns-upstream", f"{dns.address}:53"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
    try:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            if line.startswith("export BOTTLE_ID="):
                break
        stderr: list[str] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("nameserver" in s for s in stderr):
            stderr.append(proc.stderr.readline())
        assert any(f"DNS guard listening on {guard_ip}:53" in s for s in stderr), stderr
        assert any(f"nameserver {guard_ip}" in s for s in stderr), stderr

        conf = tmp_path / "resolv.conf"
        conf.write_text(f"nameserver {guard_ip}\noptions timeout:2 attempts:1\n")

        def getent(name: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(with_resolver(["getent", "ahostsv4", name], conf),
                                  capture_output=True, text=True, timeout=30, check=False)

        ok = getent("www.allowed.test")
        assert ok.returncode == 0 and "127.0.0.1" in ok.stdout, ok.stderr
        # TCP, through the same guard (before the encoded name: that closes allowed.test's
        # budget for the window, see test_hostname_budget.py::test_a_refused_name_closes_its_zone)
        tcp = DNSRecord.parse(DNSRecord.question("api.allowed.test").send(guard_ip, 53, tcp=True,
                                                                        timeout=5))
        assert str(tcp.rr[0].rdata) == "127.0.0.1"
        for blocked in (ENCODED, "denied.test", "www.example.com"):
            assert getent(blocked).returncode != 0
        seen = dns.resolver.names()
        assert "www.allowed.test" in seen and "api.allowed.test" in seen
        assert ENCODED not in seen and "denied.test" not in seen and "www.example.com" not in seen
    finally:
        proc.terminate()
        proc.wait(15)


def test_cli_rejects_bad_dns_flags(tmp_path: Path) -> None:
    for args, message in ((["--dns-listen", "nowhere:x"], "--dns-listen"),
                          (["--dns-upstream", "127.0.0.1:53"], "needs --dns-listen")):
        res = subprocess.run([sys.executable, "-m", "cli.main", "egress", "run", "--listen",
                              "127.0.0.1:0", "--state-dir", str(tmp_path / "s"), *args],
                             cwd=REPO, capture_output=True, text=True, timeout=60,
                             env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert res.returncode == 2 and message in res.stderr, res.stderr


# -- pure parts: SVCB hints, the texts a name stands for ---------------------------------------

def test_svcb_hints() -> None:
    from egress.scan.dns import svcb_hints
    record = (b"\x00\x01" + b"\x03svc\x07example\x00"
              + b"\x00\x04\x00\x08" + bytes([10, 0, 0, 1, 93, 184, 216, 34])
              + b"\x00\x06\x00\x10" + bytes(15) + b"\x01")
    assert svcb_hints(record) == ("10.0.0.1", "93.184.216.34", "::1")
    assert svcb_hints(b"\x00\x00\x00") == ()  # alias mode, no parameters
    for bad in (b"\x00", b"\x00\x01\x05ab", b"\x00\x01\xc0\x0c", b"\x00\x01\x00\x00\x04\x00",
                b"\x00\x01\x00\x00\x04\x00\x03\x0a\x00\x00", b"\x00\x01\x00\x00\x04\x00\x08\x0a"):
        with pytest.raises(ValueError):
            svcb_hints(bad)


def test_name_texts_glue_runs_of_data_labels_only() -> None:
    from egress.scan.name_secrets import name_texts
    assert name_texts("a.b.c.d.e.example.com", "a.b.c.d.e") == [
        "a.b.c.d.e.example.com", "ab", "abc", "abcd", "bc", "bcd", "bcde", "cd", "cde", "de"]
    assert name_texts("www.example.com", "www") == ["www.example.com"]
    assert name_texts("example.com.", "") == ["example.com"]


def test_drop_reports_are_counted_and_bounded() -> None:
    from proxy.dns.clients import MAX_CLIENTS_TRACKED, TokenBuckets
    buckets = TokenBuckets()
    assert buckets.note_drop("a", 100.0) == 1       # the first drop is reported
    assert buckets.note_drop("a", 101.0) is None    # then at most once per 10 s ...
    assert buckets.note_drop("a", 111.0) == 2       # ... with the drops since
    for i in range(MAX_CLIENTS_TRACKED + 50):
        buckets.note_drop(f"10.0.{i // 250}.{i % 250}", 200.0)
    assert len(buckets._dropped) == MAX_CLIENTS_TRACKED
