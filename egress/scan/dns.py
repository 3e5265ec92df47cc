"""What the DNS guard decides about a query and an answer. Pure: names and addresses in,
`Finding`s out; no sockets, no dnslib, no mitmproxy (the guard and the replay addon share it).

A query is forwarded only when every check passes:
1. not a zone transfer (AXFR/IXFR, and the obsolete MAILA/MAILB): always refused;
2. class IN;
3. its type is in `dns.qtypes`, or a `dns.qtype_exceptions` entry covers the name;
4. the name is *allowed for DNS*: a `hosts.allow` rule covers it (any method or path) and
   no host-wide deny rule denies it, or `dns.allow` lists it;
5. the hostname scorer and the bottle's volume budget pass it.

An answer is passed back only when no address record gives the name a non-global address
(private, loopback, link-local, CGNAT, ...: DNS rebinding) unless `dns.private_answers`
covers the name, and no CNAME target looks encoded (or, with `cname_targets: allowed`, is
not allowed for DNS).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import egress.policy  # noqa: F401  (first: hostmatch and the policy package import each other)
from egress.findings import Finding
from egress.hostmatch import HostSet, normalize_host
from egress.policy.model import REFUSED_QTYPES, DnsSection
from egress.scan.hostnames import RULES as HOSTNAME_RULES
from egress.scan.hostnames import HostnameJudgement, HostnamePolicy, VolumeBudget
from egress.scan.hosts import HostPolicy

# Rule ids and descriptions live with the scanner's (`egress.scan.hostnames.RULES`).
RULES = {rule: text for rule, text in HOSTNAME_RULES.items() if rule.startswith("dns-")}

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def non_global(address: str) -> bool:
    """True for addresses a public name should never resolve to (rebinding targets)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer record, reduced to what the checks need."""

    rtype: str
    owner: str
    value: str  # an address for A/AAAA, a name for CNAME, anything else otherwise


@dataclass(frozen=True, slots=True)
class QueryJudgement:
    findings: tuple[Finding, ...]
    hostname: HostnameJudgement | None

    @property
    def sensitive(self) -> tuple[str, ...]:
        return self.hostname.sensitive if self.hostname is not None else ()


class DnsPolicy:
    """Compiled `dns:` section (with the host allowlist it defers to)."""

    def __init__(self, section: DnsSection, hosts: HostPolicy) -> None:
        self.section = section
        self.hosts = hosts
        self.rcode = section.blocked_rcode
        self.qtypes = frozenset(section.qtypes)
        self.extra = HostSet(section.allow)
        self.qtype_exceptions = {q: HostSet(p for e in section.qtype_exceptions if e.qtype == q
                                            for p in e.hosts)
                                 for q in {e.qtype for e in section.qtype_exceptions}}
        self.private_answers = HostSet(section.private_answers)
        self.cname_targets = section.cname_targets
        self.rate = section.rate_limit.queries_per_second
        self.burst = section.rate_limit.burst

    def allowed(self, name: str) -> Finding | None:
        """None if the name is allowed for DNS; otherwise the hosts finding that says why not."""
        host = normalize_host(name)
        finding = self.hosts.check_host(host)
        if finding is None or host in self.extra:
            return None
        return Finding(finding.scanner, finding.rule, finding.action, "dns",
                       finding.reason.replace("egress policy", "egress policy (DNS)"))

    def qtype_allowed(self, qtype: str, name: str) -> bool:
        if qtype in self.qtypes:
            return True
        hosts = self.qtype_exceptions.get(qtype)
        return hosts is not None and normalize_host(name) in hosts


def judge_query(dns: DnsPolicy, hostnames: HostnamePolicy, budget: VolumeBudget | None,
                qname: str, qtype: str, qclass: str, now: float,
                placeholder_in: Callable[[str], str | None] | None = None) -> QueryJudgement:
    """Every finding about one question, in the order the guard checks them.

    `placeholder_in` names the credential whose placeholder a name carries (the bottle's
    `CredentialRegistry.find_in_name`): a placeholder in a query is exfiltration."""
    findings: list[Finding] = []
    if qtype in REFUSED_QTYPES:
        return QueryJudgement((Finding("hostnames", "dns-zone-transfer", "block", "dns",
                                       f"{qtype} queries are always refused"),), None)
    credential = placeholder_in(qname) if placeholder_in is not None else None
    if credential is not None:
        findings.append(Finding(
            "credentials", "placeholder-exfiltration", "block", "dns",
            f"the placeholder of credential {credential!r} was sent in a DNS query name "
            "(possible exfiltration attempt)"))
    if qclass != "IN":
        findings.append(Finding("hostnames", "dns-class", "block", "dns",
                                f"class {qclass} queries are not forwarded"))
    if not dns.qtype_allowed(qtype, qname):
        findings.append(Finding("hostnames", "dns-qtype", "block", "dns",
                                f"{qtype} queries are not allowed for this name (dns.qtypes)"))
    denied = dns.allowed(qname)
    if denied is not None:
        findings.append(denied)
    judged = hostnames.judge(qname, budget, now, "dns")
    findings.extend(judged.findings)
    return QueryJudgement(tuple(findings), judged)


def judge_answer(dns: DnsPolicy, hostnames: HostnamePolicy, qname: str,
                 answers: Iterable[Answer]) -> list[Finding]:
    """Findings that make the guard drop an upstream answer."""
    findings: list[Finding] = []
    host = normalize_host(qname)
    private_ok = host in dns.private_answers
    for rr in answers:
        if rr.rtype in ("A", "AAAA"):
            if non_global(rr.value) and not private_ok \
                    and normalize_host(rr.owner) not in dns.private_answers:
                findings.append(Finding(
                    "hostnames", "dns-rebinding", "block", "dns.answer",
                    f"answer gives {host} the non-global address {rr.value} "
                    "(dns.private_answers does not cover it)"))
                break
        elif rr.rtype == "CNAME" and dns.cname_targets != "any":
            target = normalize_host(rr.value)
            scored = hostnames.scorer.score(rr.value)  # case kept, as on every other path
            if scored.blocked(hostnames.block_score):
                findings.append(Finding(
                    "hostnames", "dns-cname-target", "block", "dns.answer",
                    f"CNAME target under {scored.registered} "
                    + (f"is not a valid host name: {scored.problem}" if scored.problem
                       else f"looks like encoded data: {scored.summary()}")))
                break
            if dns.cname_targets == "allowed" and dns.allowed(target) is not None:
                findings.append(Finding(
                    "hostnames", "dns-cname-target", "block", "dns.answer",
                    f"CNAME target {target} is not allowed for DNS (dns.cname_targets: allowed)"))
                break
    return findings
