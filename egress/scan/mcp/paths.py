"""Paths and patterns in tools/call arguments: a value (or a path inside a shell command)
normalised and tested against a reviewer's deny_paths and deny_patterns."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from egress.policy.model import McpArgumentRule

_HOME = re.compile(r"^(?:/home/[^/]+|/Users/[^/]+|/root|/var/root)(?=/|$)")
_TOKEN_SPLIT = re.compile(r"[\s\"'`=,;|&<>()\[\]{}]+")


def _norm_path(value: str) -> str | None:
    """A path-looking value in canonical form (`~` for any home), or None."""
    v = value.strip()
    if v.startswith("file://"):
        v = unquote(urlsplit(v).path)
    elif "%2" in v.lower():
        v = unquote(v)
    v = v.replace("\\", "/").replace("${HOME}", "~").replace("$HOME", "~")
    if not v or ("/" not in v and not v.startswith((".", "~"))):
        return None
    if v.startswith("~"):
        rest = v[1:]
        if rest and not rest.startswith("/"):
            rest = rest.split("/", 1)[1] if "/" in rest else ""  # ~user/...
        v = "~/" + rest.lstrip("/")
    elif v.startswith("/"):
        v = posixpath.normpath(v)
        v = _HOME.sub("~", v)
        return v
    v = posixpath.normpath(v)
    return v


def _relative_candidates(path: str) -> list[str]:
    """A relative path could start anywhere: test it as under home and as under /."""
    rel = path
    while rel.startswith(("../", "./")):
        rel = rel.split("/", 1)[1]
    if rel in ("..", "."):
        return []
    as_root = _HOME.sub("~", posixpath.normpath("/" + rel))
    return list(dict.fromkeys(["~/" + rel, as_root]))


def path_under(value: str, denied: Sequence[str]) -> str | None:
    """The denied prefix that `value` (or a path inside it, e.g. a shell command) falls under."""
    tokens = [value, *_TOKEN_SPLIT.split(value)] if len(value) < 8192 else [value]
    for token in tokens:
        norm = _norm_path(token)
        if norm is None:
            continue
        candidates = [norm] if norm.startswith(("~", "/")) else _relative_candidates(norm)
        for cand in candidates:
            for d in denied:
                if cand == d or cand.startswith(d.rstrip("/") + "/"):
                    return d
    return None


def argument_strings(args: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) for every string in tools/call arguments (keys included)."""
    if isinstance(args, str):
        yield path, args
    elif isinstance(args, dict):
        for k, v in args.items():
            sub = f"{path}.{k}" if path else str(k)
            yield from argument_strings(v, sub)
    elif isinstance(args, list):
        for i, v in enumerate(args):
            yield from argument_strings(v, f"{path}[{i}]" if path else f"[{i}]")
    elif isinstance(args, (int, float)) and not isinstance(args, bool):
        yield path, str(args)


@dataclass(frozen=True)
class ArgumentRule:
    label: str
    tools: tuple[str, ...]
    arguments: tuple[str, ...]
    deny_paths: tuple[str, ...]
    deny_patterns: tuple[re.Pattern[str], ...]
    reason: str | None

    @classmethod
    def of(cls, rule: McpArgumentRule, label: str) -> ArgumentRule:
        paths = []
        for p in rule.deny_paths:
            norm = _norm_path(p)
            paths.append((norm or p).rstrip("/") or "/")
        return cls(rule.name or label, tuple(rule.tools), tuple(rule.arguments), tuple(paths),
                   tuple(re.compile(x, re.IGNORECASE) for x in rule.deny_patterns), rule.reason)

    def covers(self, tool: str, arg_path: str) -> bool:
        if not any(fnmatch.fnmatchcase(tool, g) for g in self.tools):
            return False
        bare = re.sub(r"\[\d+\]", "", arg_path)
        return any(g == "*" or fnmatch.fnmatchcase(bare, g) or fnmatch.fnmatchcase(
            bare.rsplit(".", 1)[-1], g) for g in self.arguments)

    def violation(self, value: str) -> str | None:
        if self.deny_paths:
            hit = path_under(value, self.deny_paths)
            if hit is not None:
                return f"a path under {hit}"
        for rx in self.deny_patterns:
            if rx.search(value):
                return f"a value matching /{rx.pattern}/"
        return None
