"""The hostname scorer: normalisation, splitting, single-name scores and their explanations,
corpora name by name (the budget: tests/test_hostname_budget.py)."""

from __future__ import annotations

import base64
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.scan.authority import check_routing
from egress.scan.hostnames import (
    HostnameException,
    HostnameScorer,
    VolumeBudget,
    authority_host,
    fronting_finding,
    host_name,
    wordiness,
)
from tests.support import hostname_corpora as hc
from tests.support.prereq import missing

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora" / "dev" / "hostnames"
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
    assert s.blocked(BLOCK), (name, s.reasons)
    if s.problem is None:  # malformed ones are refused before scoring
        assert s.score >= BLOCK and s.reasons[0].startswith("encoded-bits=")


def test_reasons_are_named_and_never_quote_the_name(scorer: HostnameScorer) -> None:
    name = "q-Z8CXwhCDQOp1pQiGYfISl7BqfLNQCo7-oMOMCNQ_P6eaWBuOMjimLHg7PY_jn.hidemyself.org"
    s = scorer.score(name)
    names = {r.split("=")[0] for r in s.reasons}
    assert {"encoded-bits", "longest-chunk", "mixed-case"} <= names, s.reasons
    assert not any("Z8CX" in r for r in s.reasons) and "Z8CX" not in s.summary()


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
    assert s.score("q-Z8AnwaBA.builds.example.org").exempt == "build ids"
    assert s.score("q-Z8AnwaBA.example.com").exempt is None
    assert s.score("q-Z8AnwaBA.example.net").exempt is None
    # an exception trusts a zone's names, not names no hostname can be
    malformed = s.score("q+Z8AnwaBA.builds.example.org")
    assert malformed.exempt == "build ids"
    assert malformed.problem is not None and malformed.blocked(BLOCK)
    policy = compile_policy(parse_policy(
        "hostnames:\n  exceptions:\n    - {domain: example.org, reason: build ids}\n"), "p")
    judged = policy.hostnames.judge("q+Z8AnwaBA.builds.example.org", VolumeBudget(), 0, "dns")
    assert [f.rule for f in judged.findings] == ["malformed-hostname"]


# -- one normalisation, case kept, malformed names ---------------------------------------------

