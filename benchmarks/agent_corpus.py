"""Realistic, seeded request bodies of coding agents: what DLP scans all day.

Each body is an Anthropic Messages or OpenAI Chat Completions request as an agent sends it: a
system prompt, tool definitions, and a conversation of 1-40 turns whose content is what agents
move around: source files from the running interpreter's standard library, log excerpts,
unified diffs, hex hashes and commit ids, UUIDs, base64 images, printf/format strings, and
ordinary English (the interpreter's own documentation topics, `pydoc_data.topics`).

Deterministic: the same seed, size and interpreter give the same bytes. Importable by other
benchmarks:

    from benchmarks.agent_corpus import body, conversation, SIZES
    data = body(200_000, seed=3)                       # one request of ~200 KB
    for request in conversation(seed=5, turns=12):     # each request holds the turns so far
        ...

`sources(part=...)` splits the standard library's modules into two fixed halves ("dev" and
"final") so a benchmark can tune on one and evaluate on the other. No secret is ever put in
(the generators draw from public text and random bytes only); `dlp_detection.py` adds them.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import random
import struct
import sysconfig
import uuid
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

Api = Literal["anthropic", "openai"]
APIS: tuple[Api, ...] = ("anthropic", "openai")
Part = Literal["all", "dev", "final"]
SIZES = {"2k": 2_000, "200k": 200_000, "1m": 1_000_000, "8m": 8_000_000}

SYSTEM_PROMPT = (
    "You are a coding agent working in a sandboxed container. Use the tools to read, search and "
    "edit files and to run commands. Prefer small, reviewable changes; run the tests after each "
    "change; never print credentials. The repository is checked out at /home/agent/work. When a "
    "command fails, read its output before trying again. Answer in English."
)
TOOLS: list[dict[str, Any]] = [
    {"name": "bash", "description": "Run a shell command in the container and return its output "
     "(stdout and stderr, truncated to 30,000 characters).",
     "input_schema": {"type": "object", "properties": {
         "command": {"type": "string", "description": "The command to run."},
         "timeout": {"type": "integer", "description": "Seconds before the command is killed."}},
         "required": ["command"]}},
    {"name": "read_file", "description": "Read a text file, optionally a range of lines.",
     "input_schema": {"type": "object", "properties": {
         "path": {"type": "string"}, "start_line": {"type": "integer"},
         "end_line": {"type": "integer"}}, "required": ["path"]}},
    {"name": "edit_file", "description": "Replace one exact occurrence of old_text by new_text.",
     "input_schema": {"type": "object", "properties": {
         "path": {"type": "string"}, "old_text": {"type": "string"},
         "new_text": {"type": "string"}}, "required": ["path", "old_text", "new_text"]}},
    {"name": "grep", "description": "Search files for a regular expression; prints path:line:text.",
     "input_schema": {"type": "object", "properties": {
         "pattern": {"type": "string"}, "path": {"type": "string"},
         "ignore_case": {"type": "boolean"}}, "required": ["pattern"]}},
    {"name": "web_fetch", "description": "Fetch a public web page and return it as markdown.",
     "input_schema": {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}},
                      "required": ["url"]}},
]
USER_ASKS = [
    "The test suite fails on {mod}; find out why and fix it.",
    "Add type hints to {mod} and make mypy pass.",
    "Why is {mod} slow on large inputs? Profile it and suggest a change.",
    "Refactor the parsing part of {mod} into its own function and keep the behaviour.",
    "Write tests for the edge cases of {mod}.",
    "Explain what {mod} does, then update the docstring.",
    "The CI log below shows a failure after my last commit; what broke?",
    "Review this diff before I merge it.",
]
LOG_MESSAGES = [
    "GET /api/v1/items?page=%d 200 %d bytes in %.1f ms", "connection reset by peer (%s:%d)",
    "retrying request %s after %d ms (attempt %d of 5)", "cache miss for key %s",
    "worker %d started, pid %d", "slow query (%.1f ms): SELECT id, name FROM users WHERE org_id = %d",
    "health check ok: %d/%d upstreams healthy", "compacted %d segments into %d (%.1f%% saved)",
    "user %s logged in from %s", "job %s finished with status %s in %.2fs",
    "Traceback (most recent call last):\n  File \"/srv/app/%s.py\", line %d, in handle\n"
    "KeyError: '%s'",
]
FORMATS = [
    "%-20s %8d %6.2f%%", "{name:>12} | {count:6d} | {ratio:.3f}", "%(asctime)s %(levelname)s %(message)s",
    "printf(\"%s: %zu bytes\\n\", name, len);", "fmt.Sprintf(\"%s/%d: %v\", host, port, err)",
    "f\"{path!r} has {n:,} lines ({pct:.1%})\"", "String.format(\"%08X %s\", crc, file)",
]


# -- public text ---------------------------------------------------------------------------

def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@cache
def _all_sources() -> tuple[Path, ...]:
    root = _stdlib()
    skip = ("site-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__", "turtledemo")
    return tuple(sorted(p for p in root.rglob("*.py")
                        if not any(part in skip for part in p.relative_to(root).parts)))


def _half(path: Path) -> str:
    """A fixed half per module (by a hash of its path under the stdlib, not by the seed)."""
    rel = str(path.relative_to(_stdlib()))
    return "final" if hashlib.sha256(rel.encode()).digest()[0] % 2 else "dev"


@cache
def sources(part: Part = "all") -> tuple[Path, ...]:
    """Standard-library source files of the running interpreter (tests, IDLE and vendored
    packages left out), optionally one fixed half of them."""
    return tuple(p for p in _all_sources() if part == "all" or _half(p) == part)


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


@cache
def _prose() -> tuple[str, ...]:
    from pydoc_data.topics import topics
    paragraphs = [p.strip() for text in topics.values() for p in text.split("\n\n")]
    return tuple(p for p in paragraphs if len(p) > 200 and p.count(" ") > len(p) / 12)


# -- pieces --------------------------------------------------------------------------------

def prose(rng: random.Random, n: int = 3) -> str:
    paras = _prose()
    return "\n\n".join(rng.choice(paras) for _ in range(n))


def source_excerpt(rng: random.Random, part: Part, max_lines: int = 200) -> tuple[str, str]:
    path = rng.choice(sources(part))
    lines = _read(path).splitlines()
    start = rng.randrange(max(1, len(lines) - max_lines))
    rel = str(path.relative_to(_stdlib()))
    return rel, "\n".join(lines[start:start + rng.randint(20, max_lines)])


def log_excerpt(rng: random.Random, lines: int = 40) -> str:
    out = []
    t = 1_760_000_000 + rng.randrange(10_000_000)
    for _ in range(lines):
        t += rng.randint(0, 4)
        level = rng.choice(["INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR"])
        msg = rng.choice(LOG_MESSAGES)
        args: list[object] = []
        i = 0
        while i < len(msg):
            if msg[i] == "%" and i + 1 < len(msg):
                j = i + 1
                while j < len(msg) and msg[j] in "0123456789.-":
                    j += 1
                conv = msg[j] if j < len(msg) else ""
                if conv == "d":
                    args.append(rng.randint(1, 65535))
                elif conv == "f":
                    args.append(rng.random() * 1000)
                elif conv == "s":
                    args.append(rng.choice([uuid.UUID(int=rng.getrandbits(128)).hex[:12],
                                            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.7",
                                            "ok", "failed", "orders", "sessions"]))
                i = j + 1
                continue
            i += 1
        try:
            text = msg % tuple(args)
        except (TypeError, ValueError):
            text = msg
        stamp = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{t % 86400 // 3600:02d}:" \
                f"{t % 3600 // 60:02d}:{t % 60:02d}.{rng.randrange(1000):03d}Z"
        out.append(f"{stamp} {level:<7} [{rng.choice(['api', 'worker', 'db', 'auth'])}] "
                   f"req={uuid.UUID(int=rng.getrandbits(128))} {text}")
    return "\n".join(out)


def diff_excerpt(rng: random.Random, part: Part) -> str:
    rel, text = source_excerpt(rng, part, 120)
    old = text.splitlines(keepends=True)
    new = list(old)
    for _ in range(rng.randint(1, 4)):
        if not new:
            break
        i = rng.randrange(len(new))
        choice = rng.random()
        if choice < 0.4:
            new[i] = new[i].replace("self", "this", 1).replace("  ", "    ", 1)
        elif choice < 0.7:
            new.insert(i, new[i].split("#")[0].rstrip() + "  # checked\n")
        else:
            del new[i]
    head = f"diff --git a/{rel} b/{rel}\nindex {rng.getrandbits(28):07x}..{rng.getrandbits(28):07x} 100644\n"
    return head + "".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))


def hashes_excerpt(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(4, 20)):
        kind = rng.random()
        if kind < 0.3:
            lines.append(f"commit {rng.getrandbits(160):040x}")
        elif kind < 0.5:
            lines.append(f"sha256:{rng.getrandbits(256):064x}  "
                         f"dist/pkg-{rng.randint(0, 9)}.{rng.randint(0, 30)}.tar.gz")
        elif kind < 0.7:
            lines.append(f"request_id={uuid.UUID(int=rng.getrandbits(128))}")
        elif kind < 0.85:
            lines.append(f"{rng.getrandbits(128):032x}  {rng.choice(['README.md', 'setup.py', 'main.go'])}")
        else:
            lines.append(f"etag: W/\"{rng.getrandbits(64):016x}\"")
    return "\n".join(lines)


def formats_excerpt(rng: random.Random) -> str:
    return "\n".join(rng.choice(FORMATS) for _ in range(rng.randint(2, 6)))


def png_base64(rng: random.Random, size: int) -> str:
    """A small valid PNG of about `size` bytes (noise compresses badly, as screenshots do not;
    the mix keeps both kinds of runs), base64-encoded."""
    width = max(8, int((size / 3) ** 0.5))
    rows = []
    for _ in range(width):
        if rng.random() < 0.5:
            row = bytes(rng.getrandbits(8) for _ in range(width * 3))
        else:
            row = bytes([rng.getrandbits(8)]) * (width * 3)
        rows.append(b"\0" + row)
    raw = zlib.compress(b"".join(rows), 6)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, width, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


# -- conversation --------------------------------------------------------------------------

def _tool_result(rng: random.Random, part: Part) -> str:
    kind = rng.random()
    if kind < 0.4:
        rel, text = source_excerpt(rng, part)
        return f"{rel}:\n{text}"
    if kind < 0.6:
        return log_excerpt(rng, rng.randint(10, 80))
    if kind < 0.75:
        return diff_excerpt(rng, part)
    if kind < 0.87:
        return hashes_excerpt(rng)
    return formats_excerpt(rng) + "\n" + prose(rng, 1)


def _turns(rng: random.Random, part: Part, images: bool) -> Iterator[list[dict[str, Any]]]:
    """Endless exchanges: a user message, then the assistant's tool call and its result, as
    neutral blocks `(role, kind, payload)` that each API renders its own way."""
    while True:
        mod = rng.choice(sources(part)).stem
        ask = rng.choice(USER_ASKS).format(mod=mod)
        user: list[dict[str, Any]] = [{"kind": "text", "text": ask + "\n\n" + (
            log_excerpt(rng, 15) if "log" in ask else diff_excerpt(rng, part) if "diff" in ask
            else prose(rng, 1))}]
        if images and rng.random() < 0.15:
            user.append({"kind": "image", "data": png_base64(rng, rng.choice([2_000, 20_000, 90_000]))})
        tool = rng.choice(TOOLS)["name"]
        call_id = f"toolu_{rng.getrandbits(120):030x}"
        args = {"bash": {"command": rng.choice(["pytest -q -x", "git diff HEAD~1", f"python -m {mod}",
                                                "grep -rn TODO src/ | head -50"])},
                "read_file": {"path": f"/home/agent/work/src/{mod}.py"},
                "edit_file": {"path": f"src/{mod}.py", "old_text": "return None", "new_text": "return {}"},
                "grep": {"pattern": rf"def \w+_{mod[:4]}", "path": "src"},
                "web_fetch": {"url": f"https://docs.python.org/3/library/{mod}.html"}}[tool]
        assistant = [{"kind": "text", "text": prose(rng, 1)[:rng.randint(80, 600)]},
                     {"kind": "tool_use", "id": call_id, "name": tool, "input": args}]
        result = [{"kind": "tool_result", "id": call_id, "text": _tool_result(rng, part)}]
        yield [{"role": "user", "blocks": user}, {"role": "assistant", "blocks": assistant},
               {"role": "tool", "blocks": result}]


def _anthropic(messages: list[dict[str, Any]], model: str, tools: bool) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks: list[dict[str, Any]] = []
        for b in m["blocks"]:
            if b["kind"] == "text":
                blocks.append({"type": "text", "text": b["text"]})
            elif b["kind"] == "image":
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                           "data": b["data"]}})
            elif b["kind"] == "tool_use":
                blocks.append({"type": "tool_use", "id": b["id"], "name": b["name"], "input": b["input"]})
            else:
                blocks.append({"type": "tool_result", "tool_use_id": b["id"], "content": b["text"]})
        role = "user" if m["role"] == "tool" else m["role"]
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    doc: dict[str, Any] = {"model": model, "max_tokens": 8192, "system": SYSTEM_PROMPT}
    if tools:
        doc["tools"] = TOOLS
    return {**doc, "messages": out, "stream": True}


def _openai(messages: list[dict[str, Any]], model: str, tools: bool) -> dict[str, Any]:
    out: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for m in messages:
        if m["role"] == "tool":
            for b in m["blocks"]:
                out.append({"role": "tool", "tool_call_id": b["id"], "content": b["text"]})
            continue
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for b in m["blocks"]:
            if b["kind"] == "text":
                parts.append({"type": "text", "text": b["text"]})
            elif b["kind"] == "image":
                url = "data:image/png;base64," + b["data"]
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                calls.append({"id": b["id"], "type": "function", "function": {
                    "name": b["name"], "arguments": json.dumps(b["input"])}})
        msg: dict[str, Any] = {"role": m["role"], "content": parts}
        if calls:
            msg["tool_calls"] = calls
        out.append(msg)
    doc: dict[str, Any] = {"model": model, "messages": out, "temperature": 0.2, "stream": True}
    if tools:
        doc["tools"] = [{"type": "function", "function": {
            "name": t["name"], "description": t["description"], "parameters": t["input_schema"]}}
            for t in TOOLS]
    return doc


def render(messages: list[dict[str, Any]], api: Api, tools: bool = True) -> bytes:
    doc = (_anthropic(messages, "claude-sonnet-4-5", tools) if api == "anthropic"
           else _openai(messages, "gpt-4.1", tools))
    return json.dumps(doc).encode()


def conversation(seed: int, turns: int = 40, api: Api | None = None, part: Part = "all",
                 images: bool = True) -> Iterator[bytes]:
    """Each request of one agent session, turn by turn: request k holds turns 1..k (agents
    resend the whole conversation every time)."""
    rng = random.Random(seed)
    chosen: Api = api if api is not None else rng.choice(APIS)
    messages: list[dict[str, Any]] = []
    gen = _turns(rng, part, images)
    for _ in range(turns):
        messages.extend(next(gen))
        yield render(messages, chosen)


MAX_TURNS = 40


def body(size: int, seed: int = 0, api: Api | None = None, part: Part = "all",
         images: bool = True) -> bytes:
    """One request of about `size` bytes (a few percent over at most): as many turns as it
    takes, 1 to 40; past 40 the tool results grow instead (big file reads). Requests under
    6 KB carry no tool definitions (side calls such as titling a conversation)."""
    rng = random.Random(seed * 7919 + size)
    chosen: Api = api if api is not None else rng.choice(APIS)
    tools = size >= 6_000
    messages: list[dict[str, Any]] = []
    gen = _turns(rng, part, images and size >= 20_000)
    budget = size - len(render([], chosen, tools))
    used = 0
    while used < budget:
        turn = next(gen)
        if len(messages) >= 3 * MAX_TURNS:
            turn = messages[-3:]
            turn[2]["blocks"][0]["text"] += "\n" + _tool_result(rng, part)
            messages = messages[:-3]
        messages.extend(turn)
        used = len(render(messages, chosen, tools)) if len(messages) <= 3 else used + len(json.dumps(turn))
    data = render(messages, chosen, tools)
    last = messages[-1]["blocks"][0]
    while len(data) < size:
        short = size - len(data)
        while short > 0:
            piece = _tool_result(rng, part) if short > 5_000 else prose(rng, 1)
            last["text"] += "\n" + piece
            short -= len(piece) + 1
        data = render(messages, chosen, tools)
    for _ in range(4):
        over = len(data) - size
        if over <= size // 200:
            break
        last["text"] = last["text"][:max(0, len(last["text"]) - over)]
        data = render(messages, chosen, tools)
    return data


def bodies(size: int, count: int, seed: int = 0, part: Part = "all") -> list[bytes]:
    """`count` different requests of about `size` bytes."""
    return [body(size, seed * 1000 + i, part=part) for i in range(count)]


if __name__ == "__main__":
    for label, n in SIZES.items():
        b = body(n, 1)
        print(label, len(b), hashlib.sha256(b).hexdigest()[:16])
