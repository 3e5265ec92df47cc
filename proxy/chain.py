"""The addon chain, in order, shared by the live proxy and `bottle replay`."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from addons.agent_identity import AgentIdentity
from addons.audit import Audit
from addons.credentials import Credentials
from addons.destinations import Destinations
from addons.dlp import DLP, LiveDLP
from addons.hostnames import Hostnames
from addons.hosts import Authority, Hosts
from addons.limits import Limits
from addons.mcp import Mcp
from addons.refused import RefusedRequests
from addons.support.failclosed import (
    CONNECTION_HOOKS,
    FLOW_HOOKS,
    LIFECYCLE_HOOKS,
    FailClosed,
    Guarded,
    guard_all,
)
from addons.timeouts import ConnectionTimeouts
from addons.trailers import Trailers
from addons.tunnel_denials import AnswerDeniedTunnels, DeniedTunnels, HoldDeniedTunnels
from addons.upstream import Upstream, UpstreamErrors
from egress.runtime import Runtime


class AddonLoadError(Exception):
    pass


# Hooks the chain dispatches to its members during traffic (lifecycle hooks aside): the hook
# label values of the latency histogram.
DISPATCHED_HOOKS = (*FLOW_HOOKS, *CONNECTION_HOOKS)
Observer = Callable[[str], Callable[[float], None]]


def inspection_addons(runtime: Runtime, failclosed: FailClosed | None = None) -> list[Any]:
    """Scanners in decision order. Cheap, connection-level checks first.

    `Mcp` reads MCP messages before DLP sees the body, so that a secret in `tools/call`
    arguments (DLP runs there through `addons.mcp.dlp_arguments`) comes back as a JSON-RPC
    error the MCP client understands rather than an HTTP 403.
    `Limits` decides in `responseheaders` whether a response streams, and installs its
    pipeline; `Mcp` then adds its inspection stage, and `Credentials` its scrubbing stage after
    it (so what MCP lets through is scrubbed too).
    `Credentials` comes after every scanner that reads request content (DLP included: they
    judge what the agent sent, placeholders and all, never the real values it adds) and
    before anything that forwards; on the way back it restores and scrubs before the audit
    sees the flow."""
    failclosed = failclosed or FailClosed(runtime)
    # `Authority` follows `Hostnames` so that a fronted request is still reported as domain
    # fronting; `Destinations` resolves names (live only) before anything starts streaming a
    # request body upstream; `Trailers` comes next to last, to see whether one chose to;
    # `RefusedRequests` next, to scan the head of whatever request any of them refused;
    # `UpstreamErrors` last, to answer a failure to reach the destination (after `Limits`
    # recorded an over-limit body mitmproxy refused).
    # `AnswerDeniedTunnels` first (a request inside a held tunnel is answered before anything
    # could resolve or dial), `HoldDeniedTunnels` last (it holds a tunnel the others refused).
    destinations = [Destinations(runtime)] if runtime.live else []
    dlp = LiveDLP if runtime.live else DLP  # large bodies scanned off the event loop (live)
    tunnels = (DeniedTunnels(runtime, runtime.may_issue, Audit(runtime).http_connect_error)
               if runtime.live else None)
    answer = [AnswerDeniedTunnels(tunnels)] if tunnels is not None else []
    hold = [HoldDeniedTunnels(tunnels)] if tunnels is not None else []
    return [*answer, Hosts(runtime), Hostnames(runtime), Authority(runtime), *destinations,
            Limits(runtime, failclosed), Mcp(runtime, failclosed), dlp(runtime, failclosed),
            Credentials(runtime, failclosed), Trailers(runtime), RefusedRequests(runtime),
            UpstreamErrors(runtime), *hold]


class Chain:
    """The bottle's addons as one mitmproxy addon that calls them in order.

    mitmproxy dispatches every event to every registered addon through a coroutine per
    addon; registering the chain once and dispatching from precomputed per-hook lists keeps
    our cost per request to the hooks that exist. Replay dispatches through the same object,
    so offline verdicts come from exactly the live code path.
    """

    name = "bottle-chain"

    def __init__(self, addons: Sequence[Guarded], timing: Observer | None = None) -> None:
        self.members = list(addons)
        self._hooks: dict[str, list[Callable[..., Any]]] = {}
        for hook in (*FLOW_HOOKS, *CONNECTION_HOOKS, *LIFECYCLE_HOOKS):
            fns = [fn for a in self.members if (fn := getattr(a, hook, None)) is not None]
            if not fns:
                continue
            self._hooks[hook] = fns
            timed = timing is not None and hook not in LIFECYCLE_HOOKS
            setattr(self, hook, _timed(fns, timing(hook)) if timing and timed else _dispatcher(fns))

    def dispatch(self, hook: str, *args: Any) -> None:
        """Synchronous dispatch (replay). Async hooks are run to completion."""
        for fn in self._hooks.get(hook, ()):
            result = fn(*args)
            # Most hooks return None: the awaitable check (an ABC instance check) is skipped.
            if result is not None and inspect.isawaitable(result):
                asyncio.run(_await(result))


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _dispatcher(fns: list[Callable[..., Any]]) -> Callable[..., Any]:
    if any(inspect.iscoroutinefunction(fn) for fn in fns):
        async def run_async(*args: Any) -> None:
            for fn in fns:
                result = fn(*args)
                if inspect.isawaitable(result):
                    await result
        return run_async

    def run(*args: Any) -> None:
        for fn in fns:
            fn(*args)
    return run


def _timed(fns: list[Callable[..., Any]], observe: Callable[[float], None]) -> Callable[..., Any]:
    """`_dispatcher`, also observing how long the hook took (`--metrics-listen` only: the
    chain without metrics pays nothing for it)."""
    inner = _dispatcher(fns)
    clock = time.perf_counter
    if inspect.iscoroutinefunction(inner):
        async def run_async(*args: Any) -> None:
            start = clock()
            try:
                await inner(*args)
            finally:
                observe(clock() - start)
        return run_async

    def run(*args: Any) -> None:
        start = clock()
        try:
            inner(*args)
        finally:
            observe(clock() - start)
    return run


def build_chain(runtime: Runtime, extra: Sequence[Any] = (), upstream: bool = False,
                recorder: Any | None = None) -> tuple[FailClosed, Chain]:
    """The guarded chain: inspection addons, user addons, upstream stamping, audit, recording,
    and (live) connection timeouts."""
    failclosed = FailClosed(runtime)
    # Agent authentication first: no addon may resolve, dial or read a request before it
    # (and its Proxy-Authorization header is gone before any of them sees the request).
    identity = [AgentIdentity(runtime, runtime.identities)] if runtime.identities is not None else []
    members: list[Any] = [*identity, *inspection_addons(runtime, failclosed), *extra]
    if upstream:
        members.append(Upstream(runtime))
    members.append(Audit(runtime))
    if recorder is not None:
        members.append(recorder)
    if runtime.live:
        # In the chain rather than beside it: mitmproxy calls every addon on every event.
        members.append(ConnectionTimeouts(runtime))
    timing = runtime.metrics.hook_observer if runtime.metrics is not None else None
    return failclosed, Chain(guard_all(members, failclosed), timing)


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
