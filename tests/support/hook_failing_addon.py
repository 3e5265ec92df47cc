"""An `--addon` that raises in one hook, chosen by the test through the environment.

BOTTLE_TEST_FAIL_HOOK names the hook (`none`: raise nowhere), BOTTLE_TEST_FAIL_EXC the
built-in exception class to raise (default ValueError), BOTTLE_TEST_FAIL_ASYNC=1 makes the
hook a coroutine. The message quotes a canary the tests look for in every artefact.
"""

from __future__ import annotations

import asyncio
import builtins
import os
from typing import Any

CANARY = "hook-failure-canary-7d1f0c"

HOOK = os.environ.get("BOTTLE_TEST_FAIL_HOOK", "none")
EXC_NAME = os.environ.get("BOTTLE_TEST_FAIL_EXC", "ValueError")
EXC: type[BaseException] = (asyncio.CancelledError if EXC_NAME == "CancelledError"
                            else getattr(builtins, EXC_NAME))
ASYNC = os.environ.get("BOTTLE_TEST_FAIL_ASYNC") == "1"


def _raise(data: Any) -> None:
    if HOOK == "next_layer":
        # what a careless addon might do before failing: ask for a passthrough tunnel
        from mitmproxy.proxy.layers import tcp
        data.layer = tcp.TCPLayer(data.context, ignore=True)
    if HOOK == "tls_clienthello":
        data.ignore_connection = True  # likewise: a half-made passthrough decision
    raise EXC(f"{CANARY} while handling {type(data).__name__}")


class FailingHook:
    name = "failing"


if HOOK != "none":
    if ASYNC:
        async def hook(self: FailingHook, data: Any) -> None:
            await asyncio.sleep(0)
            _raise(data)
    else:
        def hook(self: FailingHook, data: Any) -> None:  # type: ignore[misc]
            _raise(data)
    setattr(FailingHook, HOOK, hook)


addons = [FailingHook()]
