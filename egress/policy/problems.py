"""What is wrong with a policy: problems located by file, line and field, redacted as made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from egress.policy.redaction import redact_text


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def redacted(self) -> Problem:
        return replace(self, field=redact_text(self.field), message=redact_text(self.message))


class PolicyError(Exception):
    """An invalid policy. `str()` lists every problem, one per line; no traceback needed.
    Problems are redacted as they are made (`egress.policy.redaction`): a secret written
    into a policy is never echoed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = [p.redacted() for p in problems]
        super().__init__("\n".join(str(p) for p in self.problems))
