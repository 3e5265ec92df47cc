"""Unicode normalisation shared by every text scanner (DLP, MCP, injection, hostnames).

Evasions it undoes, each with a regression test in tests/test_normalize.py:
- invisible and format characters inserted inside a token (zero-width space/joiners, word
  joiner, BOM, soft hyphen, bidi embeddings/overrides/isolates, Unicode tag characters,
  variation selectors, Mongolian vowel separator, Hangul fillers, combining grapheme joiner);
- compatibility forms (fullwidth `ｇｈｐ＿`, ligatures, circled/math letters) via NFKC;
- Latin look-alikes from Cyrillic, Greek and other scripts (`ghр_` with a Cyrillic `р`).

`for_secrets()` goes one step further for scanners of secrets, whose characters are ASCII:
combining marks are removed from Latin letters and digits (`gh\u0301p_`, `ghṕ_`), which
prose scanners must not do (they keep accents for their own folds).

ASCII text takes a fast path and is returned unchanged.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space/non-joiner/joiner, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # BOM / zero-width no-break space
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
    (0x1D173, 0x1D17A),  # musical symbol formatting
    (0xE0000, 0xE007F),  # tag characters ("ASCII smuggling")
    (0xE0100, 0xE01EF),  # variation selectors supplement
)

_INVISIBLE_RE = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _INVISIBLE_RANGES) + "]"
)

# Look-alikes NFKC leaves alone, folded to the Latin letter they imitate.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ӏ": "l", "ү": "y", "ս": "u", "օ": "o",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ѕ": "S", "І": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin extensions and symbols that read as ASCII letters
    "ı": "i", "ȷ": "j", "ſ": "s", "ɑ": "a", "ɩ": "i", "ʏ": "y", "ᴀ": "A", "ᴄ": "c", "ᴏ": "o",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ℓ": "l", "∕": "/", "⁄": "/", "‐": "-", "‑": "-",
    "‒": "-", "–": "-", "—": "-", "−": "-", "˗": "-", "＿": "_",
}
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)
# `str.translate` looks every character up in a dict: on long non-ASCII text (decoded JSON
# strings) a search for any look-alike first is many times faster when there is none.
_CONFUSABLE_RE = re.compile("[" + re.escape("".join(_CONFUSABLES)) + "]")
_CONFUSABLE_RUN_RE = re.compile(_CONFUSABLE_RE.pattern + "+")
_DENSITY_SAMPLE = 65536


def strip_invisible(text: str) -> str:
    return _INVISIBLE_RE.sub("", text)


def invisible_to_space(text: str) -> str:
    """For prose scanners: an invisible character between words still separates them."""
    return _INVISIBLE_RE.sub(" ", text)


def has_invisible(text: str) -> bool:
    return not text.isascii() and _INVISIBLE_RE.search(text) is not None


def fold_confusables(text: str) -> str:
    if _CONFUSABLE_RE.search(text) is None:
        return text
    # Where look-alikes are rare (an em dash here and there: LLM prose is full of them) only
    # their runs are translated, instead of sending every character through the dict lookup;
    # text dense with them (Cyrillic, Greek) is translated whole, which is then cheaper.
    sample = text[:_DENSITY_SAMPLE]
    if len(_CONFUSABLE_RE.findall(sample)) * 64 > len(sample):
        return text.translate(_CONFUSABLE_TABLE)
    return _CONFUSABLE_RUN_RE.sub(_fold_run, text)


def _fold_run(run: re.Match[str]) -> str:
    return run.group().translate(_CONFUSABLE_TABLE)


def normalize(text: str) -> str:
    """Invisible characters removed, NFKC, look-alikes folded. ASCII is returned as is."""
    if text.isascii():
        return text
    text = strip_invisible(text)
    text = unicodedata.normalize("NFKC", text)
    # NFKC can produce new invisible characters (rare) and leaves look-alikes alone.
    return fold_confusables(strip_invisible(text))


# Latin letters that carry a mark (precomposed), and combining marks on their own.
_MARKED = re.compile("[\u00c0-\u024f\u1e00-\u1eff]|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff"
                     "\u20d0-\u20ff\ufe20-\ufe2f]+")


@functools.lru_cache(maxsize=4096)
def _unmarked(chars: str) -> str:
    """`chars` without its combining marks; a mark alone is dropped, a letter such as `ø` or
    `ß` that has no decomposition stays as it is."""
    decomposed = unicodedata.normalize("NFD", chars)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_marks(text: str) -> str:
    """Combining marks removed from Latin letters and digits (`é` -> `e`, `b\u0301` -> `b`)."""
    if text.isascii():
        return text
    return _MARKED.sub(lambda m: _unmarked(m.group()), text)


def for_secrets(text: str) -> str:
    """`normalize()` and `fold_marks()`: the view of a text that secret scanners read.

    Only the non-ASCII runs are normalised, each with the character before it (a combining
    mark, or one that an invisible character kept apart, composes with it): every step is
    the identity on ASCII, and no ASCII character composes with what precedes it (checked
    over all of Unicode: no canonical pair ends in ASCII, and NFKC(c + ascii) is NFKC(c) +
    ascii for every c), so the result is the whole text's, character for character
    (`tests/test_normalize_fast.py` checks it against `_for_secrets_whole`). A body of
    ASCII with an em dash here and there no longer sends a megabyte through four passes."""
    if text.isascii():
        return text
    if len(text) <= _TINY:
        # A JSON escape token decodes to one character (`\\u0652`); the same ones recur.
        return _tiny(text)
    if _REPLACEMENT_KEPT and text.replace("\ufffd", "").isascii():
        # ASCII with U+FFFD (a byte that is not UTF-8, `req=8d…` read as quoted-printable):
        # every run of U+FFFD is left as it is with the character before it (checked below,
        # where this module is loaded), so the whole is unchanged, run by run.
        return text
    if len(text) <= _SHORT:
        # A decoded token (`req=C3…` read as quoted-printable): one pass over it costs less
        # than finding its runs first, and gives the same (see above).
        return _for_secrets_whole(text)
    return _by_runs(text)


def _by_runs(text: str) -> str:
    """`for_secrets` of a text that is not ASCII, run by run (or whole, when dense)."""
    runs = non_ascii_runs(text)
    if len(runs) > _FEW_RUNS and len(runs) * 32 > len(text):
        return _for_secrets_whole(text)  # dense (CJK, Cyrillic prose): one pass is cheaper
    pieces: list[str] = []
    last = 0
    for start, end in runs:
        start = max(start - 1, last)  # the run's predecessor, an ASCII character
        pieces.append(text[last:start])
        pieces.append(_for_secrets_whole(text[start:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def non_ascii_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each maximal run of non-ASCII characters. The regex runs only over
    the pieces `str.isascii` (C, many times faster than a regex search) finds not ASCII:
    chunks first, then the pieces of each chunk that is not. A stretch of consecutive
    pieces that are not ASCII is searched up to its end (`endpos`): the character there
    (and the one before its start) is ASCII, so no run crosses either edge, and the runs
    found are the whole text's. (An em dash in every chunk of prose no longer sends the
    whole text through the regex.)"""
    runs: list[tuple[int, int]] = []
    n = len(text)
    start = -1  # where the stretch of pieces that are not ASCII began, if one is open
    for pos in range(0, n, _CHUNK):
        if text[pos:pos + _CHUNK].isascii():
            if start >= 0:
                runs += [m.span() for m in _NON_ASCII_RUN.finditer(text, start, pos)]
                start = -1
            continue
        for q in range(pos, min(pos + _CHUNK, n), _PIECE):
            if not text[q:q + _PIECE].isascii():
                start = q if start < 0 else start
            elif start >= 0:
                runs += [m.span() for m in _NON_ASCII_RUN.finditer(text, start, q)]
                start = -1
    if start >= 0:
        runs += [m.span() for m in _NON_ASCII_RUN.finditer(text, start, n)]
    return runs


