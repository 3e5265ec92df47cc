"""Tool poisoning: every signal in one definition (a tool, prompt, resource, or server
instructions) that it carries instructions for the model or is shaped to harvest data."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from egress.redact import preview
from egress.scan.injection import Hit, InjectionScanner
from egress.scan.mcp.definitions import REASONS as DEFINITION_REASONS
from egress.scan.mcp.definitions import definition_checks
from egress.scan.mcp.text import visible_strings
from egress.scan.normalize import normalize

SHELL_NAMES = frozenset({
    "bash", "sh", "zsh", "fish", "dash", "ksh", "csh", "tcsh", "shell", "cmd", "cmd.exe",
    "powershell", "pwsh", "curl", "wget", "ssh", "scp", "sftp", "rsync", "nc", "ncat", "netcat",
    "socat", "telnet", "sudo", "su", "doas", "eval", "exec", "rm", "rmdir", "dd", "mkfs", "chmod",
    "chown", "chgrp", "cat", "mv", "cp", "kill", "pkill", "killall", "python", "python3", "perl",
    "ruby", "node", "php", "osascript", "crontab", "at", "systemctl", "git", "docker", "kubectl",
    "nmap", "base64", "xargs", "tee", "awk", "sed", "find", "env", "printenv", "export", "source",
})

_EXFIL_PARAM = re.compile(
    r"^(?:side_?notes?|system_?prompts?|sys_?prompt|system_?(?:message|instructions)|"
    r"developer_?(?:message|prompt|instructions)|(?:conversation|chat|message)_?(?:history|log|transcript|"
    r"so_?far)|previous_?(?:messages|instructions|context)|prior_?messages|full_?(?:context|conversation)|"
    r"context_?window|chain_?of_?thought|reasoning_?trace|hidden_?\w+|secret_?(?:notes?|instructions)|"
    r"internal_?(?:notes?|instructions|context)|model_?(?:instructions|context)|ssh_?(?:key|private_?key)s?|"
    r"private_?keys?|id_?rsa|env_?(?:vars?|variables|dump|file)|dotenv|credentials?_?(?:file|dump|"
    r"contents?)|mcp_?config|(?:other|all)_?tool_?(?:outputs|results)|user_?secrets?)$")

_EMOJI_JOINERS = frozenset("\u200d\ufe0f\ufe0e")


def suspicious_invisible(text: str) -> bool:
    """Invisible, bidi-control or tag characters, except the joiners emoji sequences use."""
    if text.isascii():
        return False
    prev = ""
    for c in text:
        o = ord(c)
        if c in _EMOJI_JOINERS:
            if not (prev and (unicodedata.category(prev) in ("So", "Sk") or ord(prev) > 0x1F000)):
                return True
        elif 0xE0000 <= o <= 0xE007F:
            if prev != "\U0001f3f4" and not (0xE0000 <= ord(prev or " ") <= 0xE007F):
                return True
        elif unicodedata.category(c) == "Cf" and c not in "\u00ad":
            return True
        prev = c
    return False


@dataclass(frozen=True, slots=True)
class DefinitionCheck:
    """Poisoning findings of one definition (a tool, prompt, resource, or server instructions)."""

    rule: str
    path: str
    evidence: str | None
    what: str


def _family_rule(hit: Hit) -> str:
    if hit.view.startswith(("base64", "hex")):
        return "poison-encoded-instructions"
    if hit.view in ("tag-characters", "invisible-as-space"):
        return "poison-invisible-text"
    return f"poison-{hit.rule.family}"


REASONS = {
    "poison-code-insertion": "a request to add or run code that must never come from a tool",
    "poison-exfiltration-request": "instructions to send data to an outside address",
    "poison-tool-call-request": "instructions to call a tool or fetch an outside address",
    "poison-task-hijack": "instructions to answer something else or change the model's answers",
    "poison-hidden-instruction": "hidden instruction tags, notes to the model or hidden text",
    "poison-instruction-override": "instructions to ignore the model's instructions",
    "poison-role-impersonation": "text impersonating the system or a privileged role",
    "poison-fake-delimiter": "chat-template delimiters",
    "poison-credential-solicitation": "a request for secrets or the system prompt",
    "poison-credential-path": "directions to credential files or the environment",
    "poison-covert-action": "instructions to hide actions from the user",
    "poison-encoded-instructions": "instructions hidden in an encoded blob",
    "poison-prompt-harvest": "a request for the system prompt, reasoning or conversation",
    "poison-tool-shadowing": "instructions to prefer it over, or rewire, other tools",
    "poison-directive-score": "text that reads as directives to the model (learned score)",
    "poison-invisible-text": "invisible or bidirectional-control characters",
    "poison-name-mimicry": "a name that mimics a shell binary",
    "poison-exfil-parameter": "a parameter shaped to receive secrets or the conversation",
    **DEFINITION_REASONS,
}


def check_definition(obj: dict[str, Any], scanner: InjectionScanner, *, is_tool: bool,
                     name_exempt: bool = False) -> list[DefinitionCheck]:
    """Every poisoning signal in one definition. Empty when it is clean."""
    out: list[DefinitionCheck] = []
    strings = list(visible_strings(obj, ""))
    name = obj.get("name")
    if is_tool and isinstance(name, str) and not name_exempt:
        folded = normalize(name).strip().lower()
        if folded in SHELL_NAMES or folded.removesuffix(".exe") in SHELL_NAMES:
            out.append(DefinitionCheck("poison-name-mimicry", "name", None, "name"))
    for path, text in strings:
        if suspicious_invisible(text):
            out.append(DefinitionCheck("poison-invisible-text", path, preview(text), path))
            break
    if is_tool:
        for path, text in strings:
            if path.endswith("#key") and ".properties." in f".{path}" and _EXFIL_PARAM.match(
                    normalize(text).lower().replace("-", "_")):
                out.append(DefinitionCheck("poison-exfil-parameter", path.removesuffix("#key"),
                                           None, path.removesuffix("#key")))
                break
    joined = "\n".join(text for _, text in strings)
    hit = scanner.scan(joined)
    if hit is not None:
        where = next((p for p, t in strings if scanner.scan(t) is not None), "definition")
        out.append(DefinitionCheck(_family_rule(hit), where.removesuffix("#key"), preview(hit.snippet),
                                   where.removesuffix("#key")))
    out += [DefinitionCheck(c.rule, c.path, c.evidence, c.what)
            for c in definition_checks(obj, is_tool=is_tool, name_exempt=name_exempt)]
    return out
