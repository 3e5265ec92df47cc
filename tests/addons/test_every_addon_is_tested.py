"""Every addon class in `addons/` has a unit test module here (issue 15, rule 6).

An addon class is a class defined in a module under `addons/` with a method named after a
mitmproxy hook (`requestheaders`, `tls_clienthello`, `dns_request`, `load`, `running`, ...:
every name in `mitmproxy.hooks.all_hooks`). Its test modules are
`tests/addons/test_<module>.py` and `tests/addons/test_<module>_*.py` (one per addon class
when a module holds several), and one of them must name the class (a module with several addon
classes tests each of them). `addons.support.failclosed.Guarded` sets its hooks per instance and is not
found this way; `test_guard.py` covers it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from mitmproxy import hooks

import tests.addons.conftest  # noqa: F401  (registers every mitmproxy hook class)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def addon_classes() -> dict[str, list[str]]:
    """Module stem -> names of the addon classes it defines."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "addons").rglob("*.py")):
        dotted = ".".join(path.relative_to(REPO).with_suffix("").parts)
        module = importlib.import_module(dotted)
        for name, cls in vars(module).items():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            if any(callable(getattr(cls, hook, None)) for hook in hooks.all_hooks):
                found.setdefault(path.stem, []).append(name)
    return found


def test_the_discovery_finds_the_addons_the_chain_is_made_of() -> None:
    """Guards the check below against finding nothing (a renamed directory, a changed rule)."""
    found = {name for names in addon_classes().values() for name in names}
    assert {"Hosts", "DLP", "LiveDLP", "Recorder", "Audit", "AnswerDeniedTunnels",
            "HoldDeniedTunnels", "ConnectionTimeouts"} <= found
    assert "FailClosed" not in found and "Finding" not in found


def test_every_addon_class_has_a_unit_test_module() -> None:
    missing = []
    for stem, names in addon_classes().items():
        tests = [HERE / f"test_{stem}.py", *sorted(HERE.glob(f"test_{stem}_*.py"))]
        text = "".join(t.read_text() for t in tests if t.is_file())
        missing += [f"addons/{stem}.py:{name} -> tests/addons/test_{stem}.py" for name in names
                    if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert missing == [], "addon classes without a unit test module naming them:\n" + "\n".join(missing)
