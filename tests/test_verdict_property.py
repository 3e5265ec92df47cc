"""One verdict path (issue 15, rule 3): findings of every scanner, any action, in enforce and
audit mode, go through `egress.verdict.record` (via `addons.support.flows`, as every addon
does), and what the flow's record says (`blocked`, `verdict`), what the client gets (status,
JSON denial, `X-Bottle-Block-Reason`) and what the real `Audit` addon writes to a real audit
file all agree, and agree with the policy's rules stated here independently:

- enforce: the first finding whose action is `block` blocks; audit: no policy finding blocks
  (every action degrades to `audit`), only a fail-closed one (`fail`) does;
- the denial names the blocking finding, with its status; nothing blocked, nothing answered;
- the audit event lists every finding as recorded, and its verdict is `block` (`error` for a
  failure to reach the destination) exactly when the flow was blocked.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.test import tflow

import egress.policy  # noqa: F401  (first: egress.scan.hosts alone runs into a cycle on main)
from addons.audit import Audit
from addons.support.failclosed import FailClosed
from addons.support.flows import FlowRecord, existing_record, fail, report
from egress.audit import AuditLog
from egress.findings import ACTIONS, SCANNERS, Action, Finding, Scanner
from egress.policy.compiled import CompiledPolicy, compile_policy
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.rules import all_rules
from egress.runtime import FixedPolicy, Runtime
from egress.verdict import FAILURE_RULES, Decisions, Mode, record

MODES: tuple[Mode, ...] = ("enforce", "audit")
RULE_IDS: list[tuple[Scanner, str]] = [
    (scanner, rule) for scanner, rules in all_rules().items() for rule in rules  # type: ignore[misc]
]
STATUSES = (400, 403, 407, 413, 502, 504)


@cache
def policy(mode: Mode) -> CompiledPolicy:
    return compile_policy(parse_policy(textwrap.dedent(f"""
        version: 1
        mode: {mode}
        hosts:
          allow:
            - hosts: [example.com]
    """)), "test")


def findings_st() -> st.SearchStrategy[Finding]:
    return st.builds(
        lambda rid, action, where, status: Finding(rid[0], rid[1], action, where,
                                                   f"{rid[0]}/{rid[1]} at {where}", status=status),
        st.sampled_from(RULE_IDS), st.sampled_from(ACTIONS),
        st.sampled_from(("request.body", "request.headers.authorization", "request.url",
                         "response.body", "connect")),
        st.sampled_from(STATUSES))


def under(mode: Mode, f: Finding) -> Finding:
    """The policy's rule, written out here rather than taken from `egress.verdict`."""
    return f if mode == "enforce" else replace(f, action="audit")


class Bottle:
    """A runtime per mode, each auditing into its own real audit file."""

    def __init__(self, directory: Path) -> None:
        self.paths = {mode: directory / f"audit-{mode}.jsonl" for mode in MODES}
        self.runtimes = {mode: Runtime("bottle-prop", FixedPolicy(policy(mode)),
                                       AuditLog(self.paths[mode], KnownSecrets()), live=False)
                         for mode in MODES}
        self.read = dict.fromkeys(MODES, 0)

    def events(self, mode: Mode) -> list[dict[str, Any]]:
        """The events written since the last call."""
        with self.paths[mode].open("rb") as fh:
            fh.seek(self.read[mode])
            data = fh.read()
        self.read[mode] += len(data)
        return [json.loads(line) for line in data.splitlines()]

    def run(self, mode: Mode, findings: list[Finding], failure: Finding | None
            ) -> tuple[http.HTTPFlow, FlowRecord, list[dict[str, Any]]]:
        """Findings reported on a request flow (and a fail-closed one after them), then the
        flow audited by the real `Audit` addon."""
        runtime = self.runtimes[mode]
        f = tflow.tflow()
        assert f.response is None
        if findings:
            report(f, runtime, findings)
        if failure is not None:
            fail(f, runtime, failure)
        Audit(runtime).response(f)
        rec = existing_record(f)
        assert rec is not None or not (findings or failure)
        return f, rec or FlowRecord(policy(mode)), self.events(mode)


@pytest.fixture(scope="module")
def bottle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bottle]:
    b = Bottle(tmp_path_factory.mktemp("verdict"))
    yield b
    for runtime in b.runtimes.values():
        runtime.audit.close()


