"""The DNS guard as a user runs it (`bottle egress run --dns-listen`), in front of a scripted
upstream resolver on loopback that records every query exactly as it arrived."""

from __future__ import annotations

import random
import re
import socket
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnslib import CLASS, QTYPE, RCODE, RR, DNSHeader, DNSQuestion, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support.proxy import EgressProcess

PUBLIC_IP = "93.184.216.34"


@dataclass
class Script:
    """Records of one name's answer, as zone-file lines per section."""

    answer: list[str] = field(default_factory=list)
    authority: list[str] = field(default_factory=list)
    additional: list[str] = field(default_factory=list)


class ScriptedResolver(BaseResolver):  # type: ignore[misc]
    """Answers names in `scripts` with their records, `raw` names with raw bytes, any other
    name under `zone` with A PUBLIC_IP, everything else NXDOMAIN. Keeps every question
    as sent (case and query type)."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self.scripts: dict[str, Script] = {}
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = ".".join(lb.decode("ascii", "replace") for lb in request.q.qname.label)
        with self._lock:
            self.queries.append((name, str(QTYPE.get(request.q.qtype))))
        reply = request.reply()
        script = self.scripts.get(name.lower())
        if script is not None:
            for line in script.answer:
                reply.add_answer(*RR.fromZone(line))
            for line in script.authority:
                reply.add_auth(*RR.fromZone(line))
            for line in script.additional:
                reply.add_ar(*RR.fromZone(line))
        elif name.lower() == self.zone or name.lower().endswith("." + self.zone):
            if request.q.qtype == QTYPE.A:
                reply.add_answer(*RR.fromZone(f"{name}. 5 IN A {PUBLIC_IP}"))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def asked(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.queries)

    def names(self) -> list[str]:
        return [n for n, _ in self.asked()]


class ScriptedUpstream:
    """A ScriptedResolver on 127.0.0.1, UDP and TCP on one free port."""

    def __init__(self, zone: str = "allowed.test") -> None:
        self.resolver = ScriptedResolver(zone)
        quiet = DNSLogger(logf=lambda _: None)
        for _ in range(20):
            self.udp = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=quiet)
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(self.resolver, address="127.0.0.1", port=self.port,
                                     tcp=True, logger=quiet)
                break
            except OSError:
                self.udp.server.server_close()
        self.udp.start_thread()
        self.tcp.start_thread()

    def close(self) -> None:
        for s in (self.udp, self.tcp):
            s.stop()
            s.server.server_close()


class LiveGuard:
    """`bottle egress run --dns-listen 127.0.0.1:0 --dns-upstream <upstream>` with a policy."""

    def __init__(self, tmp: Path, upstream: ScriptedUpstream, policy: str,
                 env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.policy_path = tmp / "policy.yaml"
        self.policy_path.write_text(textwrap.dedent(policy))
        workdir = tmp / "proc"
        workdir.mkdir(exist_ok=True)
        self.proc = EgressProcess(
            ["--policy", str(self.policy_path), "--state-dir", str(tmp / "state"),
             "--dns-listen", "127.0.0.1:0", "--dns-upstream", f"127.0.0.1:{upstream.port}"],
            workdir, extra_env=env)
        self.port = self._wait_for_port()

    def _wait_for_port(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"DNS guard listening on 127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            for line in list(self.proc.stderr_lines):
                m = pattern.search(line)
                if m:
                    return int(m.group(1))
            time.sleep(0.05)
        self.proc.stop()
        raise RuntimeError("DNS guard did not start:\n" + self.proc.stderr())

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def query(self, name: str, qtype: str = "A") -> bytes:
        record = DNSRecord(DNSHeader(id=random.randint(0, 65535), rd=1),
                           q=DNSQuestion(name, getattr(QTYPE, qtype), CLASS.IN))
        return bytes(record.pack())

    def ask_raw(self, name: str, qtype: str = "A", tcp: bool = False,
                source: str = "127.0.0.1", timeout: float = 5.0) -> bytes:
        """The reply bytes (without the TCP length prefix), from a client bound to `source`."""
        packet = self.query(name, qtype)
        if tcp:
            with socket.create_connection(self.address, timeout=timeout,
                                          source_address=(source, 0)) as s:
                s.sendall(len(packet).to_bytes(2, "big") + packet)
                head = _recv_exactly(s, 2)
                reply = _recv_exactly(s, int.from_bytes(head, "big"))
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((source, 0))
                s.settimeout(timeout)
                s.sendto(packet, self.address)
                while True:
                    reply = bytes(s.recv(65535))
                    if reply[:2] == packet[:2]:
                        break
        return reply

    def ask(self, name: str, qtype: str = "A", tcp: bool = False,
            source: str = "127.0.0.1") -> DNSRecord:
        return DNSRecord.parse(self.ask_raw(name, qtype, tcp, source))

    def events(self) -> list[dict[str, Any]]:
        import json
        path = self.proc.audit_path
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def dns_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == "dns"]

    def artefacts(self) -> str:
        """Everything the proxy wrote: audit log (with rotations) and stderr."""
        texts = [p.read_text(errors="replace") for p in sorted(self.tmp.rglob("audit.jsonl*"))]
        return "\n".join([*texts, self.proc.stderr()])

    def close(self) -> None:
        self.proc.stop()


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data
