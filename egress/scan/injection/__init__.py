"""Prompt-injection detection in text a model will read: MCP tool results, resources, prompts,
sampling requests, server notifications, and (with the tool-only rules added) tool definitions.

Modules: `text` (normalisation views, decoding), `vocab` and `keys` (building blocks, keyword
gates), `rules_override` and `rules_action` (phrase rules as data), `rule` (the rule table),
`scorer` (weighted score; weights are package data read on first use), `scanner` (the scanner
the MCP inspector calls). Importing the package reads no file.
"""

from __future__ import annotations

from egress.scan.injection.rule import RULE_TABLE, Hit, Rule
from egress.scan.injection.scanner import (
    LEVELS,
    SCORE_RULE,
    InjectionScanner,
    Sensitivity,
    Where,
)
from egress.scan.injection.text import decoded_segments, fold_view, views

# Stable ids and what they catch, for the reference docs (tool-only rules are reported as
# `mcp/poison-<family>`).
RULES: dict[str, str] = {
    "instruction-override": "Tells the model to ignore, forget or replace its instructions, or claims "
    "precedence over them (English, Chinese, Japanese, Korean, Russian, French, German, Spanish, "
    "Portuguese, Italian).",
    "role-impersonation": "Impersonates the system, the developer or another persona, switches the model "
    "into an unrestricted mode, or addresses AI agents with directives.",
    "fake-delimiter": "Chat-template tokens, fake conversation turns and banners that fake the end of "
    "the context or of a tool's output.",
    "credential-solicitation": "Asks the model to reveal or send secrets, its system prompt or its "
    "context.",
    "credential-path": "Directs the model to credential files, the environment or stored secrets.",
    "covert-action": "Tells the model to hide what it does from the user, or to act against the user.",
    "tool-call-directive": "Tells the model to call MCP methods or named tools.",
    "exfiltration-directive": "Tells the model to send data to an outside address, URL or image link.",
    "encoded-instructions": "Asks the model to decode something and act on it.",
    "prompt-harvest": "Asks for the system prompt, reasoning or conversation to be collected or returned.",
    "directive-score": "A weighted score of weaker signals in one window of text (directives addressed "
    "to the model, references to its instructions, persona or output, secrecy, secrets, outside "
    "addresses, fake roles and delimiters) over the sensitivity's threshold; medium and high only.",
}

__all__ = [
    "LEVELS", "RULES", "RULE_TABLE", "SCORE_RULE", "Hit", "InjectionScanner", "Rule", "Sensitivity",
    "Where", "decoded_segments", "fold_view", "views",
]
