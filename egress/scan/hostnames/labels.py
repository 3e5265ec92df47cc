"""What one label carries: estimated bits of information, the alphabet it looks drawn from,
and whether it decodes to readable text.

A label is cut into tokens at `-`/`_`; each token is priced by what it looks like:

| token | bits |
|---|---|
| a run of letters that reads as words (bigram model, `words.py`) | 1 per letter |
| a short (<= 5) letter run: `cdn`, `prod`, `eu` | 2 per letter |
| letters that do not read as words | log2(26) = 4.7 per letter |
| digits | log2(10) = 3.3 per digit |
| words and numbers (`ec2`, `node12`, `route53resolver`, at most 4 runs) | per run as above |
| random-looking runs by alphabet: hex, base32, base36, mixed case, base64 | 4, 5, 5.17, 5.95, 6 |
| a valid punycode label (`xn--...`) | 1.5 per character |

Entropy alone is blind on short labels (16 characters can never exceed 4 bits each), so
structure prices them. A label whose hex, base32 or base64 decoding is readable text (an
encoded token or file) says so: no hash or generated id decodes to text.

These prices estimate what an *ordinary* label carries, for the single-name score. The
budget charges `label_capacity` instead: what a sender choosing the label could put in it
(its length times log2 of its alphabet), so random letters that read as an abbreviation
pay 4.7 bits a letter there, not 2.
"""

from __future__ import annotations

import binascii
import math
import re
from typing import Final, NamedTuple

from egress.scan.hostnames.words import DIGIT_BITS, LETTER_BITS, wordiness

BITS_PER_CHAR: Final = {"hex": 4.0, "base32": 5.0, "base36": 5.17, "mixed-case": 5.95, "base64": 6.0}
WORD_BITS: Final = 1.0          # a letter of a run that reads as words
ABBREV_BITS: Final = 2.0        # a letter of a short (<= 5) all-letter token
IDN_BITS: Final = 1.5           # a character of a valid punycode label
WORDINESS_MIN: Final = -5.0     # mean bigram log2-likelihood at or above which a run reads as words
MAX_WORD_NUMBER_RUNS: Final = 4 # letter/digit runs in a token still read as words and numbers
TEXT_MIN_BYTES: Final = 8       # decoded bytes from which readable text counts as a payload

_CLASSES: Final = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz0123456789", b"a" * 26 + b"0" * 10)
_RUNS: Final = re.compile(r"[a-z]+|[0-9]+")
_CAMEL: Final = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def _letter_bits(run: str) -> float:
    n = len(run)
    if n <= 5:
        return n * ABBREV_BITS
    return n * (WORD_BITS if wordiness(run) >= WORDINESS_MIN else LETTER_BITS)


def token_bits(token: str) -> tuple[float, str]:
    """Estimated bits of information in one token and the kind of token it looks like."""
    # The scorer's hot path: C-level str/bytes tests in the order that settles the common
    # tokens (one-case letters, then letters and digits) soonest; the kinds and prices are
    # those of the table above, checked in its order of precedence.
    n = len(token)
    if n == 0:
        return 0.0, "empty"
    if not token.isascii():
        return n * BITS_PER_CHAR["base64"], "base64"
    # bytes tests: the same answers as str's on ASCII, without a per-character scan in Python's
    # Unicode tables (several times faster on a long label)
    raw = token.encode()
    if raw.isalpha():
        if raw.islower():
            lower = token
        elif raw.isupper() or _camel_words(token):
            lower = token.lower()
        else:
            return n * _MIXED_BITS, "mixed-case"
        if n <= 5:
            return n * ABBREV_BITS, "word"
        if wordiness(lower) >= WORDINESS_MIN:
            return n * WORD_BITS, "word"
        return n * LETTER_BITS, "letters"
    if not raw.isalnum():  # neither letter nor digit somewhere
        return n * BITS_PER_CHAR["base64"], "base64"
    if raw.isdigit():
        return n * DIGIT_BITS, "digits"
    if raw.islower():
        return alnum_bits(token, n, raw)
    if not raw.isupper() and not _camel_words(token):
        return n * _MIXED_BITS, "mixed-case"
    return alnum_bits(token.lower(), n)


