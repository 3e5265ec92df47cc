"""`addons.timeouts.ConnectionTimeouts` on crafted connections: an idle client connection is
closed after `limits.idle_timeout_seconds`, one trickling a request head after
`limits.header_timeout_seconds`; a connection with a request in progress is left alone.

mitmproxy's connection handlers are stand-ins here (`Handler`), registered under a
`proxyserver` addon of the test master, as the live proxy's are."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.proxy import events
from mitmproxy.test import tflow

from addons.timeouts import ConnectionTimeouts
from tests.addons.conftest import call, exchange, https_flow, make_env, origin_response

POLICY = """
    hosts:
      allow:
        - hosts: [allowed.test]
    limits:
      idle_timeout_seconds: {idle}
      header_timeout_seconds: {header}
"""


class Task:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def cancel(self, msg: str) -> None:
        self.cancelled.append(msg)


class Transport:
    def __init__(self) -> None:
        self.buffered = 0

    def get_write_buffer_size(self) -> int:
        return self.buffered


@dataclass
class Writer:
    transport: Transport = field(default_factory=Transport)


@dataclass
class IO:
    writer: Writer = field(default_factory=Writer)
    handler: Task = field(default_factory=Task)


class Handler:
    """What the addon uses of mitmproxy's `ProxyConnectionHandler`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.io = IO()
        self.transports = {client: self.io}
        self.events: list[Any] = []

    async def server_event(self, event: events.Event) -> None:
        self.events.append(event)


class ProxyServer:
    name = "proxyserver"

    def __init__(self) -> None:
        self.connections: dict[str, Handler] = {}


@pytest.fixture
def server(tctx: Any) -> ProxyServer:
    proxyserver = ProxyServer()
    tctx.master.addons.add(proxyserver)
    return proxyserver


def setup(tmp_path: Path, idle: float = 0.05, header: float = 0.05) -> tuple[ConnectionTimeouts, Any]:
    env = make_env(tmp_path, POLICY.format(idle=idle, header=header))
    return ConnectionTimeouts(env.runtime), env


def connected(tctx: Any, addon: ConnectionTimeouts, server: ProxyServer) -> tuple[Any, Handler]:
    client = tflow.tclient_conn()
    handler = Handler(client)
    server.connections[client.id] = handler
    call(tctx, addon, "client_connected", client)
    return client, handler


def wait(tctx: Any, seconds: float) -> None:
    tctx.master.event_loop.run_until_complete(asyncio.sleep(seconds))


def test_an_idle_connection_is_closed_and_audited(tctx: Any, tmp_path: Path, server: ProxyServer) -> None:
    addon, env = setup(tmp_path)
    _, handler = connected(tctx, addon, server)
    wait(tctx, 0.2)
    assert handler.io.handler.cancelled == ["idle timeout"]
    [event] = env.events()
    assert event["event"] == "timeout" and event["kind"] == "idle" and event["seconds"] == 0.05


def test_a_request_in_progress_is_left_alone_then_the_idle_clock_restarts(
        tctx: Any, tmp_path: Path, server: ProxyServer) -> None:
    addon, env = setup(tmp_path)
    client, handler = connected(tctx, addon, server)
    f = https_flow()
    f.client_conn = client
    call(tctx, addon, "requestheaders", f)
    wait(tctx, 0.15)  # a slow origin is not the client's doing
    assert handler.io.handler.cancelled == [] and env.events() == []
    f.response = origin_response()
    call(tctx, addon, "response", f)
    wait(tctx, 0.2)
    assert handler.io.handler.cancelled == ["idle timeout"]


def test_a_trickled_request_head_is_cut_at_the_header_timeout(tctx: Any, tmp_path: Path,
                                                             server: ProxyServer) -> None:
    addon, env = setup(tmp_path, idle=5, header=0.05)
    client, handler = connected(tctx, addon, server)
    # the first byte of a head arrives on the idle connection (through the watched handler)
    tctx.master.event_loop.run_until_complete(handler.server_event(events.DataReceived(client, b"G")))
    assert handler.events and "server_event" not in handler.__dict__  # watched no more
    wait(tctx, 0.2)
    assert handler.io.handler.cancelled == ["header timeout"]
    assert env.events()[0]["kind"] == "header"


def test_a_connection_still_sending_to_a_slow_reader_is_not_idle(tctx: Any, tmp_path: Path,
                                                                server: ProxyServer) -> None:
    addon, _ = setup(tmp_path)
    _, handler = connected(tctx, addon, server)
    handler.io.writer.transport.buffered = 4096
    wait(tctx, 0.2)
    assert handler.io.handler.cancelled == []
    handler.io.writer.transport.buffered = 0
    wait(tctx, 0.2)
    assert handler.io.handler.cancelled == ["idle timeout"]


def test_a_disconnected_client_is_forgotten(tctx: Any, tmp_path: Path, server: ProxyServer) -> None:
    addon, env = setup(tmp_path)
    client, handler = connected(tctx, addon, server)
    call(tctx, addon, "client_disconnected", client)
    wait(tctx, 0.2)
    assert handler.io.handler.cancelled == [] and env.events() == []


def test_without_a_live_connection_handler_nothing_is_watched(tctx: Any, tmp_path: Path) -> None:
    addon, env = setup(tmp_path)
    client = tflow.tclient_conn()
    call(tctx, addon, "client_connected", client)  # no proxyserver: replay, or a unit test
    f = https_flow()
    f.client_conn = client
    exchange(tctx, addon, f, origin_response())
    wait(tctx, 0.15)
    assert env.events() == []
