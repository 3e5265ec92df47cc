"""Chaining to the next-hop forward proxy (pipelock): tell it which bottle is speaking."""

from __future__ import annotations

from mitmproxy import http

from egress.runtime import Runtime

AGENT_HEADER = "X-Pipelock-Agent"


class Upstream:
    name = "upstream"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def http_connect_upstream(self, flow: http.HTTPFlow) -> None:
        flow.request.headers[AGENT_HEADER] = self.runtime.bottle_id

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Plain-HTTP requests travel to the upstream proxy as they are: stamp them too, and
        # overwrite whatever the agent put there so one bottle cannot pose as another.
        if flow.response or flow.error:
            return
        if flow.request.scheme == "http" and flow.server_conn.via is not None:
            flow.request.headers[AGENT_HEADER] = self.runtime.bottle_id
        elif AGENT_HEADER in flow.request.headers:
            del flow.request.headers[AGENT_HEADER]
