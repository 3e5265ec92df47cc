"""Canonical JSON of a definition, its hash (what pins hold) and a readable diff of two
definitions (what a reviewer sees when a pinned tool changed)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_SPACES = re.compile(r"\s+")


def _canonical_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SPACES.sub(" ", value).strip()
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items() if k != "icons"}
    if isinstance(value, list):
        return [_canonical_value(v) for v in value]
    return value


def canonical_json(tool: Any) -> str:
    """Sorted keys, no insignificant whitespace, runs of whitespace inside strings folded to one
    space; icons left out (not model-visible). Key order and formatting are not changes."""
    return json.dumps(_canonical_value(tool), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def tool_hash(tool: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(tool).encode()).hexdigest()


def definition_diff(old: Any, new: Any, max_lines: int = 60) -> str:
    """A unified diff of two definitions, pretty-printed with sorted keys."""
    import difflib  # only when a pinned tool changed: not on every start

    a = json.dumps(_canonical_value(old), sort_keys=True, indent=1, ensure_ascii=False).splitlines()
    b = json.dumps(_canonical_value(new), sort_keys=True, indent=1, ensure_ascii=False).splitlines()
    lines = list(difflib.unified_diff(a, b, "pinned", "now", n=1, lineterm=""))
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more diff lines)"]
    return "\n".join(lines)


def changed_fields(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["definition"]
    keys = sorted(set(old) | set(new))
    return [k for k in keys if _canonical_value(old.get(k)) != _canonical_value(new.get(k))]
