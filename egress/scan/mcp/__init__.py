"""MCP inspection, pure: bytes and dicts in, findings and decisions out; nothing here touches a
flow, the network or the disk. The addon (`addons/mcp.py`) pulls messages out of flows and
applies what `McpInspector` decides.

Modules: `jsonrpc` (messages, errors), `sse` (event framing), `canonical` (canonical JSON,
hashes, diffs), `text` (model-visible strings), `poisoning` and `definitions` (definition
checks), `paths` (argument rules), `policy` (the compiled `mcp:` section), `sessions`
(pairing), `pins` (pins in memory), `inspector` (the decisions), `oneshot` (one definition or
text outside a session), `rules` (rule ids).
"""

from __future__ import annotations

from egress.scan.mcp.inspector import Decision, Exchange, McpInspector
from egress.scan.mcp.oneshot import scan_content, scan_tool
from egress.scan.mcp.policy import McpPolicy
from egress.scan.mcp.rules import RULES

__all__ = ["RULES", "Decision", "Exchange", "McpInspector", "McpPolicy", "scan_content", "scan_tool"]
