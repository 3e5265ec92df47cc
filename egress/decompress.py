"""Bounded content decoding (gzip, deflate, br, zstd): no body can exhaust memory.

One decoder serves every caller, buffered or streamed, request or response. Each layer of a
`Content-Encoding` is a stage that is asked for at most `STEP` bytes of output at a time, so
however small the input and however large what it expands to, no step holds more than
`STEP` bytes of output. Every stage's output is counted: past `max_out`, or past
`max_ratio` times the bytes that came in (once the output is large enough to matter),
decoding stops with a `DecodeError` (a bomb is reported, never expanded).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator

import brotli

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

STEP = 256 * 1024
# Ratios are only judged past this much output: small bodies of repetitive JSON compress
# far better than any bomb threshold, and are harmless at that size anyway.
RATIO_FLOOR = 1024 * 1024

SUPPORTED = ("identity", "gzip", "x-gzip", "deflate", "br", "zstd")

_ERRORS = (zlib.error, brotli.error, zstd.ZstdError, EOFError, ValueError)


class DecodeError(Exception):
    """`kind` is one of: too-large, bomb, corrupt, unsupported. The message names no data."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Stage:
    """One content encoding undone incrementally: `push` input, `pull` output (at most STEP
    bytes; b"" once everything pushed so far is consumed), `done` once the encoded stream
    ended properly."""

    name = "identity"

    def push(self, data: bytes) -> None:
        raise NotImplementedError

    def pull(self) -> bytes:
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError


class _Zlib(_Stage):
    """gzip (several members back to back allowed, trailing zero padding ignored) and deflate
    (zlib-wrapped as the standard says, or raw as some servers send it: the header decides)."""

    def __init__(self, gzip: bool) -> None:
        self.name = "gzip" if gzip else "deflate"
        self.gzip = gzip
        self.d: zlib._Decompress | None = zlib.decompressobj(31) if gzip else None
        self.pending = b""
        self.padding = False  # past the last gzip member: only zero bytes may follow
        self.full = False  # the last call filled its output: zlib may hold more without input

    def push(self, data: bytes) -> None:
        self.pending = self.pending + data if self.pending else data

    def pull(self) -> bytes:
        while True:
            if self.d is not None and self.d.eof:
                self.full = False
                if not self.pending:
                    return b""
                if not self.gzip:
                    self.pending = b""  # what follows the end of a deflate body is ignored
                    return b""
                if self.padding or self.pending[:1] == b"\0":
                    self.padding = True
                    rest, self.pending = self.pending, b""
                    if rest.strip(b"\0"):
                        raise DecodeError("corrupt", "data after the end of a gzip body")
                    return b""
                self.d = zlib.decompressobj(31)  # the next gzip member
            if not self.pending and not self.full:
                return b""
            if self.d is None:
                if len(self.pending) < 2:
                    return b""  # the zlib header decides the framing: wait for it
                cmf, flg = self.pending[0], self.pending[1]
                wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
                self.d = zlib.decompressobj(15 if wrapped else -15)
            out = self.d.decompress(self.pending, STEP)
            self.full = len(out) == STEP and not self.d.eof
            self.pending = self.d.unconsumed_tail
            if self.d.eof and self.d.unused_data:
                self.pending = self.d.unused_data + self.pending
            if out:
                return out

    def done(self) -> bool:
        return self.d is not None and self.d.eof


