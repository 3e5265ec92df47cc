"""The DLP rule catalogue as data: the rule ids the engine adds itself, and the rules of a
parsed catalogue document, checked (unique ids, compiling regexes, known validators and
checks, at least one example and one near miss each).

Pure: the shipped catalogue file is read, and its parsed document cached, by
`egress.sources.dlp_catalogue`; this module only turns text or a document into rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML

from egress.scan.dlp.rules import validators as v
from egress.scan.dlp.rules.rule import CHECKS, DEFAULT_MAX_LENGTH, Rule

KNOWN_SECRET = "known-secret"
BUDGET_RULE = "decode-budget-exhausted"
EXAMPLE_RULE = "example-key"
EXTRA_RULES = {
    KNOWN_SECRET: "A value the proxy knows is secret (policy `dlp.known_secrets`, injected "
    "credentials) in raw, base64, base32, hex or URL-encoded form.",
    BUDGET_RULE: "A scan ran out of its decoding budget: `dlp.decode.budget` decoded "
    "characters (or as many as the text is long, if more), `dlp.decode.max_depth` nested "
    "layers, or the size cap on windows rebuilt for split secrets. Part of the message was "
    "scanned only in its encoded form; blocked unless `dlp.decode.on_budget_exhausted` is "
    "`audit` or a `dlp.suppress` entry covers the host.",
    EXAMPLE_RULE: "A value in a provider's key format that is a documentation or test example "
    "(AWS's AKIAIOSFODNN7EXAMPLE, an EXAMPLE/SAMPLE/DUMMY/FAKE marker, counting runs such as "
    "`abc123...`): reported so a reviewer sees it, with the action of `dlp.example_keys` "
    "(default `audit`; `ignore` drops it).",
}


class CatalogueError(Exception):
    pass


def parse_catalogue(text: str, source: str = "<catalogue>") -> tuple[Rule, ...]:
    """The rules of a catalogue's YAML text."""
    return rules_from_document(parse_yaml(text), source)


def parse_yaml(text: str) -> Any:
    """The catalogue's YAML document (pure-Python YAML: ~0.07 s for the shipped catalogue)."""
    return YAML(typ="safe").load(text)


def rules_from_document(doc: Any, source: str = "<catalogue>") -> tuple[Rule, ...]:
    """The rules of a parsed catalogue document; CatalogueError names the first bad one."""
    if not isinstance(doc, dict):
        raise CatalogueError(f"{source}: expected a mapping with `rules:`")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(doc.get("rules", [])):
        rid = item.get("id")
        where = f"{source}: rules[{i}] ({rid})"
        if not rid or rid in seen or rid in EXTRA_RULES:
            raise CatalogueError(f"{where}: missing or duplicate id")
        seen.add(rid)
        try:
            regex = re.compile(item["regex"])
        except (KeyError, re.error) as e:
            raise CatalogueError(f"{where}: bad regex: {e}") from None
        validator = item.get("validator")
        if validator is not None and validator not in v.VALIDATORS:
            raise CatalogueError(f"{where}: unknown validator {validator!r}")
        checks = tuple(item.get("checks") or ())
        unknown = [c for c in checks if c not in CHECKS]
        if unknown:
            raise CatalogueError(f"{where}: unknown checks {unknown}")
        examples = tuple(item.get("examples") or ())
        near = tuple(item.get("near_misses") or ())
        if not examples or not near:
            raise CatalogueError(f"{where}: needs at least one example and one near miss")
        rules.append(Rule(
            id=rid, description=item["description"], severity=item.get("severity", "high"),
            anchors=tuple(a.lower() for a in item.get("anchors") or ()), regex=regex,
            validator=validator, prefilter=item.get("prefilter"),
            entropy=float(item.get("entropy", 0.0)), checks=checks,
            max_length=int(item.get("max_length", DEFAULT_MAX_LENGTH)), notes=item.get("notes"),
            examples=examples, near_misses=near,
            split_anchors=(tuple(a.lower() for a in item["split_anchors"])
                           if item.get("split_anchors") is not None else None)))
    return tuple(rules)


def rule_descriptions(rules: Iterable[Rule]) -> dict[str, str]:
    """Every DLP rule id with its description, the engine's own ids included: the stable ids
    docs and policies name."""
    return {**{r.id: r.description for r in rules}, **EXTRA_RULES}
