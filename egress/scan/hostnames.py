"""Hostname exfiltration scoring: does a name carry encoded data? Pure code, no mitmproxy.

Whoever runs the authoritative DNS of a zone sees every name looked up under it, so a
bottle can leak data by encoding it into subdomain labels (iodine, dnscat2, dns2tcp,
DNSExfiltrator), and the same names leak again in CONNECT targets, TLS SNI and Host
headers. Entropy alone is blind on short labels (16 characters can never exceed 4 bits
each), so the score is built from structure, and a per-domain volume budget catches what
a single name cannot show:

1. Split a name into its registered domain (eTLD+1 from the Public Suffix List shipped by
   `publicsuffixlist`, private section included: `d1x.cloudfront.net` is its own domain)
   and the labels the zone's owner receives. A label directly under a private-section
   suffix (a bucket, a CDN distribution id) is scored too: a platform's users choose it.
2. Split each label into tokens at `-`/`_` and estimate the bits of information each
   token carries: words (a letter-bigram model of ordinary words), numbers, word+number
   (`ec2`, `node12`), and random-looking runs priced by their alphabet (hex 4 bits/char,
   base32 5, base36 5.17, mixed-case 5.95, base64 punctuation 6).
3. Combine into a score with named reasons: encoded bits, encoded-looking labels
   (chunks), characters no hostname has, mixed case, label count, subdomain length.
4. `VolumeBudget` (`egress/scan/hostname_budget.py`; per bottle, survives policy reloads)
   counts distinct names, distinct encoded-looking names and the bytes of information new
   labels carry per registered domain over a sliding window. Tunnels need many unique
   names under one domain; ordinary traffic does not. Over budget, new names under that
   domain are blocked; the trip is reported once per episode.

Everything here is table-tested against `tests/test_hostnames.py` and measured by
`benchmarks/hostname_scoring.py`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from egress.findings import Finding
from egress.policy.model import HostnamesSection
from egress.redact import preview
from egress.scan.hostname_bigrams import BIGRAM_LOG2
from egress.scan.hostname_budget import DEFAULT_ENCODED_BITS, UNCHARGED

# The budget lived here; its names stay importable from this module.
from egress.scan.hostname_budget import BudgetCharge as BudgetCharge
from egress.scan.hostname_budget import BudgetLimits as BudgetLimits
from egress.scan.hostname_budget import VolumeBudget as VolumeBudget

RULES = {
    "encoded-hostname": "A name's subdomain labels look like encoded data: its score reached "
    "hostnames.block_score.",
    "volume-budget": "Too many distinct names, encoded-looking names or bytes of information "
    "(new labels, new query types) under one registered domain within "
    "hostnames.budget.window_seconds (a tunnel).",
    "domain-fronting": "The CONNECT target, TLS SNI and Host header of one request name "
    "different hosts.",
    # the DNS guard's own checks (egress/scan/dns.py, egress/dns.py)
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

# -- scoring constants (documented in README "Hostname scoring") ------------------------------

BITS_PER_CHAR = {"hex": 4.0, "base32": 5.0, "base36": 5.17, "mixed-case": 5.95, "base64": 6.0}
DIGIT_BITS = math.log2(10)
LETTER_BITS = math.log2(26)
WORD_BITS = 1.0            # a letter of a run that reads as words
ABBREV_BITS = 2.0          # a letter of a short (<= 5) all-letter token: `cdn`, `prod`, `eu`
WORDINESS_MIN = -5.0       # mean bigram log2-likelihood at or above which a run reads as words
POINTS_PER_BIT = 0.35      # score points per estimated bit of encoded information
CHUNK_BITS = 40.0          # a label carrying this many bits is an encoded-looking chunk
CHUNK_POINTS = 35.0        # per encoded-looking chunk beyond the first
NON_HOSTNAME_POINTS = 100.0
MIXED_CASE_POINTS = 25.0
LABELS_FREE = 6            # subdomain labels before `label-count` adds points
LABEL_POINTS = 8.0
SUBDOMAIN_FREE = 100       # subdomain characters before `subdomain-length` adds points
SUBDOMAIN_POINTS = 0.4
HIGH_ENTROPY = 4.0         # bits/char; reported for labels of >= 20 characters
HIGH_ENTROPY_POINTS = 5.0
DEFAULT_BLOCK_SCORE = 100.0
MAX_WORD_NUMBER_RUNS = 4   # letter/digit runs in a token still read as words and numbers

_HEX = frozenset("0123456789abcdef")
_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")
# Each character to its class: letter, digit, or other (anything no hostname label has).
_CLASS = {c: "a" for c in range(128) if chr(c).isalpha()}
_CLASS.update({c: "0" for c in range(ord("0"), ord("9") + 1)})
_CLASS_TABLE = str.maketrans({chr(c): v for c, v in _CLASS.items()})
_NON_HOSTNAME = re.compile(r"[^A-Za-z0-9_.\-]")
_TOKEN_SPLIT = re.compile(r"[-_]+")
_IPV4ISH = re.compile(r"^[0-9.]+$")
_RUNS = re.compile(r"[a-z]+|[0-9]+")

_psl_lock = threading.Lock()
_psl: tuple[PublicSuffixList, PublicSuffixList] | None = None


def public_suffix_lists() -> tuple[PublicSuffixList, PublicSuffixList]:
    """(ICANN + private sections, ICANN only), parsed once per process from the packaged list."""
    global _psl
    if _psl is None:
        with _psl_lock:
            if _psl is None:
                _psl = (PublicSuffixList(accept_unknown=True),
                        PublicSuffixList(only_icann=True, accept_unknown=True))
    return _psl


def wordiness(run: str) -> float:
    """Mean letter-bigram log2-likelihood of a lower-case letter run (higher reads as words)."""
    table = BIGRAM_LOG2
    prev = "^"
    total = 0.0
    for ch in run:
        total += table.get(prev + ch, -9.0)
        prev = ch
    total += table.get(prev + "^", -9.0)
    return total / (len(run) + 1)


def _letter_bits(run: str) -> float:
    n = len(run)
    if n <= 5:
        return n * ABBREV_BITS
    return n * (WORD_BITS if wordiness(run) >= WORDINESS_MIN else LETTER_BITS)


_B64_BITS = BITS_PER_CHAR["base64"]
_MIXED_BITS = BITS_PER_CHAR["mixed-case"]


def token_bits(token: str) -> tuple[float, str]:
    """Estimated bits of information in one token and the kind of token it looks like."""
    n = len(token)
    if n == 0:
        return 0.0, "empty"
    classes = token.translate(_CLASS_TABLE)
    if not classes.isalnum():  # some character is neither letter nor digit
        return n * _B64_BITS, "base64"
    has_letter = "a" in classes
    if not has_letter:
        return n * DIGIT_BITS, "digits"
    mixed = not token.islower() and not token.isupper()
    if "0" not in classes:
        if mixed:
            return n * _MIXED_BITS, "mixed-case"
        bits = _letter_bits(token.lower())
        return bits, ("word" if bits <= n * ABBREV_BITS else "letters")
    if mixed:
        return n * _MIXED_BITS, "mixed-case"
    lower = token.lower()
    transitions = classes.count("a0") + classes.count("0a")
    if transitions <= MAX_WORD_NUMBER_RUNS - 1:
        # words and numbers: `ec2`, `node12`, `ipv4`, `route53resolver`, `europe-west15`.
        # Random alphanumerics switch far more often (16 random base36 characters: ~6 times).
        bits = 0.0
        for run in _RUNS.findall(lower):
            bits += len(run) * DIGIT_BITS if run[0] <= "9" else _letter_bits(run)
        return bits, "word-number"
    chars = set(lower)
    if chars <= _HEX:
        return n * 4.0, "hex"
    if chars <= _BASE32:
        return n * 5.0, "base32"
    return n * BITS_PER_CHAR["base36"], "base36"


_CLOG2C = [0.0] + [c * math.log2(c) for c in range(1, 256)]


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character (labels are at most 63 characters)."""
    n = len(text)
    table = _CLOG2C
    return math.log2(n) - sum([table[text.count(c)] for c in set(text)]) / n


