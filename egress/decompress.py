"""Bounded content decoding (gzip, deflate, br, zstd): no body can exhaust memory.

Output is produced in bounded steps and counted; past the output cap, or past the allowed
compression ratio once the output is large enough to matter, decoding stops with a
`DecodeError` (a bomb is reported, never expanded). Scanners decode through here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import brotli
import zstandard

STEP = 256 * 1024
# Ratios are only judged past this much output: small bodies of repetitive JSON compress
# far better than any bomb threshold, and are harmless at that size anyway.
RATIO_FLOOR = 1024 * 1024

SUPPORTED = ("identity", "gzip", "x-gzip", "deflate", "br", "zstd")


class DecodeError(Exception):
    """`kind` is one of: too-large, bomb, corrupt, unsupported. The message names no data."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Budget:
    def __init__(self, compressed: int, max_out: int, max_ratio: int) -> None:
        self.compressed = max(compressed, 1)
        self.max_out = max_out
        self.max_ratio = max_ratio
        self.out = 0

    def take(self, n: int) -> None:
        self.out += n
        if self.out > self.max_out:
            raise DecodeError("too-large", f"decoded body exceeds {self.max_out} bytes")
        if self.out > RATIO_FLOOR and self.out > self.compressed * self.max_ratio:
            raise DecodeError("bomb", f"compression ratio exceeds {self.max_ratio}:1 "
                              "(decompression bomb)")


def _zlib_chunks(data: bytes, wbits: int, budget: _Budget) -> Iterator[bytes]:
    d = zlib.decompressobj(wbits)
    pending = data
    while True:
        chunk = d.decompress(pending, STEP)
        if chunk:
            budget.take(len(chunk))
            yield chunk
        pending = d.unconsumed_tail
        if d.eof:
            # gzip allows several members back to back
            rest = d.unused_data
            if rest and wbits == 31 and rest.strip(b"\0"):
                d = zlib.decompressobj(wbits)
                pending = rest
                continue
            return
        if not pending and not chunk:
            tail = d.flush()
            if tail:
                budget.take(len(tail))
                yield tail
            if not d.eof:
                raise DecodeError("corrupt", "truncated compressed body")
            return


def _deflate_chunks(data: bytes, budget: _Budget) -> Iterator[bytes]:
    # "deflate" on the wire is meant to be zlib-wrapped, but raw deflate is common too.
    try:
        yield from _zlib_chunks(data, 15, budget)
    except zlib.error:
        if budget.out:
            raise
        yield from _zlib_chunks(data, -15, budget)


def _brotli_chunks(data: bytes, budget: _Budget) -> Iterator[bytes]:
    d = brotli.Decompressor()
    chunk = d.process(data, output_buffer_limit=STEP)
    while True:
        if chunk:
            budget.take(len(chunk))
            yield chunk
        if d.is_finished():
            return
        if d.can_accept_more_data():
            raise DecodeError("corrupt", "truncated brotli body")
        chunk = d.process(b"", output_buffer_limit=STEP)


def _zstd_chunks(data: bytes, budget: _Budget) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    with reader:
        while True:
            chunk = reader.read(STEP)
            if not chunk:
                return
            budget.take(len(chunk))
            yield chunk


def _one(data: bytes, encoding: str, budget: _Budget) -> Iterator[bytes]:
    if encoding in ("gzip", "x-gzip"):
        return _zlib_chunks(data, 31, budget)
    if encoding == "deflate":
        return _deflate_chunks(data, budget)
    if encoding == "br":
        return _brotli_chunks(data, budget)
    if encoding == "zstd":
        return _zstd_chunks(data, budget)
    raise DecodeError("unsupported", f"unsupported content encoding {encoding!r}")


def encodings(header: str | None) -> list[str]:
    """`Content-Encoding: gzip, br` -> ['gzip', 'br'] (applied in that order)."""
    if not header:
        return []
    return [e.strip().lower() for e in header.split(",") if e.strip().lower() not in ("", "identity")]


def decode_body(data: bytes, content_encoding: str | None, *, max_out: int,
                max_ratio: int = 200) -> bytes:
    """Undo every content encoding in `content_encoding`, within the output budget."""
    layers = encodings(content_encoding)
    for encoding in reversed(layers):
        budget = _Budget(len(data), max_out, max_ratio)
        try:
            data = b"".join(_one(data, encoding, budget))
        except DecodeError:
            raise
        except (zlib.error, brotli.error, zstandard.ZstdError, EOFError, ValueError) as e:
            raise DecodeError("corrupt", f"invalid {encoding} data ({type(e).__name__})") from None
    return data


class StreamDecoder:
    """Undoes a `Content-Encoding` incrementally, for bodies scanned while they stream. The
    same budget as `decode_body`: past `max_out` or the ratio, `feed` raises `DecodeError`."""

    def __init__(self, content_encoding: str | None, *, max_out: int, max_ratio: int = 200) -> None:
        self.layers = encodings(content_encoding)
        for encoding in self.layers:
            if encoding not in SUPPORTED:
                raise DecodeError("unsupported", f"unsupported content encoding {encoding!r}")
        self._stages = [self._stage(e) for e in reversed(self.layers)]
        self.max_out = max_out
        self.max_ratio = max_ratio
        self._in = 0
        self._out = 0

    @staticmethod
    def _stage(encoding: str) -> object:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(31)
        if encoding == "deflate":
            return zlib.decompressobj(15)
        if encoding == "br":
            return brotli.Decompressor()
        return zstandard.ZstdDecompressor().decompressobj()

    def _run(self, stage: object, data: bytes) -> bytes:
        if isinstance(stage, brotli.Decompressor):
            return bytes(stage.process(data))
        return stage.decompress(data)  # type: ignore[attr-defined, no-any-return]

    def feed(self, chunk: bytes) -> bytes:
        self._in += len(chunk)
        data = chunk
        try:
            for stage in self._stages:
                data = self._run(stage, data)
        except (zlib.error, brotli.error, zstandard.ZstdError, EOFError, ValueError) as e:
            raise DecodeError("corrupt", f"invalid compressed body ({type(e).__name__})") from None
        self._out += len(data)
        if self._out > self.max_out:
            raise DecodeError("too-large", f"decoded body exceeds {self.max_out} bytes")
        if self._out > RATIO_FLOOR and self._out > max(self._in, 1) * self.max_ratio:
            raise DecodeError("bomb", f"compression ratio exceeds {self.max_ratio}:1 (decompression bomb)")
        return data

    def flush(self) -> bytes:
        data = b""
        for stage in self._stages:
            if data:
                data = self._run(stage, data)
            flush = getattr(stage, "flush", None)
            if callable(flush):
                data += bytes(flush())
        return data
