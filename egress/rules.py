"""Every rule id, by scanner: the source of the generated reference and of `bottle policy docs`."""

from __future__ import annotations

import importlib

# scanner name -> module defining RULES (rule id -> one-line description)
RULE_MODULES = {
    "hosts": "egress.scan.hosts",
    "hostnames": "egress.scan.hostnames",
    "limits": "addons.limits",
    "dlp": "addons.dlp",
    "credentials": "egress.scan.credentials",
    "mcp": "egress.scan.mcp",
    "injection": "egress.scan.injection",
    "error": "addons.guard",
    "identity": "addons.agent_identity",
}


def all_rules() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for scanner, module in RULE_MODULES.items():
        rules = getattr(importlib.import_module(module), "RULES", {})
        out[scanner] = dict(rules)
    return out
