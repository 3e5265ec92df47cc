"""What every addon of one bottle shares: its id, policy holder, audit log and known secrets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from egress.addresses import AddressPolicy, IPNetwork
from egress.audit import AuditLog
from egress.policy.compiled import CompiledPolicy
from egress.redact import KnownSecrets
from egress.scan.hostnames import VolumeBudget
from egress.sources.credentials import CredentialRegistry
from egress.sources.localnet import LocalNetworks

if TYPE_CHECKING:
    from egress.agent_identity import AgentIdentities
    from egress.metrics import ProxyMetrics


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
    # `--allow-private` / `--any-port` (development and tests, never in a bottle): more
    # non-public networks the proxy may dial, and allow rules that cover every port.
    extra_private: tuple[IPNetwork, ...] = ()
    any_port: bool = False
    # Whether the bottle CA may issue a certificate for a host (its name constraints): a
    # refused CONNECT is then held and answered inside TLS (`addons.tunnel_denials`).
    may_issue: Callable[[str], bool] | None = None
    # The proxy host's own addresses and networks, refused as destinations (read lazily).
    local: LocalNetworks = field(default_factory=LocalNetworks)
    # `--metrics-listen`: the process's Prometheus series (None: metrics off, nothing recorded).
    metrics: ProxyMetrics | None = None
    # `--agent-identities`: agents must authenticate; the name is their X-Pipelock-Agent.
    identities: AgentIdentities | None = None
    _addresses: tuple[CompiledPolicy, tuple[IPNetwork, ...], AddressPolicy] | None = field(
        default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.credentials = CredentialRegistry(self.secrets)

    @property
    def policy(self) -> CompiledPolicy:
        return self.policies.current

    def addresses(self, policy: CompiledPolicy) -> AddressPolicy:
        """The non-public addresses `policy` (plus `--allow-private`) lets the proxy dial, and
        the proxy host's own networks, refused (live only: replay judges without them)."""
        local = self.local.current() if self.live else ()
        cached = self._addresses
        if cached is None or cached[0] is not policy or cached[1] is not local:
            allowed = (*policy.hosts.private_networks, *self.extra_private)
            cached = (policy, local, AddressPolicy(allowed, local))
            self._addresses = cached
        return cached[2]
