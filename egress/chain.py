"""The addon chain, in order, shared by the live proxy and `bottle replay`."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from addons.audit import Audit
from addons.guard import FailClosed, Guarded, guard_all
from addons.hosts import Hosts
from addons.limits import Limits
from addons.mcp import Mcp
from addons.upstream import Upstream
from egress.runtime import Runtime


class AddonLoadError(Exception):
    pass


def inspection_addons(runtime: Runtime, failclosed: FailClosed | None = None) -> list[Any]:
    """Scanners in decision order. Cheap, connection-level checks first."""
    failclosed = failclosed or FailClosed(runtime)
    return [Hosts(runtime), Limits(runtime), Mcp(runtime, failclosed)]


def build_chain(runtime: Runtime, extra: Sequence[Any] = (),
                upstream: bool = False) -> tuple[FailClosed, list[Guarded]]:
    """The guarded chain: inspection addons, user addons, upstream stamping, then audit."""
    failclosed = FailClosed(runtime)
    chain: list[Any] = [*inspection_addons(runtime, failclosed), *extra]
    if upstream:
        chain.append(Upstream(runtime))
    chain.append(Audit(runtime))
    return failclosed, guard_all(chain, failclosed)


def load_addon_file(path: str | Path) -> list[Any]:
    """Addons from a Python file's module-level `addons` list (mitmproxy script convention)."""
    p = Path(path)
    if not p.is_file():
        raise AddonLoadError(f"{p}: addon file not found")
    spec = importlib.util.spec_from_file_location(f"bottle_addon_{p.stem}", p)
    if spec is None or spec.loader is None:
        raise AddonLoadError(f"{p}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise AddonLoadError(f"{p}: failed to import ({type(e).__name__}: {e})") from None
    found = getattr(module, "addons", None)
    if not isinstance(found, list) or not found:
        raise AddonLoadError(f"{p}: define a module-level list `addons = [...]`")
    return found
