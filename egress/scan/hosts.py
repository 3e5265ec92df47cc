"""The host allowlist: which (host, method, path) may leave the bottle. Deny by default."""

from __future__ import annotations

from dataclasses import dataclass

from egress.findings import Finding
from egress.hostmatch import HostSet, normalize_host, normalize_path, path_has_prefix
from egress.policy.model import DenyRule, HostRule, HostsSection

RULES = {
    "host-not-allowed": "No allow rule covers this host.",
    "request-not-allowed": "Allow rules cover the host but not this method or path.",
    "host-denied": "A deny rule matched the request.",
    "non-http-tunnel": "A tunnel to an intercepted host carried neither TLS nor HTTP.",
    "passthrough-mismatch": "A passthrough tunnel's TLS SNI differs from its CONNECT host.",
}


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    hosts: HostSet
    methods: frozenset[str] | None
    paths: tuple[str, ...] | None
    host_only: bool

    @classmethod
    def of(cls, rule: HostRule, kind: str, index: int) -> _Rule:
        return cls(
            label=f"{kind}[{index}]" + (f" ({rule.name})" if rule.name else ""),
            hosts=HostSet(rule.hosts),
            methods=frozenset(rule.methods) if rule.methods else None,
            paths=tuple(rule.paths) if rule.paths else None,
            host_only=rule.host_only,
        )

    def covers(self, host: str, method: str, path: str) -> bool:
        if host not in self.hosts:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.paths is None or any(path_has_prefix(path, p) for p in self.paths)


class HostPolicy:
    """Compiled `hosts:` section."""

    def __init__(self, section: HostsSection) -> None:
        self.section = section
        self.default_action = section.action
        self._allow = [_Rule.of(r, "allow", i) for i, r in enumerate(section.allow)]
        self._deny = [(_Rule.of(r, "deny", i), r) for i, r in enumerate(section.deny)]
        self._any_allowed = HostSet(p for r in section.allow for p in r.hosts)
        self._host_wide = HostSet(p for r in section.allow if r.host_only for p in r.hosts)
        self._passthrough = HostSet(section.passthrough)
        self.non_http = section.non_http

    # -- connection level (CONNECT target, before any upstream contact) -----------------

    def check_host(self, host: str) -> Finding | None:
        """A finding if no request to `host` could ever be allowed (decided at CONNECT)."""
        host = normalize_host(host)
        for rule, cfg in self._deny:
            if rule.host_only and host in rule.hosts:
                return self._deny_finding(rule, cfg, "connect")
        if host in self._any_allowed:
            return None
        return Finding("hosts", "host-not-allowed", self.default_action, "connect",
                       f"host {host} is not in the egress policy")

    def is_passthrough(self, host: str) -> bool:
        host = normalize_host(host)
        return host in self._passthrough and host in self._host_wide

    # -- request level ------------------------------------------------------------------

    def check_request(self, host: str, method: str, raw_path: str) -> list[Finding]:
        host = normalize_host(host)
        method = method.upper()
        path = normalize_path(raw_path)
        findings: list[Finding] = []
        for rule, cfg in self._deny:
            if rule.covers(host, method, path):
                findings.append(self._deny_finding(rule, cfg, "request"))
                if cfg.action == "block":
                    return findings
        for rule in self._allow:
            if rule.covers(host, method, path):
                return findings
        if host in self._any_allowed:
            findings.append(Finding(
                "hosts", "request-not-allowed", self.default_action, "request",
                f"{method} {path} on {host} is not covered by any allow rule"))
        else:
            findings.append(Finding("hosts", "host-not-allowed", self.default_action, "request",
                                    f"host {host} is not in the egress policy"))
        return findings

    def explain(self, host: str, method: str, raw_path: str) -> tuple[str, str]:
        """(decision, which rule decided) for `bottle policy explain`."""
        host = normalize_host(host)
        method = method.upper()
        path = normalize_path(raw_path)
        for rule, cfg in self._deny:
            if rule.covers(host, method, path) and cfg.action == "block":
                return "block", rule.label
        for rule in self._allow:
            if rule.covers(host, method, path):
                return "allow", rule.label
        return self.default_action, "default (no allow rule matched)"

    @staticmethod
    def _deny_finding(rule: _Rule, cfg: DenyRule, where: str) -> Finding:
        reason = cfg.reason or f"denied by {rule.label}"
        return Finding("hosts", "host-denied", cfg.action, where, reason)
