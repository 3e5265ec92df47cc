"""Tool-definition checks beyond poisoned text: names that shadow another tool, descriptions
that reach for other tools. (Instructions in schema fields are found by the poisoning scan of
every model-visible string, which reports the field's path.)

- `tool-shadowing`: a tool named like a well-known agent built-in (`Bash`, `WebFetch`,
  `run_terminal_cmd`, `apply_patch`, ...), or like another server's tool with a different
  spelling that reads the same (`read_file` / `readFile` / `read-fi1e` / Cyrillic look-alikes).
- `tool-name-collision`: the very same name as a tool another server already listed (clients
  that do not namespace tools may call the wrong one); logged by default.
- `tool-reference`: a description that names another server's tool or an agent built-in (a
  tool has no business steering calls to tools it does not own).

Stateless checks (`definition_checks`) are cached with the definition's hash by the inspector;
the cross-server ones (`ToolRegistry`) depend on what other servers listed and are not.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from egress.redact import preview
from egress.scan.normalize import normalize

RULES: dict[str, str] = {
    "tool-shadowing": "A tool is named like an agent's built-in tool, or like another server's tool "
    "spelled differently (case, separators, digits, look-alike characters).",
    "tool-name-collision": "A tool has the same name as a tool another server listed first (audit by "
    "default: clients that namespace tools tell them apart).",
    "tool-reference": "A tool's description names another server's tool or an agent's built-in tool.",
}
REASONS: dict[str, str] = {
    "tool-shadowing": "a name that shadows another tool",
    "tool-name-collision": "the name of a tool another server already lists",
    "tool-reference": "a reference to a tool it does not own",
}

# Agents' own tools (Claude Code, Cursor, Codex, Copilot, Windsurf, Anthropic and OpenAI
# built-in tools), kept to the distinctive names: generic ones (`read_file`, `web_search`) are
# what ordinary MCP servers call their tools too.
BUILTIN_TOOLS = frozenset({
    "Bash", "BashOutput", "KillShell", "Read", "Write", "Edit", "MultiEdit", "Glob", "Grep", "LS",
    "WebFetch", "WebSearch", "TodoWrite", "TodoRead", "NotebookEdit", "NotebookRead", "Task",
    "ExitPlanMode", "SlashCommand", "run_terminal_cmd", "codebase_search", "grep_search",
    "reapply", "fetch_rules", "apply_patch", "update_plan", "view_image",
    "str_replace_editor", "str_replace_based_edit_tool", "computer", "text_editor",
    "code_interpreter", "computer_use_preview", "web_search_preview", "local_shell",
    "container.exec", "insert_edit_into_file", "run_in_terminal", "semantic_search",
    "create_and_run_task", "get_terminal_output", "run_command", "view_file", "browser_preview",
})
_BUILTIN_SKELETONS = {n: n for n in BUILTIN_TOOLS}
MAX_SERVERS = 256
_SEPARATORS = re.compile(r"[\s_\-.:/]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


def skeleton(name: str) -> str:
    """What a tool name reads as: look-alikes folded, camel case split, separators, case and
    digit-for-letter swaps removed (`Read_File`, `readFile`, `read-fi1e` all read `readfile`)."""
    folded = normalize(unicodedata.normalize("NFKC", name))
    folded = _CAMEL.sub("_", folded).lower()
    return _SEPARATORS.sub("", folded.translate(_LEET))


_BUILTIN_BY_SKELETON = {skeleton(n): n for n in BUILTIN_TOOLS}
# Built-ins named by a common English word: only an exact match shadows them.
_WORDLIKE = frozenset(skeleton(n) for n in ("Read", "Write", "Edit", "Glob", "Grep", "LS", "Task",
                                           "computer", "reapply"))


@dataclass(frozen=True, slots=True)
class Check:
    rule: str
    path: str
    evidence: str | None
    what: str


def builtin_shadowed(name: str) -> str | None:
    """The agent built-in `name` is named like, if any."""
    if name in BUILTIN_TOOLS:
        return name
    sk = skeleton(name)
    hit = _BUILTIN_BY_SKELETON.get(sk)
    if hit is None or sk in _WORDLIKE:
        return None
    return hit


def definition_checks(obj: dict[str, Any], *, is_tool: bool, name_exempt: bool = False) -> list[Check]:
    """The stateless checks of one definition: built-in names, references to built-ins."""
    out: list[Check] = []
    name = obj.get("name")
    if is_tool and isinstance(name, str) and not name_exempt:
        shadowed = builtin_shadowed(name)
        if shadowed is not None:
            out.append(Check("tool-shadowing", "name", None, f"its name (like the built-in {shadowed!r})"))
    desc = obj.get("description")
    if isinstance(desc, str):
        ref = _builtin_reference(desc, name if isinstance(name, str) else "")
        if ref is not None:
            out.append(Check("tool-reference", "description", preview(ref),
                             f"its description (names {ref!r})"))
    return out


# A built-in named in prose: backticked, quoted, or followed by "tool".
_REFERENCE = re.compile(r"[`'\"]([A-Za-z][\w.]{1,40})[`'\"]|\b([A-Za-z][\w.]{1,40})\s+tool\b")


def _builtin_reference(text: str, own: str) -> str | None:
    for m in _REFERENCE.finditer(text[:64 * 1024]):
        word = m.group(1) or m.group(2)
        if word != own and word in BUILTIN_TOOLS and skeleton(word) not in _WORDLIKE:
            return word
    return None


class ToolRegistry:
    """Which server listed which tool names first, for the cross-server checks (bounded)."""

    def __init__(self) -> None:
        self._owners: OrderedDict[str, dict[str, str]] = OrderedDict()  # server -> skeleton -> name

    def check(self, server: str, tool: dict[str, Any], *, exempt: bool = False) -> list[Check]:
        """Cross-server checks of one listed tool; remembers its name for later listings."""
        name = tool.get("name")
        if not isinstance(name, str):
            return []
        out: list[Check] = []
        sk = skeleton(name)
        if not exempt:
            for other, names in self._owners.items():
                if other == server or sk not in names:
                    continue
                theirs = names[sk]
                if theirs == name:
                    out.append(Check("tool-name-collision", "name", None,
                                     f"its name (also listed by {other})"))
                else:
                    out.append(Check("tool-shadowing", "name", None,
                                     f"its name ({name!r} reads like {theirs!r} of {other})"))
                break
        desc = tool.get("description")
        if isinstance(desc, str) and not exempt:
            for m in _REFERENCE.finditer(desc[:64 * 1024]):
                word = m.group(1) or m.group(2)
                owner = next((o for o, names in self._owners.items() if o != server
                              and names.get(skeleton(word)) == word), None)
                if owner is not None and word != name and len(skeleton(word)) >= 6 and (
                        "_" in word or "-" in word or any(c.isupper() for c in word[1:])):
                    out.append(Check("tool-reference", "description", preview(word),
                                     f"its description (names {word!r} of {owner})"))
                    break
        mine = self._owners.setdefault(server, {})
        mine.setdefault(sk, name)
        self._owners.move_to_end(server)
        while len(self._owners) > MAX_SERVERS:
            self._owners.popitem(last=False)
        return out
