"""The normalisation views rules run on, and the decoding of hidden segments.

Each view undoes one evasion class: invisible characters (removed, or turned into spaces), NFKC,
Latin look-alikes, accents and case folded, leetspeak, HTML entities, percent-escapes; base64
and hex segments and Unicode tag characters are decoded and rescanned by the scanner.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote

from egress.scan.normalize import fold_accents, fold_leet, invisible_to_space, normalize, strip_invisible

MAX_SEGMENTS = 16
MAX_SEGMENT_CHARS = 64 * 1024


# Whitespace-collapsed forms of the most common overrides: letters only, separators removed.
_COMPACT = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)(?:all|any|the|your|every)*(?:previous|prior|above|"
    r"preceding|earlier|former|original|system)(?:instructions?|prompts?|rules|directives|guidelines|"
    r"context|messages)|(?:newinstructions|systemprompt|developermode|jailbreak|doanythingnow)(?:is|are|"
    r"follow|enabled|activated)|youarenow(?:in)?(?:developer|dan|jailbreak|unrestricted|admin|god)mode|"
    r"(?:reveal|output|print|send|leak)(?:me)?(?:the|your|all)+(?:systemprompt|apikeys?|passwords?|"
    r"secrets|credentials|tokens)|(?:do|must)not(?:tell|inform|notify)theuser")
_COMPACT_OVERRIDE = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)(?:all|any|the|your|every)*(?:previous|prior|above|"
    r"preceding|earlier|former|original|system)(?:instructions?|prompts?|rules|directives|guidelines)")
# Words cut by hyphens or underscores inside them ("ig-nore", "IGNORE_ALL").
_WORD_SPLIT = re.compile(r"[a-z]{2}[-_·.][a-z]{2,}[-_·.][a-z]")
# Letters separated by spaces, dots, dashes or underscores, four or more in a row.
_SPLIT_LETTERS = re.compile(r"(?:\b\w[\s.\-_*·|/\\]{1,3}){4,}\w\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}){12,}(?![0-9a-fA-F])")
# Spaces and tabs collapse to one space; line breaks survive (line-start rules need them).
_WS = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r" ?\n[\s]*")
_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9a-f]{2,6}|[a-z]{2,8});", re.IGNORECASE)
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
# From a word's start, possessive: no retry from inside a word (seven times faster, same runs).
_JOINED = re.compile(r"(?<![^\s_])[^\s_]++(?:_[^\s_]++){5,}")
_NOT_ALNUM = re.compile(r"[\W_]+")
_LONG_WORD = re.compile(r"[a-z]{24,}")
# A letter, then digits or symbols, then a letter: `1gn0r3`, `pr3v10us`, `@ll`.
_LEET_CHAR = re.compile(r"[0-9@$!|+]")
_LEET_WORD = re.compile(r"(?:^|\s)[a-z0-9@$!|+]*[a-z][0-9@$!|+]+[a-z][a-z0-9@$!|+]*(?=\s|$)")


def _collapse(text: str) -> str:
    return _BLANK_LINES.sub("\n", _WS.sub(" ", text))


def _fold(text: str) -> str:
    return _collapse(fold_accents(text).casefold())


def _printable_text(raw: bytes) -> str | None:
    """Decoded bytes that read as text (the only kind worth rescanning)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    if printable < 0.9 * len(text) or not any(c.isalpha() for c in text):
        return None
    return text


