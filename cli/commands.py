"""`bottle` command line: the parser (`build_parser`, which `--help`, shell completion and the
docs are generated from) and `main`, which runs a command's handler and turns user errors into
one clear message and a non-zero exit, never a traceback. The handlers live by command group:
`cli.egress_run`, `cli.policy_commands`, `cli.inspect_commands` (replay, dlp, mcp), and the
launcher's, deploy's and the conventions' own modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cli.conventions import EXIT_OK, EXIT_USAGE, add_version
from cli.conventions import add_commands as add_convention_commands
from cli.deploy import add_commands as add_deploy_commands
from cli.egress_run import cmd_egress_precompile, cmd_egress_run
from cli.inspect_commands import (
    cmd_dlp_rules,
    cmd_dlp_scan,
    cmd_mcp_hash,
    cmd_mcp_pins,
    cmd_replay,
)
from cli.internal_error import report_internal_error
from cli.launcher import add_commands as add_launcher_commands
from cli.policy_commands import (
    cmd_policy_check,
    cmd_policy_docs,
    cmd_policy_explain,
    cmd_policy_schema,
    cmd_policy_suggest,
    cmd_policy_test,
)
from egress.errors import ReplayError
from egress.policy.problems import PolicyError
from proxy.chain import AddonLoadError
from proxy.config import ConfigError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bottle", description="Egress security for AI coding agent bottles.")
    add_version(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    egress = sub.add_parser("egress", help="the inspecting egress proxy")
    egress_sub = egress.add_subparsers(dest="egress_command", metavar="SUBCOMMAND")
    egress_sub.required = True
    run = egress_sub.add_parser(
        "run", help="run the intercepting proxy with a fresh per-bottle CA",
        description="Start the intercepting forward proxy. Prints the client environment as "
        "`export NAME=value` lines on stdout (or writes them to --env-file) once listening; logs "
        "go to stderr. Ctrl-C stops it "
        "and destroys the bottle CA.")
    run.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                     help="where to listen (default 127.0.0.1:8080; port 0 picks a free port)")
    run.add_argument("--policy", metavar="FILE", help="policy file (default: built-in default)")
    run.add_argument("--upstream", metavar="URL",
                     help="next-hop forward proxy, e.g. http://127.0.0.1:8888 (pipelock)")
    run.add_argument("--upstream-ca", metavar="FILE",
                     help="extra CA (PEM) to trust when verifying origins: private PKI, tests")
    run.add_argument("--bottle-id", metavar="ID", help="bottle id (default: local-<random>)")
    run.add_argument("--state-dir", metavar="DIR",
                     help="private state directory for the CA (default: a 0700 runtime dir)")
    run.add_argument("--audit-log", metavar="FILE", help="JSONL audit log path")
    run.add_argument("--env-file", metavar="FILE",
                     help="write the client environment to FILE (0600, atomically) once the "
                     "proxy listens, instead of to stdout; removed at start and at stop, so a "
                     "script can wait for it to appear")
    run.add_argument("--export-dir", metavar="DIR",
                     help="once listening, also copy the CA's public files (bottle-ca.pem, "
                     "ca-bundle.pem; never the key) into DIR, world-readable, for clients in "
                     "another container (a Kubernetes pod's shared volume); removed at stop")
    run.add_argument("--addon", action="append", metavar="FILE.py",
                     help="extra mitmproxy addon script (module-level `addons` list); its "
                     "hooks fail closed like the built-in ones")
    run.add_argument("--record", metavar="FILE.mitm",
                     help="write the bottle's flows to a mitmproxy flow file, secrets redacted")
    run.add_argument("--record-max-body", metavar="SIZE", default="1MiB",
                     help="truncate recorded bodies above SIZE (default 1MiB)")
    run.add_argument("--dns-listen", metavar="HOST:PORT",
                     help="also run the DNS guard here (UDP and TCP), the bottle's only "
                     "resolver: allowed names are forwarded, everything else gets NXDOMAIN")
    run.add_argument("--dns-upstream", metavar="HOST:PORT",
                     help="resolver the DNS guard forwards to (default: the first nameserver "
                     "of /etc/resolv.conf; port defaults to 53)")
    run.add_argument("--allow-private", action="append", metavar="CIDR",
                     help="development and tests, never in a bottle: also let the proxy dial this "
                     "non-public network (added to the policy's hosts.allow_private; repeatable; "
                     "recorded in the audit log's start event)")
    run.add_argument("--any-port", action="store_true",
                     help="development and tests, never in a bottle: allow rules cover every "
                     "destination port, not only their `ports:` (recorded in the start event)")
    run.add_argument("--metrics-listen", metavar="HOST:PORT",
                     help="serve Prometheus metrics (/metrics), liveness (/healthz) and readiness "
                     "(/readyz) over plain HTTP here (off by default; keep it off the agent's "
                     "network, e.g. 127.0.0.1:9090)")
    run.add_argument("--agent-identities", metavar="FILE",
                     help="one egress for several agents: require each agent's proxy credential "
                     "(http://NAME:TOKEN@proxy) and send NAME upstream as X-Pipelock-Agent; FILE "
                     "lists 'NAME sha256:HEX' (hashes of the tokens, never the tokens)")
    run.add_argument("-v", "--verbose", action="store_true", help="log mitmproxy's own events")
    run.set_defaults(handler=cmd_egress_run)
    pre = egress_sub.add_parser(
        "precompile", help="compile the DLP rule databases into a cache (faster proxy starts)",
        description="Compile what every proxy start derives from the shipped DLP rules (hyperscan "
        "databases, the parsed rule catalogue) and store it in the cache directory, where `bottle "
        "egress run` finds it. The egress image runs this at build time. Entries are keyed by a "
        "hash of their inputs and checked on every load; a missing or damaged one is recompiled.")
    pre.add_argument("--cache-dir", metavar="DIR",
                     help="where to write (default: the user cache, ~/.cache/bottle-egress)")
    pre.add_argument("--policy", metavar="FILE", help="policy file (default: built-in default)")
    pre.set_defaults(handler=cmd_egress_precompile)

    policy = sub.add_parser("policy", help="check and describe policy files")
    policy_sub = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    policy_sub.required = True
    check = policy_sub.add_parser("check", help="validate policy files (exit 0 OK, 1 invalid)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(handler=cmd_policy_check)
    schema = policy_sub.add_parser("schema", help="print the policy JSON Schema (for editors)")
    schema.set_defaults(handler=cmd_policy_schema)
    ptest = policy_sub.add_parser(
        "test", help="check a policy against expectation files (exit 1 on any failure)",
        description="Run the cases of each TESTS file (YAML: cases with a flow file, an inline "
        "request or inline MCP messages, and the expected verdict and rule ids) through replay.")
    ptest.add_argument("policy", metavar="POLICY")
    ptest.add_argument("tests", nargs="+", metavar="TESTS.yaml")
    ptest.set_defaults(handler=cmd_policy_test)
    pexplain = policy_sub.add_parser("explain", help="show which rule decides a request, and why")
    pexplain.add_argument("policy", metavar="POLICY")
    pexplain.add_argument("--url", required=True)
    pexplain.add_argument("--method", default="GET")
    pexplain.add_argument("--header", action="append", metavar="'NAME: VALUE'")
    pexplain.add_argument("--body", metavar="TEXT")
    pexplain.set_defaults(handler=cmd_policy_explain)
    psuggest = policy_sub.add_parser(
        "suggest", help="turn the refused requests of an audit log into allow rules (a diff)",
        description="Read the audit log (and its rotated FILE.N backups), take the requests the "
        "host allowlist refused, and print the smallest allow rules that would let them through "
        "as a unified diff against the policy file (comments and layout kept). Findings of "
        "other scanners (DLP, hostnames, MCP, injection, credentials, limits), deny rules and "
        "private addresses never become rules; they are listed with their counts.")
    psuggest.add_argument("--from-audit", required=True, metavar="FILE",
                          help="audit log (JSON lines, as `bottle egress run --audit-log` writes)")
    psuggest.add_argument("--since", metavar="DURATION|TIME",
                          help="only events from 10m / 1h30m / 45s / 2d ago, or since an ISO "
                          "8601 time")
    psuggest.add_argument("--policy", metavar="FILE",
                          help="policy to patch: the one the bottle ran with (default: built-in "
                          "default, which --write does not edit)")
    psuggest.add_argument("--write", action="store_true",
                          help="write the patched policy (asks for confirmation on a terminal)")
    psuggest.add_argument("--yes", action="store_true",
                          help="with --write: do not ask (needed when stdin is not a terminal)")
    psuggest.set_defaults(handler=cmd_policy_suggest)
    pdocs = policy_sub.add_parser("docs", help="print the generated policy reference (Markdown)")
    pdocs.add_argument("--output", metavar="FILE")
    pdocs.set_defaults(handler=cmd_policy_docs)

    dlp = sub.add_parser("dlp", help="the secret-leak (DLP) rules")
    dlp_sub = dlp.add_subparsers(dest="dlp_command", metavar="SUBCOMMAND")
    dlp_sub.required = True
    rules = dlp_sub.add_parser("rules", help="list every DLP rule id (for dlp.actions and dlp.suppress)")
    rules.add_argument("--format", choices=("json", "table"), default="table")
    rules.set_defaults(handler=cmd_dlp_rules)
    scan = dlp_sub.add_parser(
        "scan", help="scan files or stdin for secrets (exit 1 when something is found)",
        description="Runs the DLP engine of a policy over files, as the proxy would over a "
        "request body. Prints one JSON finding per line: rule, location and a redacted preview, "
        "never the value.")
    scan.add_argument("files", nargs="*", metavar="FILE", help="files to scan (default: stdin)")
    scan.add_argument("--policy", metavar="FILE", help="policy file (default: built-in default)")
    scan.add_argument("--content-type", default="text/plain", metavar="TYPE",
                      help="media type to parse the input as (default text/plain)")
    scan.set_defaults(handler=cmd_dlp_scan)

    replay = sub.add_parser(
        "replay", help="run the addon chain offline over mitmproxy flow files",
        description="Judge recorded flows with the same addon chain as the live proxy, no "
        "network. Prints one verdict per flow, in input order.")
    replay.add_argument("flows", nargs="+", metavar="FLOWS.mitm")
    replay.add_argument("--policy", metavar="FILE", help="policy file (default: built-in default)")
    replay.add_argument("--format", choices=("json", "table"), default="table")
    replay.add_argument("--against", metavar="NEW_POLICY",
                        help="diff mode: print only flows whose verdict or findings change "
                        "between --policy (old) and NEW_POLICY, with the rule that caused it")
    replay.set_defaults(handler=cmd_replay)

    mcp = sub.add_parser("mcp", help="MCP tool pins: hashes to approve, what a bottle has pinned")
    mcp_sub = mcp.add_subparsers(dest="mcp_command", metavar="SUBCOMMAND")
    mcp_sub.required = True
    hash_ = mcp_sub.add_parser(
        "hash", help="print the pin hash of tool definitions (a tool, a list, or a tools/list "
        "result), for `mcp.servers[].pins`")
    hash_.add_argument("file", nargs="?", default="-", metavar="FILE.json", help="default: stdin")
    hash_.set_defaults(handler=cmd_mcp_hash)
    pins = mcp_sub.add_parser("pins", help="list the tools a bottle pinned and those that changed")
    pins.add_argument("state_dir", metavar="STATE_DIR", help="the bottle's --state-dir")
    pins.add_argument("--diff", action="store_true", help="show how each changed tool differs")
    pins.set_defaults(handler=cmd_mcp_pins)

    add_convention_commands(sub, build_parser)  # demo, completion

    add_launcher_commands(sub)  # start, stop, ls, logs, doctor, image
    add_deploy_commands(sub)  # k8s
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except PolicyError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, AddonLoadError, ReplayError) as e:
        print(f"bottle: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:
        if e.filename is None:
            return report_internal_error(e)
        # a file named on the command line (or in a policy) that cannot be read or written
        print(f"bottle: {e.filename}: {e.strerror or type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # an internal error: say where, not what data it was handling
        return report_internal_error(e)

