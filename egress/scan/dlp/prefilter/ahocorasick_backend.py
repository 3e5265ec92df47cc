"""The pyahocorasick prefilter: the rules' case-folded literal anchors in one automaton.
Rules without anchors always run, and decoder runs are left to the decoders' own regexes
(`want_runs` is ignored). Used where hyperscan has no wheel, or when a policy asks for it."""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick

from egress.scan.dlp.prefilter.protocol import Prefiltered, RuleSource, fold, on_tail, straddle_entries


class AhoCorasickPrefilter:
    name = "aho-corasick"

    def __init__(self, sources: Sequence[RuleSource]) -> None:
        by_anchor: dict[str, list[int]] = {}
        self.always: list[int] = []
        for i, src in enumerate(sources):
            if not src.anchors:
                self.always.append(i)
            for anchor in src.anchors:
                by_anchor.setdefault(anchor.lower(), []).append(i)
        self.automaton = ahocorasick.Automaton()
        for anchor, ids in by_anchor.items():
            self.automaton.add_word(anchor, tuple(ids))
        self.automaton.make_automaton()
        self.split_anchors = {a.lower() for src in sources for a in src.split_anchors}
        self.split_automaton = ahocorasick.Automaton()
        for anchor in sorted(self.split_anchors):
            self.split_automaton.add_word(anchor, len(anchor))
        self.split_list = sorted(self.split_anchors)
        self.straddle = straddle_entries(self.split_list)
        self.straddle_automaton = ahocorasick.Automaton()
        words: dict[str, list[tuple[int, int]]] = {}
        for i, (head, tail) in enumerate(self.straddle):
            for delimiter in "\n\"":
                if on_tail((head, tail)):
                    words.setdefault(delimiter + tail, []).append((i, 0))
                else:
                    words.setdefault(head + delimiter, []).append((i, len(head)))
        for word, where in words.items():
            self.straddle_automaton.add_word(word, (len(word), tuple(where)))
        if self.split_anchors:
            self.split_automaton.make_automaton()
        if words:
            self.straddle_automaton.make_automaton()

    def has_split_anchor(self, text: str) -> bool:
        folded = fold(text)
        return any(a in folded for a in self.split_anchors)

    def anchor_spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        if not self.split_anchors:
            return []
        return sorted((end + 1 - n, end + 1) for end, n in self.split_automaton.iter(fold(text)))

    def token_anchor_spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        return self.anchor_spans(text)  # a superset: the caller keeps those starting a token

    def rule_ends(self, text: str, index: int, data: bytes | None = None) -> list[int] | None:
        return None  # anchors say which rules may match, not where: search the whole text

    def straddles(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        if not self.straddle:
            return []
        hits: list[tuple[int, int]] = []
        for end, (n, ids) in self.straddle_automaton.iter(fold(text)):
            start = end + 1 - n
            hits += [(i, start + offset) for i, offset in ids]
        return hits

    def scan(self, text: str, want_runs: bool, data: bytes | None = None) -> Prefiltered:
        found = set(self.always)
        for _, ids in self.automaton.iter(fold(text)):
            found.update(ids)
        return Prefiltered(sorted(found))
