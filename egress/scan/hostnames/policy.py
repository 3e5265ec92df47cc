"""The compiled `hostnames:` section: one judgement per name, from any path.

`HostnamePolicy.judge` is what the CONNECT, SNI, Host-header and absolute-URL checks
(`addons/hostnames.py`), the DNS guard and replay (`egress/scan/dns.py`) call with the name
as it arrived; normalisation, scoring and the budget happen here, so the same name gets the
same findings everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from egress.findings import Finding
from egress.hostmatch import normalize_host
from egress.policy.model import HostnamesSection
from egress.redact import preview
from egress.scan.hostnames.budget import UNCHARGED, BudgetCharge, BudgetLimits, VolumeBudget
from egress.scan.hostnames.scorer import HostnameException, HostnameScore, HostnameScorer


@dataclass(frozen=True, slots=True)
class HostnameJudgement:
    score: HostnameScore
    charge: BudgetCharge
    findings: tuple[Finding, ...]

    @property
    def sensitive(self) -> tuple[str, ...]:
        """The part of the name that may be data, to scrub from artefacts when it was flagged."""
        if self.findings and len(self.score.subdomain) >= 8:
            return tuple(dict.fromkeys((self.score.subdomain, self.score.subdomain.lower())))
        return ()


class HostnamePolicy:
    """Compiled `hostnames:` section: a scorer with the policy's exceptions and thresholds.

    The budget it charges is passed in by the caller (it belongs to the bottle's runtime and
    outlives this object across reloads).
    """

    def __init__(self, section: HostnamesSection) -> None:
        self.section = section
        self.action = section.action
        self.block_score = section.block_score
        self.fronting = section.fronting
        b = section.budget
        self.limits = BudgetLimits(float(b.window_seconds), b.max_names, b.max_encoded_names,
                                   b.max_bytes, b.encoded_bits, b.provider_factor,
                                   b.max_word_bytes)
        self.budget_action = b.action
        self.scorer = HostnameScorer(
            (HostnameException(e.reason, e.domain, e.suffix) for e in section.exceptions),
            section.block_score)

    def judge(self, name: str, budget: VolumeBudget | None, now: float, where: str,
              qtype: str | None = None, qtype_bits: float = 0.0) -> HostnameJudgement:
        """Score `name` and charge it to `budget`; a DNS query also names its type and what
        the choice of a type is worth (`DnsPolicy.qtype_bits`)."""
        scored = self.scorer.score(name)
        if scored.problem is not None:
            # refused whatever the budget says; charged all the same, as data its zone was sent
            charge = budget.charge(scored, self.limits, now, qtype, qtype_bits, True) \
                if budget is not None else UNCHARGED
            return HostnameJudgement(scored, charge, (malformed_finding(scored, where),))
        if scored.exempt is not None or not scored.subdomain:
            return HostnameJudgement(scored, UNCHARGED, ())
        findings: list[Finding] = []
        refused = scored.score >= self.block_score
        if refused:
            findings.append(Finding(
                "hostnames", "encoded-hostname", self.action, where,
                f"name under {scored.registered} looks like encoded data: {scored.summary()}",
                evidence=preview(scored.subdomain)))
        # Closing the zone follows the action: a name only audited was let through, so it
        # does not make its zone the tunnel's (the budget's own limits still apply).
        charge = budget.charge(scored, self.limits, now, qtype, qtype_bits,
                               refused and self.action == "block") \
            if budget is not None else UNCHARGED
        if charge.over:
            findings.append(Finding("hostnames", "volume-budget", self.budget_action, where,
                                    charge.describe(scored.registered, self.limits),
                                    evidence=preview(scored.subdomain)))
        return HostnameJudgement(scored, charge, tuple(findings))


def malformed_finding(scored: HostnameScore, where: str) -> Finding:
    return Finding("hostnames", "malformed-hostname", "block", where,
                   f"not a valid host name: {scored.problem}",
                   evidence=preview(scored.subdomain) if scored.subdomain else None)


def budget_event(charge: BudgetCharge, registered: str, limits: BudgetLimits) -> dict[str, object]:
    """The fields of the `hostname-budget` audit event that reports a budget trip: which
    zone, how many names and bits, in which window, against which limits; a zone closed by
    a refused name also says for how long it stays closed (`closed_for_seconds`)."""
    z = limits.for_zone(charge.provider)
    closed = {"closed_for_seconds": round(max(0.0, charge.closed_for), 1)} \
        if charge.exceeded == "refused names" else {}
    return {"registered_domain": registered, "names": charge.names,
            "encoded_names": charge.encoded_names, "bytes": charge.bytes,
            "bits": charge.bytes * 8, "word_bytes": charge.word_bytes,
            "provider_zone": charge.provider, "exceeded": charge.exceeded,
            "window_seconds": limits.window_seconds, **closed,
            "limits": {"names": z.names, "encoded_names": z.encoded_names, "bytes": z.bytes,
                       "word_bytes": z.word_bytes}}


def fronting_finding(names: dict[str, str], action: str, where: str) -> Finding | None:
    """A finding when the names a request is routed by disagree. `names`: role -> host.
    Hosts compare in the canonical form every host match uses (`normalize_host`: no case,
    trailing dot, brackets or IDNA form, one spelling per IP address), so this check and
    `hosts/authority-mismatch` (`egress.scan.authority`) agree on what one host is; scoring
    keeps the case (`host_name`)."""
    distinct = {normalize_host(h) for h in names.values() if h}
    if len(distinct) <= 1 or action == "off":
        return None
    roles = ", ".join(f"{role} {host}" for role, host in names.items() if host)
    return Finding("hostnames", "domain-fronting", "audit" if action == "audit" else "block",
                   where, f"request names more than one host ({roles}): possible domain fronting")
