"""What a scanner reports: one `Finding` per rule hit, free of flows and of secret values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Stable scanner names: they appear in audit events and in `bottle replay` output,
# which other tools consume. Add, never rename.
Scanner = Literal[
    "hosts", "dlp", "hostnames", "mcp", "injection", "credentials", "limits", "error", "identity"
]
SCANNERS: tuple[Scanner, ...] = (
    "hosts", "dlp", "hostnames", "mcp", "injection", "credentials", "limits", "error", "identity"
)

# What a rule asks for. `block` stops the flow, `redact` rewrites the offending part and
# forwards, `strip` removes an offending element (an MCP tool) and forwards, `audit` only logs.
Action = Literal["block", "redact", "strip", "audit"]
ACTIONS: tuple[Action, ...] = ("block", "redact", "strip", "audit")


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule hit.

    `reason` is for humans and must never contain the matched value; `evidence` is an
    already-redacted preview (see `egress.redact.preview`), never the value itself.
    """

    scanner: Scanner
    rule: str
    action: Action
    where: str
    reason: str
    evidence: str | None = None
    # HTTP status a block answers with (403 policy, 413 size, 502 internal failure).
    status: int = 403
    hint: str | None = None
    # Longer, human-readable context for reviewers (e.g. the diff of a changed MCP tool);
    # logged, never sent to the agent.
    detail: str | None = None

    def as_contract(self) -> dict[str, str]:
        """The stable shape `bottle replay --format json` prints."""
        return {"scanner": self.scanner, "rule": self.rule, "action": self.action,
                "where": self.where}

    def as_audit(self) -> dict[str, str]:
        out = {"scanner": self.scanner, "rule": self.rule, "action": self.action,
               "where": self.where, "reason": self.reason}
        if self.evidence:
            out["evidence"] = self.evidence
        if self.detail:
            out["detail"] = self.detail
        return out
