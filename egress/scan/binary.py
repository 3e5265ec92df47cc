"""What binary data can hold that a text scanner must still see: UTF-16/UTF-32 text,
compressed payloads (gzip, zlib, bzip2, xz, zstd) and private keys in DER form.

The decoders (`egress.scan.decode`) call these on bytes that did not decode to printable
text (base64 of gzip, hex of a DER key, a UTF-16 message); the body parser calls them on
binary bodies. Everything is bounded: decompression stops at the caller's limit.
"""

from __future__ import annotations

import bz2
import lzma
import sys
import zlib

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd


# -- UTF-16 / UTF-32 without a byte order mark ----------------------------------------------

SNIFF = 4096


def utf16_encoding(data: bytes) -> str | None:
    """`utf-16-le`/`utf-16-be`/`utf-32-le`/`utf-32-be` when the NUL bytes fall where ASCII
    text in that encoding puts them (most code units of mostly-ASCII text), else None.
    Counts only a sample: a prefix is enough to tell, and the caller decodes all of it."""
    sample = data[:SNIFF]
    n = len(sample)
    if n < 8 or sample.count(0) < n // 3:
        return None
    quads = [sample[i::4].count(0) for i in range(4)]
    q = n // 4
    if q and quads[1] >= q * 0.7 and quads[2] >= q * 0.7 and quads[3] >= q * 0.7 and quads[0] < q * 0.3:
        return "utf-32-le"
    if q and quads[0] >= q * 0.7 and quads[1] >= q * 0.7 and quads[2] >= q * 0.7 and quads[3] < q * 0.3:
        return "utf-32-be"
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = n // 2
    if odd >= half * 0.6 and even < half * 0.2:
        return "utf-16-le"
    if even >= half * 0.6 and odd < half * 0.2:
        return "utf-16-be"
    return None


def wide_text(data: bytes) -> str | None:
    """`data` decoded as the UTF-16/32 variant its NUL pattern names, or None."""
    encoding = utf16_encoding(data)
    if encoding is None:
        return None
    width = 4 if encoding.startswith("utf-32") else 2
    usable = data[: len(data) - len(data) % width]
    return usable.decode(encoding, "replace")


# -- compressed payloads --------------------------------------------------------------------

class TooLarge(Exception):
    """Decompressing would produce more than the caller allowed."""


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
# zlib: CMF 0x78 with a FLG byte that makes the header a multiple of 31.
_ZLIB_SECOND = frozenset(b for b in range(256) if (0x78 * 256 + b) % 31 == 0)


def compression_of(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 2 and data[0] == 0x78 and data[1] in _ZLIB_SECOND:
        return "zlib"
    return None


def decompress(data: bytes, limit: int) -> tuple[str, bytes] | None:
    """(format, output) of a compressed payload, at most `limit` bytes of output. None when
    `data` is not compressed or is corrupt (a truncated stream gives what it decoded);
    `TooLarge` when the output would exceed `limit`."""
    kind = compression_of(data)
    if kind is None:
        return None
    try:
        out = _decompress(kind, data, limit + 1)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, zstd.ZstdError, ValueError):
        return None
    if len(out) > limit:
        raise TooLarge(kind)
    return (kind, out) if out else None


def _decompress(kind: str, data: bytes, cap: int) -> bytes:
    if kind in ("gzip", "zlib"):
        d = zlib.decompressobj(31 if kind == "gzip" else 15)
        return d.decompress(data, cap)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(data, cap)
    if kind == "xz":
        return lzma.LZMADecompressor().decompress(data, cap)
    # The same zstd implementation as content decoding (`egress.decompress`).
    return zstd.ZstdDecompressor().decompress(data, max_length=cap)


# -- DER private keys -----------------------------------------------------------------------

# Key algorithms of a PKCS#8 PrivateKeyInfo (DER of the OID body).
_KEY_ALGORITHMS = (
    bytes.fromhex("2a864886f70d010101"),  # rsaEncryption
    bytes.fromhex("2a864886f70d01010a"),  # RSASSA-PSS
    bytes.fromhex("2a8648ce3d0201"),      # ecPublicKey
    bytes.fromhex("2a8648ce380401"),      # DSA
    bytes.fromhex("2a864886f70d010301"),  # DH
    bytes.fromhex("2b656e"), bytes.fromhex("2b656f"),  # X25519, X448
    bytes.fromhex("2b6570"), bytes.fromhex("2b6571"),  # Ed25519, Ed448
)
# Password-based encryption schemes of an EncryptedPrivateKeyInfo (PKCS#5, PKCS#12 PBE).
_PBE_PREFIXES = (bytes.fromhex("2a864886f70d0105"), bytes.fromhex("2a864886f70d010c01"))
OPENSSH_MAGIC = b"openssh-key-v1\x00"


def _tlv(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(tag, start of contents, length) of the DER element at `pos`; the contents may run
    past the end of `data` (a truncated key still shows its structure)."""
    if pos + 2 > len(data):
        return None
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        return tag, pos, first
    width = first & 0x7F
    if not 1 <= width <= 3 or pos + width > len(data):
        return None
    length = int.from_bytes(data[pos:pos + width], "big")
    if length < 0x80:
        return None  # not minimal: DER never encodes a short length in long form
    return tag, pos + width, length


def der_private_key(data: bytes) -> str | None:
    """The PEM label of a private key in DER (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE
    KEY`, `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`), or None. Only the first elements
    are read, so a key cut in half is still recognised; public keys and certificates, whose
    first element is not a version number, are not."""
    if data.startswith(OPENSSH_MAGIC):
        return "OPENSSH PRIVATE KEY"
    outer = _tlv(data, 0)
    if outer is None or outer[0] != 0x30 or outer[2] < 40:
        return None
    first = _tlv(data, outer[1])
    if first is None:
        return None
    tag, start, length = first
    if tag == 0x30:  # EncryptedPrivateKeyInfo: AlgorithmIdentifier first
        oid = _tlv(data, start)
        if oid is None or oid[0] != 0x06:
            return None
        body = data[oid[1]:oid[1] + oid[2]]
        return "ENCRYPTED PRIVATE KEY" if body.startswith(_PBE_PREFIXES) else None
    if tag != 0x02 or length != 1 or start >= len(data) or data[start] not in (0, 1):
        return None
    version = data[start]
    second = _tlv(data, start + 1)
    if second is None:
        return None
    if second[0] == 0x30:  # PKCS#8 PrivateKeyInfo / OneAsymmetricKey
        oid = _tlv(data, second[1])
        if oid is None or oid[0] != 0x06:
            return None
        return "PRIVATE KEY" if data[oid[1]:oid[1] + oid[2]] in _KEY_ALGORITHMS else None
    if second[0] == 0x04 and version == 1 and 16 <= second[2] <= 72:  # SEC1 ECPrivateKey
        return "EC PRIVATE KEY"
    if second[0] == 0x02 and version == 0 and second[2] >= 64:  # PKCS#1 RSA (or DSA): n first
        third = _tlv(data, second[1] + second[2])
        return "RSA PRIVATE KEY" if third is None or third[0] == 0x02 else None
    return None


def structured(data: bytes) -> bool:
    """Cheap test: could `binary_text` find more than printable runs in `data`?"""
    return (compression_of(data) is not None or data[:1] == b"\x30"
            or data.startswith(OPENSSH_MAGIC) or utf16_encoding(data) is not None)
