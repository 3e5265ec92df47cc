"""The texts a message body can mean: its character set from the byte order mark, the
declared `charset`, the NUL pattern of UTF-16/32 and UTF-8.

A receiver may trust any of these (a BOM over the header, the header over the bytes), so
when they disagree every plausible reading is scanned: a secret must not hide behind a
`charset=utf-16` label on UTF-8 bytes, nor behind UTF-16 bytes labelled `utf-8`. The common
case (UTF-8, no BOM, no other label) costs one NUL count and one decode.
"""

from __future__ import annotations

import codecs

from egress.scan import binary
from egress.scan.decode import printable_ratio

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAME_AS_UTF8 = frozenset(("utf-8", "utf8", "ascii", "us-ascii"))


def bom(body: bytes) -> tuple[str, int] | None:
    """(encoding, length of the BOM) when `body` starts with a byte order mark."""
    for mark, name in _BOMS:
        if body.startswith(mark):
            return name, len(mark)
    return None


def codec(label: str | None) -> str | None:
    """The Python text codec a `charset=` label names, or None (unknown, or a bytes-to-bytes
    codec such as `zlib` that is no character set)."""
    if not label:
        return None
    try:
        info = codecs.lookup(label.strip().strip('"').lower())
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _decode(body: bytes, encoding: str) -> str:
    if encoding.startswith(("utf-16", "utf-32")):
        width = 4 if encoding.startswith("utf-32") else 2
        body = body[: len(body) - len(body) % width]
    return body.decode(encoding, "replace")


def utf8_text(body: bytes) -> str | None:
    """UTF-8 text, tolerating a character cut at the end (a stream window) and a few stray
    bytes in otherwise printable text; None for binary."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start >= len(body) - 3 and e.reason == "unexpected end of data":
            return body[: e.start].decode("utf-8", "replace")
        if b"\0" not in body and printable_ratio(body) >= 0.95:
            return body.decode("utf-8", "replace")
        return None


def body_texts(body: bytes, charset: str | None = None) -> list[tuple[str, str]]:
    """Every reading of `body` worth scanning, as (encoding, text), most likely first; empty
    for binary."""
    texts: list[tuple[str, str]] = []
    mark = bom(body)
    if mark is not None:
        texts.append((mark[0], _decode(body[mark[1]:], mark[0])))
    declared = codec(charset)
    if declared is not None and declared not in _SAME_AS_UTF8 and (mark is None or declared != mark[0]):
        with_bom = body[mark[1]:] if mark is not None and declared.startswith(mark[0][:6]) else body
        texts.append((declared, _decode(with_bom, declared)))
    if mark is None:
        wide = binary.utf16_encoding(body)
        if wide is not None and wide != declared:
            texts.append((wide, _decode(body, wide)))
        plain = utf8_text(body) if wide is None else None
        if plain is not None:
            texts.append(("utf-8", plain))
    seen: set[str] = set()
    out = []
    for encoding, text in texts:
        if text and text not in seen:
            seen.add(text)
            out.append((encoding, text))
    return out


def as_bytes_text(text: str, encoding: str) -> str:
    """`text` as it looks when its bytes in `encoding` are read as UTF-8 (how redaction and
    artefact scrubbing see a body): what must be replaced to remove it."""
    try:
        return text.encode(encoding).decode("utf-8", "surrogateescape")
    except (UnicodeError, LookupError):
        return text
