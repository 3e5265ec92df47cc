"""`addons.upstream.Upstream` on crafted flows: the X-Pipelock-Agent header the next-hop proxy
reads, set by the proxy and never by the agent."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from addons.support.failclosed import FailClosed, Guarded
from addons.upstream import AGENT_HEADER, Upstream
from egress.agent_identity import AGENT_KEY, AgentIdentities
from tests.addons.conftest import (
    BOTTLE,
    assert_denied,
    assert_untouched,
    call,
    connect_flow,
    https_flow,
    make_env,
)

POLICY = """
    hosts:
      allow:
        - hosts: [allowed.test]
"""


def setup(tmp_path: Path, identities: AgentIdentities | None = None) -> tuple[Upstream, Any]:
    env = make_env(tmp_path, POLICY, upstream=("pipelock.test", 8888), identities=identities)
    return Upstream(env.runtime), env


def plain_http(headers: list[tuple[str, str]] | None = None) -> Any:
    f = https_flow("allowed.test", headers=headers)
    f.request.scheme = "http"
    f.request.port = 80
    return f


def test_plain_http_is_stamped_with_the_bottle_overwriting_the_agents_value(
        tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = plain_http([(AGENT_HEADER, "some-other-bottle")])
    call(tctx, addon, "requestheaders", f)
    assert f.request.headers.get_all(AGENT_HEADER) == [BOTTLE]
    assert_untouched(f)


def test_the_connect_sent_upstream_is_stamped(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = connect_flow()
    call(tctx, addon, "http_connect_upstream", f)
    assert f.request.headers[AGENT_HEADER] == BOTTLE


def test_inside_a_tunnel_the_agents_header_never_reaches_the_origin(tctx: Any, tmp_path: Path) -> None:
    addon, _ = setup(tmp_path)
    f = https_flow("allowed.test", headers=[(AGENT_HEADER, "spoofed")])
    call(tctx, addon, "requestheaders", f)
    assert AGENT_HEADER not in f.request.headers
    assert_untouched(f)


def test_behind_a_shared_egress_the_authenticated_agent_is_named(tctx: Any, tmp_path: Path) -> None:
    identities = AgentIdentities({"alice": hashlib.sha256(b"t0ken").digest()})
    addon, _ = setup(tmp_path, identities)
    f = plain_http()
    f.metadata[AGENT_KEY] = "alice"
    call(tctx, addon, "requestheaders", f)
    assert f.request.headers[AGENT_HEADER] == "alice"
    # a CONNECT authenticated its client connection: the CONNECT upstream names that agent
    c = connect_flow()
    identities.connections[c.client_conn.id] = "alice"
    call(tctx, addon, "http_connect_upstream", c)
    assert c.request.headers[AGENT_HEADER] == "alice"


def test_a_flow_without_an_authenticated_agent_fails_closed(tctx: Any, tmp_path: Path) -> None:
    """Unreachable in the chain (the identity addon answers 407 first); should it happen, the
    guarded hook blocks the flow rather than letting it leave unattributed."""
    identities = AgentIdentities({"alice": hashlib.sha256(b"t0ken").digest()})
    addon, env = setup(tmp_path, identities)
    guarded = Guarded(addon, FailClosed(env.runtime))
    f = plain_http()
    call(tctx, guarded, "requestheaders", f)
    assert_denied(f, 502, "error/addon-exception")
    assert AGENT_HEADER not in f.request.headers
