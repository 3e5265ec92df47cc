"""Public Suffix List lookups, label by label from the right.

The list is the one `publicsuffixlist` ships (its `public_suffix_list.dat`), parsed once on
first use into sets. A lookup walks from the top-level domain leftwards and stops as soon as
no rule continues the suffix, so a name costs a few set probes, not one per possible depth
(the scorer's hot path; `publicsuffixlist`'s own lookup is several times slower on the deep
names clouds use).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

import publicsuffixlist

_NODE: Final = 1
_EXACT: Final = 2
_WILD: Final = 4
_EXCEPTION: Final = 8
# a node of `_Rules.trie`: its flags and the nodes one label deeper, by their first label
_Node = tuple[int, dict[str, "_Node"]]


@dataclass(slots=True)
class _Rules:
    exact: set[str] = field(default_factory=set)
    wild: set[str] = field(default_factory=set)       # P for every rule `*.P`
    exceptions: set[str] = field(default_factory=set)  # N for every rule `!N`
    nodes: set[str] = field(default_factory=set)       # every suffix of every rule
    flags: dict[str, int] = field(default_factory=dict)  # node -> _NODE|_EXACT|_WILD|_EXCEPTION
    # the nodes as a tree from the top-level domain down: label -> (flags, the nodes below)
    trie: dict[str, tuple[int, dict[str, _Node]]] = field(default_factory=dict)

    def add(self, rule: str) -> None:
        if rule.startswith("!"):
            name = rule[1:]
            self.exceptions.add(name)
        elif rule.startswith("*."):
            name = rule[2:]
            self.wild.add(name)
            self.exact.add(name)  # a wildcard's parent is public too (the PSL's implicit rule)
        else:
            name = rule
            self.exact.add(name)
        labels = name.split(".")
        for i in range(len(labels)):
            self.nodes.add(".".join(labels[i:]))

    def freeze(self) -> None:
        """Fold the sets into `flags`, the table the walk reads: once all rules are added."""
        self.flags = {node: _NODE | (_EXACT if node in self.exact else 0)
                      | (_WILD if node in self.wild else 0)
                      | (_EXCEPTION if node in self.exceptions else 0)
                      for node in self.nodes}
        self.trie = {}
        # parents before children: a node's suffix is one label shorter
        for node in sorted(self.nodes, key=lambda n: n.count(".")):
            label, _, parent = node.partition(".")
            level = self.trie if not parent else self._find(parent)[1]
            level[label] = (self.flags[node], {})

    def _find(self, node: str) -> _Node:
        level, found = self.trie, None
        for label in reversed(node.split(".")):
            found = level[label]
            level = found[1]
        assert found is not None
        return found

    def public_labels(self, labels: list[str]) -> int:
        """How many labels from the right form the public suffix (1 for an unknown TLD)."""
        # a walk down `trie` by the name's own labels: one dict probe per depth, no suffix
        # string built and hashed per depth (a label's hash is kept by the label itself)
        n = len(labels)
        node = self.trie.get(labels[-1])
        if node is None:
            return 1
        f, below = node
        if f & _WILD or n == 1:
            best = 1
            depth = 1
        else:
            # The common first step (a top-level domain with no wildcard rule, a label under
            # it), unrolled: what the loop's first pass does, without its general tests.
            node = below.get(labels[-2])
            if node is None:
                return 1
            f = node[0]
            if f & _EXCEPTION:
                return 1
            best = 2 if f & _EXACT else 1
            depth = 2
        while node is not None:
            f, below = node
            if f & _WILD and depth < n:
                child = below.get(labels[n - depth - 1])
                best = max(best, depth if child is not None and child[0] & _EXCEPTION
                           else depth + 1)
            if depth >= n:
                return best
            depth += 1
            node = below.get(labels[n - depth])
            if node is None:
                return best
            f = node[0]
            if f & _EXCEPTION:
                return max(best, depth - 1)
            if f & _EXACT:
                best = max(best, depth)
        return best


@dataclass(frozen=True, slots=True)
class SuffixLists:
    full: _Rules    # ICANN and private sections
    icann: _Rules   # ICANN section only
    tlds: frozenset[str]

    def registered(self, lower: str, icann_only: bool = False) -> str | None:
        """The registered domain (eTLD+1) of a lower-case name, None when the name is itself
        a public suffix."""
        labels = lower.split(".")
        pub = (self.icann if icann_only else self.full).public_labels(labels)
        if pub >= len(labels):
            return None
        return ".".join(labels[-pub - 1:])


_lock: Final = threading.Lock()
_lists: SuffixLists | None = None


def _idna(rule: str) -> str:
    if rule.isascii():
        # The codec gives an ASCII name back as it is, or refuses it (an empty or over-long
        # label), which gives it back too: ~10,000 codec calls saved per process.
        return rule
    try:
        return rule.encode("idna").decode("ascii")
    except UnicodeError:
        return rule


def suffix_lists() -> SuffixLists:
    """The parsed list, loaded on first use."""
    global _lists
    if _lists is None:
        with _lock:
            if _lists is None:
                full, icann = _Rules(), _Rules()
                in_icann = False
                with open(publicsuffixlist.PSLFILE, encoding="utf-8") as f:
                    for line in f:
                        line = line.strip()
                        if line == "// ===BEGIN ICANN DOMAINS===":
                            in_icann = True
                        elif line == "// ===END ICANN DOMAINS===":
                            in_icann = False
                        if not line or line.startswith("//"):
                            continue
                        rule = line.split()[0].lower()
                        for form in {rule, rule[0] + _idna(rule[1:]) if rule[0] in "!*"
                                     else _idna(rule)}:
                            full.add(form)
                            if in_icann:
                                icann.add(form)
                full.freeze()
                icann.freeze()
                tlds = frozenset(r for r in icann.exact | icann.wild if "." not in r)
                _lists = SuffixLists(full, icann, tlds)
    return _lists
