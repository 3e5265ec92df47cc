"""Chaining to the next-hop forward proxy (pipelock): tell it which bottle is speaking."""

from __future__ import annotations

from mitmproxy import http

from egress.agent_identity import agent_of
from egress.runtime import Runtime

AGENT_HEADER = "X-Pipelock-Agent"


class Upstream:
    name = "upstream"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _agent(self, flow: http.HTTPFlow) -> str:
        """The bottle id, or behind a shared egress (`--agent-identities`) the agent that
        authenticated this flow or its tunnel's CONNECT."""
        identities = self.runtime.identities
        if identities is None:
            return self.runtime.bottle_id
        agent = agent_of(flow.metadata) or identities.connections.get(flow.client_conn.id)
        if agent is None:  # unreachable: unauthenticated flows are answered 407 first
            raise RuntimeError("flow to the upstream without an authenticated agent")
        return agent

    def http_connect_upstream(self, flow: http.HTTPFlow) -> None:
        flow.request.headers[AGENT_HEADER] = self._agent(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Plain-HTTP requests travel to the upstream proxy as they are: stamp them too, and
        # overwrite whatever the agent put there so one bottle cannot pose as another.
        if flow.response or flow.error:
            return
        # (In upstream mode mitmproxy sends every plain-HTTP request to the upstream proxy;
        # `server_conn.via` is set only once the connection is opened, after this hook.)
        if flow.request.scheme == "http":
            flow.request.headers[AGENT_HEADER] = self._agent(flow)
        elif AGENT_HEADER in flow.request.headers:
            del flow.request.headers[AGENT_HEADER]
