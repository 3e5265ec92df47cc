"""Prometheus series of one proxy process: their definitions and how events are recorded.

No I/O here (`proxy.metrics_http` serves them). Every label value comes from a finite set:
scanner names, rule ids of the rule registry (`egress.rules`), actions, verdicts, hook names,
scan locations, size classes, and names the policy or the code gives (credentials, addons),
capped. Anything else is recorded as `other`: hostnames, paths, header names and values go
to the audit log, never into a label (each distinct value would be a new series for ever).

Each process has its own `CollectorRegistry` (never the global default), so tests and a
replay in the same interpreter never share counters. Label children are looked up once and
kept in plain dicts: `Counter.labels()` takes a lock on every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.exposition import generate_latest

from egress.findings import ACTIONS, SCANNERS

if TYPE_CHECKING:
    from egress.findings import Finding

PREFIX = "bottle_egress"
OTHER = "other"
NONE = "none"

FLOW_KINDS = ("http", "websocket", "connect", "tcp", "dns")
VERDICTS = ("allow", "block", "error")  # error: the destination could not be reached
LOCATIONS = ("url", "headers", "body", "websocket")
# Body sizes a scan time is filed under (upper bounds, bytes) and the label of each.
SIZE_CLASSES = ((1024, "1KiB"), (64 * 1024, "64KiB"), (1024**2, "1MiB"), (16 * 1024**2, "16MiB"))
LARGER = "larger"
# At most this many distinct credential or addon names get their own series.
MAX_NAMES = 64

# Seconds. Hooks mostly take tens of microseconds; the top buckets catch DNS lookups and
# large bodies.
HOOK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0)
SCAN_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


def size_class(size: int) -> str:
    for bound, label in SIZE_CLASSES:
        if size <= bound:
            return label
    return LARGER


class BoundedNames:
    """The first `limit` distinct names keep their own label value; later ones are `other`."""

    def __init__(self, limit: int = MAX_NAMES) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self.seen:
            return name
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(name)
        return name


def _known_rules() -> dict[str, frozenset[str]]:
    from egress.rules import all_rules

    return {scanner: frozenset(rules) for scanner, rules in all_rules().items()}


class ProxyMetrics:
    """The series of one `bottle egress run` (see `SERIES` for names, types and labels)."""

    def __init__(self, rules: Mapping[str, Iterable[str]] | None = None,
                 hooks: Iterable[str] = ()) -> None:
        # No `*_created` series (the creation time of each child): they double what is scraped
        # and say nothing a restart counter does not. The switch is process-wide; this process
        # exposes nothing else.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.rules = ({k: frozenset(v) for k, v in rules.items()} if rules is not None
                      else _known_rules())
        self.hooks = frozenset(hooks)
        self.flows = Counter(f"{PREFIX}_flows", "Decided flows, by kind, verdict and the deciding "
                             "finding (the blocking one, else the first; `none` without any)",
                             ["kind", "verdict", "scanner", "rule", "action"], registry=reg)
        self.findings = Counter(f"{PREFIX}_findings", "Findings recorded on flows",
                                ["scanner", "rule", "action"], registry=reg)
        self.scanned = Counter(f"{PREFIX}_scanned_bytes", "Bytes the DLP scanner read, by location",
                               ["location"], registry=reg)
        self.dns = Counter(f"{PREFIX}_dns_queries", "Queries answered by the DNS guard, by verdict",
                           ["verdict"], registry=reg)
        self.reloads = Counter(f"{PREFIX}_policy_reloads", "Policy reloads, by result (ok, failed)",
                               ["result"], registry=reg)
        self.failclosed = Counter(f"{PREFIX}_failclosed_errors", "Addon hooks that raised and "
                                  "failed their flow or connection closed", ["addon", "hook"],
                                  registry=reg)
        self.injections = Counter(f"{PREFIX}_credential_injections", "Credentials injected into "
                                  "requests, by credential name", ["credential"], registry=reg)
        self.refreshes = Counter(f"{PREFIX}_credential_refreshes", "Credential source refreshes, "
                                 "by credential name and result (ok, failed)",
                                 ["credential", "result"], registry=reg)
        self.hook_seconds = Histogram(f"{PREFIX}_hook_seconds", "Time the addon chain took per "
                                      "hook call (latency the proxy adds)", ["hook"],
                                      buckets=HOOK_BUCKETS, registry=reg)
        self.scan_seconds = Histogram(f"{PREFIX}_body_scan_seconds", "DLP scan time of a buffered "
                                      "request body, by body size class", ["size"],
                                      buckets=SCAN_BUCKETS, registry=reg)
        self.connections = Gauge(f"{PREFIX}_open_connections", "Client connections open now",
                                 registry=reg)
        self.ca_remaining = Gauge(f"{PREFIX}_ca_remaining_seconds", "Seconds until the bottle CA "
                                  "certificate expires", registry=reg)
        self.policy = Info(f"{PREFIX}_policy", "The policy in force (sha256 digest)", registry=reg)
        self._flow_children: dict[tuple[str, ...], Any] = {}
        self._finding_children: dict[tuple[str, ...], Any] = {}
        self._scanned_children = {loc: self.scanned.labels(loc) for loc in LOCATIONS}
        self._credentials = BoundedNames()
        self._addons = BoundedNames()

    # -- label values ---------------------------------------------------------------------

    def _rule_labels(self, finding: Finding) -> tuple[str, str, str]:
        scanner = finding.scanner if finding.scanner in SCANNERS else OTHER
        rule = finding.rule if finding.rule in self.rules.get(scanner, ()) else OTHER
        action = finding.action if finding.action in ACTIONS else OTHER
        return scanner, rule, action

    # -- recording ------------------------------------------------------------------------

    def flow(self, kind: str, verdict: str, findings: Iterable[Finding],
             credentials: Iterable[str] = ()) -> None:
        """One decided flow (called once per flow, where its audit event is written)."""
        deciding: Finding | None = None
        for finding in findings:
            labels = self._rule_labels(finding)
            child = self._finding_children.get(labels)
            if child is None:
                child = self._finding_children[labels] = self.findings.labels(*labels)
            child.inc()
            if deciding is None or (finding.action == "block" and deciding.action != "block"):
                deciding = finding
        key = (kind if kind in FLOW_KINDS else OTHER, verdict if verdict in VERDICTS else OTHER,
               *(self._rule_labels(deciding) if deciding is not None else (NONE, NONE, NONE)))
        child = self._flow_children.get(key)
        if child is None:
            child = self._flow_children[key] = self.flows.labels(*key)
        child.inc()
        for name in credentials:
            self.injections.labels(self._credentials(name)).inc()

    def scanned_bytes(self, location: str, size: int) -> None:
        child = self._scanned_children.get(location)
        if child is not None:
            child.inc(size)

    def body_scan(self, size: int, seconds: float) -> None:
        self.scan_seconds.labels(size_class(size)).observe(seconds)

    def dns_query(self, verdict: object) -> None:
        self.dns.labels(verdict if verdict in VERDICTS else OTHER).inc()

    def policy_reload(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "failed").inc()

    def policy_in_force(self, digest: str) -> None:
        self.policy.info({"digest": digest})

    def failclosed_error(self, addon: str, hook: str) -> None:
        hook = hook if hook in self.hooks or hook == "stream" else OTHER
        self.failclosed.labels(self._addons(addon), hook).inc()

    def credential_refresh(self, name: str, ok: bool) -> None:
        self.refreshes.labels(self._credentials(name), "ok" if ok else "failed").inc()

    def hook_observer(self, hook: str) -> Callable[[float], None]:
        """The `observe` of one hook's histogram child, looked up once (the chain keeps it)."""
        observe: Callable[[float], None] = self.hook_seconds.labels(
            hook if hook in self.hooks else OTHER).observe
        return observe

    def watch_connections(self, count: Callable[[], int]) -> None:
        self.connections.set_function(lambda: float(count()))

    def watch_ca(self, not_after: float) -> None:
        self.ca_remaining.set_function(lambda: max(0.0, not_after - time.time()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


# Every series as exposed (names with the suffix Prometheus adds), its type and labels:
# the source of docs/metrics.md, and what the Grafana dashboard may reference.
SERIES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (f"{PREFIX}_flows_total", "counter", ("kind", "verdict", "scanner", "rule", "action"),
     "decided flows; the deciding finding is the blocking one, else the first (`none` without any)"),
    (f"{PREFIX}_findings_total", "counter", ("scanner", "rule", "action"),
     "every finding recorded on a flow (audit-mode findings included)"),
    (f"{PREFIX}_scanned_bytes_total", "counter", ("location",),
     "bytes the DLP scanner read: `url`, `headers`, `body` (buffered and streamed), `websocket`"),
    (f"{PREFIX}_dns_queries_total", "counter", ("verdict",), "queries the DNS guard answered"),
    (f"{PREFIX}_policy_reloads_total", "counter", ("result",), "policy reloads, `ok` or `failed`"),
    (f"{PREFIX}_failclosed_errors_total", "counter", ("addon", "hook"),
     "addon hooks that raised (the flow or connection was failed closed)"),
    (f"{PREFIX}_credential_injections_total", "counter", ("credential",),
     "credentials injected into requests, by the policy's credential name"),
    (f"{PREFIX}_credential_refreshes_total", "counter", ("credential", "result"),
     "re-reads of `file`/`command` credential sources whose `ttl` ran out"),
    (f"{PREFIX}_hook_seconds", "histogram", ("hook",),
     "time the addon chain spent per mitmproxy hook call (the latency the proxy adds)"),
    (f"{PREFIX}_body_scan_seconds", "histogram", ("size",),
     "DLP scan time of a buffered request body, by size class (`1KiB` ... `16MiB`, `larger`)"),
    (f"{PREFIX}_open_connections", "gauge", (), "client connections open now"),
    (f"{PREFIX}_ca_remaining_seconds", "gauge", (), "seconds until the bottle CA expires"),
    (f"{PREFIX}_policy_info", "info", ("digest",), "the policy in force: one series, value 1"),
)