def _punycode_ok(label: str) -> bool:
    try:
        label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    bits: float
    kind: str


@dataclass(frozen=True, slots=True)
class HostnameScore:
    """A scored name. `reasons` are stable `name=value` strings for the audit log; none of
    them quotes the name's labels."""

    name: str
    registered: str
    subdomain: str
    score: float
    bits: float
    reasons: tuple[str, ...] = ()
    exempt: str | None = None

    def blocked(self, block_score: float) -> bool:
        return self.exempt is None and self.score >= block_score

    def encoded(self, min_bits: float = DEFAULT_ENCODED_BITS) -> bool:
        return self.exempt is None and self.bits >= min_bits

    def summary(self) -> str:
        return f"score {self.score:.0f} ({', '.join(self.reasons) or 'no signals'})"


@dataclass(frozen=True, slots=True)
class HostnameException:
    """A trusted zone: names under it are neither scored nor budgeted."""

    reason: str
    domain: str | None = None   # registered domain, exactly
    suffix: str | None = None   # this name and every name under it


SCORE_MEMO = 8192  # names remembered per scorer; a name's score never changes


class HostnameScorer:
    """Scores names; its rules are fixed once built (one per compiled policy)."""

    def __init__(self, exceptions: Iterable[HostnameException] = ()) -> None:
        self.full, self.icann = public_suffix_lists()
        # Scores are pure functions of the name: a client opening many connections to the
        # same hosts (and replay, where every flow is a new connection) scores each name
        # once. Cleared rather than evicted when full: safe to share across threads.
        self._memo: dict[str, HostnameScore] = {}
        self._by_domain: dict[str, str] = {}
        self._by_suffix: dict[str, str] = {}
        for e in exceptions:
            if e.domain:
                self._by_domain[e.domain.lower().rstrip(".")] = e.reason
            if e.suffix:
                self._by_suffix[e.suffix.lower().rstrip(".")] = e.reason

    def exception_for(self, lower: str, registered: str) -> str | None:
        if not (self._by_suffix or self._by_domain):
            return None
        reason = self._by_domain.get(registered)
        if reason is not None:
            return reason
        if self._by_suffix:
            if lower in self._by_suffix:
                return self._by_suffix[lower]
            dot = lower.find(".")
            while dot != -1:
                reason = self._by_suffix.get(lower[dot + 1:])
                if reason is not None:
                    return reason
                dot = lower.find(".", dot + 1)
        return None

    def split(self, name: str) -> tuple[str, str]:
        """(registered domain, the part its owner receives: scored labels, dot-joined).

        `name` may carry a trailing dot and any case; the registered domain is lower case.
        """
        name = name.rstrip(".")
        lower = name.lower()
        if not lower or ":" in lower or _IPV4ISH.match(lower):
            return lower, ""  # IP literals carry no labels to score
        registered = self.full.privatesuffix(lower)
        # Private-section suffixes have two or more labels, so a registered domain with one
        # dot is an ICANN one: the second lookup is needed only for deeper ones.
        icann = registered if registered is not None and registered.count(".") == 1 \
            else self.icann.privatesuffix(lower)
        if registered is None:
            # The name is itself a public suffix (a wildcard entry such as
            # `*.compute-1.amazonaws.com`): score what lies under its ICANN domain.
            base = icann or lower
            return base, name[: len(name) - len(base)].rstrip(".")
        if icann == registered:
            return registered, name[: len(name) - len(registered)].rstrip(".")
        # Registered under a private-section suffix: its first label is a user's choice.
        suffix_len = len(registered) - registered.index(".") - 1
        return registered, name[: len(name) - suffix_len].rstrip(".")

    def score(self, name: str) -> HostnameScore:
        known = self._memo.get(name)
        if known is not None:
            return known
        scored = self.score_uncached(name)
        if len(self._memo) >= SCORE_MEMO:
            self._memo.clear()
        self._memo[name] = scored
        return scored

    def score_uncached(self, name: str) -> HostnameScore:
        """The score computed afresh (benchmarks measure this)."""
        registered, sub = self.split(name)
        lower = name.rstrip(".").lower()
        exempt = self.exception_for(lower, registered)
        if exempt is not None:
            return HostnameScore(lower, registered, sub, 0.0, 0.0, ("exception",), exempt)
        if not sub:
            return HostnameScore(lower, registered, "", 0.0, 0.0)
        return self._score(lower, registered, sub)

    def _score(self, lower: str, registered: str, sub: str) -> HostnameScore:
        labels = sub.split(".")
        if lower.endswith(".arpa") and _is_reverse_lookup(lower, labels):
            return HostnameScore(lower, registered, sub, 0.0, 0.0, ("reverse-lookup",))
        total_bits = 0.0
        chunks = 0
        mixed = False
        top = _NO_LABEL
        for label in labels:
            scored = self._label(label)
            total_bits += scored.bits
            if scored.bits >= CHUNK_BITS:
                chunks += 1
                # base64 keeps case; hostnames and every other encoding ignore it
                if not mixed and label != label.lower() and label != label.upper():
                    mixed = True
            if scored.bits > top.bits:
                top = scored
        points = total_bits * POINTS_PER_BIT
        reasons: list[str] = []
        if total_bits >= 1:
            reasons.append(f"encoded-bits={total_bits:.0f}")
        if top.bits >= CHUNK_BITS:
            reasons.append(f"longest-chunk={len(top.label)}:{top.kind}")
            if len(top.label) >= 20:
                h = _entropy(top.label)
                if h >= HIGH_ENTROPY:
                    points += HIGH_ENTROPY_POINTS
                    reasons.append(f"entropy={h:.1f}")
        if chunks > 1:
            points += CHUNK_POINTS * (chunks - 1)
            reasons.append(f"encoded-chunks={chunks}")
        if _NON_HOSTNAME.search(sub) or "" in labels or max(map(len, labels)) > 63:
            points += NON_HOSTNAME_POINTS
            reasons.append("non-hostname-characters")
        if mixed:
            points += MIXED_CASE_POINTS
            reasons.append("mixed-case")
        if len(labels) > LABELS_FREE:
            points += LABEL_POINTS * (len(labels) - LABELS_FREE)
            reasons.append(f"label-count={len(labels)}")
        if len(sub) > SUBDOMAIN_FREE:
            points += SUBDOMAIN_POINTS * (len(sub) - SUBDOMAIN_FREE)
            reasons.append(f"subdomain-length={len(sub)}")
        if len(lower) > 253:
            points += NON_HOSTNAME_POINTS
            reasons.append(f"name-length={len(lower)}")
        return HostnameScore(lower, registered, sub, round(points, 1), round(total_bits, 1),
                             tuple(reasons))

    @staticmethod
    def _label(label: str) -> LabelScore:
        if label.startswith(("xn--", "XN--")) and _punycode_ok(label):
            return LabelScore(label, len(label) * WORD_BITS, "idn")
        if "-" not in label and "_" not in label:
            bits, kind = token_bits(label)
            return LabelScore(label, bits, kind)
        total = 0.0
        kind = "word"
        best = -1.0
        for token in _TOKEN_SPLIT.split(label):
            if not token:
                continue
            bits, k = token_bits(token)
            total += bits
            if bits > best:
                best, kind = bits, k
        return LabelScore(label, total, kind)