class _Brotli(_Stage):
    name = "br"

    def __init__(self) -> None:
        self.d = brotli.Decompressor()
        self.pending = b""
        self.carry = b""  # brotli's buffer grows in blocks and may overshoot its limit
        self.settled = True  # nothing it was given is left to process

    def push(self, data: bytes) -> None:
        self.pending = self.pending + data if self.pending else data

    def pull(self) -> bytes:
        while not self.carry:
            if not self.d.can_accept_more_data():
                # Output held back by the limit must be drained before new input is taken.
                out = self.d.process(b"", output_buffer_limit=STEP // 2)
                if not out and not self.d.can_accept_more_data():
                    raise DecodeError("corrupt", "brotli decoder made no progress")
                self.settled = False
            elif self.pending:
                if self.d.is_finished():
                    raise DecodeError("corrupt", "data after the end of a brotli body")
                data, self.pending = self.pending, b""
                out = self.d.process(data, output_buffer_limit=STEP // 2)
                self.settled = False
            elif not self.settled:
                # Drained after hitting the limit, it may still hold input it has not read
                # (and only then see the end of the body): one more empty call settles it.
                out = self.d.process(b"", output_buffer_limit=STEP // 2)
                self.settled = not out
            else:
                return b""
            self.carry = bytes(out)
        out, self.carry = self.carry[:STEP], self.carry[STEP:]
        return out

    def done(self) -> bool:
        return bool(self.d.is_finished()) and not self.pending and not self.carry


# RFC 9659: a zstd content encoding needs no window over 8 MiB. A frame may ask the decoder for
# up to 128 MiB otherwise, per stream, which is memory nobody counted.
_ZSTD_OPTIONS: dict[int, int] = {int(zstd.DecompressionParameter.window_log_max): 23}


class _Zstd(_Stage):
    """zstd, several frames back to back allowed, windows up to 8 MiB."""

    name = "zstd"

    def __init__(self) -> None:
        self.d = zstd.ZstdDecompressor(options=_ZSTD_OPTIONS)
        self.pending = b""

    def push(self, data: bytes) -> None:
        self.pending = self.pending + data if self.pending else data

    def pull(self) -> bytes:
        while True:
            if self.d.eof:
                rest, self.pending = self.d.unused_data + self.pending, b""
                if not rest:
                    return b""
                self.d = zstd.ZstdDecompressor(options=_ZSTD_OPTIONS)  # the next frame
                self.pending = rest
            if self.d.needs_input and not self.pending:
                return b""
            data, self.pending = self.pending, b""
            out = self.d.decompress(data, STEP)
            if out:
                return out
            # A call that filled its output last time may find nothing more: then the
            # decoder asks for input again. Anything else would spin.
            if not data and not self.d.eof and not self.d.needs_input:
                raise DecodeError("corrupt", "zstd decoder made no progress")

    def done(self) -> bool:
        return self.d.eof and not self.d.unused_data and not self.pending


def _stage(encoding: str) -> _Stage:
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(gzip=True)
    if encoding == "deflate":
        return _Zlib(gzip=False)
    if encoding == "br":
        return _Brotli()
    if encoding == "zstd":
        return _Zstd()
    raise DecodeError("unsupported", f"unsupported content encoding {encoding!r}")


def encodings(header: str | None) -> list[str]:
    """`Content-Encoding: gzip, br` -> ['gzip', 'br'] (applied in that order)."""
    if not header:
        return []
    return [e.strip().lower() for e in header.split(",") if e.strip().lower() not in ("", "identity")]


class StreamDecoder:
    """Undoes a `Content-Encoding` incrementally. `feed` and `finish` yield the decoded body in
    pieces of at most `STEP` bytes, decoding only as far as the caller consumes; past
    `max_out` bytes out of any layer, or past `max_ratio` times the bytes fed in, they raise
    `DecodeError` (as they do for corrupt, truncated or unsupported encodings)."""

    def __init__(self, content_encoding: str | None, *, max_out: int, max_ratio: int = 200) -> None:
        self.layers = encodings(content_encoding)
        # The last encoding applied is undone first.
        self._stages = [_stage(e) for e in reversed(self.layers)]
        self._out = [0] * len(self._stages)
        self.max_out = max_out
        self.max_ratio = max_ratio
        self.bytes_in = 0
        self.bytes_out = 0

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        if not chunk:
            return
        self.bytes_in += len(chunk)
        if not self._stages:
            self.bytes_out += len(chunk)
            yield chunk
            return
        self._stages[0].push(chunk)
        yield from self._pump()

    def finish(self) -> Iterator[bytes]:
        """The end of the input: whatever is left, then a check that every layer ended."""
        yield from self._pump()
        if self.bytes_in == 0:
            return  # no body at all (HEAD, 204, 304): nothing to decode
        for stage in self._stages:
            if not stage.done():
                raise DecodeError("corrupt", f"truncated {stage.name} body")

    def _pump(self) -> Iterator[bytes]:
        stages = self._stages
        last = len(stages) - 1
        try:
            while True:
                # The innermost layer that has output hands one piece on.
                i = last
                piece = b""
                while i >= 0:
                    piece = stages[i].pull()
                    if piece:
                        break
                    i -= 1
                if i < 0:
                    return
                self._take(i, len(piece))
                if i == last:
                    self.bytes_out += len(piece)
                    yield piece
                else:
                    stages[i + 1].push(piece)
        except DecodeError:
            raise
        except _ERRORS as e:
            raise DecodeError("corrupt", f"invalid compressed body ({type(e).__name__})") from None

    def _take(self, stage: int, n: int) -> None:
        self._out[stage] += n
        out = self._out[stage]
        if out > self.max_out:
            raise DecodeError("too-large", f"decoded body exceeds {self.max_out} bytes")
        if out > RATIO_FLOOR and out > max(self.bytes_in, 1) * self.max_ratio:
            raise DecodeError("bomb", f"compression ratio exceeds {self.max_ratio}:1 "
                              "(decompression bomb)")


def decode_body(data: bytes, content_encoding: str | None, *, max_out: int,
                max_ratio: int = 200) -> bytes:
    """Undo every content encoding in `content_encoding`, within the output budget."""
    decoder = StreamDecoder(content_encoding, max_out=max_out, max_ratio=max_ratio)
    if not decoder.layers:
        return data
    return b"".join([*decoder.feed(data), *decoder.finish()])