@pytest.mark.parametrize(("raw", "host"), [
    ("Api.Example.COM", "Api.Example.COM"),
    ("Api.Example.COM:443", "Api.Example.COM"),
    ("[2001:db8::1]:8443", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"),
    ("example.com", "example.com"),
    ("", ""),
])
def test_authority_host_keeps_case(raw: str, host: str) -> None:
    assert authority_host(raw) == host


@pytest.mark.parametrize(("name", "problem"), [
    ("abc.FFFF..hidemyself.org", "label 3 is empty"),
    (".example.com", "label 1 is empty"),
    ("a" * 64 + ".example.com", "label 1 has 64 characters"),
    (".".join(["a" * 60] * 5) + ".example.com", "name has 316 characters"),
    ("q+Z8AnwaBA.hidemyself.org", "label 1 has characters no hostname has ('+')"),
    ("a b.example.com", "label 1 has characters"),
    ("caf\u00e9\u200d\u0000.example.com", "label 1 has characters"),
    ("x.*.example.com", "label 2 has characters"),
    ("example.com..", "label 3 is empty"),
])
def test_malformed_names_say_why_without_quoting_labels(scorer: HostnameScorer, name: str,
                                                          problem: str) -> None:
    s = scorer.score(name)
    assert s.problem is not None and s.problem.startswith(problem), s.problem
    assert s.blocked(1e9)  # whatever the threshold
    assert "FFFF" not in s.problem and "Z8Anw" not in s.problem


@pytest.mark.parametrize("name", ["www.example.com", "www.example.com.", "WWW.Example.Com",
                                  "10.0.0.1", "2001:db8::1", "xn--mnchen-3ya.de", "_dmarc.example.com",
                                  "a" * 63 + ".example.com"])
def test_well_formed_names_are_not_malformed(name: str) -> None:
    assert host_name(name).problem is None


def test_internationalised_names_are_scored_as_punycode(scorer: HostnameScorer) -> None:
    """mitmproxy decodes punycode in request hosts (`münchen.de`); the name travels, and is
    scored, as `xn--mnchen-3ya.de`, case of its ASCII labels kept."""
    assert host_name("WWW.m\u00fcnchen.de").text == "WWW.xn--mnchen-3ya.de"
    assert scorer.score("m\u00fcnchen.de") == scorer.score("xn--mnchen-3ya.de")
    assert scorer.score("mail.m\u00fcnchen.de").problem is None


def test_case_is_kept_for_scoring_on_every_form(scorer: HostnameScorer) -> None:
    """The issue's Host-header case: a mixed-case label keeps its score whichever path
    carried it; lower-casing it (what the Host path used to do) loses most of it."""
    label = "q3VjZ5X2k8M4n7P1w9R6t0Y2u5I8o3A6s9D2f5G8h1J4k7L0"
    forms = [f"{label}.example.com", f"{label}.example.com.",
             authority_host(f"{label}.example.com:443"), authority_host(f"{label}.example.com")]
    scores = {scorer.score_uncached(f).score for f in forms}
    assert len(scores) == 1
    mixed = scores.pop()
    assert mixed >= BLOCK > scorer.score_uncached(f"{label.lower()}.example.com").score


@pytest.mark.parametrize(("dialled", "named", "same"), [
    ("api.example.com", "Api.Example.COM", True),
    ("api.example.com", "api.example.com.", True),
    ("127.0.0.1", "2130706433", True),           # one address, two spellings
    ("2001:db8::1", "[2001:0db8:0::1]", True),
    ("xn--mnchen-3ya.de", "XN--MNCHEN-3YA.de", True),
    ("api.example.com", "api.example.org", False),
    ("127.0.0.1", "127.0.0.2", False),
])
def test_fronting_and_the_authority_check_agree_on_one_host(dialled: str, named: str,
                                                            same: bool) -> None:
    """Matching compares canonical lower-case names (`normalize_host`), scoring keeps the
    case: `hostnames/domain-fronting` and `hosts/authority-mismatch` must call the same pairs
    one host, or a request would be refused under one rule id and let through by the other."""
    fronting = fronting_finding({"connect": dialled, "host": authority_host(named)}, "block",
                                "request")
    mismatch = check_routing(dialled, 443, None, [named], None)
    assert (fronting is None) is same and (mismatch is None) is same, (fronting, mismatch)


def test_unknown_top_level_labels_are_scored(scorer: HostnameScorer) -> None:
    # dnscat2 without a domain sends `dnscat.<hex>` straight to the resolver
    s = scorer.score("dnscat.0a63013876004a1bfab1a7beee255c")
    assert s.registered == "." and s.blocked(BLOCK), s.reasons
    assert scorer.split("x.y.allowed.test") == ("allowed.test", "x.y")


# -- explanations --------------------------------------------------------------------------------

def test_a_blocked_name_says_which_label_and_feature(scorer: HostnameScorer) -> None:
    label = base64.b32encode(bytes(range(7, 32))).decode().rstrip("=").lower()
    s = scorer.score(f"api.{label}.{label[:20]}.example.com")
    assert s.blocked(BLOCK)
    assert s.explanation.startswith(f"label 2: {len(label)} chars, 5.0 bits/char, base32 alphabet")
    assert label not in s.summary() and label[:8] not in s.summary()


def test_text_payload_is_named(scorer: HostnameScorer) -> None:
    """An agent leaking one token in one name: readable text under hex, base32 or base64
    decides, however short the label (a 24-hex label alone scores ~34)."""
    token = b"sk-live-4f9a"
    for enc in (token.hex(), base64.b32encode(token).decode().rstrip("="),
                base64.urlsafe_b64encode(token).decode()):
        s = scorer.score(f"{enc}.exfil.evil.com")
        assert s.blocked(BLOCK), (enc, s.reasons)
        assert "text-payload=12" in s.reasons and s.explanation.startswith("label 1: decodes")
    # random bytes of the same length never read as text
    assert not scorer.score(f"{bytes(range(200, 212)).hex()}.exfil.evil.com").blocked(BLOCK)


@pytest.mark.parametrize("name", [
    "VUkAAAABBA.t.tunnel.test",          # dns2tcp's poll (real capture): 10 chars, 46 points before
    "AANAAzvw.t.example-c2.com",         # an 8-character base64url chunk
    "ABhVw8QN.x.cdn-update.net",
])
def test_short_random_mixed_case_label_is_blocked(scorer: HostnameScorer, name: str) -> None:
    """No hostname is written in random mixed case (case is kept for scoring precisely
    because base64 keeps it): an 8+ character label in it is enough on its own."""
    s = scorer.score_uncached(name)
    assert s.blocked(BLOCK) and "mixed-case" in s.reasons, (s.score, s.reasons)


@pytest.mark.parametrize("name", [
    "MyCompany.example.com", "GitHub-Actions.example.com", "iPhone12.example.com",
    "DESKTOP-AB12CDE.corp.example.com", "Api.Example.COM",
    # a resolver randomising case (DNS 0x20) randomises the registered domain too
    "wWw.ExAmPlE.cOm", "aPi-gAtEwAy.uS-eAsT-1.aMaZoNaWs.CoM",
])
def test_mixed_case_words_and_case_randomised_names_pass(scorer: HostnameScorer,
                                                          name: str) -> None:
    s = scorer.score_uncached(name)
    assert not s.blocked(BLOCK) and "mixed-case" not in s.reasons, (s.score, s.reasons)


@pytest.mark.parametrize("token", [b'{"user":"alice","tok', b"xoxb-383475389", b"-----BEGIN"])
def test_text_payload_with_json_punctuation_or_few_digit_runs(scorer: HostnameScorer,
                                                              token: bytes) -> None:
    """JSON quotes and braces are text; a base32 label with few digit runs (`pbxxqyrngm4d...`,
    priced as words and numbers) is decoded too."""
    for enc in (token.hex(), base64.b32encode(token).decode().rstrip("=").lower()):
        s = scorer.score_uncached(f"{enc}.t.example-c2.com")
        assert s.blocked(BLOCK) and any(r.startswith("text-payload=") for r in s.reasons), \
            (enc, s.score, s.reasons)


def test_random_short_hex_ids_do_not_read_as_text(scorer: HostnameScorer) -> None:
    """8 random bytes are printable about once in 3,000: text must also be mostly letters of
    one case and digits, as words and tokens are (this NLB id decodes to `]gD1\\r|dM`)."""
    s = scorer.score_uncached("api-5d6744310d7c644d.elb.eu-central-1.amazonaws.com")
    assert not s.blocked(BLOCK) and not s.text[0], s.reasons


@pytest.mark.parametrize("name", [
    "8bf801424e002146a49db346242c9cc861e8b96500ad2d70e5b598b7e6bf1a0.e.t.example-c2.com",
    "e91e01f6ad000eebba7d6d8ddb19a2.a.b.ngrok.io",
])
def test_dnscat2_packet_split_over_labels(scorer: HostnameScorer, name: str) -> None:
    """dnscat2 cuts its hex packet at 63 characters, so the last piece may be one character;
    the zone's own labels may be hex letters too."""
    s = scorer.score_uncached(name)
    assert s.blocked(BLOCK) and "tool-shape=dnscat2" in s.reasons, (s.score, s.reasons)


@pytest.mark.parametrize("name", [
    "vaaaakatfyu.ns1.update-check.io", "VAAAAKAQP3A.t.tunnel.test", "vaaaakaxs1y.x7.sync.example.org"])
def test_iodine_version_handshake(scorer: HostnameScorer, name: str) -> None:
    """iodine opens every session with `v` + base32 of its protocol version (0x00000502) and a
    counter: 11 characters, the first 8 fixed but for the counter's top bits. Round 4: its
    first name is refused on its own, which closes its zone to the rest of the session."""
    s = scorer.score_uncached(name)
    assert s.blocked(BLOCK) and "tool-shape=iodine" in s.reasons, (s.score, s.reasons)
    assert "iodine version handshake" in s.explanation


@pytest.mark.parametrize("name", ["vaaaakayyyy.example.com", "vaaaakaqp3ab.example.com",
                                  "vacationers.example.com", "vaaaakaq-3a.example.com"])
def test_iodine_handshake_shape_is_exact(scorer: HostnameScorer, name: str) -> None:
    s = scorer.score_uncached(name)
    assert not s.blocked(BLOCK) and "tool-shape=iodine" not in s.reasons, (s.score, s.reasons)


def test_chain_of_short_encoded_labels(scorer: HostnameScorer) -> None:
    s = scorer.score_uncached("xqj3r.7p773.sq25b.ltbvi.b5iln.i4mym.iqias.hkmr3.wk5i5.nnzji."
                              "t.example-c2.com")
    assert s.blocked(BLOCK) and any(r.startswith("short-labels=") for r in s.reasons), \
        (s.score, s.reasons)
    # a deep name of words is not a chain of encoded labels
    ok = scorer.score_uncached("api.eu.west.prod.cluster.internal.svc.example.com")
    assert not ok.blocked(BLOCK) and not any(r.startswith("short-labels") for r in ok.reasons)


def test_the_issue_examples(scorer: HostnameScorer) -> None:
    # `7365637265...` (hex of "secret...") in one name under an attacker's zone
    assert scorer.score("7365637265742d746f6b656e2d31323334.exfil.evil.com").blocked(BLOCK)
    # an AWS endpoint the old budget refused is an ordinary name
    assert scorer.score("cloudhsmv2.ap-southeast-5.amazonaws.com").score < 40


# -- corpora, name by name (DEV split) -----------------------------------------------------------

def test_dev_benign_endpoint_lists_pass_name_by_name(scorer: HostnameScorer) -> None:
    for file in hc.DEV_BENIGN_FILES:
        names = hc.read_names(file)
        assert len(names) > 3000, file
        blocked = [n for n in names if scorer.score(n).blocked(BLOCK)]
        assert len(blocked) / len(names) <= 0.001, (file, blocked[:10])


def test_generated_legitimate_ids_pass_name_by_name(scorer: HostnameScorer) -> None:
    """Cloud, CDN, PaaS and Kubernetes ids, content hashes, UUIDs, punycode (documented forms)."""
    shapes = hc.generated_benign()
    names = [n for ns in shapes.values() for n in ns]
    blocked = [n for n in names if scorer.score(n).blocked(BLOCK)]
    assert len(blocked) / len(names) <= 0.001, blocked[:10]


# Scorer-only recall per DEV family (valid HTTP hosts only). The families are the tools'
# documented formats; short polls and 8-character ids are left to the budget.
DEV_RECALL = {"dnscat2": 0.9, "dnsexfiltrator-b64": 0.99, "dnsexfiltrator-b32": 0.99,
              "sliver-b58": 0.85, "sliver-b32": 0.75, "token-leak": 0.9, "short-chain": 0.9}


def test_dev_tunnel_families_are_flagged_name_by_name(scorer: HostnameScorer) -> None:
    fams = hc.dev_tunnels()
    low = {}
    for fam, want in DEV_RECALL.items():
        names = [n for n in fams[fam] if hc.valid_host(n)]
        got = sum(scorer.score(n).blocked(BLOCK) for n in names) / len(names)
        if got < want:
            low[fam] = round(got, 3)
    assert not low, low


def test_importing_the_package_loads_no_tables() -> None:
    """The word model and the Public Suffix List load on first use, not at import."""
    code = ("import sys, egress.scan.hostnames as h, egress.scan.hostnames.suffixes as s\n"
            "assert 'egress.scan.hostnames.bigrams' not in sys.modules\n"
            "assert s._lists is None\n"
            "h.HostnameScorer().score('downloads.example.com')\n"
            "assert 'egress.scan.hostnames.bigrams' in sys.modules and s._lists is not None\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_ascii_suffix_rules_skip_the_idna_codec_unchanged() -> None:
    """`suffixes._idna` gives an ASCII rule back without the codec: what the codec gives
    (the name itself, or an error for an empty or over-long label, which keeps the rule)."""
    from egress.scan.hostnames.suffixes import _idna

    def by_codec(rule: str) -> str:
        try:
            return rule.encode("idna").decode("ascii")
        except UnicodeError:
            return rule

    for rule in ("com", "co.uk", "*.ck", "a..b", ".x", "x.", "", "a" * 64 + ".com",
                 "xn--p1ai", "UPPER.Example"):
        assert _idna(rule) == by_codec(rule) == rule
    assert _idna("рф") == by_codec("рф") == "xn--p1ai"
