"""The proxy's memory under attack and under load, measured on the live process
(`/proc/<pid>/status`: VmRSS now, VmHWM the peak since `clear_refs` reset it).

- Decompression bombs (a 1 GiB brotli bomb, a 4 GiB `gzip, gzip` bomb), in requests and in
  responses, streamed and buffered: the flow is blocked as `limits/decompression-bomb`, the
  peak RSS grows by less than `BOMB_BOUND`, and another client is answered meanwhile.
- 20 parallel downloads of 30 MB: the peak RSS grows by less than `DOWNLOAD_BOUND`, and every
  client has its first bytes while the origin is still holding back the rest.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.bombs import brotli_bomb, gzip_gzip_bomb
from tests.support.origin import Origin, Reply, SeenRequest
from tests.support.pki import ServerCert
from tests.support.proxy import EgressProcess

MiB = 1 << 20
BOMB_BOUND = 64 * MiB
DOWNLOAD_BOUND = 64 * MiB

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
"""


def memory(proc: EgressProcess) -> dict[str, int]:
    """VmRSS and VmHWM of the proxy process, in bytes."""
    out = {}
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak(proc: EgressProcess) -> int:
    """Reset VmHWM to the current RSS (Linux `clear_refs` 5); return that RSS."""
    assert "egress" in Path(f"/proc/{proc.proc.pid}/cmdline").read_text(), "not the proxy's pid"
    Path(f"/proc/{proc.proc.pid}/clear_refs").write_text("5")
    return memory(proc)["VmRSS"]


def tls(proc: EgressProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])


def audit_rules(proc: EgressProcess) -> list[str]:
    return [f"{f['scanner']}/{f['rule']}" for line in proc.audit_path.read_text().splitlines()
            for f in json.loads(line).get("findings", [])]


BOMBS = {"br-1GiB": (lambda: brotli_bomb(1024), "br"),
         "gzip-gzip-4GiB": (lambda: gzip_gzip_bomb(4096), "gzip, gzip")}


@pytest.fixture(scope="module")
def bombs() -> dict[str, tuple[bytes, str]]:
    return {name: (make(), header) for name, (make, header) in BOMBS.items()}


def pieces(data: bytes, size: int = 16 * 1024) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize("delivery", ["streamed", "buffered"])
@pytest.mark.parametrize("direction", ["request", "response"])
def test_a_decompression_bomb_is_stopped_in_bounded_memory_while_others_are_served(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert: ServerCert,
        bombs: dict[str, tuple[bytes, str]], bomb: str, delivery: str, direction: str) -> None:
    data, encoding = bombs[bomb]
    proc = egress(write_policy(POLICY))
    sent, release = threading.Event(), threading.Event()
    held: list[bool] = []

    def bomb_reply(req: SeenRequest) -> Reply:
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        if delivery == "buffered":
            return Reply(200, headers, data)

        def trickle() -> Iterator[bytes]:
            yield from pieces(data)
            sent.set()
            held.append(release.wait(30))  # the bomb is in; the stream stays open
            yield b"\n"
        return Reply(200, headers, chunks=trickle())

    with Origin(origin_cert, {"/bomb": bomb_reply}) as o:
        base = f"https://allowed.test:{o.port}"
        outcome: dict[str, Any] = {}

        def attack() -> None:
            with httpx.Client(proxy=proc.url, verify=tls(proc), timeout=60) as c:
                try:
                    if direction == "request":
                        body: Any = data
                        if delivery == "streamed":
                            def upload() -> Iterator[bytes]:
                                yield from pieces(data)
                                sent.set()
                                held.append(release.wait(30))
                            body = upload()
                        r = c.post(base + "/upload", content=body,
                                   headers={"Content-Encoding": encoding, "Content-Type": "text/plain"})
                    else:
                        r = c.post(base + "/bomb", json={"jsonrpc": "2.0", "id": 7,
                                                         "method": "tools/list", "params": {}})
                    outcome["status"], outcome["body"] = r.status_code, r.content
                except httpx.HTTPError as e:
                    outcome["error"] = type(e).__name__

        before = reset_peak(proc)
        attacker = threading.Thread(target=attack)
        attacker.start()
        if delivery == "streamed":
            assert sent.wait(30), "the bomb was never sent"
        # Another client, on another connection, while the bomb is in the proxy.
        with httpx.Client(proxy=proc.url, verify=tls(proc), timeout=30) as other:
            hello = other.get(base + "/hello")
        release.set()
        attacker.join(60)
        assert not attacker.is_alive()
        grown = memory(proc)["VmHWM"] - before
    print(f"\n{bomb} {direction} {delivery}: peak RSS +{grown / MiB:.1f} MiB")
    assert hello.status_code == 200 and hello.text == "hello from origin\n"
    assert grown < BOMB_BOUND, f"peak RSS grew by {grown / MiB:.0f} MiB"
    assert "limits/decompression-bomb" in audit_rules(proc)
    if direction == "request":
        assert [r.path for r in o.seen] == ["/hello"]  # the bomb never reached the origin
        if "status" in outcome:  # buffered: the denial; streamed: the connection is cut
            assert outcome["status"] == 413
            assert json.loads(outcome["body"])["rule"] == "limits/decompression-bomb"
        else:
            assert delivery == "streamed"
    else:
        body = outcome.get("body", b"")
        assert data[:64] not in body  # no byte of the server's body
        if delivery == "buffered" or body:
            answer = json.loads(body)
            assert answer["id"] == 7 and "limits/decompression-bomb" in answer["error"]["message"]
    assert "Traceback" not in proc.stderr()


