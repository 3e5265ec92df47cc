"""What the DNS guard decides about a query and an answer. Pure: names and addresses in,
`Finding`s out; no sockets, no dnslib, no mitmproxy (the guard and the replay addon share it).

A query is forwarded only when every check passes:
1. not a zone transfer (AXFR/IXFR, and the obsolete MAILA/MAILB): always refused;
2. no secret in the name: credential placeholders, the DLP rules and known secrets, in
   any case, split over labels or encoded (`egress.scan.name_secrets`);
3. class IN;
4. its type is in `dns.qtypes`, or a `dns.qtype_exceptions` entry covers the name;
5. the name is *allowed for DNS*: a `hosts.allow` rule covers it (any method or path) and
   no host-wide deny rule denies it, or `dns.allow` lists it;
6. the hostname scorer and the bottle's volume budget pass it (the budget charges the
   information of new labels and of the query type, `egress.scan.hostnames.budget`).

An answer is passed back only when no address in it gives a name a non-global address
(private, loopback, link-local, CGNAT, ...: DNS rebinding) unless `dns.private_answers`
covers the name: A/AAAA records and SVCB/HTTPS `ipv4hint`/`ipv6hint`, in the answer,
authority and additional sections alike (glue and hints reach clients too). No CNAME
target may look encoded (or, with `cname_targets: allowed`, be not allowed for DNS).
"""

from __future__ import annotations

import ipaddress
import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from egress.findings import Finding
from egress.hostmatch import HostSet, normalize_host
from egress.policy.model import REFUSED_QTYPES, DnsSection
from egress.scan.hostnames import RULES as HOSTNAME_RULES
from egress.scan.hostnames import HostnameJudgement, HostnamePolicy, VolumeBudget
from egress.scan.hosts import HostPolicy
from egress.scan.name_secrets import NOTHING, NameSecrets

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


SVCB_IPV4HINT = 4
SVCB_IPV6HINT = 6


def svcb_hints(rdata: bytes) -> tuple[str, ...]:
    """The `ipv4hint` and `ipv6hint` addresses of SVCB/HTTPS record data (RFC 9460).
    Raises ValueError for data that is not a well-formed SVCB record."""
    if len(rdata) < 3:
        raise ValueError("SVCB record shorter than its priority and target")
    pos = 2  # SvcPriority
    while True:  # TargetName: uncompressed labels
        if pos >= len(rdata):
            raise ValueError("SVCB target name runs past the record")
        n = rdata[pos]
        pos += 1
        if n == 0:
            break
        if n > 63:
            raise ValueError("SVCB target name is compressed or has an oversize label")
        pos += n
    hints: list[str] = []
    while pos < len(rdata):
        if pos + 4 > len(rdata):
            raise ValueError("SVCB parameter header runs past the record")
        key, length = struct.unpack_from("!HH", rdata, pos)
        pos += 4
        value = rdata[pos:pos + length]
        if len(value) != length:
            raise ValueError("SVCB parameter value runs past the record")
        pos += length
        size = 4 if key == SVCB_IPV4HINT else 16 if key == SVCB_IPV6HINT else 0
        if size:
            if not value or length % size:
                raise ValueError(f"SVCB address hint of {length} bytes")
            hints.extend(str(ipaddress.ip_address(value[i:i + size]))
                         for i in range(0, length, size))
    return tuple(hints)


@dataclass(frozen=True, slots=True)
class Answer:
    """One record of an upstream answer, reduced to what the checks need."""

    rtype: str
    owner: str
    value: str  # an address for A/AAAA, a name for CNAME, anything else otherwise
    section: str = "answer"  # answer | authority | additional
    hints: tuple[str, ...] = ()  # SVCB/HTTPS ipv4hint and ipv6hint addresses

    def addresses(self) -> tuple[str, ...]:
        if self.rtype in ("A", "AAAA"):
            return (self.value,)
        return self.hints


