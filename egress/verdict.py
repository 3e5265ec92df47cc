"""Findings + policy mode -> Verdict, and the machine-readable denial an agent receives.

`record` is the one place findings turn into a decision: every addon (through
`addons.support.flows`), the DNS guard and the MCP inspector hand their findings to it, and
the block is derived from what was recorded (`Decisions.blocking`), never kept beside it.
Pure: no mitmproxy here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

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


# The rules of the `error` scanner: the proxy's own failures, which block whatever the policy
# mode (fail closed; `addons.support.failclosed`, `addons.upstream`, the DNS guard).
RULES = {
    "addon-exception": "An addon hook raised; the flow was blocked (fail closed).",
    "connection-failed-closed": "An earlier TLS or connection hook of this connection failed; "
    "its requests are blocked.",
    "dns-guard-exception": "The DNS guard failed on a query; it was answered SERVFAIL and not "
    "forwarded (fail closed).",
    "upstream-unreachable": "The origin or upstream proxy could not be reached (connection "
    "refused, no route, name not resolvable, or it closed the connection before answering); "
    "answered with a JSON 502, audited with verdict `error`.",
    "upstream-tls": "The TLS handshake with the origin or upstream proxy failed (certificate not "
    "trusted, wrong name, protocol error); answered with a JSON 502, verdict `error`.",
    "upstream-timeout": "Connecting to the origin or upstream proxy timed out, or it sent no "
    "response headers within `limits.response_timeout` of the complete request (the upstream "
    "connection is then closed); answered with a JSON 504, verdict `error`.",
}

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


def first_block(findings: Iterable[Finding]) -> Finding | None:
    for f in findings:
        if f.action == "block":
            return f
    return None


class HasFindings(Protocol):
    """Decision state of one flow, DNS query or MCP message: the findings recorded so far."""

    findings: list[Finding]


@dataclass(slots=True)
class Decisions:
    """Decision state of its own (a DNS query): findings in order, the block derived."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> Finding | None:
        return first_block(self.findings)

    @property
    def verdict(self) -> Verdict:
        return decide(self.findings)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one `record` call changed."""

    findings: tuple[Finding, ...]
    # The finding that blocks now and did not before the call (the caller stops the flow).
    blocked: Finding | None = None
    # Rewrites the caller must apply (`redact`, `strip`): none in audit mode.
    rewrites: tuple[Finding, ...] = ()


def record(state: HasFindings, findings: Iterable[Finding], mode: Mode,
           fail_closed: bool = False) -> Recorded:
    """Record `findings` in `state` under the policy `mode`: in audit mode every action
    degrades to `audit` (nothing changes on the wire), unless `fail_closed` (an internal
    failure, an undecodable or over-limit body, a malformed request) blocks whatever the
    mode. The first blocking finding of the state blocks it; `Recorded.blocked` is set when
    this call is what blocked it."""
    before = first_block(state.findings)
    recorded = tuple(f if fail_closed else under_mode(f, mode) for f in findings)
    state.findings.extend(recorded)
    blocked = first_block(recorded) if before is None else None
    rewrites = tuple(f for f in recorded if f.action in ("redact", "strip"))
    return Recorded(recorded, blocked, rewrites)


def planned(findings: Iterable[Finding], mode: Mode) -> Recorded:
    """What `record` decides for `findings` on their own, without recording them: for a
    caller that must act before it records (condemn a connection at its TLS handshake,
    redact before the findings are reported, refuse to dial)."""
    return record(Decisions(), findings, mode)


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
    return _COMPACT.encode(doc).encode() + b"\n"


# `json.dumps(doc, separators=(",", ":"))` without building an encoder per denial (the
# arguments are not the defaults, so `dumps` makes one each call): the same text.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def reason_header(finding: Finding) -> str:
    """Value of `X-Bottle-Block-Reason`: printable ASCII, bounded, single line."""
    return _UNPRINTABLE.sub("?", f"{finding.scanner}/{finding.rule}: {finding.reason}"[:300])