def test_parallel_large_downloads_stream_in_bounded_memory(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert: ServerCert) -> None:
    """20 clients download 30 MB each at once (half with a Content-Length, half chunked). The
    origin sends 1 MiB, then waits until every client has received bytes: a proxy that
    buffered responses would deliver nothing until the origin gave up waiting."""
    n, size = 20, 30 * MiB
    block = os.urandom(MiB)
    everyone = threading.Event()
    released: list[bool] = []
    lock = threading.Lock()
    first: list[int] = []

    def big(req: SeenRequest) -> Reply:
        def body() -> Iterator[bytes]:
            yield block
            released.append(everyone.wait(60))
            for _ in range(size // MiB - 1):
                yield block
        headers = {"Content-Type": "application/octet-stream"}
        if req.path.endswith("/0"):
            headers["Content-Length"] = str(size)
        return Reply(200, headers, chunks=body())

    proc = egress(write_policy(POLICY))
    results: dict[int, Any] = {}
    with Origin(origin_cert, {"/big": big}) as o:
        before = reset_peak(proc)
        peak_seen = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                peak_seen[0] = max(peak_seen[0], memory(proc)["VmRSS"])

        def download(i: int) -> None:
            got, good = 0, True
            pending = b""
            try:
                with httpx.Client(proxy=proc.url, verify=tls(proc), timeout=90) as c, \
                        c.stream("GET", f"https://allowed.test:{o.port}/big/{i}/{i % 2}") as r:
                    for chunk in r.iter_raw():
                        if got == 0:
                            with lock:
                                first.append(i)
                                if len(first) == n:
                                    everyone.set()
                        got += len(chunk)
                        pending += chunk
                        while len(pending) >= MiB:
                            good = good and pending[:MiB] == block
                            pending = pending[MiB:]
                results[i] = (r.status_code, got, good and not pending)
            except httpx.HTTPError as e:
                results[i] = (type(e).__name__, got, False)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=download, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        stop.set()
        sampler.join(5)
        peak = memory(proc)["VmHWM"]
    grown = peak - before
    print(f"\n20 x 30 MB: proxy RSS before {before / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB "
          f"(+{grown / MiB:.0f} MiB; sampled max {peak_seen[0] / MiB:.0f} MiB)")
    assert results == {i: (200, size, True) for i in range(n)}
    assert released == [True] * n, "clients got no bytes before the origin finished"
    assert grown < DOWNLOAD_BOUND, f"peak RSS grew by {grown / MiB:.0f} MiB"
