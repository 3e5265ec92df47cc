"""The pod firewall, for real: the rendered init container's script loaded by iptables into a
network namespace made like a pod's (loopback, one veth to the "cluster"), with NET_ADMIN as
its only capability, then connections from the agent's and the egress' uids.

A NetworkPolicy cannot tell the agent container from its egress sidecar (they share the pod's
network namespace); this is what keeps the agent from going around the proxy in that layout.
"""

from __future__ import annotations

import secrets
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.deploy import render
from deploy.kubernetes import AGENT_UID, EGRESS_UID, RenderOptions, dump
from tests.support.prereq import require_binary, require_root
from tests.support.yamlload import load_all

REPO = Path(__file__).resolve().parents[1]
PYTHON = "/usr/bin/python3"  # runs as the test uids: the system interpreter, readable by all
# Addresses inside the two namespaces this test makes (documentation ranges, never routed).
POD_V4, OUT_V4 = "198.51.100.1", "198.51.100.2"
POD_V6, OUT_V6 = "2001:db8:5::1", "2001:db8:5::2"

SERVER = textwrap.dedent("""
    import socket, sys, threading
    def tcp(fam, host):
        s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 443)); s.listen()
        while True:
            c, peer = s.accept(); print("tcp", peer[0], flush=True); c.sendall(b"ok"); c.close()
    def udp(host):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((host, 53))
        while True:
            data, peer = s.recvfrom(512); print("udp", peer[0], flush=True); s.sendto(data, peer)
    threading.Thread(target=tcp, args=(socket.AF_INET6, sys.argv[2]), daemon=True).start()
    threading.Thread(target=udp, args=(sys.argv[1],), daemon=True).start()
    print("ready", flush=True)
    tcp(socket.AF_INET, sys.argv[1])
""")
CLIENT = textwrap.dedent("""
    import socket, sys
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.send(b"hello")
        print("reply", s.recv(16).decode())
    except OSError as e:
        print("error", type(e).__name__)
""")
LISTENER = textwrap.dedent("""
    import socket, sys
    fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); print("ready", flush=True)
    while True:
        c, _ = s.accept(); c.sendall(b"in-pod"); c.close()
""")


def run(*cmd: str) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, f"{cmd}: {res.stderr}"
    return res.stdout


