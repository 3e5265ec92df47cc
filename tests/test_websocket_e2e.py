"""WebSocket through the running proxy: clean traffic passes, a secret never reaches the origin."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.pki import ServerCert
from tests.support.websocket import EchoOrigin, ProxiedClient

TOKEN = "ghp_" + "Zk4Wq8Rt2Yp6Ux0Ms3Nv7Lb1Hc5Jd9Fg2EkQ"  # 36 characters, as GitHub issues them


def test_websocket_passes_through_and_secrets_are_stopped(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert: ServerCert) -> None:
    with EchoOrigin(origin_cert) as ws_origin:
        proc = egress(write_policy("hosts:\n  allow:\n    - hosts: [allowed.test]\n"))
        client = ProxiedClient(proc.url, "allowed.test", ws_origin.port, proc.env["SSL_CERT_FILE"])
        try:
            assert client.exchange("hello") == "echo:hello"
            assert client.exchange("second message") == "echo:second message"
            # the message is dropped and the agent is told why, as a message of the socket
            denial = json.loads(client.exchange(f"here is my token {TOKEN}"))
            assert denial["error"] == "blocked" and denial["rule"] == "dlp/github-token"
            # and the blocked socket carries nothing more, either way
            with pytest.raises((ConnectionError, OSError)):
                client.exchange("anything else")
        finally:
            client.close()
        # a secret split across two messages is stopped too (the window spans messages)
        client = ProxiedClient(proc.url, "allowed.test", ws_origin.port, proc.env["SSL_CERT_FILE"])
        try:
            assert client.exchange(f"part one {TOKEN[:20]}").startswith("echo:")
            assert json.loads(client.exchange(f"{TOKEN[20:]} part two"))["error"] == "blocked"
        finally:
            client.close()
        time.sleep(0.3)
        assert ws_origin.received[:2] == ["hello", "second message"]
        assert "anything else" not in ws_origin.received
        assert all(TOKEN not in m for m in ws_origin.received)
        assert all(TOKEN[20:] not in m for m in ws_origin.received)
        proc.stop()
        events = [json.loads(x) for x in proc.audit_path.read_text().splitlines()]
        ws_events = [e for e in events if e.get("event") == "websocket"]
        assert any(f["rule"] == "github-token" for e in ws_events for f in e["findings"])
        assert TOKEN not in proc.audit_path.read_text() and TOKEN not in proc.stderr()
