"""Whole scans remembered: the matches of a small body, a request target or a header set,
kept under a key naming everything they depend on, so the same input is scanned once.

What repeats: an agent retries a request with the same body (rate limits, overloaded
models), keep-alive clients send the same header set and URL again and again, a refused
request's head is the same on every retry, and `bottle replay --against` judges every flow
under two policies whose DLP sections are usually the same.

Why a result can be reused: a scan is a pure function of its input, the engine (policy
`dlp:` section, rule catalogue, the policy's known secrets, prefilter backend: `engine_digest`)
and the context (the known secrets and placeholders in effect, by name and value:
`context_salt`; the host and path only when a suppression is scoped by them). The key holds
digests of all of them, so two engines built from the same policy share entries and a
policy reload that changes the section stops matching the old ones.

What is kept: the matches (which hold the secret values a scan found, as the DLP adapter's
own head cache always has: they are needed to scrub artefacts) for at most `MAX_ENTRIES`
inputs, least recently used dropped first; an input is keyed by itself when it is a short
text and by a digest otherwise (`compact`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from egress.scan.dlp.results import Match

MAX_ENTRIES = 4096


def engine_digest(section: dict[str, Any], rules: tuple[Any, ...],
                  known: Iterable[tuple[str, str]], backend: str) -> bytes:
    """A digest of everything an engine's scan results depend on besides input and context.
    Every field of every rule counts (a pattern as its source and flags)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(section, sort_keys=True, default=str).encode())
    h.update(b"\0" + backend.encode() + b"\0")
    h.update(rules_digest(rules))
    for name, value in known:
        h.update(name.encode("utf-8", "surrogatepass") + b"\0"
                 + value.encode("utf-8", "surrogatepass") + b"\2")
    return h.digest()


# The rule tuple of the catalogue is one object per process (`load_catalogue`): its digest
# (~20 ms) is taken once. The tuple is kept with it, so its id cannot be reused meanwhile.
_RULES: dict[int, tuple[tuple[Any, ...], bytes]] = {}
_RULES_LOCK = threading.Lock()


def rules_digest(rules: tuple[Any, ...]) -> bytes:
    with _RULES_LOCK:
        known = _RULES.get(id(rules))
        if known is not None and known[0] is rules:
            return known[1]
    h = hashlib.blake2b(digest_size=16)
    for rule in rules:
        fields = []
        for f in dataclasses.fields(rule):
            value = getattr(rule, f.name)
            if isinstance(value, re.Pattern):
                value = (value.pattern, value.flags)
            fields.append((f.name, value))
        h.update(repr(fields).encode("utf-8", "surrogatepass") + b"\1")
    digest = h.digest()
    with _RULES_LOCK:
        if len(_RULES) >= 16:  # catalogues other than the shipped one: tests, comparisons
            _RULES.clear()
        _RULES[id(rules)] = (rules, digest)
    return digest


def context_salt(known: Iterable[tuple[str, str]], benign: Iterable[str]) -> bytes:
    """The known secrets (names too: a finding names the secret) and placeholders in effect."""
    h = hashlib.blake2b(digest_size=16)
    for name, value in sorted(known):
        h.update(name.encode("utf-8", "surrogatepass") + b"\0"
                 + value.encode("utf-8", "surrogatepass") + b"\1")
    h.update(b"\2")
    for value in sorted(benign):
        h.update(value.encode("utf-8", "surrogatepass") + b"\1")
    return h.digest()


def body_digest(body: bytes) -> bytes:
    # SHA-256 cut to 16 bytes: `blocks.content_digest`'s reasons (a whole body per request).
    return hashlib.sha256(body).digest()[:16]


# Inputs longer than this (as `repr`) are keyed by a digest: an entry stays small whatever
# the size of the URL or header set it stands for.
SHORT_KEY = 256


def compact(value: Hashable) -> Hashable:
    """`value` itself when a short text, else a digest of its `repr` (which tells strings,
    bytes and tuples of them apart, so no two inputs share a key)."""
    if isinstance(value, str) and len(value) <= SHORT_KEY:
        return value
    return hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16).digest()


class ScanMemo:
    """A bounded LRU map from scan keys to the matches found. Thread-safe."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Match, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> tuple[Match, ...] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, matches: Sequence[Match]) -> None:
        with self._lock:
            self._entries[key] = tuple(matches)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def remembered(self, key: Hashable, scan: Callable[[], list[Match]]) -> list[Match]:
        """The matches remembered under `key`, else `scan()`'s (then remembered). A scan that
        raises (its time budget ran out) leaves nothing behind."""
        found = self.get(key)
        if found is not None:
            return list(found)
        matches = scan()
        self.put(key, matches)
        return matches

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# The process's, shared by the engines of compiled policies (`egress.policy.compiled`):
# engines with the same digest share entries (a reload that keeps the `dlp:` section keeps
# what was learnt; a diff judges each flow under two policies). An engine built on its own
# has a memo of its own.
MEMO = ScanMemo()
