"""Every rule id, by scanner: the source of the generated reference and of `bottle policy docs`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

# scanner name -> module declaring its rules next to the scanner: a `RULES` dict (rule id ->
# one-line description), or for DLP, whose rules come from its catalogue, `rule_reference()`.
# Only egress modules: the reference never needs an addon or mitmproxy.
RULE_MODULES = {
    "hosts": "egress.scan.hosts",
    "hostnames": "egress.scan.hostnames",
    "limits": "egress.scan.limits",
    "dlp": "egress.sources.dlp_catalogue",
    "credentials": "egress.scan.credentials",
    "mcp": "egress.scan.mcp",
    "injection": "egress.scan.injection",
    "error": "egress.verdict",
    "identity": "egress.agent_identity",
}


def all_rules() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for scanner, module in RULE_MODULES.items():
        mod = importlib.import_module(module)
        reference: Callable[[], Mapping[str, str]] | None = getattr(mod, "rule_reference", None)
        rules = reference() if reference is not None else getattr(mod, "RULES", {})
        out[scanner] = dict(rules)
    return out
