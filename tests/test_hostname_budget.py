"""The per-zone information budget: honest charging of every label (issue row 18.2), zones
and provider zones, sessions of real endpoint lists and of tunnels, the policy section."""

from __future__ import annotations

import base64
import csv
import math
import random
import string
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.policy.problems import PolicyError
from egress.scan.hostnames import (
    ALPHABET_CHOICE_BITS,
    PROVIDER_ZONES,
    BudgetLimits,
    HostnameException,
    HostnameScorer,
    VolumeBudget,
    budget_event,
    label_capacity,
    provider_zone,
    suffix_lists,
)
from tests.support import hostname_corpora as hc
from tests.support.prereq import missing

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora" / "dev" / "hostnames"


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


# -- charging ------------------------------------------------------------------------------------

def test_budget_blocks_new_names_after_the_limit_and_reports_once(scorer: HostnameScorer) -> None:
    limits = BudgetLimits(window_seconds=60, max_names=1000, max_encoded_names=3, max_bytes=10_000)
    budget = VolumeBudget()
    names = [f"{random.Random(i).getrandbits(64):016x}.t.example.com" for i in range(6)]
    charges = [budget.charge(scorer.score(n), limits, 0.0) for n in names]
    assert [c.over for c in charges] == [False, False, False, True, True, True]
    assert [c.first for c in charges] == [False, False, False, True, False, False]
    assert charges[3].exceeded == "encoded names"
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
def test_label_capacity_is_length_times_alphabet(label: str, alphabet: int) -> None:
    assert label_capacity(label) == pytest.approx(len(label) * math.log2(alphabet))


