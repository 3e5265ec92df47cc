"""Proxy authentication of agents behind a shared egress (`--agent-identities`).

First in the chain when configured. A CONNECT authenticates its client connection: every
request inside that tunnel (HTTP/1 or HTTP/2) is the same agent's, as is the CONNECT the
proxy sends upstream for it. A plain-HTTP request carries its own credential. Without a valid
credential the agent gets `407` with a JSON denial and a `Proxy-Authenticate` challenge, an
audit event is written, and nothing is dialled (fail closed).

`Proxy-Authorization` is removed from every request it arrives on, valid or not, before any
other addon sees it: it never reaches the upstream proxy or an origin, the audit log, a
flow file or a denial.
"""

from __future__ import annotations

from mitmproxy import connection, http

from addons.support.flows import fail
from egress.agent_identity import AGENT_KEY, AgentIdentities
from egress.findings import Finding
from egress.runtime import Runtime

AUTH_HEADER = "Proxy-Authorization"
CHALLENGE = 'Basic realm="bottle-egress"'


class AgentIdentity:
    name = "agent-identity"

    def __init__(self, runtime: Runtime, identities: AgentIdentities) -> None:
        self.runtime = runtime
        self.identities = identities

    def _authenticate(self, f: http.HTTPFlow) -> str | None:
        header = f.request.headers.get(AUTH_HEADER)
        # Gone before anything else could forward, log or record it.
        f.request.headers.pop(AUTH_HEADER, None)
        agent = self.identities.authenticate(header)
        if agent is not None:
            f.metadata[AGENT_KEY] = agent
            return agent
        rule = "missing-credential" if header is None else "invalid-credential"
        reason = ("no proxy credential: this egress serves several agents and needs each "
                  "one's name and token in its proxy URL" if header is None else
                  "the proxy credential names no known agent or its token is wrong")
        fail(f, self.runtime, Finding(
            "identity", rule, "block", "proxy-authorization", reason, status=407,
            hint="Set HTTPS_PROXY/HTTP_PROXY to http://<agent>:<token>@<gateway>:<port> with "
            "the agent's token from its Kubernetes Secret (docs/kubernetes.md)."))
        if f.response is not None:
            f.response.headers["Proxy-Authenticate"] = CHALLENGE
        return None

    def http_connect(self, f: http.HTTPFlow) -> None:
        agent = self._authenticate(f)
        if agent is not None:
            self.identities.connections[f.client_conn.id] = agent

    def requestheaders(self, f: http.HTTPFlow) -> None:
        agent = self.identities.connections.get(f.client_conn.id)
        if agent is None:
            # Not inside an authenticated tunnel: a plain-HTTP proxy request, on its own.
            self._authenticate(f)
            return
        # Inside the tunnel the credential was the CONNECT's; one sent again goes nowhere.
        f.request.headers.pop(AUTH_HEADER, None)
        f.metadata[AGENT_KEY] = agent

    def client_disconnected(self, client: connection.Client) -> None:
        self.identities.connections.pop(client.id, None)