_NO_LABEL = LabelScore("", -1.0, "none")


def _is_reverse_lookup(lower: str, labels: list[str]) -> bool:
    """`4.3.2.1.in-addr.arpa` and nibble-form `ip6.arpa` names: addresses, not data."""
    if lower.endswith(".in-addr.arpa"):
        return all(lb.isdigit() and len(lb) <= 3 for lb in labels)
    if lower.endswith(".ip6.arpa"):
        return len(labels) <= 32 and all(len(lb) == 1 and lb in _HEX for lb in labels)
    return False


# -- the compiled `hostnames:` section -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HostnameJudgement:
    score: HostnameScore
    charge: BudgetCharge
    findings: tuple[Finding, ...]

    @property
    def sensitive(self) -> tuple[str, ...]:
        """The part of the name that may be data, to scrub from artefacts when it was flagged."""
        if self.findings and len(self.score.subdomain) >= 8:
            return (self.score.subdomain,)
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
                                   b.max_bytes, b.encoded_bits)
        self.budget_action = b.action
        self.scorer = HostnameScorer(
            HostnameException(e.reason, e.domain, e.suffix) for e in section.exceptions)

    def judge(self, name: str, budget: VolumeBudget | None, now: float, where: str,
              qtype: str | None = None, qtype_bits: float = 0.0) -> HostnameJudgement:
        """Score `name` and charge it to `budget`; a DNS query also names its type and what
        the choice of a type is worth (`DnsPolicy.qtype_bits`)."""
        scored = self.scorer.score(name)
        if scored.exempt is not None or not scored.subdomain:
            return HostnameJudgement(scored, UNCHARGED, ())
        findings: list[Finding] = []
        if scored.score >= self.block_score:
            findings.append(Finding(
                "hostnames", "encoded-hostname", self.action, where,
                f"name under {scored.registered} looks like encoded data: {scored.summary()}",
                evidence=preview(scored.subdomain)))
        charge = budget.charge(scored, self.limits, now, qtype, qtype_bits) \
            if budget is not None else UNCHARGED
        if charge.over:
            findings.append(Finding("hostnames", "volume-budget", self.budget_action, where,
                                    charge.describe(scored.registered, self.limits),
                                    evidence=preview(scored.subdomain)))
        return HostnameJudgement(scored, charge, tuple(findings))


def fronting_finding(names: dict[str, str], action: str, where: str) -> Finding | None:
    """A finding when the names a request is routed by disagree. `names`: role -> host."""
    distinct = {h for h in names.values() if h}
    if len(distinct) <= 1 or action == "off":
        return None
    roles = ", ".join(f"{role} {host}" for role, host in names.items() if host)
    return Finding("hostnames", "domain-fronting", "audit" if action == "audit" else "block",
                   where, f"request names more than one host ({roles}): possible domain fronting")
