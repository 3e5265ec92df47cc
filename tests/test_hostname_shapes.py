"""Tunnel tools' control packets and encoder alphabets, told from one name (issue 13 round 5).

iodine's and dns2tcp's documented packet layouts fix bits that no generated id of the same
length has; a long label whose digits are only a base32 encoder's is an encoder's. The names
below are real: taken from the DEV captures in tests/data/hostnames (r1, r3 and r4)."""

from __future__ import annotations

import pytest

from egress.scan.hostnames import HostnameScorer
from egress.scan.hostnames.labels import token_bits
from egress.scan.hostnames.shapes import encoder_alphabet, tool_packet
from tests.support import hostname_corpora as hc

BLOCK = 100.0


@pytest.fixture(scope="module")
def scorer() -> HostnameScorer:
    return HostnameScorer()


@pytest.mark.parametrize(("name", "tool", "packet"), [
    ("paaiom0a.i.api-status.co", "iodine", "iodine ping (p + 7 base32 chars)"),
    ("pabad2gi.c.edge-telemetry.net", "iodine", "iodine ping"),
    ("paaionay.i.api-status.co", "iodine", "iodine ping"),  # user 0: word-like letters too
    ("laadcawxxldnvpk5snmoxkl12axvomvi.i.api-status.co", "iodine", "iodine login"),
    ("naac5fzte.i.api-status.co", "iodine", "iodine fragment size"),
    ("naaaniejp.d.metrics-cdn.net", "iodine", "iodine fragment size"),
    ("vaaaakatfyu.ns1.update-check.io", "iodine", "iodine version handshake"),
    ("ETQAAAABBA.dl.pkg-mirror.net", "dns2tcp", "dns2tcp poll"),
    ("ETQAHQA1BA.dl.pkg-mirror.net", "dns2tcp", "dns2tcp poll"),
])
def test_control_packets_are_refused_on_their_own(scorer: HostnameScorer, name: str, tool: str,
                                                  packet: str) -> None:
    """Before round 5 these scored 3-60: iodine's pings, login, fragment size and codec check
    and dns2tcp's data-less polls look like short generated ids one at a time."""
    s = scorer.score_uncached(name)
    assert s.blocked(BLOCK) and f"tool-shape={tool}" in s.reasons, (s.score, s.reasons)
    assert s.explanation.startswith(f"label 1: {packet}"), s.explanation
    assert name.split(".")[0] not in s.explanation and name.split(".")[0] not in s.reasons


@pytest.mark.parametrize("label", [
    "paaiom0b",    # a ping's last character holds 2 bits: a, i, q or y
    "pcaiom0a",    # the user id (0-15) leaves the first character a or b
    "pacion0a",    # ... and bit 1 of the second zero
    "paaiom7a",    # 6-9 are not in iodine's base32
    "paaiom0aa",   # length
    "payzippy",    # a word (brand) that fits the layout
    "paranoia",
    "naae5fzte",   # a fragment size is at most 2047: the third character is a-d
    "laadcawxxldnvpk5snmoxkl12axvomvb",
    "lbadcawxxldnvpk5snmoxkl12axvomvi",
    "ETQAAAABBB",  # a type's low bits are followed by 4 zero bits
    "ETQAAAAACA",  # type 8 (DATA) without data is no poll
    "etqaaaabba",  # a lower-case label never ends in a poll's type
    "ELASTICSBA",  # capitals that read as words
    # iodine's options, codec switch and codec check: too short to tell (see shapes.py)
    "oavpqk", "sahzs2", "yrbzsw", "oauth2", "yubico",
])
def test_packet_layouts_are_exact(label: str) -> None:
    assert tool_packet(label) == "", label


def test_case_randomised_names_are_not_dns2tcp_polls(scorer: HostnameScorer) -> None:
    """dns2tcp's layout is base64, so case matters; a resolver randomising the case of a name
    (DNS 0x20) makes any 10-character label's case noise."""
    assert tool_packet("ETQAAAABBA") and not tool_packet("ETQAAAABBA", case_noise=True)
    s = scorer.score_uncached("ETQAAAABBA.dL.PkG-MiRrOr.NeT")
    assert "tool-shape=dns2tcp" not in s.reasons and not s.blocked(BLOCK), (s.score, s.reasons)
    # iodine's base32 has no case: its packets are told in any case
    assert scorer.score_uncached("PAAIOM0A.I.Api-Status.CO").blocked(BLOCK)


