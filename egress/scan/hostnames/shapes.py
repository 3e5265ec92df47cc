"""Tunnel tools' documented packet layouts in a name: the scorer's `tool-shape` signal."""

from __future__ import annotations

from egress.scan.hostnames.labels import LabelScore

_HEX = frozenset("0123456789abcdef")
# dnscat2 (doc/protocol.md): every packet starts packet_id(2) type(1) session(2), hex-encoded
# in the name; the type byte is SYN 00, MSG 01, FIN 02, ENC 03 or PING ff.
_DNSCAT_TYPES = ("00", "01", "02", "03", "ff")


def tool_shape(scored: tuple[LabelScore, ...]) -> str:
    """The name of a tunnel tool whose documented packet layout the name follows, or ''."""
    if scored[0].kind != "hex":
        return "dnscat2" if scored[0].label.lower() == "dnscat" else ""
    # the packet is hex split over the leading labels, the last piece as short as one
    # character (`...a0.e.example.com`): every leading all-hex label is part of it
    data = []
    for s in scored:
        lower = s.label.lower()
        if not _HEX.issuperset(lower):
            break
        data.append(lower)
    if not data:
        return ""
    if data[0][4:6] not in _DNSCAT_TYPES:
        return ""
    # the zone's own labels may be hex letters too (`a.b.example.com`): any run of the
    # leading labels that makes whole bytes will do, but a lone 32 or 40-character label
    # is as likely an MD5 or SHA-1 content hash
    size = 0
    for piece in data:
        size += len(piece)
        if size >= 18 and size % 2 == 0 and size not in (32, 40):
            return "dnscat2"
    return ""


# iodine (doc/proto_00000502.txt): a session opens with `v` + base32 (iodine's alphabet a-z0-5)
# of the 4-byte protocol version 0x00000502 and a 2-byte counter: the first 6 characters
# after `v` are fixed, `aaaaka` + one of q-x. No host label is spelled so by chance.
_IODINE_B32 = frozenset("abcdefghijklmnopqrstuvwxyz012345")


def iodine_version(label: str) -> bool:
    lower = label.lower()
    return (lower[:7] == "vaaaaka" and "q" <= lower[7] <= "x"
            and _IODINE_B32.issuperset(lower[8:]))
