"""`bottle` command line. User errors print one clear message and exit non-zero; no tracebacks."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cli import envfile
from cli.conventions import add_commands as add_convention_commands
from cli.conventions import add_version
from cli.deploy import add_commands as add_deploy_commands
from cli.internal_error import report_internal_error
from cli.launcher import add_commands as add_launcher_commands
from egress.credentials import check_sources
from egress.envvars import as_shell
from egress.errors import ReplayError
from egress.mcp_pins import PINS_FILE, ToolPins
from egress.policy.compiled import CompiledPolicy, default_policy_path
from egress.policy.model import Policy, parse_size
from egress.policy.problems import PolicyError
from egress.policy.store import load_compiled
from egress.scan.mcp import definition_diff, tool_hash
from proxy.chain import AddonLoadError, load_addon_file
from proxy.config import (
    ConfigError,
    ProxyConfig,
    ProxyInfo,
    check_bottle_id,
    check_upstream,
    parse_listen,
)
from proxy.dns.addresses import DnsConfigError, client_instructions, parse_hostport
from proxy.master import serve

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bottle-egress %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("mitmproxy").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("egress").setLevel(logging.DEBUG if verbose else logging.INFO)


# -- bottle egress run -----------------------------------------------------------------------

def _size(value: str, flag: str) -> int:
    try:
        size = parse_size(value)
    except ValueError as e:
        raise ConfigError(f"{flag}: {e}") from None
    if not isinstance(size, int) or size < 0:
        raise ConfigError(f"{flag}: {value!r} is not a size")
    return size


def cmd_egress_run(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    policy_path = Path(args.policy) if args.policy else default_policy_path()
    host, port = parse_listen(args.listen)
    extra = []
    for path in args.addon or []:
        extra.extend(load_addon_file(path))
    cfg = ProxyConfig(
        policy_path=policy_path,
        listen_host=host,
        listen_port=port,
        upstream=check_upstream(args.upstream) if args.upstream else None,
        upstream_ca=Path(args.upstream_ca) if args.upstream_ca else None,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        audit_log=Path(args.audit_log) if args.audit_log else None,
        extra_addons=extra,
        record=Path(args.record) if args.record else None,
        record_max_body=_size(args.record_max_body, "--record-max-body"),
        dns_listen=_dns_address(args.dns_listen, "--dns-listen") if args.dns_listen else None,
        dns_upstream=_dns_address(args.dns_upstream, "--dns-upstream") if args.dns_upstream else None,
        allow_private=tuple(_private_network(v) for v in args.allow_private or []),
        any_port=args.any_port,
        export_dir=Path(args.export_dir) if args.export_dir else None,
        metrics_listen=(parse_listen(args.metrics_listen, "--metrics-listen", "127.0.0.1:9090")
                        if args.metrics_listen else None),
        agent_identities=Path(args.agent_identities) if args.agent_identities else None,
    )
    if args.dns_upstream and not args.dns_listen:
        raise ConfigError("--dns-upstream needs --dns-listen")
    if args.bottle_id:
        cfg.bottle_id = check_bottle_id(args.bottle_id)

    env_file = Path(args.env_file) if args.env_file else None
    if env_file is not None:
        if not env_file.parent.is_dir():
            raise ConfigError(f"--env-file {env_file}: directory {env_file.parent} does not exist")
        envfile.clear(env_file)  # a waiting script must not source an earlier run's file

    def ready(info: ProxyInfo) -> None:
        log = logging.getLogger("egress")
        if env_file is None:
            sys.stdout.write(as_shell(info.environment))
            sys.stdout.flush()
        else:
            envfile.write_atomically(env_file, as_shell(info.environment))
            log.info("client environment written to %s (source it: . %s)", env_file, env_file)
        log.info("bottle %s: proxy listening on %s (policy %s%s)", cfg.bottle_id, info.proxy_url,
                 policy_path, f", upstream {cfg.upstream}" if cfg.upstream else ", direct egress")
        log.info("CA bundle for clients: %s; audit log: %s", info.environment["SSL_CERT_FILE"],
                 info.audit_log)
        if cfg.allow_private or cfg.any_port:
            log.warning("development settings: %s", ", ".join(
                [f"--allow-private {n}" for n in cfg.allow_private] + ["--any-port"] * cfg.any_port))
        if info.credentials:
            log.info("credential placeholders exported in %s (real values stay in the proxy)",
                     ", ".join(info.credentials))
        if info.dns is not None and info.dns_upstream is not None:
            for line in client_instructions(info.dns, info.dns_upstream):
                log.info("%s", line)
        log.info("Ctrl-C stops the proxy and destroys the bottle CA")

    try:
        return asyncio.run(serve(cfg, ready))
    finally:
        if env_file is not None:
            envfile.clear(env_file)  # the CA it points at is gone


def _private_network(value: str) -> str:
    from egress.addresses import parse_network

    try:
        return str(parse_network(value))
    except ValueError as e:
        raise ConfigError(f"--allow-private: {e}") from None


def cmd_egress_precompile(args: argparse.Namespace) -> int:
    from egress import derived_cache
    from egress.scan.dlp import CATALOGUE, parse_catalogue

    policy_path = args.policy or str(default_policy_path())
    directory = Path(args.cache_dir) if args.cache_dir else derived_cache.user_dir()
    if directory is None:
        raise ConfigError("BOTTLE_EGRESS_CACHE=off: give --cache-dir DIR")
    with derived_cache.only(directory):
        parse_catalogue(CATALOGUE.read_text(encoding="utf-8"), str(CATALOGUE))
        load_compiled(policy_path)
    written = sorted(p.name for p in directory.glob("*.bin"))
    print(f"{directory}: {', '.join(written) or 'nothing written (not writable?)'}")
    return EXIT_OK if written else EXIT_USAGE


def _dns_address(value: str, flag: str) -> tuple[str, int]:
    try:
        return parse_hostport(value, 53, flag)
    except DnsConfigError as e:
        raise ConfigError(str(e)) from None


# -- bottle policy ---------------------------------------------------------------------------

def _summary(policy: Policy) -> str:
    h = policy.hosts
    return (f"mode {policy.mode}, {len(h.allow)} allow / {len(h.deny)} deny rules, "
            f"{len(h.passthrough)} passthrough hosts, {len(policy.credentials)} credentials")


def _credential_sources(policy: Policy) -> list[tuple[tuple[int | str, ...], str]]:
    """Credential sources must resolve where the check runs (commands are not run)."""
    return [(tuple(e.loc), f"credential {e.name!r}: {e.message}") for e in check_sources(policy.credentials)]


def cmd_policy_check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            # one pass: schema, semantic checks and credential sources all report together
            compiled = load_compiled(path, {_credential_sources: ("credentials",)})
        except PolicyError as e:
            print(e, file=sys.stderr)
            status = EXIT_FINDINGS
        else:
            print(f"{path}: OK (digest {compiled.digest}, {_summary(compiled.policy)})")
    return status


def cmd_policy_schema(args: argparse.Namespace) -> int:
    from egress.policy.schema import policy_json_schema

    print(json.dumps(policy_json_schema(), indent=2))
    return EXIT_OK


def _compiled(path: str) -> CompiledPolicy:
    return load_compiled(path)


def cmd_policy_test(args: argparse.Namespace) -> int:
    from proxy.policytest import format_results, run_tests

    policy = _compiled(args.policy)
    rows = []
    for tests in args.tests:
        rows += [(Path(tests), r) for r in run_tests(policy, Path(tests))]
    for line in format_results(rows):
        print(line)
    return EXIT_OK if all(r.passed for _, r in rows) else EXIT_FINDINGS


def _headers(values: list[str] | None) -> dict[str, str]:
    out = {}
    for value in values or []:
        name, sep, val = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {value!r}: expected 'Name: value'")
        out[name.strip()] = val.strip()
    return out


def cmd_policy_explain(args: argparse.Namespace) -> int:
    from cli.explain import explain
    from proxy.flowbuild import FlowSpecError

    policy = _compiled(args.policy)
    try:
        lines = list(explain(policy, args.method, args.url, _headers(args.header),
                             (args.body or "").encode()))
    except FlowSpecError as e:
        raise ConfigError(f"--url: {e}") from None
    print("\n".join(lines))
    return EXIT_OK


def cmd_policy_docs(args: argparse.Namespace) -> int:
    from cli.docs import policy_reference

    text = "\n".join(policy_reference()) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# -- bottle replay ---------------------------------------------------------------------------

def cmd_replay(args: argparse.Namespace) -> int:
    from cli.diff import diff, render
    from proxy.replay import Replayer, format_json, format_table, read_flows

    policy_path = args.policy or str(default_policy_path())
    compiled = _compiled(policy_path)
    if args.against:
        for line in render(diff(args.flows, compiled, _compiled(args.against)), args.format):
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return EXIT_OK
    replayer = Replayer(compiled)
    results = replayer.run(read_flows(args.flows))
    lines = format_json(results) if args.format == "json" else format_table(results)
    out = sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()
    return EXIT_OK


# -- bottle dlp ------------------------------------------------------------------------------

def cmd_dlp_rules(args: argparse.Namespace) -> int:
    from egress.scan.dlp import EXTRA_RULES, load_catalogue

    rows = [{"id": r.id, "severity": r.severity, "description": r.description,
             **({"notes": r.notes} if r.notes else {})} for r in load_catalogue()]
    rows += [{"id": k, "severity": "critical" if k == "known-secret" else "low", "description": v}
             for k, v in EXTRA_RULES.items()]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['id']:<36} {row['severity']:<9} {row['description']}")
    return EXIT_OK


def cmd_dlp_scan(args: argparse.Namespace) -> int:
    """Scan files (or stdin) with the policy's DLP engine; findings as JSON lines, no values."""
    policy_path = args.policy or str(default_policy_path())
    engine = load_compiled(policy_path).dlp
    status = EXIT_OK
    for name in args.files or ["-"]:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        for match in engine.scan_body(data, args.content_type, where=name):
            status = EXIT_FINDINGS
            print(json.dumps(match.finding.as_audit(), separators=(",", ":")))
    return status


