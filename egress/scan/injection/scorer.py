"""A weighted score of weak signals, for injections no single phrase rule names.

Literal rules catch the phrasings they were written for and miss paraphrases. Text that speaks
to a model leaves several weaker traces at once: it addresses an AI, gives it directives, refers
to its instructions, persona or output, asks for secrecy, secrets or a send to an outside
address, and fakes roles or delimiters. Each trace is one feature (a regular expression over
the folded text); a logistic model adds them up with weights fitted on the tuning split of
`tests/data/mcp-eval/` (`tests/data/mcp-eval/train.py`; weights in `injection_weights.json`).

Features are counted per window of text, not over a whole document, so traces scattered
through a long README do not add up to an injection; the best window decides, and only a
window holding a directive scores at all.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

WINDOW = 1200
MAX_SCORED_CHARS = 256 * 1024
WEIGHTS_FILE = Path(__file__).resolve().parents[2] / "data" / "injection_weights.json"

# name -> pattern over case-folded, whitespace-collapsed text (line breaks kept).
FEATURES: dict[str, str] = {
    # Who the text speaks to.
    "addressee-ai": r"\b(?:ai assistant|ai model|ai agent|an ai\b|the ai\b|dear ai|assistant|chatbot|"
                    r"language model|llms?\b|chatgpt|gpt-?\d?\b|claude|gemini|copilot|bard)\b",
    "addressee-model": r"\b(?:model|agent|bot)\b",
    "second-person": r"\byou(?:r|rs|rself)?\b",
    "you-directive": r"\byou (?:must|should|will|shall|need to|have to|are (?:required|to|expected)|"
                     r"may not|can now|are now|were|have been)\b",
    "i-want-you": r"\b(?:i (?:want|need|would like) you to|please (?:do|make|send|create|delete|transfer|"
                  r"forward|ignore|follow|provide|repeat|print|output|say|respond|reply|write|include|"
                  r"tell|give|list|reveal|share|act|pretend|remember|answer|perform|execute|run|visit|"
                  r"click|go)|your (?:new |real |only |primary |main )?(?:task|job|goal|mission|role|"
                  r"objective|purpose) is)\b",
    # What the text refers to: the model's own instructions, persona and output.
    "instruction-ref": r"\b(?:(?:previous|prior|above|earlier|original|initial|system|hidden|new|updated|"
                       r"real|secret|current|default|preceding|following) (?:instructions?|prompts?|"
                       r"directives?|rules|guidelines|task|orders|commands?)|system (?:prompt|message)|"
                       r"instructions (?:you|i) (?:received|were given|gave|got)|(?:task|request) (?:that )?"
                       r"i gave you|(?:initial|first|original) prompt|instructions you got)\b",
    "override-verb": r"\b(?:ignore|ignoring|disregard|forget|override|bypass|abandon|discard|set aside|"
                     r"no longer|instead)\b",
    "output-ref": r"\b(?:your|the|each|every) (?:response|reply|replies|responses|answer|answers|output|"
                  r"summary|final answer|next message|first message|message to the user)\b",
    "output-directive": r"\b(?:include|add|append|insert|mention|put|write|print|output|repeat|say|start|"
                        r"begin|end|prefix|sign|respond|reply|answer)\b[^.\n]{0,60}\b(?:in|into|at|to|"
                        r"with|of) (?:your|the|each|every) (?:response|reply|answer|output|summary|"
                        r"message)\b|\b(?:respond|reply|answer) (?:only )?with\b|\bprint (?:out )?(?:the "
                        r"(?:text|string|word|phrase|following)|only)\b",
    "persona": r"\b(?:act as|acting as|pretend|role-?play|persona|in character|stay in character|"
               r"break(?:ing)? character|you are now|from now on|simulate|imagine you|you are going to "
               r"(?:act|be|pretend)|you will (?:now )?(?:act|be|respond|answer|play))\b",
    "jailbreak-vocab": r"\b(?:dan|jailbreak\w*|jailbroken|unfiltered|uncensored|amoral|unrestricted|"
                       r"unethical|immoral|no (?:ethical|moral|restrictions|limits|filters|rules)|without "
                       r"(?:any )?(?:restrictions|limits|limitations|filters|censorship|warnings|rules)|"
                       r"(?:ethical|moral) (?:guidelines|principles|constraints)|content polic\w+|openai|"
                       r"developer mode|god mode|never refuse|not refuse|always (?:comply|answer|provide)|"
                       r"i'?m sorry|i apologi[sz]e|as an ai|free of all|any request)\b",
    "mode-switch": r"\b(?:test|debug|maintenance|developer|admin|diagnostic|god|sudo|unrestricted|safe|"
                   r"training|evaluation) ?mode\b|\bsafe_?mode\b",
    "secrecy": r"\b(?:do not|don't|never|without) (?:tell\w*|inform\w*|mention\w*|reveal\w*|notify\w*|"
               r"alert\w*|"
               r"let\w*|ask\w*|show\w*|disclos\w*) (?:\w+ ){0,2}(?:user|human|anyone|them|him|her|me)\b|"
               r"\b(?:secretly|silently|quietly|covertly|discreetly|without (?:the user|them|anyone) "
               r"(?:knowing|noticing))\b",
    "exfil-send": r"\b(?:send|email|e-mail|forward|transfer|upload|post|transmit|share|leak|exfiltrate|"
                  r"wire|pay)\b[^.\n]{0,100}\b(?:to|at|into)\b[^.\n]{0,40}(?:@|https?://|\biban\b|"
                  r"\b[a-z]{2}\d{2}[a-z0-9]{10,}\b|account|\b[\w-]+\.(?:com|net|org|io|xyz|ru|dev|co)\b)",
    "secret-noun": r"\b(?:passwords?|api ?keys?|secret|secrets|tokens?|credentials?|private key|ssh key|"
                   r"security code|2fa|otp|verification code|credit card|bank account|passport|"
                   r"social security|unique id|confidential|\.env|id_rsa)\b",
    "tool-call": r"\b(?:use|call|invoke|run|execute|using) (?:the )?[`'\"]?[a-z]+_[a-z_]+[`'\"]?(?: tool| "
                 r"function)?\b|\b(?:use|call|invoke) the (?:\w+ )?(?:tool|function)\b",
    "url": r"https?://|\bwww\.",
    "markdown-exfil": r"!\[[^\]\n]*\]\(https?://[^)\s]*[?&=][^)]*\)|<img [^>]*src=",
    "role-marker": r"(?:^|\n)\s*[#*\[(<]*\s*(?:system|user|assistant|human|ai|admin|developer|"
                   r"administrator|instruction|instructions)\s*[\])>*]*\s*:|\[(?:system|admin|inst)\]|"
                   r"<\|[a-z_]+\|>|<</?sys>>",
    "info-tag": r"</?\s*(?:information|important|instructions?|system|admin|secret|hidden|override|"
                r"note|task)\s*>",
    "urgency": r"\b(?:important|urgent|urgently|immediately|critical|mandatory|asap|extremely|at all "
               r"costs|no matter what|regardless)\b|!!!",
    "authority": r"\b(?:admin|administrator|system administrator|it department|security team|"
                 r"this is (?:an? )?(?:important |urgent )?(?:message|note|notice) from|message from me|"
                 r"signed,)\b",
    "fake-end": r"\b(?:end of (?:the )?(?:document|text|context|input|file|email|data|output|session|"
                r"conversation|results?)|<end of \w+>|new (?:task|session|conversation|instructions?))\b|"
                r"(?:^|\n)\s*(?:-{4,}|={4,}|#{4,}|\*{3,})",
    "before-task": r"\b(?:before|after|instead of) (?:you )?(?:can )?(?:solv\w*|do\w*|complet\w*|answer\w*|"
                   r"respond\w*|continu\w*|proceed\w*|summari[sz]\w*|translat\w*|return\w*)\b",
    "todo": r"(?:^|\n|[.:] )\s*(?:todo|note to self|p\.?s\.?|attention|nb)\s*[:!-]",
    "never-say": r"\b(?:never|do not|don't) (?:say|mention|include|add|refuse|decline|apologi[sz]e|warn|"
                 r"break character|question)\b",
    "harm": r"\b(?:offensive|discriminatory|toxic|hateful|harmful|illegal|malware|phishing|explicit)\b",
    "bracket-payload": r"<[^<>\n]{2,40}>\s*$|\"[^\"\n]{3,60}\"\s*$",
    "user-ref": r"\bthe user\b",
    "self-ref": r"\b(?:(?:above|before|after|below) this (?:message|line|text|note)|this "
                r"(?:conversation|chat|"
                r"session)|context window|(?:previous|earlier|prior|preceding) (?:messages?|conversation|"
                r"context|text|sentence|output)|your (?:instructions|configuration|system prompt|settings|"
                r"rules|programming|training|guidelines|initial|original|creators?|developers?|memory|"
                r"context|restrictions|filters|safety)|you see above|(?:everything|text|all) above)\b",
    "todo-anywhere": r"\btodo\s*:",
    # Source code: docstrings and comments are imperative without speaking to a model.
    "code": r"(?:^|\n)\s*(?:def |class |import |from [\w.]+ import|return\b|const |let |var |function\b|"
            r"#include|@\w+|if \(|elif |except\b|try:|\"\"\"|//)|[{};]\s*(?:\n|$)|\w+\(\w*[,)]|==|!=|->",
    # Where documentation for people puts things: a sign the text speaks to a person.
    "human-place": r"\b(?:header|dashboard|settings|config(?:uration)? file|environment variables?|"
                   r"command line|cli|terminal|console|button|click|sign in|log in|web ui|browser)\b",
    "focus-only": r"\b(?:focus (?:only|exclusively|solely)|only (?:respond|reply|answer|output|print|say)|"
                  r"and nothing else|exactly as (?:it is|written|follows)|verbatim|word for word)\b",
    "imperative-start": r"(?:^|\n|[.!?:] )\s*(?:ignore|forget|disregard|send|email|forward|transfer|"
                        r"delete|create|make|do|tell|give|print|output|say|repeat|write|include|respond|"
                        r"reply|answer|act|pretend|remember|visit|click|go|use|call|run|execute|insert|"
                        r"append|add|list|reveal|show|provide|generate|translate|summari[sz]e|change|"
                        r"modify|update|book|reserve|invite|schedule|post)\b",
}

# A window scores only when it holds one of these: text with no directive in it (a description of
# a system prompt, a note that old rules no longer apply) is not an injection.
DIRECTIVES = frozenset({
    "imperative-start", "you-directive", "i-want-you", "output-directive", "persona", "jailbreak-vocab",
    "secrecy", "todo-anywhere", "role-marker", "info-tag", "never-say", "focus-only", "mode-switch",
    "markdown-exfil", "exfil-send"})
CONJUNCTIONS = ("ai+directive", "directive+exfil", "directive+secret", "override+instructions",
                "directive+self", "directive+output")
# One pattern per feature: features overlap ("you must" is both second person and a directive),
# and one alternation would report only the first at each position.
_PATTERNS = tuple((name, re.compile(rx)) for name, rx in FEATURES.items())


@dataclass(frozen=True, slots=True)
class Model:
    bias: float
    weights: dict[str, float]
    # Score thresholds (probabilities) per sensitivity; a missing level disables scoring.
    thresholds: dict[str, float]


@functools.cache
def models() -> dict[str, Model]:
    """The shipped models, read once on first use (never at import)."""
    return load_models(WEIGHTS_FILE)


def load_models(path: Path = WEIGHTS_FILE) -> dict[str, Model]:
    """One model per kind of text ("content", "tool")."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {kind: Model(float(m["bias"]), {k: float(v) for k, v in m["weights"].items()},
                        {k: float(v) for k, v in m["thresholds"].items()})
            for kind, m in data["models"].items()}


