"""The policy file's schema: the single source of truth for what a policy can say.

Reference docs and the JSON Schema (`bottle policy schema`) are generated from these
models, so every field carries a description. Models are small, frozen and reject
unknown keys, so a typo in a reviewer's file is an error, never a silently ignored rule.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from egress.hostmatch import normalize_host

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


# What `_SIZE` accepts, spelled for JSON Schema (ECMA-262 regex: no inline flags, ASCII digits),
# so editors accept `32MiB` where the loader does.
SIZE_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgG][iI]?[bB]?|[bB])?\s*$"
SIZE_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "integer", "minimum": 0},
              {"type": "string", "pattern": SIZE_PATTERN,
               "description": "Bytes with an optional unit: kB, MB, GB (powers of 1000) or "
               "KiB, MiB, GiB (powers of 1024), e.g. `32MiB`."}],
}

Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0), WithJsonSchema(SIZE_JSON_SCHEMA)]


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
        raise ValueError(f"{raw!r}: a host pattern carries no port; list ports in the rule's "
                         "`ports:` (default 80 and 443)")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{raw!r} is not a valid host name")
    return f"*.{host}" if wildcard else host


HostPattern = Annotated[str, BeforeValidator(check_host_pattern)]

_PORT_RANGE = re.compile(r"^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$")


def check_port(value: object) -> int | str:
    """A port (`8443`), an inclusive range (`"8000-8999"`) or `"*"` (every port)."""
    if isinstance(value, bool):
        raise ValueError("a port must be a number, a range like '8000-8999', or '*'")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        port = int(value)
        if not 1 <= port <= 65535:
            raise ValueError(f"{value!r} is not a port (1-65535)")
        return port
    if isinstance(value, str):
        if value.strip() == "*":
            return "*"
        m = _PORT_RANGE.match(value)
        if m:
            low, high = int(m.group(1)), int(m.group(2))
            if not 1 <= low <= high <= 65535:
                raise ValueError(f"{value!r} is not a port range (1-65535, low end first)")
            return f"{low}-{high}"
    raise ValueError(f"{value!r} is not a port: give a number, a range like '8000-8999', or '*'")


PortSpec = Annotated[int | str, BeforeValidator(check_port)]


def _web_ports() -> list[int | str]:
    return [80, 443]


def _every_port() -> list[int | str]:
    return ["*"]


def check_private_network(value: object) -> str:
    """A CIDR or single address the proxy may dial although it is not public."""
    from egress.addresses import parse_network

    if not isinstance(value, str):
        raise ValueError("give a CIDR like '10.0.0.0/8' or an address like '127.0.0.1' (as a string)")
    return str(parse_network(value))


PrivateNetwork = Annotated[str, BeforeValidator(check_private_network)]


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
        "segments of the canonical path (percent-decoding repeated, `\\` read as `/`, "
        "`;params` removed, `.`/`..` resolved): `/repos` covers `/repos` and `/repos/x`, not "
        "`/reposx`. When origins could read a path in more than one way, an allow rule must "
        "cover every reading and a deny rule matches any.",
    )
    ports: list[PortSpec] = Field(
        default_factory=_web_ports,
        description="Destination ports this rule covers: numbers, ranges like `\"8000-8999\"`, "
        "or `\"*\"`. Allow rules default to 80 and 443; any other port needs to be listed.",
    )
    ignore_case: bool = Field(
        False, description="Match `paths` without regard to letter case (allow rules: off by "
        "default).")

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

    ports: list[PortSpec] = Field(
        default_factory=_every_port,
        description="Destination ports this rule covers (default: every port).")
    ignore_case: bool = Field(
        True, description="Match `paths` without regard to letter case (deny rules: on by "
        "default, since an origin on a case-insensitive file system serves `/ADMIN` as `/admin`).")

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
    allow_private: list[PrivateNetwork] = Field(
        default_factory=list,
        description="Non-public addresses the proxy may dial (CIDRs or single addresses). By "
        "default it refuses, after resolving a name and before every connection, loopback, "
        "private, link-local (169.254.169.254 included), CGNAT, multicast and reserved "
        "addresses and the proxy host's own addresses and networks (`hosts/private-address`), "
        "in audit mode too. An allowed host that lives on a private network needs its "
        "address here as well.",
    )


class LimitsSection(StrictModel):
    """Size limits. Over-limit messages are refused, never passed through uninspected."""

    max_body_bytes: Size = Field(
        32 * 1024**2, description="Largest request or response body (default 32 MiB).")
    max_decompressed_bytes: Size = Field(
        64 * 1024**2, description="Largest body after content decoding (gzip, br, zstd, deflate).")
    max_compression_ratio: int = Field(
        200, ge=1, description="Largest decompressed/compressed ratio before a body counts as a bomb.")
    response_stream_threshold: Size = Field(
        1024**2, description="Responses with a known length up to this are buffered and inspected "
        "whole; larger ones, those of unknown length and event streams reach the client as they "
        "arrive, inspected incrementally (credential scrubbing, MCP inspection, decoding limits).")
    idle_timeout_seconds: float = Field(
        60.0, gt=0, le=86400,
        description="A client connection with no request in progress (an idle tunnel or "
        "keep-alive connection) is closed when no complete request head arrives within this "
        "time.")
    scan_timeout: float = Field(
        10.0, gt=0, le=3600,
        description="Seconds a DLP body scan may take: a buffered request body as a whole "
        "(large ones are scanned off the event loop), each chunk of a streamed body, each "
        "WebSocket message, in the proxy and in replay. A scan that takes longer stops and "
        "refuses the flow as `limits/scan-timeout` (a stream is cut, a message dropped), in "
        "audit mode too.")
    response_timeout: float = Field(
        600.0, gt=0, le=86400,
        description="Seconds (default 600: a non-streaming model API call may legitimately "
        "think for several minutes, and mitmproxy's own inactivity limit ended a silent "
        "connection at 600 s before this existed) from a request being complete (read from "
        "the agent and handed upstream; a streamed body: its last byte) to the destination's "
        "response headers. An "
        "origin or upstream proxy that accepts a request and never answers is cut off after "
        "this: the upstream connection is closed and the agent gets a JSON 504 "
        "`error/upstream-timeout` (audit verdict `error`). Streamed responses are not limited "
        "once their headers arrived (`idle_timeout_seconds` and mitmproxy's own inactivity "
        "limit apply).")
    header_timeout_seconds: float = Field(
        30.0, gt=0, le=3600,
        description="Once a client starts sending on an idle connection (TLS handshake "
        "included), its request head must be complete within this time, or the connection "
        "is closed.")


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


# -- credentials ---------------------------------------------------------------------------

_CREDENTIAL_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_TEMPLATE = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$")
SECRET_SLOT = "{secret}"
# Headers that frame or route a message: a credential must never be spliced into them.
FORBIDDEN_CREDENTIAL_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer",
    "keep-alive", "proxy-authorization", "proxy-connection", "expect",
})
LITERAL_SECRET = ("a secret is never written in a policy file: give its source as `env: NAME`, "
                  "`file: PATH` or `command: [ARGV...]`")


def split_header_template(template: str) -> tuple[str, str]:
    """`"Authorization: Bearer {secret}"` -> ("Authorization", "Bearer {secret}")."""
    m = _HEADER_TEMPLATE.match(template)
    if m is None:
        raise ValueError("header template must look like 'Name: value with {secret}', e.g. "
                         "'Authorization: Bearer {secret}'")
    return m.group(1), m.group(2)


class SecretSource(StrictModel):
    """Where the proxy reads a credential's real value. Exactly one of `env`, `file`, `command`."""

    env: str | None = Field(None, description="Environment variable of the egress proxy.")
    file: str | None = Field(
        None, description="File holding the value (surrounding whitespace is stripped).")
    command: list[str] | None = Field(
        None, min_length=1,
        description="Command (argv, no shell) whose standard output is the value; run when the "
        "proxy starts, and again every `ttl` seconds if given.")
    ttl: int | None = Field(
        None, ge=1, le=7 * 24 * 3600,
        description="Seconds after which a `file` or `command` value is read again (token "
        "rotation). Without it the value is read once.")

    @model_validator(mode="before")
    @classmethod
    def _no_literal(cls, data: object) -> object:
        # A literal value must be refused with a message that never repeats it.
        if not isinstance(data, dict):
            raise ValueError(LITERAL_SECRET)
        for key in ("value", "secret", "literal", "token", "password", "key"):
            if key in data:
                raise ValueError(LITERAL_SECRET)
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        given = [k for k in ("env", "file", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `env`, `file` or `command`")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise ValueError("`env` must be an environment variable name")
        if self.ttl is not None and self.env is not None:
            raise ValueError("`ttl` applies to `file` and `command` sources (an environment "
                             "variable cannot change while the proxy runs)")
        return self

    @property
    def kind(self) -> str:
        return "env" if self.env is not None else "file" if self.file is not None else "command"


class PlaceholderSpec(StrictModel):
    """The stand-in value the agent holds instead of the real credential."""

    env: str = Field(
        ..., description="Environment variable the agent gets the placeholder in (printed by "
        "`bottle egress run` as `export NAME=placeholder`).")
    shape: Literal["bottle", "like-secret"] = Field(
        "bottle",
        description="`bottle`: `bottle-<name>-<random>`. `like-secret`: same length and "
        "alphabet as the real value, keeping its public prefix (`ghp_`, `sk-ant-api03-`, ...), "
        "so client-side format checks pass.")
    prefix: str | None = Field(
        None, max_length=24,
        description="Public prefix a `like-secret` placeholder keeps when the real value starts "
        "with it (default: a table of well-known token prefixes).")

    @field_validator("env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class BasicAuthSpec(StrictModel):
    """HTTP Basic authentication with the secret as password (git over HTTPS, npm, ...)."""

    user: str = Field(..., min_length=1, max_length=256,
                      description="User name sent with the secret (e.g. `x-access-token`).")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if ":" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("a Basic auth user name cannot contain ':' or control characters")
        return value


class Credential(StrictModel):
    """A real credential the proxy holds and adds to requests for one destination.

    The agent holds a per-bottle placeholder. On a request whose TLS-verified destination is
    `host` (CONNECT target, SNI and Host agree) the proxy puts the real value in; the
    placeholder seen going anywhere else is blocked as an exfiltration attempt.
    """

    name: str = Field(..., description="Credential name: lower-case letters, digits and '-'; "
                      "appears in placeholders, audit events and denials.")
    host: HostPattern = Field(..., description="The one host (exact name) that receives it.")
    path: str | None = Field(
        None, description="Path prefix (segment-aware) the credential is limited to.")
    allow_http: bool = Field(
        False, description="Also inject into plain-HTTP requests (default: HTTPS only).")
    header: str | None = Field(
        None, description="Header template, e.g. `Authorization: Bearer {secret}`, "
        "`x-api-key: {secret}`, `PRIVATE-TOKEN: {secret}`.")
    basic: BasicAuthSpec | None = Field(
        None, description="HTTP Basic auth: `user` plus the secret as password.")
    query: str | None = Field(
        None, min_length=1, description="Query parameter that carries the secret.")
    source: SecretSource = Field(..., description="Where the proxy reads the real value.")
    on_mismatch: Literal["override", "block"] = Field(
        "override",
        description="When the agent sends a different credential for this destination: "
        "`override` replaces it with the real one, `block` refuses the request.")
    add_if_missing: bool = Field(
        True, description="Add the credential when the agent sent none (otherwise only "
        "replace the placeholder where the agent put it).")
    placeholder: PlaceholderSpec = Field(..., description="What the agent holds instead.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CREDENTIAL_NAME.match(value):
            raise ValueError(f"{value!r}: use lower-case letters, digits and '-' (at most 40)")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value.startswith("*"):
            raise ValueError("a credential goes to one exact host; wildcards are not allowed")
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return value
        raise ValueError("a credential host must be a name: the TLS SNI it is checked against "
                         "carries names, not addresses")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or "?" in value or "#" in value):
            raise ValueError("path prefix must start with '/' and hold no query or fragment")
        return value

    @field_validator("header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        # Messages never quote the template: a pasted literal secret would land in the error.
        if value is None:
            return None
        if any(c in value for c in "\r\n\0"):
            raise ValueError("header template cannot contain line breaks")
        name, body = split_header_template(value)
        if name.lower() in FORBIDDEN_CREDENTIAL_HEADERS:
            raise ValueError(f"a credential cannot be put in the {name} header")
        if body.count(SECRET_SLOT) != 1:
            raise ValueError("header template must contain {secret} exactly once, where the "
                             "value goes (" + LITERAL_SECRET + ")")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Credential:
        ways = [k for k in ("header", "basic", "query") if getattr(self, k) is not None]
        if len(ways) != 1:
            raise ValueError("give exactly one of `header`, `basic` or `query` (how the secret "
                             "is sent)")
        return self

    @property
    def target_header(self) -> str | None:
        """Lower-case name of the header the credential travels in (None for `query`)."""
        if self.header is not None:
            return split_header_template(self.header)[0].lower()
        return "authorization" if self.basic is not None else None
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
    html_entities: bool = Field(
        True, description="HTML character references (`&#103;`, `&#x67;`, `&lowbar;`).")
    quoted_printable: bool = Field(True, description="Quoted-printable (`=67`).")
    compressed: bool = Field(
        True, description="gzip, zlib, bzip2, xz and zstd payloads found inside a decoded layer "
        "(`base64(gzip(...))`) or as a binary body, inflated within `budget`.")
    max_depth: int = Field(
        5, ge=0, le=8, description="Layers unwrapped inside each other. Text that still decodes "
        "after the last layer counts as an exhausted budget (`on_budget_exhausted`).")
    budget: Size = Field(
        4 * 1024**2, description="Decoded characters one scan may produce (a longer text may "
        "produce as many characters as it has); past it decoding stops and a "
        "`decode-budget-exhausted` finding is reported.")
    on_budget_exhausted: Literal["block", "audit"] = Field(
        "block", description="What a `decode-budget-exhausted` finding does: `block` (default, "
        "fail closed: part of the message was never scanned decoded) or `audit` (log and "
        "forward). For one destination only, leave this at `block` and add a `dlp.suppress` "
        "entry with `rules: [decode-budget-exhausted]`, its `hosts:` and a `reason:`. A "
        "`dlp.actions` entry for the rule overrides this setting.")
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
    example_keys: Literal["block", "audit", "ignore"] = Field(
        "audit", description="Values in a provider's key format that are documentation or test "
        "examples (AWS's `AKIAIOSFODNN7EXAMPLE`, `sk-...FAKE...`, `abc123...` counting runs), rule "
        "`example-key`: `audit` reports them so a reviewer sees them, `block` stops them like a key "
        "(strict policies), `ignore` drops them. An `actions` entry for `example-key` wins.")
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
    decode: DLPDecodeSection = Field(default_factory=DLPDecodeSection,  # type: ignore[arg-type]
                                     description="Which encodings are unwrapped before scanning.")


def check_domain(value: object) -> str:
    """A plain DNS name (no wildcard, scheme, port or IP) in canonical form."""
    if not isinstance(value, str):
        raise ValueError("a domain must be a string")
    host = normalize_host(value)
    if "*" in host or "/" in host or ":" in host:
        raise ValueError(f"{value!r} is not a domain: give a plain name like 'cloudfront.net'")
    if not host or not all(_LABEL.match(label) for label in host.split(".")):
        raise ValueError(f"{value!r} is not a valid domain name")
    return host


Domain = Annotated[str, BeforeValidator(check_domain)]


class HostnameException(StrictModel):
    """A zone whose names are neither scored nor budgeted (e.g. a CDN whose names are hashes)."""

    domain: Domain | None = Field(
        None, description="Registered domain (eTLD+1 per the Public Suffix List) matched exactly: "
        "`example.com` covers every name whose registered domain is example.com.")
    suffix: Domain | None = Field(
        None, description="This name and every name under it, e.g. `cdn.example.net`, or a "
        "public suffix such as `cloudfront.net` to cover all of its customers.")
    reason: str = Field(..., min_length=1, description="Why these names may look encoded "
                        "(required; shown in audit events).")

    @model_validator(mode="after")
    def _one_target(self) -> HostnameException:
        if (self.domain is None) == (self.suffix is None):
            raise ValueError("give exactly one of `domain:` or `suffix:`")
        target = self.domain or self.suffix or ""
        if "." not in target:
            raise ValueError(f"{target!r} is a whole top-level domain; name a zone under it")
        return self


class HostnameBudget(StrictModel):
    """Per-bottle information budget of each registered domain over a sliding window.

    Every label of every new name is charged what it can carry (a label already seen under
    the zone: the bits to pick it again) and every new query type of a name the bits of
    choosing it, so the real capacity of a zone is `max_bytes` of data plus `max_word_bytes`
    of words per window; large provider zones get `provider_factor` times more. An ordinary
    zone that was sent a name refused on its own (encoded data, malformed) takes no other
    name for the window (README: "Information budget")."""

    window_seconds: int = Field(600, ge=1, le=86400, description="Sliding window length.")
    max_names: int = Field(1000, ge=1, description="Distinct names per registered domain per "
                           "window (a backstop; the bytes limit is the real one).")
    max_encoded_names: int = Field(
        4, ge=1, description="Distinct encoded-looking names (at least `encoded_bits` of "
        "estimated information) per registered domain per window.")
    max_bytes: Size = Field(64, description="Bytes of information that the distinct names "
                            "under one registered domain may carry per window in data-looking "
                            "labels and query types: every new label is charged its length times "
                            "log2 of its alphabet (+3.8 bits), a repeated label log2(1 + labels "
                            "known), each new query type of a name log2 of the forwarded types "
                            "(README: \"Information budget\"). The stated capacity of a zone "
                            "for data.")
    encoded_bits: float = Field(40.0, gt=0, description="Estimated bits of information from "
                                "which a name counts as encoded-looking.")
    max_word_bytes: Size = Field(
        4096, description="Bytes of information that word-like labels (dictionary words, "
        "abbreviations, regions such as `us-east-1`, punycode) under one registered domain "
        "may carry per window, charged like `max_bytes`: the capacity of a zone for data "
        "spelled as words.")
    provider_factor: int = Field(
        256, ge=1, le=10_000, description="Multiplier of every limit for the large provider "
        "zones listed in egress/scan/hostnames/zones.py (cloud APIs, CDNs, registries).")
    action: Literal["block", "audit"] = Field(
        "block", description="What happens to new names under a domain over its budget.")


class HostnamesSection(StrictModel):
    """Hostname exfiltration: names that carry encoded data (DNS, CONNECT, SNI, Host)."""

    action: Literal["block", "audit"] = Field(
        "block", description="What happens to a name whose score reaches `block_score`.")
    block_score: float = Field(100.0, gt=0, description="Score at which a name counts as encoded "
                               "data (see the README's scoring table).")
    fronting: Literal["block", "audit", "off"] = Field(
        "block", description="A request whose CONNECT target, TLS SNI and Host header disagree "
        "(domain fronting), judged already at the TLS handshake. `audit` and `off` change only "
        "this finding: a request whose names disagree is still refused, as "
        "`hosts/authority-mismatch`.")
    budget: HostnameBudget = Field(default_factory=HostnameBudget,  # type: ignore[arg-type]
                                   description="Volume budget of distinct names per domain.")
    exceptions: list[HostnameException] = Field(
        default_factory=list, description="Trusted zones, each with a reason.")


DNS_QTYPES = ("A", "AAAA", "CNAME", "HTTPS", "SVCB", "SRV", "MX", "CAA", "NS", "SOA", "PTR",
              "TXT", "NULL", "ANY", "DS", "DNSKEY", "NAPTR", "TLSA", "SSHFP", "HINFO", "RRSIG",
              "NSEC", "NSEC3", "CDS", "CDNSKEY", "OPENPGPKEY", "URI", "LOC", "SPF")
REFUSED_QTYPES = ("AXFR", "IXFR", "MAILA", "MAILB")


def check_qtype(value: object) -> str:
    name = str(value).strip().upper()
    if name in REFUSED_QTYPES:
        raise ValueError(f"{name} is always refused (zone transfers and obsolete mail queries)")
    if name not in DNS_QTYPES:
        raise ValueError(f"{value!r} is not a supported query type; one of {', '.join(DNS_QTYPES)}")
    return name


QType = Annotated[str, BeforeValidator(check_qtype)]


class QTypeException(StrictModel):
    """Lets named hosts use an otherwise restricted query type (e.g. TXT for a verification)."""

    qtype: QType = Field(..., description="The query type, e.g. TXT.")
    hosts: list[HostPattern] = Field(..., min_length=1, description="Names it is allowed for.")
    reason: str = Field(..., min_length=1, description="Why (required).")


class DnsRateLimit(StrictModel):
    """Queries per client address, as a token bucket."""

    queries_per_second: float = Field(100.0, gt=0, description="Sustained queries per second "
                                      "per client address.")
    burst: int = Field(200, ge=1, description="Queries a client may send at once.")


class DnsTcp(StrictModel):
    """DNS over TCP, held per client address: one client cannot use up the guard."""

    max_connections_per_client: int = Field(
        8, ge=1, le=256, description="Open TCP connections per client address. A client at its "
        "cap that opens another loses its longest-idle connection (or, when none is idle, the "
        "new one is closed); when the guard is full (256), the longest-idle connection of the "
        "client holding the most is closed.")
    idle_seconds: float = Field(
        5.0, gt=0, le=120, description="A TCP connection that sends no complete query for this "
        "long is closed.")


class DnsSection(StrictModel):
    """The DNS guard (`bottle egress run --dns-listen`): the bottle's only resolver.

    A name is *allowed for DNS* when a `hosts.allow` rule covers it (any method or path) and
    no host-wide `hosts.deny` rule denies it, or when `dns.allow` lists it; it must also pass
    the hostname scorer and budget. Everything else is answered with `blocked_rcode` and
    never forwarded.
    """

    blocked_rcode: Literal["nxdomain", "refused"] = Field(
        "nxdomain", description="Answer to a blocked query.")
    allow: list[HostPattern] = Field(
        default_factory=list, description="Extra names the bottle may resolve but not reach "
        "over HTTP (e.g. `*.in-addr.arpa` for reverse lookups).")
    qtypes: list[QType] = Field(
        default_factory=lambda: ["A", "AAAA", "CNAME", "HTTPS", "SVCB", "SRV", "MX", "CAA",
                                 "NS", "SOA", "PTR"],
        description="Query types forwarded. TXT, NULL and ANY (tunnels' favourites) are not "
        "in the default; AXFR/IXFR are always refused.")
    qtype_exceptions: list[QTypeException] = Field(
        default_factory=list, description="Restricted query types allowed for named hosts.")
    cname_targets: Literal["scored", "allowed", "any"] = Field(
        "scored", description="CNAME chains in answers: `scored` drops an answer whose CNAME "
        "target looks encoded, `allowed` also requires every target to be allowed for DNS.")
    private_answers: list[HostPattern] = Field(
        default_factory=list, description="Names that may resolve to private, loopback or "
        "link-local addresses; for any other name such an answer is dropped (DNS rebinding).")
    rate_limit: DnsRateLimit = Field(default_factory=DnsRateLimit,  # type: ignore[arg-type]
                                     description="Per-client query rate limit.")
    tcp: DnsTcp = Field(default_factory=DnsTcp,  # type: ignore[arg-type]
                        description="DNS over TCP connection limits.")


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


# The families injection and definition findings are reported under (`injection/<family>`,
# `mcp/poison-<family>`, `mcp/<family>`); a test keeps this list equal to the scanners' registries.
InjectionFamily = Literal[
    "code-insertion", "exfiltration-request", "tool-call-request", "task-hijack", "hidden-instruction",
    "instruction-override", "role-impersonation", "fake-delimiter", "credential-solicitation",
    "credential-path", "covert-action", "encoded-instructions", "prompt-harvest", "directive-score",
    "tool-shadowing", "tool-name-collision", "tool-reference", "invisible-text", "name-mimicry",
    "exfil-parameter",
]


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
    families: dict[InjectionFamily, Literal["strip", "block", "audit"]] = Field(
        default_factory=dict,
        description="Action per finding family, over `injection` for results and `poisoning` for "
        "definitions (e.g. `{task-hijack: audit, code-insertion: block}`); `strip` applies to "
        "definitions, a result is blocked. `tool-name-collision` is `audit` unless set here.")


class McpSection(StrictModel):
    """MCP inspection of intercepted traffic (Streamable HTTP, HTTP+SSE, WebSocket)."""

    enabled: bool = Field(True, description="Inspect MCP messages at all.")
    actions: McpActions = Field(default_factory=McpActions,  # type: ignore[arg-type]
                                description="What happens on each kind of MCP finding.")
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
    hosts: HostsSection = Field(default_factory=HostsSection,  # type: ignore[arg-type]
                                description="Destinations: allow/deny rules, passthrough hosts.")
    limits: LimitsSection = Field(default_factory=LimitsSection,  # type: ignore[arg-type]
                                  description="Body size and decoding limits.")
    ca: CASection = Field(default_factory=CASection,  # type: ignore[arg-type]
                          description="The bottle's ephemeral CA.")
    audit: AuditSection = Field(default_factory=AuditSection,  # type: ignore[arg-type]
                                description="Audit log rotation and verbosity.")
    credentials: list[Credential] = Field(
        default_factory=list,
        description="Credentials the proxy injects; the agent only holds placeholders.")
    dlp: DLPSection = Field(default_factory=DLPSection,  # type: ignore[arg-type]
                            description="Secret detection: rule actions, suppressions, known secrets.")
    hostnames: HostnamesSection = Field(default_factory=HostnamesSection,  # type: ignore[arg-type]
                                        description="Hostname exfiltration: scoring, volume "
                                        "budget, fronting, exceptions.")
    dns: DnsSection = Field(default_factory=DnsSection,  # type: ignore[arg-type]
                            description="The DNS guard (`--dns-listen`).")
    mcp: McpSection = Field(default_factory=McpSection,  # type: ignore[arg-type]
                            description="MCP inspection: actions per check, tool policy, pins.")
