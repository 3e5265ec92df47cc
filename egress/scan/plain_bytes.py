"""What decoded bytes are, told cheaply (`egress.scan.decode` reads every encoded run of a
text with these): their printable share and runs, whether they are plain (neither compressed nor
structured), and which base64 runs decode to nothing a scan could read (`hopeless`).
"""

from __future__ import annotations

import binascii
import re

PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t\r\n]{8,}")
# First bytes of what `binary.structured` or `binary.compression_of` can be true of when
# the data holds no NUL (gzip, zstd, bzip2, zlib, DER; xz, OpenSSH keys and UTF-16/32 all
# hold a NUL): other data is `plain` (`tests/test_dlp_fast_paths.py` checks the set
# against `binary`).
STRUCTURED_FIRST = frozenset(bytes([b]) for b in b"\x1f\x28B\x78\x30")
# Each byte as 1 (printable, `PRINTABLE`) or 0: `printable_runs` finds runs of 8 with one
# C search (`bytes.find`) where the regex starts a match at every printable byte.
_FLAGS = bytes(1 if bytes([b]) in PRINTABLE else 0 for b in range(256))
_EIGHT = b"\x01" * 8
# `=` padding by how many characters a base64 part has past its last whole quantum.
_PADS = (b"", b"", b"==", b"=")


def plain(raw: bytes) -> bool:
    """Whether `raw` is neither compressed nor structured (`binary.structured`), nor a DER
    key or UTF-16/32: then `decode.binary_text` reads no more than its printable share or
    runs."""
    return raw[:1] not in STRUCTURED_FIRST and b"\x00" not in raw


def hopeless(data: bytes, min_printable: float) -> bool:
    """Whether `decode._b64_decode` of a run gives None, for a run that is ASCII and at
    most `decode._SAMPLE` long, as `data` (its bytes without `=`, in the `+/` alphabet):
    at each of the four offsets it decodes to `plain` bytes less printable than
    `min_printable` (no text, nothing for `binary_text` to unpack), and at offset 0 to
    fewer than 8 bytes or to bytes without a printable run of 8 (`decode.printable_runs`
    finds nothing). The tests `_b64_decode` makes, inline: a realistic megabyte holds
    hundreds of such runs (`IncrementalDecoder`, `reqV4f21df-e944-...`), and the function
    calls were most of what they cost. False whenever in doubt: the caller decodes."""
    for offset in range(4):
        part = data[offset:]
        cut = len(part) % 4
        if cut == 1:  # a lone trailing character is dropped (`decode._b64_at`)
            part, cut = part[:-1], 0
        try:
            raw = binascii.a2b_base64(part + _PADS[cut])
        except ValueError:  # binascii.Error
            return False
        n = len(raw)
        if raw[:1] in STRUCTURED_FIRST or b"\x00" in raw or (
                (1.0 - len(raw.translate(None, PRINTABLE)) / n if n else 0.0) >= min_printable):
            return False
        if not offset and n >= 8 and PRINTABLE_RUN.search(raw):
            return False
    return True


def printable_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    return 1.0 - len(data.translate(None, PRINTABLE)) / len(data)


def printable_runs(data: bytes) -> str:
    """The printable ASCII runs (8+ bytes) of binary data, one per line."""
    return "\n".join(r.decode("ascii") for r in printable_run_list(data))


def printable_run_list(data: bytes) -> list[bytes]:
    """`PRINTABLE_RUN.findall(data)`: the maximal runs of 8 or more printable bytes, in order.
    The first 8 flags of 1 at or after `pos` start the leftmost match the regex finds from
    `pos`, and the run goes on to the first 0 after them (the regex is greedy); the next
    search starts there, as `findall`'s does."""
    flags = data.translate(_FLAGS)
    out: list[bytes] = []
    pos = 0
    while (start := flags.find(_EIGHT, pos)) >= 0:
        end = flags.find(b"\x00", start + 8)
        end = len(data) if end < 0 else end
        out.append(data[start:end])
        pos = end
    return out
