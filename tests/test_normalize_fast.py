"""`for_secrets` normalises only the non-ASCII runs of a text (with the character before
each): the result must be the whole-text normalisation's, character for character."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from egress.scan.normalize import _by_runs, _for_secrets_whole, for_secrets, non_ascii_runs

# What composes, decomposes, disappears or folds: combining marks (alone and stacked),
# invisible characters, look-alikes, compatibility forms, Hangul jamo, precomposed letters,
# and the ASCII they sit between.
_TRICKY = ("abcxyzAZ09_-=:\"' \n\t"
           "\u0300\u0301\u0308\u0323\u0327\u034f\u1ab0\u1dc0\u20d0\ufe20"
           "\u200b\u200d\u2060\ufeff\u00ad\u202e\u2066\U000e0041\ufe0f\u180e\u3164"
           "\u0430\u0440\u0435\u03bf\u0131\u2014\u2212\uff3f"
           "\uff47\uff48\uff50\ufb01\u2460\U0001d400\u00bd\u2126\u212b"
           "\u1100\u1161\u11a8\uac00"
           "\u00e9\u00c5\u1e9e\u00f8\u00df\u0133\u01c4"
           "\u4e2d\u6587\u0627\u05d0")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TRICKY), max_size=60))
def test_run_by_run_equals_whole_text(text: str) -> None:
    assert for_secrets(text) == _by_runs(text) == _for_secrets_whole(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_run_by_run_equals_whole_text(text: str) -> None:
    assert for_secrets(text) == _by_runs(text) == _for_secrets_whole(text)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["e\u0301", "\u0301", "a\u200b\u0308", "\u2014", " ", "ghp_",
                                 "x" * 40, "\uff47hp_", "\u0440", "\n"]), max_size=200))
def test_dense_and_sparse_texts_agree(parts: list[str]) -> None:
    # Many runs take the whole-text path; few take the run-by-run one: both must agree.
    text = "".join(parts)
    assert for_secrets(text) == _by_runs(text) == _for_secrets_whole(text)


def test_no_canonical_pair_ends_in_ascii() -> None:
    """What the run-by-run normalisation relies on: nothing composes with a preceding
    character into ASCII's place, so an ASCII character ends every composition."""
    for cp in range(0x80, 0x30000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = [int(x, 16) for x in d.split()]
            assert not (len(parts) == 2 and parts[1] < 0x80), hex(cp)


def test_mark_on_an_ascii_letter_is_folded_in_a_long_ascii_text() -> None:
    text = "x" * 5000 + "ghp\u0301_abc" + "y" * 5000 + "\u200b"
    assert for_secrets(text) == "x" * 5000 + "ghp_abc" + "y" * 5000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9000), st.text(alphabet="\u00e9\u0301\u2014\u4e2d\u200b",
                                                        min_size=1, max_size=5)), max_size=12))
def test_long_texts_with_runs_across_chunk_edges(plants: list[tuple[int, str]]) -> None:
    """Runs found stretch by stretch (`non_ascii_runs`) are the regex's, also where a run
    straddles the edge of a stretch, and the normalisation of a long text is the whole's."""
    chars = list("ab=c_\n " * 1300)
    for at, run in plants:
        chars[at:at] = list(run)
    for edge in (2047, 2048, 4095, 4096):  # runs ending, starting and crossing at edges
        if edge < len(chars) and plants:
            chars[edge] = plants[0][1][0]
    text = "".join(chars)
    assert non_ascii_runs(text) == [m.span() for m in re.finditer(r"[^\x00-\x7f]+", text)]
    assert for_secrets(text) == _for_secrets_whole(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab=Z9 \n\ufffd\ufffd\u0301\u200b\u0440\uff47"), max_size=40))
def test_replacement_characters_and_tiny_texts_equal_the_whole_pass(text: str) -> None:
    # ASCII with U+FFFD (a quoted-printable token's stray byte) is returned as it is, and
    # texts of up to `_TINY` characters come from a cache: both as the whole pass gives.
    assert for_secrets(text) == _for_secrets_whole(text)
    assert for_secrets(text) == _for_secrets_whole(text)  # a second time: from the cache
