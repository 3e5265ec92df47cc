"""The shape of `addons/` (issue 15, rule 2), read from the source's import statements.

- An addon module never imports another addon module: the flow glue they share lives in
  `addons/support/`, which imports no addon.
- `addons/` imports only `egress`, mitmproxy, the standard library and third-party libraries:
  none of the project's other packages (launcher, deploy, ca, proxy, cli).
- `egress/` imports no addon.

Every import is counted, also those inside functions and under `TYPE_CHECKING`: a cycle hidden
behind a lazy import is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ADDONS = REPO / "addons"
SUPPORT = "addons.support"
# The project's own top-level packages (the repository's directories that are packages).
PROJECT = frozenset(p.name for p in REPO.iterdir() if (p / "__init__.py").is_file())
ALLOWED_PROJECT = frozenset({"egress", "addons"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module_name(path).split(".")
                if path.name != "__init__.py":
                    package.pop()
                base = package[: len(package) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            # `from addons import hosts` imports the module `addons.hosts`
            found.update(f"{stem}.{alias.name}" for alias in node.names
                         if (REPO / Path(*stem.split("."), alias.name)).with_suffix(".py").is_file())
    return found


def modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def is_support(name: str) -> bool:
    return name == SUPPORT or name.startswith(SUPPORT + ".")


ADDON_MODULES = [p for p in modules(ADDONS) if not is_support(module_name(p))]
SUPPORT_MODULES = [p for p in modules(ADDONS) if is_support(module_name(p))]


def test_the_layout_is_what_this_test_reads() -> None:
    names = {module_name(p) for p in modules(ADDONS)}
    # A sample of each kind, so that a move that empties the lists cannot pass unnoticed.
    assert {"addons.dlp", "addons.mcp", "addons.audit", "addons.hosts"} <= names
    assert {"addons.support.flows", "addons.support.failclosed", "addons.support.streams"} <= names
    assert {"egress", "addons", "launcher"} <= PROJECT


@pytest.mark.parametrize("path", ADDON_MODULES, ids=module_name)
def test_an_addon_imports_no_other_addon(path: Path) -> None:
    own = module_name(path)
    others = sorted(i for i in imports(path)
                    if (i == "addons" or i.startswith("addons.")) and not is_support(i) and i != own)
    assert not others, f"{own} imports addon module(s) {others}: share through addons/support/"


@pytest.mark.parametrize("path", SUPPORT_MODULES, ids=module_name)
def test_support_modules_import_no_addon(path: Path) -> None:
    addons = sorted(i for i in imports(path)
                    if (i == "addons" or i.startswith("addons.")) and not is_support(i))
    assert not addons, f"{module_name(path)} imports addon module(s) {addons}"


@pytest.mark.parametrize("path", modules(ADDONS), ids=module_name)
def test_addons_import_only_egress_mitmproxy_and_libraries(path: Path) -> None:
    bad = sorted(i for i in imports(path)
                 if i.split(".")[0] in PROJECT - ALLOWED_PROJECT
                 or i.split(".")[0] in ("proxy", "cli", "tests", "benchmarks", "scripts"))
    assert not bad, f"{module_name(path)} imports {bad}: addons/ may import only egress/"
    for i in imports(path):
        top = i.split(".")[0]
        if top in ALLOWED_PROJECT or top in sys.stdlib_module_names or top == "__future__":
            continue
        # Anything else must be an installed library (mitmproxy, h11, ...), not a project
        # module that would only resolve from the repository root.
        assert not (REPO / top).exists() and not (REPO / f"{top}.py").exists(), (module_name(path), i)
        __import__(top)


@pytest.mark.parametrize("path", modules(REPO / "egress"), ids=module_name)
def test_egress_imports_no_addon(path: Path) -> None:
    name = module_name(path)
    addons = sorted(i for i in imports(path) if i == "addons" or i.startswith("addons."))
    assert not addons, f"{name} imports {addons}: egress/ must not depend on addons/"


def test_the_checks_catch_a_violation(tmp_path: Path) -> None:
    """The import reader sees the imports these rules are about, lazy ones included."""
    sample = tmp_path / "sample.py"
    sample.write_text("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                      "import addons.hosts\nif TYPE_CHECKING:\n    from addons.mcp import Mcp\n"
                      "def f():\n    from launcher import images\n    from addons import dlp\n")
    assert {"addons.hosts", "addons.mcp", "launcher", "launcher.images", "addons.dlp"} <= imports(sample)


def test_the_rule_reference_loads_no_addon_and_no_mitmproxy() -> None:
    """`egress.rules` collects every scanner's rules from egress alone (it used to import
    `addons.limits`, `addons.dlp`, `addons.support.failclosed` and `addons.agent_identity` by name)."""
    # `egress.policy` first: `egress.scan.hosts` imported on its own runs into the cycle
    # egress.scan.hosts -> egress.policy -> egress.policy.compiled -> egress.scan.hosts (on main
    # too; rule 1 of issue 15, not this test's concern).
    code = ("import sys, egress.policy; from egress.rules import all_rules; rules = all_rules(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('addons', 'mitmproxy'))); "
            "print(sum(map(len, rules.values())))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "[]", out[0]
    assert int(out[1]) > 100  # every scanner's rules, DLP's catalogue included
