"""The policy file's schema: the single source of truth for what a policy can say.

Reference docs and the JSON Schema (`bottle policy schema`) are generated from these
models, so every field carries a description. Models are small, frozen and reject
unknown keys, so a typo in a reviewer's file is an error, never a silently ignored rule.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from egress.hostmatch import normalize_host as normalize_host  # re-exported for policy code

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024,
               "m": 1000**2, "mb": 1000**2, "mib": 1024**2, "mi": 1024**2,
               "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "gi": 1024**3}


def parse_size(value: object) -> object:
    """Accept `1048576`, `"1MiB"`, `"32 MiB"`, `"500kB"`; leave other types to pydantic."""
    if isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a size; write bytes or e.g. '32MiB', '500kB'")
        return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])
    return value


Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


def check_host_pattern(pattern: str) -> str:
    """`example.com`, `*.example.com` (subdomains at any depth, not the apex), an IP, or `*`."""
    if not isinstance(pattern, str):
        raise ValueError("a host pattern must be a string")
    raw = pattern
    if "://" in raw or "/" in raw:
        raise ValueError(f"{raw!r} is not a host: give a name like 'api.github.com' "
                         "(no scheme, path or port); restrict paths with `paths:`")
    if raw.strip() == "*":
        return "*"
    suffix = raw.strip()
    wildcard = suffix.startswith("*.")
    if wildcard:
        suffix = suffix[2:]
    if "*" in suffix:
        raise ValueError(f"{raw!r}: '*' is only allowed as a whole leading label ('*.example.com') "
                         "or alone ('*')")
    host = normalize_host(suffix)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if wildcard:
            raise ValueError(f"{raw!r}: an IP address cannot take a wildcard")
        return host
    if ":" in host:
        raise ValueError(f"{raw!r}: ports are not part of a host pattern")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{raw!r} is not a valid host name")
    return f"*.{host}" if wildcard else host


HostPattern = Annotated[str, BeforeValidator(check_host_pattern)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostRule(StrictModel):
    """Requests that may leave: a host list, optionally narrowed by method and path prefix."""

    name: str | None = Field(None, description="Label shown in audit events and explanations.")
    hosts: list[HostPattern] = Field(
        ..., min_length=1,
        description="Exact names, `*.suffix` (subdomains at any depth, not the apex), IP "
        "addresses, or `*` (any host; for audit-only setups).",
    )
    methods: list[str] | None = Field(
        None, description=f"HTTP methods this rule covers (default: all). One of {', '.join(HTTP_METHODS)}."
    )
    paths: list[str] | None = Field(
        None,
        description="Path prefixes this rule covers (default: all), matched on whole path "
        "segments after normalisation: `/repos` covers `/repos` and `/repos/x`, not `/reposx`.",
    )

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for m in value:
            up = str(m).upper()
            if up not in HTTP_METHODS:
                raise ValueError(f"{m!r} is not an HTTP method; allowed: {', '.join(HTTP_METHODS)}")
            out.append(up)
        return out

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for p in value:
            if not p.startswith("/"):
                raise ValueError(f"path prefix {p!r} must start with '/'")
            if "?" in p or "#" in p:
                raise ValueError(f"path prefix {p!r} must not contain a query or fragment")
        return value

    @property
    def host_only(self) -> bool:
        """True when the rule covers every request to its hosts."""
        return self.methods is None and (self.paths is None or "/" in self.paths)


class DenyRule(HostRule):
    """Requests that must not leave even though an allow rule covers them."""

    action: Literal["block", "audit"] = Field(
        "block", description="`block` stops matching requests; `audit` only logs them.")
    reason: str | None = Field(None, description="Why; shown to the agent in the denial.")


class HostsSection(StrictModel):
    """Which destinations the bottle may reach. Deny by default."""

    action: Literal["block", "audit"] = Field(
        "block", description="What happens to a request no allow rule covers.")
    allow: list[HostRule] = Field(default_factory=list, description="Allow rules; any match allows.")
    deny: list[DenyRule] = Field(
        default_factory=list, description="Deny rules, checked before allow rules.")
    passthrough: list[HostPattern] = Field(
        default_factory=list,
        description="Hosts whose TLS is not intercepted (certificate-pinned clients). They must "
        "also be allowed by a host-wide allow rule; nothing inside their traffic is inspected.",
    )
    non_http: Literal["block", "allow"] = Field(
        "block",
        description="Tunnels to intercepted hosts that carry neither TLS nor HTTP cannot be "
        "inspected: `block` (default) refuses them.",
    )


class LimitsSection(StrictModel):
    """Size limits. Over-limit messages are refused, never passed through uninspected."""

    max_body_bytes: Size = Field(
        32 * 1024**2, description="Largest request or response body (default 32 MiB).")
    max_decompressed_bytes: Size = Field(
        64 * 1024**2, description="Largest body after content decoding (gzip, br, zstd, deflate).")
    max_compression_ratio: int = Field(
        200, ge=1, description="Largest decompressed/compressed ratio before a body counts as a bomb.")


class CASection(StrictModel):
    """The bottle's ephemeral certificate authority."""

    validity_hours: int = Field(24, ge=1, le=24 * 14, description="CA lifetime in hours.")
    name_constraints: bool = Field(
        False,
        description="Add X.509 name constraints permitting only the allowed hosts, so the CA "
        "cannot vouch for any other name. Needs explicit host names (no `*`). Fixed at start.",
    )


