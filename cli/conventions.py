"""`bottle --version`, `bottle completion` and `bottle demo`: the conventions a command line
tool is expected to have, kept out of `cli.commands`'s policy and proxy commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

# Exit statuses of every `bottle` command: 1 means the command found something (an invalid
# policy, a failing policy test, a secret in `dlp scan`), 2 a usage or input error.
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bottle-egress")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"bottle {package_version()}")


def add_commands(sub: Any, build_parser: Callable[[], argparse.ArgumentParser]) -> None:
    """`demo` and `completion` (which walks the whole `bottle` parser that `build_parser` makes)."""

    def cmd_completion(args: argparse.Namespace) -> int:
        from cli.completion import bash_script, zsh_script

        parser = build_parser()
        sys.stdout.write(bash_script(parser) if args.shell == "bash" else zsh_script(parser))
        return 0

    def cmd_demo(args: argparse.Namespace) -> int:
        from cli.demo import run_demo

        return run_demo()

    demo = sub.add_parser(
        "demo", help="see the proxy work, offline, in a few seconds",
        description="Start a local HTTPS origin (its own throwaway CA) and the real proxy, and "
        "send an allowed request, one to a host no rule allows and one carrying a secret; prints "
        "what each client got and the audit lines. Nothing leaves this machine.")
    demo.set_defaults(handler=cmd_demo)

    completion = sub.add_parser(
        "completion", help="print a shell completion script (bash or zsh)",
        description="Print a completion script for `bottle`, generated from its options. Load it "
        "with `source <(bottle completion bash)` (or zsh), e.g. from ~/.bashrc.")
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(handler=cmd_completion)
