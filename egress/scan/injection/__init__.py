"""Prompt-injection detection in text a model will read: MCP tool results, resources, prompts,
sampling requests, server notifications, and (with the tool-only rules added) tool definitions.

Modules: `text` (normalisation views, decoding), `vocab` and `keys` (building blocks, keyword
gates; `vocab` also reads literal gates and match starts off each pattern: `scan_iter`),
`rules_override` and `rules_action` (phrase rules as data, each with a unique pattern id),
`rule` (the rule table and the families findings name), `act`, `prose_act` and `errand`
(act-directing detectors),
`scorer` (weighted score; weights are package data read on first use), `scanner` (the scanner
the MCP inspector calls). Importing the package reads no file and compiles no rule: the rule
table and the weights load on first use.
"""

from __future__ import annotations

from egress.scan.injection.rule import RULES as FAMILY_RULES
from egress.scan.injection.rule import Hit, Rule, rule_table
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
RULES = FAMILY_RULES

__all__ = [
    "LEVELS", "RULES", "SCORE_RULE", "Hit", "InjectionScanner", "Rule", "Sensitivity", "Where",
    "decoded_segments", "fold_view", "rule_table", "views",
]
