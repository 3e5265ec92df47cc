"""Import mitmproxy's addon modules without running `mitmproxy/addons/__init__.py`.

That `__init__` imports every default addon to build `default_addons()`: the web onboarding
app (flask, werkzeug, jinja2), proxy authentication (ldap3), HAR export, flow filters... and
`mitmproxy.master` imports it on its way to `termlog`. The embedded proxy uses four addons of
its own choosing (`proxy.master`), so that package body is pure cost: measured in the egress
image, ~15 MB of resident memory (a sixth of the process) and ~0.2 s of every start.

`defer_addon_package()` installs an import hook for that one package: when something first
imports it, the package module is created as usual (in `sys.modules`, as `mitmproxy.addons`)
but its body does not run. Importing a submodule (`mitmproxy.addons.proxyserver`) works as
always, and the first access to anything else (`mitmproxy.addons.default_addons`) runs the
real body then, so code that wants the whole package (tests, mitmproxy's own tools) gets it.
Nothing is imported until mitmproxy is: the launcher's commands stay free of it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType

PACKAGE = "mitmproxy.addons"


class _DeferredBody(Loader):
    def __init__(self, real: Loader) -> None:
        self.real = real

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        real = self.real

        def load_on_demand(name: str) -> object:
            if name.startswith("__"):
                raise AttributeError(name)
            # `from mitmproxy.addons import x` asks the package for `x` before importing the
            # submodule; answering with the submodule keeps the package body unrun.
            try:
                return importlib.import_module(f"{PACKAGE}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{PACKAGE}.{name}":
                    raise
            vars(module).pop("__getattr__", None)
            real.exec_module(module)
            return getattr(module, name)

        module.__getattr__ = load_on_demand  # type: ignore[method-assign]


class _Finder(MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        # Stays on sys.meta_path (removing itself here would make the import system skip
        # the next finder): one string comparison per import, once per module.
        if fullname != PACKAGE or PACKAGE in sys.modules:
            return None
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return spec
        spec.loader = _DeferredBody(spec.loader)
        return spec


def defer_addon_package() -> None:
    if PACKAGE in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
