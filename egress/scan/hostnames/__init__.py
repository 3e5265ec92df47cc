"""Hostname exfiltration: does a name carry encoded data, and how much do a bottle's names
carry to one zone? Pure code, no mitmproxy; importing it loads no tables (the Public Suffix
List and the word model load on first use).

Whoever runs the authoritative DNS of a zone sees every name looked up under it, so a
bottle can leak data by encoding it into labels (iodine, dnscat2, dns2tcp, DNSExfiltrator),
and the same names leak again in CONNECT targets, TLS SNI and Host headers.

Modules:
- `names`: the one normalisation every path uses (case kept, malformed names refused);
- `labels`, `words`, `bigrams`: what one label carries (bits, alphabet, decoded text);
- `scorer`: the single-name score and its explanation;
- `zones`, `budget`: the per-zone information budget (what names and query types can carry);
- `policy`: the compiled `hostnames:` section (judge a name, fronting, findings);
- `native`: the scorer's modules compiled to C (mypyc) when built, else their pure Python.
"""

from __future__ import annotations

# First: it decides whether the scorer's modules below load compiled or from their sources.
from egress.scan.hostnames import native

# isort: split
from egress.scan.hostnames.budget import (
    UNCHARGED,
    BudgetCharge,
    BudgetLimits,
    VolumeBudget,
    label_charge,
    name_charge,
)
from egress.scan.hostnames.labels import (
    ALPHABET_CHOICE_BITS,
    LabelScore,
    decoded_text,
    label_capacity,
    token_bits,
)
from egress.scan.hostnames.names import HostName, authority_host, host_name
from egress.scan.hostnames.policy import (
    HostnameJudgement,
    HostnamePolicy,
    budget_event,
    fronting_finding,
    malformed_finding,
)
from egress.scan.hostnames.scorer import (
    DEFAULT_BLOCK_SCORE,
    HostnameException,
    HostnameScore,
    HostnameScorer,
)
from egress.scan.hostnames.suffixes import SuffixLists, suffix_lists
from egress.scan.hostnames.words import wordiness
from egress.scan.hostnames.zones import PROVIDER_ZONES, provider_zone

RULES = {
    "encoded-hostname": "A name's labels look like encoded data: its score reached "
    "hostnames.block_score (the finding names the label and feature that decided).",
    "malformed-hostname": "A name no hostname can be: an empty label, a label over 63 or a name "
    "over 253 characters, or a character outside letters, digits, '-' and '_' (same verdict "
    "for CONNECT, SNI, Host, URLs, DNS questions and CNAME answers, live and in replay).",
    "volume-budget": "The names under one registered domain carried more information (what "
    "every new label and every new query type of a name can carry), more distinct names or "
    "more encoded-looking names within hostnames.budget.window_seconds than its budget "
    "allows (a tunnel).",
    "domain-fronting": "The CONNECT target, TLS SNI and Host header of one request name "
    "different hosts.",
    # the DNS guard's own checks (egress/scan/dns.py, proxy/dns/guard.py)
    "dns-malformed": "A packet that is not one well-formed standard query (bad header or name, "
    "compression loop, truncated, more than one question, oversize): never forwarded.",
    "dns-zone-transfer": "AXFR, IXFR, MAILA and MAILB queries are always refused.",
    "dns-class": "Only class IN queries are forwarded.",
    "dns-qtype": "The query type is not in dns.qtypes (TXT, NULL and ANY are not by default) "
    "and no dns.qtype_exceptions entry covers the name.",
    "dns-rate-limit": "The client exceeded dns.rate_limit.",
    "dns-tcp-limit": "A client reached dns.tcp.max_connections_per_client (its longest-idle "
    "TCP connection was closed, or the new one when none was idle), or the guard was full.",
    "dns-rebinding": "The answer gave a name a private, loopback, link-local or otherwise "
    "non-global address (an A/AAAA record or an SVCB/HTTPS address hint, in any section), and "
    "dns.private_answers does not cover it.",
    "dns-cname-target": "The answer's CNAME chain leads to a name that looks encoded (or, with "
    "dns.cname_targets: allowed, is not allowed for DNS).",
    "dns-upstream": "The upstream resolver did not answer, or answered something else.",
}

__all__ = [
    "ALPHABET_CHOICE_BITS",
    "DEFAULT_BLOCK_SCORE",
    "PROVIDER_ZONES",
    "RULES",
    "UNCHARGED",
    "BudgetCharge",
    "BudgetLimits",
    "HostName",
    "HostnameException",
    "HostnameJudgement",
    "HostnamePolicy",
    "HostnameScore",
    "HostnameScorer",
    "LabelScore",
    "SuffixLists",
    "VolumeBudget",
    "authority_host",
    "budget_event",
    "decoded_text",
    "fronting_finding",
    "host_name",
    "label_capacity",
    "label_charge",
    "malformed_finding",
    "name_charge",
    "native",
    "provider_zone",
    "suffix_lists",
    "token_bits",
    "wordiness",
]
