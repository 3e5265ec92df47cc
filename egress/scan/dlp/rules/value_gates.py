"""What a matched value is, whatever rule found it: how random (Shannon entropy), whether it
is a placeholder, template, documentation or test example, an identifier or a common
password, and the text a base64 value stands for. The gates every rule and the literal gate
(`egress.scan.dlp.rules.literals`) apply before reporting a value.

Pure functions over `str`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s own character distribution."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# Marks of a template rather than a value: nothing was filled in, nothing to report.
_TEMPLATE = re.compile(
    r"x{5,}|X{5,}|\*{3,}|\.{3}|<[^<>]*>|\$\{|\{\{|%\(|your[_-]?|placeholder|"
    r"changeme|redacted|insert[_-]?|replace[_-]?me|^test$",
    re.IGNORECASE,
)
# Marks of a documentation example: a value someone wrote to look like a key.
_EXAMPLE = re.compile(r"example|sample|dummy|fake|notreal|not[_-]real|abcdefghij", re.IGNORECASE)
# Published documentation keys that carry no marker (AWS's and Stripe's, GitHub's docs).
DOCUMENTATION_KEYS = frozenset((
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
))
# camelCase / snake_case / kebab-case identifiers made of word-like pieces.
# Possessive: a run of lower-case letters is one word, never split in two (`Aaaa…a!` has
# 2^n splits, and tried them all before failing: 42 letters cost a second). Same language.
_IDENTIFIER = re.compile(r"^(?:[A-Za-z][a-z]{2,}+|[A-Z]{2,}(?![a-z])|[_.-])++$")


def is_placeholder(value: str) -> bool:
    """A template or an example: not a secret that was meant to work."""
    return _TEMPLATE.search(value) is not None or is_example(value)


def is_template(value: str) -> bool:
    return _TEMPLATE.search(value) is not None


def _sequential_share(value: str) -> float:
    """Share of the characters that sit in runs of at least four consecutive letters or
    digits (`abcd`, `6789`, `klmnop`): hand-written fakes are full of them, random tokens
    almost never have one."""
    low = value.lower()
    in_runs, run = 0, 1
    for i in range(1, len(low) + 1):
        if i < len(low) and low[i].isalnum() and ord(low[i]) == ord(low[i - 1]) + 1:
            run += 1
            continue
        if run >= 4:
            in_runs += run
        run = 1
    return in_runs / len(value) if value else 0.0


# Runs of three or more counting letters or digits (`abc`, `789`, `klmnop`).
_COUNTING_RUN = re.compile(
    "(?i)(?:" + "|".join(sorted({a[i:i + 3] for a in ("0123456789", "abcdefghijklmnopqrstuvwxyz")
                                 for i in range(len(a) - 2)})) + ")+")


def example_residue(value: str) -> str:
    """`value` without its example markers and counting runs: what is left of a real key
    that was dressed up as an example (`<real key>EXAMPLE`)."""
    return _COUNTING_RUN.sub("", _EXAMPLE.sub("", value))


def is_documentation_key(value: str) -> bool:
    return value in DOCUMENTATION_KEYS or any(k in value for k in DOCUMENTATION_KEYS)


def is_example(value: str) -> bool:
    """A documentation or test example of a key: a published example value, an example
    marker (EXAMPLE, SAMPLE, DUMMY, FAKE), or a value made of counting runs (`abc123`,
    `1234567890abcdef`, `klmnopqrstuvwx`)."""
    if is_documentation_key(value):
        return True
    return _EXAMPLE.search(value) is not None or (len(value) >= 12 and _sequential_share(value) >= 0.3)


def is_identifier(value: str) -> bool:
    """True for `requiredCharacteristicTypes`-like words: letters in word-shaped runs only."""
    return _IDENTIFIER.match(value) is not None


# Values that stand for a password in examples and templates, never a real one.
COMMON_PASSWORDS = frozenset((
    "password", "passwd", "pass", "secret", "token", "pwd", "changeme", "admin", "test", "testing",
    "user", "username", "root", "default", "guest", "string", "value", "xxx", "yyy", "zzz", "foo",
    "bar", "baz", "qwerty", "letmein", "welcome", "123456", "12345678", "password1", "apikey",
    "api_key",
))


def has_letter_and_digit(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


# -- format validators --------------------------------------------------------------------


_B64_VALUE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def base64_text(value: str) -> str | None:
    """The text a base64 value stands for (a Kubernetes secret's `data:` value, padded or
    not), when it decodes to printable UTF-8; None for anything else (random keys decode to
    bytes)."""
    padded = value + "=" * (-len(value) % 4)
    if len(value) < 8 or len(value) % 4 == 1 or not _B64_VALUE.fullmatch(padded):
        return None
    try:
        text = base64.b64decode(padded, validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return text if text and text.isprintable() else None
