"""YAML documents as plain Python data (ruamel's safe loader: the project's own YAML library)."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML


def load_all(text: str) -> list[Any]:
    """Every non-empty document of a multi-document stream."""
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
