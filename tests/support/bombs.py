"""Decompression bombs, built in bounded memory: a few KiB on the wire, GiBs decoded."""

from __future__ import annotations

import functools
import gzip

import brotli


@functools.cache
def brotli_bomb(mib: int) -> bytes:
    """`mib` MiB of zeros, brotli-encoded (1 GiB -> about 1.6 KiB)."""
    c = brotli.Compressor(quality=5)
    zeros = b"\0" * (1 << 20)
    return b"".join([*(c.process(zeros) for _ in range(mib)), c.finish()])


@functools.cache
def gzip_gzip_bomb(mib: int) -> bytes:
    """`mib` MiB of zeros as gzip members of 64 MiB each (valid gzip), gzipped again: for
    `Content-Encoding: gzip, gzip` (4 GiB -> about 10 KiB)."""
    member = gzip.compress(b"\0" * (64 << 20), 9)
    return gzip.compress(member * max(mib // 64, 1), 9)
