"""`bottle replay --policy OLD --against NEW`: what a policy edit would change, flow by flow."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egress.findings import Finding
from egress.policy.compiled import CompiledPolicy
from proxy.replay import Replayer, ReplayResult, Snapshot, read_flows


def _key(f: Finding) -> str:
    return f"{f.scanner}/{f.rule}:{f.action}"


@dataclass(frozen=True, slots=True)
class Change:
    index: int
    id: str
    method: str | None
    url: str | None
    old_verdict: str
    new_verdict: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    cause: str

    @property
    def kind(self) -> str:
        if self.old_verdict == "allow" and self.new_verdict == "block":
            return "newly-blocked"
        if self.old_verdict == "block" and self.new_verdict == "allow":
            return "newly-allowed"
        return "findings-changed"

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "method": self.method, "url": self.url,
                "change": self.kind, "old_verdict": self.old_verdict,
                "new_verdict": self.new_verdict, "added": list(self.added),
                "removed": list(self.removed), "cause": self.cause}


def _cause(old: ReplayResult, new: ReplayResult, added: list[str], removed: list[str]) -> str:
    blocking_new = next((f for f in new.findings if f.action == "block"), None)
    blocking_old = next((f for f in old.findings if f.action == "block"), None)
    if new.verdict == "block" and old.verdict == "allow" and blocking_new:
        return f"{blocking_new.scanner}/{blocking_new.rule}: {blocking_new.reason}"
    if old.verdict == "block" and new.verdict == "allow" and blocking_old:
        return f"{blocking_old.scanner}/{blocking_old.rule} no longer applies"
    parts = [f"+{a}" for a in added] + [f"-{r}" for r in removed]
    return ", ".join(parts)


def diff(paths: Sequence[str | Path], old: CompiledPolicy, new: CompiledPolicy) -> Iterator[Change | None]:
    """Yields a `Change` for each flow whose verdict or findings differ, `None` for the rest."""
    first, second = Replayer(old, bottle_id="diff-old"), Replayer(new, bottle_id="diff-new")
    for i, f in enumerate(read_flows(paths), 1):
        snapshot = Snapshot(f)
        o = first.judge(f)
        snapshot.restore(f)
        n = second.judge(f)
        old_keys = {_key(f) for f in o.findings}
        new_keys = {_key(f) for f in n.findings}
        if o.verdict == n.verdict and old_keys == new_keys:
            yield None
            continue
        added, removed = sorted(new_keys - old_keys), sorted(old_keys - new_keys)
        yield Change(i, o.id, o.method, n.url, o.verdict, n.verdict, tuple(added), tuple(removed),
                     _cause(o, n, added, removed))


@dataclass
class Summary:
    flows: int = 0
    newly_blocked: int = 0
    newly_allowed: int = 0
    findings_changed: int = 0

    def add(self, change: Change | None) -> None:
        self.flows += 1
        if change is None:
            return
        if change.kind == "newly-blocked":
            self.newly_blocked += 1
        elif change.kind == "newly-allowed":
            self.newly_allowed += 1
        else:
            self.findings_changed += 1

    def as_json(self) -> dict[str, int]:
        return {"flows": self.flows, "newly_blocked": self.newly_blocked,
                "newly_allowed": self.newly_allowed, "findings_changed": self.findings_changed,
                "unchanged": self.flows - self.newly_blocked - self.newly_allowed - self.findings_changed}


def render(changes: Iterator[Change | None], fmt: str) -> Iterator[str]:
    summary = Summary()
    listed: list[dict[str, Any]] = []
    if fmt == "table":
        yield f"{'#':>5}  {'change':<16}  {'old':<5} -> {'new':<5}  {'method':<7}  {'url':<50}  cause"
    for change in changes:
        summary.add(change)
        if change is None:
            continue
        if fmt == "json":
            listed.append(change.as_json())
        else:
            yield (f"{change.index:>5}  {change.kind:<16}  {change.old_verdict:<5} -> "
                   f"{change.new_verdict:<5}  {(change.method or ''):<7}  {(change.url or '')[:50]:<50}  "
                   f"{change.cause}")
    s = summary.as_json()
    if fmt == "json":
        yield json.dumps({"changes": listed, "summary": s}, indent=2)
    else:
        yield (f"{s['flows']} flows: {s['newly_blocked']} newly blocked, {s['newly_allowed']} newly "
               f"allowed, {s['findings_changed']} with changed findings, {s['unchanged']} unchanged")
