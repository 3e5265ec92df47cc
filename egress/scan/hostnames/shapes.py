"""Tunnel tools' documented packet layouts in a name: the scorer's `tool-shape` signal."""

from __future__ import annotations

from typing import Final

from egress.scan.hostnames.labels import WORDINESS_MIN, LabelScore, kept
from egress.scan.hostnames.words import wordiness

_HEX_BYTES: Final = b"0123456789abcdef"
_KEPT_HEX: Final = kept(_HEX_BYTES)
# dnscat2 (doc/protocol.md): every packet starts packet_id(2) type(1) session(2), hex-encoded
# in the name; the type byte is SYN 00, MSG 01, FIN 02, ENC 03 or PING ff.
_DNSCAT_TYPES: Final = ("00", "01", "02", "03", "ff")


def tool_shape(scored: tuple[LabelScore, ...]) -> str:
    """The name of a tunnel tool whose documented packet layout the name follows, or ''."""
    if scored[0].kind != "hex":
        return "dnscat2" if scored[0].label.lower() == "dnscat" else ""
    # its type byte first: most hex names are no dnscat2 packet (a first label that is not
    # all hex is none either, whatever these two characters are)
    if scored[0].label.lower()[4:6] not in _DNSCAT_TYPES:
        return ""
    # the packet is hex split over the leading labels, the last piece as short as one
    # character (`...a0.e.example.com`): every leading all-hex label is part of it. The
    # zone's own labels may be hex letters too (`a.b.example.com`): any run of the leading
    # labels that makes whole bytes will do, but a lone 32 or 40-character label is as
    # likely an MD5 or SHA-1 content hash
    size = 0
    for s in scored:
        lower = s.label.lower()
        # all hex? (a C-level bytes translate, not a set hashing each character)
        if not lower.isascii() or 1 in lower.encode().translate(_KEPT_HEX):
            break
        size += len(lower)
        if size >= 18 and size % 2 == 0 and size not in (32, 40):
            return "dnscat2"
    return ""


# iodine 0.7.0 (doc/proto_00000502.txt, the packet layouts of src/client.c): every control
# packet is one label, a command letter then fixed fields in iodine's own base32 (a-z0-5,
# 5 bits a character, the last one padded with zero bits) ending in a 16-bit counter (CMC).
# A user id is 0-15 (4 bits), so the field that holds it starts with known zero bits; a
# downstream sequence number is 3 bits, a fragment size at most 2047 (11 bits).
_IODINE_B32: Final = frozenset("abcdefghijklmnopqrstuvwxyz012345")
_B32_VALUE: Final = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz012345")}
_EVEN_PADDED: Final = frozenset("aiqy")       # value with its low 3 bits zero (2 payload bits)
_UID_LOW_BITS: Final = frozenset(c for c, v in _B32_VALUE.items() if not v & 0b10)


def iodine_version(label: str) -> bool:
    """`v` + base32 of 6 bytes: the protocol version 0x00000502 and the CMC (11 chars):
    the first 6 characters after `v` are fixed, `aaaaka` + one of q-x."""
    lower = label.lower()
    return (lower[:7] == "vaaaaka" and "q" <= lower[7] <= "x"
            and _IODINE_B32.issuperset(lower[8:]))


def _iodine_ping(lower: str) -> bool:
    # `p` + base32 of 4 bytes (32 bits in 7 characters): user id (0000uuuu), downstream
    # seqno/fragment (0sssffff), CMC. So: `p`, a|b (0000u), a value whose bit 1 is zero
    # (uuu + 0 + s), 4 free characters, and a last one carrying 2 bits (a, i, q or y).
    return (lower[1] in "ab" and lower[2] in _UID_LOW_BITS and lower[7] in _EVEN_PADDED
            and _IODINE_B32.issuperset(lower))


def _iodine_login(lower: str) -> bool:
    # `l` + base32 of 19 bytes (152 bits in 31 characters): user id, the 16-byte MD5 login
    # hash, CMC: `l`, `a` (the user id's top 5 bits are zero), 29 free, a|i|q|y.
    return lower[1] == "a" and lower[31] in _EVEN_PADDED and _IODINE_B32.issuperset(lower)


def _iodine_fragsize(lower: str) -> bool:
    # `n` + base32 of 5 bytes (40 bits, 8 characters): user id, fragment size (16 bits,
    # at most 2047), CMC: `n`, `a`, a value of uuu00 (a multiple of 4), one of a-d (the
    # size's bits 13-9, of which 13-11 are zero), 5 free.
    return (lower[1] == "a" and _B32_VALUE.get(lower[2], 1) % 4 == 0 and lower[3] in "abcd"
            and _IODINE_B32.issuperset(lower))


# Not here: iodine's 5- and 6-character packets (IP request `i`, options `o`, codec switch
# `s`, downstream codec check `y`: a command letter, one or two fixed characters and a 3-char
# counter). Too short to tell on their own: `oauth2` fits the options packet, `yubico` the
# codec check, and 1 in 600-10,000 random 6-character ids fits one of them. The budget's
# closed zone (a refused name closes it) catches them after the session's first refusal.
# (length, command letter) -> (test, what the explanation calls it)
_IODINE_PACKETS: Final = {
    (8, "p"): (_iodine_ping, "iodine ping (p + 7 base32 chars)"),
    (32, "l"): (_iodine_login, "iodine login (l + user id, MD5 hash and counter in base32)"),
    (9, "n"): (_iodine_fragsize, "iodine fragment size (n + 8 base32 chars)"),
    (11, "v"): (iodine_version, "iodine version handshake"),
}

