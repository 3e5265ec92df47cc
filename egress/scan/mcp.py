"""MCP inspection, pure: JSON-RPC recognition, SSE event framing, tool poisoning, rug-pull pins,
tool policy and request/response pairing. Bytes and dicts in, findings and decisions out.

The addon (`addons/mcp.py`) pulls messages out of flows and applies what `McpInspector`
decides: forward a message, replace it (a stripped `tools/list`, a JSON-RPC error carrying the
same id) or drop it. Nothing here touches a flow, the network or the disk.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import posixpath
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from egress.findings import Action, Finding
from egress.hostmatch import HostSet, normalize_host, path_has_prefix
from egress.policy.model import McpArgumentRule, McpSection, McpServerRule
from egress.redact import preview
from egress.scan import mcp_definitions
from egress.scan.injection import Hit, InjectionScanner
from egress.scan.normalize import normalize
from egress.verdict import first_block, record

RULES: dict[str, str] = {
    # protocol
    "malformed-message": "A message on an MCP session is not valid JSON-RPC 2.0.",
    "unknown-response-id": "A response answers a request id that was never sent on this session.",
    "duplicate-response-id": "A response answers a request id that was already answered.",
    "oversized-event": "An SSE event on an MCP stream exceeds limits.max_body_bytes.",
    "undecodable-stream": "An MCP response (event stream or JSON body) has a content encoding that "
    "cannot be decoded (corrupt, truncated or unsupported); blocked, its requests answered with "
    "errors.",
    "header-mismatch": "The Mcp-Method / Mcp-Name headers disagree with the JSON-RPC body.",
    # tool poisoning (definitions in tools/list, prompts/list, resources/list, server instructions)
    "poison-code-insertion": "A definition asks the model to add or run code that sends data out, runs "
    "downloaded code, opens a shell, persists or destroys.",
    "poison-exfiltration-request": "A definition tells the model to send data to an outside address.",
    "poison-tool-call-request": "A definition tells the model to call a tool or fetch an outside address.",
    "poison-task-hijack": "A definition tells the model to answer something else or change its answers.",
    "poison-hidden-instruction": "A definition carries <IMPORTANT>-style tags, notes to the model, or "
    "instructions hidden in comments or invisible characters.",
    "poison-instruction-override": "A definition tells the model to ignore its instructions.",
    "poison-role-impersonation": "A definition impersonates the system or a privileged role.",
    "poison-fake-delimiter": "A definition contains chat-template delimiters.",
    "poison-credential-solicitation": "A definition asks for secrets or the system prompt.",
    "poison-credential-path": "A definition directs the model to credential files or the environment.",
    "poison-covert-action": "A definition tells the model to hide what it does from the user.",
    "poison-encoded-instructions": "A definition hides instructions in an encoded blob.",
    "poison-prompt-harvest": "A definition asks for the system prompt, reasoning or conversation.",
    "poison-tool-shadowing": "A definition tells the model to prefer it over, or rewire, other tools.",
    "poison-directive-score": "A definition scores over the threshold on weaker signals together "
    "(directives to the model, references to its instructions, secrecy, secrets, outside addresses).",
    "poison-invisible-text": "A definition contains invisible or bidirectional-control characters.",
    "poison-name-mimicry": "A tool is named like a shell binary (bash, curl, ssh, rm...).",
    "poison-exfil-parameter": "A tool parameter is shaped to receive secrets or the conversation.",
    # rug pulls
    "tool-changed": "A tool's definition differs from the one pinned when the server was first seen.",
    "tool-pin-mismatch": "A tool's definition differs from the hash a reviewer pinned in the policy.",
    "tool-added": "A server that was already pinned lists a new tool (logged, pinned on first use).",
    "call-to-changed-tool": "A call to a tool whose definition changed and is not yet approved.",
    # tool policy
    "tool-denied": "A tool in the server's deny list was listed or called.",
    "tool-not-allowed": "A tool outside the server's allow list was listed or called.",
    "call-to-stripped-tool": "A call to a tool that was removed from the listing as poisoned.",
    "argument-denied": "A tools/call argument matched a deny_paths or deny_patterns rule.",
    **mcp_definitions.RULES,
}

MCP_PREFIXES = ("tools/", "resources/", "prompts/", "sampling/", "notifications/", "completion/",
                "logging/", "roots/", "elicitation/", "server/", "subscriptions/", "tasks/")
MCP_METHODS = frozenset({"initialize", "ping"})

# JSON-RPC error code for messages the proxy refused (implementation-defined server range).
BLOCKED_CODE = -32001
PARSE_ERROR = -32700
INVALID_REQUEST = -32600

MAX_PENDING = 4096
# Method of the stand-in a blocked request becomes on the HTTP+SSE transport: no server has it,
# so each answers with a "method not found" error carrying the id, which the proxy replaces.
STAND_IN_METHOD = "bottle-egress/blocked"
MAX_SESSIONS = 4096

Kind = Literal["request", "notification", "response", "error"]
CheckName = Literal["poisoning", "rug_pull", "injection", "tool_policy", "protocol"]


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


# -- SSE framing ------------------------------------------------------------------------------

_EVENT_END = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r(?!\n))")
_LINE = re.compile(rb"\r\n|\n|\r")


class EventTooLarge(Exception):
    pass


@dataclass(slots=True)
class SseEvent:
    raw: bytes
    data: str | None
    event: str
    id: str | None

    @property
    def is_message(self) -> bool:
        return self.event == "message"


def parse_event(raw: bytes) -> SseEvent:
    data: list[str] = []
    event, eid = "message", None
    for line in _LINE.split(raw):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", "replace")
        if name == b"data":
            data.append(text)
        elif name == b"event":
            event = text or "message"
        elif name == b"id":
            eid = text
    return SseEvent(raw, "\n".join(data) if data else None, event, eid)


def event_bytes(data: str, like: SseEvent | None = None) -> bytes:
    """An SSE event carrying `data`, keeping the event name and id of the one it replaces."""
    lines = []
    if like is not None and like.id is not None:
        lines.append(f"id: {like.id}")
    if like is not None and like.event != "message":
        lines.append(f"event: {like.event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class SseDecoder:
    """Reassembles SSE events across network chunks. Only complete events come out."""

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if chunk:
            self._buf += chunk
        out: list[SseEvent] = []
        start = 0
        while True:
            m = _EVENT_END.search(self._buf, start)
            # A trailing CR may be the first half of CRLF: wait for the next chunk.
            if m is None or (m.end() == len(self._buf) and self._buf.endswith(b"\r") and chunk):
                break
            raw = bytes(self._buf[start:m.end()])
            start = m.end()
            if raw.strip(b"\r\n"):
                out.append(parse_event(raw))
            else:
                out.append(SseEvent(raw, None, "message", None))
        if start:
            del self._buf[:start]
        if len(self._buf) > self.max_event_bytes:
            raise EventTooLarge(f"an SSE event exceeds {self.max_event_bytes} bytes")
        return out

    def rest(self) -> bytes:
        """An unterminated last event at the end of the stream (dropped per the SSE spec)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest


