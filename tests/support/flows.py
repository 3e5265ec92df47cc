"""Flow-file helpers for tests: the product's own builders."""

from proxy.flowbuild import http_flow, write_flows

__all__ = ["http_flow", "write_flows"]
