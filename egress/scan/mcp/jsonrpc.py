"""JSON-RPC 2.0 as MCP uses it: recognising and classifying messages, parsing bodies and
events, and the error messages a refused request becomes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from egress.findings import Finding

MCP_PREFIXES = ("tools/", "resources/", "prompts/", "sampling/", "notifications/", "completion/",
                "logging/", "roots/", "elicitation/", "server/", "subscriptions/", "tasks/")
MCP_METHODS = frozenset({"initialize", "ping"})

# JSON-RPC error code for messages the proxy refused (implementation-defined server range).
BLOCKED_CODE = -32001
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

Kind = Literal["request", "notification", "response", "error"]


def is_mcp_method(method: str) -> bool:
    return method in MCP_METHODS or method.startswith(MCP_PREFIXES)


class Malformed(Exception):
    """Not JSON-RPC 2.0. The message names what is wrong, never the content."""


@dataclass(slots=True)
class Message:
    obj: dict[str, Any]
    kind: Kind

    @property
    def id(self) -> Any:
        return self.obj.get("id")

    @property
    def method(self) -> str | None:
        m = self.obj.get("method")
        return m if isinstance(m, str) else None

    @property
    def params(self) -> Any:
        return self.obj.get("params")

    @property
    def result(self) -> Any:
        return self.obj.get("result")


def _valid_id(value: Any) -> bool:
    return (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
            or value is None)


def classify(obj: Any) -> Message:
    """One JSON-RPC 2.0 message, or `Malformed`."""
    if not isinstance(obj, dict):
        raise Malformed("a JSON-RPC message must be an object")
    if obj.get("jsonrpc") != "2.0":
        raise Malformed('missing or wrong "jsonrpc": "2.0"')
    if "method" in obj:
        if not isinstance(obj["method"], str) or not obj["method"]:
            raise Malformed('"method" must be a non-empty string')
        if "params" in obj and not isinstance(obj["params"], (dict, list)):
            raise Malformed('"params" must be an object or an array')
        if "result" in obj or "error" in obj:
            raise Malformed("a request cannot carry a result or an error")
        if "id" not in obj:
            return Message(obj, "notification")
        if obj["id"] is None or not _valid_id(obj["id"]):
            raise Malformed('a request "id" must be a string or an integer')
        return Message(obj, "request")
    if "id" not in obj or not _valid_id(obj["id"]):
        raise Malformed('a response needs an "id" that is a string, an integer or null')
    has_result, has_error = "result" in obj, "error" in obj
    if has_result == has_error:
        raise Malformed("a response carries exactly one of result and error")
    if has_error:
        err = obj["error"]
        if (not isinstance(err, dict) or not isinstance(err.get("code"), int)
                or not isinstance(err.get("message"), str)):
            raise Malformed('"error" must be an object with an integer code and a string message')
        return Message(obj, "error")
    if obj["id"] is None:
        raise Malformed('a result needs a non-null "id"')
    return Message(obj, "response")


@dataclass(slots=True)
class Parsed:
    messages: list[Message]
    batch: bool

    @property
    def is_mcp(self) -> bool:
        """Content says MCP: at least one MCP method (responses alone cannot tell)."""
        return any(m.method is not None and is_mcp_method(m.method) for m in self.messages)


def parse(data: bytes | str) -> Parsed:
    """A body or event: one message or a non-empty batch. Raises `Malformed`."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not valid JSON") from None
    if isinstance(doc, list):
        if not doc:
            raise Malformed("an empty batch")
        return Parsed([classify(o) for o in doc], True)
    return Parsed([classify(doc)], False)


def looks_like_jsonrpc(data: bytes | str) -> bool:
    """Cheap pre-check before parsing: JSON-RPC always names its version."""
    if isinstance(data, bytes):
        return b'"jsonrpc"' in data
    return '"jsonrpc"' in data


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def error_message(msg_id: Any, code: int, text: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": text}
    if data:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": err}


def blocked_error(msg_id: Any, finding: Finding) -> dict[str, Any]:
    """The JSON-RPC error a blocked message becomes: same id, so the client never hangs."""
    return error_message(
        msg_id, BLOCKED_CODE, f"Blocked by bottle-egress ({finding.scanner}/{finding.rule}): "
        f"{finding.reason}", {"scanner": finding.scanner, "rule": finding.rule,
                              "where": finding.where})