def test_budget_charges_every_new_label(scorer: HostnameScorer) -> None:
    """Issue row 18.2: every label of every new name is charged what it can carry, whatever
    it looks like; words go to their own tier, not free."""
    limits = BudgetLimits(max_names=1000, max_encoded_names=1000, max_bytes=64,
                          encoded_bits=48.0)
    budget = VolumeBudget()
    # 14 random digits score 46.5 bits: under encoded_bits, once charged nothing
    per_name = 14 * math.log2(10) + ALPHABET_CHOICE_BITS
    fits = int(64 * 8 // per_name)
    over = [budget.charge(scorer.score(f"{10**13 + i * 7919}.example.com"), limits, 0).over
            for i in range(fits + 3)]
    assert over.index(True) == fits
    assert budget.usage("example.com")[1] == 0  # none of them looked encoded

    # words are charged in full, to the word tier: the data tier stays empty
    budget = VolumeBudget()
    words = ["www", "api", "static", "download", "mirror", "assets", "images", "media"]
    charges = [budget.charge(scorer.score(f"{w}.example.org"), limits, 0) for w in words]
    assert not any(c.over for c in charges)
    charged = sum(label_capacity(w) + ALPHABET_CHOICE_BITS for w in words)
    assert budget.usage("example.org") == (8, 0, 0)
    assert charges[-1].word_bytes == int(charged / 8)
    # a label seen before carries only which known label it is
    both = budget.charge(scorer.score("www.api.example.org"), limits, 0)
    assert both.bits == pytest.approx(2 * math.log2(1 + 8))
    # another case of a known name is a new name: the zone's owner sees the case
    assert budget.charge(scorer.score("WWW.example.org"), limits, 0).new
    # a new query type of a known name is charged what choosing a type tells: an address
    # type (every lookup asks A, AAAA, HTTPS) to the word tier, any other to the data tier
    first = budget.charge(scorer.score("www.example.org"), limits, 0, "A", 80.0)
    before = budget.usage("example.org")[2]
    aaaa = budget.charge(scorer.score("www.example.org"), limits, 0, "AAAA", 80.0)
    assert aaaa.new and aaaa.word_bytes == first.word_bytes + 10
    assert budget.usage("example.org")[2] == before
    assert not budget.charge(scorer.score("www.example.org"), limits, 0, "AAAA", 80.0).new
    assert budget.charge(scorer.score("www.example.org"), limits, 0, "TXT", 80.0).new
    assert budget.usage("example.org")[2] == before + 10

    # distinct names alone also trip it
    limits = BudgetLimits(max_names=50, max_encoded_names=1000, max_bytes=10_000,
                          max_word_bytes=10_000)
    many = [budget.charge(scorer.score(f"host{i}.example.net"), limits, 0).over for i in range(60)]
    assert many.index(True) == 50


def test_data_spelled_as_words_is_charged_what_it_carries(scorer: HostnameScorer) -> None:
    """Random letters in short labels read as abbreviations (the scorer prices `qzkxv` at 2
    bits a letter); the budget charges their capacity, so the word tier's stated bytes
    bound what they carry."""
    limits = BudgetLimits(max_names=100_000, max_encoded_names=100_000, max_word_bytes=512)
    budget = VolumeBudget()
    rnd = random.Random(3)
    carried = 0.0
    for _ in range(1000):
        labels = ["".join(rnd.choice(string.ascii_lowercase) for _ in range(5)) for _ in range(3)]
        if budget.charge(scorer.score(".".join(labels) + ".example.com"), limits, 0).over:
            break
        carried += 3 * 5 * math.log2(26)
    assert 0 < carried / 8 <= 512


def test_budget_state_survives_a_policy_reload() -> None:
    budget = VolumeBudget()
    tight = "hostnames:\n  budget: {max_encoded_names: 2}\n"
    first = compile_policy(parse_policy(tight), "a")
    for i in range(2):
        assert not first.hostnames.judge(f"{i:032x}.example.com", budget, 0, "dns").findings
    reloaded = compile_policy(parse_policy(tight + "#\n"), "b")  # a new compiled policy
    findings = reloaded.hostnames.judge(f"{7:032x}.example.com", budget, 1, "dns").findings
    assert [f.rule for f in findings] == ["volume-budget"]


def test_known_labels_still_cost_the_choice(scorer: HostnameScorer) -> None:
    """Recombining labels already seen carries data too (log2 of the labels known), so a
    tunnel cannot learn 16 labels and then spell bytes with them for free."""
    limits = BudgetLimits(max_bytes=40, max_word_bytes=40, max_names=100_000,
                          max_encoded_names=100_000)
    budget = VolumeBudget()
    alphabet = [f"{c}{c}" for c in "abcdefghijklmnop"]
    for label in alphabet:
        budget.charge(scorer.score(f"{label}.t.example.com"), limits, 0)
    rnd = random.Random(5)
    sent = 0
    for _ in range(400):
        name = ".".join(rnd.choice(alphabet) for _ in range(8)) + ".t.example.com"
        if budget.charge(scorer.score(name), limits, 0).over:
            break
        sent += 1
    # each name carries 8 x 4 = 32 bits; the two tiers allow 640 bits in all
    assert 0 < sent * 32 <= 80 * 8


def test_case_variants_are_new_names(scorer: HostnameScorer) -> None:
    """Resolvers pass case on, so a name's case can carry bits (0x20 encoding)."""
    limits = BudgetLimits(max_names=8)
    budget = VolumeBudget()
    variants = ["".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate("abcd"))
                for i in range(12)]
    over = [budget.charge(scorer.score(f"{v}.example.com"), limits, 0).over for v in variants]
    assert over.index(True) == 8
    # the same name again is free: it carries nothing new
    assert budget.charge(scorer.score("abcd.example.com"), limits, 0).new is False


