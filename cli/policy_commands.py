"""`bottle policy check|schema|test|explain|docs`: what a security reviewer runs on policy files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.conventions import EXIT_FINDINGS, EXIT_OK
from egress.policy.compiled import CompiledPolicy
from egress.policy.model import Policy
from egress.policy.problems import PolicyError
from egress.policy.store import load_compiled
from egress.sources.credentials import check_sources
from proxy.config import ConfigError


def _summary(policy: Policy) -> str:
    h = policy.hosts
    return (f"mode {policy.mode}, {len(h.allow)} allow / {len(h.deny)} deny rules, "
            f"{len(h.passthrough)} passthrough hosts, {len(policy.credentials)} credentials")


def _credential_sources(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    """Credential sources must resolve where the check runs (commands are not run)."""
    return [(tuple(e.loc), f"credential {e.name!r}: {e.message}") for e in check_sources(policy.credentials)]


def cmd_policy_check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            # one pass: schema, semantic checks and credential sources all report together
            compiled = load_compiled(path, {_credential_sources: ("credentials",)})
        except PolicyError as e:
            print(e, file=sys.stderr)
            status = EXIT_FINDINGS
        else:
            print(f"{path}: OK (digest {compiled.digest}, {_summary(compiled.policy)})")
    return status


def cmd_policy_schema(args: argparse.Namespace) -> int:
    from egress.policy.schema import policy_json_schema

    print(json.dumps(policy_json_schema(), indent=2))
    return EXIT_OK


def _compiled(path: str) -> CompiledPolicy:
    return load_compiled(path)


def cmd_policy_test(args: argparse.Namespace) -> int:
    from proxy.policytest import format_results, run_tests

    policy = _compiled(args.policy)
    rows = []
    for tests in args.tests:
        rows += [(Path(tests), r) for r in run_tests(policy, Path(tests))]
    for line in format_results(rows):
        print(line)
    return EXIT_OK if all(r.passed for _, r in rows) else EXIT_FINDINGS


def _headers(values: list[str] | None) -> dict[str, str]:
    out = {}
    for value in values or []:
        name, sep, val = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {value!r}: expected 'Name: value'")
        out[name.strip()] = val.strip()
    return out


def cmd_policy_explain(args: argparse.Namespace) -> int:
    from cli.explain import explain
    from proxy.flowbuild import FlowSpecError

    policy = _compiled(args.policy)
    try:
        lines = list(explain(policy, args.method, args.url, _headers(args.header),
                             (args.body or "").encode()))
    except FlowSpecError as e:
        raise ConfigError(f"--url: {e}") from None
    print("\n".join(lines))
    return EXIT_OK


def cmd_policy_docs(args: argparse.Namespace) -> int:
    from cli.docs import policy_reference

    text = "\n".join(policy_reference()) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