class AuditSection(StrictModel):
    """The JSONL audit log (path comes from `--audit-log`)."""

    max_bytes: Size = Field(50 * 1024**2, description="Rotate when the file reaches this size.")
    backups: int = Field(5, ge=0, le=100, description="Rotated files kept.")
    log_allowed: bool = Field(True, description="Also log allowed requests (not only findings).")


_PIN = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as e:
        raise ValueError(f"{value!r} is not a valid regular expression ({e})") from None
    return value


def _check_glob(value: str) -> str:
    if not value or any(c.isspace() for c in value.strip(" ")) or value != value.strip():
        raise ValueError(f"{value!r} is not a tool-name pattern: use a name or a glob like 'read_*'")
    return value


ToolGlob = Annotated[str, BeforeValidator(_check_glob)]
Regex = Annotated[str, BeforeValidator(_check_regex)]


class McpArgumentRule(StrictModel):
    """`tools/call` arguments that must not be sent: paths under a directory, or a pattern."""

    name: str | None = Field(None, description="Label shown in audit events and denials.")
    tools: list[ToolGlob] = Field(
        default_factory=lambda: ["*"],
        description="Tool names this rule covers (globs, default every tool).")
    arguments: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Argument names this rule covers (globs over dotted paths such as `path` or "
        "`options.file`; default every argument, at any depth).")
    deny_paths: list[str] = Field(
        default_factory=list,
        description="File paths that must not appear in the covered arguments, as a whole value or "
        "inside a command line: the path and everything under it. `~` stands for any home "
        "directory (`~`, `$HOME`, `/home/<user>`, `/root`, `/Users/<user>`); `..` is resolved and "
        "`file://` URLs are read as paths.")
    deny_patterns: list[Regex] = Field(
        default_factory=list,
        description="Regular expressions (Python syntax, case-insensitive) that must not match a "
        "covered argument.")
    reason: str | None = Field(None, description="Why; shown to the agent in the JSON-RPC error.")

    @field_validator("deny_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for p in value:
            if not (p.startswith(("/", "~")) or p.startswith("$HOME")):
                raise ValueError(f"deny path {p!r} must be absolute or start with '~'")
        return value


class McpServerRule(StrictModel):
    """What the bottle may do with one MCP server (matched by host and endpoint path)."""

    name: str | None = Field(None, description="Label shown in audit events.")
    hosts: list[HostPattern] = Field(..., min_length=1, description="Hosts of the MCP server.")
    paths: list[str] | None = Field(
        None, description="Endpoint path prefixes (default: any path on these hosts).")
    allow_tools: list[ToolGlob] | None = Field(
        None,
        description="Only these tools may be listed and called (globs). Default: every tool. A "
        "tool allowed by name here is exempt from the name-mimicry check.")
    deny_tools: list[ToolGlob] = Field(
        default_factory=list, description="Tools that are removed from listings and never called.")
    arguments: list[McpArgumentRule] = Field(
        default_factory=list, description="Argument rules for this server (added to `mcp.arguments`).")
    pins: dict[str, str] = Field(
        default_factory=dict,
        description="Approved tool definitions: tool name -> `sha256:<hex>` of its canonical JSON "
        "(as printed in `mcp/tool-changed` audit events and by `bottle mcp hash`). A pinned tool "
        "whose definition hashes differently is stripped and its calls blocked; a changed tool is "
        "released by pinning its new hash here.")

    @field_validator("pins")
    @classmethod
    def _pins(cls, value: dict[str, str]) -> dict[str, str]:
        for tool, pin in value.items():
            if not _PIN.match(pin):
                raise ValueError(f"pin for tool {tool!r} must look like 'sha256:' followed by 64 "
                                 "lower-case hex digits")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str] | None) -> list[str] | None:
        for p in value or []:
            if not p.startswith("/"):
                raise ValueError(f"path prefix {p!r} must start with '/'")
        return value


