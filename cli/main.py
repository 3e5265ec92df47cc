"""The `bottle` entry point. Launcher commands (`start`, `stop`, `ls`, `logs`, `doctor`,
`image`) and `k8s` run without importing the proxy engine (mitmproxy and the scanners take ~0.5 s to
import, a sixth of `bottle start`'s budget); everything else is `cli.commands`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cli.deploy import COMMANDS as DEPLOY_COMMANDS
from cli.launcher import COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # without importing the proxy engine
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"bottle {version('bottle-egress')}")
        except PackageNotFoundError:
            print("bottle unknown (not installed)")
        return 0
    if args and args[0] in COMMANDS:
        from cli.launcher import main as launcher_main

        return launcher_main(args)
    if args and args[0] in DEPLOY_COMMANDS:
        from cli.deploy import main as deploy_main

        return deploy_main(args)
    # Before anything imports mitmproxy.master: its addon package body is pure cost here.
    from proxy.lean_mitmproxy import defer_addon_package

    defer_addon_package()
    from cli.commands import main as egress_main

    return egress_main(args)


if __name__ == "__main__":
    sys.exit(main())
