"""The streamed decoder: bounded output per step, the same result as decoding whole, bombs
stopped at the limits without expanding (fuzzed with hypothesis on a fixed budget)."""

from __future__ import annotations

import gzip
import itertools
import sys
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress.decompress import RATIO_FLOOR, STEP, DecodeError, StreamDecoder, decode_body
from tests.support.bombs import brotli_bomb, gzip_gzip_bomb

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "raw-deflate": lambda b: zlib.compress(b)[2:-4],
    "br": brotli.compress,
    "zstd": zstd.compress,
}
HEADER = {"raw-deflate": "deflate"}


def encode(body: bytes, layers: list[str]) -> tuple[bytes, str]:
    for name in layers:
        body = ENCODERS[name](body)
    return body, ", ".join(HEADER.get(n, n) for n in layers)


def stream_decode(data: bytes, header: str, cuts: list[int], *, max_out: int,
                  max_ratio: int) -> tuple[bytes, list[int]]:
    """Decode `data` fed in pieces split at `cuts`; the output and the size of every step."""
    decoder = StreamDecoder(header, max_out=max_out, max_ratio=max_ratio)
    bounds = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
    out: list[bytes] = []
    for a, b in itertools.pairwise(bounds):
        out += decoder.feed(data[a:b])
    out += decoder.finish()
    return b"".join(out), [len(p) for p in out]


def outcome(fn: Callable[[], bytes]) -> bytes | str:
    try:
        return fn()
    except DecodeError as e:
        return f"error:{e.kind}"


bodies = st.one_of(
    st.binary(max_size=4096),
    st.text(max_size=2048).map(str.encode),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=16), st.integers(1, 40_000)),
)
layers = st.lists(st.sampled_from(sorted(ENCODERS)), min_size=1, max_size=2)
cut_points = st.lists(st.integers(0, 1 << 20), max_size=12)


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, chain=layers, cuts=cut_points)
def test_any_chunking_decodes_like_the_whole_body(body: bytes, chain: list[str], cuts: list[int]) -> None:
    data, header = encode(body, chain)
    whole = outcome(lambda: decode_body(data, header, max_out=1 << 30, max_ratio=10**9))
    assert whole == body
    streamed, steps = stream_decode(data, header, cuts, max_out=1 << 30, max_ratio=10**9)
    assert streamed == body
    assert all(0 < n <= STEP for n in steps)


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, chain=layers, cuts=cut_points, flip=st.integers(0, 1 << 20),
       xor=st.integers(1, 255), truncate=st.booleans())
def test_corrupt_input_fails_the_same_whole_or_in_pieces(
        body: bytes, chain: list[str], cuts: list[int], flip: int, xor: int, truncate: bool) -> None:
    data, header = encode(body, chain)
    if truncate:
        data = data[:flip % len(data)]
    else:
        i = flip % len(data)
        data = data[:i] + bytes([data[i] ^ xor]) + data[i + 1:]
    whole = outcome(lambda: decode_body(data, header, max_out=1 << 30, max_ratio=10**9))
    streamed = outcome(lambda: stream_decode(data, header, cuts, max_out=1 << 30, max_ratio=10**9)[0])
    assert streamed == whole
    if isinstance(whole, str):
        assert whole in ("error:corrupt",)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(RATIO_FLOOR, 24 << 20), chain=layers, cuts=cut_points,
       max_ratio=st.integers(2, 400), max_out=st.integers(1 << 20, 16 << 20))
def test_bombs_never_yield_past_the_limits(size: int, chain: list[str], cuts: list[int],
                                           max_ratio: int, max_out: int) -> None:
    data, header = encode(b"\0" * size, chain)
    decoder = StreamDecoder(header, max_out=max_out, max_ratio=max_ratio)
    bounds = sorted({0, len(data), *(c % len(data) for c in cuts)})
    total = fed = 0
    try:
        for a, b in itertools.pairwise(bounds):
            fed += b - a
            for piece in decoder.feed(data[a:b]):
                assert 0 < len(piece) <= STEP
                total += len(piece)
                assert total <= max_out and total <= max(RATIO_FLOOR, fed * max_ratio)
        for piece in decoder.finish():
            total += len(piece)
    except DecodeError as e:
        assert e.kind in ("bomb", "too-large")
        return
    assert total == size and size <= max_out


BOMBS: dict[str, tuple[Callable[[], bytes], str]] = {
    "1GiB-br": (lambda: brotli_bomb(1024), "br"),
    "4GiB-gzip-gzip": (lambda: gzip_gzip_bomb(4096), "gzip, gzip"),
    "256MiB-zstd": (lambda: zstd.compress(b"\0" * (256 << 20)), "zstd"),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize("max_ratio", [200, 10**9])
def test_a_bomb_is_stopped_within_bounded_memory(bomb: str, max_ratio: int) -> None:
    """However the bomb arrives (one piece, or network-sized chunks), decoding never holds more
    than a few steps of output: the limits stop it first (`bomb` by the ratio, `too-large`
    by the output cap when the ratio allows anything)."""
    make, header = BOMBS[bomb]
    data = make()
    for chunk in (len(data), 16 * 1024):
        decoder = StreamDecoder(header, max_out=64 << 20, max_ratio=max_ratio)
        tracemalloc.start()
        try:
            with pytest.raises(DecodeError) as e:
                for i in range(0, len(data), chunk):
                    for piece in decoder.feed(data[i:i + chunk]):
                        assert len(piece) <= STEP
                list(decoder.finish())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert e.value.kind == ("bomb" if max_ratio == 200 else "too-large")
        assert peak < len(data) + 4 * STEP + (1 << 20)


def test_the_buffered_decoder_is_bounded_the_same_way() -> None:
    data = brotli_bomb(1024)
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as e:
            decode_body(data, "br", max_out=64 << 20, max_ratio=200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.value.kind == "bomb" and peak < 4 << 20


def test_edge_cases_of_the_wire() -> None:
    text = b'{"a": 1}' * 100
    # gzip: members back to back, zero padding after the last; data after padding is corrupt
    two = gzip.compress(text) + gzip.compress(text)
    padded = two + b"\0\0\0"
    assert stream_decode(padded, "gzip", [3, len(two) + 1], max_out=1 << 20, max_ratio=200)[0] == text * 2
    with pytest.raises(DecodeError):
        stream_decode(gzip.compress(text) + b"\0\0garbage", "gzip", [], max_out=1 << 20, max_ratio=200)
    # no body at all is no error (HEAD, 204 with a Content-Encoding header)
    assert stream_decode(b"", "br", [], max_out=1 << 20, max_ratio=200)[0] == b""
    # an unknown encoding is refused up front
    with pytest.raises(DecodeError) as e:
        StreamDecoder("gzip, compress", max_out=1 << 20)
    assert e.value.kind == "unsupported"
    # a zstd frame asking for a window over 8 MiB (RFC 9659) is refused, not allocated
    big_window = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 26})
    frame = big_window.compress(b"x" * 100, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
    with pytest.raises(DecodeError) as e:
        stream_decode(frame, "zstd", [], max_out=1 << 20, max_ratio=200)
    assert e.value.kind == "corrupt"
