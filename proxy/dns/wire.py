"""The DNS guard's wire format: strict parsing of a client's query, the fresh query sent
upstream, the guard's own replies, and reading every record of an upstream answer.

Bytes are built by hand where they suffice (no dnslib on the hot path); dnslib parses."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import CLASS, QTYPE, DNSBuffer, DNSRecord

from egress.scan.dns import Answer, svcb_hints

MAX_QUERY_BYTES = 512          # a query carries one question of at most 255 bytes and an OPT
EDNS_UDP_SIZE = 1232           # the payload size we offer upstream (DNS flag day 2020)

OPCODE_QUERY = 0
TYPE_OPT = 41
TYPE_SVCB = 64
TYPE_HTTPS = 65


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare reply (no question) carrying the request's id, opcode and RD bit."""
    if len(data) < 12:
        return None
    flags = struct.unpack("!H", data[2:4])[0]
    opcode_rd = flags & 0x7900  # opcode bits and RD
    return data[:2] + struct.pack("!HHHHH", 0x8000 | opcode_rd | rcode, 0, 0, 0, 0)


def encode_name(labels: tuple[bytes, ...]) -> bytes:
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\x00"


def encode_query(qid: int, rd: bool, labels: tuple[bytes, ...], qtype: int, qclass: int,
                 edns: tuple[int, bool] | None) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 1 if edns else 0)
    body = encode_name(labels) + struct.pack("!HH", qtype, qclass)
    if edns is not None:
        size, do = edns
        body += b"\x00" + struct.pack("!HHIH", TYPE_OPT, size, 0x8000 if do else 0, 0)
    return header + body


def rcode_reply(request: DNSRecord, rcode: int) -> bytes:
    """The guard's own answer to `request`: its question, `rcode`, no records."""
    q = request.q
    flags = 0x8000 | (0x0100 if request.header.rd else 0) | 0x0080 | rcode  # QR, RD, RA
    return (struct.pack("!HHHHHH", request.header.id, flags, 1, 0, 0, 0)
            + encode_name(tuple(q.qname.label)) + struct.pack("!HH", q.qtype, q.qclass))


@dataclass(frozen=True, slots=True)
class Parsed:
    record: DNSRecord
    name: str
    labels: tuple[bytes, ...]
    qtype: str
    qclass: str
    edns: tuple[int, bool] | None


def parse_query(data: bytes) -> Parsed | str:
    """A strictly valid standard query, or why not (never raises)."""
    if len(data) > MAX_QUERY_BYTES:
        return f"query of {len(data)} bytes exceeds {MAX_QUERY_BYTES}"
    if len(data) < 12:
        return "shorter than a DNS header"
    try:
        record = DNSRecord.parse(data)
    except Exception as e:  # dnslib raises DNSError, BufferError, struct.error, ...
        return f"unparseable ({type(e).__name__})"
    h = record.header
    if h.qr:
        return "a response, not a query"
    if h.opcode != OPCODE_QUERY:
        return f"opcode {h.opcode} is not a standard query"
    if len(record.questions) != 1:
        return f"{len(record.questions)} questions (exactly one is answered)"
    if record.rr or record.auth:
        return "query carries answer or authority records"
    edns: tuple[int, bool] | None = None
    for rr in record.ar:
        if rr.rtype != TYPE_OPT or edns is not None:
            return "additional records other than one OPT"
        do = bool(rr.ttl & 0x8000)
        edns = (max(512, min(EDNS_UDP_SIZE, rr.rclass)), do)
    q = record.q
    labels = tuple(q.qname.label)
    if not labels:
        return "empty name (root)"
    size = sum(len(lb) + 1 for lb in labels) + 1
    if size > 255 or any(not 0 < len(lb) <= 63 for lb in labels):
        return "name or label longer than DNS allows"
    for lb in labels:
        if any(b < 0x21 or b > 0x7E or b == 0x2E for b in lb):
            return "label with bytes no hostname has"
    name = b".".join(labels).decode("ascii")
    qtype = QTYPE.get(q.qtype, f"TYPE{q.qtype}")
    qclass = CLASS.get(q.qclass, f"CLASS{q.qclass}")
    return Parsed(record, name, labels, str(qtype), str(qclass), edns)


SECTIONS = (("answer", "rr"), ("authority", "auth"), ("additional", "ar"))


def answers(record: DNSRecord) -> list[Answer]:
    """Every record of an upstream answer, all three sections (raises ValueError for a
    malformed SVCB/HTTPS record: the answer is then treated as unparseable)."""
    out = []
    for section, attr in SECTIONS:
        for rr in getattr(record, attr):
            if rr.rtype == TYPE_OPT:
                continue
            rtype = str(QTYPE.get(rr.rtype, f"TYPE{rr.rtype}"))
            owner = str(rr.rname)
            if rtype in ("A", "AAAA", "CNAME"):
                out.append(Answer(rtype, owner, str(rr.rdata), section))
            elif rr.rtype in (TYPE_SVCB, TYPE_HTTPS):
                buffer = DNSBuffer()
                rr.rdata.pack(buffer)
                out.append(Answer(rtype, owner, "", section, svcb_hints(bytes(buffer.data))))
            else:
                out.append(Answer(rtype, owner, "", section))
    return out