def test_long_label_in_a_base32_encoders_alphabet(scorer: HostnameScorer) -> None:
    """A 37-character iodine data label (a-z0-5) scored 60-68 before round 5: one label of
    ~190 bits, under the 286 bits a single label needs. Generated ids of letters and digits use
    all ten digits; an encoder's label never uses the 4 its alphabet leaves out."""
    data = "0tzbshhzr51i35eftq2ujjctgbbfn5c5z2kyy.c.edge-telemetry.net"  # r4 capture
    s = scorer.score_uncached(data)
    assert s.blocked(BLOCK) and "encoder-alphabet=base32" in s.reasons, (s.score, s.reasons)
    assert s.explanation == ("label 1: 37 chars, 5.2 bits/char, base36 alphabet; only the digits "
                             "of iodine's base32 (a-z0-5)")
    rfc = "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwezltmfwwkz3o.t.example-c2.com"
    assert scorer.score_uncached(rfc).blocked(BLOCK)
    # the same length with the other digits (a base36 id), a Lambda URL id, shorter labels,
    # words, hex: no alphabet evidence
    for label in ("0tzbshhzr81i39eftq2ujjctgbbfn7c6z2kyy", "ydyoqxocvx88bydz9n4zr6kl2o3k0a1b",
                  "0e4b5jcv1plftelxg53ahrkmoggi", "kubernetes" * 4,
                  "f27a3d6d3a9944e0d68727809115179229eca5d6"):
        assert encoder_alphabet(label, token_bits(label)[0]) == "", label
    assert not scorer.score_uncached("ydyoqxocvx88bydz9n4zr6kl2o3k0a1b.lambda-url.us-east-1.on.aws"
                                     ).blocked(BLOCK)


def test_shapes_never_fit_a_benign_name() -> None:
    """Guard: no label of any benign list (AWS, GCP, Azure, Alibaba endpoints, generated ids)
    fits a control packet, and no benign name is refused for the encoder alphabet (4% of
    32-character base36 ids avoid 6-9 by chance: Lambda URL ids; under the block score)."""
    scorer = HostnameScorer()
    names = [n for f in hc.DEV_BENIGN_FILES + hc.FINAL_BENIGN_FILES for n in hc.read_names(f)]
    names += [n for ns in hc.generated_benign().values() for n in ns]
    assert len(names) > 15000
    fits = [n for n in names if any(tool_packet(label) for label in n.split("."))]
    assert not fits, fits[:10]
    alphabet = [s for s in map(scorer.score_uncached, names)
                if "encoder-alphabet=base32" in s.reasons]
    assert alphabet and not [s for s in alphabet if s.blocked(BLOCK)], alphabet[:3]


def test_real_dev_captures_are_flagged_name_by_name(scorer: HostnameScorer) -> None:
    """Scorer alone, valid HTTP hosts of every real DEV capture (iodine and dns2tcp, rounds
    1, 3 and 4): 62.7% of round 4's were flagged before round 5."""
    files = hc.FINAL_TUNNEL_FILES + hc.FRESH_R3_TUNNEL_FILES + hc.FRESH_R4_TUNNEL_FILES
    total = flagged = 0
    low = {}
    for file in files:
        names = [n for n in hc.read_names(file) if hc.valid_host(n)]
        got = sum(scorer.score_uncached(n).blocked(BLOCK) for n in names)
        total, flagged = total + len(names), flagged + got
        if got / len(names) < 0.5:  # base128 sessions: a dozen valid hosts, most of them polls
            low[file] = f"{got}/{len(names)}"
    assert flagged / total >= 0.9 and not low, (flagged, total, low)


def test_encoder_alphabet_digit_tables_are_the_digit_strings() -> None:
    """`encoder_alphabet` reads which digits a label holds from 0/1 tables: the answers of
    the digit string it built before (kept here as the reference), on random long labels
    of every alphabet and case, iodine's user-id prefix included."""
    import random

    def by_digit_strings(label: str, bits: float) -> str:
        n = len(label)
        if n < 32 or bits < 4.5 * n or not label.isascii():
            return ""
        raw = label.encode()
        if not (raw.islower() or raw.isupper()):
            return ""
        raw = raw.lower()
        if raw.translate(None, b"abcdefghijklmnopqrstuvwxyz0123456789"):
            return ""
        rest = raw[:4] + raw[5:] if raw[0] in b"0123456789abcdef" else raw
        digits = bytes(b for b in rest if 0x30 <= b <= 0x39)
        if not digits:
            return ""
        if not digits.translate(None, b"234567"):
            return "only the digits of RFC 4648 base32 (a-z2-7)"
        if not digits.translate(None, b"012345"):
            return "only the digits of iodine's base32 (a-z0-5)"
        return ""

    rnd = random.Random(11)
    alphabets = ["abcdefghijklmnopqrstuvwxyz234567", "abcdefghijklmnopqrstuvwxyz012345",
                 "abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz",
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ2345679", "abcdef0123456789", "abcxyz89-_Q"]
    answers = set()
    for _ in range(6000):
        chars = rnd.choice(alphabets)
        label = "".join(rnd.choice(chars) for _ in range(rnd.randint(30, 63)))
        if rnd.random() < 0.2:
            label = label[:4] + rnd.choice("0123456789") + label[5:]
        bits = len(label) * rnd.choice((4.0, 4.5, 5.0))
        want = by_digit_strings(label, bits)
        assert encoder_alphabet(label, bits) == want, label
        answers.add(want)
    assert len(answers) == 3  # each answer reached