# dns2tcp 0.5.2 (common/includes/packet.h, client/requests.c): a query's first labels are
# base64 (A-Z a-z 0-9 + /, no padding) of a 7-byte header (session id, ack seq, seq: 16 bits
# each; type: 8 bits) and the data. A poll carries no data: exactly 10 characters, the last
# holding the type's 2 low bits and 4 zero bits. Without data the type is one of OK 0,
# DESAUTH 1, ERR 2, NOP 4, CHECK_MTU 6, with or without ACK (0x10) / NACK (0x20).
_B64_VALUE: Final = {c: i for i, c in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_DNS2TCP_POLL_TYPES: Final = frozenset(base | flags for base in (0, 1, 2, 4, 6)
                                for flags in (0, 0x10, 0x20))


def _dns2tcp_poll(label: str) -> bool:
    if not label.isalnum() or label.islower():
        return False  # a lower-case label cannot end in a valid type (its last two are A-G)
    last = _B64_VALUE[label[9]]
    if last & 0xF:
        return False
    return (_B64_VALUE[label[8]] << 2 | last >> 4) in _DNS2TCP_POLL_TYPES


_USER0_PING: Final = ("aa", "ab")
PACKET_LENGTHS: Final = frozenset({10, *(n for n, _ in _IODINE_PACKETS)})


def tool_packet(label: str, case_noise: bool = False) -> str:
    """What a tunnel tool's control packet `label` (a name's first) is, by its documented
    layout, or ''. Cheap: a set look-up on the length, then the first letter. `case_noise`:
    the name's case was randomised by a resolver (DNS 0x20), so the case-sensitive layout
    (dns2tcp's base64) says nothing."""
    n = len(label)
    if n not in PACKET_LENGTHS:
        return ""
    if n == 10:
        if case_noise or not (label.isascii() and _dns2tcp_poll(label)):
            return ""
        what = "dns2tcp poll (base64 of its 7-byte header, no data)"
    else:
        entry = _IODINE_PACKETS.get((n, label[:1].lower()))
        if entry is None or not entry[0](label.lower()):
            return ""
        what = entry[1]
    # letters that read as words (`payzippy`, `yubico`, `ELASTICSBA`) are a name that
    # happens to fit the layout, not a packet; but no word opens with `paa`/`pab`, a ping of
    # user 0 (the only user of most sessions), whose counter spells word-like runs for a while
    if label.isalpha() and label[1:3].lower() not in _USER0_PING \
            and wordiness(label.lower()) >= WORDINESS_MIN:
        return ""
    return what


# -- a long label in a base32 encoder's own alphabet --------------------------------------------

ENCODER_LABEL_MIN: Final = 32       # characters: shorter ids fit a 32-symbol alphabet too often
ENCODER_BITS_PER_CHAR: Final = 4.5  # estimated bits a character: random-looking, not words
_ALNUM_BYTES: Final = b"abcdefghijklmnopqrstuvwxyz0123456789"
_NOT_DIGITS: Final = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
_KEPT_ALNUM: Final = kept(_ALNUM_BYTES)      # 1 for a byte that is no lower-case letter or digit
_DIGIT: Final = kept(_NOT_DIGITS)            # 1 for a digit
_DIGIT_NOT_RFC: Final = kept(_NOT_DIGITS + b"234567")     # 1 for 0, 1, 8, 9
_DIGIT_NOT_IODINE: Final = kept(_NOT_DIGITS + b"012345")  # 1 for 6, 7, 8, 9
_HEX_FIRST: Final = frozenset(b"0123456789abcdef")


def encoder_alphabet(label: str, bits: float) -> str:
    """The base32 alphabet a long random-looking label is drawn from, or ''.

    RFC 4648 base32 (a-z 2-7) and iodine's (a-z 0-5) each leave out 4 of the 10 digits. A
    generated id of letters and digits (AppSync, Lambda URL ids: base36) uses all ten: a
    random one of 32 characters avoids either set by chance 4.3% of the time (2 x 0.889^32),
    one of 37 2.4%. An encoder's label avoids its set always. Worth ENCODER_ALPHABET_POINTS:
    with the bits it carries, a label of >= 37 characters reaches the block score on its own
    (iodine's upstream data, 37 characters at the default name length, scored 60-68)."""
    n = len(label)
    if n < ENCODER_LABEL_MIN or bits < ENCODER_BITS_PER_CHAR * n or not label.isascii():
        return ""
    # bytes: C-level tests, this runs on tunnel chunks (str's case tests scan char by char)
    raw = label.encode()
    if not (raw.islower() or raw.isupper()):
        return ""
    raw = raw.lower()
    if 1 in raw.translate(_KEPT_ALNUM):
        return ""
    # iodine's upstream data packet: user id (hex), 3 header characters, and a data counter
    # from a-z0-9 (the 5th character) before the payload: that one character may be any digit.
    # Which digits the rest holds, read from 0/1 tables (`kept`), no digit string built.
    rest = raw[:4] + raw[5:] if raw[0] in _HEX_FIRST else raw
    if 1 not in rest.translate(_DIGIT):
        return ""
    if 1 not in rest.translate(_DIGIT_NOT_RFC):
        return "only the digits of RFC 4648 base32 (a-z2-7)"
    if 1 not in rest.translate(_DIGIT_NOT_IODINE):
        return "only the digits of iodine's base32 (a-z0-5)"
    return ""