# -- canonical JSON, hashes, diffs --------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def _canonical_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SPACES.sub(" ", value).strip()
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items() if k != "icons"}
    if isinstance(value, list):
        return [_canonical_value(v) for v in value]
    return value


def canonical_json(tool: Any) -> str:
    """Sorted keys, no insignificant whitespace, runs of whitespace inside strings folded to one
    space; icons left out (not model-visible). Key order and formatting are not changes."""
    return json.dumps(_canonical_value(tool), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def tool_hash(tool: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(tool).encode()).hexdigest()


def definition_diff(old: Any, new: Any, max_lines: int = 60) -> str:
    """A unified diff of two definitions, pretty-printed with sorted keys."""
    import difflib  # only when a pinned tool changed: not on every start

    a = json.dumps(_canonical_value(old), sort_keys=True, indent=1, ensure_ascii=False).splitlines()
    b = json.dumps(_canonical_value(new), sort_keys=True, indent=1, ensure_ascii=False).splitlines()
    lines = list(difflib.unified_diff(a, b, "pinned", "now", n=1, lineterm=""))
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more diff lines)"]
    return "\n".join(lines)


def changed_fields(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["definition"]
    keys = sorted(set(old) | set(new))
    return [k for k in keys if _canonical_value(old.get(k)) != _canonical_value(new.get(k))]


# -- model-visible text -------------------------------------------------------------------------

def visible_strings(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for every string a model may read in a definition, including the keys of
    objects (schema property names) and everything nested in schemas. Icons are skipped."""
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k == "icons":
                continue
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and k not in _PLAIN_KEYS:
                yield f"{sub}#key", k
            yield from visible_strings(v, sub)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from visible_strings(v, f"{path}[{i}]")


# Keys whose names are fixed by MCP / JSON Schema: not worth scanning as text.
_PLAIN_KEYS = frozenset({
    "name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta", "type",
    "properties", "required", "items", "enum", "default", "examples", "pattern", "format",
    "anyOf", "oneOf", "allOf", "$defs", "definitions", "$ref", "$schema", "additionalProperties",
    "minimum", "maximum", "minLength", "maxLength", "const", "arguments", "uri", "uriTemplate",
    "mimeType", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint", "text",
})


def content_strings(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for the text in results, resources, prompts and notifications. Binary
    payloads (image/audio `data`, resource `blob`) are not text and are skipped."""
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        binary = obj.get("type") in ("image", "audio")
        for k, v in obj.items():
            if k == "blob" or (binary and k == "data") or k == "icons":
                continue
            yield from content_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from content_strings(v, f"{path}[{i}]")


# -- tool poisoning -------------------------------------------------------------------------

SHELL_NAMES = frozenset({
    "bash", "sh", "zsh", "fish", "dash", "ksh", "csh", "tcsh", "shell", "cmd", "cmd.exe",
    "powershell", "pwsh", "curl", "wget", "ssh", "scp", "sftp", "rsync", "nc", "ncat", "netcat",
    "socat", "telnet", "sudo", "su", "doas", "eval", "exec", "rm", "rmdir", "dd", "mkfs", "chmod",
    "chown", "chgrp", "cat", "mv", "cp", "kill", "pkill", "killall", "python", "python3", "perl",
    "ruby", "node", "php", "osascript", "crontab", "at", "systemctl", "git", "docker", "kubectl",
    "nmap", "base64", "xargs", "tee", "awk", "sed", "find", "env", "printenv", "export", "source",
})

_EXFIL_PARAM = re.compile(
    r"^(?:side_?notes?|system_?prompts?|sys_?prompt|system_?(?:message|instructions)|"
    r"developer_?(?:message|prompt|instructions)|(?:conversation|chat|message)_?(?:history|log|transcript|"
    r"so_?far)|previous_?(?:messages|instructions|context)|prior_?messages|full_?(?:context|conversation)|"
    r"context_?window|chain_?of_?thought|reasoning_?trace|hidden_?\w+|secret_?(?:notes?|instructions)|"
    r"internal_?(?:notes?|instructions|context)|model_?(?:instructions|context)|ssh_?(?:key|private_?key)s?|"
    r"private_?keys?|id_?rsa|env_?(?:vars?|variables|dump|file)|dotenv|credentials?_?(?:file|dump|"
    r"contents?)|mcp_?config|(?:other|all)_?tool_?(?:outputs|results)|user_?secrets?)$")

_EMOJI_JOINERS = frozenset("\u200d\ufe0f\ufe0e")


def suspicious_invisible(text: str) -> bool:
    """Invisible, bidi-control or tag characters, except the joiners emoji sequences use."""
    if text.isascii():
        return False
    prev = ""
    for c in text:
        o = ord(c)
        if c in _EMOJI_JOINERS:
            if not (prev and (unicodedata.category(prev) in ("So", "Sk") or ord(prev) > 0x1F000)):
                return True
        elif 0xE0000 <= o <= 0xE007F:
            if prev != "\U0001f3f4" and not (0xE0000 <= ord(prev or " ") <= 0xE007F):
                return True
        elif unicodedata.category(c) == "Cf" and c not in "\u00ad":
            return True
        prev = c
    return False


@dataclass(frozen=True, slots=True)
class DefinitionCheck:
    """Poisoning findings of one definition (a tool, prompt, resource, or server instructions)."""

    rule: str
    path: str
    evidence: str | None
    what: str


def _family_rule(hit: Hit) -> str:
    if hit.view.startswith(("base64", "hex")):
        return "poison-encoded-instructions"
    if hit.view in ("tag-characters", "invisible-as-space"):
        return "poison-invisible-text"
    return f"poison-{hit.rule.family}"


_REASONS = {
    "poison-code-insertion": "a request to add or run code that must never come from a tool",
    "poison-exfiltration-request": "instructions to send data to an outside address",
    "poison-tool-call-request": "instructions to call a tool or fetch an outside address",
    "poison-task-hijack": "instructions to answer something else or change the model's answers",
    "poison-hidden-instruction": "hidden instruction tags, notes to the model or hidden text",
    "poison-instruction-override": "instructions to ignore the model's instructions",
    "poison-role-impersonation": "text impersonating the system or a privileged role",
    "poison-fake-delimiter": "chat-template delimiters",
    "poison-credential-solicitation": "a request for secrets or the system prompt",
    "poison-credential-path": "directions to credential files or the environment",
    "poison-covert-action": "instructions to hide actions from the user",
    "poison-encoded-instructions": "instructions hidden in an encoded blob",
    "poison-prompt-harvest": "a request for the system prompt, reasoning or conversation",
    "poison-tool-shadowing": "instructions to prefer it over, or rewire, other tools",
    "poison-directive-score": "text that reads as directives to the model (learned score)",
    "poison-invisible-text": "invisible or bidirectional-control characters",
    "poison-name-mimicry": "a name that mimics a shell binary",
    "poison-exfil-parameter": "a parameter shaped to receive secrets or the conversation",
    **mcp_definitions.REASONS,
}


def check_definition(obj: dict[str, Any], scanner: InjectionScanner, *, is_tool: bool,
                     name_exempt: bool = False) -> list[DefinitionCheck]:
    """Every poisoning signal in one definition. Empty when it is clean."""
    out: list[DefinitionCheck] = []
    strings = list(visible_strings(obj, ""))
    name = obj.get("name")
    if is_tool and isinstance(name, str) and not name_exempt:
        folded = normalize(name).strip().lower()
        if folded in SHELL_NAMES or folded.removesuffix(".exe") in SHELL_NAMES:
            out.append(DefinitionCheck("poison-name-mimicry", "name", None, "name"))
    for path, text in strings:
        if suspicious_invisible(text):
            out.append(DefinitionCheck("poison-invisible-text", path, preview(text), path))
            break
    if is_tool:
        for path, text in strings:
            if path.endswith("#key") and ".properties." in f".{path}" and _EXFIL_PARAM.match(
                    normalize(text).lower().replace("-", "_")):
                out.append(DefinitionCheck("poison-exfil-parameter", path.removesuffix("#key"),
                                           None, path.removesuffix("#key")))
                break
    joined = "\n".join(text for _, text in strings)
    hit = scanner.scan(joined)
    if hit is not None:
        where = next((p for p, t in strings if scanner.scan(t) is not None), "definition")
        out.append(DefinitionCheck(_family_rule(hit), where.removesuffix("#key"), preview(hit.snippet),
                                   where.removesuffix("#key")))
    out += [DefinitionCheck(c.rule, c.path, c.evidence, c.what)
            for c in mcp_definitions.definition_checks(obj, is_tool=is_tool, name_exempt=name_exempt)]
    return out


# -- paths in arguments -----------------------------------------------------------------------

_HOME = re.compile(r"^(?:/home/[^/]+|/Users/[^/]+|/root|/var/root)(?=/|$)")
_TOKEN_SPLIT = re.compile(r"[\s\"'`=,;|&<>()\[\]{}]+")


def _norm_path(value: str) -> str | None:
    """A path-looking value in canonical form (`~` for any home), or None."""
    v = value.strip()
    if v.startswith("file://"):
        v = unquote(urlsplit(v).path)
    elif "%2" in v.lower():
        v = unquote(v)
    v = v.replace("\\", "/").replace("${HOME}", "~").replace("$HOME", "~")
    if not v or ("/" not in v and not v.startswith((".", "~"))):
        return None
    if v.startswith("~"):
        rest = v[1:]
        if rest and not rest.startswith("/"):
            rest = rest.split("/", 1)[1] if "/" in rest else ""  # ~user/...
        v = "~/" + rest.lstrip("/")
    elif v.startswith("/"):
        v = posixpath.normpath(v)
        v = _HOME.sub("~", v)
        return v
    v = posixpath.normpath(v)
    return v


def _relative_candidates(path: str) -> list[str]:
    """A relative path could start anywhere: test it as under home and as under /."""
    rel = path
    while rel.startswith(("../", "./")):
        rel = rel.split("/", 1)[1]
    if rel in ("..", "."):
        return []
    as_root = _HOME.sub("~", posixpath.normpath("/" + rel))
    return list(dict.fromkeys(["~/" + rel, as_root]))


def path_under(value: str, denied: Sequence[str]) -> str | None:
    """The denied prefix that `value` (or a path inside it, e.g. a shell command) falls under."""
    tokens = [value, *_TOKEN_SPLIT.split(value)] if len(value) < 8192 else [value]
    for token in tokens:
        norm = _norm_path(token)
        if norm is None:
            continue
        candidates = [norm] if norm.startswith(("~", "/")) else _relative_candidates(norm)
        for cand in candidates:
            for d in denied:
                if cand == d or cand.startswith(d.rstrip("/") + "/"):
                    return d
    return None


def argument_strings(args: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) for every string in tools/call arguments (keys included)."""
    if isinstance(args, str):
        yield path, args
    elif isinstance(args, dict):
        for k, v in args.items():
            sub = f"{path}.{k}" if path else str(k)
            yield from argument_strings(v, sub)
    elif isinstance(args, list):
        for i, v in enumerate(args):
            yield from argument_strings(v, f"{path}[{i}]" if path else f"[{i}]")
    elif isinstance(args, (int, float)) and not isinstance(args, bool):
        yield path, str(args)


@dataclass(frozen=True)
class ArgumentRule:
    label: str
    tools: tuple[str, ...]
    arguments: tuple[str, ...]
    deny_paths: tuple[str, ...]
    deny_patterns: tuple[re.Pattern[str], ...]
    reason: str | None

    @classmethod
    def of(cls, rule: McpArgumentRule, label: str) -> ArgumentRule:
        paths = []
        for p in rule.deny_paths:
            norm = _norm_path(p)
            paths.append((norm or p).rstrip("/") or "/")
        return cls(rule.name or label, tuple(rule.tools), tuple(rule.arguments), tuple(paths),
                   tuple(re.compile(x, re.IGNORECASE) for x in rule.deny_patterns), rule.reason)

    def covers(self, tool: str, arg_path: str) -> bool:
        if not any(fnmatch.fnmatchcase(tool, g) for g in self.tools):
            return False
        bare = re.sub(r"\[\d+\]", "", arg_path)
        return any(g == "*" or fnmatch.fnmatchcase(bare, g) or fnmatch.fnmatchcase(
            bare.rsplit(".", 1)[-1], g) for g in self.arguments)

    def violation(self, value: str) -> str | None:
        if self.deny_paths:
            hit = path_under(value, self.deny_paths)
            if hit is not None:
                return f"a path under {hit}"
        for rx in self.deny_patterns:
            if rx.search(value):
                return f"a value matching /{rx.pattern}/"
        return None


# -- compiled policy ----------------------------------------------------------------------------

def _globs_match(globs: Iterable[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


@dataclass(frozen=True)
class ServerPolicy:
    label: str
    hosts: HostSet
    paths: tuple[str, ...] | None
    allow_tools: tuple[str, ...] | None
    deny_tools: tuple[str, ...]
    arguments: tuple[ArgumentRule, ...]
    pins: dict[str, str]

    @classmethod
    def of(cls, rule: McpServerRule, index: int) -> ServerPolicy:
        label = f"mcp.servers[{index}]" + (f" ({rule.name})" if rule.name else "")
        return cls(label, HostSet(rule.hosts), tuple(rule.paths) if rule.paths else None,
                   tuple(rule.allow_tools) if rule.allow_tools is not None else None,
                   tuple(rule.deny_tools),
                   tuple(ArgumentRule.of(a, f"{label}.arguments[{i}]")
                         for i, a in enumerate(rule.arguments)), dict(rule.pins))

    def covers(self, host: str, path: str) -> bool:
        return host in self.hosts and (self.paths is None or any(
            path_has_prefix(path, p) for p in self.paths))

    def tool_verdict(self, tool: str) -> str | None:
        """`tool-denied`, `tool-not-allowed` or None."""
        if _globs_match(self.deny_tools, tool):
            return "tool-denied"
        if self.allow_tools is not None and not _globs_match(self.allow_tools, tool):
            return "tool-not-allowed"
        return None

    def exempt_name(self, tool: str) -> bool:
        return self.allow_tools is not None and tool in self.allow_tools


_NO_SERVER = ServerPolicy("default", HostSet([]), None, None, (), (), {})


_POLICY_SERIALS = itertools.count()
# Families whose findings are only logged unless the policy says otherwise.
_FAMILY_DEFAULTS: dict[str, Action] = {"tool-name-collision": "audit"}


class McpPolicy:
    """Compiled `mcp:` section, built once per policy load."""

    def __init__(self, section: McpSection) -> None:
        # Identifies this compiled policy in caches (an id() can be reused after a reload).
        self.serial = next(_POLICY_SERIALS)
        self.section = section
        self.enabled = section.enabled
        self.actions = section.actions
        self._families: dict[str, Action] = {str(k): v for k, v in section.actions.families.items()}
        self.content_scanner = InjectionScanner(section.injection_sensitivity, "content")
        self.tool_scanner = InjectionScanner(section.injection_sensitivity, "tool")
        self.arguments = tuple(ArgumentRule.of(a, f"mcp.arguments[{i}]")
                               for i, a in enumerate(section.arguments))
        self.servers = tuple(ServerPolicy.of(r, i) for i, r in enumerate(section.servers))

    def server_for(self, host: str, path: str) -> ServerPolicy:
        host = normalize_host(host)
        path = urlsplit(path).path or "/"
        return next((s for s in self.servers if s.covers(host, path)), _NO_SERVER)

    def action(self, check: CheckName) -> Action:
        return getattr(self.actions, check)  # type: ignore[no-any-return]

    def family_action(self, rule: str, check: CheckName) -> Action:
        """The action of one finding: its family's (`mcp.actions.families`), else its check's.
        Results cannot be stripped: `strip` blocks them."""
        family = rule.removeprefix("poison-")
        chosen = (self._families.get(family) or _FAMILY_DEFAULTS.get(family)
                  or self.action(check))
        return "block" if chosen == "strip" and check == "injection" else chosen


# -- sessions and pairing ---------------------------------------------------------------------

def id_key(value: Any) -> str:
    """Pairing key of a JSON-RPC id: 1 and "1" are different ids."""
    return json.dumps(value)


class _Bounded(OrderedDict[str, Any]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class Session:
    """One MCP session (or one stateless exchange): who asked what, and what was answered."""

    server: str
    client_pending: _Bounded = field(default_factory=lambda: _Bounded(MAX_PENDING))
    client_answered: _Bounded = field(default_factory=lambda: _Bounded(MAX_PENDING))
    server_pending: _Bounded = field(default_factory=lambda: _Bounded(MAX_PENDING))
    server_answered: _Bounded = field(default_factory=lambda: _Bounded(MAX_PENDING))
    # Blocked requests sent on as a harmless stand-in (HTTP+SSE transport): id -> the finding
    # whose error replaces the server's answer on the event stream.
    held: _Bounded = field(default_factory=lambda: _Bounded(MAX_PENDING))


class SessionTable:
    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._sessions: _Bounded = _Bounded(limit)

    def get(self, scope: str, server: str) -> Session:
        s = self._sessions.get(scope)
        if s is None:
            s = Session(server)
            self._sessions.put(scope, s)
        else:
            self._sessions.move_to_end(scope)
        return s

    def find(self, scope: str) -> Session | None:
        found: Session | None = self._sessions.get(scope)
        return found

    def drop(self, scope: str) -> None:
        self._sessions.pop(scope, None)


# -- pins -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Pin:
    hash: str
    definition: Any


class PinStore(Protocol):
    """Per-bottle memory of tool definitions (`egress.mcp_pins.ToolPins` persists it)."""

    def get(self, server: str, tool: str) -> Pin | None: ...

    def set(self, server: str, tool: str, pin: Pin) -> None: ...

    def known(self, server: str) -> bool: ...

    def pending(self, server: str, tool: str) -> Pin | None: ...

    def set_pending(self, server: str, tool: str, pin: Pin | None) -> None: ...


class MemoryPins:
    def __init__(self) -> None:
        self.pins: dict[str, dict[str, Pin]] = {}
        self.changed: dict[str, dict[str, Pin]] = {}

    def get(self, server: str, tool: str) -> Pin | None:
        return self.pins.get(server, {}).get(tool)

    def set(self, server: str, tool: str, pin: Pin) -> None:
        self.pins.setdefault(server, {})[tool] = pin

    def known(self, server: str) -> bool:
        return bool(self.pins.get(server))

    def pending(self, server: str, tool: str) -> Pin | None:
        return self.changed.get(server, {}).get(tool)

    def set_pending(self, server: str, tool: str, pin: Pin | None) -> None:
        if pin is None:
            self.changed.get(server, {}).pop(tool, None)
        else:
            self.changed.setdefault(server, {})[tool] = pin


# -- the inspector ------------------------------------------------------------------------------

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
        self.tool_names = mcp_definitions.ToolRegistry()

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

    def _pair(self, policy: McpPolicy, ex: Exchange, pending: _Bounded, answered: _Bounded,
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
                            f"the server instructions of {ex.server} carry {_REASONS[c.rule]}",
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
                                    f"{item_kind} {name!r} of {ex.server} carries {_REASONS[c.rule]} "
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
        # In the policy's terms: the addon records the decision under the mode (`addons.mcp`).
        record(d, [finding], "enforce")


_MCP_RESULT_KEYS = frozenset({"content", "contents", "structuredContent", "tools", "prompts",
                              "resources", "resourceTemplates", "messages", "instructions",
                              "protocolVersion", "serverInfo"})


def _mcp_like(msg: Message) -> bool:
    """Outside a known MCP session, only messages shaped like MCP are inspected."""
    if msg.method is not None:
        return is_mcp_method(msg.method)
    return isinstance(msg.result, dict) and not _MCP_RESULT_KEYS.isdisjoint(msg.result)


def explain(hit: Hit) -> str:
    """The family of an injection hit and, briefly, why: what was seen or what was hidden."""
    why = hit.rule.id
    if hit.rule.id == "hidden-instruction" and hit.detail:
        why += f": {hit.detail} hidden"
    elif hit.detail:
        why += f": {hit.detail}"
    if hit.view != "text":
        why += f", found after {hit.view} decoding"
    return why


def scan_tool(tool: dict[str, Any], policy: McpPolicy | None = None) -> list[Finding]:
    """Poisoning findings for one tool definition, as a `tools/list` carrying it would get."""
    policy = policy or McpPolicy(McpSection.model_validate({}))
    name = tool.get("name", "?")
    return [_f("mcp", c.rule, policy.family_action(c.rule, "poisoning"), f"tool.{c.path}",
               f"tool {name!r} carries {_REASONS[c.rule]} in {c.what}", c.evidence)
            for c in check_definition(tool, policy.tool_scanner, is_tool=True)]


def scan_content(text: str, policy: McpPolicy | None = None) -> list[Finding]:
    """Injection findings for text coming back to the model (a tool result, a fetched page)."""
    policy = policy or McpPolicy(McpSection.model_validate({}))
    hit = policy.content_scanner.scan(text)
    if hit is None:
        return []
    return [_f("injection", hit.rule.id, policy.family_action(hit.rule.id, "injection"), "content",
               f"prompt injection ({explain(hit)})", preview(hit.snippet))]
