"""Turning a flow record's state into a mitmproxy flow, with the per-field work done once.

mitmproxy's `SerializableDataclass.set_state` works out, for every field of every connection
of every flow, what the field's type annotation means (`typing.get_origin`, `get_args`,
`hasattr(type, "from_state")`...) before it checks and converts the value: two thirds of the
time `Flow.from_state` takes on an HTTP flow went to the client and server connections
alone. Here each dataclass's fields are compiled once into converters that apply exactly the
checks and conversions of `mitmproxy.coretypes.serializable._process` (same accepted values,
same `ValueError`/`TypeError` on the rest), so a flow comes out identical to what
`Flow.from_state` makes of the same state. Flow types other than HTTP go to mitmproxy.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import typing
from collections.abc import Callable
from functools import cache
from types import NoneType, UnionType
from typing import Any

from mitmproxy import connection, flow, http, version
from mitmproxy.coretypes import serializable
from mitmproxy.utils import typecheck
from mitmproxy.websocket import WebSocketData

Convert = Callable[[Any], Any]


def _unexpected(name: str, attr_type: Any) -> Convert:
    def convert(value: Any) -> Any:
        raise TypeError(f"Unexpected type for {name}: {attr_type!r}")
    return convert


def _checked(name: str, attr_type: Any, accepted: Any) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, accepted):
            raise ValueError(f"Invalid value for {name}. Expected {attr_type}, got {value} "
                             f"({type(value)}).")
        return attr_type(value)
    return convert


def _compile(attr_type: Any, name: str) -> Convert:
    """`serializable._process(value, attr_type, name, make=True)` with the type analysed now."""
    origin = typing.get_origin(attr_type)
    if origin is typing.Literal:
        allowed = typing.get_args(attr_type)

        def literal(value: Any) -> Any:
            if value not in allowed:
                raise ValueError(f"Invalid value for {name}: {value!r} does not match any "
                                 "literal value.")
            return value
        return literal
    if origin in (UnionType, typing.Union):
        inner_type, nt = typing.get_args(attr_type)
        if nt is not NoneType:  # mitmproxy asserts this of its own annotations
            return _unexpected(name, attr_type)
        inner = _compile(inner_type, name)

        def optional(value: Any) -> Any:
            return None if value is None else inner(value)
        return optional
    convert = _compile_present(attr_type, origin, name)

    def present(value: Any) -> Any:
        if value is None:
            raise ValueError(f"Attribute {name} must not be None.")
        return convert(value)
    return present


def _compile_present(attr_type: Any, origin: Any, name: str) -> Convert:
    if hasattr(attr_type, "from_state"):
        from_state: Convert = attr_type.from_state
        return from_state
    if origin in (list, collections.abc.Sequence):
        (item_type,) = typing.get_args(attr_type)
        item = _compile(item_type, name)
        return lambda value: [item(x) for x in value]
    if origin is tuple:
        if name in ("peername", "sockname"):
            # mitmproxy's own special case: an address of 2 or 4 elements
            parts = [_compile(t, name) for t in (str, int, int, int)]
            return lambda value: tuple(p(x) for x, p in zip(value, parts, strict=False))
        types = typing.get_args(attr_type)
        members = [_compile(t, name) for t in types]

        def fixed(value: Any) -> Any:
            if len(types) != len(value):
                raise ValueError(f"Invalid data for {name}. Expected {types}, got {value}.")
            return tuple(p(x) for p, x in zip(members, value, strict=True))
        return fixed
    if origin is dict:
        k_type, v_type = typing.get_args(attr_type)
        key, val = _compile(k_type, name), _compile(v_type, name)
        return lambda value: {key(k): val(v) for k, v in value.items()}
    if attr_type in (int, float):
        return _checked(name, attr_type, (int, float))
    if attr_type in (str, bytes, bool):
        return _checked(name, attr_type, attr_type)
    if isinstance(attr_type, type) and issubclass(attr_type, enum.Enum):
        enum_type: Convert = attr_type
        return enum_type
    return _unexpected(name, attr_type)


@cache
def _plan(cls: type[serializable.SerializableDataclass]) -> tuple[tuple[str, Convert], ...]:
    fields: tuple[dataclasses.Field[Any], ...] = cls._SerializableDataclass__fields()  # type: ignore[attr-defined]
    return tuple((f.name, _compile(f.type, f.name)) for f in fields)


def _assign(obj: Any, name: str, value: Any) -> None:
    """`object.__setattr__` for a plain instance attribute: what `setattr` does on a
    `connection.Server` whose state is not OPEN (its `__setattr__`, a Python call per field,
    only refuses a new address or proxy on an open connection)."""
    obj.__dict__[name] = value


def set_state(obj: serializable.SerializableDataclass, state: dict[str, Any],
              assign: Callable[[Any, str, Any], None] = setattr) -> None:
    """`SerializableDataclass.set_state`, converters precompiled."""
    for name, convert in _plan(type(obj)):
        current = getattr(obj, name)
        f_state = state.pop(name)
        if isinstance(current, serializable.Serializable) and f_state is not None:
            try:
                current.set_state(f_state)
                continue
            except dataclasses.FrozenInstanceError:
                pass
        value = convert(f_state)
        try:
            assign(obj, name, value)
        except dataclasses.FrozenInstanceError:
            state[name] = f_state
            raise
    if state:
        raise ValueError(f"Unexpected fields in {type(obj).__name__}.set_state: {state}")


Check = Callable[[Any], bool]


def _type_check(typeinfo: Any) -> Check:
    """`typecheck.check_option_type` for one annotation, analysed now: True if it passes.
    Annotations other than plain classes and unions of them are checked by mitmproxy."""
    origin = typing.get_origin(typeinfo)
    if origin is typing.Union or origin is UnionType:
        members = [_type_check(t) for t in typing.get_args(typeinfo)]
        return lambda value: any(m(value) for m in members)
    if origin is not None or not isinstance(typeinfo, type) or typeinfo in (
            typing.TextIO, typing.BinaryIO):
        def delegated(value: Any) -> bool:
            try:
                typecheck.check_option_type("", value, typeinfo)
            except TypeError:
                return False
            return True
        return delegated
    if typeinfo is float:
        return lambda value: isinstance(value, (float, int))
    return lambda value: isinstance(value, typeinfo)


@cache
def _data_checks(cls: type[http.MessageData]) -> tuple[tuple[str, Any, Check], ...]:
    return tuple((f.name, f.type, _type_check(f.type)) for f in dataclasses.fields(cls))


def _message_data(cls: type[http.MessageData], fields: dict[str, Any]) -> Any:
    """`cls(**fields)`, its `__post_init__` type check precompiled (run, like mitmproxy's,
    only when Python runs with `__debug__`)."""
    checks = _data_checks(cls)
    if len(fields) != len(checks):
        return cls(**fields)  # missing or unexpected fields: mitmproxy raises its TypeError
    data = cls.__new__(cls)
    for name, typeinfo, check in checks:
        value = fields[name]
        if __debug__ and not check(value):
            raise TypeError(f"Expected {typeinfo} for {name}, but got {type(value)}.")
        data.__dict__[name] = value
    return data


def _headers(value: Any) -> http.Headers:
    return value if isinstance(value, http.Headers) else http.Headers(value)


def _ascii(value: Any) -> Any:
    return value.encode("ascii", "strict") if isinstance(value, str) else value


def request_from_state(state: dict[str, Any]) -> http.Request:
    """`http.Request.from_state(state)` (`Request.__init__`'s conversions included)."""
    if set(state) != _REQUEST_FIELDS:
        made: http.Request = http.Request.from_state(state)
        return made
    host = state["host"]
    if isinstance(host, bytes):
        host = host.decode("idna", "strict")
    if isinstance(state["content"], str):
        raise ValueError(f"Content must be bytes, not {type(state['content']).__name__}")
    trailers = state["trailers"]
    req = http.Request.__new__(http.Request)
    req.data = _message_data(http.RequestData, {
        "host": host, "port": state["port"], "method": _ascii(state["method"]),
        "scheme": _ascii(state["scheme"]), "authority": _ascii(state["authority"]),
        "path": _ascii(state["path"]), "http_version": _ascii(state["http_version"]),
        "headers": _headers(state["headers"]), "content": state["content"],
        "trailers": None if trailers is None else _headers(trailers),
        "timestamp_start": state["timestamp_start"], "timestamp_end": state["timestamp_end"]})
    return req


def response_from_state(state: dict[str, Any]) -> http.Response:
    """`http.Response.from_state(state)` (`Response.__init__`'s conversions included)."""
    if set(state) != _RESPONSE_FIELDS:
        answer: http.Response = http.Response.from_state(state)
        return answer
    if isinstance(state["content"], str):
        raise ValueError(f"Content must be bytes, not {type(state['content']).__name__}")
    trailers = state["trailers"]
    resp = http.Response.__new__(http.Response)
    resp.data = _message_data(http.ResponseData, {
        "http_version": _ascii(state["http_version"]), "status_code": state["status_code"],
        "reason": _ascii(state["reason"]), "headers": _headers(state["headers"]),
        "content": state["content"], "trailers": None if trailers is None else _headers(trailers),
        "timestamp_start": state["timestamp_start"], "timestamp_end": state["timestamp_end"]})
    return resp


_REQUEST_FIELDS = frozenset(f.name for f in dataclasses.fields(http.RequestData))
_RESPONSE_FIELDS = frozenset(f.name for f in dataclasses.fields(http.ResponseData))


@cache
def _connection_fields() -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes of a new client and server connection (ids and start time empty).
    Shared by every flow read: each value is immutable (None, strings, tuples, the CLOSED
    state, the frozen proxy mode), and `set_state` replaces every one but the state."""
    client = connection.Client(peername=("", 0), sockname=("", 0), id="", timestamp_start=0.0)
    server = connection.Server(address=None, id="")
    return dict(vars(client)), dict(vars(server))


def new_http_flow() -> http.HTTPFlow:
    """`http.HTTPFlow(Client(peername=("", 0), sockname=("", 0)), Server(address=None))`
    without the three random ids (and the clock reads) those constructors make: `from_state`
    sets every one of them from the record. `uuid.uuid4` reads the system's random source,
    a system call each, which cost as much as parsing the flow's record where system calls
    are slow (a sandboxed CI runner). The connections are copies of the attributes the
    constructors give (`_connection_fields`), the flow's are `Flow.__init__`'s, in its order
    (`tests/test_flowstate.py` compares them with a flow made by the constructors)."""
    client_fields, server_fields = _connection_fields()
    client = connection.Client.__new__(connection.Client)
    client.__dict__.update(client_fields)
    server = connection.Server.__new__(connection.Server)
    server.__dict__.update(server_fields)
    f = http.HTTPFlow.__new__(http.HTTPFlow)
    f.id = ""
    f.client_conn = client
    f.server_conn = server
    f.live = False
    f.timestamp_created = 0.0
    f.intercepted = False
    f._resume_event = None
    f._backup = None
    f.marked = ""
    f.is_replay = None
    f.metadata = {}
    f.comment = ""
    return f


def from_state(state: dict[Any, Any]) -> flow.Flow:
    """`flow.Flow.from_state(state)`: the same flow, HTTP flows built faster."""
    if state.get("type") != "http":
        return flow.Flow.from_state(state)
    f = new_http_flow()
    # `HTTPFlow.set_state`, then `Flow.set_state` (its asserts as errors: they hold input)
    f.request = request_from_state(state.pop("request"))
    f.response = response_from_state(r) if (r := state.pop("response")) else None
    f.websocket = WebSocketData.from_state(w) if (w := state.pop("websocket")) else None
    if state.pop("version") != version.FLOW_FORMAT_VERSION or state.pop("type") != f.type:
        raise ValueError("flow state of another version or type")
    f.id = state.pop("id")
    if state["error"]:
        f.error = flow.Error.from_state(state.pop("error"))
    else:
        f.error = state.pop("error")
    set_state(f.client_conn, state.pop("client_conn"))
    # A new server connection is CLOSED (`state` is not part of a record): its
    # `__setattr__` refuses nothing, so its fields are written directly.
    set_state(f.server_conn, state.pop("server_conn"), _assign)
    f.intercepted = state.pop("intercepted")
    f.is_replay = state.pop("is_replay")
    f.marked = state.pop("marked")
    f.metadata = state.pop("metadata")
    f.comment = state.pop("comment")
    f.timestamp_created = state.pop("timestamp_created")
    f._backup = state.pop("backup", None)
    if state != {}:
        raise ValueError("unexpected fields in a flow state")
    return f
