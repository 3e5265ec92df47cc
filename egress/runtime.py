"""What every addon of one bottle shares: its id, policy holder, audit log and known secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from egress.audit import AuditLog
from egress.credentials import CredentialRegistry
from egress.policy.compiled import CompiledPolicy
from egress.redact import KnownSecrets
from egress.scan.hostnames import VolumeBudget


class PolicyHolder(Protocol):
    """Anything with a `current` compiled policy: the hot-reloading store, or a fixed one."""

    @property
    def current(self) -> CompiledPolicy: ...


@dataclass
class FixedPolicy:
    current: CompiledPolicy


@dataclass
class Runtime:
    bottle_id: str
    policies: PolicyHolder
    audit: AuditLog
    secrets: KnownSecrets = field(default_factory=KnownSecrets)
    state_dir: Path | None = None
    # False under `bottle replay`: no network, no clock-based side effects beyond the run.
    live: bool = True
    # The next-hop forward proxy (host, port), when traffic is chained through one.
    upstream: tuple[str, int] | None = None
    # Injected credentials: placeholders and real values (empty under replay). The DNS guard
    # and DLP read it; its real values are also registered in `secrets`.
    credentials: CredentialRegistry = field(init=False)
    # Per-bottle hostname volume budget, shared by the proxy and the DNS guard; it lives
    # here, not in the compiled policy, so a policy reload keeps its counts.
    hostname_budget: VolumeBudget = field(default_factory=VolumeBudget)

    def __post_init__(self) -> None:
        self.credentials = CredentialRegistry(self.secrets)

    @property
    def policy(self) -> CompiledPolicy:
        return self.policies.current
