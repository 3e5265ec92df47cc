"""`bottle policy explain`: which rule decides a request, and why."""

from __future__ import annotations

from collections.abc import Iterator

from egress.hostmatch import MalformedPath, normalize_host, path_forms
from egress.policy.compiled import CompiledPolicy
from proxy.flowbuild import http_flow
from proxy.replay import Replayer


def explain(policy: CompiledPolicy, method: str, url: str, headers: dict[str, str] | None = None,
            body: bytes = b"") -> Iterator[str]:
    f = http_flow(method, url, headers, body)
    host, path, port = f.request.host, f.request.path, f.request.port
    decision, rule = policy.hosts.explain(host, method, path, port)
    yield f"{method.upper()} {url}"
    yield f"  policy: {policy.source} (digest {policy.digest}, mode {policy.policy.mode})"
    try:
        forms = " or ".join(path_forms(path))
    except MalformedPath as e:
        forms = f"(refused: {e})"
    yield f"  destination: {normalize_host(host)} port {port}; path as matched: {forms}"
    yield f"  hosts: {decision} by {rule}"
    result = Replayer(policy, bottle_id="explain").judge(f)
    if result.findings:
        yield "  findings:"
        for finding in result.findings:
            yield (f"    {finding.scanner}/{finding.rule} ({finding.action}) at {finding.where}: "
                   f"{finding.reason}")
    else:
        yield "  findings: none"
    blocking = next((x for x in result.findings if x.action == "block"), None)
    because = f" by {blocking.scanner}/{blocking.rule}" if blocking else ""
    yield f"  verdict: {result.verdict}{because}"
    if policy.policy.mode == "audit" and any(x.action == "audit" for x in result.findings):
        yield "  note: the policy is in audit mode; in enforce mode blocking findings would block"
