"""Taking a request body apart: media type and its parameters, multipart parts, JSON string
values. Pure parsing; `egress.scan.dlp.engine` decides what to scan.

Parsers here are lenient and report what they could not make sense of instead of raising:
the body scanner then scans the raw body as well, so a body that does not parse cleanly is
never scanned less than a plain text would be.
"""

from __future__ import annotations

import base64
import binascii
import json
import quopri
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MediaType:
    type: str
    params: dict[str, list[str]]

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return self.params.get(name, [])


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def media_type(content_type: str | None) -> MediaType:
    """`multipart/form-data; boundary=a; boundary=b` -> type and every value of each
    parameter, in order (a receiver may pick any of duplicated ones)."""
    if not content_type:
        return MediaType("", {})
    head, _, rest = content_type.partition(";")
    params: dict[str, list[str]] = {}
    for m in _PARAM.finditer(";" + rest):
        value = m.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(m.group(1).lower(), []).append(value)
    return MediaType(head.strip().lower(), params)


@dataclass(frozen=True, slots=True)
class Part:
    headers: dict[str, str]
    content: bytes


@dataclass(slots=True)
class Multipart:
    parts: list[Part] = field(default_factory=list)
    # Why the body is not a clean multipart body (empty when it is).
    problems: list[str] = field(default_factory=list)


def multipart(body: bytes, boundary: str) -> Multipart:
    """The parts of a multipart body, and what about its framing is off: no part found,
    text before the first or after the closing delimiter, no closing delimiter, a part
    without a header/body separator."""
    from email.parser import BytesHeaderParser  # only multipart bodies need the email package

    out = Multipart()
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    chunks = body.split(delimiter)
    if len(chunks) < 2:
        out.problems.append("boundary not found")
        return out
    if chunks[0].strip():
        out.problems.append("preamble")
    closed = False
    for i, chunk in enumerate(chunks[1:], 1):
        if chunk.startswith(b"--"):
            closed = True
            if chunk[2:].strip() or i < len(chunks) - 1:
                out.problems.append("epilogue")
            break
        chunk = chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = chunk.partition(b"\n\n")
        if not sep:
            out.problems.append("part without headers")
            head, content = b"", chunk
        content = content.removesuffix(b"\r\n").removesuffix(b"\n")
        msg = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        headers = {k.lower(): str(val) for k, val in msg.items()}
        out.parts.append(Part(headers, content))
    if not closed:
        out.problems.append("no closing delimiter")
    return out


def disposition_param(header: str, name: str) -> str | None:
    m = re.search(rf'(?:^|;)\s*{name}\*?="?([^";]*)"?', header, re.IGNORECASE)
    return m.group(1) if m else None


def transfer_decode(content: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(content.split()))
        except (binascii.Error, ValueError):
            return content
    if encoding == "quoted-printable":
        return quopri.decodestring(content)
    return content


def json_values(text: str) -> list[str] | None:
    """Every string value of a JSON document, in document order (keys are in the raw text,
    and would only sit between the parts of a split value)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    out: list[str] = []
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            stack.extend(reversed(node.values()))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return out