def test_exempt_names_are_not_budgeted_malformed_ones_are() -> None:
    s = HostnameScorer([HostnameException("ours", suffix="example.com")])
    budget = VolumeBudget()
    limits = BudgetLimits(max_encoded_names=1)
    for i in range(5):
        assert not budget.charge(s.score(f"{i:032x}.example.com"), limits, 0).over
    assert budget.usage("example.com") == (0, 0, 0)
    # a malformed name is refused whatever the budget says, and charged all the same: it is
    # data its zone's server was sent (iodine probes with 8-bit and empty-label names)
    charge = budget.charge(s.score(f"{0:032x}..example.org"), limits, 0, refused=True)
    assert charge.new and budget.usage("example.org")[:2] == (1, 1)


def test_a_refused_name_closes_its_zone(scorer: HostnameScorer) -> None:
    """Round 4: an ordinary zone that was sent a name the scorer refused (or a malformed
    one) takes no other name in the window, new or known: a tunnel's handshakes, polls and
    small chunks share the zone of its encoded names. Provider zones stay open."""
    limits = BudgetLimits()
    budget = VolumeBudget()
    assert not budget.charge(scorer.score("www.tunnel.example"), limits, 0).over
    encoded = scorer.score("vaaaakatfyu.tunnel.example")  # iodine's version handshake
    assert encoded.blocked(100.0)
    budget.charge(encoded, limits, 1, refused=True)
    for later in ("ytbzoh.tunnel.example", "www.tunnel.example", "api.tunnel.example"):
        charge = budget.charge(scorer.score(later), limits, 2)
        assert charge.over and charge.exceeded == "refused names", later
        assert "refused names" in charge.describe("tunnel.example", limits)
    assert not budget.charge(scorer.score("www.other.example"), limits, 2).over
    # the window passes: the zone is open again
    assert not budget.charge(scorer.score("api.tunnel.example"), limits, 602).over
    # a provider zone's names are read by the provider alone: a refused name does not close it
    budget.charge(scorer.score("vaaaakatfyu.amazonaws.com"), limits, 0, refused=True)
    assert not budget.charge(scorer.score("ec2.us-east-1.amazonaws.com"), limits, 0).over


def test_malformed_names_close_their_zone_through_the_policy() -> None:
    hostnames = compile_policy(parse_policy(""), "t").hostnames
    budget = VolumeBudget()
    first = hostnames.judge("abc.FFFF..tunnel.example", budget, 0.0, "dns", "A", 4.0)
    assert [f.rule for f in first.findings] == ["malformed-hostname"] and first.charge.new
    # (iodine's options packet: not refused on its own, only by the closed zone)
    after = hostnames.judge("oavpqk.tunnel.example", budget, 1.0, "dns", "A", 4.0)
    assert [f.rule for f in after.findings] == ["volume-budget"]


def test_an_audited_name_does_not_close_its_zone() -> None:
    """Round 5: closing follows `hostnames.action`. A name only audited was let through, so
    it does not make its zone the tunnel's; the same name under `block` does."""
    names = ("vaaaakatfyu.tunnel.example", "www.tunnel.example", "api.tunnel.example")
    for action, later_rules in (("audit", []), ("block", ["volume-budget"])):
        hostnames = compile_policy(parse_policy(f"hostnames:\n  action: {action}\n"),
                                   action).hostnames
        budget = VolumeBudget()
        first = hostnames.judge(names[0], budget, 0.0, "dns", "A", 4.0)
        assert [(f.rule, f.action) for f in first.findings] == [("encoded-hostname", action)]
        for i, later in enumerate(names[1:], 1):
            judged = hostnames.judge(later, budget, float(i), "dns", "A", 4.0)
            assert [f.rule for f in judged.findings] == later_rules, (action, later)
    # a malformed name is refused whatever the action: it closes its zone under audit too
    hostnames = compile_policy(parse_policy("hostnames:\n  action: audit\n"), "m").hostnames
    budget = VolumeBudget()
    hostnames.judge("abc.FFFF..tunnel.example", budget, 0.0, "dns", "A", 4.0)
    after = hostnames.judge("www.tunnel.example", budget, 1.0, "dns", "A", 4.0)
    assert [f.rule for f in after.findings] == ["volume-budget"]


