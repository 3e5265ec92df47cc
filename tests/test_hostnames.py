"""The hostname scorer and volume budget: tables, corpora, tunnel formats, policy section."""

from __future__ import annotations

import base64
import csv
import math
import random
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from egress.policy import PolicyError, compile_policy, parse_policy
from egress.scan.hostname_budget import ALPHABET_CHOICE_BITS, label_information
from egress.scan.hostnames import (
    BudgetLimits,
    HostnameException,
    HostnameScorer,
    VolumeBudget,
    wordiness,
)
from tests.support.prereq import missing

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora" / "dev" / "hostnames"
BENIGN = REPO / "tests" / "data" / "benign-hostnames.txt"
BLOCK = 100.0


@pytest.fixture(scope="module")
def scorer() -> HostnameScorer:
    return HostnameScorer()


def corpus(name: str) -> list[str]:
    path = CORPORA / name
    if not path.is_file():
        missing(f"development corpus {path}", "place ../shared/corpora/dev beside the repository")
    with path.open(newline="") as f:
        return [row["qname"] for row in csv.DictReader(f)]


def benign() -> list[str]:
    return [line for line in BENIGN.read_text().splitlines() if line and not line.startswith("#")]


def session(names: list[str], policy_text: str = "") -> list[bool]:
    """Judge names in order as one bottle would (one budget, one clock): blocked or not."""
    compiled = compile_policy(parse_policy(policy_text), "test")
    budget = VolumeBudget()
    return [bool([f for f in compiled.hostnames.judge(n, budget, 0.0, "dns").findings
                  if f.action == "block"]) for n in names]


# -- splitting ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "registered", "scored"), [
    ("www.example.com", "example.com", "www"),
    ("a.b.example.co.uk", "example.co.uk", "a.b"),
    ("example.com", "example.com", ""),
    ("Example.COM.", "example.com", ""),
    # private-section suffixes: the customer's label is scored, the platform's is not
    ("d1234abcd.cloudfront.net", "d1234abcd.cloudfront.net", "d1234abcd"),
    ("x.y.bucket.s3.amazonaws.com", "bucket.s3.amazonaws.com", "x.y.bucket"),
    # a wildcard public suffix: what lies under the ICANN domain is scored
    ("ec2-3-85-1-2.compute-1.amazonaws.com", "amazonaws.com", "ec2-3-85-1-2.compute-1"),
    ("10.0.0.1", "10.0.0.1", ""),
    ("::1", "::1", ""),
])
def test_split(scorer: HostnameScorer, name: str, registered: str, scored: str) -> None:
    assert scorer.split(name) == (registered, scored)


# -- single names ---------------------------------------------------------------------------

ORDINARY = [
    "www.google.com", "api.github.com", "objects.githubusercontent.com", "files.pythonhosted.org",
    "registry.npmjs.org", "static.crates.io", "proxy.golang.org", "dl-cdn.alpinelinux.org",
    "ec2.us-east-1.amazonaws.com", "route53resolver.us-gov-west-1.amazonaws.com",
    "bigquerydatatransfer.northamerica-northeast2.rep.googleapis.com",
    "1.0.168.192.in-addr.arpa",
    "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
    "xn--80ak6aa92e.xn--p1ai", "mail.xn--mnchen-3ya.de", "_dmarc.example.com",
    "_https._tcp.example.com", "r3---sn-4g5e6nz7.googlevideo.com",
    "e1234.dscb.akamaiedge.net", "ipv4-c006-mid001-telmex-isp.1.oca.nflxvideo.net",
]
# Real generated labels that must pass on their own (the budget handles volume).
GENERATED_BENIGN = [
    "71efe2183b8663ad5bf9d7a9320aeb48.leboncoin.fr",                          # 32 hex
    "4e4356b68404a5138d2d-33393516977f9ca8dc54af2141da2a28.ssl.cf1.rackcdn.com",  # 53 hex
    "dsj4qf77pyncykf2dki6isfcuy0orwhc.lambda-url.eu-west-1.on.aws",           # 32 base36
    "pub-81f2b77f5bc841c5ae64221394d67f53.r2.dev",
    "0tfsd2rwwu3xjstb.edge41.testandtarget.omniture.com",
    "3fa85f64-5717-4562-b3fc-2c963f66afa6.cfargotunnel.com",                  # uuid
    "d2c8v52ll5s99u.cloudfront.net",
    "abcdefghijklmnopqrst.supabase.co",
    "3565433061881492849.academyofconsciousleadership.com",                   # 19 digits
]
TUNNEL = [
    # dns2tcp (base64 with '+' and '/')
    "q+Z8AnwaBA.hidemyself.org",
    # dnscat2-style hex, two full labels
    "dnscat." + "a1" * 31 + "f." + "0b" * 31 + "c.example.com",
    # iodine-style base32, one full label
    "paaaab" + "k" * 2 + base64.b32encode(bytes(range(36))).decode().lower().rstrip("=") + ".t.example.com",
    # DNSExfiltrator-style base64url, mixed case
    "1." + base64.urlsafe_b64encode(bytes(range(100, 145))).decode().rstrip("=") + ".example.com",
    # three 63-char hex labels
    ".".join(["ab12cd34" * 8][0][:63] for _ in range(3)) + ".evil.net",
    # a name no DNS label could hold
    "a" * 70 + ".example.com",
]


