"""Bounded decoding, secret scrubbing and the audit log's hygiene and rotation."""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

from egress.audit import AuditLog
from egress.decompress import DecodeError, decode_body
from egress.redact import KnownSecrets, encoded_forms, preview

TEXT = b'{"hello": "world", "n": 1}' * 100


@pytest.mark.parametrize(("encoding", "encode"), [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
    ("br", brotli.compress),
    ("zstd", lambda b: zstd.compress(b)),
])
def test_round_trip(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    assert decode_body(encode(TEXT), encoding, max_out=1 << 20) == TEXT


def test_layered_encodings_are_undone_in_reverse() -> None:
    data = brotli.compress(gzip.compress(TEXT))
    assert decode_body(data, "gzip, br", max_out=1 << 20) == TEXT


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "deflate"])
def test_bombs_are_stopped_without_expanding(encoding: str) -> None:
    zeros = b"\0" * (64 << 20)
    data = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
            "zstd": zstd.compress}[encoding](zeros)
    with pytest.raises(DecodeError) as e:
        decode_body(data, encoding, max_out=256 << 20, max_ratio=200)
    assert e.value.kind == "bomb"
    with pytest.raises(DecodeError) as e:
        decode_body(data, encoding, max_out=1 << 20, max_ratio=10**9)
    assert e.value.kind == "too-large"


def test_corrupt_and_unknown_encodings() -> None:
    with pytest.raises(DecodeError) as e:
        decode_body(b"not gzip at all", "gzip", max_out=1 << 20)
    assert e.value.kind == "corrupt"
    with pytest.raises(DecodeError) as e:
        decode_body(gzip.compress(TEXT)[:-20], "gzip", max_out=1 << 20)
    assert e.value.kind == "corrupt"
    with pytest.raises(DecodeError) as e:
        decode_body(b"x", "compress", max_out=1 << 20)
    assert e.value.kind == "unsupported"


def test_preview_never_reveals_the_value() -> None:
    secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"
    p = preview(secret)
    assert p.startswith("sk-a") and secret[4:12] not in p and "sha256:" in p
    assert preview("hunter22")[:2] == "hu" and "nter" not in preview("hunter22")


def test_known_secrets_scrub_every_encoding() -> None:
    known = KnownSecrets()
    secret = "xoxb-123456789012-abcdefABCDEF"
    known.add("slack", secret)
    for form in encoded_forms(secret):
        out = known.scrub(f"prefix {form} suffix")
        assert form not in out and "[REDACTED:slack]" in out
    with pytest.raises(ValueError):
        known.add("short", "abc")


def test_a_matched_value_containing_a_shorter_one_is_scrubbed_whole() -> None:
    # Scanners hand over the values they matched as a set: whatever its order, a longer
    # value must not lose only the part a shorter value inside it covers.
    short, long = "AKIAQWERTYUIOPASDFGH", "AKIAQWERTYUIOPASDFGH.tail-of-the-label-9f8e7d"
    for extra in ([short, long], [long, short]):
        out = KnownSecrets().scrub(f"host x.{long}.allowed.test", extra)
        assert "tail-of-the-label" not in out and short not in out, out


def test_audit_log_scrubs_and_rotates(tmp_path: Path) -> None:
    known = KnownSecrets()
    known.add("token", "tok_very_secret_value_123")
    log = AuditLog(tmp_path / "audit.jsonl", known, max_bytes=600, backups=2)
    for i in range(20):
        log.write({"event": "http", "i": i, "header": "Bearer tok_very_secret_value_123",
                   "matched": "ad-hoc-secret-xyz"}, sensitive=["ad-hoc-secret-xyz"])
    log.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    for f in files:
        text = f.read_text()
        assert "tok_very_secret" not in text and "ad-hoc-secret" not in text
        for line in text.splitlines():
            event = json.loads(line)
            assert event["header"] == "Bearer [REDACTED:token]" and event["matched"] == "[REDACTED]"
        assert f.stat().st_size <= 600
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600
