"""The metrics registry: bounded labels whatever the traffic, and the dashboard built from it.

10,000 distinct hosts (allowed, denied, and carrying a secret in the path) go through the
real addon chain (`build_chain`, as `bottle egress run` builds it, judged offline) with
metrics on: the set of series must not grow past what the first few flows created."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from mitmproxy import http
from mitmproxy.test import tflow, tutils
from prometheus_client.parser import text_string_to_metric_families

from egress.audit import AuditLog
from egress.findings import Finding
from egress.metrics import OTHER, SERIES, BoundedNames, ProxyMetrics, size_class
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.runtime import FixedPolicy, Runtime
from proxy.chain import DISPATCHED_HOOKS, build_chain

REPO = Path(__file__).resolve().parents[1]
SECRET = "ghp_Q7vXr2LmN9pK4sT8wY1zB6cD3fG5hJ3bVNdR"
POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: ["*.allowed.test"]
"""


def series(metrics: ProxyMetrics) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items())))
            for family in text_string_to_metric_families(text) for s in family.samples}


def chain_with_metrics(tmp: Path) -> tuple[Any, ProxyMetrics]:
    compiled = compile_policy(parse_policy(textwrap.dedent(POLICY)), "test")
    runtime = Runtime("t", FixedPolicy(compiled), AuditLog(tmp / "audit.jsonl", KnownSecrets()),
                      live=False)
    runtime.metrics = ProxyMetrics(hooks=DISPATCHED_HOOKS)
    _, chain = build_chain(runtime)
    return chain, runtime.metrics


def send(chain: Any, host: str, path: str) -> None:
    req = tutils.treq(host=host, port=443, scheme=b"https", path=path.encode(),
                      headers=http.Headers(host=host))
    f = tflow.tflow(req=req)
    f.client_conn.sni = host
    for hook in ("requestheaders", "request"):
        chain.dispatch(hook, f)
    if f.response is None:
        f.response = tutils.tresp()
    chain.dispatch("responseheaders", f)
    chain.dispatch("response", f)


def test_ten_thousand_distinct_hosts_leave_the_series_unchanged(tmp_path: Path) -> None:
    chain, metrics = chain_with_metrics(tmp_path)
    shapes = [lambda i: (f"h{i}.allowed.test", f"/p{i}"),
              lambda i: (f"h{i}.denied{i}.example", f"/q{i}"),
              lambda i: (f"s{i}.allowed.test", f"/leak?t={SECRET}&n={i}")]
    # Warm-up: every decision these shapes lead to (the hostname volume budget included, which
    # starts refusing new names after a few hundred) has created its series.
    for i in range(1_000):
        send(chain, *shapes[i % 3](i))
    first = series(metrics)
    for i in range(1_000, 11_000):
        send(chain, *shapes[i % 3](i))
    assert series(metrics) == first
    text = metrics.exposition().decode()
    flows = sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
                if s.name == "bottle_egress_flows_total")
    assert flows == 11_000  # every flow counted once
    for leak in (SECRET, "allowed.test", "denied", "/p1", "leak"):
        assert leak not in text, leak


def test_unknown_label_values_become_other() -> None:
    metrics = ProxyMetrics(rules={"dlp": ["github-pat"]}, hooks=["request"])
    metrics.flow("http", "block", [Finding("dlp", "evil.example.com", "block", "url", "x")])
    metrics.flow("gopher", "maybe", [Finding("dlp", "github-pat", "block", "url", "x")])
    metrics.failclosed_error("SomeAddon", "not-a-hook")
    metrics.dns_query("evil.example.com")
    text = metrics.exposition().decode()
    assert 'rule="other"' in text and 'kind="other"' in text and 'verdict="other"' in text
    assert 'rule="github-pat"' in text
    assert 'hook="other"' in text and 'bottle_egress_dns_queries_total{verdict="other"} 1.0' in text
    assert "evil.example.com" not in text and "gopher" not in text


def test_names_beyond_the_cap_share_one_label_value() -> None:
    names = BoundedNames(limit=3)
    assert [names(f"c{i}") for i in range(5)] == ["c0", "c1", "c2", OTHER, OTHER]
    assert names("c1") == "c1"
    metrics = ProxyMetrics(rules={})
    for i in range(500):
        metrics.credential_refresh(f"cred-{i}", ok=True)
    assert len({labels for _, labels in series(metrics)
                if labels and labels[0][0] == "credential"}) <= 65


def test_size_classes() -> None:
    assert [size_class(n) for n in (0, 1024, 1025, 64 * 1024, 2 * 1024**2, 10**9)] == [
        "1KiB", "1KiB", "64KiB", "64KiB", "16MiB", "larger"]


def test_every_dashboard_expression_uses_a_defined_series() -> None:
    board = json.loads((REPO / "docs/grafana-dashboard.json").read_text())
    names = {name for name, *_ in SERIES}
    # A histogram is queried through its _bucket, _sum and _count series.
    names |= {f"{name}_{suffix}" for name, kind, *_ in SERIES if kind == "histogram"
              for suffix in ("bucket", "sum", "count")}
    exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 8
    for expr in exprs:
        used = set(re.findall(r"\bbottle_egress_[a-z_]+\b", expr))
        assert used, expr
        assert used <= names, (expr, used - names)
    for name in names - {f"{n}_{s}" for n in names for s in ("bucket", "sum", "count")}:
        assert any(name in e or f"{name}_bucket" in e for e in exprs), f"{name} not on the dashboard"


def test_metrics_doc_lists_every_series_with_type_and_labels() -> None:
    doc = (REPO / "docs/metrics.md").read_text()
    for name, kind, labels, _ in SERIES:
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, name
        assert f"| {kind} |" in row, row
        for label in labels:
            assert f"`{label}`" in row, (name, label)
