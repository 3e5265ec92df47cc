"""The proxy's start path stays lean: mitmproxy's addon package body (flask, ldap3, ...) is not
run unless something asks for it, and then it works as usual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True)
    return res.stdout.strip()


def test_the_proxy_imports_without_mitmproxys_default_addons() -> None:
    out = run("from proxy.lean_mitmproxy import defer_addon_package\n"
              "defer_addon_package()\n"
              "import sys, cli.commands, proxy.master\n"
              "heavy = [m for m in ('flask', 'ldap3', 'werkzeug', 'mitmproxy.addons.onboarding', "
              "'mitmproxy.io', 'proxy.replay') if m in sys.modules]\n"
              "print(heavy)")
    assert out == "[]"


def test_the_whole_addon_package_still_loads_on_demand() -> None:
    out = run("from proxy.lean_mitmproxy import defer_addon_package\n"
              "defer_addon_package()\n"
              "import proxy.master, sys\n"
              "import mitmproxy.addons\n"
              "from mitmproxy.addons import default_addons, anticache\n"
              "names = {type(a).__name__ for a in default_addons()}\n"
              "print('Proxyserver' in names, 'flask' in sys.modules, "
              "mitmproxy.addons.tlsconfig.TlsConfig.__name__, anticache.__name__)")
    assert out == "True True TlsConfig mitmproxy.addons.anticache"
