"""`bottle replay` (recorded flows through the chain, offline), `bottle dlp rules|scan` and
`bottle mcp hash|pins`: looking at what the proxy saw and would decide, without running it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.conventions import EXIT_FINDINGS, EXIT_OK
from egress.policy.compiled import default_policy_path
from egress.policy.store import load_compiled
from egress.scan.mcp.canonical import definition_diff, tool_hash
from egress.sources.mcp_pins import PINS_FILE, ToolPins
from proxy.config import ConfigError

# -- bottle replay ---------------------------------------------------------------------------

def cmd_replay(args: argparse.Namespace) -> int:
    from cli.diff import diff, render
    from proxy.replay import Replayer, format_json, format_table, read_flows

    policy_path = args.policy or str(default_policy_path())
    compiled = load_compiled(policy_path)
    if args.against:
        for line in render(diff(args.flows, compiled, load_compiled(args.against)), args.format):
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
    from egress.scan.dlp.rules.catalogue import EXTRA_RULES
    from egress.sources.dlp_catalogue import load_catalogue

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
