"""Searching everything a proxy run wrote (audit log, stderr, recorded flows) for a value."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from egress.redact import encoded_forms


def audit_events(proc: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.audit_path.read_text().splitlines() if line]


def http_events(proc: Any) -> list[dict[str, Any]]:
    return [e for e in audit_events(proc) if e.get("event") == "http"]


def assert_nowhere(proc: Any, values: Iterable[str], files: Iterable[Path] = ()) -> None:
    """None of `values`, in any encoding the scrubber knows, is in the proxy's artefacts."""
    texts = {"audit log": proc.audit_path.read_text(), "stderr": proc.stderr()}
    for path in files:
        assert path.exists(), f"{path} was not written"
        texts[str(path)] = path.read_bytes().decode("latin-1")
    for value in values:
        for form in {value, *encoded_forms(value)}:
            for name, text in texts.items():
                assert form not in text, f"{value!r} (as {form!r}) is in the {name}"