def feature_hits(text: str) -> list[tuple[int, int, str]]:
    """(start, end, feature) for every feature match in folded `text`."""
    out = [(m.start(), m.end(), name) for name, rx in _PATTERNS
           for m in rx.finditer(text, 0, MAX_SCORED_CHARS)]
    out.sort()
    return out


def features_of(hits: list[tuple[int, int, str]]) -> dict[str, float]:
    """Feature values of one window: presence, and a capped count for the frequent ones."""
    counts: dict[str, int] = {}
    for _, _, name in hits:
        counts[name] = counts.get(name, 0) + 1
    values = {name: 1.0 for name in counts}
    directive = ("imperative-start" in counts or "you-directive" in counts or "i-want-you" in counts
                 or "output-directive" in counts or "todo-anywhere" in counts)
    # Conjunctions a linear model cannot express: a directive, and what it is about.
    for name, together in (
            ("ai+directive", "addressee-ai" in counts and directive),
            ("directive+exfil", "exfil-send" in counts and directive),
            ("directive+secret", "secret-noun" in counts and directive),
            ("override+instructions", "override-verb" in counts and (
                "instruction-ref" in counts or "self-ref" in counts)),
            ("directive+self", "self-ref" in counts and directive),
            ("directive+output", "output-ref" in counts and directive)):
        if together:
            values[name] = 1.0
    for name in ("second-person", "imperative-start", "jailbreak-vocab", "persona"):
        if name in counts:
            values[name] = min(counts[name], 6) / 2.0
    return values


