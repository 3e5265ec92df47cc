"""The fast flow-file reader yields exactly what mitmproxy's reader yields, and fails cleanly."""

from __future__ import annotations

import contextlib
import io as stdio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import io
from mitmproxy.io import tnetstring

from proxy import flowfile
from proxy.flowbuild import http_flow, write_flows

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.binary(max_size=40),
                    st.text(max_size=40), st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(st.text(max_size=8), st.binary(max_size=8)),
                                                 inner, max_size=5)), max_leaves=30)


@given(VALUES)
@settings(max_examples=300, deadline=None)
def test_parser_matches_mitmproxy_tnetstring(value: Any) -> None:
    data = tnetstring.dumps(value)
    assert flowfile.loads(data) == tnetstring.loads(data)


@given(st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_garbage_raises_read_error_only(data: bytes) -> None:
    with contextlib.suppress(flowfile.ReadError, ValueError):
        flowfile.loads(data)


@pytest.mark.parametrize("data", [
    b"6:0:]0:~}",  # a list as a dictionary key
    b"3:0:~}",  # a key without a value
])
def test_a_malformed_dictionary_is_a_read_error(data: bytes) -> None:
    with pytest.raises(flowfile.ReadError):
        flowfile.loads(data)


def test_flows_equal_mitmproxys(tmp_path: Path) -> None:
    flows = [http_flow("GET", "https://api.github.com/x?y=1", {"A": "b"}, b"", 200, b"ok"),
             http_flow("POST", "http://h.test:8080/p", {}, b"\x00\xffbody", None)]
    path = write_flows(tmp_path / "f.mitm", flows)
    with path.open("rb") as fh:
        expected = [f.get_state() for f in io.FlowReader(fh).stream()]
    got = [f.get_state() for f in flowfile.read_flows([path])]
    assert got == expected and len(got) == 2


@pytest.mark.parametrize("blob", [b"12:abc", b"5:hello,", b"notaflow", b"999999999999999999999:x",
                                  b"3:abc}"])
def test_bad_files_name_the_file(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "bad.mitm"
    path.write_bytes(blob)
    with pytest.raises(flowfile.ReadError) as e:
        list(flowfile.read_flows([path]))
    assert "bad.mitm" in str(e.value)


def test_empty_file_has_no_flows(tmp_path: Path) -> None:
    path = tmp_path / "empty.mitm"
    path.write_bytes(b"")
    assert list(flowfile.read_flows([path])) == []
    assert list(flowfile.stream(stdio.BufferedReader(stdio.BytesIO(b"")), "x")) == []


class _Trickle(stdio.RawIOBase):
    """A raw stream that hands out at most `step` bytes per read: length prefixes end up cut
    across the reader's buffer, so both ways of reading one are taken."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        chunk = self.data[self.pos:self.pos + min(self.step, len(buf))]
        buf[:len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


@pytest.mark.parametrize("step", [1, 2, 3, 5, 64, 1 << 20])
def test_prefixes_cut_anywhere_read_alike(tmp_path: Path, step: int) -> None:
    flows = [http_flow("GET", f"https://h{i}.test/{'x' * i}", {"A": "b" * i}, b"", 200, b"ok" * i)
             for i in range(12)]
    data = write_flows(tmp_path / "f.mitm", flows).read_bytes()
    expected = [f.get_state() for f in io.FlowReader(stdio.BytesIO(data)).stream()]
    reader = stdio.BufferedReader(_Trickle(data, step), buffer_size=max(step, 1))
    assert [f.get_state() for f in flowfile.stream(reader, "x")] == expected


def test_a_file_that_grows_while_read_is_read_to_its_end(tmp_path: Path) -> None:
    # The file's size is asked once and again only when a record claims more than it had.
    path = write_flows(tmp_path / "f.mitm", [http_flow("GET", "https://a.test/", {}, b"", 200)])
    later = write_flows(tmp_path / "g.mitm", [http_flow("POST", "https://b.test/", {}, b"x" * 5000)])
    flows = flowfile.read_flows([path])
    first = next(flows)
    with path.open("ab") as fh:
        fh.write(later.read_bytes())
    rest = list(flows)
    assert [f.get_state()["request"]["host"] for f in (first, *rest)] == ["a.test", "b.test"]


def test_a_record_longer_than_the_rest_of_the_file_is_refused_before_reading(tmp_path: Path) -> None:
    data = write_flows(tmp_path / "f.mitm", [http_flow("GET", "https://a.test/", {}, b"", 200)]
                       ).read_bytes()
    path = tmp_path / "bad.mitm"
    path.write_bytes(data + b"99999:" + b"x" * 10)
    with pytest.raises(flowfile.ReadError) as e:
        list(flowfile.read_flows([path]))
    assert "claims 99999 bytes" in str(e.value)
