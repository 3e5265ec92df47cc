"""`bottle policy check|schema|test|explain|docs|suggest`: what a security reviewer runs on policy files."""

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


def _audit_lines(path: Path) -> list[str]:
    """The audit log and its rotated backups (`FILE.N`, oldest first)."""
    files = sorted((p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
                   key=lambda p: -int(p.suffix[1:]))
    lines: list[str] = []
    for p in [*files, path]:
        with p.open(encoding="utf-8", errors="replace") as f:
            lines += f.read().splitlines()
    return lines


def _confirm(path: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"--write: not writing {path} without confirmation: stdin is not a "
                          "terminal; review the diff above and add --yes")
    answer = input(f"Write these rules to {path}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise ConfigError(f"nothing written to {path}")


def _write_policy(path: Path, original: bytes, text: str) -> None:
    """Replace the file atomically, keeping its mode, unless it changed since it was read."""
    import os
    import tempfile

    if path.read_bytes() != original:
        raise ConfigError(f"{path} changed while the suggestion was made; run it again")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_policy_suggest(args: argparse.Namespace) -> int:
    from egress.policy.compiled import default_policy_path, policy_digest
    from egress.policy.loader import decode_text, read_bytes
    from egress.policy.suggest import SuggestError, read_audit, suggest
    from launcher.auditlog import parse_since
    from launcher.errors import LauncherError

    if args.write and not args.policy:
        raise ConfigError("--write needs --policy FILE: the built-in default policy is not "
                          f"edited; copy it (cp {default_policy_path()} my-policy.yaml), pass "
                          "--policy my-policy.yaml, and start bottles with it")
    try:
        since = parse_since(args.since) if args.since else None
    except LauncherError as e:
        raise ConfigError(e.message) from None
    audit = Path(args.from_audit)
    if not audit.is_file():
        raise ConfigError(f"--from-audit {audit}: no such file")
    reading = read_audit(_audit_lines(audit), since)
    policy_path = Path(args.policy) if args.policy else default_policy_path()
    raw = read_bytes(policy_path)
    text = decode_text(raw, str(policy_path))
    digest = policy_digest(raw)
    try:
        result = suggest(reading, text, str(policy_path), audit.name)
    except SuggestError as e:
        raise ConfigError(f"{policy_path}: {e}") from None
    window = f" ({reading.first} .. {reading.last})" if reading.first else ""
    print(f"# {reading.events} audit events with findings in {audit}{window}")
    print(f"# policy {policy_path} (digest {digest})")
    others = sorted(d for d in reading.policies if d != digest)
    if others:
        print(f"# note: events were decided by policy digest {', '.join(others)}, not this "
              "file's: pass the policy the bottle ran with (--policy)")
    if reading.unreadable:
        print(f"# {reading.unreadable} lines were not audit events (skipped)")
    if result.rules:
        print(f"# {len(result.rules)} allow rules for "
              f"{sum(r.requests for r in result.rules)} refused requests:")
        for r in result.rules:
            what = f"{','.join(r.methods)} {' '.join(r.paths or ())}" if r.methods else "any request"
            port = f":{r.port}" if r.port not in (None, 80, 443) else ""
            print(f"#   {r.host}{port}  {what}  ({r.requests} refused)")
    else:
        print("# no allow rule to suggest: nothing this policy refuses by its host allowlist")
    for why in result.withheld:
        print(f"#   no rule: {why}")
    if reading.others:
        print("# not suggested (findings of scanners, deny rules or safety checks; no policy "
              "change is proposed for them, review them yourself):")
        width = max(len(k) for k in reading.others)
        for rule, n in sorted(reading.others.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"#   {rule.ljust(width)}  {n}")
    if not result.rules:
        return EXIT_OK
    sys.stdout.write(result.diff)
    if not args.write:
        print(f"# apply: bottle policy suggest --from-audit {audit} --policy {policy_path} "
              "--write", file=sys.stderr)
        return EXIT_OK
    sys.stdout.flush()
    _confirm(str(policy_path), args.yes)
    _write_policy(policy_path, raw, result.text)
    print(f"wrote {len(result.rules)} rules to {policy_path} (digest now "
          f"{policy_digest(result.text.encode())})", file=sys.stderr)
    return EXIT_OK