def test_a_closed_zone_says_how_long_it_stays_closed(scorer: HostnameScorer) -> None:
    """Round 5: the charge, its finding and the `hostname-budget` event of a zone closed by a
    refused name say when it reopens: when the last refused name leaves the window."""
    limits = BudgetLimits(window_seconds=600)
    budget = VolumeBudget()
    budget.charge(scorer.score("vaaaakatfyu.tunnel.example"), limits, 10.0, refused=True)
    charge = budget.charge(scorer.score("www.tunnel.example"), limits, 40.0)
    assert charge.over and charge.first and charge.exceeded == "refused names"
    assert charge.closed_for == pytest.approx(570.0)
    assert "in 570s" in charge.describe("tunnel.example", limits)
    event = budget_event(charge, "tunnel.example", limits)
    assert event["closed_for_seconds"] == 570.0 and event["window_seconds"] == 600
    # a name asked again in the closed zone says the same, counted from its own time
    again = budget.charge(scorer.score("www.tunnel.example"), limits, 100.0)
    assert again.over and again.closed_for == pytest.approx(510.0)
    # another refused name keeps the zone closed for a full window from then
    budget.charge(scorer.score("vaaaakaqp3a.tunnel.example"), limits, 200.0, refused=True)
    assert budget.charge(scorer.score("api.tunnel.example"), limits, 300.0).closed_for \
        == pytest.approx(500.0)
    # a trip of another limit is not a closing: its event has no closing time
    tight = BudgetLimits(max_bytes=8)
    over = [budget.charge(scorer.score(f"{i:012x}.other.example"), tight, 0.0) for i in range(4)]
    assert over[-1].over and over[-1].exceeded == "bytes"
    assert "closed_for_seconds" not in budget_event(over[-1], "other.example", tight)


def test_zones_private_section_customers_and_provider_zones(scorer: HostnameScorer) -> None:
    limits = BudgetLimits(max_bytes=16, max_encoded_names=1000, provider_factor=8)
    budget = VolumeBudget()
    payload = [f"{random.Random(i).getrandbits(40):010x}" for i in range(12)]
    # each customer of a private-section suffix has its own budget
    for i, label in enumerate(payload[:3]):
        charge = budget.charge(scorer.score(f"{label}.app{i}.herokuapp.com"), limits, 0)
        assert not charge.over and charge.zone == f"app{i}.herokuapp.com"
    # a provider zone's budget is provider_factor times larger
    provider = [budget.charge(scorer.score(f"{p}.amazonaws.com"), limits, 0) for p in payload]
    ordinary = [budget.charge(scorer.score(f"{p}.example.com"), limits, 0) for p in payload]
    assert provider[0].provider and not ordinary[0].provider
    assert not any(c.over for c in provider)
    assert any(c.over for c in ordinary)


def test_provider_zones_are_registered_domains() -> None:
    """Every listed zone is an ICANN registered domain (or one the PSL lists itself), so the
    list matches what the budget keys on."""
    lists = suffix_lists()
    for zone in sorted(PROVIDER_ZONES):
        assert lists.registered(zone) == zone, zone
        assert provider_zone(lists.registered(f"a.b.{zone}") or "")
    # a provider's own services under a private-section suffix; customers are ordinary
    assert provider_zone("rep.googleapis.com") and provider_zone("storage.googleapis.com")
    assert not provider_zone("d111.cloudfront.net") and not provider_zone("x.s3.amazonaws.com")


def test_budget_finding_names_zone_names_bits_and_window() -> None:
    compiled = compile_policy(parse_policy("hostnames:\n  budget: {max_bytes: 16}\n"), "p")
    budget = VolumeBudget()
    findings = []
    for i in range(10):
        findings = list(compiled.hostnames.judge(f"{10**13 + i}.t.example.com", budget, 0, "dns")
                        .findings)
        if findings:
            break
    assert [f.rule for f in findings] == ["volume-budget"]
    reason = findings[0].reason
    assert reason.startswith("zone example.com: 3 distinct names carried ~18 bytes (144 bits)")
    assert "in the last 600s" in reason and "its budget is 16 bytes of data" in reason
    assert "(exceeded: bytes)" in reason and "10000000000002" not in reason


