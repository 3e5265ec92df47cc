"""Issue 18 row 6 with a real Docker engine: a bottle whose egress goes direct (`--upstream
none`) must not reach private addresses through its proxy — the test origin on a private
Docker network, the host's bridge address, the egress container's own DNS guard and own
address — even with a policy that allows every host in audit mode; `hosts.allow_private`
opens exactly what it lists. Every Docker object has a per-run name, and only those are
removed."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.bottle import Names
from tests.support.docker_env import (
    OutsideWorld,
    bottle_cli,
    build_test_images,
    docker_client,
    outside_world,
    run_in,
)
from tests.support.pki import TestPKI

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
RUN = secrets.token_hex(3)


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_client()


@pytest.fixture(scope="module")
def images(client: Any) -> dict[str, str]:
    return build_test_images(client)


@pytest.fixture(scope="module")
def world(client: Any, images: dict[str, str], pki: TestPKI) -> Iterator[OutsideWorld]:
    cert = pki.server_cert("docker-private-origin", ["allowed.test", "api.allowed.test"])
    with outside_world(client, images, cert) as w:
        yield w


class HostListener:
    """A listener on every address of the Docker host, recording who connects."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.5)
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            self.seen.append(addr[0])
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def start_bottle(client: Any, images: dict[str, str], world: OutsideWorld, pki: TestPKI,
                 tmp_path: Path) -> Iterator[Any]:
    started: list[str] = []

    def start(policy_text: str) -> dict[str, Any]:
        name = f"privaddr-{RUN}-{len(started)}"
        policy = tmp_path / f"{name}.yaml"
        policy.write_text(policy_text)
        started.append(name)
        res = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                         "--egress-image", images["egress"], "--policy", str(policy),
                         "--upstream", "none", "--upstream-network", world.network,
                         "--upstream-ca", str(pki.ca_path), "--json",
                         "--dns-upstream", f"{world.resolver_ip}:53", "--", "sleep", "infinity")
        assert res.returncode == 0, res.stderr
        names = Names(name)
        return {"info": json.loads(res.stdout), "names": names,
                "agent": client.containers.get(names.agent),
                "egress": client.containers.get(names.egress)}

    yield start
    for name in started:
        bottle_cli("stop", name)


def curl(agent: Any, *args: str) -> tuple[int, str]:
    """curl in the agent, through its proxy for every host (`NO_PROXY` lists loopback)."""
    quoted = " ".join(f"'{a}'" for a in args)
    return run_in(agent, f"curl -sS --max-time 20 --noproxy '' {quoted} 2>&1")


def test_private_destinations_are_refused_even_in_audit_mode(
        start_bottle: Any, world: OutsideWorld, client: Any) -> None:
    bottle = start_bottle((REPO / "policies/examples/audit-only.yaml").read_text())
    egress = bottle["egress"]
    egress.reload()
    egress_ips = [n["IPAddress"] for n in egress.attrs["NetworkSettings"]["Networks"].values()]
    gateways = {cfg["Gateway"] for net in client.networks.list()
                for cfg in (net.attrs.get("IPAM") or {}).get("Config") or [] if cfg.get("Gateway")}
    listener = HostListener()
    try:
        targets = {
            "origin by name": "https://allowed.test/private",
            "origin by address": f"https://{world.origin_ip}/private",
            "egress DNS guard": "http://127.0.0.1:53/",
            **{f"egress address {ip}": f"http://{ip}:8080/" for ip in egress_ips},
            **{f"host bridge {gw}": f"http://{gw}:{listener.port}/" for gw in sorted(gateways)},
        }
        for what, url in targets.items():
            _, out = curl(bottle["agent"], "-v", url)
            assert "x-bottle-block-reason: hosts/private-address" in out.lower(), (what, url, out)
    finally:
        listener.close()
    assert listener.seen == [], f"the host was reached through the proxy: {listener.seen}"
    assert all(r["path"] != "/private" for r in world.origin_requests())


def test_allow_private_opens_exactly_what_it_lists(start_bottle: Any, world: OutsideWorld,
                                                  client: Any) -> None:
    network = client.networks.get(world.network)
    subnet = network.attrs["IPAM"]["Config"][0]["Subnet"]
    bottle = start_bottle(f"""\
version: 1
hosts:
  allow:
    - hosts: [allowed.test, "*.allowed.test"]
  allow_private: ["{subnet}"]
dns:
  private_answers: [allowed.test, "*.allowed.test"]
""")
    code, out = curl(bottle["agent"], "https://allowed.test/listed")
    assert code == 0 and '"path": "/listed"' in out, out
    assert any(r["path"] == "/listed" for r in world.origin_requests())
    # the egress container's own loopback stays closed: only the listed network opened
    _, out = curl(bottle["agent"], "-v", "http://127.0.0.1:53/")
    assert "x-bottle-block-reason: hosts/" in out.lower() and "200 OK" not in out, out
