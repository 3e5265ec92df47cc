"""`bottle start --inspect --metrics-port P` on the real engine: the operator endpoints answer
on the host's 127.0.0.1:P, and the agent container reaches no metrics listener.

Its own bottle, named with this run's id (`run_name`), a free host port, no upstream: nothing
here is shared with `tests/test_launcher_e2e.py`'s bottle.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from launcher.bottle import METRICS_PORT, PROXY_PORT, Names
from proxy.metrics_http import HEALTH_PATH, METRICS_PATH, READY_PATH
from tests.support.docker_env import (
    bottle_cli,
    build_test_images,
    docker_client,
    release_test_images,
    run_in,
    run_name,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

NAME = run_name("e2e-metrics")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_client()


@pytest.fixture(scope="module")
def images(client: Any) -> Iterator[dict[str, str]]:
    built = build_test_images(client)
    yield built
    release_test_images(client, built)


@pytest.fixture(scope="module")
def bottle(client: Any, images: dict[str, str]) -> Iterator[dict[str, Any]]:
    port = _free_port()
    res = bottle_cli("start", "--inspect", "--name", NAME, "--image", images["agent"],
                     "--egress-image", images["egress"], "--upstream", "none",
                     "--metrics-port", str(port), "--", "sleep", "infinity")
    try:
        assert res.returncode == 0, res.stderr
        names = Names(NAME)
        yield {"port": port, "agent": client.containers.get(names.agent),
               "egress": client.containers.get(names.egress), "stdout": res.stdout}
    finally:
        bottle_cli("stop", NAME)


def test_metrics_health_and_readiness_answer_on_host_loopback(bottle: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{bottle['port']}"
    assert f"metrics: {base}/metrics" in bottle["stdout"]
    status, text = _get(base + METRICS_PATH)
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "bottle_egress_flows" in names, sorted(names)
    assert _get(base + HEALTH_PATH)[0] == 200
    assert _get(base + READY_PATH)[0] == 200
    # published on loopback only: the host's other addresses do not answer
    ports = bottle["egress"].attrs["NetworkSettings"]["Ports"][f"{METRICS_PORT}/tcp"]
    assert {p["HostIp"] for p in ports} == {"127.0.0.1"}


def test_agent_cannot_reach_the_metrics_listener(bottle: dict[str, Any]) -> None:
    agent, egress = bottle["agent"], bottle["egress"]
    egress.reload()
    addresses = [n["IPAddress"] for n in egress.attrs["NetworkSettings"]["Networks"].values()
                 if n.get("IPAddress")]
    assert addresses
    reached_proxy = False
    for address in addresses:
        code, out = run_in(agent, f"curl -sS --noproxy '*' --max-time 5 -o /dev/null "
                                  f"-w '%{{http_code}}' http://{address}:{METRICS_PORT}{METRICS_PATH}")
        assert code != 0, (address, out)  # refused on its network, unroutable on the other
        # the same address does answer on the proxy port where the agent has one: the refusal
        # above is the metrics listener's absence, not a dead address
        proxy_code, _ = run_in(agent, f"curl -sS --noproxy '*' --max-time 5 -o /dev/null "
                                      f"http://{address}:{PROXY_PORT}/")
        reached_proxy = reached_proxy or proxy_code == 0
    assert reached_proxy
    # and the host port is the host's: the agent's loopback is its own
    code, out = run_in(agent, f"curl -sS --noproxy '*' --max-time 5 "
                              f"http://127.0.0.1:{bottle['port']}{METRICS_PATH}")
    assert code != 0, out
