"""`addons.agent_identity.AgentIdentity` on crafted flows: proxy authentication of the agents
behind a shared egress (`--agent-identities`)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from addons.agent_identity import AgentIdentity
from egress.agent_identity import AGENT_KEY, AgentIdentities
from tests.addons.conftest import (
    assert_denied,
    assert_untouched,
    call,
    connect_flow,
    exchange,
    https_flow,
    make_env,
    origin_response,
)

POLICY = """
    mode: {mode}
    hosts:
      allow:
        - hosts: [allowed.test]
"""
TOKEN = "tok-0123456789abcdef-secret"


def basic(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()


def setup(tmp_path: Path, mode: str = "enforce") -> tuple[AgentIdentity, AgentIdentities, Any]:
    identities = AgentIdentities({"alice": hashlib.sha256(TOKEN.encode()).digest()})
    env = make_env(tmp_path, POLICY.format(mode=mode), identities=identities)
    return AgentIdentity(env.runtime, identities), identities, env


def test_an_authenticated_tunnel_passes_and_the_credential_goes_nowhere(tctx: Any, tmp_path: Path) -> None:
    addon, identities, _ = setup(tmp_path)
    c = connect_flow()
    c.request.headers["Proxy-Authorization"] = basic("alice", TOKEN)
    call(tctx, addon, "http_connect", c)
    assert c.response is None and "proxy-authorization" not in c.request.headers
    assert c.metadata[AGENT_KEY] == "alice"
    # a request inside the tunnel (same client connection) is alice's; a credential sent
    # again is removed as well
    f = https_flow(headers=[("Proxy-Authorization", basic("mallory", "x"))])
    f.client_conn = c.client_conn
    exchange(tctx, addon, f, origin_response())
    assert f.metadata[AGENT_KEY] == "alice" and "proxy-authorization" not in f.request.headers
    assert_untouched(f)
    call(tctx, addon, "client_disconnected", c.client_conn)
    assert c.client_conn.id not in identities.connections


def test_a_missing_or_wrong_credential_gets_a_407_denial(tctx: Any, tmp_path: Path) -> None:
    addon, identities, _ = setup(tmp_path)
    missing = connect_flow()
    call(tctx, addon, "http_connect", missing)
    assert_denied(missing, 407, "identity/missing-credential")
    assert missing.response is not None
    assert missing.response.headers["Proxy-Authenticate"].startswith("Basic ")
    assert identities.connections == {}
    wrong = https_flow(headers=[("Proxy-Authorization", basic("alice", "not-the-token"))])
    wrong.request.scheme = "http"
    call(tctx, addon, "requestheaders", wrong)
    assert_denied(wrong, 407, "identity/invalid-credential")
    assert "proxy-authorization" not in wrong.request.headers
    assert AGENT_KEY not in wrong.metadata


def test_audit_mode_does_not_let_an_unauthenticated_agent_through(tctx: Any, tmp_path: Path) -> None:
    """Without a credential there is no agent to attribute the traffic to: refused in audit
    mode as well (fail closed)."""
    addon, _, _ = setup(tmp_path, "audit")
    f = connect_flow()
    call(tctx, addon, "http_connect", f)
    assert_denied(f, 407, "identity/missing-credential")


def test_a_malformed_credential_is_refused_not_raised(tctx: Any, tmp_path: Path) -> None:
    addon, _, _ = setup(tmp_path)
    for header in ("Basic !!!not-base64", "Basic " + base64.b64encode(b"\xff\xfe").decode(),
                   "Bearer " + TOKEN, "Basic " + base64.b64encode(b"no-colon").decode()):
        f = connect_flow()
        f.request.headers["Proxy-Authorization"] = header
        call(tctx, addon, "http_connect", f)
        assert_denied(f, 407, "identity/invalid-credential")
        assert TOKEN not in (f.response.content or b"").decode()  # type: ignore[union-attr]
