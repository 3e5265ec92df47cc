"""`addons.destinations.Destinations` on crafted flows: a name is resolved and every address
judged before the request leaves and again before the dial, and the dial is pinned to the
addresses judged. The event loop's resolver is a stand-in here (no network)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.proxy.server_hooks import ServerConnectionHookData
from mitmproxy.test import tflow

from addons.destinations import Destinations
from tests.addons.conftest import (
    assert_denied,
    assert_untouched,
    call,
    exchange,
    https_flow,
    make_env,
    origin_response,
    rules,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: ["*.test"]
      allow_private: [192.168.7.0/24]
"""
ANSWERS = {
    "public.test": ["93.184.216.34"],
    "rebind.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "lan.test": ["192.168.7.10"],
    "mixed.test": ["127.0.0.1", "93.184.216.34"],
}


def infos(addresses: list[str], port: int) -> list[tuple[Any, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in addresses]


@pytest.fixture
def resolver(tctx: Any) -> list[str]:
    """The test loop's `getaddrinfo`, answering from `ANSWERS`; returns the names asked."""
    asked: list[str] = []

    async def getaddrinfo(host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        asked.append(str(host))
        if host not in ANSWERS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return infos(ANSWERS[host], int(port))

    tctx.master.event_loop.getaddrinfo = getaddrinfo
    return asked


def setup(tmp_path: Path, mode: str = "enforce", **runtime: Any) -> tuple[Destinations, Any]:
    env = make_env(tmp_path, POLICY.format(mode=mode), **runtime)
    return Destinations(env.runtime), env


def dial(tctx: Any, addon: Destinations, host: str, port: int = 443) -> Any:
    server = tflow.tserver_conn()
    server.address = (host, port)
    server.error = None
    call(tctx, addon, "server_connect", ServerConnectionHookData(server, tflow.tclient_conn()))
    return server


def dialled(tctx: Any, host: str, port: int = 443) -> list[str]:
    """What mitmproxy's connection would get from the loop's resolver now."""
    got = tctx.master.event_loop.run_until_complete(tctx.master.event_loop.getaddrinfo(host, port))
    return [ai[4][0] for ai in got]


def test_a_public_name_passes_and_its_dial_is_pinned(tctx: Any, tmp_path: Path, resolver: list[str]) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("public.test")
    exchange(tctx, addon, f, origin_response(b"origin"))
    assert f.response is not None and f.response.content == b"origin"
    assert_untouched(f)
    server = dial(tctx, addon, "public.test")
    assert server.error is None
    ANSWERS["public.test"] = ["10.9.9.9"]  # the name changes its answer after the check...
    try:
        assert dialled(tctx, "public.test") == ["93.184.216.34"]  # ...the dial does not
    finally:
        ANSWERS["public.test"] = ["93.184.216.34"]


def test_a_name_resolving_to_a_private_address_is_refused(tctx: Any, tmp_path: Path,
                                                        resolver: list[str]) -> None:
    addon, _ = setup(tmp_path)
    for host, address in (("rebind.test", "10.0.0.5"), ("metadata.test", "169.254.169.254")):
        f = https_flow(host)
        call(tctx, addon, "requestheaders", f)
        body = assert_denied(f, 403, "hosts/private-address")
        assert address in body["reason"]


def test_audit_mode_refuses_a_private_address_too(tctx: Any, tmp_path: Path, resolver: list[str]) -> None:
    addon, _ = setup(tmp_path, "audit")
    f = https_flow("rebind.test")
    call(tctx, addon, "requestheaders", f)
    assert_denied(f, 403, "hosts/private-address")


def test_allow_private_and_mixed_answers(tctx: Any, tmp_path: Path, resolver: list[str]) -> None:
    addon, _ = setup(tmp_path)
    lan = https_flow("lan.test")
    call(tctx, addon, "requestheaders", lan)
    assert_untouched(lan)
    mixed = https_flow("mixed.test")
    call(tctx, addon, "requestheaders", mixed)
    assert_untouched(mixed)
    assert dial(tctx, addon, "mixed.test").error is None
    assert dialled(tctx, "mixed.test") == ["93.184.216.34"]  # never the loopback answer


def test_the_dial_is_judged_again_and_refusals_are_audited(tctx: Any, tmp_path: Path,
                                                          resolver: list[str]) -> None:
    addon, env = setup(tmp_path)
    server = dial(tctx, addon, "rebind.test")
    assert server.error is not None and server.error.startswith("blocked by egress policy")
    [event] = env.events()
    assert event["event"] == "server-connect" and event["verdict"] == "block"
    assert event["host"] == "rebind.test" and event["findings"][0]["rule"] == "private-address"


def test_a_name_that_does_not_resolve_is_never_dialled(tctx: Any, tmp_path: Path,
                                                      resolver: list[str]) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("nowhere.test")
    call(tctx, addon, "requestheaders", f)
    assert f.response is None  # mitmproxy's own connection attempt reports it
    server = dial(tctx, addon, "nowhere.test")
    assert server.error is not None and server.error.startswith("cannot resolve nowhere.test")


def test_replay_and_an_upstream_proxy_resolve_nothing(tctx: Any, tmp_path: Path, resolver: list[str]) -> None:
    for runtime in ({"live": False}, {"upstream": ("pipelock.test", 8888)}):
        addon, _ = setup(tmp_path, **runtime)
        f = https_flow("rebind.test")
        call(tctx, addon, "requestheaders", f)
        assert f.response is None and rules(f) == []
        assert dial(tctx, addon, "rebind.test").error is None
    assert resolver == []


def test_an_ip_literal_is_dialled_as_the_address_it_was_judged_as(tctx: Any, tmp_path: Path,
                                                                 resolver: list[str]) -> None:
    addon, _ = setup(tmp_path)
    assert dial(tctx, addon, "0x5db8d822").error is None  # 93.184.216.34, spelt in hex
    assert dialled(tctx, "0x5db8d822") == ["93.184.216.34"]
