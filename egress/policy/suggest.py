"""`bottle policy suggest`: blocked requests of an audit log -> allow rules, as a text patch.

Pure: audit lines and policy text in, a `Suggestion` (the patched text, the rules it adds,
what it left alone) out. Only the host allowlist's own refusals (`hosts/host-not-allowed`,
`port-not-allowed`, `request-not-allowed`) become rules; a finding of any other scanner, a
deny rule, a private address or a malformed request suggests nothing and is listed with its
count, so a reviewer sees it. Rules are as narrow as what was refused: one per host and port,
methods as seen, paths as the longest segment prefix shared by requests under the same first
two segments (never `/` unless `/` itself was asked for).

The policy text is edited, not re-dumped: new rules are inserted after the last `hosts.allow`
item in that list's indentation, and every comment and line of the reviewer's file is kept.
The result is loaded with the real loader, and every refused request is checked against the
patched policy, before anything is shown.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from egress.hostmatch import MalformedPath, normalize_host, path_forms, path_has_prefix
from egress.policy.compiled import CompiledPolicy, compile_policy
from egress.policy.loader import parse_policy
from egress.policy.problems import PolicyError
from egress.policy.yamlbounds import bounded_yaml

# Refusals of the host allowlist that an allow rule lifts.
SUGGESTABLE = frozenset({"hosts/host-not-allowed", "hosts/port-not-allowed",
                         "hosts/request-not-allowed"})
WEB_PORTS = (80, 443)
# Paths sharing this many leading segments are merged into their longest common prefix.
MERGE_DEPTH = 2
_PLAIN = re.compile(r"[A-Za-z0-9._~/%+*-]+")
_REDACTED = "REDACTED"


class SuggestError(ValueError):
    """A user error: the policy cannot be patched (its `hosts.allow` is not a block list)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """One request the host allowlist refused (method and path are None for a CONNECT)."""

    host: str
    port: int | None
    method: str | None
    path: str | None


@dataclass
class AuditReading:
    """What the audit lines held: refused requests, other findings, unusable lines."""

    refused: list[Refused] = field(default_factory=list)
    others: Counter[str] = field(default_factory=Counter)
    policies: Counter[str] = field(default_factory=Counter)
    events: int = 0
    unreadable: int = 0
    first: str | None = None
    last: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    host: str
    port: int | None
    methods: tuple[str, ...] | None
    paths: tuple[str, ...] | None
    requests: int

    def yaml_lines(self, name: str, indent: int) -> list[str]:
        pad, inner = " " * indent, " " * (indent + 2)
        lines = [f"{pad}- name: {name}", f"{inner}hosts: [{_scalar(self.host)}]"]
        if self.methods:
            lines.append(f"{inner}methods: [{', '.join(self.methods)}]")
        if self.paths:
            lines.append(f"{inner}paths: [{', '.join(_scalar(p) for p in self.paths)}]")
        if self.port is not None and self.port not in WEB_PORTS:
            lines.append(f"{inner}ports: [{self.port}]")
        return lines


@dataclass
class Suggestion:
    rules: list[Rule]
    text: str                      # the patched policy text (== original when no rules)
    diff: str
    withheld: list[str] = field(default_factory=list)   # why some requests got no rule


def _scalar(value: str) -> str:
    return value if (_PLAIN.fullmatch(value) and not value.startswith("*")) or value == "*" \
        else json.dumps(value)


