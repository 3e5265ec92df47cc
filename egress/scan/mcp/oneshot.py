"""One definition or one text judged outside any session: what the evaluation harness, the
reviewer tools and the tests call, and the wording of an injection hit the inspector reports."""

from __future__ import annotations

from typing import Any

from egress.findings import Finding
from egress.policy.model import McpSection
from egress.redact import preview
from egress.scan.injection import Hit
from egress.scan.mcp.poisoning import REASONS, check_definition
from egress.scan.mcp.policy import McpPolicy


def explain(hit: Hit) -> str:
    """The family of an injection hit and, briefly, why: what was seen or what was hidden."""
    why = hit.rule.id
    if hit.rule.id == "hidden-instruction" and hit.detail:
        why += f": {hit.detail} hidden"
    elif hit.detail:
        why += f": {hit.detail}"
    if hit.view != "text":
        why += f", found after {hit.view} decoding"
    return why


def scan_tool(tool: dict[str, Any], policy: McpPolicy | None = None) -> list[Finding]:
    """Poisoning findings for one tool definition, as a `tools/list` carrying it would get."""
    policy = policy or McpPolicy(McpSection.model_validate({}))
    name = tool.get("name", "?")
    return [Finding("mcp", c.rule, policy.family_action(c.rule, "poisoning"), f"tool.{c.path}",
               f"tool {name!r} carries {REASONS[c.rule]} in {c.what}", c.evidence)
            for c in check_definition(tool, policy.tool_scanner, is_tool=True)]


def scan_content(text: str, policy: McpPolicy | None = None) -> list[Finding]:
    """Injection findings for text coming back to the model (a tool result, a fetched page)."""
    policy = policy or McpPolicy(McpSection.model_validate({}))
    hit = policy.content_scanner.scan(text)
    if hit is None:
        return []
    return [Finding("injection", hit.rule.id, policy.family_action(hit.rule.id, "injection"), "content",
               f"prompt injection ({explain(hit)})", preview(hit.snippet))]
