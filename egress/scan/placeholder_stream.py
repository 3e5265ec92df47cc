"""Credential placeholders in a streamed request body, found before any byte of them leaves.

A request body that streams upstream (larger than `dlp.stream_threshold`, or chunked without
a length) is read piece by piece, and a placeholder may be split across pieces.
`PlaceholderGate` looks for every placeholder form (`CredentialTable.find`: raw, URL-encoded,
base64, hex) in the decoded body, each piece together with the tail of the one before it,
and holds back the last `longest - 1` decoded bytes: when a placeholder is found, none of
its bytes has been released. With a content encoding, whole wire chunks are held until the
decoded data they produced is that far behind the scanned end (as DLP's `StreamGate` does).
Pure: no mitmproxy; `find` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from egress.decompress import StreamDecoder


class PlaceholderGate[Found]:
    """`push` each chunk of a body as it arrives and `finish` at its end; each returns the
    bytes now safe to forward and what `find` found in the data scanned by that call (or
    None). After a find the caller decides: stop (forward nothing more) or, in audit mode,
    forward what is released and go on."""

    __slots__ = ("_decoded", "_held", "_tail", "decoder", "find", "keep")

    def __init__(self, find: Callable[[bytes], Found | None], longest: int,
                 decoder: StreamDecoder | None = None) -> None:
        self.find = find
        # An occurrence not yet complete at the scanned end starts in its last `keep` bytes.
        self.keep = max(longest - 1, 0)
        self.decoder = decoder if decoder is not None and decoder.layers else None
        self._tail = b""
        self._held: list[tuple[bytes, int]] = []  # (wire bytes, decoded offset they end at)
        self._decoded = 0

    def push(self, chunk: bytes) -> tuple[bytes, Found | None]:
        if not chunk:
            return b"", None
        found = self._scan(self.decoder.feed(chunk) if self.decoder is not None else (chunk,))
        self._held.append((chunk, self._decoded))
        return self._release(self._decoded - self.keep), found

    def finish(self) -> tuple[bytes, Found | None]:
        """The end of the body: everything held is released (a truncated encoding raises
        `DecodeError`, as every decoding step may)."""
        found = self._scan(self.decoder.finish()) if self.decoder is not None else None
        return self._release(None), found

    def _scan(self, pieces: Iterable[bytes]) -> Found | None:
        found: Found | None = None
        keep = self.keep
        for piece in pieces:
            if not piece:
                continue
            # An occurrence is inside the piece, or starts in the tail and (being at most
            # keep + 1 bytes long) ends within the piece's first `keep` bytes: no copy of the
            # whole piece is made.
            hit = self.find(piece)
            if hit is None and self._tail:
                hit = self.find(self._tail + piece[:keep])
            if found is None:
                found = hit
            if keep:
                self._tail = piece[-keep:] if len(piece) >= keep else (self._tail + piece)[-keep:]
            self._decoded += len(piece)
        return found

    def _release(self, frontier: int | None) -> bytes:
        out: list[bytes] = []
        held = self._held
        while held:
            chunk, end = held[0]
            if frontier is not None and end > frontier:
                start = end - len(chunk)
                if self.decoder is None and frontier > start:
                    cut = frontier - start
                    out.append(chunk[:cut])
                    held[0] = (chunk[cut:], end)
                break
            out.append(chunk)
            held.pop(0)
        return b"".join(out)