def alnum_bits(lower: str, n: int, raw: bytes | None = None) -> tuple[float, str]:
    """`token_bits` of a one-case token of ASCII letters and digits with both in it, given
    in lower case with its length, and its bytes if the caller has them (the scorer calls
    it directly for such labels)."""
    # letters and digits: how often they alternate (on bytes: str.translate is per-char slow)
    if raw is None:
        raw = lower.encode("ascii")
    classes = raw.translate(_CLASSES)
    transitions = classes.count(b"a0") + classes.count(b"0a")
    hexed = 1 not in raw.translate(_KEPT_HEX)
    if n >= 8 and transitions >= 2 and hexed:
        # `900fab32`, `5f3a9c0e`: hex ids and data, not words and numbers
        return n * _HEX_BITS, "hex"
    if 0 < transitions < MAX_WORD_NUMBER_RUNS and n <= _PATTERN_MAX and b"aaaaaa" not in classes:
        # a short word-number whose letter runs are all short (`ec2`, `85a7c`, the labels of
        # a short-label chain): its price depends only on where the letters and digits are,
        # read from a table of those patterns (built once, the loop below's sums exactly)
        return (_PATTERNS if _PATTERNS else _pattern_table())[classes], "word-number"
    if transitions == 1:
        # one letter run and one digit run (`ec2`, `node12`, `north2`, `3d`), the common
        # word-number, cut by strip instead of the regex: priced as the loop below prices it
        if classes[0] == 97:  # letters first
            head = lower.rstrip("0123456789")
            size = len(head)
            if size <= 5:
                bits = 0.0 + size * ABBREV_BITS
            else:
                bits = 0.0 + size * (WORD_BITS if wordiness(head) >= WORDINESS_MIN
                                     else LETTER_BITS)
            return bits + (n - size) * DIGIT_BITS, "word-number"
        tail = lower.lstrip("0123456789")
        size = len(tail)
        bits = 0.0 + (n - size) * DIGIT_BITS
        if size <= 5:
            return bits + size * ABBREV_BITS, "word-number"
        return bits + size * (WORD_BITS if wordiness(tail) >= WORDINESS_MIN
                              else LETTER_BITS), "word-number"
    if transitions <= MAX_WORD_NUMBER_RUNS - 1:
        # words and numbers: `ec2`, `node12`, `ipv4`, `route53resolver`, `europe-west15`.
        # Random alphanumerics switch far more often (16 random base36 characters: ~6 times).
        bits = 0.0
        for run in _RUNS.findall(lower):  # _letter_bits inlined
            size = len(run)
            if run[0] <= "9":
                bits += size * DIGIT_BITS
            elif size <= 5:
                bits += size * ABBREV_BITS
            else:
                bits += size * (WORD_BITS if wordiness(run) >= WORDINESS_MIN else LETTER_BITS)
        return bits, "word-number"
    if hexed:
        return n * _HEX_BITS, "hex"
    if 1 not in raw.translate(_KEPT_BASE32):
        return n * BITS_PER_CHAR["base32"], "base32"
    return n * BITS_PER_CHAR["base36"], "base36"


_PATTERN_MAX: Final = 12  # longest label priced from the pattern table (1,275 patterns)
_PATTERNS: Final[dict[bytes, float]] = {}


def _pattern_table() -> dict[bytes, float]:
    """Bits of every letter/digit pattern (`a` letter, `0` digit) of 2 to _PATTERN_MAX
    characters with both classes, 2 to MAX_WORD_NUMBER_RUNS runs and no letter run over 5,
    each summed run by run from the left exactly as `alnum_bits` prices such a label."""
    if not _PATTERNS:
        table: dict[bytes, float] = {}

        def runs(left: int, first: bytes, count: int) -> list[list[int]]:
            if count == 1:
                return [[left]] if left >= 1 and (first == b"0" or left <= 5) else []
            other = b"a" if first == b"0" else b"0"
            top = left - count + 1 if first == b"0" else min(5, left - count + 1)
            return [[size, *rest] for size in range(1, top + 1)
                    for rest in runs(left - size, other, count - 1)]

        for n in range(2, _PATTERN_MAX + 1):
            for count in range(2, MAX_WORD_NUMBER_RUNS + 1):
                for first in (b"a", b"0"):
                    for sizes in runs(n, first, count):
                        bits = 0.0
                        pattern = b""
                        cls = first
                        for size in sizes:
                            bits += size * (DIGIT_BITS if cls == b"0" else ABBREV_BITS)
                            pattern += cls * size
                            cls = b"a" if cls == b"0" else b"0"
                        table[pattern] = bits
        _PATTERNS.update(table)
    return _PATTERNS


