"""The host allowlist: which (host, port, method, path) may leave the bottle. Deny by default."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from egress.addresses import AddressPolicy, IPNetwork, parse_ip, parse_network
from egress.findings import Finding
from egress.hostmatch import HostSet, MalformedPath, normalize_host, path_forms, path_has_prefix
from egress.policy.model import DenyRule, HostRule, HostsSection
from egress.scan.authority import RULES as AUTHORITY_RULES

RULES = {
    "host-not-allowed": "No allow rule covers this host.",
    "port-not-allowed": "Allow rules cover the host, but not this destination port (allow rules "
    "cover ports 80 and 443 unless they list `ports:`).",
    "request-not-allowed": "Allow rules cover the host but not this method or path.",
    "host-denied": "A deny rule matched the request.",
    "non-http-tunnel": "A tunnel to an intercepted host carried neither TLS nor HTTP.",
    "passthrough-mismatch": "A passthrough tunnel's TLS SNI differs from its CONNECT host.",
    "private-address": "The destination is, or resolves to, a loopback, private, link-local "
    "(169.254.169.254 included), CGNAT, multicast or reserved address, or one of the proxy "
    "host's own addresses or networks, and `hosts.allow_private` does not cover it. Refused in "
    "audit mode too.",
    "malformed-path": "The request path holds control characters (raw or percent-encoded) or is "
    "percent-encoded over and over: no path rule can judge it, so it is refused.",
    **AUTHORITY_RULES,
}

# Findings about malformed or dangerous requests rather than policy choices: they block in
# audit mode too (audit mode observes a policy; it does not open the proxy to these).
FAIL_CLOSED_RULES = frozenset({"private-address", "malformed-path", "ambiguous-host",
                               "invalid-method"})


@dataclass(frozen=True, slots=True)
class PortSet:
    any: bool
    ports: frozenset[int]
    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, specs: Iterable[int | str]) -> PortSet:
        ports: set[int] = set()
        ranges: list[tuple[int, int]] = []
        any_port = False
        for spec in specs:
            if spec == "*":
                any_port = True
            elif isinstance(spec, int):
                ports.add(spec)
            else:
                low, high = spec.split("-")
                ranges.append((int(low), int(high)))
        return cls(any_port, frozenset(ports), tuple(ranges))

    def __contains__(self, port: int | None) -> bool:
        """`None` (a question about a name, not a connection) is covered by every set."""
        if port is None or self.any or port in self.ports:
            return True
        return any(low <= port <= high for low, high in self.ranges)


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    hosts: HostSet
    ports: PortSet
    methods: frozenset[str] | None
    paths: tuple[str, ...] | None
    ignore_case: bool
    host_only: bool

    @classmethod
    def of(cls, rule: HostRule, kind: str, index: int) -> _Rule:
        paths = tuple(rule.paths) if rule.paths else None
        if paths is not None and rule.ignore_case:
            paths = tuple(p.lower() for p in paths)
        return cls(
            label=f"{kind}[{index}]" + (f" ({rule.name})" if rule.name else ""),
            hosts=HostSet(rule.hosts),
            ports=PortSet.of(rule.ports),
            methods=frozenset(rule.methods) if rule.methods else None,
            paths=paths,
            ignore_case=rule.ignore_case,
            host_only=rule.host_only,
        )

    def covers_destination(self, host: str, port: int | None) -> bool:
        return host in self.hosts and port in self.ports

    def covers_path(self, path: str) -> bool:
        if self.paths is None:
            return True
        if self.ignore_case:
            path = path.lower()
        return any(path_has_prefix(path, p) for p in self.paths)

    def covers(self, host: str, port: int | None, method: str, forms: tuple[str, ...],
               every: bool) -> bool:
        """Whether the rule covers the request: for `every` form of its path (allow rules) or
        for any of them (deny rules)."""
        if not self.covers_destination(host, port):
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.paths is None:
            return True
        if len(forms) == 1:  # the common case: one reading of the path
            return self.covers_path(forms[0])
        if every:
            return all(self.covers_path(f) for f in forms)
        return any(self.covers_path(f) for f in forms)


SUGGEST = "`bottle policy suggest --from-audit AUDIT_LOG` writes such rules from the audit log"
_PLAIN = re.compile(r"[A-Za-z0-9._~/%+-]+")
# A hint names at most this many leading path segments: paths can carry tokens, and the
# prefix is what a reviewer would allow anyway.
HINT_SEGMENTS = 2
# ...and only segments that read as path words (`v1`, `repos`, `chat`, `left-pad`): the hint
# reaches the agent in a denial body, which never carries what may be a secret, so the path
# stops before the first segment that could be a token (mixed case, long, or digit-heavy:
# `AKIA…`, a hex or base32 id).
_WORD_SEGMENT = re.compile(r"[a-z][a-z0-9._-]{0,23}|\d{1,4}")
_WORD_DIGITS = 4


def _hint_segments(path: str) -> list[str]:
    shown: list[str] = []
    for segment in [s for s in path.split("/") if s][:HINT_SEGMENTS]:
        if not _WORD_SEGMENT.fullmatch(segment) or sum(c.isdigit() for c in segment) > _WORD_DIGITS:
            break
        shown.append(segment)
    return shown


def _flow_item(value: str) -> str:
    return value if _PLAIN.fullmatch(value) else json.dumps(value)


def allow_snippet(host: str, port: int | None, method: str | None = None,
                  path: str | None = None) -> str:
    """The smallest `hosts.allow` rule for a request, in the policy's own flow syntax."""
    parts = [f"hosts: [{_flow_item(host)}]"]
    if method is not None:
        parts.append(f"methods: [{method}]")
    if path is not None:
        parts.append(f"paths: [{_flow_item('/' + '/'.join(_hint_segments(path)))}]")
    if port is not None and port not in (80, 443):
        parts.append(f"ports: [{port}]")
    return "{" + ", ".join(parts) + "}"


