"""Fail closed on every hook: connection and TLS hooks (of our addons and `--addon` scripts),
and BaseExceptions (KeyboardInterrupt, SystemExit, GeneratorExit, CancelledError) in any hook.

Each case runs the live proxy with `tests/support/hook_failing_addon.py` raising in one
hook, sends a real HTTPS request through it and checks what the origin received (nothing),
what the client got, the audit event, and that no artefact quotes the exception's message.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

# imported for their side effect: defining every hook class registers it in `hooks.all_hooks`
import mitmproxy.addons
import mitmproxy.proxy.layers  # noqa: F401
import pytest
from mitmproxy import hooks

from addons.support.failclosed import CONNECTION_HOOKS, FLOW_HOOKS, LIFECYCLE_HOOKS, UNFORWARDED_HOOKS
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.hook_failing_addon import CANARY
from tests.support.origin import Origin

REPO = Path(__file__).resolve().parents[1]
ADDON = str(REPO / "tests/support/hook_failing_addon.py")
POLICY = "hosts:\n  allow:\n    - hosts: [allowed.test]\n"


def _events(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in audit.read_text().splitlines() if x]


def _curl(env: dict[str, str], url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "15", "-o", "-", "-w", "\n%{http_code}",
                           url], env=env, capture_output=True, text=True, check=False)


def _start(egress: EgressFactory, write_policy: PolicyWriter, hook: str, exc: str = "ValueError",
           run_async: bool = False) -> Any:
    env = {"BOTTLE_TEST_FAIL_HOOK": hook, "BOTTLE_TEST_FAIL_EXC": exc,
           "BOTTLE_TEST_FAIL_ASYNC": "1" if run_async else "0"}
    return egress(write_policy(POLICY), "--addon", ADDON, env=env)


def _no_canary_anywhere(proc: Any, *texts: str) -> None:
    time.sleep(0.3)  # let the proxy's stderr drain
    for text in (proc.stderr(), proc.audit_path.read_text(), *texts):
        assert CANARY not in text
    assert "Traceback" not in proc.stderr()


def test_every_mitmproxy_hook_is_either_guarded_or_deliberately_not_forwarded() -> None:
    """A hook mitmproxy adds in a new version must be classified before it reaches an addon."""
    known = set(FLOW_HOOKS) | set(CONNECTION_HOOKS) | set(LIFECYCLE_HOOKS) | set(UNFORWARDED_HOOKS)
    assert set(hooks.all_hooks) - known == set()


def test_the_harness_sees_a_forwarded_request(egress: EgressFactory, write_policy: PolicyWriter,
                                              origin: Origin) -> None:
    """Control: with the addon raising nowhere, the request reaches the origin."""
    proc = _start(egress, write_policy, "none")
    res = _curl(proc.client_env(), f"https://allowed.test:{origin.port}/control")
    assert res.stdout.splitlines()[-1] == "200"
    assert origin.paths() == ["/control"]


# Server-side hooks run after the request hooks (connections are opened lazily): the request
# is already judged when they fail, so the failure must stop it on its way out.
@pytest.mark.parametrize("hook", ["server_connect", "server_connected", "tls_start_server",
                                  "tls_established_server"])
def test_a_failing_server_side_hook_stops_the_request(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, hook: str) -> None:
    proc = _start(egress, write_policy, hook)
    res = _curl(proc.client_env(), f"https://allowed.test:{origin.port}/secret-path")
    assert res.stdout.splitlines()[-1] == "502", res
    assert origin.seen == []  # the request never reached the origin
    errors = [e for e in _events(proc.audit_path) if e.get("event") == "error"]
    assert errors and errors[0]["verdict"] == "block"
    assert errors[0]["findings"][0]["rule"] == "addon-exception"
    assert errors[0]["findings"][0]["where"] == f"failing.{hook}"
    assert f"failing.{hook} raised ValueError" in proc.stderr_with(f"failing.{hook} raised")
    _no_canary_anywhere(proc, res.stdout, res.stderr)


# Client-side hooks: the client connection is closed; nothing on it is forwarded.
@pytest.mark.parametrize("hook", ["client_connected", "next_layer", "tls_clienthello",
                                  "tls_start_client", "tls_established_client"])
def test_a_failing_client_side_hook_closes_the_connection(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, hook: str) -> None:
    proc = _start(egress, write_policy, hook)
    res = _curl(proc.client_env(), f"https://allowed.test:{origin.port}/secret-path")
    assert res.returncode != 0 and res.stdout.splitlines()[-1] in ("000", "502"), res
    assert origin.seen == []
    errors = [e for e in _events(proc.audit_path) if e.get("event") == "error"]
    assert errors and errors[0]["findings"][0]["where"] == f"failing.{hook}"
    assert proc.proc.poll() is None  # the proxy itself carries on
    _no_canary_anywhere(proc, res.stdout, res.stderr)


@pytest.mark.parametrize(("exc", "run_async"), [
    ("KeyboardInterrupt", False), ("SystemExit", False), ("GeneratorExit", False),
    ("CancelledError", True), ("KeyboardInterrupt", True),
])
def test_a_base_exception_in_a_hook_fails_the_flow_and_the_proxy_lives_on(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, exc: str,
        run_async: bool) -> None:
    proc = _start(egress, write_policy, "request", exc, run_async)
    for path in ("/one", "/two"):
        res = _curl(proc.client_env(), f"https://allowed.test:{origin.port}{path}")
        assert res.stdout.splitlines()[-1] == "502", res
        body = json.loads(res.stdout.splitlines()[0])
        assert body["rule"] == "error/addon-exception"
    assert origin.seen == []
    assert proc.proc.poll() is None
    blocked = [e for e in _events(proc.audit_path) if e.get("event") == "http"]
    assert [e["verdict"] for e in blocked] == ["block", "block"]
    assert f"failing.request raised {exc}" in proc.stderr_with("failing.request raised")
    _no_canary_anywhere(proc)
    # and it still stops cleanly, with its stop event
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(15) == 0
    assert _events(proc.audit_path)[-1]["event"] == "stop"
