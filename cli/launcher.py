"""`bottle start|stop|ls|logs|doctor|image` — the launcher's part of the `bottle` CLI.

`cli.commands` adds these subcommands to its parser, and `cli.main` (the `bottle` entry point)
runs them through `main` here without importing the proxy engine. Docker is imported only when
one of them runs, so `bottle egress run` starts no slower for their sake. Every failure is a
`LauncherError` printed as message + fix; none shows a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cli.internal_error import report_internal_error
from launcher.errors import LauncherError

Handler = Callable[[argparse.Namespace], int]
COMMANDS = frozenset({"start", "stop", "ls", "logs", "doctor", "image"})


def _guarded(fn: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except LauncherError as e:
            print(f"bottle: {e}", file=sys.stderr)
            return e.exit_code
    return run


def _client() -> Any:
    from launcher.engine import connect

    return connect()


# -- start / stop / ls -----------------------------------------------------------------------

def cmd_start(args: argparse.Namespace) -> int:
    from launcher.bottle import StartOptions, parse_env
    from launcher.limits import AGENT_DEFAULTS, EGRESS_DEFAULTS, limits_from_flags
    from launcher.start import start

    command = list(args.cmd or [])
    if command and command[0] == "--":
        command = command[1:]
    opts = StartOptions(
        name=args.name, image=args.image, inspect=args.inspect,
        policy=Path(args.policy) if args.policy else None,
        upstream=args.upstream, upstream_network=args.upstream_network,
        upstream_ca=Path(args.upstream_ca) if args.upstream_ca else None,
        env=parse_env(args.env or []), workdir=Path(args.workdir) if args.workdir else None,
        command=command, egress_image=args.egress_image, pipelock_image=args.pipelock_image,
        cap_add=args.cap_add or [], dns_upstream=args.dns_upstream,
        record=Path(args.record) if args.record else None, user=args.user,
        metrics_port=args.metrics_port,
        limits=limits_from_flags({"memory": args.memory, "pids": args.pids, "cpus": args.cpus},
                                 "", AGENT_DEFAULTS),
        egress_limits=limits_from_flags({"memory": args.egress_memory, "pids": args.egress_pids,
                                         "cpus": args.egress_cpus}, "egress-", EGRESS_DEFAULTS))
    client = _client()
    info = start(client, opts, on_step=lambda msg: print(f"bottle: {msg}", file=sys.stderr))
    if args.json:
        print(json.dumps({"name": info.name, "agent": info.agent, "egress": info.egress,
                          "egress_ip": info.egress_ip, "upstream": info.upstream}))
    else:
        route = (f"inspected by {info.egress} ({info.egress_ip}), then upstream {info.upstream}"
                 if info.egress else f"upstream {info.upstream} only (no inspection)")
        print(f"bottle {info.name} is running: agent {info.agent}, egress {route}")
        print(f"  shell:  docker exec -it {info.agent} sh")
        print(f"  audit:  bottle logs {info.name} --audit --follow")
        if opts.metrics_port is not None:
            print(f"  metrics: http://127.0.0.1:{opts.metrics_port}/metrics")
        print(f"  stop:   bottle stop {info.name}")
    return 0


def counted(n: int, noun: str) -> str:
    """`1 volume`, `2 volumes`, `0 volumes`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def cmd_stop(args: argparse.Namespace) -> int:
    from launcher.bottle import check_name, remove_bottle

    client = _client()
    for name in args.names:
        removed = remove_bottle(client, check_name(name))
        if removed.empty():
            print(f"bottle {name}: nothing to stop")
        else:
            print(f"bottle {name} stopped: removed {counted(len(removed.containers), 'container')}, "
                  f"{counted(len(removed.networks), 'network')}, "
                  f"{counted(len(removed.volumes), 'volume')} "
                  "(the CA key went with the egress container's memory)")
            if removed.recording is not None:
                print(f"bottle {name}: flows recorded to {removed.recording}")
            if removed.audit_problem is not None:
                print(f"bottle: {name}: audit log not kept: {removed.audit_problem}",
                      file=sys.stderr)
            if removed.audit is not None:
                print(f"bottle {name}: audit log kept at {removed.audit} "
                      f"(`bottle logs {name} --audit`)")
    return 0


def stopped_summaries(running: set[str]) -> list[Any]:
    """Stopped bottles whose audit logs are still on this host (state `stopped`)."""
    from launcher.auditlog import stopped_bottles
    from launcher.bottle import BottleSummary

    return [BottleSummary(m["name"], "stopped", str(m.get("image", "-")), bool(m.get("inspect")),
                          str(m.get("upstream", "-")), [], log=m["log"],
                          policy=str(m.get("policy", "-")))
            for m in stopped_bottles() if m["name"] not in running]