# -- bottle mcp ------------------------------------------------------------------------------

def _tools_in(doc: object) -> list[dict[str, object]]:
    """Tool definitions in a document: one tool, a list of tools, a tools/list result or response."""
    if isinstance(doc, dict) and isinstance(doc.get("result"), dict):
        doc = doc["result"]
    if isinstance(doc, dict) and isinstance(doc.get("tools"), list):
        doc = doc["tools"]
    items = doc if isinstance(doc, list) else [doc]
    return [t for t in items if isinstance(t, dict) and isinstance(t.get("name"), str)]


def cmd_mcp_hash(args: argparse.Namespace) -> int:
    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        tools = _tools_in(json.loads(raw.decode("utf-8")))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{args.file}: not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise ConfigError(f"{args.file}: JSON nested too deeply") from None
    except ValueError as e:
        raise ConfigError(f"{args.file}: not JSON ({e})") from None
    if not tools:
        raise ConfigError(f"{args.file}: no tool definition (an object with a `name`) found")
    for tool in tools:
        print(f"{tool['name']}: {tool_hash(tool)}")
    return EXIT_OK


def cmd_mcp_pins(args: argparse.Namespace) -> int:
    path = Path(args.state_dir) / PINS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no MCP pins yet (the proxy writes them on a server's first tools/list)")
    pins = ToolPins(path)
    doc = pins.as_document()
    for server, entry in doc["servers"].items():
        print(server)
        for name, pin in entry["pinned"].items():
            changed = entry["changed"].get(name)
            print(f"  {name}: {pin['hash']}" + ("  CHANGED -> " + changed["hash"] if changed else ""))
            if changed and args.diff:
                for line in definition_diff(pin["definition"], changed["definition"]).splitlines():
                    print(f"      {line}")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------

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


if __name__ == "__main__":
    sys.exit(main())
