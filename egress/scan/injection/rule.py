"""A phrase rule and its hit: a pattern over one normalisation view, with the contexts that
take the force out of a match (negation, reported speech, error messages, human places)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ahocorasick

from egress.scan.injection.keys import ANCHORS, KEYS
from egress.scan.injection.rules_action import SPECS as ACTION_SPECS
from egress.scan.injection.rules_override import SPECS as OVERRIDE_SPECS
from egress.scan.injection.rules_override import Spec
from egress.scan.injection.vocab import (
    BOTH,
    NARRATED,
    NEGATABLE,
    NEGATION_BEFORE,
    THIRD_PARTY_BEFORE,
    UNLESS_AFTER,
    UNLESS_BEFORE,
    gate_keys,
    may_match,
    option_doc,
    quoted_report,
    rx,
    scan_iter,
)

ANCHOR_WINDOW = 240


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    family: str
    level: int
    description: str
    pattern: re.Pattern[str]
    # "content": text coming back to the model (results); "tool": definitions (tools/prompts/
    # resources lists, server instructions). Most rules apply to both.
    where: frozenset[str]
    # Latin-script rules run on the folded views, the others on the unfolded one.
    latin: bool = True
    # Directives lose their force when negated ("never share your password") or when what
    # follows names a place a human puts a credential ("... in the Authorization header").
    negatable: bool = False
    unless_after: re.Pattern[str] | None = None
    unless_before: re.Pattern[str] | None = None
    # A rarer sub-pattern every match contains: the full pattern only runs around its hits.
    anchor: re.Pattern[str] | None = None
    # Substrings one of which every match contains: absent all, the pattern is not run.
    keys: tuple[str, ...] = ()
    # Reported speech about a third party ("attackers could read ...") is not a directive.
    narrated: bool = False
    # Unique per pattern (`family/what`; the family for act and score rules, one per family):
    # what the side tables key on. `id` is what a hit reports, shared by a family's patterns.
    pattern_id: str = ""

    def first(self, view: str, present: frozenset[str] | None = None,
              reports_exempt: bool = True) -> re.Match[str] | None:
        """The first accepted match in `view`; `present` is the set of keys found in it. With
        `reports_exempt`, matches inside a quotation reported as such are passed over; matches
        inside a command-line option's description always are (it describes the program)."""
        if self.keys and not (any(k in present for k in self.keys) if present is not None
                              else any(k in view for k in self.keys)):
            return None
        # The strings one of which every match consumes (read off the pattern): `present` holds
        # those found in the view too, so the test is a set lookup, not a scan per string.
        gate = gate_keys(self.pattern)
        if gate and (present.isdisjoint(gate) if present is not None else not may_match(self.pattern, view)):
            return None
        found = (scan_iter(self.pattern, view) if self.anchor is None else
                 (m for lo, hi in self._spans(view) for m in self.pattern.finditer(view, lo, hi)))
        for m in found:
            if (self.accepts(view, m)
                    and not (reports_exempt and quoted_report(view, m.start(), m.end()))
                    and not option_doc(view, m.start(), m.end())):
                return m
        return None

    def _spans(self, view: str) -> Iterator[tuple[int, int]]:
        if self.anchor is None:
            yield 0, len(view)
            return
        lo = hi = -1
        for a in self.anchor.finditer(view):
            start, end = max(0, a.start() - ANCHOR_WINDOW), a.end() + ANCHOR_WINDOW
            if start > hi:
                if hi >= 0:
                    yield lo, hi
                lo = start
            hi = max(hi, end)
        if hi >= 0:
            yield lo, hi

    def accepts(self, view: str, m: re.Match[str]) -> bool:
        if self.negatable and NEGATION_BEFORE.search(view, max(0, m.start() - 28), m.start()):
            return False
        if self.unless_before is not None and self.unless_before.search(
                view, max(0, m.start() - 60), m.start()):
            return False
        if self.narrated and THIRD_PARTY_BEFORE.search(view, max(0, m.start() - 50), m.start()):
            return False
        return not (self.unless_after is not None
                    and self.unless_after.match(view, m.end(), m.end() + 60))


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding of the scanner: the rule (its id is the reported family), the view it was
    found in (`text`, `base64:text`, `tag-characters`, ...) and the matched text."""

    rule: Rule
    view: str
    snippet: str
    # For `hidden-instruction`: the family of what was hidden; for act families: what was seen.
    detail: str | None = None


def compile_specs(specs: Iterable[Spec]) -> tuple[Rule, ...]:
    rules = tuple(Rule(rid, fam, level, desc, rx(pattern), where, latin, rid in NEGATABLE,
                       UNLESS_AFTER.get(rid), UNLESS_BEFORE.get(pid) or UNLESS_BEFORE.get(rid),
                       ANCHORS.get(pid), KEYS[pid], rid in NARRATED, pid)
                  for pid, rid, fam, level, desc, pattern, where, latin in specs)
    ids = [r.pattern_id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate injection pattern ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    return rules


@functools.cache
def rule_table() -> tuple[Rule, ...]:
    """Every phrase rule, compiled once on first use (hundreds of patterns: not at import)."""
    return compile_specs([*OVERRIDE_SPECS, *ACTION_SPECS])


def key_automaton(rules: Iterable[Rule]) -> Any:
    automaton = ahocorasick.Automaton()
    for key in {k for r in rules for k in (*r.keys, *gate_keys(r.pattern))}:
        automaton.add_word(key, key)
    automaton.make_automaton()
    return automaton


@functools.cache
def _rule_keys() -> Any:
    return key_automaton(rule_table())


def present_keys(view: str) -> frozenset[str]:
    """Every rule key occurring in `view`, in one pass."""
    return frozenset(key for _, key in _rule_keys().iter(view)) if view else frozenset()


# The families an injection finding names (`injection/<family>`), with what each catches: the
# rule id of every hit, and the key `mcp.actions.families` sets actions by.
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
