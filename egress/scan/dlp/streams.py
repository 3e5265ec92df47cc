"""Scanning data that arrives in pieces: streamed bodies and WebSocket messages
(`StreamScanner`), and holding back streamed bytes until the data after them has been
scanned (`StreamGate`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from egress.scan.decode import Budget, binary_text, printable_runs
from egress.scan.dlp import bodies, charset
from egress.scan.dlp.locations import fixed
from egress.scan.dlp.results import Match, ScanContext, in_encoding, merge
from egress.scan.dlp.splits import trailing_run
from egress.scan.dlp.text_scan import SPLIT_WINDOW, TextScanner

# Fragments of unfinished tokens kept per WebSocket direction, to join with later messages.
PENDING_FRAGMENTS = 16


class StreamScanner:
    """Scans data that arrives in pieces (a streamed body, WebSocket messages): each piece is
    scanned together with the last `window` bytes before it, so a secret split across pieces
    is whole in one scan. With `fragments`, the pieces are messages: an unfinished token at
    the end of a message (or of a JSON string in it) is also kept, and glued to the start of
    each of the next messages, so halves further apart than `window` still meet. Each
    secret is reported once."""

    def __init__(self, engine: TextScanner, where: str, ctx: ScanContext, window: int,
                 fragments: bool = False) -> None:
        self.engine = engine
        self.where = where
        self.ctx = ctx
        self.window = window + window % 2  # even: UTF-16 code units stay aligned
        self._tail = b""
        self._seen: set[tuple[str, str]] = set()
        self._pending: deque[str] | None = deque(maxlen=PENDING_FRAGMENTS) if fragments else None

    def feed(self, data: bytes) -> list[Match]:
        if not data:
            return []
        joined = self._tail + data
        self._tail = joined[-self.window:]
        texts = charset.body_texts(joined)
        if not texts:
            found = binary_text(joined, self.engine.decode, Budget(self.engine.decode.budget))
            texts = [("utf-8", found[0] if found else printable_runs(joined))]
        matches: list[Match] = []
        for encoding, text in texts:
            matches = merge(matches, in_encoding(self.engine.scan(text, self.where, self.ctx),
                                                   encoding))
        if self._pending is not None:
            matches = merge(matches, self._across(data))
        out = []
        for m in matches:
            if (m.rule, m.value) not in self._seen:
                self._seen.add((m.rule, m.value))
                out.append(m)
        return out

    def _across(self, message: bytes) -> list[Match]:
        """Unfinished tokens of earlier messages glued to the fragments of this one."""
        assert self._pending is not None
        texts = charset.body_texts(message)
        if not texts:
            return []
        fragments = _fragments(texts[0][1])
        windows = [f"\n{run}{frag[:SPLIT_WINDOW]}" for run in self._pending
                   for frag in fragments[:PENDING_FRAGMENTS]]
        matches: list[Match] = []
        if windows:
            hits = self.engine._hits("\n".join(windows), self.ctx, decode=False)
            matches = self.engine._resolve(hits, hits[1], fixed(f"{self.where}(joined)"),
                                           self.ctx)
        for frag in fragments:
            run = trailing_run(frag, SPLIT_WINDOW)
            if run and self.engine._unfinished(run, self.ctx):
                self._pending.append(run)
        return matches


def _fragments(text: str) -> list[str]:
    """A message's string values when it is JSON, else the message itself."""
    if text.lstrip()[:1] in ("{", "["):
        values = bodies.json_values(text)
        if values:
            return values
    return [text]


@dataclass
class StreamGate:
    """Holds back the last `overlap` bytes of a streamed body until the data after them has
    been scanned, so nothing is forwarded before the scan that could see a secret in it.

    `decoder` undoes a content encoding incrementally; with one, whole wire chunks are held
    until the decoded data they produced is `overlap` bytes behind the scanned frontier."""

    scanner: StreamScanner
    overlap: int
    decoder: Any = None
    _held: list[tuple[bytes, int]] = field(default_factory=list)
    _decoded: int = 0

    def push(self, chunk: bytes) -> tuple[bytes, list[Match]]:
        matches = self._scan(self.decoder.feed(chunk) if self.decoder is not None else [chunk])
        self._held.append((chunk, self._decoded))
        return self._release(self._decoded - self.overlap), matches

    def finish(self) -> tuple[bytes, list[Match]]:
        matches = self._scan(self.decoder.finish()) if self.decoder is not None else []
        return self._release(None), matches

    def _scan(self, pieces: Iterable[bytes]) -> list[Match]:
        """Scan decoded data piece by piece as the decoder produces it (each piece is bounded,
        so a small chunk that expands hugely never sits in memory whole)."""
        matches: list[Match] = []
        for piece in pieces:
            matches += self.scanner.feed(piece)
            self._decoded += len(piece)
        return matches

    def _release(self, frontier: int | None) -> bytes:
        out = []
        while self._held:
            chunk, end = self._held[0]
            if frontier is not None and end > frontier:
                if self.decoder is None and frontier > end - len(chunk):
                    cut = frontier - (end - len(chunk))
                    out.append(chunk[:cut])
                    self._held[0] = (chunk[cut:], end)
                break
            out.append(chunk)
            self._held.pop(0)
        return b"".join(out)
