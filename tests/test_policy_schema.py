"""`bottle policy schema` is a JSON Schema editors accept (issue 14, trap 5).

The schema comes from the real CLI; every shipped policy, every YAML policy example in the
docs and every policy text in the test suite that the loader accepts must validate against it
with a standard Draft 2020-12 validator, and invalid files must be rejected.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from egress.policy.loader import _plain, parse_policy
from egress.policy.model import parse_size
from egress.policy.problems import PolicyError
from egress.policy.yamlbounds import bounded_yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (REPO / "policies").rglob("*.yaml") if not p.name.endswith(".tests.yaml"))
DOCS = [REPO / "README.md", REPO / "policies/README.md", *sorted((REPO / "docs").glob("*.md"))]

# Draft 2020-12 keywords (core, applicator, validation, unevaluated, format, content, meta-data).
STANDARD_KEYWORDS = {
    "$schema", "$id", "$ref", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "$comment", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "prefixItems", "items", "contains", "properties", "patternProperties", "additionalProperties",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "type", "enum", "const",
    "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
    "maxProperties", "minProperties", "required", "dependentRequired", "format",
    "contentEncoding", "contentMediaType", "contentSchema", "title", "description", "default",
    "deprecated", "readOnly", "writeOnly", "examples",
}
# Keywords whose value maps arbitrary names to schemas (the names are not keywords).
NAMED_SCHEMAS = {"$defs", "properties", "patternProperties", "dependentSchemas"}


@cache
def schema() -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "cli.main", "policy", "schema"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def yaml_data(text: str) -> Any:
    return _plain(bounded_yaml().load(text))


def walk_keywords(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key
            if key in NAMED_SCHEMAS:
                for name, sub in value.items():
                    yield from walk_keywords(sub, f"{path}/{key}/{name}")
            elif key not in ("enum", "const", "default", "examples", "required"):
                yield from walk_keywords(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from walk_keywords(item, f"{path}/{i}")


def test_schema_declares_draft_2020_12_and_uses_only_its_keywords() -> None:
    doc = schema()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].startswith("urn:bottle-egress:policy")
    Draft202012Validator.check_schema(doc)
    unknown = [f"{path or '/'}: {key}" for path, key in walk_keywords(doc) if key not in STANDARD_KEYWORDS]
    assert not unknown, unknown


def test_schema_carries_titles_and_descriptions_from_the_models() -> None:
    doc = schema()
    assert doc["title"] == "Policy" and doc["description"]
    missing = []
    for name, model in [("Policy", doc), *doc["$defs"].items()]:
        if model.get("type") != "object":
            continue
        if not model.get("description"):
            missing.append(name)
        missing += [f"{name}.{field}" for field, prop in model.get("properties", {}).items()
                    # a section ($ref) takes its title from the referenced model
                    if not prop.get("description") or not (prop.get("title") or "$ref" in json.dumps(prop))]
    assert not missing, missing
    limits = doc["$defs"]["LimitsSection"]["properties"]["max_body_bytes"]
    assert "32 MiB" in limits["description"]


def size_fields() -> list[tuple[str, str]]:
    """(model, field) of every `Size` field of the policy models."""
    from pydantic import BaseModel

    from egress.policy import model as models

    out = []
    for name in dir(models):
        cls = getattr(models, name)
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == models.__name__:
            for field, info in cls.model_fields.items():
                if any(getattr(m, "func", None) is parse_size for m in info.metadata):
                    out.append((name, field))
    return sorted(set(out))


def test_every_size_field_accepts_what_the_loader_accepts() -> None:
    fields = size_fields()
    names = {f"{m}.{f}" for m, f in fields}
    assert {"LimitsSection.max_body_bytes", "AuditSection.max_bytes",
            "DLPSection.stream_threshold"} <= names, names
    defs = schema()["$defs"]
    good = ["32MiB", "32 MiB", "500kB", "1.5GB", "4KiB", "10", "7b", "2k", " 3 mi ", 1048576, 0]
    bad = ["32 parsecs", "MiB", "-1", "1e6", "", -1, 1.5, True]
    for model, field in fields:
        prop = Draft202012Validator({"$defs": defs, **defs[model]["properties"][field]})
        for value in good:
            assert prop.is_valid(value), (model, field, value)
            assert isinstance(parse_size(value), int)
        for value in bad:
            assert not prop.is_valid(value), (model, field, value)


def test_size_pattern_agrees_with_the_loader() -> None:
    prop = Draft202012Validator(schema()["$defs"]["LimitsSection"]["properties"]["max_body_bytes"])
    samples = [f"{n}{sp}{u}" for n in ("1", "12", "0.5", "1.", ".5", "1..2", "٣")
               for sp in ("", " ", "\t") for u in ("", "b", "k", "KB", "kib", "Mi", "GiB", "tb", "ib")]
    for text in samples:
        try:
            loader_ok = isinstance(parse_size(text), int)
        except ValueError:
            loader_ok = False
        # Python's \d also takes non-ASCII digits; the schema is stricter there, never looser.
        if text.isascii():
            assert prop.is_valid(text) == loader_ok, text
        else:
            assert not prop.is_valid(text)


def doc_examples() -> list[tuple[str, str]]:
    """Every ```yaml block of the docs, as (where, text)."""
    out = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{path.relative_to(REPO)}:{line}", m.group(1)))
    return out


def suite_policy_texts() -> list[tuple[str, str]]:
    """Every string in the test suite that reads as a policy (starts with `version: 1`)."""
    out = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = textwrap.dedent(node.value).lstrip("\n")
                if text.startswith("version: 1\n"):
                    out.append((f"{path.relative_to(REPO)}:{node.lineno}", text))
    return out


def test_every_shipped_policy_validates() -> None:
    assert len(SHIPPED) >= 4, SHIPPED
    v = validator()
    for path in SHIPPED:
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in v.iter_errors(yaml_data(path.read_text()))]
        assert not errors, (path, errors)


def errors_of(text: str) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator().iter_errors(yaml_data(text))]


def test_every_documented_example_validates() -> None:
    """Doc examples may name files and variables that do not exist here (which the loader
    checks), but their shape is what a reviewer copies into an editor."""
    examples = [(w, t) for w, t in doc_examples() if "{...}" not in t]  # elided sections
    assert len(examples) >= 5, examples
    for where, text in examples:
        assert not errors_of(text), (where, errors_of(text))


def test_every_suite_policy_the_loader_accepts_validates() -> None:
    checked = 0
    for where, text in suite_policy_texts():
        try:
            parse_policy(text, where)
        except PolicyError:
            continue  # a template with {placeholders}, or a deliberately invalid test policy
        assert not errors_of(text), (where, errors_of(text))
        checked += 1
    assert checked >= 40, checked


@pytest.mark.parametrize("text,field", [
    ("version: 2\n", "version"),
    ("mode: block\n", "mode"),
    ("hosts:\n  allow:\n    - hosts: [a.test]\n      bogus: 1\n", "hosts.allow.0"),
    ("limits:\n  max_body_bytes: lots\n", "limits.max_body_bytes"),
    ("audit:\n  max_bytes: -5\n", "audit.max_bytes"),
    ("dlp:\n  stream_threshold: 1 parsec\n", "dlp.stream_threshold"),
    ("dlp:\n  decode:\n    max_depth: 99\n", "dlp.decode.max_depth"),
    ("hosts:\n  action: maybe\n", "hosts.action"),
])
def test_invalid_policy_is_rejected_by_the_schema(text: str, field: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)
    errors = list(validator().iter_errors(yaml_data(text)))
    assert errors, text
    assert any(".".join(map(str, e.absolute_path)) == field for e in errors), \
        [(list(e.absolute_path), e.message) for e in errors]
