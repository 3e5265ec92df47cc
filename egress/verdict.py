"""Findings + policy mode -> Verdict, and the machine-readable denial an agent receives."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from egress.findings import Action, Finding

Decision = Literal["allow", "block", "error"]
Mode = Literal["enforce", "audit"]


def effective_action(action: Action, mode: Mode) -> Action:
    """In audit mode nothing is changed on the wire: every action degrades to `audit`."""
    return action if mode == "enforce" else "audit"


def under_mode(finding: Finding, mode: Mode) -> Finding:
    if mode == "enforce" or finding.action == "audit":
        return finding
    return replace(finding, action="audit")


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    blocking: Finding | None = None

    @property
    def blocked(self) -> bool:
        return self.decision != "allow"


ALLOW = Verdict("allow")


# Rules (`error/...`) for a request that failed rather than was refused: the destination was
# allowed but could not be reached. Their verdict is `error`, not `block`.
FAILURE_RULES = frozenset(("upstream-unreachable", "upstream-tls", "upstream-timeout"))


def is_failure(finding: Finding) -> bool:
    return finding.scanner == "error" and finding.rule in FAILURE_RULES


def decide(findings: Iterable[Finding]) -> Verdict:
    """The first blocking finding decides (`error` when it is a failure to reach the
    destination, `block` otherwise); everything else allows (and is logged)."""
    for f in findings:
        if f.action == "block":
            return Verdict("error" if is_failure(f) else "block", f)
    return ALLOW


_HINTS: dict[str, str] = {
    "hosts": "This destination is not in the bottle's egress policy. Ask a security "
    "reviewer to add an allow rule (see `bottle policy explain`).",
    "limits": "The message exceeds the bottle's size limits; send less data per request.",
    "error": "The egress proxy failed while inspecting this request and blocked it (fail "
    "closed). Retry; if it persists, report the flow id to the bottle's operator.",
    "dlp": "The request carried what looks like a secret. Remove it; credentials are "
    "added by the egress proxy for the hosts that need them.",
    "hostnames": "The hostname looks like encoded data (possible DNS/hostname "
    "exfiltration).",
    "credentials": "A credential placeholder may only be sent to its own host.",
    "mcp": "The MCP message violates the bottle's MCP policy.",
    "injection": "The content contains instructions aimed at the agent (prompt injection).",
    "identity": "This egress serves several agents: give your agent's proxy credential.",
}


def denial_body(finding: Finding, flow_id: str, bottle_id: str) -> bytes:
    """JSON body of a denial. Contains rule ids and prose only, never matched values."""
    doc = {
        "error": "failed" if is_failure(finding) else "blocked",
        "rule": f"{finding.scanner}/{finding.rule}",
        "scanner": finding.scanner,
        "reason": finding.reason,
        "hint": finding.hint or _HINTS.get(finding.scanner, ""),
        "where": finding.where,
        "bottle": bottle_id,
        "flow": flow_id,
    }
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def reason_header(finding: Finding) -> str:
    """Value of `X-Bottle-Block-Reason`: printable ASCII, bounded, single line."""
    return _UNPRINTABLE.sub("?", f"{finding.scanner}/{finding.rule}: {finding.reason}"[:300])
