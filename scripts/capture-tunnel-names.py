#!/usr/bin/env python3
"""Captures the query names that real DNS tunnel tools send, by running them on this machine.

    sudo scripts/capture-tunnel-names.py OUT_DIR        # needs root, /dev/net/tun, iproute2

Runs Debian's `iodine` (0.7.0) and `dns2tcp` (0.5.2) client and server, each side in a network
namespace of its own made for the run (nothing leaves them: the only addresses used are the
namespaces' loopbacks and iodine's tunnel addresses between the two namespaces). A relay in
this process listens on the client namespace's 127.0.0.1:53, records every query name it sees
(case and bytes as sent) and forwards the packet to the server on the server namespace's
loopback. Data is pushed through each tunnel (random bytes over TCP), so the capture holds the
handshake, the polls and the data queries a real session makes.

iodine picks its upstream encoding by probing the path, so it runs three times: through a
transparent relay (it chooses Base128: 8-bit labels), through a relay that refuses 8-bit
names (Base64: mixed case) and through one that lower-cases names as some resolvers do
(Base32). dns2tcp always uses its base64 alphabet.

Writes `OUT_DIR/<tool>-<variant>.txt`: one name a line, in capture order, with a header
naming the tool, its Debian version and licence. Names are kept as escaped ASCII
(non-printable and 8-bit bytes as `\\DDD`, the zone-file convention).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

DOMAIN = "t.tunnel.test"
PASSWORD = "capture-only-pw"
SERVER_PORT = 53530
SINK_PORT = 9000


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def version(package: str) -> str:
    return sh("dpkg-query", "-W", "-f=${Version}", package).stdout.strip()


@contextlib.contextmanager
def namespace(tag: str) -> Iterator[str]:
    name = f"tuncap-{tag}-{secrets.token_hex(3)}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


def socket_in(ns: str, kind: int) -> socket.socket:
    """A socket created inside network namespace `ns` (this thread switches and returns)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        os.setns(target, os.CLONE_NEWNET)
        return socket.socket(socket.AF_INET, kind)
    finally:
        os.setns(own, os.CLONE_NEWNET)
        os.close(own)
        os.close(target)


def qname(packet: bytes) -> str | None:
    """The question name of a DNS packet, bytes escaped as in zone files."""
    pos, labels = 12, []
    while pos < len(packet):
        n = packet[pos]
        if n == 0:
            return ".".join(labels)
        if n > 63:
            return None
        raw = packet[pos + 1 : pos + 1 + n]
        labels.append("".join(chr(b) if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C)
                              else f"\\{b:03d}" for b in raw))
        pos += 1 + n
    return None


class Relay(threading.Thread):
    """UDP 127.0.0.1:53 in the client namespace -> 127.0.0.1:SERVER_PORT in the server's."""

    def __init__(self, client_ns: str, server_ns: str, mode: str) -> None:
        super().__init__(daemon=True)
        self.mode = mode
        self.names: list[str] = []
        self.front = socket_in(client_ns, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 53))
        self.back = socket_in(server_ns, socket.SOCK_DGRAM)
        self.back.connect(("127.0.0.1", SERVER_PORT))
        self.stop = threading.Event()
        self.client: tuple[str, int] | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.front, self.back], [], [], 0.2)
            for sock in ready:
                if sock is self.front:
                    data, self.client = self.front.recvfrom(65535)
                    name = qname(data)
                    if name is not None:
                        self.names.append(name)
                    end = data.find(b"\x00", 12)
                    if self.mode == "ascii-only" and any(b > 0x7E for b in data[12:end]):
                        continue  # a path that drops 8-bit names: the client falls back
                    if self.mode == "lowercase" and end > 12:
                        data = data[:12] + data[12:end].lower() + data[end:]
                    self.back.send(data)
                else:
                    reply = self.back.recv(65535)
                    if self.client is not None:
                        self.front.sendto(reply, self.client)


TEXT_SOURCE = Path("/usr/share/common-licenses/GPL-3")