_MIXED_BITS: Final = BITS_PER_CHAR["mixed-case"]
_HEX_BITS: Final = BITS_PER_CHAR["hex"]
_HEX_BYTES: Final = b"0123456789abcdef"
_BASE32_BYTES: Final = b"abcdefghijklmnopqrstuvwxyz234567"
_UPPER_BYTES: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def kept(deleted: bytes) -> bytes:
    """A `bytes.translate` table giving 0 for each byte of `deleted` and 1 for any other:
    `x.translate(kept(d)).count(1)` is `len(x.translate(None, d))` and `1 not in
    x.translate(kept(d))` is `not x.translate(None, d)`, without the 256-entry table that a
    translate with deleted bytes builds on every call (the scorer's hot path)."""
    return bytes(0 if b in deleted else 1 for b in range(256))


_KEPT_HEX: Final = kept(_HEX_BYTES)
_KEPT_BASE32: Final = kept(_BASE32_BYTES)
_KEPT_0234567: Final = kept(b"0234567")
_KEPT_UPPER: Final = kept(_UPPER_BYTES)  # 0 for each capital: `.count(0)` counts them


def _camel_words(token: str) -> bool:
    """`MyCompany`, `GitHub`: mixed case made of capitalised words, not of encoded data."""
    raw = token.encode("ascii", "ignore")  # counts the capitals `[A-Z]` matches
    if raw.translate(_KEPT_UPPER).count(0) > 4:
        return False
    parts = _CAMEL.findall(token)
    if len(parts) > 4 or "".join(parts) != token:
        return False
    return all(len(p) <= 5 or wordiness(p.lower()) >= WORDINESS_MIN for p in parts if p.isalpha())


_NOT_PRINTABLE: Final = bytes(b for b in range(256) if not (0x20 <= b < 0x7F or b in (9, 10, 13)))
_NOT_TEXTY: Final = bytes(b for b in range(256) if b not in
                   b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/@=+,\"'{}[]")

_NOT_LOWER: Final = bytes(b for b in range(256) if not (0x61 <= b <= 0x7A or 0x30 <= b <= 0x39
                                                 or b == 0x20))
_NOT_UPPER: Final = bytes(b for b in range(256) if not (0x41 <= b <= 0x5A or 0x30 <= b <= 0x39
                                                 or b == 0x20))
# 1 for the bytes each count of `readable` counts (the bytes the tables above do not delete)
_PRINTABLE: Final = kept(_NOT_PRINTABLE)
_TEXTY: Final = kept(_NOT_TEXTY)
_LOWER_TEXT: Final = kept(_NOT_LOWER)
_UPPER_TEXT: Final = kept(_NOT_UPPER)


def readable(data: bytes) -> bool:
    """At least TEXT_MIN_BYTES of mostly printable ASCII, mostly letters and digits: text,
    not the uniformly random bytes a hash, an id or ciphertext decodes to."""
    n = len(data)
    if n < TEXT_MIN_BYTES:
        return False
    printable = data.translate(_PRINTABLE).count(1)
    if printable < 0.9 * n:
        return False
    if data.translate(_TEXTY).count(1) < 0.75 * n:
        return False
    # Text is mostly letters of one case and digits (`sk-live-...`, `{"user":"alice"`,
    # `AKIA...`, `xoxb-4422...`); random printable bytes are 39% of either.
    return max(data.translate(_LOWER_TEXT).count(1), data.translate(_UPPER_TEXT).count(1)) \
        >= 0.5 * n


def decoded_text(run: str) -> tuple[int, str]:
    """(bytes, encoding) of readable text that `run` (letters and digits only) decodes to as
    hex, base32 or base64url, trying the offsets a one-character prefix shifts it by."""
    n = len(run)
    if n < 2 * TEXT_MIN_BYTES - 4:
        return 0, ""
    lower = run.lower()
    # alphabet tests on bytes (C-level translate, no set built); a non-ASCII run is neither
    raw = lower.encode("ascii") if lower.isascii() else b"\xff"
    if 1 not in raw.translate(_KEPT_HEX):
        for start in (0, 1):
            size = (n - start) // 2
            # a byte whose high nibble is 1 or 8-f is never printable: with more than a tenth
            # of them `readable` says no, so the decoding is skipped (random hex: ~9 in 16)
            if size - raw[start: start + 2 * size: 2].translate(_KEPT_0234567).count(1) \
                    < 0.9 * size:
                continue
            part = lower[start: start + size * 2]
            try:
                data = bytes.fromhex(part)
            except ValueError:
                continue
            if readable(data):
                return len(data), "hex"
        return 0, ""
    if 1 not in raw.translate(_KEPT_BASE32) and (run.islower() or run.isupper()):
        upper = run.upper()
        for start in (0, 1):
            part = upper[start:]
            part = part[: len(part) - len(part) % 8 + _B32_KEEP[len(part) % 8]]
            data = _b32decode(part)
            if readable(data):
                return len(data), "base32"
    for start in (0, 1):
        part = run[start:]
        if len(part) % 4 == 1:
            part = part[:-1]
        try:
            # base64.urlsafe_b64decode without its Python-level argument checks
            data = binascii.a2b_base64((part + "=" * (-len(part) % 4)).encode("ascii")
                                       .translate(_URLSAFE))
        except (binascii.Error, ValueError):
            continue
        if readable(data):
            return len(data), "base64"
    return 0, ""