def check(bottle: Bottle, mode: Mode, findings: list[Finding], failure: Finding | None) -> None:
    f, rec, events = bottle.run(mode, findings, failure)
    expected = [under(mode, x) for x in findings] + ([failure] if failure is not None else [])
    blocking = next((x for x in expected if x.action == "block"), None)

    # the record: one truth
    assert rec.findings == expected
    assert rec.blocked == blocking
    assert rec.verdict.blocked == (blocking is not None)
    assert rec.verdict.blocking == blocking
    if mode == "audit" and failure is None:
        assert blocking is None, "audit mode blocked on a policy finding"

    # what the client gets
    if blocking is None:
        assert f.response is None
    else:
        assert f.response is not None
        assert f.response.status_code == blocking.status
        body = json.loads(f.response.content or b"")
        rule = f"{blocking.scanner}/{blocking.rule}"
        assert body["rule"] == rule
        assert body["error"] == ("failed" if blocking.scanner == "error"
                                 and blocking.rule in FAILURE_RULES else "blocked")
        assert body["bottle"] == "bottle-prop" and body["flow"] == f.id
        assert f.response.headers["X-Bottle-Block-Reason"].startswith(rule + ":")

    # the audit event
    if not expected and not policy(mode).policy.audit.log_allowed:
        assert events == []
        return
    assert len(events) == 1
    event = events[0]
    if blocking is None:
        assert event["verdict"] == "allow"
        assert "status" not in event
    else:
        failed = blocking.scanner == "error" and blocking.rule in FAILURE_RULES
        assert event["verdict"] == ("error" if failed else "block")
        assert event["status"] == blocking.status
    assert [(x["scanner"], x["rule"], x["action"]) for x in event["findings"]] == \
        [(x.scanner, x.rule, x.action) for x in expected]


def test_every_scanner_has_rules_in_the_registries() -> None:
    assert {s for s, _ in RULE_IDS} == set(SCANNERS)
    assert len(RULE_IDS) > 100


def test_every_rule_id_blocks_in_enforce_and_only_logs_in_audit(bottle: Bottle) -> None:
    """Every rule id of every registry, alone, as a block, in both modes; and as a fail-closed
    finding in audit mode."""
    for scanner, rule in RULE_IDS:
        finding = Finding(scanner, rule, "block", "request.body", "reason", status=403)
        for mode in MODES:
            check(bottle, mode, [finding], None)
        check(bottle, "audit", [], finding)


@settings(max_examples=300, deadline=None)
@given(findings=st.lists(findings_st(), max_size=5), mode=st.sampled_from(MODES),
       failure=st.none() | findings_st().map(lambda x: replace(x, action="block")))
def test_blocked_response_and_audit_event_agree(bottle: Bottle, findings: list[Finding],
                                                mode: Mode, failure: Finding | None) -> None:
    check(bottle, mode, findings, failure)


@settings(max_examples=500, deadline=None)
@given(batches=st.lists(st.lists(findings_st(), max_size=4), max_size=4),
       mode=st.sampled_from(MODES), fail_closed=st.lists(st.booleans(), min_size=4, max_size=4))
def test_record_decides_once(batches: list[list[Finding]], mode: Mode,
                             fail_closed: list[bool]) -> None:
    """`record` on its own (the DNS guard's and the MCP inspector's use): the block is the first
    blocking finding recorded; exactly one call reports it; rewrites only in enforce mode."""
    state = Decisions()
    expected: list[Finding] = []
    newly: list[Finding] = []
    for batch, hard in zip(batches, fail_closed, strict=False):
        out = record(state, batch, mode, fail_closed=hard)
        recorded = batch if hard else [under(mode, x) for x in batch]
        assert list(out.findings) == recorded
        expected += recorded
        if out.blocked is not None:
            newly.append(out.blocked)
        actions: set[Action] = {"redact", "strip"}
        assert list(out.rewrites) == [x for x in recorded if x.action in actions]
        if mode == "audit" and not hard:
            assert not out.rewrites and out.blocked is None
    blocking = next((x for x in expected if x.action == "block"), None)
    assert state.findings == expected
    assert state.blocking == blocking
    assert newly == ([blocking] if blocking is not None else [])


def test_a_failed_upstream_connect_hook_blocks_its_record(bottle: Bottle) -> None:
    """The fail-closed wrapper's path that used to append a block finding without setting
    `blocked` (`http_connect_upstream`): record, response and audit event now agree."""
    runtime = bottle.runtimes["enforce"]
    f = tflow.tflow()
    FailClosed(runtime).on_error("upstream", "http_connect_upstream", (f,), RuntimeError("x"))
    rec = existing_record(f)
    assert rec is not None and rec.blocked is not None
    assert (rec.blocked.scanner, rec.blocked.rule) == ("error", "addon-exception")
    assert rec.verdict.blocking == rec.blocked
    assert f.request.host == "egress-blocked.invalid"  # the CONNECT upstream goes nowhere
    Audit(runtime).response(f)
    [event] = bottle.events("enforce")
    assert event["verdict"] == "block" and event["findings"][0]["rule"] == "addon-exception"
