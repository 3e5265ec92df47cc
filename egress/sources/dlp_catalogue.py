"""The DLP engine's inputs from disk: the shipped rule catalogue (package data) and the
compiled prefilter databases, both through the derived cache (`egress.sources.derived_cache`).

The scanner (`egress.scan.dlp`) is pure: it gets its rules already parsed and a factory that
hands it compiled prefilters. This module does the I/O it must not do, lazily, on first use
(nothing is read at import):
- `load_catalogue()`: the shipped catalogue's rules; the YAML document is taken from the
  derived cache when this exact text was parsed before (pure-Python YAML takes ~0.07 s, on
  every start of the proxy and the launcher) and goes through the same checks as a fresh
  parse;
- `cached_prefilter()`: a rule set's hyperscan databases loaded from the derived cache
  (compiling them takes seconds of CPU on every cold start), compiled and stored on a miss;
- `dlp_engine()`: a `DLPEngine` over the shipped catalogue with both, which is how the proxy,
  policy compilation and the review tools build one.

Nothing derived from a secret goes through here: known-secret matchers are built by the
engine in memory.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.prefilter.backends import check_backend, default_backend, make_prefilter
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter, cache_inputs
from egress.scan.dlp.prefilter.protocol import Prefilter, RuleSource
from egress.scan.dlp.rules.catalogue import parse_yaml, rule_descriptions, rules_from_document
from egress.scan.dlp.rules.rule import Rule
from egress.sources import derived_cache

if TYPE_CHECKING:
    from egress.policy.model import DLPSection

# The shipped catalogue (package data). `__file__` is absolute: no file is touched here.
CATALOGUE = Path(__file__).parents[1] / "data" / "dlp_rules.yaml"

_RULE_ID_LINE = re.compile(r"^\s*-\s+id:\s*['\"]?([\w.-]+)", re.M)


def _same_rules(doc: Any, text: str) -> bool:
    """A cached document lists exactly the rule ids the text does (so even an entry that
    passed its checksum cannot drop a rule); anything else means parsing the text."""
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        return False
    ids = [r.get("id") if isinstance(r, dict) else None for r in doc["rules"]]
    return ids == _RULE_ID_LINE.findall(text)


def _catalogue_doc(text: str) -> Any:
    """The YAML document of a catalogue text, from the derived cache when this exact text
    was parsed before. The cached JSON goes through the same checks as a fresh parse."""
    key = derived_cache.key_of("dlp-catalogue", 1, text)
    payload = derived_cache.load(key)
    if payload is not None:
        with contextlib.suppress(ValueError):
            doc = json.loads(payload)
            if _same_rules(doc, text):
                return doc
    doc = parse_yaml(text)
    with contextlib.suppress(TypeError, ValueError):  # a value JSON cannot hold: no entry
        derived_cache.store(key, json.dumps(doc).encode())
    return doc


def load_rules(text: str, source: str = "<catalogue>") -> tuple[Rule, ...]:
    """The rules of a catalogue text (`CatalogueError` names a bad one), its parsed document
    cached on disk."""
    return rules_from_document(_catalogue_doc(text), source)


@cache
def load_catalogue(path: Path = CATALOGUE) -> tuple[Rule, ...]:
    """The rules of a catalogue file (the shipped one by default), read once per process."""
    return load_rules(path.read_text(encoding="utf-8"), str(path))


def rule_reference() -> dict[str, str]:
    """Every DLP rule id with its description: the stable ids docs and policies name."""
    return rule_descriptions(load_catalogue())


def load_prefilter(sources: Sequence[RuleSource], backend: str | None = None) -> Prefilter:
    """The compiled prefilter of `sources`: hyperscan databases from the derived cache when an
    intact entry that covers every rule is there (`from_cache` says so), else compiled and
    stored. A missing, damaged or doctored entry only costs the compile."""
    name = backend or default_backend()
    if name != "hyperscan":
        return make_prefilter(sources, name)
    check_backend(name)  # hyperscan may not be installed here
    key = derived_cache.key_of("dlp-prefilter", *cache_inputs(sources))
    payload = derived_cache.load(key)
    unpacked = derived_cache.unpack(payload) if payload is not None else None
    if unpacked is not None:
        restored = HyperscanPrefilter.restore(sources, *unpacked)
        if restored is not None:
            restored.ends_store = (_load_ends, _store_ends)
            return restored
    compiled = HyperscanPrefilter.compile(sources)
    derived_cache.store(key, derived_cache.pack(*compiled.snapshot()))
    compiled.ends_store = (_load_ends, _store_ends)
    return compiled


def _load_ends(inputs: list[object]) -> bytes | None:
    """A rule's ends database from the derived cache (see `HyperscanPrefilter.rule_ends`)."""
    return derived_cache.load(derived_cache.key_of("dlp-ends", *inputs))


def _store_ends(inputs: list[object], blob: bytes) -> None:
    derived_cache.store(derived_cache.key_of("dlp-ends", *inputs), blob)


@cache
def _cached_prefilter(sources: tuple[RuleSource, ...], backend: str | None) -> Prefilter:
    return load_prefilter(sources, backend)


def cached_prefilter(sources: Sequence[RuleSource], backend: str | None = None) -> Prefilter:
    """`load_prefilter`, once per rule set and backend per process, then shared by every
    policy that uses it (a `PrefilterFactory` for the engine)."""
    return _cached_prefilter(tuple(sources), backend)


def dlp_engine(section: DLPSection | None = None, rules: Sequence[Rule] | None = None,
               known_values: Sequence[tuple[str, str]] = (),
               backend: str | None = None) -> DLPEngine:
    """A DLP engine for a policy's `dlp:` section over the shipped catalogue (or `rules`),
    its prefilters from the derived cache."""
    return DLPEngine(section, load_catalogue() if rules is None else rules,
                     known_values=known_values, backend=backend, prefilters=cached_prefilter)
