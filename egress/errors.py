"""Errors the CLI reports without a traceback, importable without the modules raising them
(the CLI imports replay, diff and the flow tools only for the commands that use them)."""


class ReplayError(Exception):
    """A flow file that cannot be read (shown to the user without a traceback)."""