@pytest.mark.parametrize("name", ORDINARY + GENERATED_BENIGN)
def test_ordinary_and_generated_names_pass(scorer: HostnameScorer, name: str) -> None:
    s = scorer.score(name)
    assert s.score < BLOCK, (name, s.reasons)


@pytest.mark.parametrize("name", TUNNEL)
def test_tunnel_names_are_blocked(scorer: HostnameScorer, name: str) -> None:
    s = scorer.score(name)
    assert s.score >= BLOCK, (name, s.reasons)
    assert s.reasons and s.reasons[0].startswith("encoded-bits=")


def test_reasons_are_named_and_never_quote_the_name(scorer: HostnameScorer) -> None:
    name = "q+Z8CXwhCDQOp1pQiGYfISl7BqfLNQCo7/oMOMCNQ+P6eaWBuOMjimLHg7PY+jn.hidemyself.org"
    s = scorer.score(name)
    names = {r.split("=")[0] for r in s.reasons}
    assert {"encoded-bits", "longest-chunk", "non-hostname-characters", "mixed-case"} <= names
    assert not any("Z8CX" in r for r in s.reasons)


def test_mixed_case_is_a_signal(scorer: HostnameScorer) -> None:
    lower = scorer.score("k8fj2ls9dk3mf7ql.example.com")
    mixed = scorer.score("k8FJ2lS9dK3mF7qL.example.com")
    assert mixed.score > lower.score and "mixed-case" in mixed.reasons


def test_entropy_alone_does_not_decide_short_labels(scorer: HostnameScorer) -> None:
    # 16 hex characters top out at 4 bits/char; structure, not entropy, prices them.
    assert scorer.score("9f86d081884c7d65.example.com").bits == pytest.approx(64)
    assert scorer.score("9f86d081884c7d65.example.com").score < BLOCK


def test_word_model() -> None:
    assert wordiness("download") > wordiness("xkqjzvpw")
    assert wordiness("analytics") > -5.0 > wordiness("qzxkvbnm")


# -- exceptions -------------------------------------------------------------------------------

def test_exceptions_by_domain_and_suffix() -> None:
    s = HostnameScorer([HostnameException("hash-named CDN", suffix="cdn.example.net"),
                        HostnameException("build ids", domain="example.org")])
    name = "a" * 20 + "." + "9f86d081884c7d65" * 3 + ".cdn.example.net"
    assert s.score(name).exempt == "hash-named CDN" and s.score(name).score == 0
    assert s.score("q+Z8AnwaBA.builds.example.org").exempt == "build ids"
    assert s.score("q+Z8AnwaBA.example.com").exempt is None
    assert s.score("q+Z8AnwaBA.example.net").exempt is None


# -- the volume budget ------------------------------------------------------------------------

def test_budget_blocks_new_names_after_the_limit_and_reports_once(scorer: HostnameScorer) -> None:
    limits = BudgetLimits(window_seconds=60, max_names=1000, max_encoded_names=3, max_bytes=10_000)
    budget = VolumeBudget()
    names = [f"{random.Random(i).getrandbits(64):016x}.t.example.com" for i in range(6)]
    charges = [budget.charge(scorer.score(n), limits, 0.0) for n in names]
    assert [c.over for c in charges] == [False, False, False, True, True, True]
    assert [c.first for c in charges] == [False, False, False, True, False, False]
    # a name seen before the trip keeps its answer; one refused stays refused
    assert not budget.charge(scorer.score(names[0]), limits, 1.0).over
    assert budget.charge(scorer.score(names[4]), limits, 1.0).over
    # other domains are unaffected
    assert not budget.charge(scorer.score("9f86d081884c7d65.other.com"), limits, 1.0).over
    # the window slides: once the old names expire the domain is usable again
    later = budget.charge(scorer.score("abcdef0123456789.t.example.com"), limits, 61.0)
    assert not later.over and budget.usage("example.com")[1] == 1