def payload(size: int, kind: str) -> bytes:
    """`size` bytes to push: random (ciphertext-like) or readable text (a document leaving)."""
    if kind == "random":
        return os.urandom(size)
    text = TEXT_SOURCE.read_bytes()
    return (text * (size // len(text) + 1))[:size]


def push(ns: str, host: str, port: int, size: int, timeout: float = 120,
         kind: str = "random") -> None:
    """Send `size` bytes of `kind` over TCP from namespace `ns` (through the tunnel)."""
    sock = socket_in(ns, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect((host, port))
    sock.sendall(payload(size, kind))
    sock.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        sock.recv(1)
    sock.close()


def sink(ns: str, host: str, port: int) -> socket.socket:
    srv = socket_in(ns, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while conn.recv(65536):
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return srv


def wait_for(cond: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return True
        time.sleep(0.2)
    return False


def iodine(mode: str, size: int, domain: str = DOMAIN, options: tuple[str, ...] = (),
           kind: str = "random") -> list[str]:
    with namespace("srv") as srv_ns, namespace("cli") as cli_ns:
        server = subprocess.Popen(
            ["ip", "netns", "exec", srv_ns, "iodined", "-f", "-c", "-P", PASSWORD,
             "-l", "127.0.0.1", "-p", str(SERVER_PORT), "10.53.0.1/27", domain],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        relay = Relay(cli_ns, srv_ns, mode)
        relay.start()
        client = subprocess.Popen(
            ["ip", "netns", "exec", cli_ns, "iodine", "-f", "-r", "-P", PASSWORD, *options,
             "127.0.0.1", domain], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            up = wait_for(lambda: "dns0" in sh("ip", "netns", "exec", cli_ns, "ip", "-o",
                                              "addr").stdout and "10.53.0." in
                          sh("ip", "netns", "exec", cli_ns, "ip", "-o", "addr").stdout, 60)
            if not up:
                raise RuntimeError(f"iodine ({mode}) did not come up")
            srv = sink(srv_ns, "10.53.0.1", SINK_PORT)
            time.sleep(1)
            push(cli_ns, "10.53.0.1", SINK_PORT, size, kind=kind)
            time.sleep(6)  # idle: the polls a quiet tunnel keeps sending
            srv.close()
        finally:
            client.terminate()
            server.terminate()
            client.wait(10)
            server.wait(10)
            relay.stop.set()
            relay.join(2)
    return relay.names


def dns2tcp(size: int, domain: str = DOMAIN, options: tuple[str, ...] = (),
            kind: str = "random", resource: str = "sink", key: str = "") -> list[str]:
    with namespace("srv") as srv_ns, namespace("cli") as cli_ns:
        conf = Path(f"/tmp/dns2tcpd-{secrets.token_hex(3)}.conf")
        conf.write_text(f"listen = 127.0.0.1\nport = {SERVER_PORT}\nuser = nobody\nchroot = /tmp\n"
                        f"domain = {domain}\nresources = {resource}:127.0.0.1:{SINK_PORT}\n"
                        + (f"key = {key}\n" if key else ""))
        srv = sink(srv_ns, "127.0.0.1", SINK_PORT)
        server = subprocess.Popen(["ip", "netns", "exec", srv_ns, "dns2tcpd", "-F", "-f",
                                   str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        relay = Relay(cli_ns, srv_ns, "transparent")
        relay.start()
        client = subprocess.Popen(["ip", "netns", "exec", cli_ns, "dns2tcpc", "-z", domain,
                                   *options, *(("-k", key) if key else ()), "-r", resource,
                                   "-l", "4444", "127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            push(cli_ns, "127.0.0.1", 4444, size, kind=kind)
            time.sleep(4)
        finally:
            client.terminate()
            server.terminate()
            client.wait(10)
            server.wait(10)
            relay.stop.set()
            relay.join(2)
            srv.close()
            conf.unlink()
    return relay.names


# The fresh held-out set of round 3: other zones, query types, upstream name lengths, lazy
# mode off, dns2tcp compression and KEY queries, and readable text as well as random bytes
# (iodine compresses what it carries; dns2tcp without -c sends the text as it is).
ROUND3: tuple[tuple[str, str, int, str, tuple[str, ...], str], ...] = (
    ("iodine-base32-short", "lowercase", 8_000, "d.metrics-cdn.net",
     ("-M", "120", "-T", "CNAME", "-L", "0"), "text"),
    ("iodine-base64-txt", "ascii-only", 8_000, "ns1.update-check.io",
     ("-M", "200", "-T", "TXT"), "text"),
    ("iodine-base128-srv", "transparent", 16_000, "x7.sync.example.org",
     ("-T", "SRV", "-M", "180"), "random"),
    ("iodine-base32-mx", "lowercase", 10_000, "tunnel.telemetry-cloud.com",
     ("-T", "MX",), "random"),
    ("dns2tcp-base64-key", "transparent", 8_000, "tun.statsagent.com",
     ("-c", "-T", "KEY"), "text"),
    ("dns2tcp-base64-text", "transparent", 6_000, "q.corp-backup.dev", (), "text"),
)


# The fresh held-out set of round 4: again other zones, and settings no earlier round used:
# A, PRIVATE and NULL answers, forced downstream codecs, lazy mode off with a 1 s interval,
# short and default upstream lengths, dns2tcp with a pre-shared key and other resource names.
ROUND4_IODINE: tuple[tuple[str, str, int, str, tuple[str, ...], str], ...] = (
    ("iodine-base32-a", "lowercase", 9_000, "c.edge-telemetry.net",
     ("-T", "A", "-M", "150", "-L", "0"), "random"),
    ("iodine-base64-private", "ascii-only", 7_000, "r.cdn-assets.app",
     ("-T", "PRIVATE", "-M", "230"), "text"),
    ("iodine-base128-null", "transparent", 9_000, "i.api-status.co",
     ("-T", "NULL", "-L", "0", "-M", "100"), "random"),
    ("iodine-base32-txt", "lowercase", 6_000, "ns.logs-collector.org",
     ("-T", "TXT", "-O", "Base32", "-I", "1"), "text"),
)
ROUND4_DNS2TCP: tuple[tuple[str, int, str, tuple[str, ...], str, str, str], ...] = (
    ("dns2tcp-base64-ssh", 7_000, "dl.pkg-mirror.net", ("-T", "TXT"), "random", "ssh",
     "capture-key-41"),
    ("dns2tcp-base64-smtp", 5_000, "m.mailrelay-ops.com", ("-c", "-T", "KEY"), "text", "smtp",
     ""),
)


# The fresh held-out set of round 5: a third tool, and iodine/dns2tcp settings no earlier
# round used (Base64u and Raw-probing downstream codecs, lazy mode on with CNAME and SRV,
# other fragment sizes, deeper zones, dns2tcp with compression and a key together).
ROUND5_IODINE: tuple[tuple[str, str, int, str, tuple[str, ...], str], ...] = (
    ("iodine-base32-srv-deep", "lowercase", 7_000, "t.eu.ingest.metrics-hub.io",
     ("-T", "SRV", "-M", "200", "-m", "600", "-O", "Base64u"), "random"),
    ("iodine-base64-cname", "ascii-only", 6_000, "dl.a1.build-cache.dev",
     ("-T", "CNAME", "-M", "90", "-I", "2"), "text"),
)
ROUND5_DNS2TCP: tuple[tuple[str, int, str, tuple[str, ...], str, str, str], ...] = (
    ("dns2tcp-base64-ckey", 6_000, "u.sync.fileshare-cdn.net", ("-c", "-T", "TXT"), "text",
     "rsync", "round5-key-7"),
)
# dns-tunnel-messenger 0.2.0 (PyPI, MIT): a Python client/server pair that chunks a message
# into framed, optionally keyed queries with its base32, base64url or hex codec.
ROUND5_MESSENGER: tuple[tuple[str, str, int, str, str], ...] = (
    ("messenger-base32", "base32", 12_000, "q.notify-relay.com", ""),
    ("messenger-base64url-key", "base64url", 12_000, "x.api.sync-edge.app", "round5-secret"),
    ("messenger-hex", "hex", 8_000, "h.static-assets.org", ""),
)
MESSENGER_SERVER = """
import sys, time
from dns_tunnel_messenger.server import TunnelServer
zone, port, codec, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
TunnelServer(zone, "127.0.0.1", port, key=key or None, codec=codec, rate_limit=100000).start()
time.sleep(600)
"""
MESSENGER_CLIENT = """
import sys
from dns_tunnel_messenger.client import TunnelClient
zone, codec, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
data = sys.stdin.buffer.read()
result = TunnelClient(zone, "127.0.0.1", 53, key=key or None, codec=codec).send_message(data)
sys.exit(0 if result.success else 1)
"""


def messenger(python: str, codec: str, size: int, domain: str, key: str) -> list[str]:
    with namespace("srv") as srv_ns, namespace("cli") as cli_ns:
        server = subprocess.Popen(["ip", "netns", "exec", srv_ns, python, "-c", MESSENGER_SERVER,
                                   domain, str(SERVER_PORT), codec, key],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        relay = Relay(cli_ns, srv_ns, "transparent")
        relay.start()
        try:
            client = subprocess.run(["ip", "netns", "exec", cli_ns, python, "-c",
                                     MESSENGER_CLIENT, domain, codec, key],
                                    input=payload(size, "text"), capture_output=True,
                                    timeout=300)
            if client.returncode != 0:
                raise RuntimeError(f"dns-tunnel-messenger ({codec}) did not deliver: "
                                   f"{client.stderr.decode(errors='replace')[-400:]}")
        finally:
            server.terminate()
            server.wait(10)
            relay.stop.set()
            relay.join(2)
    return relay.names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--bytes", type=int, default=12_000, help="bytes pushed through each tunnel")
    ap.add_argument("--set", choices=("round1", "round3", "round4", "round5"), default="round1",
                    help="round1: the first captures (default settings, zone t.tunnel.test, "
                         "random bytes); round3: the fresh held-out set (other zones, "
                         "query types, name lengths, compression, text payloads); round4: "
                         "the next fresh set (A/PRIVATE/NULL answers, forced codecs, lazy "
                         "mode off, dns2tcp keys and resources); round5: a third tool "
                         "(dns-tunnel-messenger) and unused iodine/dns2tcp settings")
    ap.add_argument("--messenger-python", default=sys.executable,
                    help="a Python that imports dns_tunnel_messenger 0.2.0 (round5)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, tuple[str, Callable[[], list[str]]]] = {
        "iodine-base128": (f"{args.bytes} random bytes pushed, zone {DOMAIN}",
                           lambda: iodine("transparent", args.bytes)),
        "iodine-base64": (f"{args.bytes} random bytes pushed, zone {DOMAIN}",
                          lambda: iodine("ascii-only", args.bytes)),
        "iodine-base32": (f"{args.bytes} random bytes pushed, zone {DOMAIN}",
                          lambda: iodine("lowercase", args.bytes)),
        "dns2tcp-base64": (f"{args.bytes} random bytes pushed, zone {DOMAIN}",
                           lambda: dns2tcp(args.bytes)),
    }
    if args.set == "round3":
        runs = {name: (f"{size} {kind} bytes pushed, zone {zone}, options {' '.join(opts)}",
                       (lambda m=mode, sz=size, z=zone, o=opts, k=kind:
                        iodine(m, sz, z, o, k)) if name.startswith("iodine")
                       else (lambda sz=size, z=zone, o=opts, k=kind: dns2tcp(sz, z, o, k)))
                for name, mode, size, zone, opts, kind in ROUND3}
    if args.set == "round4":
        runs = {name: (f"{size} {kind} bytes pushed, zone {zone}, options {' '.join(opts)}",
                       lambda m=mode, sz=size, z=zone, o=opts, k=kind: iodine(m, sz, z, o, k))
                for name, mode, size, zone, opts, kind in ROUND4_IODINE}
        runs |= {name: (f"{size} {kind} bytes pushed, zone {zone}, options {' '.join(opts)}, "
                        f"resource {res}{', pre-shared key' if key else ''}",
                        lambda sz=size, z=zone, o=opts, k=kind, r=res, kk=key:
                        dns2tcp(sz, z, o, k, r, kk))
                 for name, size, zone, opts, kind, res, key in ROUND4_DNS2TCP}
    if args.set == "round5":
        runs = {name: (f"{size} {kind} bytes pushed, zone {zone}, options {' '.join(opts)}",
                       lambda m=mode, sz=size, z=zone, o=opts, k=kind: iodine(m, sz, z, o, k))
                for name, mode, size, zone, opts, kind in ROUND5_IODINE}
        runs |= {name: (f"{size} {kind} bytes pushed, zone {zone}, options {' '.join(opts)}, "
                        f"resource {res}{', pre-shared key' if key else ''}",
                        lambda sz=size, z=zone, o=opts, k=kind, r=res, kk=key:
                        dns2tcp(sz, z, o, k, r, kk))
                 for name, size, zone, opts, kind, res, key in ROUND5_DNS2TCP}
        runs |= {name: (f"{size} text bytes sent, zone {zone}, codec {codec}"
                        f"{', shared key' if key else ''}",
                        lambda c=codec, sz=size, z=zone, kk=key:
                        messenger(args.messenger_python, c, sz, z, kk))
                 for name, codec, size, zone, key in ROUND5_MESSENGER}
    for variant, (what, run) in runs.items():
        tool = variant.split("-")[0]
        names = run()
        origin = ("PyPI package dns-tunnel-messenger 0.2.0, licence: MIT per its metadata"
                  if tool == "messenger" else
                  f"Debian package {tool} {version(tool)}, licence: "
                  f"{'MIT' if tool == 'iodine' else 'GPL-2+'} per Debian's copyright file")
        header = (f"# {len(names)} query names captured from a real {tool} session "
                  f"({origin}; the names are its output)"
                  f"\n# made by scripts/capture-tunnel-names.py --set {args.set}, {what}\n")
        (args.out / f"{variant}.txt").write_text(header + "\n".join(names) + "\n")
        print(f"{variant}: {len(names)} names", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
