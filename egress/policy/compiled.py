"""A validated policy compiled into the matchers the hot path uses, built once per load."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from egress.policy.model import Policy

if TYPE_CHECKING:
    from egress.scan.hosts import HostPolicy
    from egress.scan.mcp import McpPolicy

# A semantic check sees a schema-valid policy and returns (field location, message) pairs;
# the loader turns them into file:line problems. Later sections append their own.
SemanticCheck = Callable[[Policy], list[tuple[tuple[int | str, ...], str]]]


def _check_name_constraints(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    if not policy.ca.name_constraints:
        return []
    out: list[tuple[tuple[int | str, ...], str]] = []
    for i, rule in enumerate(policy.hosts.allow):
        if "*" in rule.hosts:
            out.append((("hosts", "allow", i, "hosts"),
                        "`*` cannot be combined with ca.name_constraints: the CA would have "
                        "to vouch for every name; list hosts explicitly or turn constraints off"))
    return out


def _check_passthrough(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    from egress.scan.hosts import HostPolicy

    host_wide = HostPolicy(policy.hosts)
    out: list[tuple[tuple[int | str, ...], str]] = []
    for i, host in enumerate(policy.hosts.passthrough):
        probe = host[2:] if host.startswith("*.") else host
        probe = "x." + probe if host.startswith("*.") else probe
        if host != "*" and not host_wide.is_passthrough(probe):
            out.append((("hosts", "passthrough", i),
                        f"passthrough host {host!r} is not allowed by any host-wide allow rule "
                        "(one without methods/paths); its traffic cannot be inspected, so only a "
                        "host-wide allow can admit it"))
        if host == "*":
            out.append((("hosts", "passthrough", i), "passthrough cannot be '*'"))
    return out


SEMANTIC_CHECKS: list[SemanticCheck] = [_check_name_constraints, _check_passthrough]


@dataclass(frozen=True)
class CompiledPolicy:
    """One field per section that needs precomputed matchers; built once per (re)load, so a
    section that fails to compile rejects the whole file and the old policy stays."""

    policy: Policy
    source: str
    digest: str
    hosts: HostPolicy
    mcp: McpPolicy

    @property
    def mode(self) -> str:
        return self.policy.mode


def compile_policy(policy: Policy, source: str, text: str | bytes = b"") -> CompiledPolicy:
    # Imported here: scanners import the policy model, whose package imports this module.
    from egress.scan.hosts import HostPolicy
    from egress.scan.mcp import McpPolicy

    raw = text.encode() if isinstance(text, str) else text
    return CompiledPolicy(
        policy=policy,
        source=source,
        digest=hashlib.sha256(raw or policy.model_dump_json().encode()).hexdigest()[:16],
        hosts=HostPolicy(policy.hosts),
        mcp=McpPolicy(policy.mcp),
    )


def default_policy_path() -> Path:
    """The built-in default policy shipped in `policies/default.yaml`."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[2] / "policies" / "default.yaml",  # source checkout / editable install
        Path("/usr/share/bottle-egress/policies/default.yaml"),  # container images
    ]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]