def decoded_segments(text: str) -> Iterator[tuple[str, str]]:
    """(encoding, decoded text) for base64 and hex segments that decode to readable text."""
    seen = 0
    for m in _HEX.finditer(text):
        if seen >= MAX_SEGMENTS:
            return
        seg = m.group(0)[:MAX_SEGMENT_CHARS]
        decoded = _printable_text(binascii.unhexlify(seg[: len(seg) // 2 * 2]))
        if decoded is not None:
            seen += 1
            yield "hex", decoded
    for m in _BASE64.finditer(text):
        if seen >= MAX_SEGMENTS:
            return
        seg = m.group(0)[:MAX_SEGMENT_CHARS]
        if seg.isdigit() or (seg.isalpha() and (seg.islower() or seg.isupper())):
            continue  # identifiers and numbers, not base64
        core = seg.rstrip("=")
        padded = core + "=" * (-len(core) % 4)
        try:
            raw = base64.b64decode(padded, altchars=b"-_" if ("-" in core or "_" in core) else None,
                                   validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _printable_text(raw)
        if decoded is not None:
            seen += 1
            yield "base64", decoded


def views(text: str, folded: str | None = None) -> Iterator[tuple[str, str, bool]]:
    """(view name, text to match, latin-folded) for every normalisation pass worth running;
    `folded` is `fold_view(text)` when the caller has it already."""
    raw = _collapse(unicodedata.normalize("NFKC", strip_invisible(text)).casefold())
    folded = _fold(normalize(text)) if folded is None else folded
    yield "text", folded, True
    if not text.isascii():
        yield "unfolded", raw, False
        spaced = invisible_to_space(text)
        if spaced != text:
            yield "invisible-as-space", _fold(normalize(spaced)), True
    if _LEET_CHAR.search(folded) and _LEET_WORD.search(folded):
        leet = "\n".join(fold_leet(line) for line in folded.split("\n") if _LEET_WORD.search(line))
        yield "leetspeak", leet, True
    if "&" in folded and _ENTITY.search(folded):
        yield "html-entities", _fold(normalize(html.unescape(text))), True
    # Words joined by underscores in place of spaces ("system_cmd::execute_`curl_-ssl_https://..."):
    # a run of six or more, holding something no identifier holds (a quote, a slash, a dot).
    if "_" in folded and _JOINED.search(folded):
        joined = "\n".join(line.replace("_", " ") for line in folded.split("\n")
                           if any(re.search(r"[^\w]", m.group(0)) for m in _JOINED.finditer(line)))
        if joined:
            yield "underscores-as-spaces", joined, True
    if "%" in folded and _PERCENT.search(folded):
        yield "percent-decoded", _fold(normalize(unquote(text))), True


def fold_view(text: str) -> str:
    """The main view rules and the score match: normalised, folded, whitespace collapsed."""
    return _fold(normalize(text))




def compact_override(folded: str) -> str | None:
    """Letters only: `i g n o r e`, `ig-nore pre-vi-ous`, `IGNORE_ALL_PREVIOUS` all read alike.
    The compact form of an override phrase in `folded`, or None."""
    # `[\W_]` is exactly "not str.isalnum()" in `re`; one C pass, not a generator per character.
    compact = _NOT_ALNUM.sub("", folded[:MAX_SEGMENT_CHARS])
    # `_COMPACT` holds every `_COMPACT_OVERRIDE` match: without it, neither can match below.
    if _COMPACT.search(compact) is None:
        return None
    # Joined words can meet by accident ("system prompt is"): the whole set of compact
    # forms needs a sign of letter-splitting; the override phrase alone is never innocent.
    split = _SPLIT_LETTERS.search(folded) or _LONG_WORD.search(folded) or _WORD_SPLIT.search(folded)
    m = (_COMPACT if split else _COMPACT_OVERRIDE).search(compact)
    if m is None:
        return None
    # The same words with ordinary spacing ("we will never ask you to send your password") were
    # for the phrase rules to judge: only letters split inside words are this pass's business.
    spread = re.compile(r"[^a-z0-9]{0,3}".join(re.escape(c) for c in m.group(0)))
    found = spread.search(folded)
    if found is not None and all(len(w) >= 2 for w in found.group(0).split(" ")) and re.fullmatch(
            r"[a-z0-9]+(?: [a-z0-9]+)*", found.group(0)):
        return None
    return m.group(0)
