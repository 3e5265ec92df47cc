"""Errors the launcher shows to a user: what went wrong and the command that fixes it."""

from __future__ import annotations


class LauncherError(Exception):
    """A user-facing failure. `fix` is a command or step; the CLI prints both, no traceback."""

    def __init__(self, message: str, fix: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message}\n  fix: {self.fix}"