@dataclass(frozen=True, slots=True)
class QueryJudgement:
    findings: tuple[Finding, ...]
    hostname: HostnameJudgement | None
    secrets: NameSecrets = NOTHING

    def logged_name(self, name: str) -> str:
        """The name as audit events show it: with a secret in it, its data part is replaced
        here (scrubbing alone could leave part of it, e.g. a label beside the secret)."""
        if not self.secrets.findings:
            return name
        if self.hostname is None or not self.hostname.score.subdomain:
            return "[REDACTED]"
        return f"[REDACTED].{self.hostname.score.registered}"

    @property
    def sensitive(self) -> tuple[str, ...]:
        """Values to scrub from artefacts: the data part of a flagged name and every secret
        found in it."""
        flagged = self.hostname.sensitive if self.hostname is not None else ()
        if not self.secrets.findings:
            return flagged
        part = self.hostname.score.subdomain if self.hostname is not None else ""
        return tuple(dict.fromkeys((*flagged, *(p for p in (part,) if p),
                                    *self.secrets.sensitive)))


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
        # What asking for one of the forwarded query types tells the zone's owner: the
        # volume budget charges it for every new (name, type) pair.
        forwarded = set(self.qtypes) | set(self.qtype_exceptions)
        self.qtype_bits = math.log2(len(forwarded)) if len(forwarded) > 1 else 0.0
        self.tcp_per_client = section.tcp.max_connections_per_client
        self.tcp_idle = float(section.tcp.idle_seconds)

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
                secrets_in: Callable[[str, str], NameSecrets] | None = None) -> QueryJudgement:
    """Every finding about one question, in the order the guard checks them.

    `secrets_in(name, data part)` finds secrets in a name (credential placeholders, DLP
    rules, known secrets: `egress.scan.name_secrets`); a secret in a query is exfiltration."""
    findings: list[Finding] = []
    if qtype in REFUSED_QTYPES:
        return QueryJudgement((Finding("hostnames", "dns-zone-transfer", "block", "dns",
                                       f"{qtype} queries are always refused"),), None)
    # the scorer's split (memoised: `hostnames.judge` below finds it again) names the
    # labels the zone's owner chooses, where a split secret can hide
    secrets = secrets_in(qname, hostnames.scorer.score(qname).subdomain) \
        if secrets_in is not None else NOTHING
    findings.extend(secrets.findings)
    if qclass != "IN":
        findings.append(Finding("hostnames", "dns-class", "block", "dns",
                                f"class {qclass} queries are not forwarded"))
    if not dns.qtype_allowed(qtype, qname):
        findings.append(Finding("hostnames", "dns-qtype", "block", "dns",
                                f"{qtype} queries are not allowed for this name (dns.qtypes)"))
    denied = dns.allowed(qname)
    if denied is not None:
        findings.append(denied)
    judged = hostnames.judge(qname, budget, now, "dns", qtype, dns.qtype_bits)
    findings.extend(judged.findings)
    return QueryJudgement(tuple(findings), judged, secrets)


def judge_answer(dns: DnsPolicy, hostnames: HostnamePolicy, qname: str,
                 answers: Iterable[Answer]) -> list[Finding]:
    """Findings that make the guard drop an upstream answer."""
    findings: list[Finding] = []
    host = normalize_host(qname)
    private_ok = host in dns.private_answers
    for rr in answers:
        bad = next((a for a in rr.addresses() if non_global(a)), None)
        if bad is not None and not private_ok \
                and normalize_host(rr.owner) not in dns.private_answers:
            owner = normalize_host(rr.owner)
            via = "" if rr.rtype in ("A", "AAAA") else " as an address hint"
            record = f"{rr.section}-section {rr.rtype} record of {owner or '.'}"
            findings.append(Finding(
                "hostnames", "dns-rebinding", "block", "dns.answer",
                f"answer to {host} carries the non-global address {bad}{via} ({record}; "
                "dns.private_answers does not cover it)"))
            break
        if rr.rtype == "CNAME" and rr.section == "answer" and dns.cname_targets != "any":
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
