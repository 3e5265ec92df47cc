"""`docs/bypass-resistance.md` is a table of evasion classes; every row must name a test that
exists, so the document cannot claim a defence nobody checks."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bypass-resistance.md"
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::([\w:]+)")


def table_rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("id", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append(cells)
    return rows


@cache
def defined_tests(path: str) -> frozenset[str]:
    """Names of test functions (and `Class::method`) defined in a test module."""
    tree = ast.parse((REPO / path).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return frozenset(names)


def test_every_row_names_an_existing_test() -> None:
    rows = table_rows()
    problems = []
    for cells in rows:
        assert len(cells) == 5, f"row {cells[0]!r} has {len(cells)} cells, want 5"
        refs = TEST_REF.findall(cells[3])
        if not refs:
            problems.append(f"{cells[0]}: names no test")
        for path, name in refs:
            if not (REPO / path).is_file():
                problems.append(f"{cells[0]}: {path} does not exist")
            elif name not in defined_tests(path):
                problems.append(f"{cells[0]}: {path}::{name} does not exist")
    assert not problems, "\n".join(problems)


def test_row_ids_are_unique() -> None:
    ids = [cells[0] for cells in table_rows()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
