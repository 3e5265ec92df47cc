"""`proxy.flowstate.from_state` makes exactly the flow mitmproxy's `Flow.from_state` makes of the
same state, and refuses exactly the states mitmproxy refuses (replay reads untrusted files)."""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import connection, flow, http
from mitmproxy.test import tflow

from proxy import flowstate
from proxy.flowbuild import http_flow


def _flows() -> list[flow.Flow]:
    ws = tflow.twebsocketflow()
    err = tflow.tflow(err=True)
    trailers = tflow.tflow(resp=True)
    trailers.request.trailers = http.Headers(x_t=b"1")
    trailers.response.trailers = http.Headers(x_r=b"2")  # type: ignore[union-attr]
    tls = tflow.tflow(resp=True)
    tls.client_conn.sni = "example.com"
    tls.client_conn.alpn = b"h2"
    tls.server_conn.tls_version = "TLSv1.3"
    tls.server_conn.alpn_offers = [b"h2", b"http/1.1"]
    tls.client_conn.cipher_list = ["TLS_AES_128_GCM_SHA256"]
    tls.metadata["k"] = {"v": [1, 2]}
    tls.comment, tls.marked = "note", ":star:"
    return [http_flow("GET", "https://api.github.com/x?y=1", {"A": "b"}, b"", 200, b"ok"),
            http_flow("POST", "http://h.test:8080/p", {}, b"\x00\xffbody", None),
            tflow.tflow(), tflow.tflow(resp=True), err, ws, trailers, tls,
            tflow.ttcpflow(), tflow.tdnsflow(resp=True), tflow.tudpflow()]


def _clock() -> Any:
    """One clock for both makers: a state with a wrong field can make mitmproxy build a message
    stamped with `time.time()` (a TCP `messages` dict iterates as its keys: `{'00': 0}` becomes a
    message ('0', '0', now)), which would differ between two calls by the microseconds between."""
    return mock.patch("time.time", return_value=946681200.0)


def _result(state: Any) -> tuple[str, Any]:
    """What making a flow of `state` gives: its state, or the kind of error."""
    try:
        with _clock():
            return "ok", mitm_state(flow.Flow.from_state(copy.deepcopy(state)))
    except Exception:  # the kind may differ (mitmproxy asserts; an assert is no input check)
        return "error", None


def _fast_result(state: Any) -> tuple[str, Any]:
    try:
        with _clock():
            return "ok", mitm_state(flowstate.from_state(copy.deepcopy(state)))
    except Exception:  # the kind may differ (mitmproxy asserts; an assert is no input check)
        return "error", None


def mitm_state(f: flow.Flow) -> Any:
    return (type(f), f.get_state())


@pytest.mark.parametrize("index", range(11))
def test_same_flow_as_mitmproxy(index: int) -> None:
    f = _flows()[index]
    state = f.get_state()
    expected = _result(state)
    assert expected[0] == "ok"
    assert _fast_result(state) == expected
    if isinstance(f, http.HTTPFlow):  # the same types inside, not only the same state
        got = flowstate.from_state(copy.deepcopy(state))
        assert isinstance(got, http.HTTPFlow)
        assert type(got.request.data) is http.RequestData
        assert vars(got.request.data).keys() == vars(f.request.data).keys()
        assert vars(got.client_conn) == vars(flow.Flow.from_state(copy.deepcopy(state)).client_conn)


WRONG = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False),
                  st.binary(max_size=6), st.text(max_size=6), st.lists(st.integers(0, 9), max_size=4),
                  st.tuples(st.text(max_size=4), st.integers(0, 70000)),
                  st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    return out


@given(st.integers(0, 10), st.data())
@settings(max_examples=400, deadline=None)
def test_a_state_with_a_wrong_field_is_refused_or_made_as_mitmproxy_does(index: int,
                                                                        data: st.DataObject) -> None:
    state = _flows()[index].get_state()
    paths = _paths(state)
    path = data.draw(st.sampled_from(paths))
    target = state
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        target[path[-1]] = data.draw(WRONG)
    else:
        del target[path[-1]]
    assert _fast_result(state) == _result(state)


def test_a_wrong_tcp_messages_field_made_as_mitmproxy_does() -> None:
    """The example hypothesis found: `messages` as a dict makes a message stamped with the
    clock; both makers must make the same message of it."""
    state = _flows()[8].get_state()
    state["messages"] = {"00": 0}
    result = _fast_result(state)
    assert result[0] == "ok" and result == _result(state)


def test_new_http_flow_has_the_attributes_the_constructors_give() -> None:
    """`new_http_flow` skips `Flow.__init__` and the connections' id factories: it must set
    the same attributes, in the same order, to the same values (but the random ids and the
    clock reads, which `from_state` overwrites). A mitmproxy upgrade that adds one fails here."""
    made = flowstate.new_http_flow()
    built = http.HTTPFlow(connection.Client(peername=("", 0), sockname=("", 0)),
                          connection.Server(address=None))
    assert type(made) is type(built)
    assert list(vars(made)) == list(vars(built))
    volatile = {"id", "timestamp_created", "timestamp_start", "client_conn", "server_conn"}
    for mine, theirs in ((made, built), (made.client_conn, built.client_conn),
                         (made.server_conn, built.server_conn)):
        assert type(mine) is type(theirs)
        assert list(vars(mine)) == list(vars(theirs))
        assert {k: v for k, v in vars(mine).items() if k not in volatile} == \
            {k: v for k, v in vars(theirs).items() if k not in volatile}
    assert made.client_conn.id == made.server_conn.id == made.id == ""
    # The connections' attributes are shared by every flow read: each must be immutable
    # (hashable here: no list, dict or set), and two flows must not share a connection.
    for conn in (made.client_conn, made.server_conn):
        for value in vars(conn).values():
            hash(value)
    other = flowstate.new_http_flow()
    assert other.client_conn is not made.client_conn and other.server_conn is not made.server_conn
    assert other.metadata is not made.metadata
