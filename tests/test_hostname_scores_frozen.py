"""The single-name scorer's output, frozen: speed-ups must not change a single score.

`tests/data/hostnames/scores-frozen.json` holds, for a fixed sample of every corpus family
the benchmark scores (tunnel and benign, plus malformed, case-randomised, reverse-lookup and
punycode corners), the score, bits, reasons, explanation and problem the scorer gave when it
was written, at the default block score and at a low one (which prices fewer labels). A
change that is meant to change scores regenerates it:

    .venv/bin/python -m tests.test_hostname_scores_frozen
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from egress.scan.hostnames import HostnameScorer
from egress.scan.hostnames.labels import kept, round1
from egress.scan.hostnames.suffixes import suffix_lists
from egress.scan.hostnames.words import DIGIT_BITS, LETTER_BITS, UNSEEN, bigram_table, wordiness

FROZEN = Path(__file__).resolve().parent / "data" / "hostnames" / "scores-frozen.json"
PER_FAMILY = 60
BLOCK_SCORES = (100.0, 60.0)
CORNERS = ["abc.FFFF..hidemyself.org", "gOoGlE.cOm", "4.3.2.1.in-addr.arpa", "", ".", "a..b",
           "x" * 70 + ".com", "1.2.3.4", "::1", "m\u00fcnchen.de", "xn--mnchen-3ya.de",
           "dnscat.abc.com", "a-b_c.d-e.example.co.uk", "-.com", "foo bar.com",
           "AbCdEfGhIjKl.example.com", "Example.COM.", "d1x.cloudfront.net",
           "x.compute-1.amazonaws.com", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d"
           ".0.1.0.0.2.ip6.arpa", "abc.123-4"]


def sample() -> list[str]:
    from benchmarks.hostname_scoring import families

    tunnels, benign = families()
    rnd = random.Random(13)
    names: list[str] = []
    for fams in (tunnels, benign):
        for fam in sorted(fams):
            pool = sorted(set(fams[fam]))
            names.extend(rnd.sample(pool, min(PER_FAMILY, len(pool))))
    return list(dict.fromkeys(names + CORNERS))


def scores(names: list[str]) -> dict[str, list[list[Any]]]:
    """Per block score, one row per name, in the order of `names`."""
    out: dict[str, list[list[Any]]] = {}
    for block in BLOCK_SCORES:
        scorer = HostnameScorer(block_score=block)
        rows = out[f"{block:g}"] = []
        for n in names:
            s = scorer.score_uncached(n)
            # the subdomain is the name less `registered`; the explanation names the label,
            # its size, bits per character and alphabet, the text payload and tool shape
            rows.append([s.registered, s.score, s.bits, ",".join(s.reasons), s.customer,
                         s.explanation])
    return out


def test_scores_match_the_frozen_sample() -> None:
    frozen = json.loads(FROZEN.read_text(encoding="utf-8"))
    names = frozen["names"]
    assert len(names) > 2000
    got = scores(names)
    assert got.keys() == frozen["scores"].keys()
    diff = [(block, names[i], want, row) for block, rows in frozen["scores"].items()
            for i, (want, row) in enumerate(zip(rows, got[block], strict=True)) if row != want]
    assert not diff, f"{len(diff)} scores changed (block score, name, frozen, now): {diff[:3]}"


def test_round1_is_round_to_one_decimal() -> None:
    """The scorer's `round1` (float arithmetic) gives `round(x, 1)` bit for bit: on the sums
    scores are made of, on exact and near ties (x.x5 has none in binary but its neighbours),
    and on what it leaves to `round` (zero, negatives, huge values)."""
    rnd = random.Random(5)
    values = [rnd.uniform(0, 2000) for _ in range(20000)]
    values += [k / 20 for k in range(40000)] + [k * 0.35 for k in range(3000)]
    values += [k / 20 + d for k in range(2000) for d in (1e-12, -1e-12, 1e-9, -1e-9)]
    values += [k * LETTER_BITS + j * DIGIT_BITS for k in range(60) for j in range(20)]
    values += [0.0, -0.0, -0.04, -1.25, 0.04, 0.05, 0.25, 2.675, 1e9, 1e12 + 0.05, 2.0**60]
    diff = [x for x in values if repr(round1(x)) != repr(round(x, 1))]
    assert not diff, diff[:5]


def test_wordiness_by_byte_table_is_the_string_tables_mean() -> None:
    """An ASCII run's bigrams looked up by byte value give what the string-keyed table gives
    (the same floats summed in the same order), other characters included (UNSEEN)."""
    table = bigram_table()
    rnd = random.Random(7)
    runs = ["", "a", "sagemaker", "^", "ab^c", "Ab", "x-y_z.0", "m\u00fcnchen"]
    runs += ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz^A9-.\u00e9")
                     for _ in range(rnd.randint(0, 30))) for _ in range(3000)]
    for run in runs:
        want = sum(table.get(a + b, UNSEEN) for a, b in zip("^" + run, run + "^", strict=True))
        assert wordiness(run) == want / (len(run) + 1), run


def test_suffix_tree_walk_is_the_suffix_string_walk() -> None:
    """`public_labels` walking the label tree answers as the walk by suffix strings over
    `flags` does, on every rule of the list under a label or two of its own."""
    lists = suffix_lists()
    for rules in (lists.full, lists.icann):
        flags = rules.flags

        def by_strings(labels: list[str], flags: dict[str, int] = flags) -> int:
            n, best, depth, suffix = len(labels), 1, 1, labels[-1]
            f = flags.get(suffix, 0)
            while True:
                if f & 4 and depth < n:
                    below = labels[n - depth - 1] + "." + suffix
                    best = max(best, depth if flags.get(below, 0) & 8 else depth + 1)
                if depth >= n or not f:
                    return best
                depth += 1
                suffix = labels[n - depth] + "." + suffix
                f = flags.get(suffix, 0)
                if f & 8:
                    return max(best, depth - 1)
                if f & 2:
                    best = max(best, depth)

        for node in sorted(flags):
            for name in (node, "x." + node, "a.b." + node, "x" + node, "q.unknown-tld"):
                labels = name.split(".")
                assert rules.public_labels(labels) == by_strings(labels), name


def test_kept_table_counts_what_a_deleting_translate_keeps() -> None:
    rnd = random.Random(9)
    for deleted in (b"0123456789abcdef", b"0234567", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    bytes(range(0, 256, 3))):
        table = kept(deleted)
        for _ in range(2000):
            data = bytes(rnd.randrange(256) if rnd.random() < 0.3 else rnd.choice(deleted)
                         for _ in range(rnd.randint(0, 40)))
            assert data.translate(table).count(1) == len(data.translate(None, deleted))
            assert data.translate(table).count(0) == len(data) - len(data.translate(None, deleted))
            assert (1 not in data.translate(table)) == (not data.translate(None, deleted))


if __name__ == "__main__":
    picked = sample()
    FROZEN.write_text(json.dumps({"names": picked, "scores": scores(picked)},
                                 separators=(",", ":"), ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"{len(picked)} names written to {FROZEN}")
