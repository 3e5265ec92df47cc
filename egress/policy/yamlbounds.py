"""Bounded YAML: reading a policy costs time and memory in proportion to its size.

YAML anchors and aliases let a few hundred bytes describe a document with billions of
nodes ("billion laughs"): ruamel shares the aliased node, but everything that walks the
tree afterwards (turning it into plain data, validating it) expands every alias. Deep
nesting makes the composer recurse until Python's recursion limit. So while composing we
count what the document will expand to and stop, with the line where a limit was crossed,
before anything expands it:

- `MAX_ALIASES` alias uses (a policy needs a handful, to share a block or two);
- `MAX_NODES` nodes counted with every alias expanded;
- `MAX_DEPTH` levels of nesting;
- `MAX_SECONDS` of composing (a backstop: the counts above already bound the work).
The file's size is bounded where it is read (`loader.MAX_POLICY_BYTES`).
"""

from __future__ import annotations

import time
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.events import AliasEvent

MAX_ALIASES = 256
MAX_NODES = 20_000
MAX_DEPTH = 64
MAX_SECONDS = 10.0
_CLOCK_EVERY = 4096  # nodes between two looks at the clock


class YAMLLimitError(Exception):
    """A document over one of the limits. `line` is 1-based (None if unknown)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


class BoundedComposer(Composer):
    """ruamel's composer, counting aliases, expanded nodes and depth as it goes."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.expanded = 0
        self.aliases = 0
        self.level = 0
        # anchor -> how many nodes one use of it expands to
        self.sizes: dict[Any, int] = {}
        self.deadline = time.monotonic() + MAX_SECONDS

    def compose_document(self) -> Any:
        self.sizes = {}
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YAMLLimitError(_line(event), f"more than {MAX_ALIASES} alias uses "
                                     "(*name); the limit keeps documents from expanding "
                                     "without bound")
            self._count(self.sizes.get(event.anchor, 1), event)
            return super().compose_node(parent, index)
        self.level += 1
        if self.level > MAX_DEPTH:
            raise YAMLLimitError(_line(event), f"nested more than {MAX_DEPTH} levels deep "
                                 "(the limit)")
        before = self.expanded
        self._count(1, event)
        node = super().compose_node(parent, index)
        self.level -= 1
        if event.anchor is not None:
            self.sizes[event.anchor] = self.expanded - before
        return node

    def _count(self, n: int, event: Any) -> None:
        before = self.expanded
        self.expanded += n
        if self.expanded > MAX_NODES:
            raise YAMLLimitError(_line(event), f"expands to more than {MAX_NODES} nodes "
                                 "with its aliases resolved (the limit)")
        if self.expanded // _CLOCK_EVERY != before // _CLOCK_EVERY and time.monotonic() > self.deadline:
            raise YAMLLimitError(_line(event), f"took more than {MAX_SECONDS:g} s to read "
                                 "(the limit)")


def bounded_yaml() -> YAML:
    """A round-trip loader (it keeps line numbers) that enforces the limits above."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = BoundedComposer
    return yaml
