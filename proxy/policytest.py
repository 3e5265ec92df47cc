"""`bottle policy test`: expectations about a policy, checked by replaying flows through it.

A test file is YAML next to the policy:

    cases:
      - name: reading GitHub is allowed
        request: {method: GET, url: "https://api.github.com/repos/o/r"}
        expect: {verdict: allow}
      - name: creating gists is not
        request: {method: POST, url: "https://gist.github.com/gists", body: {files: {}}}
        expect: {verdict: block, rules: [hosts/host-denied]}
      - name: a recorded session stays clean
        flows: recorded/session.mitm
        expect: {verdict: allow, absent_rules: [dlp/known-secret]}

Cases run in file order through one replay run, so per-bottle state (tool pins, hostname
budgets) carries from case to case as it would live.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mitmproxy import flow, http
from pydantic import Field, model_validator

from egress.policy.compiled import CompiledPolicy
from egress.policy.loader import parse_yaml_model, read_text
from egress.policy.model import StrictModel
from proxy.flowbuild import FlowSpecError, http_flow
from proxy.replay import Replayer, ReplayResult, read_flows

Body = str | dict[str, Any] | list[Any] | None


def _body(value: Body) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


class InlineRequest(StrictModel):
    """An HTTP request to judge."""

    method: str = Field("GET", description="HTTP method.")
    url: str = Field(..., description="Absolute http(s) URL.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    body: Body = Field(None, description="Text, or a mapping/list sent as JSON.")


class InlineResponse(StrictModel):
    """A recorded answer, judged after the request (response scanners, MCP results)."""

    status: int = Field(200, description="HTTP status.")
    headers: dict[str, str] = Field(default_factory=dict, description="Response headers.")
    body: Body = Field(None, description="Text, or a mapping/list sent as JSON.")


class MCPExchange(StrictModel):
    """One JSON-RPC exchange with an MCP server over Streamable HTTP."""

    url: str = Field(..., description="The MCP endpoint, e.g. https://mcp.example.com/mcp.")
    request: dict[str, Any] | list[Any] = Field(..., description="JSON-RPC message(s) sent.")
    response: dict[str, Any] | list[Any] | None = Field(None, description="JSON-RPC answer(s).")
    sse: bool = Field(False, description="Answer as text/event-stream instead of JSON.")
    session: str | None = Field(None, description="Mcp-Session-Id header value.")


class Expect(StrictModel):
    verdict: Literal["allow", "block"] | None = Field(
        None, description="Verdict every flow of the case must get.")
    rules: list[str] = Field(default_factory=list,
                             description="`scanner/rule` ids that must be among the findings.")
    absent_rules: list[str] = Field(default_factory=list,
                                    description="`scanner/rule` ids that must not be found.")


class Case(StrictModel):
    name: str = Field(..., description="What the case shows.")
    flows: str | None = Field(None, description="Flow file, relative to the test file.")
    request: InlineRequest | None = None
    response: InlineResponse | None = None
    mcp: MCPExchange | None = None
    expect: Expect

    @model_validator(mode="after")
    def _one_source(self) -> Case:
        given = [n for n in ("flows", "request", "mcp") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `flows`, `request` or `mcp`")
        if self.response is not None and self.request is None:
            raise ValueError("`response` goes with an inline `request`")
        return self


class PolicyTests(StrictModel):
    """A file of policy test cases."""

    cases: list[Case] = Field(..., min_length=1, description="Cases, run in order.")


def load_tests(path: str | Path) -> PolicyTests:
    return parse_yaml_model(read_text(path), str(path), PolicyTests, what="policy test file")


@dataclass
class CaseResult:
    name: str
    source: str
    passed: bool
    got: str
    problems: list[str] = field(default_factory=list)


def _mcp_flow(ex: MCPExchange) -> http.HTTPFlow:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if ex.session:
        headers["Mcp-Session-Id"] = ex.session
    status, rbody, rheaders = None, b"", {}
    if ex.response is not None:
        status = 200
        payload = json.dumps(ex.response)
        if ex.sse:
            rbody = f"event: message\ndata: {payload}\n\n".encode()
            rheaders = {"Content-Type": "text/event-stream"}
        else:
            rbody = payload.encode()
            rheaders = {"Content-Type": "application/json"}
        if ex.session:
            rheaders["Mcp-Session-Id"] = ex.session
    return http_flow("POST", ex.url, headers, json.dumps(ex.request).encode(), status, rbody, rheaders)


def _case_flows(case: Case, base: Path) -> Iterator[flow.Flow]:
    if case.flows is not None:
        yield from read_flows([base / case.flows])
    elif case.request is not None:
        r, resp = case.request, case.response
        yield http_flow(r.method, r.url, r.headers, _body(r.body),
                        resp.status if resp else None, _body(resp.body) if resp else b"",
                        resp.headers if resp else None)
    elif case.mcp is not None:
        yield _mcp_flow(case.mcp)


def _check(case: Case, results: list[ReplayResult]) -> CaseResult:
    source = case.flows or (case.request.url if case.request else case.mcp.url if case.mcp else "")
    found = {f"{f.scanner}/{f.rule}" for r in results for f in r.findings}
    verdicts = [r.verdict for r in results]
    got = ",".join(sorted(set(verdicts))) or "no flows"
    if found:
        got += " [" + ", ".join(sorted(found)) + "]"
    problems = []
    if not results:
        problems.append("no flows to judge")
    exp = case.expect
    if exp.verdict is not None and any(v != exp.verdict for v in verdicts):
        problems.append(f"expected verdict {exp.verdict}")
    problems += [f"missing {rule}" for rule in exp.rules if rule not in found]
    problems += [f"unexpected {rule}" for rule in exp.absent_rules if rule in found]
    return CaseResult(case.name, source, not problems, got, problems)


def run_tests(policy: CompiledPolicy, tests_path: Path) -> list[CaseResult]:
    tests = load_tests(tests_path)
    replayer = Replayer(policy, bottle_id="policy-test")
    out = []
    for case in tests.cases:
        try:
            results = [replayer.judge(f) for f in _case_flows(case, tests_path.parent)]
        except FlowSpecError as e:
            out.append(CaseResult(case.name, "", False, "error", [str(e)]))
            continue
        out.append(_check(case, results))
    return out


def format_results(rows: list[tuple[Path, CaseResult]]) -> Iterator[str]:
    yield f"{'result':<6}  {'file':<28}  {'case':<44}  got"
    for path, r in rows:
        mark = "PASS" if r.passed else "FAIL"
        yield f"{mark:<6}  {path.name:<28}  {r.name[:44]:<44}  {r.got}"
        for p in r.problems:
            yield f"{'':<6}  {'':<28}  -> {p}"
    failed = sum(1 for _, r in rows if not r.passed)
    yield f"{len(rows) - failed} passed, {failed} failed"