def probability(model: Model, values: dict[str, float]) -> float:
    z = model.bias + sum(model.weights.get(k, 0.0) * v for k, v in values.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True, slots=True)
class Scored:
    probability: float
    start: int
    end: int
    features: tuple[str, ...]


def best_window(model: Model, text: str) -> Scored | None:
    """The highest-scoring window of `text` (already folded), or None when nothing matched."""
    # Most text holds no directive at all: those few patterns run first, the rest only then.
    if not any(rx.search(text, 0, MAX_SCORED_CHARS) for name, rx in _PATTERNS if name in DIRECTIVES):
        return None
    hits = feature_hits(text)
    best: Scored | None = None
    # Windows start at a hit and hold the hits within WINDOW characters of it.
    positions = [h[0] for h in hits]
    last = positions[-1]
    step = max(1, len(hits) // 64)  # bounded work on long texts
    for i in range(0, len(hits), step):
        s = positions[i]
        window = hits[i:bisect.bisect_left(positions, s + WINDOW, i)]
        if not any(h[2] in DIRECTIVES for h in window):
            continue
        p = probability(model, features_of(window))
        if best is None or p > best.probability:
            best = Scored(p, s, max(h[1] for h in window), tuple(sorted({h[2] for h in window})))
        if s + WINDOW > last:
            break  # every later window is a subset of this one
    return best