TEXT_MIN_BITS: Final = 48.0  # a label's bits from which the scorer tries decoding it


def text_payload(scored: tuple[LabelScore, ...], customer: bool,
                 decodable: frozenset[str]) -> tuple[int, int, str]:
    """(bytes, label index, encoding) of the longest readable text a scored label of a kind
    in `decodable` decodes to (a customer's last label, seen only by its platform, aside)."""
    best = (0, 0, "")
    last = len(scored) - 1
    for i, s in enumerate(scored):
        if s.bits < TEXT_MIN_BITS or (customer and i == last) or s.kind not in decodable:
            continue
        for token in s.label.replace("_", "-").split("-"):
            size, enc = decoded_text(token)
            if size > best[0]:
                best = (size, s.position, enc)
    return best


_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
# base32 digits as the digits of int(..., 32): A-Z2-7 -> 0-9a-v
_B32_AS_INT: Final = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                              b"0123456789abcdefghijklmnopqrstuv")
_B32_TAIL_BYTES: Final = {0: 0, 2: 1, 4: 2, 5: 3, 7: 4}  # bytes a 0/2/4/5/7-character tail holds


def _b32decode(part: str) -> bytes:
    """`base64.b32decode(part + padding)` for upper-case base32 `part` cut to a length that
    padding makes valid (decoded_text does), as one C-level int conversion instead of
    base64's loop over characters: the padded tail's bits are zeros, as there."""
    if not part:
        return b""
    tail = len(part) % 8
    padded = part.encode("ascii").translate(_B32_AS_INT) + b"0" * (-len(part) % 8)
    data = int(padded, 32).to_bytes(len(padded) * 5 // 8, "big")
    return data[: len(part) // 8 * 5 + _B32_TAIL_BYTES[tail]]
# base32 tails that can end a padded group (2, 4, 5 or 7 characters), else cut
_B32_KEEP: Final = (0, 0, 2, 2, 4, 5, 5, 7)


def _punycode_ok(label: str) -> bool:
    try:
        label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return False
    return True


class LabelScore(NamedTuple):
    """One scored label. `position` counts from the left of the whole name, from 1."""

    position: int
    label: str
    bits: float
    kind: str

    def describe(self) -> str:
        """`label 2: 41 chars, 5.0 bits/char, base32 alphabet`: what made it look like data."""
        n = len(self.label)
        per = self.bits / n if n else 0.0
        what = _KIND_WORDS.get(self.kind) or f"{self.kind} alphabet"
        return f"label {self.position}: {n} chars, {per:.1f} bits/char, {what}"


# how `describe` names a kind (any other is `<kind> alphabet`): built once, not per call
_KIND_WORDS: Final = {"word": "reads as words", "letters": "letters that are not words",
               "digits": "digits", "word-number": "words and numbers", "idn": "punycode",
               "mixed-case": "mixed-case alphabet"}

# -- what a label can carry at most: the budget's charge -----------------------------------------

_DIGITS: Final = frozenset("0123456789")
_LOWER: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER_SET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEPARATORS: Final = frozenset("-_")
# (alphabet, its size) from the smallest up: a label is priced by the first that holds it.
_ALPHABETS: Final[tuple[tuple[frozenset[str], int], ...]] = tuple(
    (frozenset(chars), size) for chars, size in (
        (_DIGITS, 10),
        (_DIGITS | frozenset("abcdef"), 16), (_DIGITS | frozenset("ABCDEF"), 16),
        (_LOWER, 26), (_UPPER_SET, 26),
        (frozenset("abcdefghijklmnopqrstuvwxyz234567"), 32),
        (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32),
        (_LOWER | _DIGITS, 36), (_UPPER_SET | _DIGITS, 36),
        (_LOWER | _DIGITS | _SEPARATORS, 38), (_UPPER_SET | _DIGITS | _SEPARATORS, 38),
        (_LOWER | _UPPER_SET | _DIGITS, 62),
        (_LOWER | _UPPER_SET | _DIGITS | _SEPARATORS, 64),
    ))
_ANY_BITS: Final = math.log2(94)  # any printable ASCII but the dot (malformed names are not charged)
_ALPHABET_LOG2: Final = {size: math.log2(size) for _, size in _ALPHABETS}
# Which of the alphabets (or none of them) a new label is drawn from: the sender chooses it.
ALPHABET_CHOICE_BITS: Final = math.log2(len(_ALPHABETS) + 1)


def label_capacity(label: str) -> float:
    """The most a label can carry, in bits: its length times log2 of the smallest common
    alphabet holding all its characters (digits 10, hex 16, one-case letters 26, base32 32,
    one-case letters and digits 36, the same with `-`/`_` 38, mixed case 62, mixed case with
    `-`/`_` 64, anything else 94). Unlike `bits` (an estimate of what an ordinary label
    carries: ~1 bit per letter of a word) this bounds what a sender choosing the label can
    put in it, so it is what the budget charges."""
    chars = frozenset(label)
    for alphabet, size in _ALPHABETS:
        if chars <= alphabet:
            return len(label) * _ALPHABET_LOG2[size]
    return len(label) * _ANY_BITS


def score_label(label: str, index: int) -> LabelScore:
    if "-" not in label and "_" not in label:  # no `xn--` label either
        bits, kind = token_bits(label)
        return _new(LabelScore, (index, label, bits, kind))
    if label[:4] in ("xn--", "XN--", "Xn--", "xN--") and _punycode_ok(label):
        return _new(LabelScore, (index, label, len(label) * IDN_BITS, "idn"))
    total = 0.0
    kind = "word"
    best = -1.0
    ascii_label = label.isascii()
    for token in (label.replace("_", "-") if "_" in label else label).split("-"):
        if not token:
            continue
        # the usual tokens of a dashed label (`us`, `east`, `1`, `fips`) priced inline:
        # exactly what token_bits says of them
        if ascii_label and token.islower() and token.isalnum():  # one-case letters (digits)
            n = len(token)
            if not token.isalpha():
                bits, k = alnum_bits(token, n)
            elif n <= 5:
                bits, k = n * ABBREV_BITS, "word"
            elif wordiness(token) >= WORDINESS_MIN:
                bits, k = n * WORD_BITS, "word"
            else:
                bits, k = n * LETTER_BITS, "letters"
        elif ascii_label and token.isdigit():
            bits, k = len(token) * DIGIT_BITS, "digits"
        else:
            bits, k = token_bits(token)
        total += bits
        if bits > best:
            best, kind = bits, k
    return _new(LabelScore, (index, label, total, kind))


_new: Final = tuple.__new__  # a NamedTuple built without its Python-level __new__ (the hot path)
_RNE: Final = 6755399441055744.0  # 1.5 * 2**52: adding and removing it rounds a float to an integer


def round1(x: float) -> float:
    """`round(x, 1)`, exactly, without its decimal conversion (the scorer's hot path).

    round(x, 1) is the float nearest K/10, K the integer nearest 10x (ties to even). y = 10x
    as a float is within 2**-23 of 10x below 1e9, and y + 1.5*2**52 - 1.5*2**52 is y rounded
    to an integer r (ties to even, pure float arithmetic): when y is not within 0.0001 of a
    tie, r is K, and r / 10 (IEEE division, correctly rounded) is the float nearest K/10.
    Anything else (a near-tie, 0, negative, huge) is left to round itself."""
    y = x * 10.0
    r = (y + _RNE) - _RNE
    if 0.0 < y < 1e9 and -0.4999 < y - r < 0.4999:
        return r / 10.0
    return round(x, 1)


__all__ = ["ALPHABET_CHOICE_BITS", "BITS_PER_CHAR", "LETTER_BITS", "TEXT_MIN_BITS", "LabelScore",
           "alnum_bits", "decoded_text", "label_capacity", "readable", "round1", "score_label",
           "text_payload", "token_bits"]