# -- issue row 18.2: a payload in many short names is stopped within the stated bytes ---------

def test_short_encoded_names_are_stopped_within_the_stated_bytes() -> None:
    """1,700 random bytes as names of 14 digits under one domain (the review's attack): the
    budget lets through at most `max_bytes` (+ the one name that crosses it)."""
    compiled = compile_policy(parse_policy(""), "default")
    stated = compiled.hostnames.limits.max_bytes
    payload = random.Random(18).randbytes(1700)
    digits = str(int.from_bytes(payload, "big"))
    names = [f"{digits[i:i + 14]}.allowed.example.com" for i in range(0, len(digits), 14)]
    budget = VolumeBudget()
    passed = [n for n in names
              if not compiled.hostnames.judge(n, budget, 0.0, "dns").findings]
    leaked_bits = sum(len(n.split(".")[0]) for n in passed) * 3.3219
    assert len(passed) < len(names) / 4
    assert leaked_bits / 8 <= stated + 14 * 3.33 / 8, (len(passed), leaked_bits / 8)


# -- sessions: real endpoint lists pass, tunnels do not ------------------------------------------

@pytest.mark.parametrize("file", hc.DEV_BENIGN_FILES)
def test_whole_endpoint_lists_pass_as_one_session(file: str) -> None:
    """Every AWS (or GCP) endpoint in one window, shuffled: the default budget needs no
    exception for the clouds."""
    names = hc.read_names(file)
    random.Random(1).shuffle(names)
    blocked = sum(session(names))
    assert blocked / len(names) <= 0.001, f"{blocked}/{len(names)} blocked"


def test_fifty_aws_services_stay_well_inside_the_budget(scorer: HostnameScorer) -> None:
    names = [n for n in hc.read_names("benign-aws.txt") if n.endswith(".us-east-1.amazonaws.com")]
    names = random.Random(2).sample(names, 300)
    budget = VolumeBudget()
    limits = BudgetLimits()
    charges = [budget.charge(scorer.score(n), limits, 0) for n in names]
    assert not any(c.over for c in charges)
    _, _, data = budget.usage("amazonaws.com")
    assert data < limits.for_zone(True).bytes / 10


def test_dns2tcp_corpus_is_blocked_as_a_session() -> None:
    names = corpus("dns2tcp-names.csv")
    blocked = session(names)
    assert sum(blocked) / len(names) >= 0.99, f"{sum(blocked)}/{len(names)} blocked"


def test_plain_corpus_is_not_blocked() -> None:
    names = corpus("plain-names.csv")
    blocked = sum(session(names))
    assert blocked / len(names) <= 0.001, f"{blocked}/{len(names)} blocked"


def _tunnel_session(encode: Callable[[bytes], str], chunk: int, rnd: random.Random,
                    domain: str, count: int = 2000) -> Iterator[str]:
    """Names as a tunnel makes them: a data chunk per query, split into labels of <= 63,
    with short polls (sequence number + a little data) in between."""
    for seq in range(count):
        size = chunk if seq % 3 else rnd.randint(2, 6)
        data = encode(seq.to_bytes(2, "big") + rnd.randbytes(size))
        yield ".".join(data[i:i + 63] for i in range(0, len(data), 63)) + "." + domain


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


ENCODINGS: dict[str, Callable[[bytes], str]] = {
    "hex": lambda b: b.hex(),
    "base32": lambda b: base64.b32encode(b).decode().rstrip("=").lower(),
    "base64url": lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
    "base36": lambda b: _base36(int.from_bytes(b, "big")),
}


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
