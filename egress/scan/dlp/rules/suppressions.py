"""`dlp.suppress` entries compiled: which rule, host, path and location each one covers.
A covered finding is audited instead of acted on, with the entry's reason."""

from __future__ import annotations

from dataclasses import dataclass

from egress.hostmatch import HostSet, normalize_host, normalize_path, path_has_prefix
from egress.policy.model import DLPSection
from egress.scan.dlp.results import ScanContext


@dataclass(frozen=True, slots=True)
class Suppression:
    rules: frozenset[str]
    hosts: HostSet | None
    paths: tuple[str, ...] | None
    locations: tuple[str, ...] | None
    reason: str
    label: str

    def covers(self, rule: str, where: str, ctx: ScanContext) -> bool:
        if "*" not in self.rules and rule not in self.rules:
            return False
        if self.hosts is not None and (ctx.host is None or normalize_host(ctx.host) not in self.hosts):
            return False
        if self.paths is not None:
            if ctx.path is None:
                return False
            path = normalize_path(ctx.path)
            if not any(path_has_prefix(path, p) for p in self.paths):
                return False
        return self.locations is None or where.lower().startswith(self.locations)


def suppressions_of(section: DLPSection) -> tuple[Suppression, ...]:
    return tuple(
        Suppression(
            rules=frozenset(s.rules),
            hosts=HostSet(s.hosts) if s.hosts is not None else None,
            paths=tuple(s.paths) if s.paths is not None else None,
            locations=tuple(x.lower() for x in s.locations) if s.locations is not None else None,
            reason=s.reason, label=f"dlp.suppress[{i}]")
        for i, s in enumerate(section.suppress))
