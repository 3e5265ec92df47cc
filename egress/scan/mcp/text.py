"""The model-visible text of MCP objects: every string a model may read in a definition, and
the text of results, resources, prompts and notifications."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def visible_strings(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for every string a model may read in a definition, including the keys of
    objects (schema property names) and everything nested in schemas. Icons are skipped."""
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k == "icons":
                continue
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and k not in _PLAIN_KEYS:
                yield f"{sub}#key", k
            yield from visible_strings(v, sub)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from visible_strings(v, f"{path}[{i}]")


# Keys whose names are fixed by MCP / JSON Schema: not worth scanning as text.
_PLAIN_KEYS = frozenset({
    "name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta", "type",
    "properties", "required", "items", "enum", "default", "examples", "pattern", "format",
    "anyOf", "oneOf", "allOf", "$defs", "definitions", "$ref", "$schema", "additionalProperties",
    "minimum", "maximum", "minLength", "maxLength", "const", "arguments", "uri", "uriTemplate",
    "mimeType", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint", "text",
})


def content_strings(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) for the text in results, resources, prompts and notifications. Binary
    payloads (image/audio `data`, resource `blob`) are not text and are skipped."""
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        binary = obj.get("type") in ("image", "audio")
        for k, v in obj.items():
            if k == "blob" or (binary and k == "data") or k == "icons":
                continue
            yield from content_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from content_strings(v, f"{path}[{i}]")
