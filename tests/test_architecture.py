"""The layout holds its shape (issue 15): imports run one way, only the engine and the addons
touch mitmproxy, no module imports itself round a cycle, modules and directories stay small,
and importing any of our packages does nothing but define names.

The import graph is read from the source (module-level and function-level imports alike; only
`if TYPE_CHECKING:` blocks are left out, because they never run), so a lazy import inside a
function cannot hide a cycle or a forbidden dependency.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("egress", "addons", "proxy", "cli", "ca", "launcher", "deploy")

# Who may import whom, by top-level package: cli -> launcher/deploy/proxy -> addons -> egress.
ALLOWED: dict[str, set[str]] = {
    "egress": set(),
    "ca": set(),
    "addons": {"egress"},
    "proxy": {"addons", "egress", "ca"},
    "launcher": {"egress"},
    "deploy": {"egress"},
    "cli": {"proxy", "launcher", "deploy", "egress", "ca"},
}
MITMPROXY_USERS = {"addons", "proxy"}

# Files allowed past the size limit, and why.
LONG_MODULES = {
    "egress/policy/model.py": "pydantic models: one small class per policy section, docs generated from them",
}
MAX_LINES = 500
MAX_MODULES_PER_DIRECTORY = 15


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imported_names(tree: ast.Module) -> Iterator[str]:
    def walk(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
                continue
            yield node
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from walk([c for c in children if isinstance(c, ast.stmt)]
                                    + [s for h in children if isinstance(h, ast.ExceptHandler)
                                       for s in h.body])

    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                # `from pkg import module` depends on the module, `from module import name` on the module
                full = f"{node.module}.{alias.name}"
                yield full if full in modules() else node.module


@cache
def imports_of(module: str) -> frozenset[str]:
    return frozenset(_imported_names(ast.parse(modules()[module].read_text())))


@cache
def graph() -> dict[str, frozenset[str]]:
    """Our modules and the modules of ours each one imports."""
    return {m: frozenset(i for i in imports_of(m) if i in modules() and i != m) for m in modules()}


def strongly_connected(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: components of more than one node are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert strongly_connected(edges) == [["a", "b", "c"]]
    assert strongly_connected({"a": frozenset({"b"}), "b": frozenset()}) == []


def test_no_module_imports_itself_round_a_cycle() -> None:
    assert strongly_connected(graph()) == []


def test_top_level_packages_import_one_way() -> None:
    wrong = sorted(f"{m} imports {d}" for m, deps in graph().items() for d in deps
                   if d.split(".")[0] != m.split(".")[0]
                   and d.split(".")[0] not in ALLOWED[m.split(".")[0]])
    assert wrong == []
    packages = {p: frozenset(ALLOWED[p]) for p in PACKAGES}
    assert strongly_connected(packages) == []


def test_only_the_engine_and_the_addons_import_mitmproxy() -> None:
    wrong = sorted(m for m in modules() if m.split(".")[0] not in MITMPROXY_USERS
                   and any(i == "mitmproxy" or i.startswith("mitmproxy.") for i in imports_of(m)))
    assert wrong == []


def test_modules_stay_small() -> None:
    long = {str(p.relative_to(REPO)): n for p in modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert set(long) <= set(LONG_MODULES), {k: v for k, v in long.items() if k not in LONG_MODULES}


def test_no_directory_is_a_flat_bag() -> None:
    crowded = {}
    for pkg in PACKAGES:
        for directory in [REPO / pkg, *(p.parent for p in (REPO / pkg).rglob("*/__init__.py"))]:
            count = len([p for p in directory.glob("*.py") if p.name != "__init__.py"])
            if count > MAX_MODULES_PER_DIRECTORY:
                crowded[str(directory.relative_to(REPO))] = count
    assert crowded == {}


# Run in a fresh interpreter: third-party libraries are imported first (what they do when
# imported is theirs), then an audit hook watches every one of our modules being imported.
_PROBE = r"""
import importlib, json, sys, threading
from pathlib import Path
REPO = Path(sys.argv[1]).resolve()
for lib in json.loads(sys.argv[2]):
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
events = []
def hook(event, args):
    if event == "open":
        path, mode = args[0], args[1] or "r"
        if not isinstance(path, (str, bytes)) or isinstance(path, bytes):
            return
        p = Path(path)
        writes = any(c in str(mode) for c in "wax+")
        ours = REPO in p.parents and ".venv" not in p.parts and p.suffix not in (".py", ".pyc")
        if writes or ours:
            events.append(f"open {path} {mode}")
    elif event in ("subprocess.Popen", "os.system", "socket.connect", "socket.bind",
                   "_thread.start_new_thread", "os.mkdir", "os.remove", "os.rename",
                   "shutil.rmtree", "os.chmod"):
        events.append(event)
meta_path, path_hooks = list(sys.meta_path), list(sys.path_hooks)
sys.addaudithook(hook)
for name in json.loads(sys.argv[3]):
    importlib.import_module(name)
print(json.dumps({
    "events": events,
    "meta_path": [type(f).__name__ for f in sys.meta_path if f not in meta_path],
    "path_hooks": len(sys.path_hooks) - len(path_hooks),
    "threads": [t.name for t in threading.enumerate() if t is not threading.main_thread()],
}))
"""

# Third-party packages our modules import: importing them is outside this test's question.
_THIRD_PARTY = ["mitmproxy.http", "mitmproxy.flow", "mitmproxy.io", "mitmproxy.master",
                "mitmproxy.options", "mitmproxy.proxy.layers", "mitmproxy.test.tflow", "cryptography.x509",
                "pydantic", "ruamel.yaml", "dnslib", "ahocorasick", "hyperscan", "docker",
                "publicsuffixlist", "brotli", "prometheus_client", "certifi", "zstandard",
                "backports.zstd", "compression.zstd", "yaml", "urllib3", "idna", "h2", "wsproto"]


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_has_no_side_effects(package: str) -> None:
    names = sorted(m for m in modules() if m.split(".")[0] == package)
    res = subprocess.run([sys.executable, "-c", _PROBE, str(REPO), json.dumps(_THIRD_PARTY),
                          json.dumps(names)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report == {"events": [], "meta_path": [], "path_hooks": 0, "threads": []}


def test_the_probe_sees_a_side_effect(tmp_path: Path) -> None:
    """The side-effect probe is not blind: a module that writes a file and installs a finder
    on import is reported."""
    pkg = tmp_path / "noisy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import sys, pathlib\n"
        "pathlib.Path(__file__).with_name('state.json').write_text('{}')\n"
        "class Finder:\n    def find_spec(self, *a):\n        return None\n"
        "sys.meta_path.insert(0, Finder())\n")
    res = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path), "[]", json.dumps(["noisy"])],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert any("state.json" in e for e in report["events"])
    assert report["meta_path"] == ["Finder"]