def _for_secrets_whole(text: str) -> str:
    return fold_marks(normalize(text))


# Texts this short are normalised once each (`_tiny`): pure, and cached.
_TINY = 8
_tiny = functools.lru_cache(maxsize=8192)(_for_secrets_whole)
# Whether U+FFFD, in a run of its own after an ASCII character, normalises to itself.
_REPLACEMENT_KEPT = all(_for_secrets_whole(t) == t for t in ("\ufffd", "a\ufffd", "a\ufffd\ufffd",
                                                               "\ufffd\ufffd", " \ufffd"))


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# Below this many non-ASCII runs a text is normalised run by run whatever its density.
_FEW_RUNS = 64
# Non-ASCII texts this short or shorter are normalised in one pass.
_SHORT = 256
_CHUNK = 2048
_PIECE = 64  # a chunk that is not ASCII is looked at in pieces this long


# -- folds for prose scanners (MCP tool poisoning, prompt injection) -------------------------
# Secret scanners must not use these: they change characters a token is made of.

_LEET_TABLE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                             "$": "s", "!": "i", "|": "l", "+": "t"})
# A digit or symbol between letters, or leading into letters: the shape of `1gn0r3` or `@ll`.
_LEET_SHAPE = re.compile(r"[a-z][0-9@$!|+]|[0-9@$!|+][a-z]", re.IGNORECASE)


def fold_leet(text: str) -> str:
    """`1gn0r3 4ll pr3v10us` -> `ignore all previous`. Only words that mix letters with
    digits or symbols are folded, so numbers, versions and prices stay as they are."""
    if not _LEET_SHAPE.search(text):
        return text
    return re.sub(r"\S+", lambda m: m.group(0).translate(_LEET_TABLE)
                  if _LEET_SHAPE.search(m.group(0)) else m.group(0), text)


def fold_accents(text: str) -> str:
    """`précédentes` -> `precedentes`, `Ａnweisungen` stays NFKC's job. Non-Latin scripts keep
    their letters; only combining marks are dropped."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def decode_tag_characters(text: str) -> str | None:
    """Unicode tag characters U+E0020-U+E007E spell ASCII invisibly ("ASCII smuggling");
    return the hidden ASCII they spell, or None when there is none."""
    if text.isascii():
        return None
    hidden = "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0020 <= ord(c) <= 0xE007E)
    return hidden or None