@pytest.mark.parametrize(("label", "alphabet"), [
    ("12345678901234", 10), ("deadbeef", 16), ("DEADBEEF", 16), ("www", 26), ("WWW", 26),
    ("mfrg2zd7", 32), ("node12", 36), ("us-east-1", 38), ("AbC", 62), ("Ab_C-9", 64),
    ("a+b", 94),
])
def test_label_information_is_length_times_alphabet(label: str, alphabet: int) -> None:
    assert label_information(label) == pytest.approx(len(label) * math.log2(alphabet))


def test_budget_charges_every_new_label(scorer: HostnameScorer) -> None:
    limits = BudgetLimits(window_seconds=600, max_names=1000, max_encoded_names=1000, max_bytes=64)
    budget = VolumeBudget()
    # 14 random digits score 46.5 bits: under encoded_bits, once charged nothing (18.2)
    per_name = 14 * math.log2(10) + ALPHABET_CHOICE_BITS
    fits = int(64 * 8 // per_name)
    over = [budget.charge(scorer.score(f"{i:014d}.example.com"), limits, 0).over
            for i in range(fits + 3)]
    assert over.index(True) == fits
    assert budget.usage("example.com")[1] == 0  # none of them looked encoded

    # a label seen before carries only which known label it is
    budget = VolumeBudget()
    words = ["www", "api", "static", "download", "mirror", "assets", "images", "media"]
    for w in words:
        assert not budget.charge(scorer.score(f"{w}.example.org"), limits, 0).over
    charged = sum(label_information(w) + ALPHABET_CHOICE_BITS for w in words)
    assert budget.usage("example.org") == (8, 0, int(charged / 8))
    budget.charge(scorer.score("www.api.example.org"), limits, 0)
    assert budget.usage("example.org")[2] == int((charged + 2 * math.log2(8)) / 8)
    # another case of a known name is a new name: the zone's owner sees the case
    assert budget.charge(scorer.score("WWW.example.org"), limits, 0).new
    # a new query type of a known name is charged what choosing a type tells
    before = budget.usage("example.org")[2]
    assert budget.charge(scorer.score("www.example.org"), limits, 0, "AAAA", 80.0).new
    assert budget.usage("example.org")[2] == before + 10
    assert not budget.charge(scorer.score("www.example.org"), limits, 0, "AAAA", 80.0).new

    # distinct names alone also trip it
    limits = BudgetLimits(window_seconds=600, max_names=50, max_encoded_names=1000,
                          max_bytes=10_000)
    many = [budget.charge(scorer.score(f"host{i}.example.net"), limits, 0).over for i in range(60)]
    assert many.index(True) == 50


def test_exempt_names_are_not_budgeted() -> None:
    s = HostnameScorer([HostnameException("ours", suffix="example.com")])
    budget = VolumeBudget()
    limits = BudgetLimits(max_encoded_names=1)
    for i in range(5):
        assert not budget.charge(s.score(f"{i:032x}.example.com"), limits, 0).over
    assert budget.usage("example.com") == (0, 0, 0)


def test_budget_state_survives_a_policy_reload() -> None:
    budget = VolumeBudget()
    tight = textwrap.dedent("""
        hostnames:
          budget: {max_encoded_names: 2}
    """)
    first = compile_policy(parse_policy(tight), "a")
    for i in range(2):
        assert not first.hostnames.judge(f"{i:032x}.example.com", budget, 0, "dns").findings
    reloaded = compile_policy(parse_policy(tight + "#\n"), "b")  # a new compiled policy
    findings = reloaded.hostnames.judge(f"{7:032x}.example.com", budget, 1, "dns").findings
    assert [f.rule for f in findings] == ["volume-budget"]


# -- corpora ----------------------------------------------------------------------------------

def test_dns2tcp_corpus_is_blocked_as_a_session() -> None:
    names = corpus("dns2tcp-names.csv")
    blocked = session(names)
    assert sum(blocked) / len(names) >= 0.99, f"{sum(blocked)}/{len(names)} blocked"


def test_plain_corpus_is_not_blocked() -> None:
    names = corpus("plain-names.csv")
    blocked = sum(session(names))
    assert blocked / len(names) <= 0.001, f"{blocked}/{len(names)} blocked"


def test_benign_cloud_and_cdn_corpus_is_not_blocked_name_by_name(scorer: HostnameScorer) -> None:
    names = benign()
    assert len(names) > 15_000
    blocked = [n for n in names if scorer.score(n).score >= BLOCK]
    assert len(blocked) / len(names) <= 0.001, blocked[:20]


def _tunnel_session(encode: Callable[[bytes], str], chunk: int, rnd: random.Random,
                    domain: str, count: int = 2000) -> Iterator[str]:
    """Names as a tunnel makes them: a data chunk per query, split into labels of <= 63,
    with short polls (sequence number + a little data) in between."""
    for seq in range(count):
        size = chunk if seq % 3 else rnd.randint(2, 6)
        data = encode(seq.to_bytes(2, "big") + rnd.randbytes(size))
        yield ".".join(data[i:i + 63] for i in range(0, len(data), 63)) + "." + domain


ENCODINGS: dict[str, Callable[[bytes], str]] = {
    "hex": lambda b: b.hex(),
    "base32": lambda b: base64.b32encode(b).decode().rstrip("=").lower(),
    "base64url": lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    "base36": lambda b: _base36(int.from_bytes(b, "big")),
}


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("chunk", [8, 20, 60, 110])
@pytest.mark.parametrize("domain", ["t.example.com", "x1.cloudfront.net", "a.b.ngrok.io"])
def test_tunnel_sessions_are_blocked(encoding: str, chunk: int, domain: str) -> None:
    rnd = random.Random(f"{encoding}{chunk}{domain}")
    names = list(_tunnel_session(ENCODINGS[encoding], chunk, rnd, domain))
    blocked = session(names)
    assert sum(blocked) / len(names) >= 0.99, f"{sum(blocked)}/{len(names)}"


# -- the policy section -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("hostnames:\n  exceptions:\n    - suffix: cdn.example.net\n", "reason"),
    ("hostnames:\n  exceptions:\n    - reason: x\n", "exactly one of"),
    ("hostnames:\n  exceptions:\n    - {domain: a.com, suffix: b.com, reason: x}\n", "exactly one of"),
    ("hostnames:\n  exceptions:\n    - {suffix: '*.a.com', reason: x}\n", "not a domain"),
    ("hostnames:\n  exceptions:\n    - {suffix: com, reason: x}\n", "whole top-level domain"),
    ("hostnames:\n  block_score: 0\n", "greater than 0"),
    ("hostnames:\n  budget: {max_bytes: lots}\n", "not a size"),
    ("hostnames:\n  treshold: 3\n", "unknown field 'treshold'"),
    ("dns:\n  qtypes: [A, AXFR]\n", "always refused"),
    ("dns:\n  qtypes: [A, BOGUS]\n", "not a supported query type"),
    ("dns:\n  qtype_exceptions:\n    - {qtype: TXT, hosts: [example.com]}\n", "reason"),
    ("dns:\n  blocked_rcode: servfail\n", "nxdomain"),
])
def test_policy_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "p.yaml")
    assert message in str(err.value)
    assert "p.yaml:" in str(err.value)


def test_policy_defaults_and_parsing() -> None:
    compiled = compile_policy(parse_policy(textwrap.dedent("""
        hostnames:
          block_score: 80
          budget: {window_seconds: 60, max_bytes: 1KiB}
          exceptions:
            - {suffix: cloudfront.net, reason: "distribution ids are hashes"}
        dns:
          blocked_rcode: refused
          qtypes: [a, aaaa]
          qtype_exceptions:
            - {qtype: txt, hosts: ["_acme-challenge.example.com"], reason: "ACME"}
    """)), "p")
    assert compiled.hostnames.block_score == 80
    assert compiled.hostnames.limits.max_bytes == 1024
    assert compiled.hostnames.scorer.score("abc.d1.cloudfront.net").exempt
    assert compiled.dns.rcode == "refused"
    assert compiled.dns.qtype_allowed("TXT", "_acme-challenge.example.com")
    assert not compiled.dns.qtype_allowed("TXT", "example.com")
    default = compile_policy(parse_policy(""), "d")
    assert {"TXT", "NULL", "ANY"}.isdisjoint(default.dns.qtypes)
    assert default.hostnames.limits == BudgetLimits()
