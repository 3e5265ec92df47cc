"""Size and decoding limits: the `limits` rule ids and the findings for an over-limit or
undecodable body (the adapter that measures bodies is `addons/limits.py`)."""

from __future__ import annotations

from egress.decompress import DecodeError
from egress.findings import Finding, Scanner

RULES = {
    "body-too-large": "A request or response body exceeded limits.max_body_bytes.",
    "decompressed-too-large": "A body decoded past limits.max_decompressed_bytes.",
    "decompression-bomb": "A body expanded past limits.max_compression_ratio times its encoded "
    "size while being decoded (a decompression bomb); decoding stopped there.",
    "undecodable-body": "A body's content encoding could not be decoded (corrupt, truncated or "
    "unsupported).",
    # Judged by `addons.dlp` (every body scan runs within a budget, `egress.scan.deadline`).
    "scan-timeout": "The DLP scan of a request body (or of one chunk of a streamed body, or of "
    "a WebSocket message) took longer than limits.scan_timeout; the request is refused with a "
    "JSON 413 and nothing is forwarded (a stream is cut, a message dropped), in audit mode too "
    "(fail closed).",
    # Judged by `addons.trailers`.
    "trailers": "A request, or a response from an HTTP/1 origin or to an HTTP/1 client, carried "
    "trailer fields: no scanner reads them and they are never forwarded; the message is "
    "refused (a JSON 400 or 502; cut off if its body already left), in audit mode too.",
}


def too_large(where: str, size: int | None, limit: int, status: int) -> Finding:
    """`limits/body-too-large` for `where`; `size` None when only the limit is known."""
    reason = (f"{where} exceeds the {limit}-byte limit" if size is None
              else f"{where} of {size} bytes exceeds the {limit}-byte limit")
    return Finding("limits", "body-too-large", "block", where, reason, status=status)


def decode_finding(err: DecodeError, where: str, status: int = 502,
                   undecodable: tuple[Scanner, str] = ("limits", "undecodable-body")) -> Finding:
    """The finding for a body that could not be decoded: `limits/decompressed-too-large`,
    `limits/decompression-bomb`, or `undecodable` for a corrupt or unsupported encoding."""
    if err.kind == "bomb":
        return Finding("limits", "decompression-bomb", "block", where, str(err), status=status)
    if err.kind == "too-large":
        return Finding("limits", "decompressed-too-large", "block", where, str(err), status=status)
    scanner, rule = undecodable
    return Finding(scanner, rule, "block", where, f"the body could not be decoded: {err}",
                   status=status)
