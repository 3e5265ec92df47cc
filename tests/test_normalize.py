"""Evasion classes the shared normaliser undoes (one row per class)."""

from __future__ import annotations

import pytest

from egress.scan.normalize import has_invisible, invisible_to_space, normalize

TOKEN = "ghp_abcdefghijklmnop"


@pytest.mark.parametrize(("label", "disguised"), [
    ("zero-width space", "ghp_\u200babcdefghijklmnop"),
    ("zero-width joiner", "ghp\u200d_abcdefghijklmnop"),
    ("word joiner", "g\u2060hp_abcdefghijklmnop"),
    ("bom", "\ufeffghp_abcdefghijklmnop"),
    ("soft hyphen", "ghp_abc\u00addefghijklmnop"),
    ("bidi override", "\u202eghp_abcdefghijklmnop\u202c"),
    ("bidi isolate", "\u2066ghp_abcdefghijklmnop\u2069"),
    ("tag characters", "ghp_abc\U000e0041defghijklmnop"),
    ("variation selector", "ghp_a\ufe0fbcdefghijklmnop"),
    ("mongolian vowel separator", "ghp_\u180eabcdefghijklmnop"),
    ("fullwidth", "ｇｈｐ＿ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐ"),
    ("cyrillic look-alikes", "ghр_аbcdеfghijklmnор"),
    ("greek look-alikes", "ghρ_αbcdεfghijklmnορ"),
    ("math alphanumerics", "𝗀𝗁𝗉_abcdefghijklmnop"),
])
def test_evasion_is_undone(label: str, disguised: str) -> None:
    assert normalize(disguised) == TOKEN, label


def test_ascii_is_untouched() -> None:
    text = "plain ascii: ~!@#$%^&*()"
    assert normalize(text) is text


def test_invisible_helpers() -> None:
    assert has_invisible("a\u200bb") and not has_invisible("ab") and not has_invisible("äb")
    assert invisible_to_space("ignore\u200ball") == "ignore all"