class McpActions(StrictModel):
    """What each kind of MCP finding does. `audit` only logs."""

    poisoning: Literal["strip", "block", "audit"] = Field(
        "strip", description="A poisoned tool, prompt or resource in a listing: `strip` removes it "
        "from the list, `block` answers the whole listing with a JSON-RPC error.")
    rug_pull: Literal["strip", "block", "audit"] = Field(
        "strip", description="A tool whose definition changed since it was pinned: `strip` removes "
        "it from the list and blocks calls to it until a reviewer pins the new hash; `block` "
        "answers the whole listing with an error.")
    injection: Literal["block", "audit"] = Field(
        "block", description="Prompt injection in a tool result, resource, prompt, sampling request "
        "or notification: `block` replaces the message with a JSON-RPC error (same id).")
    tool_policy: Literal["block", "audit"] = Field(
        "block", description="A call to a denied or unlisted tool, or a denied argument.")
    protocol: Literal["block", "audit"] = Field(
        "block", description="Malformed JSON-RPC on an MCP session, a response to an id that was "
        "never sent or that was already answered.")


class McpSection(StrictModel):
    """MCP inspection of intercepted traffic (Streamable HTTP, HTTP+SSE, WebSocket)."""

    enabled: bool = Field(True, description="Inspect MCP messages at all.")
    actions: McpActions = Field(default_factory=McpActions)  # type: ignore[arg-type]
    injection_sensitivity: Literal["low", "medium", "high"] = Field(
        "medium", description="`low` uses only high-confidence injection rules, `high` adds the "
        "low-confidence ones.")
    arguments: list[McpArgumentRule] = Field(
        default_factory=list, description="Argument rules for every MCP server.")
    servers: list[McpServerRule] = Field(
        default_factory=list, description="Per-server tool policy; the first matching rule applies.")


class Policy(StrictModel):
    """A bottle's egress policy."""

    version: Literal[1] = Field(1, description="Policy format version.")
    mode: Literal["enforce", "audit"] = Field(
        "enforce", description="`audit` logs what would be blocked and changes nothing.")
    hosts: HostsSection = Field(default_factory=HostsSection)  # type: ignore[arg-type]
    limits: LimitsSection = Field(default_factory=LimitsSection)  # type: ignore[arg-type]
    ca: CASection = Field(default_factory=CASection)  # type: ignore[arg-type]
    audit: AuditSection = Field(default_factory=AuditSection)  # type: ignore[arg-type]
    mcp: McpSection = Field(default_factory=McpSection)  # type: ignore[arg-type]
