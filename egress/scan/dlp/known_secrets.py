"""Known-secret matching: every encoded form of the values the proxy knows are secret
(policy `dlp.known_secrets`, injected credentials) found exactly, in one pass, by either
prefilter backend. Built per policy and per version of the known values; nothing here is
ever cached on disk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from egress.redact import MIN_SECRET_LEN, secret_forms
from egress.scan.dlp.prefilter.backends import default_backend
from egress.scan.dlp.prefilter.hyperscan_backend import hs_scan, hyperscan
from egress.scan.dlp.prefilter.hyperscan_plan import literal
from egress.scan.dlp.prefilter.protocol import KnownMatcher, fold


@dataclass
class _Forms:
    names: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    any_case: list[bool] = field(default_factory=list)

    def occurrences(self, text: str, ids: set[int], folded: str | None) -> list[tuple[str, str, int, int]]:
        out = []
        for i in sorted(ids):
            form = self.forms[i]
            hay, needle = (folded, form.lower()) if self.any_case[i] and folded is not None else (text, form)
            pos = hay.find(needle)
            while pos != -1:
                out.append((self.names[i], text[pos:pos + len(form)], pos, pos + len(form)))
                pos = hay.find(needle, pos + 1)
        return out


class HyperscanKnownMatcher:
    def __init__(self, forms: Sequence[tuple[str, str, bool]]) -> None:
        self.table = _Forms()
        exprs, flags = [], []
        for name, form, any_case in forms:
            self.table.names.append(name)
            self.table.forms.append(form)
            self.table.any_case.append(any_case)
            exprs.append(literal(form.encode("utf-8", "surrogateescape")))
            flags.append(hyperscan.HS_FLAG_SINGLEMATCH | (hyperscan.HS_FLAG_CASELESS if any_case else 0))
        self.db = hyperscan.Database()
        self.db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)

    def find(self, text: str) -> list[tuple[str, str, int, int]]:
        ids: set[int] = set()

        def on(fid: int, start: int, end: int, flags: int, ctx: Any) -> None:
            ids.add(fid)

        hs_scan(self.db, text.encode("utf-8", "surrogateescape"), on)
        if not ids:
            return []
        folded = fold(text) if any(self.table.any_case[i] for i in ids) else None
        return self.table.occurrences(text, ids, folded)


class AhoCorasickKnownMatcher:
    def __init__(self, forms: Sequence[tuple[str, str, bool]]) -> None:
        self.table = _Forms()
        by_form: dict[str, list[int]] = {}
        for i, (name, form, any_case) in enumerate(forms):
            self.table.names.append(name)
            self.table.forms.append(form)
            self.table.any_case.append(any_case)
            by_form.setdefault(form.lower(), []).append(i)
        self.automaton = ahocorasick.Automaton()
        for form, ids in by_form.items():
            self.automaton.add_word(form, tuple(ids))
        self.automaton.make_automaton()

    def find(self, text: str) -> list[tuple[str, str, int, int]]:
        folded = fold(text)
        ids: set[int] = set()
        for _, found in self.automaton.iter(folded):
            ids.update(found)
        return self.table.occurrences(text, ids, folded) if ids else []


def make_known_matcher(forms: Sequence[tuple[str, str, bool]], backend: str | None = None) -> KnownMatcher:
    if (backend or default_backend()) == "hyperscan" and hyperscan is not None:
        return HyperscanKnownMatcher(forms)
    return AhoCorasickKnownMatcher(forms)


def known_matcher_for(values: Iterable[tuple[str, str]], backend: str | None) -> KnownMatcher | None:
    """A matcher for every form of each (name, value) long enough to match safely."""
    forms: list[tuple[str, str, bool]] = []
    for name, value in values:
        if len(value) < MIN_SECRET_LEN:
            continue
        forms += [(name, form, any_case) for form, any_case in secret_forms(value).items()]
    return make_known_matcher(forms, backend) if forms else None