def _time(event: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read_audit(lines: Iterable[str], since: datetime | None = None) -> AuditReading:
    """Refused requests and other findings of audit lines (at or after `since`). Audit mode
    counts too: a finding logged with action `audit` is what enforce mode would refuse."""
    out = AuditReading()
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            out.unreadable += 1
            continue
        if not isinstance(event, dict):
            out.unreadable += 1
            continue
        if since is not None:
            when = _time(event)
            if when is None or when < since:
                continue
        findings = [f for f in event.get("findings") or [] if isinstance(f, dict)]
        if not findings:
            continue
        out.events += 1
        stamp = str(event.get("time", ""))
        out.first = out.first or stamp
        out.last = stamp or out.last
        if event.get("policy"):
            out.policies[str(event["policy"])] += 1
        names = [f"{f.get('scanner')}/{f.get('rule')}" for f in findings]
        # A request refused for another reason too (a private address, a deny rule, a name
        # that looks like encoded data, a secret) gets no rule: it would stay refused, the
        # host or path may be the very data that leaked, and widening the allowlist next to
        # such a finding is the reviewer's call alone.
        vetoed = any(n not in SUGGESTABLE for n in names)
        for f, rule in zip(findings, names, strict=True):
            if rule in SUGGESTABLE and not vetoed and f.get("action") in ("block", "audit") \
                    and event.get("host"):
                out.refused.append(_refused(event))
            elif f.get("action") in ("block", "audit", "redact", "strip"):
                out.others[rule] += 1
    return out


def _refused(event: dict[str, Any]) -> Refused:
    port = event.get("port")
    method = event.get("method")
    path = event.get("path")
    connect = event.get("event") == "connect" or method == "CONNECT" or not path
    return Refused(
        host=normalize_host(str(event["host"])),
        port=port if isinstance(port, int) else None,
        method=None if connect else str(method).upper(),
        path=None if connect else str(path).partition("?")[0],
    )


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def _join(segments: tuple[str, ...]) -> str:
    return "/" + "/".join(segments)


def path_prefixes(paths: Iterable[str]) -> list[str]:
    """The fewest segment prefixes that cover `paths` without widening past what they share:
    paths with the same first MERGE_DEPTH segments merge into their longest common prefix."""
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for p in set(paths):
        segs = _segments(p)
        groups[segs[:MERGE_DEPTH]].append(segs)
    prefixes = set()
    for members in groups.values():
        common = members[0]
        for segs in members[1:]:
            n = 0
            while n < min(len(common), len(segs)) and common[n] == segs[n]:
                n += 1
            common = common[:n]
        prefixes.add(_join(common))
    # a prefix under another one adds nothing
    return sorted(p for p in prefixes
                  if not any(q != p and path_has_prefix(p, q) for q in prefixes))


def _safe_prefix(path: str, compiled: CompiledPolicy) -> str | None:
    """`path` cut before the first segment that looks like a secret (the DLP engine of the
    policy judges; audit paths are redacted already, this checks again), None when even the
    first segment does."""
    segs = _segments(path)
    for n in range(len(segs), 0, -1):
        cut = _join(segs[:n])
        if _REDACTED not in cut and not compiled.dlp.scan_url(cut):
            return cut
    return "/" if not segs else None


def build_rules(refused: Iterable[Refused], compiled: CompiledPolicy) -> tuple[list[Rule], list[str]]:
    by_dest: dict[tuple[str, int | None], list[Refused]] = defaultdict(list)
    for r in refused:
        by_dest[(r.host, r.port)].append(r)
    rules: list[Rule] = []
    withheld: list[str] = []
    for (host, port), items in sorted(by_dest.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        requests = [r for r in items if r.method is not None and r.path is not None]
        if not requests:  # refused at CONNECT: only the destination is known
            rules.append(Rule(host, port, None, None, len(items)))
            continue
        per_method: dict[str, set[str]] = defaultdict(set)
        for r in requests:
            assert r.method is not None and r.path is not None
            try:
                forms = path_forms(r.path)
            except MalformedPath:
                withheld.append(f"{r.method} on {host}: malformed path")
                continue
            for form in forms:
                safe = _safe_prefix(form, compiled)
                if safe is None:
                    withheld.append(f"{r.method} on {host}: the path looks like a secret")
                else:
                    per_method[r.method].add(safe)
        by_paths: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for method, paths in per_method.items():
            by_paths[tuple(path_prefixes(paths))].append(method)
        for prefixes, methods in sorted(by_paths.items()):
            count = sum(1 for r in requests if r.method in methods)
            rules.append(Rule(host, port, tuple(sorted(methods)), prefixes, count))
    return rules, withheld


# -- the text patch -----------------------------------------------------------------------

def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, column: int) -> int:
    """Index after the last content line of the block that starts at line `start` and whose
    continuation lines are indented deeper than `column` (trailing comments stay outside)."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _indent(lines[i]) <= column:
            break
        end = i + 1
    return end


def _names(tree: Any) -> set[str]:
    hosts = tree.get("hosts") if isinstance(tree, dict) else None
    allow = hosts.get("allow") if isinstance(hosts, dict) else None
    return {str(r.get("name")) for r in allow or [] if isinstance(r, dict) and r.get("name")}


def _rule_names(rules: list[Rule], taken: set[str]) -> list[str]:
    names = []
    for rule in rules:
        base = "suggested-" + re.sub(r"[^a-z0-9]+", "-", rule.host.lower()).strip("-")
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


def insert_rules(text: str, rules: list[Rule], comment: str) -> str:
    """`text` with `rules` appended to `hosts.allow`, every other line untouched."""
    tree = bounded_yaml().load(text) if text.strip() else None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    names = _rule_names(rules, _names(tree))

    def block(indent: int) -> list[str]:
        out = [" " * indent + f"# {comment}\n"]
        for rule, name in zip(rules, names, strict=True):
            out += [line + "\n" for line in rule.yaml_lines(name, indent)]
        return out

    if tree is None:
        return "".join(lines) + "hosts:\n  allow:\n" + "".join(block(4))
    if not isinstance(tree, CommentedMap) or tree.fa.flow_style():
        raise SuggestError("the policy is not a block mapping; add the rules by hand")
    hosts = tree.get("hosts")
    if hosts is None:
        return "".join(lines) + "hosts:\n  allow:\n" + "".join(block(4))
    if not isinstance(hosts, CommentedMap) or hosts.fa.flow_style():
        raise SuggestError("`hosts:` is written in flow style ({...}); add the rules by hand")
    allow = hosts.get("allow")
    hosts_line, hosts_col = tree.lc.key("hosts")
    if allow is None:  # no allow list yet: a new key at the end of `hosts:`
        key_col = hosts.lc.key(next(iter(hosts)))[1] if hosts else hosts_col + 2
        end = _block_end(lines, hosts_line, hosts_col)
        new = [" " * key_col + "allow:\n", *block(key_col + 2)]
        return "".join(lines[:end] + new + lines[end:])
    allow_line, allow_col = hosts.lc.key("allow")
    if not isinstance(allow, CommentedSeq):
        raise SuggestError("`hosts.allow` is not a list")
    if not allow or allow.fa.flow_style():
        if allow:
            raise SuggestError("`hosts.allow` is written in flow style ([...]); add the rules by hand")
        line = lines[allow_line]
        head, sep, rest = line.partition("[]")
        if not sep or (rest.strip() and not rest.strip().startswith("#")):
            raise SuggestError("`hosts.allow` is written in flow style; add the rules by hand")
        lines[allow_line] = head.rstrip() + (" " + rest.strip() if rest.strip() else "") + "\n"
        return "".join(lines[:allow_line + 1] + block(allow_col + 2) + lines[allow_line + 1:])
    last_line, last_col = allow.lc.item(len(allow) - 1)
    dash_col = last_col - 2
    end = _block_end(lines, last_line, dash_col)
    return "".join(lines[:end] + block(dash_col) + lines[end:])


def _still_refused(compiled: CompiledPolicy, refused: Iterable[Refused]) -> list[Refused]:
    out = []
    for r in refused:
        if r.method is None or r.path is None:
            finding = compiled.hosts.check_host(r.host, r.port)
            if finding is not None and f"hosts/{finding.rule}" in SUGGESTABLE:
                out.append(r)
        elif any(f"hosts/{f.rule}" in SUGGESTABLE and f.action == "block"
                 for f in compiled.hosts.check_request(r.host, r.method, r.path, r.port)):
            out.append(r)
    return out


def suggest(reading: AuditReading, policy_text: str, source: str, audit_name: str) -> Suggestion:
    """The patch that allows what `reading` found refused and `policy_text` still refuses.
    Raises `PolicyError` when the policy is invalid, and `SuggestError` if the patched text
    would not load (a bug: nothing unchecked is shown)."""
    current = compile_policy(parse_policy(policy_text, source), source, policy_text)
    pending = _still_refused(current, reading.refused)
    rules, withheld = build_rules(pending, current)
    if not rules:
        return Suggestion([], policy_text, "", withheld)
    total = sum(r.requests for r in rules)
    span = f", {reading.first} .. {reading.last}" if reading.first else ""
    comment = f"suggested by `bottle policy suggest` from {audit_name} ({total} refused{span})"
    patched = insert_rules(policy_text, rules, comment)
    try:
        compiled = compile_policy(parse_policy(patched, source), source, patched)
    except PolicyError as e:
        raise SuggestError(f"the suggested rules would not load ({e}); nothing was changed") from None
    for r in _still_refused(compiled, pending):
        withheld.append(f"{r.method or 'CONNECT'} on {r.host}: still refused after the patch "
                        "(a deny rule or the port)")
    diff = "".join(difflib.unified_diff(policy_text.splitlines(keepends=True),
                                        patched.splitlines(keepends=True),
                                        fromfile=source, tofile=source))
    return Suggestion(rules, patched, diff, sorted(set(withheld)))
