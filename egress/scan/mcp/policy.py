"""The compiled `mcp:` section of a policy: servers, their tool lists, argument rules and pins,
the injection scanners, and the action of each finding."""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from egress.findings import Action
from egress.hostmatch import HostSet, normalize_host, path_has_prefix
from egress.policy.model import McpSection, McpServerRule
from egress.scan.injection import InjectionScanner
from egress.scan.mcp.paths import ArgumentRule

CheckName = Literal["poisoning", "rug_pull", "injection", "tool_policy", "protocol"]


def _globs_match(globs: Iterable[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


@dataclass(frozen=True)
class ServerPolicy:
    label: str
    hosts: HostSet
    paths: tuple[str, ...] | None
    allow_tools: tuple[str, ...] | None
    deny_tools: tuple[str, ...]
    arguments: tuple[ArgumentRule, ...]
    pins: dict[str, str]

    @classmethod
    def of(cls, rule: McpServerRule, index: int) -> ServerPolicy:
        label = f"mcp.servers[{index}]" + (f" ({rule.name})" if rule.name else "")
        return cls(label, HostSet(rule.hosts), tuple(rule.paths) if rule.paths else None,
                   tuple(rule.allow_tools) if rule.allow_tools is not None else None,
                   tuple(rule.deny_tools),
                   tuple(ArgumentRule.of(a, f"{label}.arguments[{i}]")
                         for i, a in enumerate(rule.arguments)), dict(rule.pins))

    def covers(self, host: str, path: str) -> bool:
        return host in self.hosts and (self.paths is None or any(
            path_has_prefix(path, p) for p in self.paths))

    def tool_verdict(self, tool: str) -> str | None:
        """`tool-denied`, `tool-not-allowed` or None."""
        if _globs_match(self.deny_tools, tool):
            return "tool-denied"
        if self.allow_tools is not None and not _globs_match(self.allow_tools, tool):
            return "tool-not-allowed"
        return None

    def exempt_name(self, tool: str) -> bool:
        return self.allow_tools is not None and tool in self.allow_tools


_NO_SERVER = ServerPolicy("default", HostSet([]), None, None, (), (), {})


_POLICY_SERIALS = itertools.count()
# Families whose findings are only logged unless the policy says otherwise.
_FAMILY_DEFAULTS: dict[str, Action] = {"tool-name-collision": "audit"}


class McpPolicy:
    """Compiled `mcp:` section, built once per policy load."""

    def __init__(self, section: McpSection) -> None:
        # Identifies this compiled policy in caches (an id() can be reused after a reload).
        self.serial = next(_POLICY_SERIALS)
        self.section = section
        self.enabled = section.enabled
        self.actions = section.actions
        self._families: dict[str, Action] = {str(k): v for k, v in section.actions.families.items()}
        self.content_scanner = InjectionScanner(section.injection_sensitivity, "content")
        self.tool_scanner = InjectionScanner(section.injection_sensitivity, "tool")
        self.arguments = tuple(ArgumentRule.of(a, f"mcp.arguments[{i}]")
                               for i, a in enumerate(section.arguments))
        self.servers = tuple(ServerPolicy.of(r, i) for i, r in enumerate(section.servers))

    def server_for(self, host: str, path: str) -> ServerPolicy:
        host = normalize_host(host)
        path = urlsplit(path).path or "/"
        return next((s for s in self.servers if s.covers(host, path)), _NO_SERVER)

    def action(self, check: CheckName) -> Action:
        return getattr(self.actions, check)  # type: ignore[no-any-return]

    def family_action(self, rule: str, check: CheckName) -> Action:
        """The action of one finding: its family's (`mcp.actions.families`), else its check's.
        Results cannot be stripped: `strip` blocks them."""
        family = rule.removeprefix("poison-")
        chosen = (self._families.get(family) or _FAMILY_DEFAULTS.get(family)
                  or self.action(check))
        return "block" if chosen == "strip" and check == "injection" else chosen
