"""The MCP inspector: per-bottle state (sessions, pins, stripped tools) and the decision for
each message, built on the other modules of this package. Messages in, decisions out.

The addon (`addons/mcp.py`) pulls messages out of flows and applies what `McpInspector`
decides: forward a message, replace it (a stripped `tools/list`, a JSON-RPC error carrying the
same id) or drop it. Nothing here touches a flow, the network or the disk.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from egress.findings import Action, Finding
from egress.redact import preview
from egress.scan.mcp.canonical import changed_fields, definition_diff, tool_hash
from egress.scan.mcp.definitions import ToolRegistry
from egress.scan.mcp.jsonrpc import Message, blocked_error, is_mcp_method
from egress.scan.mcp.oneshot import explain
from egress.scan.mcp.paths import argument_strings
from egress.scan.mcp.pins import MemoryPins, Pin, PinStore
from egress.scan.mcp.poisoning import REASONS, DefinitionCheck, check_definition
from egress.scan.mcp.policy import McpPolicy, ServerPolicy
from egress.scan.mcp.sessions import Bounded, SessionTable, id_key
from egress.scan.mcp.text import content_strings
from egress.verdict import first_block, record

# Method of the stand-in a blocked request becomes on the HTTP+SSE transport: no server has it,
# so each answers with a "method not found" error carrying the id, which the proxy replaces.
STAND_IN_METHOD = "bottle-egress/blocked"


# A secret scanner over tools/call arguments: (where, text) pairs in, findings out. The adapter
# passes the DLP engine here, so that a secret in a call becomes a JSON-RPC error, not an HTTP 403.
ArgumentScanner = Callable[[Sequence[tuple[str, str]]], list[Finding]]


@dataclass(slots=True)
class Exchange:
    """Where a batch of messages travels: the server, the pairing scope, and the transport."""

    server: str
    scope: str
    host: str
    path: str
    strict: bool = True  # an MCP session: malformed messages are findings


@dataclass(slots=True)
class Decision:
    """What to do with one message. `replacement` set: send it instead; `drop`: send nothing."""

    message: Message
    findings: list[Finding] = field(default_factory=list)
    replacement: dict[str, Any] | None = None
    drop: bool = False

    @property
    def blocking(self) -> Finding | None:
        return first_block(self.findings)

    @property
    def changed(self) -> bool:
        return self.drop or self.replacement is not None


def _f(scanner: Literal["mcp", "injection"], rule: str, action: Action, where: str, reason: str,
       evidence: str | None = None, detail: str | None = None) -> Finding:
    return Finding(scanner, rule, action, where, reason, evidence, detail=detail)


class McpInspector:
    """Per-bottle MCP state (sessions, pins, stripped tools) and the decisions built on it."""

    def __init__(self, pins: PinStore | None = None) -> None:
        self.sessions = SessionTable()
        self.pins: PinStore = pins or MemoryPins()
        self.servers: set[str] = set()
        self._stripped: dict[str, set[str]] = {}
        # (policy serial, definition hash) -> poisoning checks: a re-listed tool is not re-scanned.
        self._checks: OrderedDict[tuple[int, str], list[DefinitionCheck]] = OrderedDict()
        # Tool names by server, for name shadowing across servers.
        self.tool_names = ToolRegistry()

    # -- client -> server ------------------------------------------------------------------

    def client_messages(self, policy: McpPolicy, ex: Exchange, messages: Sequence[Message],
                        scan_arguments: ArgumentScanner | None = None) -> list[Decision]:
        session = self.sessions.get(ex.scope, ex.server)
        self.servers.add(ex.server)
        server = policy.server_for(ex.host, ex.path)
        out = []
        for msg in messages:
            d = Decision(msg)
            if msg.kind == "request":
                session.client_pending.put(id_key(msg.id), msg.method)
                if msg.method == "tools/call":
                    self._check_call(policy, server, ex, msg, d, scan_arguments)
            elif msg.kind in ("response", "error"):
                self._pair(policy, ex, session.server_pending, session.server_answered, msg, d,
                           "request.body")
            out.append(d)
        return out

    def _check_call(self, policy: McpPolicy, server: ServerPolicy, ex: Exchange, msg: Message,
                    d: Decision, scan_arguments: ArgumentScanner | None) -> None:
        params = msg.params if isinstance(msg.params, dict) else {}
        tool = params.get("name")
        action = policy.action("tool_policy")
        if not isinstance(tool, str):
            return
        verdict = server.tool_verdict(tool)
        if verdict is not None:
            self._add(d, _f("mcp", verdict, action, "request.params.name",
                            f"tool {tool!r} is {'denied' if verdict == 'tool-denied' else 'not allowed'} "
                            f"for {ex.server} by {server.label}"))
        if tool in self._stripped.get(ex.server, ()):
            self._add(d, _f("mcp", "call-to-stripped-tool", action, "request.params.name",
                            f"tool {tool!r} of {ex.server} was removed from its listing as poisoned"))
        changed = self.pins.pending(ex.server, tool)
        if changed is not None and server.pins.get(tool) != changed.hash:
            rug = policy.action("rug_pull")
            self._add(d, _f("mcp", "call-to-changed-tool", "audit" if rug == "audit" else "block",
                            "request.params.name",
                            f"tool {tool!r} of {ex.server} changed since it was pinned and is not "
                            f"approved; pin {changed.hash} in the policy to allow it"))
        args = params.get("arguments")
        strings = list(argument_strings(args)) if args is not None else []
        for rule in (*server.arguments, *policy.arguments):
            for path, value in strings:
                if not rule.covers(tool, path):
                    continue
                why = rule.violation(value)
                if why is not None:
                    self._add(d, _f("mcp", "argument-denied", action, f"request.params.arguments.{path}",
                                    rule.reason or f"argument {path!r} of {tool!r} is {why} "
                                    f"({rule.label})", preview(value)))
                    break
        if scan_arguments is not None and strings:
            for finding in scan_arguments([(f"request.params.arguments.{p}", v) for p, v in strings]):
                self._add(d, finding)
        if d.blocking is not None:
            d.replacement = blocked_error(msg.id, d.blocking)

    def answered_locally(self, ex: Exchange, ids: Iterable[Any]) -> None:
        """The proxy answered these requests itself: no server response is expected."""
        session = self.sessions.find(ex.scope)
        if session is not None:
            for msg_id in ids:
                session.client_pending.pop(id_key(msg_id), None)

    def divert(self, ex: Exchange, decisions: Sequence[Decision]) -> list[dict[str, Any]]:
        """For transports that answer on another channel (HTTP+SSE): the messages to send on
        instead, with each blocked request replaced by a stand-in with the same id that no
        server executes, whose answer is then replaced by the blocking error."""
        session = self.sessions.get(ex.scope, ex.server)
        out = []
        for d in decisions:
            if d.blocking is None:
                out.append(d.message.obj)
            elif d.message.kind == "request":
                session.held.put(id_key(d.message.id), d.blocking)
                out.append({"jsonrpc": "2.0", "id": d.message.id, "method": STAND_IN_METHOD})
        return out

    # -- server -> client -------------------------------------------------------------------

    def server_messages(self, policy: McpPolicy, ex: Exchange,
                        messages: Sequence[Message]) -> list[Decision]:
        session = self.sessions.get(ex.scope, ex.server)
        if ex.strict:
            self.servers.add(ex.server)
        out = []
        for msg in messages:
            d = Decision(msg)
            if not ex.strict and not _mcp_like(msg):
                out.append(d)  # JSON-RPC of another protocol (e.g. a blockchain node): not ours
                continue
            if msg.kind in ("response", "error"):
                method = self._pair(policy, ex, session.client_pending, session.client_answered, msg,
                                    d, "response")
                held = session.held.pop(id_key(msg.id), None) if msg.id is not None else None
                if held is not None:
                    d.replacement = blocked_error(msg.id, held)
                elif msg.kind == "response":
                    self._inspect_result(policy, ex, method, msg, d)
            elif msg.kind == "request":
                session.server_pending.put(id_key(msg.id), msg.method)
                self._inspect_text(policy, msg.params, "request.params", msg, d)
            else:
                self._inspect_text(policy, msg.params, "notification.params", msg, d)
            out.append(d)
        return out

    def malformed(self, policy: McpPolicy, where: str, problem: str) -> Finding:
        return _f("mcp", "malformed-message", policy.action("protocol"), where,
                  f"malformed JSON-RPC on an MCP session: {problem}")

    def _pair(self, policy: McpPolicy, ex: Exchange, pending: Bounded, answered: Bounded,
              msg: Message, d: Decision, where: str) -> str | None:
        if msg.id is None:  # an error about a request that could not be parsed
            return None
        key = id_key(msg.id)
        method = pending.pop(key, None)
        if method is not None or key in pending:
            answered.put(key, method)
            return method  # type: ignore[no-any-return]
        if not ex.strict:
            return None  # outside a known MCP session there is nothing to pair with
        action = policy.action("protocol")
        if key in answered:
            self._add(d, _f("mcp", "duplicate-response-id", action, f"{where}.id",
                            "a response answers a request id that was already answered"))
        else:
            self._add(d, _f("mcp", "unknown-response-id", action, f"{where}.id",
                            "a response answers a request id that was never sent on this session"))
        if d.blocking is not None:
            d.drop = True
        return None

    def _inspect_result(self, policy: McpPolicy, ex: Exchange, method: str | None, msg: Message,
                        d: Decision) -> None:
        result = msg.result
        if not isinstance(result, dict):
            return
        lists = [(k, item_kind) for k, item_kind in (("tools", "tool"), ("prompts", "prompt"),
                 ("resources", "resource"), ("resourceTemplates", "resource template"))
                 if isinstance(result.get(k), list)]
        if method in ("tools/list", "prompts/list", "resources/list", "resources/templates/list") or lists:
            self._inspect_listing(policy, ex, msg, d, lists)
            return
        if isinstance(result.get("instructions"), str):
            # Server instructions join the system prompt: judged like a tool definition.
            self._inspect_instructions(policy, ex, msg, d, result["instructions"])
            result = {k: v for k, v in result.items() if k != "instructions"}
        self._inspect_text(policy, result, "response.result", msg, d)

    def _inspect_text(self, policy: McpPolicy, obj: Any, where: str, msg: Message,
                      d: Decision) -> None:
        if d.drop or obj is None:
            return
        strings = list(content_strings(obj, where))
        if not strings:
            return
        scanner = policy.content_scanner
        text = strings[0][1] if len(strings) == 1 else "\n".join(t for _, t in strings)
        hit = scanner.scan(text)
        if hit is None:
            return
        path = next((p for p, t in strings if scanner.scan(t) is not None), where)
        what = {"response.result": "the result", "request.params": f"the {msg.method} request",
                "notification.params": f"the {msg.method} notification"}.get(where, where)
        finding = _f("injection", hit.rule.id, policy.family_action(hit.rule.id, "injection"), path,
                     f"prompt injection ({explain(hit)}) in {what}", preview(hit.snippet))
        self._add(d, finding)
        if d.blocking is not None:
            if msg.kind == "response":
                d.replacement = blocked_error(msg.id, d.blocking)
            else:
                d.drop = True

    def _inspect_instructions(self, policy: McpPolicy, ex: Exchange, msg: Message, d: Decision,
                              text: str) -> None:
        checks = self._definition_checks(policy, {"instructions": text}, is_tool=False, exempt=False)
        for c in checks:
            action = policy.family_action(c.rule, "poisoning")
            self._add(d, _f("mcp", c.rule, action, "response.result.instructions",
                            f"the server instructions of {ex.server} carry {REASONS[c.rule]}",
                            c.evidence))
        if d.blocking is not None:
            d.replacement = blocked_error(msg.id, d.blocking)

    def _definition_checks(self, policy: McpPolicy, item: dict[str, Any], *, is_tool: bool,
                           exempt: bool, digest: str | None = None) -> list[DefinitionCheck]:
        key = (policy.serial, (digest or tool_hash(item)) + ("/exempt" if exempt else ""))
        cached = self._checks.get(key)
        if cached is not None:
            self._checks.move_to_end(key)
            return cached
        scanner = policy.tool_scanner
        checks = check_definition(item, scanner, is_tool=is_tool, name_exempt=exempt)
        self._checks[key] = checks
        while len(self._checks) > 8192:
            self._checks.popitem(last=False)
        return checks

    def _inspect_listing(self, policy: McpPolicy, ex: Exchange, msg: Message, d: Decision,
                         lists: list[tuple[str, str]]) -> None:
        result = msg.result
        server = policy.server_for(ex.host, ex.path)
        rug_action = policy.action("rug_pull")
        tool_action = policy.action("tool_policy")
        new_result = dict(result)
        changed = False
        first_listing = not self.pins.known(ex.server)
        for key, item_kind in lists:
            kept = []
            for i, item in enumerate(result[key]):
                if not isinstance(item, dict):
                    kept.append(item)
                    continue
                raw_name = item.get("name")
                name = raw_name if isinstance(raw_name, str) else f"#{i}"
                where = f"response.result.{key}[{i}]"
                digest = tool_hash(item)
                remove = False
                is_tool = key == "tools"
                if is_tool:
                    verdict = server.tool_verdict(name)
                    if verdict is not None:
                        self._add(d, _f("mcp", verdict, "strip" if tool_action == "block" else "audit",
                                        f"{where}.name", f"tool {name!r} is "
                                        f"{'denied' if verdict == 'tool-denied' else 'not allowed'} "
                                        f"for {ex.server} by {server.label}"))
                        remove = tool_action == "block"
                exempt = is_tool and server.exempt_name(name)
                checks = self._definition_checks(policy, item, is_tool=is_tool, digest=digest, exempt=exempt)
                if is_tool:
                    checks = [*checks, *(DefinitionCheck(c.rule, c.path, c.evidence, c.what)
                                         for c in self.tool_names.check(ex.server, item, exempt=exempt))]
                for c in checks:
                    action = policy.family_action(c.rule, "poisoning")
                    self._add(d, _f("mcp", c.rule, action, f"{where}.{c.path}",
                                    f"{item_kind} {name!r} of {ex.server} carries {REASONS[c.rule]} "
                                    f"in {c.what}", c.evidence))
                    remove = remove or action == "strip"
                if is_tool:
                    # Calls to a stripped tool are refused; a changed one has its own rule.
                    if remove:
                        self._stripped.setdefault(ex.server, set()).add(name)
                    else:
                        self._stripped.get(ex.server, set()).discard(name)
                    remove = self._check_pin(server, ex, item, digest, name, where, d, first_listing,
                                             rug_action) or remove
                if remove:
                    changed = True
                else:
                    kept.append(item)
            new_result[key] = kept
        if d.blocking is not None:
            d.replacement = blocked_error(msg.id, d.blocking)
        elif changed:
            d.replacement = {**msg.obj, "result": new_result}

    def _check_pin(self, server: ServerPolicy, ex: Exchange, tool: dict[str, Any], digest: str,
                   name: str, where: str, d: Decision, first_listing: bool, action: Action) -> bool:
        """Rug-pull check of one listed tool; True when it should be stripped."""
        approved = server.pins.get(name)
        pinned = self.pins.get(ex.server, name)
        if approved is not None:
            if digest == approved:
                if pinned is None or pinned.hash != digest:
                    self.pins.set(ex.server, name, Pin(digest, tool))
                self.pins.set_pending(ex.server, name, None)
                return False
            self.pins.set_pending(ex.server, name, Pin(digest, tool))
            detail = definition_diff(pinned.definition, tool) if pinned is not None else None
            self._add(d, _f("mcp", "tool-pin-mismatch", action, where,
                            f"tool {name!r} of {ex.server} hashes to {digest}, not to the {approved} "
                            f"a reviewer pinned", detail=detail))
            return action == "strip"
        if pinned is None:
            self.pins.set(ex.server, name, Pin(digest, tool))
            if not first_listing:
                self._add(d, _f("mcp", "tool-added", "audit", where,
                                f"server {ex.server} lists a new tool {name!r}; pinned as {digest}"))
            return False
        if pinned.hash == digest:
            self.pins.set_pending(ex.server, name, None)
            return False
        self.pins.set_pending(ex.server, name, Pin(digest, tool))
        fields = ", ".join(changed_fields(pinned.definition, tool))
        self._add(d, _f("mcp", "tool-changed", action, where,
                        f"tool {name!r} of {ex.server} changed since it was pinned ({fields}); "
                        f"calls are blocked until a reviewer pins {digest}",
                        detail=definition_diff(pinned.definition, tool)))
        return action == "strip"

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _add(d: Decision, finding: Finding) -> None:
        record(d, [finding], "enforce")


_MCP_RESULT_KEYS = frozenset({"content", "contents", "structuredContent", "tools", "prompts",
                              "resources", "resourceTemplates", "messages", "instructions",
                              "protocolVersion", "serverInfo"})


def _mcp_like(msg: Message) -> bool:
    """Outside a known MCP session, only messages shaped like MCP are inspected."""
    if msg.method is not None:
        return is_mcp_method(msg.method)
    return isinstance(msg.result, dict) and not _MCP_RESULT_KEYS.isdisjoint(msg.result)