def cmd_ls(args: argparse.Namespace) -> int:
    from launcher.bottle import list_bottles

    rows = list_bottles(_client())
    if args.all:
        rows += stopped_summaries({r.name for r in rows})
    if args.json:
        print(json.dumps([r.as_json() for r in rows]))
        return 0
    if not rows:
        print("no bottles")
        return 0

    def limits(value: Any) -> str:
        return value.describe() if value is not None else "-"

    table = [("NAME", "STATE", "INSPECT", "POLICY", "UPSTREAM", "IMAGE", "AGENT LIMITS",
              "EGRESS LIMITS")]
    table += [(r.name, r.state, "yes" if r.inspect else "no", r.policy, r.upstream, r.image,
               limits(r.agent_limits), limits(r.egress_limits)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


# -- logs ------------------------------------------------------------------------------------

def _pretty_event(line: str, color: bool) -> str:
    try:
        ev = json.loads(line)
    except json.JSONDecodeError:
        return line
    when = str(ev.get("time", ""))
    with_time = when
    with contextlib.suppress(ValueError):
        with_time = datetime.fromisoformat(when.replace("Z", "+00:00")).strftime("%H:%M:%S")
    verdict = str(ev.get("verdict") or ev.get("event") or "")
    target = " ".join(str(ev[k]) for k in ("method", "host", "path") if ev.get(k))
    if not target and ev.get("url"):
        target = str(ev["url"])
    rules = ",".join(
        "/".join(str(f[k]) for k in ("scanner", "rule") if f.get(k))
        for f in ev.get("findings") or [] if isinstance(f, dict))
    # The status the client got (none for an event without a response: a DNS query, a
    # cut connection).
    status = str(ev.get("status") or "-")
    text = f"{with_time:8}  {verdict:8}  {status:3}  {target}" + (f"  [{rules}]" if rules else "")
    if color and verdict in ("block", "allow", "error"):
        code = {"block": "31", "allow": "32", "error": "33"}[verdict]
        text = f"\x1b[{code}m{text}\x1b[0m"
    return text


def _print_lines(lines: Iterable[str], as_json: bool) -> None:
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for line in lines:
        if not line.strip():
            continue
        print(line if as_json else _pretty_event(line, color), flush=True)


def cmd_logs(args: argparse.Namespace) -> int:
    from launcher.bottle import find_container

    client = _client()
    if args.audit:
        return _audit_logs(client, args)
    if args.since or args.tail is not None:
        raise LauncherError("--since and --tail select audit events: add --audit", exit_code=2)
    egress = find_container(client, args.name, "egress")
    try:
        if args.follow:
            for chunk in egress.logs(stdout=False, stderr=True, stream=True, follow=True):
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
        else:
            sys.stdout.write(egress.logs(stdout=False, stderr=True).decode(errors="replace"))
    except KeyboardInterrupt:
        return 0
    return 0


def _audit_logs(client: Any, args: argparse.Namespace) -> int:
    """A running bottle's log from its egress container; a stopped one's from the host file
    `bottle stop` kept (`launcher.auditlog`)."""
    from launcher.auditlog import parse_since, read_stopped, select
    from launcher.auditread import bottle_running_audit, follow_audit

    if args.tail is not None and args.tail < 0:
        raise LauncherError(f"--tail {args.tail}: expected a number of events, 0 or more",
                            exit_code=2)
    since = parse_since(args.since) if args.since else None
    running = bottle_running_audit(client, args.name)
    try:
        if running is None:
            _print_lines(select(read_stopped(args.name), since, args.tail), args.json)
            return 0
        data, current_size, egress = running
        _print_lines(select(data.decode(errors="replace").splitlines(), since, args.tail),
                     args.json)
        if args.follow:
            later = follow_audit(egress, offset=current_size)
            _print_lines((line for line in later if since is None or select([line], since)),
                         args.json)
    except KeyboardInterrupt:
        return 0
    return 0


# -- doctor ----------------------------------------------------------------------------------

def cmd_doctor(args: argparse.Namespace) -> int:
    from launcher.doctor import format_report, run_doctor

    report = run_doctor(_client(), args.name, args.url)
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        print(format_report(report))
    return 1 if report.failed() else 0


# -- image build -----------------------------------------------------------------------------

def cmd_image_build(args: argparse.Namespace) -> int:
    import logging

    from launcher.images import BuildReport, build

    logging.basicConfig(level=logging.INFO, format="bottle: %(message)s", stream=sys.stderr)
    report = BuildReport()
    tags = build(_client(), args.kinds or ["egress", "agent"], offline=args.offline,
                 base=args.base, report=report)
    if args.json:
        print(report.as_json())
    else:
        for kind, (tag, seconds, cached) in report.images.items():
            print(f"{kind:10} {tag}  ({'cached' if cached else f'{seconds} s'})")
        print(f"built: {', '.join(tags.values())} (also tagged :latest)")
    return 0


# -- parser ----------------------------------------------------------------------------------

def _usage(parser: argparse.ArgumentParser) -> str:
    """A usage line naming every option, generated so it cannot drift from the options (argparse's
    own would print the trailing command as `...`, hiding the `--` separator)."""
    parts = [parser.prog]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            parts.append(f"[{action.metavar} ...]" if action.nargs == argparse.REMAINDER
                         else str(action.metavar or action.dest))
            continue
        flag = max(action.option_strings, key=len)
        value = action.metavar or action.dest.upper()
        parts.append(f"[{flag}]" if action.nargs == 0 else f"[{flag} {value}]")
    # wrapped between options, as argparse wraps its own (a custom usage is printed verbatim)
    indent, lines = " " * (len("usage: ") + len(parser.prog) + 1), [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(part) + 1 > 92:
            lines.append(indent + part)
        else:
            lines[-1] += " " + part
    return "\n".join(lines)


def add_commands(sub: Any) -> None:
    """Add the launcher's subcommands to `bottle`'s subparsers."""
    from launcher.defaults import AGENT, DEFAULT_PIPELOCK_IMAGE, EGRESS
    from launcher.limits import AGENT_DEFAULTS, EGRESS_DEFAULTS, format_cpus, format_size

    start = sub.add_parser(
        "start", help="start an agent container (a bottle) behind its own egress chain",
        description="Start a bottle: an agent container on an internal network whose only way "
        "out is its egress chain. With --inspect, a per-bottle egress container terminates TLS "
        "with a fresh CA (its key never leaves that container's memory) and applies the policy; "
        "then the upstream (pipelock) forwards.",
        )
    start.add_argument("--inspect", action="store_true",
                       help="route the agent through a TLS-inspecting egress container")
    start.add_argument("--name", default="bottle", help="bottle name (default: bottle)")
    start.add_argument("--image", default=os.environ.get("BOTTLE_AGENT_IMAGE", f"{AGENT}:latest"),
                       help=f"agent image (default: $BOTTLE_AGENT_IMAGE or {AGENT}:latest)")
    start.add_argument("--policy", metavar="FILE", help="egress policy (default: built-in)")
    start.add_argument("--upstream", metavar="pipelock|none|URL",
                       help="next hop: a pipelock container, none (direct), or a forward proxy "
                       "the egress container can reach (default: pipelock)")
    start.add_argument("--upstream-network", metavar="NET",
                       help="also attach the egress container to this Docker network (where an "
                       "--upstream proxy container lives)")
    start.add_argument("--upstream-ca", metavar="FILE",
                       help="extra CA (PEM) the egress trusts for origins: private PKI, tests")
    start.add_argument("--env", action="append", metavar="K=V", help="agent environment variable")
    start.add_argument("--workdir", metavar="DIR",
                       help="host directory mounted at /workspace (nosuid, nodev)")
    start.add_argument("--user", metavar="UID[:GID]",
                       help="the agent's uid and gid, never 0 (default: the user who ran sudo, "
                       "the user running bottle start, the owner of --workdir when root runs "
                       "it, else 1000)")
    start.add_argument("--cap-add", action="append", metavar="CAP",
                       help="capability for the agent's bounding set (all are dropped; its "
                       "unprivileged user gains none of them)")

    def cpus(value: float | None) -> str:
        return "all" if value is None else format_cpus(value)

    for prefix, defaults, what in (("", AGENT_DEFAULTS, "the agent"),
                                   ("egress-", EGRESS_DEFAULTS, "the egress container")):
        start.add_argument(f"--{prefix}memory", metavar="SIZE",
                           help=f"memory limit of {what}, swap included (512m, 4g; default "
                           f"{format_size(defaults.memory).replace(' ', '')})")
        start.add_argument(f"--{prefix}pids", metavar="N",
                           help=f"process and thread limit of {what} (default {defaults.pids})")
        start.add_argument(f"--{prefix}cpus", metavar="N",
                           help=f"CPUs {what} may use, e.g. 1.5, or all (default "
                           f"{cpus(defaults.cpus)})")
    start.add_argument("--egress-image", metavar="IMAGE",
                       default=os.environ.get("BOTTLE_EGRESS_IMAGE", f"{EGRESS}:latest"),
                       help=f"egress image (default: $BOTTLE_EGRESS_IMAGE or {EGRESS}:latest)")
    start.add_argument("--pipelock-image", metavar="IMAGE",
                       default=os.environ.get("BOTTLE_PIPELOCK_IMAGE", DEFAULT_PIPELOCK_IMAGE),
                       help="pipelock image (default: $BOTTLE_PIPELOCK_IMAGE or "
                       f"{DEFAULT_PIPELOCK_IMAGE})")
    start.add_argument("--dns-upstream", metavar="HOST:PORT",
                       help="resolver the DNS guard forwards allowed names to (default: the egress "
                       "container's own resolver)")
    start.add_argument("--record", metavar="FILE.mitm",
                       help="record the bottle's flows (secrets redacted); `bottle stop` writes "
                       "them to FILE.mitm")
    start.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="with --inspect: publish the egress proxy's /metrics, /healthz and "
                       "/readyz on 127.0.0.1:PORT of this host (never on the agent's network)")
    start.add_argument("--json", action="store_true", help="print the result as JSON")
    start.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD",
                       help="agent command (default: the image's)")
    start.set_defaults(handler=_guarded(cmd_start))
    start.usage = _usage(start)

    stop = sub.add_parser("stop", help="remove a bottle's containers, networks and CA")
    stop.add_argument("names", nargs="+", metavar="NAME")
    stop.set_defaults(handler=_guarded(cmd_stop))

    ls = sub.add_parser("ls", help="list bottles")
    ls.add_argument("--all", "-a", action="store_true",
                    help="also stopped bottles whose audit logs are kept on this host")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_guarded(cmd_ls))

    logs = sub.add_parser("logs", help="a bottle's egress log, or its audit decisions (--audit; "
                          "kept on the host after `bottle stop`)")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("--audit", action="store_true", help="the egress decisions (audit log)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument("--json", action="store_true", help="audit events as JSON lines")
    logs.add_argument("--since", metavar="DURATION|TIME",
                      help="audit events from 10m / 1h30m / 45s / 2d ago, or since an ISO 8601 "
                      "time (no offset: local time)")
    logs.add_argument("--tail", type=int, metavar="N", help="only the last N audit events")
    logs.set_defaults(handler=_guarded(cmd_logs))

    doctor = sub.add_parser(
        "doctor", help="check a bottle's isolation, and which runtimes in it trust its CA",
        description="Reports, as read inside the containers, the agent's uid and gid, its "
        "capabilities, no-new-privileges, seccomp mode and workdir mount flags, and the memory, "
        "process and CPU limits of the agent and egress containers. With --inspect bottles it "
        "also runs trust probes inside the agent for the runtimes it finds (curl, OpenSSL, "
        "Python urllib/requests/httpx, Node, git, pip, Java, Go) and reports which trust the "
        "bottle CA and which need a setting. The probes need no network beyond the egress "
        "proxy: it answers TLS itself before contacting any origin. Exits 1 when a check fails.")
    doctor.add_argument("name", metavar="NAME")
    doctor.add_argument("--url", help="HTTPS URL to probe (default: https://<first allowed host>/)")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(handler=_guarded(cmd_doctor))

    image = sub.add_parser("image", help="build the bottle images")
    image_sub = image.add_subparsers(dest="image_command", metavar="SUBCOMMAND")
    image_sub.required = True
    build = image_sub.add_parser(
        "build", help="build bottle-egress (and bottle-agent, bottle-squid-test)",
        description="Build images, skipping any whose inputs are unchanged (tags are content "
        "hashes; the newest is also tagged :latest). Online: from python:3.13-slim, pip in the "
        "build. --offline: a Debian trixie base made with debootstrap (root) and a wheelhouse "
        "downloaded on this host; no package index is contacted from a container.")
    build.add_argument("kinds", nargs="*", choices=["egress", "agent", "squid"], metavar="KIND",
                       help="egress, agent, squid (default: egress agent)")
    build.add_argument("--offline", action="store_true",
                       help="debootstrap base + host wheelhouse (no index access from containers)")
    build.add_argument("--base", metavar="IMAGE", help="base image (needs python3 >= 3.12)")
    build.add_argument("--json", action="store_true")
    build.set_defaults(handler=_guarded(cmd_image_build))


def main(argv: Sequence[str]) -> int:
    """The launcher's commands alone (`cli.main` sends them here): the same parser entries
    as in `bottle --help`, without importing the proxy engine."""
    parser = argparse.ArgumentParser(prog="bottle")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_commands(sub)
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # an internal error: say where, not what data it was handling
        return report_internal_error(e)
