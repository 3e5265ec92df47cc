"""The policy file's schema: the single source of truth for what a policy can say.

Reference docs and the JSON Schema (`bottle policy schema`) are generated from these
models, so every field carries a description. Models are small, frozen and reject
unknown keys, so a typo in a reviewer's file is an error, never a silently ignored rule.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

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


def normalize_host(host: str) -> str:
    """Lower-case, strip a trailing dot, IDNA-encode: the form every host comparison uses."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


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


DLPAction = Literal["block", "redact", "audit"]


class DLPSuppression(StrictModel):
    """Findings of some rules that are expected where they occur (a key sent to its own API)."""

    rules: list[str] = Field(
        ..., min_length=1,
        description="Rule ids this suppression covers (see the DLP rule reference), or `*`.")
    hosts: list[HostPattern] | None = Field(
        None, description="Destination hosts it applies to (default: all), same patterns as "
        "`hosts.allow`.")
    paths: list[str] | None = Field(
        None, description="Path prefixes it applies to (default: all), segment-aware.")
    locations: list[str] | None = Field(
        None, description="Where in the request it applies, as prefixes of a finding's location: "
        "`request.header`, `request.header[authorization]`, `request.url`, `request.body`, "
        "`websocket` (default: everywhere).")
    reason: str = Field(
        ..., description="Why this is not a leak. Required: it is written to the audit log with "
        "every finding it suppresses.")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a suppression needs a non-empty reason")
        return value.strip()

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str] | None) -> list[str] | None:
        for p in value or ():
            if not p.startswith("/"):
                raise ValueError(f"path prefix {p!r} must start with '/'")
        return value


class KnownSecretSource(StrictModel):
    """A secret value the proxy must never let leave, named by where to read it."""

    name: str = Field(..., min_length=1, description="Name reported in findings (never the value).")
    env: str | None = Field(None, description="Environment variable of the proxy that holds it.")
    file: str | None = Field(None, description="File that holds it (surrounding whitespace ignored).")

    @model_validator(mode="before")
    @classmethod
    def _source(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError("a known secret is a mapping with `name:` and `env:` or `file:`; "
                             "never write the secret itself into the policy")
        if isinstance(data, dict):
            literal = [k for k in ("value", "secret", "literal", "token", "password") if k in data]
            if literal:
                raise ValueError(f"`{literal[0]}:` would put the secret itself into the policy file; "
                                 "name where it lives instead, with `env: VARIABLE` or `file: PATH`")
            if ("env" in data) == ("file" in data):
                raise ValueError("give exactly one source: `env: VARIABLE` or `file: PATH`")
        return data


class DLPDecodeSection(StrictModel):
    """Which encodings are unwrapped before matching, and how far."""

    url: bool = Field(True, description="Percent-encoding, nested.")
    base64: bool = Field(True, description="Standard and URL-safe base64, padded or not, any alignment.")
    base32: bool = Field(True, description="RFC 4648 base32.")
    hex: bool = Field(True, description="Hex, plain or delimited (`:` `-` space `\\x` `0x`).")
    json_escapes: bool = Field(True, description="JSON/JavaScript string escapes (`\\u0067`, `\\x67`).")
    quoted_printable: bool = Field(True, description="Quoted-printable (`=67`).")
    max_depth: int = Field(3, ge=0, le=6, description="Layers unwrapped inside each other.")
    budget: Size = Field(
        4 * 1024**2, description="Decoded characters one scan may produce; past it decoding stops "
        "and a `decode-budget-exhausted` finding is reported.")
    min_printable: float = Field(
        0.85, ge=0.5, le=1.0, description="Share of printable bytes a decoded value needs to be "
        "scanned as text (binary is reduced to its printable runs).")


class DLPSection(StrictModel):
    """Secret-leak detection in requests and WebSocket messages (rules: DLP rule reference)."""

    enabled: bool = Field(True, description="Scan at all.")
    default_action: DLPAction = Field(
        "block", description="Action of every rule not listed in `actions`.")
    actions: dict[str, DLPAction] = Field(
        default_factory=dict,
        description="Per-rule action: `block` (403), `redact` (replace the value with "
        "`[REDACTED:<rule>]` and forward), `audit` (log only).")
    suppress: list[DLPSuppression] = Field(
        default_factory=list, description="Findings that are expected, scoped by rule, host, path "
        "and location; each needs a `reason`.")
    known_secrets: list[KnownSecretSource] = Field(
        default_factory=list,
        description="Secret values matched exactly (raw, base64, base32, hex, URL-encoded) and "
        "reported as rule `known-secret`. Read from the environment or a file at load; a missing "
        "source rejects the policy.")
    max_scan_bytes: Size = Field(
        32 * 1024**2, description="Largest body scanned whole; larger bodies are scanned as a "
        "stream.")
    stream_threshold: Size = Field(
        1024**2, description="Request bodies larger than this (or chunked without a length) are "
        "scanned while they stream, holding back an overlap, instead of being buffered.")
    websocket_window: Size = Field(
        4096, description="Bytes of earlier WebSocket messages kept to catch a secret split across "
        "messages.")
    decode: DLPDecodeSection = Field(default_factory=DLPDecodeSection)  # type: ignore[arg-type]


class Policy(StrictModel):
    """A bottle's egress policy."""

    version: Literal[1] = Field(1, description="Policy format version.")
    mode: Literal["enforce", "audit"] = Field(
        "enforce", description="`audit` logs what would be blocked and changes nothing.")
    hosts: HostsSection = Field(default_factory=HostsSection)  # type: ignore[arg-type]
    limits: LimitsSection = Field(default_factory=LimitsSection)  # type: ignore[arg-type]
    ca: CASection = Field(default_factory=CASection)  # type: ignore[arg-type]
    audit: AuditSection = Field(default_factory=AuditSection)  # type: ignore[arg-type]
    dlp: DLPSection = Field(default_factory=DLPSection)  # type: ignore[arg-type]
