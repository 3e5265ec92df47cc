"""The families an injection finding names (`injection/<family>`), with what each catches: the
rule id of every hit, and the key `mcp.actions.families` sets actions by."""

from __future__ import annotations

import re

from egress.scan.injection.rule import Rule
from egress.scan.injection.vocab import BOTH

_NEVER = re.compile(r"(?!)")

# Act-directing families first: what the injected text makes the agent do.
ACT_FAMILIES: dict[str, str] = {
    "code-insertion": "Asks the agent to add a snippet to the code it writes or to run a command, "
    "where the snippet sends local data out, runs downloaded or encoded code, opens a reverse "
    "shell, persists itself, destroys or encrypts files (Python, JavaScript/TypeScript, shell, "
    "PowerShell; judged statically by what the code does).",
    "exfiltration-request": "Asks the agent to send, upload or include data (secrets, credential "
    "files, the conversation, the user's files) to an outside address, or to put it in a URL or "
    "image link; asks it for a third person's personal data or another user's session.",
    "tool-call-request": "Asks the agent to call a tool or fetch an outside address, often as a "
    "fake system or developer note, or to run an errand on accounts, databases or permissions (a "
    "query carrying injected SQL, a claim of admin rights, an act with its approval step dropped).",
    "task-hijack": "Asks the agent to answer something else or change its answer: unrelated tasks, "
    "translations and encodings, sentences or links added to the answer, claims to pass on, its "
    "opinions, a new goal.",
    "hidden-instruction": "An instruction hidden from the human reader: in an HTML comment or "
    "hidden element, a link title or alt text, Unicode tag characters, invisible characters, or "
    "an encoded (base64/hex) blob.",
}

ACT_RULES: dict[str, Rule] = {
    family: Rule(family, family, 1 if family in ("code-insertion", "exfiltration-request",
                                                 "tool-call-request", "hidden-instruction") else 2,
                 description, _NEVER, BOTH, pattern_id=family)
    for family, description in ACT_FAMILIES.items()
}

RULES: dict[str, str] = {
    **ACT_FAMILIES,
    "instruction-override": "Tells the model to ignore, forget or replace its instructions, or claims "
    "precedence over them (English, Chinese, Japanese, Korean, Russian, French, German, Spanish, "
    "Portuguese, Italian).",
    "role-impersonation": "Impersonates the system, the developer or another persona, switches the model "
    "into an unrestricted mode, or addresses AI agents with directives.",
    "fake-delimiter": "Chat-template tokens, fake conversation turns and banners that fake the end of "
    "the context or of a tool's output.",
    "credential-solicitation": "Asks the model to reveal or send secrets, its system prompt or its "
    "context.",
    "credential-path": "Directs the model to credential files, the environment or stored secrets.",
    "covert-action": "Tells the model to hide what it does from the user, or to act against the user.",
    "encoded-instructions": "Asks the model to decode something and act on it.",
    "prompt-harvest": "Asks for the system prompt, reasoning or conversation to be collected or returned.",
    "directive-score": "A learned score of weaker signals in one window of text (directives addressed "
    "to the model, references to its instructions, answer or tools, secrecy, secrets, outside "
    "addresses, fake roles and delimiters) over the sensitivity's threshold; medium and high only.",
}