def policy_name(source: str) -> str:
    name = source.replace("\\", "/").rpartition("/")[2]
    return name if name and not name.startswith("<") else "the bottle's policy"


def allow_hint(source: str, snippet: str) -> str:
    return (f"A reviewer can allow this by adding the rule {snippet} to hosts.allow in "
            f"{source}; {SUGGEST}.")


class HostPolicy:
    """Compiled `hosts:` section."""

    def __init__(self, section: HostsSection, source: str = "") -> None:
        self.section = section
        # named by file name only: the hint reaches the agent, the host's directories need not
        self.source = policy_name(source)
        self.default_action = section.action
        self._allow = [_Rule.of(r, "allow", i) for i, r in enumerate(section.allow)]
        self._deny = [(_Rule.of(r, "deny", i), r) for i, r in enumerate(section.deny)]
        self._any_allowed = HostSet(p for r in section.allow for p in r.hosts)
        self._passthrough = HostSet(section.passthrough)
        self.non_http = section.non_http
        self.private_networks: tuple[IPNetwork, ...] = tuple(
            parse_network(n) for n in section.allow_private)
        self.addresses = AddressPolicy(self.private_networks)

    # -- connection level (CONNECT target, before any upstream contact) -----------------

    def check_host(self, host: str, port: int | None = None) -> Finding | None:
        """A finding if no request to `host` (on `port`; any port when None) could ever be
        allowed (decided at CONNECT)."""
        host = normalize_host(host)
        for rule, cfg in self._deny:
            if rule.host_only and rule.covers_destination(host, port):
                return self._deny_finding(rule, cfg, "connect")
        if any(rule.covers_destination(host, port) for rule in self._allow):
            return None
        return self._not_allowed(host, port, "connect")

    def is_passthrough(self, host: str, port: int | None = None) -> bool:
        host = normalize_host(host)
        return host in self._passthrough and any(
            r.host_only and r.covers_destination(host, port) for r in self._allow)

    def check_address(self, host: str, addresses: AddressPolicy | None = None,
                      where: str = "connect") -> Finding | None:
        """A `private-address` finding when `host` is an IP literal (any spelling) that may not
        be dialled. Names are judged once resolved (`addons.destinations`)."""
        ip = parse_ip(host)
        if ip is None:
            return None
        return address_finding(host, ip, addresses or self.addresses, where, self.source)

    # -- request level ------------------------------------------------------------------

    def check_request(self, host: str, method: str, raw_path: str,
                      port: int | None = None) -> list[Finding]:
        host = normalize_host(host)
        method = method.upper()
        try:
            forms = path_forms(raw_path)
        except MalformedPath as e:
            return [Finding("hosts", "malformed-path", "block", "request", str(e), status=400)]
        findings: list[Finding] = []
        for rule, cfg in self._deny:
            if rule.covers(host, port, method, forms, every=False):
                findings.append(self._deny_finding(rule, cfg, "request"))
                if cfg.action == "block":
                    return findings
        for rule in self._allow:
            if rule.covers(host, port, method, forms, every=True):
                return findings
        if any(rule.covers_destination(host, port) for rule in self._allow):
            shown = forms[0] if len(forms) == 1 else " or ".join(forms)
            findings.append(Finding(
                "hosts", "request-not-allowed", self.default_action, "request",
                f"{method} {shown} on {host} is not covered by any allow rule",
                hint=allow_hint(self.source, allow_snippet(host, port, method, forms[0]))))
        else:
            findings.append(self._not_allowed(host, port, "request", method, forms[0]))
        return findings

    def explain(self, host: str, method: str, raw_path: str,
                port: int | None = None) -> tuple[str, str]:
        """(decision, which rule decided) for `bottle policy explain`."""
        host = normalize_host(host)
        method = method.upper()
        try:
            forms = path_forms(raw_path)
        except MalformedPath:
            return "block", "malformed path"
        for rule, cfg in self._deny:
            if rule.covers(host, port, method, forms, every=False) and cfg.action == "block":
                return "block", rule.label
        for rule in self._allow:
            if rule.covers(host, port, method, forms, every=True):
                return "allow", rule.label
        return self.default_action, "default (no allow rule matched)"

    def _not_allowed(self, host: str, port: int | None, where: str, method: str | None = None,
                     path: str | None = None) -> Finding:
        hint = allow_hint(self.source, allow_snippet(host, port, method, path))
        if host in self._any_allowed:
            return Finding("hosts", "port-not-allowed", self.default_action, where,
                           f"port {port} of {host} is not in the egress policy (allow rules "
                           "cover ports 80 and 443 unless they list `ports:`)", hint=hint)
        return Finding("hosts", "host-not-allowed", self.default_action, where,
                       f"host {host} is not in the egress policy", hint=hint)

    def _deny_finding(self, rule: _Rule, cfg: DenyRule, where: str) -> Finding:
        reason = cfg.reason or f"denied by {rule.label}"
        return Finding("hosts", "host-denied", cfg.action, where, reason, hint=(
            f"The deny rule {rule.label} in {self.source} refuses this on purpose; only a "
            "reviewer narrowing or removing it would allow it (`bottle policy explain` shows "
            "the rule). `bottle policy suggest` never proposes that."))


def address_finding(name: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                    addresses: AddressPolicy, where: str,
                    source: str = "the bottle's policy") -> Finding | None:
    refusal = addresses.refusal(ip)
    if refusal is None:
        return None
    shown = refusal.address if normalize_host(name) == refusal.address else \
        f"{name} ({refusal.address})"
    return Finding(
        "hosts", "private-address", "block", where,
        f"{shown} is not a public address ({refusal.kind}); the proxy does not dial it unless "
        "hosts.allow_private covers it",
        hint=f"If the bottle must reach it, a reviewer can add {json.dumps(refusal.address)} "
        f"(or its network) to hosts.allow_private in {source}. `bottle policy suggest` lists "
        "these refusals but never proposes them.")
