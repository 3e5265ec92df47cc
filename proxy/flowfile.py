"""Reading mitmproxy flow files fast: replay and diff spend most of their time here.

mitmproxy's tnetstring reader walks every length prefix byte by byte in Python and slices
a memoryview per element; a recorded flow has ~150 elements, so deserialising dominated
`bottle replay`. This reader parses the same format with offsets into one bytes object per
flow (`bytes.index` finds each length prefix in C), then hands the state to mitmproxy's own
migration and to `proxy.flowstate.from_state` (mitmproxy's `from_state` with its per-field
type analysis done once), so the flows are exactly what `mitmproxy.io.FlowReader` yields.
Files that are not tnetstring streams (HAR) go to mitmproxy's reader.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from mitmproxy import flow, io
from mitmproxy.exceptions import FlowReadException
from mitmproxy.io import compat

from proxy import flowstate

MAX_PREFIX = 20  # digits of a length prefix, with room to spare
# Largest record read from a stream whose size is unknown (a pipe).
MAX_RECORD = 1024**3

_COMMA, _SEMI, _HASH, _CARET, _BANG, _TILDE, _RBRACKET, _RBRACE = b",;#^!~]}"


class ReadError(Exception):
    pass


def _parse(buf: bytes, pos: int, end: int) -> tuple[Any, int]:
    """The element at `pos` (which must end by `end`) and the position after it."""
    colon = buf.index(b":", pos, end)
    if colon - pos > MAX_PREFIX:
        raise ReadError("length prefix too long")
    start = colon + 1
    stop = start + int(buf[pos:colon])
    if stop >= end or stop < start:
        raise ReadError("element runs past its container")
    tag = buf[stop]
    if tag == _COMMA:
        return buf[start:stop], stop + 1
    if tag in (_RBRACE, _RBRACKET):
        return _container(buf, start, stop, tag == _RBRACE), stop + 1
    return _scalar(buf, start, stop, tag), stop + 1


def _container(buf: bytes, start: int, stop: int, is_dict: bool) -> Any:
    """The elements between `start` and `stop`, as a dictionary or a list. The loop parses
    byte strings (most elements of a flow) in place: a function call per element was most
    of the time a flow took to read."""
    items: list[Any] = []
    append = items.append
    index = buf.index
    i = start
    while i < stop:
        colon = index(b":", i, stop)
        if colon - i > MAX_PREFIX:
            raise ReadError("length prefix too long")
        s = colon + 1
        e = s + int(buf[i:colon])
        if e >= stop or e < s:
            raise ReadError("element runs past its container")
        tag = buf[e]
        # The common tags inline (bytes, text, integers, nulls): a call per element costs
        # more than parsing it.
        if tag == _COMMA:
            append(buf[s:e])
        elif tag == _SEMI:
            append(buf[s:e].decode("utf-8"))
        elif tag in (_RBRACE, _RBRACKET):
            append(_container(buf, s, e, tag == _RBRACE))
        elif tag == _HASH:
            append(int(buf[s:e]))
        elif tag == _TILDE and e == s:
            append(None)
        else:
            append(_scalar(buf, s, e, tag))
        i = e + 1
    if not is_dict:
        return items
    if len(items) % 2:
        raise ReadError("a dictionary key without a value")
    try:
        return dict(zip(items[::2], items[1::2], strict=True))
    except TypeError:
        raise ReadError("a dictionary key that cannot be a key") from None


def _scalar(buf: bytes, start: int, stop: int, tag: int) -> Any:
    # most frequent first: text, integers, nulls, booleans, floats
    if tag == _SEMI:
        return buf[start:stop].decode("utf-8")
    if tag == _HASH:
        return int(buf[start:stop])
    if tag == _TILDE:
        if stop != start:
            raise ReadError("invalid null")
        return None
    if tag == _BANG:
        value = buf[start:stop]
        if value not in (b"true", b"false"):
            raise ReadError("invalid boolean")
        return value == b"true"
    if tag == _CARET:
        return float(buf[start:stop])
    raise ReadError(f"unknown type tag {tag!r}")


def loads(buf: bytes) -> Any:
    """One tnetstring element that makes up all of `buf` (for tests and tools)."""
    value, end = _parse(buf + b"\0", 0, len(buf) + 1)
    if end != len(buf):
        raise ReadError("trailing data")
    return value


def _remaining(fh: BinaryIO) -> int | None:
    """Bytes left in `fh` if it is a regular file (a length prefix can be checked against it
    before anything is allocated), else None."""
    try:
        return os.fstat(fh.fileno()).st_size - fh.tell()
    except (OSError, ValueError, AttributeError):
        return None


def _prefix(fh: BinaryIO) -> bytes | None:
    """The next record's length prefix with its colon (None at the end of the stream). A
    prefix that lies whole in the reader's buffer is taken from it at once (`peek`); any
    other, and every malformed one, is read a byte at a time, which says what is wrong."""
    peek = getattr(fh, "peek", None)
    if peek is not None:
        head = peek(MAX_PREFIX)[:MAX_PREFIX]
        colon = head.find(b":")
        if colon > 0 and head[:colon].isdigit():
            return fh.read(colon + 1)
    prefix = b""
    while not prefix.endswith(b":"):
        ch = fh.read(1)
        if not ch:
            if prefix:
                raise ReadError("truncated length prefix")
            return None
        prefix += ch
        if len(prefix) > MAX_PREFIX or not (ch.isdigit() or ch == b":"):
            raise ReadError("not a flow file (bad length prefix)")
    return prefix


def _records(fh: BinaryIO) -> Iterator[dict[Any, Any]]:
    # Bytes of the file after the current record's prefix, as of the last `fstat` (two
    # system calls, `fstat` and `lseek`): asked again only when a record claims more, since
    # a file being written grows. A stream of unknown size (a pipe) has no bound but
    # MAX_RECORD.
    left = _remaining(fh)
    while True:
        prefix = _prefix(fh)
        if prefix is None:
            return
        length = int(prefix[:-1])
        if left is not None:
            left -= len(prefix)
            # A length prefix is attacker-controlled: never allocate what the file cannot hold.
            if length > left - 1:
                left = _remaining(fh)
        if length > (left - 1 if left is not None else MAX_RECORD):
            raise ReadError(f"a record claims {length} bytes; the file is shorter (truncated "
                            "or not a flow file)")
        body = fh.read(length + 1)
        if len(body) != length + 1:
            raise ReadError("truncated flow")
        if left is not None:
            left -= length + 1
        value, _ = _parse(prefix + body, 0, len(prefix) + len(body))
        if not isinstance(value, dict):
            raise ReadError("a flow record must be a dictionary")
        yield value


def stream(fh: BinaryIO, name: str) -> Iterator[flow.Flow]:
    first = fh.peek(1)[:1] if hasattr(fh, "peek") else b""
    if first and not first.isdigit():
        # not a tnetstring stream (a HAR file, say): mitmproxy knows the other formats
        try:
            yield from io.FlowReader(fh).stream()
        except FlowReadException as e:
            raise ReadError(str(e)) from None
        except Exception as e:  # a HAR file that is JSON but not HAR-shaped
            raise ReadError(f"unreadable flow ({type(e).__name__})") from None
        return
    for state in _records(fh):
        try:
            f = flowstate.from_state(compat.migrate_flow(state))
        except Exception as e:  # a malformed state fails in many ways inside mitmproxy
            raise ReadError(f"unreadable flow ({type(e).__name__})") from None
        yield f


def read_flows(paths: Sequence[str | Path]) -> Iterator[flow.Flow]:
    """Every flow of every file, in order. Errors name the file, never flow content."""
    for path in paths:
        p = Path(path)
        try:
            handle = p.open("rb")
        except OSError as e:
            raise ReadError(f"{p}: {e.strerror}") from None
        with handle:
            try:
                yield from stream(handle, str(p))
            except RecursionError:
                raise ReadError(f"{p}: not a readable mitmproxy flow file (nested too deeply)") from None
            except (ReadError, ValueError) as e:
                raise ReadError(f"{p}: not a readable mitmproxy flow file ({e})") from None