@dataclass
class Pod:
    ns: str
    outside: str
    server: subprocess.Popen[str]
    seen: list[str]

    def as_uid(self, uid: int, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns, "setpriv", f"--reuid={uid}",
                               f"--regid={uid}", "--clear-groups", *cmd],
                              capture_output=True, text=True, timeout=30)

    def connect(self, uid: int, kind: str, host: str, port: int) -> str:
        res = self.as_uid(uid, PYTHON, "-c", CLIENT, kind, host, str(port))
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()

    def listen(self, uid: int, host: str, port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "setpriv", f"--reuid={uid}",
                                 f"--regid={uid}", "--clear-groups", PYTHON, "-c", LISTENER,
                                 host, str(port)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    def outside_connect(self, host: str, port: int) -> str:
        return run("ip", "netns", "exec", self.outside, PYTHON, "-c", CLIENT, "tcp", host,
                   str(port)).strip()


@pytest.fixture
def pod() -> Iterator[Pod]:
    require_root("network namespaces and netfilter rules")
    for binary, package in (("ip", "iproute2"), ("iptables-restore", "iptables"),
                            ("ip6tables-restore", "iptables"), ("setpriv", "util-linux")):
        require_binary(binary, package)
    tag = secrets.token_hex(3)
    ns, outside = f"bk8s-pod-{tag}", f"bk8s-out-{tag}"
    veth_pod, veth_out = f"vp{tag}", f"vo{tag}"
    server: subprocess.Popen[str] | None = None
    try:
        run("ip", "netns", "add", ns)
        run("ip", "netns", "add", outside)
        run("ip", "link", "add", veth_pod, "netns", ns, "type", "veth", "peer", "name", veth_out,
            "netns", outside)
        for name, dev, v4, v6 in ((ns, veth_pod, POD_V4, POD_V6), (outside, veth_out, OUT_V4, OUT_V6)):
            run("ip", "-n", name, "link", "set", "lo", "up")
            run("ip", "-n", name, "addr", "add", f"{v4}/30", "dev", dev)
            run("ip", "-n", name, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            run("ip", "-n", name, "link", "set", dev, "up")
        server = subprocess.Popen(["ip", "netns", "exec", outside, PYTHON, "-c", SERVER, OUT_V4,
                                   OUT_V6], stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield Pod(ns, outside, server, [])
    finally:
        if server is not None:
            server.kill()
            server.wait(5)
        for name in (ns, outside):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def seen(pod: Pod) -> list[str]:
    """What the server outside the pod received (connections and datagrams), so far."""
    assert pod.server.stdout is not None
    time.sleep(0.3)
    import os
    import select

    lines = []
    fd = pod.server.stdout.fileno()
    os.set_blocking(fd, False)
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536).decode()
        if not chunk:
            break
        lines += chunk.splitlines()
    pod.seen += lines
    return lines


def rendered_script() -> str:
    objs = [d for d in load_all(dump(render(RenderOptions(
        str(REPO / "policies" / "default.yaml"))).objects())) if d]
    pod_spec = next(o for o in objs if o["kind"] == "Pod")["spec"]
    firewall = pod_spec["initContainers"][0]
    assert firewall["name"] == "pod-firewall"
    assert firewall["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    command: list[str] = firewall["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    return command[2]


def test_only_the_egress_user_leaves_the_pod_and_the_agent_is_refused_at_once(pod: Pod):
    # Before the firewall, the agent's uid gets straight out: the test can see a bypass.
    assert pod.connect(AGENT_UID, "tcp", OUT_V4, 443) == "reply ok"
    assert seen(pod) == [f"tcp {POD_V4}"]

    # The init container's script, as rendered, with NET_ADMIN as its only capability.
    out = run("ip", "netns", "exec", pod.ns, "setpriv", "--bounding-set=-all,+net_admin",
              "--inh-caps=-all", "/bin/sh", "-c", rendered_script())
    assert f"only uid {EGRESS_UID} may leave the pod" in out
    assert "-P OUTPUT DROP" in run("ip", "netns", "exec", pod.ns, "iptables", "-S", "OUTPUT")

    for host in (OUT_V4, OUT_V6):
        assert pod.connect(AGENT_UID, "tcp", host, 443).startswith("error ConnectionRefused"), host
    assert pod.connect(AGENT_UID, "udp", OUT_V4, 53).startswith("error")
    assert seen(pod) == []  # nothing from the agent reached the outside
    # The egress user: out on TCP (both families) and UDP (the guard's forwarding).
    assert pod.connect(EGRESS_UID, "tcp", OUT_V4, 443) == "reply ok"
    assert pod.connect(EGRESS_UID, "tcp", OUT_V6, 443) == "reply ok"
    assert pod.connect(EGRESS_UID, "udp", OUT_V4, 53) == "reply hello"
    assert sorted(seen(pod)) == sorted([f"tcp {POD_V4}", f"tcp {POD_V6}", f"udp {POD_V4}"])


def test_loopback_and_connections_from_outside_still_work(pod: Pod):
    run("ip", "netns", "exec", pod.ns, "setpriv", "--bounding-set=-all,+net_admin",
        "--inh-caps=-all", "/bin/sh", "-c", rendered_script())
    proxy = pod.listen(EGRESS_UID, "127.0.0.1", 8080)  # the proxy and guard on loopback
    metrics = pod.listen(EGRESS_UID, "0.0.0.0", 9090)  # kubelet probes, metrics scrapes
    try:
        assert pod.connect(AGENT_UID, "tcp", "127.0.0.1", 8080) == "reply in-pod"
        assert pod.outside_connect(POD_V4, 9090) == "reply in-pod"
    finally:
        for p in (proxy, metrics):
            p.kill()
            p.wait(5)
