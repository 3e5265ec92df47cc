"""Features of the learned injection score, from one pass of a keyword automaton over the
folded view.

Each keyword belongs to a class (who the text speaks to, what verb it uses, what it is about);
a verb counts as a directive when it opens a clause or follows a request frame ("please",
"could you", "you must"). Features are counted per window of text, so traces scattered through
a long document do not add up; the windows start at directive verbs and the best one decides.
One automaton pass plus a loop over the (few) keyword hits keeps the score under a millisecond
per 10 KB.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick

WINDOW = 600
MAX_SCORED_CHARS = 256 * 1024
MAX_WINDOWS = 64

# class -> keywords (folded text; matched on word boundaries).
CLASSES: dict[str, tuple[str, ...]] = {
    "ai": ("ai", "a.i.", "assistant", "assistants", "agent", "agents", "llm", "llms", "chatbot", "chatgpt",
           "gpt", "claude", "copilot", "gemini", "language model", "ai model", "ai assistant", "bot",
           "automated tools", "automated agents", "coding agent", "coding assistants", "whoever generates"),
    "you": ("you", "your", "yourself"),
    "user": ("the user", "user's", "the human", "the customer", "the requester"),
    "polite": ("please", "kindly", "could you", "would you", "can you", "i want you", "i need you",
               "i'd like you", "make sure", "be sure", "don't forget", "do not forget", "remember to",
               "go ahead and", "feel free to", "would be great if you", "would help", "it is required",
               "you are asked", "you are required", "you are instructed"),
    "modal": ("must", "have to", "has to", "need to", "needs to", "required", "mandatory", "should",
              "shall", "is to", "are to", "is expected", "are expected", "ought to"),
    "urgent": ("important", "urgent", "urgently", "immediately", "right now", "asap", "critical",
               "at once", "!!!", "right away", "without delay"),
    "timing": ("before answering", "before you answer", "before responding", "before you respond",
               "before replying", "before you reply", "before summarizing", "before summarising",
               "before you continue", "before continuing", "before proceeding", "before you proceed",
               "then answer", "then reply", "then respond", "then continue", "from now on",
               "when summarizing", "when summarising", "when answering", "when responding",
               "when you answer", "when you respond", "at this point", "only then", "first of all"),
    "system": ("system", "developer", "admin", "administrator", "system note", "system message",
               "note to", "message to", "note for", "directive", "maintainer", "operator",
               "system notice", "developer message", "admin message"),
    "tag": ("<system", "<instructions", "<important", "[system]", "[inst]", "<|", "<!--",
            "[developer", "<assistant", "</system", "[admin", "<tool_call", "<function_call",
            "\"function_call\"", "\"tool_calls\"", "\"tool_call\"", "\"performed_by\""),
    "output": ("your answer", "your response", "your reply", "your output", "your summary", "your code",
               "your solution", "your final answer", "each response", "every response", "each answer",
               "every answer", "the answer", "the response", "in your", "your translation", "your responses",
               "your replies", "your answers", "the code you", "your whole response", "your entire response",
               "your entire answer", "your whole answer", "end of your", "start of your", "beginning of your",
               "every reply", "each reply", "your next message"),
    "instead": ("instead", "rather than", "instead of"),
    "ignore": ("ignore", "disregard", "forget", "bypass", "override", "no longer", "ignoring"),
    "instruction": ("instructions", "instruction", "prompt", "system prompt", "rules", "guidelines",
                    "previous instructions", "task", "new task", "your task", "original task"),
    "v-exec": ("run", "execute", "launch", "install", "paste", "eval", "gets executed", "be executed"),
    "v-include": ("add", "include", "insert", "append", "prepend", "merge", "incorporate", "integrate",
                  "embed", "inject", "upgrade", "apply"),
    "v-send": ("send", "post", "upload", "forward", "email", "e-mail", "transmit", "submit", "share",
               "relay", "leak", "exfiltrate", "transfer", "sync", "attach", "collect", "gather", "back up",
               "mirror", "replicate", "archive", "export", "push"),
    "v-fetch": ("visit", "open", "fetch", "browse", "navigate", "download", "load", "click", "go to"),
    "v-call": ("call", "invoke", "trigger", "use"),
    "v-create": ("write", "compose", "generate", "create", "produce", "draft", "tell", "give", "list",
                 "recommend", "promote", "advertise", "mention", "say", "state", "claim", "print",
                 "output", "repeat", "describe", "explain"),
    "v-transform": ("translate", "encode", "convert", "rewrite", "reverse", "summarize", "summarise",
                    "answer", "respond", "reply", "classify", "compute", "calculate", "solve", "spell"),
    "creative": ("poem", "story", "joke", "song", "haiku", "limerick", "essay", "recipe", "riddle",
                 "slogan", "tweet", "lyrics", "fun fact", "sonnet", "rap"),
    "lang": ("french", "german", "spanish", "italian", "chinese", "japanese", "russian", "portuguese",
             "base64", "hex", "rot13", "emoji", "emojis", "backwards", "morse", "pig latin", "uppercase",
             "reverse order", "letter by letter"),
    "secret": ("password", "passwords", "token", "tokens", "credential", "credentials", "secret",
               "secrets", "api key", "api keys", "private key", "ssh", ".env", "cookie", "cookies",
               "security code", "credit card", "id_rsa", "aws", "environment variables", "2fa", "otp",
               "database_url", "connection string", "kubeconfig", ".npmrc", "git config", "signing key",
               "dsn", ".kube", "session cookies"),
    "data": ("conversation", "history", "emails", "contacts", "files", "inbox", "calendar", "messages",
             "personal", "home directory", "chat", "transcript", "everything above"),
    "toolword": ("tool", "tools", "function", "tool call", "tool_call", "function call", "plugin"),
    "url": ("http://", "https://", "www."),
    "at": ("@",),
    "hide": ("secretly", "silently", "quietly", "covertly", "discreetly", "don't tell", "do not tell",
             "do not mention", "don't mention", "without telling", "without mentioning", "without asking",
             "no need to mention", "do not inform", "don't inform", "keep this"),
    "narrative": ("attacker", "attackers", "malicious", "advisory", "vulnerability", "cve", "researchers",
                  "exploit", "phishing", "for example", "e.g.", "such as", "reported", "was found", "scam",
                  "example of", "quoted"),
    "code": ("def", "import", "return", "class", "=>", "==", "self.", "const", "function(", "();", "{",
             "}", "];", "elif", "null", "none", "true", "false"),
    "doc": ("pip install", "npm install", "documentation", "docs", "see also", "usage", "returns",
            "parameters", "arguments", "default", "example", "version", "changelog", "release", "deprecated",
            "configuration", "option", "options"),
    "greeting": ("hi", "hello", "dear", "thanks", "thank you", "regards", "best", "cheers", "sincerely"),
    "question": ("what is", "who is", "how many", "how much", "what are", "which is", "?"),
    "persona": ("act as", "acting as", "pretend", "role-play", "roleplay", "role play", "persona",
                "in character", "stay in character", "you are now", "simulate", "imagine you",
                "from now on you", "you will now", "you are going to"),
    "jailbreak": ("dan", "jailbreak", "jailbroken", "unfiltered", "uncensored", "amoral", "unrestricted",
                  "unethical", "no restrictions", "without restrictions", "developer mode", "god mode",
                  "never refuse", "as an ai", "i'm sorry", "content policy", "openai", "no rules",
                  "no limits", "without any restrictions", "no ethical", "no moral", "any request",
                  "immoral"),
    "self-ref": ("your instructions", "your programming", "your guidelines", "your rules", "your training",
                 "your restrictions", "your creators", "your developers", "this conversation",
                 "previous messages", "your system prompt", "your configuration", "your filters",
                 "your original", "your initial", "above this", "everything above", "text above"),
    "fake-end": ("end of document", "end of text", "end of context", "end of input", "new task",
                 "new instructions", "new session", "end of email", "----", "====", "####", "end of the"),
    "note": ("todo:", "p.s.", "ps:", "note:", "nb:", "attention:", "important:", "reminder:"),
    "promo": ("offer", "offers", "discount", "deal", "deals", "coupon", "promo", "promo code", "sale",
              "% off", "buy now", "limited time", "best price", "exclusive", "sponsored", "free trial",
              "best option", "best choice", "shop", "store"),
    "scam": ("verify your", "account is locked", "account has been", "suspended", "confirm your identity",
             "click here", "claim your", "prize", "gift card", "wire transfer", "bitcoin", "crypto",
             "locked", "verify it"),
    "ask-model": ("tell me", "what is", "what's", "who was", "who is", "how do", "give me", "show me",
                  "let me know"),
    # The user's task pushed aside, and work no document asks of its reader (task hijacks).
    "displace": ("instead of answering", "rather than answering", "instead of summarizing",
                 "instead of summarising", "instead of responding", "the user's question",
                 "the user's request", "original request", "original question", "original task",
                 "new task:", "the question above", "the request above"),
    "unrelated": ("capital of", "plot of", "sentiment of", "multiplied by", "all caps", "capital letters",
                  "only in", "emojis only", "in emojis", "tell me a", "tell us a", "like a pirate",
                  "fun fact", "in rhymes"),
    "ai-addressed": ("note to the ai", "note for the ai", "note to the assistant", "note for the assistant",
                     "if you are an ai", "if you are an assistant", "if you're an ai", "ai reading this",
                     "assistant reading this", "agent reading this", "dear ai", "dear assistant",
                     "attention ai", "to the ai", "to the assistant", "hey assistant", "hey ai",
                     "ai agents", "the assistant should", "the assistant must", "the agent should",
                     "the agent must", "the ai should", "the ai must", "on behalf of the user"),
}
VERBS = ("v-exec", "v-include", "v-send", "v-fetch", "v-call", "v-create", "v-transform")
# Windows start at a directive verb; nothing else opens one.
_FRAME = frozenset({"polite", "modal"})
_CLAUSE_START = frozenset("\n.!?:;,-*>\"'([`|")


@functools.cache
def _automaton() -> Any:
    """Keyword -> (length, classes, is a verb, is a request frame, needs a boundary before,
    needs a boundary after)."""
    automaton = ahocorasick.Automaton()
    table: dict[str, list[str]] = {}
    for cls, words in CLASSES.items():
        for w in words:
            table.setdefault(w, []).append(cls)
    for w, classes in table.items():
        automaton.add_word(w, (len(w), tuple(classes), any(c in VERBS for c in classes),
                               bool(_FRAME.intersection(classes)), w[0].isalnum(), w[-1].isalnum()))
    automaton.make_automaton()
    return automaton


# (start, end, classes, used as a directive)
KeywordHit = tuple[int, int, tuple[str, ...], bool]


def keyword_hits(view: str) -> list[KeywordHit]:
    """Every keyword on word boundaries in `view`, verbs marked when used as directives."""
    text = view[:MAX_SCORED_CHARS]
    n = len(text)
    out: list[KeywordHit] = []
    append = out.append
    last_frame_end = -100
    for end_idx, (length, classes, verb, frame, open_start, open_end) in _automaton().iter(text):
        start = end_idx - length + 1
        if open_start and start > 0:
            c = text[start - 1]
            if c.isalnum() or c == "_":
                continue
        if open_end and end_idx + 1 < n:
            c = text[end_idx + 1]
            if c.isalnum() or c == "_":
                continue
        directive = False
        if verb and not (end_idx + 1 < n and text[end_idx + 1] in "\"'_"):  # not a JSON key
            before = text[max(0, start - 3):start].rstrip(" ")
            directive = not before or before[-1] in _CLAUSE_START or start - last_frame_end <= 12
        if frame:
            last_frame_end = end_idx + 1
        append((start, end_idx + 1, classes, directive))
    return out


# Conjunctions a linear model cannot express: a directive, and what it is about.
CONJUNCTIONS: tuple[tuple[str, str], ...] = (
    ("directive", "ai"), ("directive", "ai-addressed"), ("directive", "output"), ("directive", "system"),
    ("directive", "tag"), ("directive", "timing"), ("directive", "user"), ("directive", "urgent"),
    ("directive", "instead"), ("directive", "hide"), ("directive", "secret"), ("directive", "url"),
    ("d-send", "secret"), ("d-send", "data"), ("d-send", "url"), ("d-send", "at"), ("d-include", "output"),
    ("d-exec", "url"), ("d-create", "creative"), ("d-transform", "lang"), ("d-create", "output"),
    ("d-transform", "output"), ("d-call", "toolword"), ("d-fetch", "url"), ("ignore", "instruction"),
    ("d-create", "user"), ("polite", "creative"), ("polite", "lang"), ("question", "directive"),
    ("d-create", "url"), ("output", "lang"), ("output", "creative"), ("d-create", "promo"),
    ("d-create", "scam"), ("directive", "promo"), ("directive", "scam"), ("directive", "ask-model"),
    ("instruction", "directive"), ("directive", "persona"), ("directive", "jailbreak"),
    ("ignore", "self-ref"), ("directive", "self-ref"), ("directive", "fake-end"), ("directive", "note"),
    ("persona", "jailbreak"), ("directive", "displace"), ("directive", "unrelated"),
    ("polite", "unrelated"), ("displace", "creative"), ("displace", "unrelated"), ("d-create", "unrelated"),
    ("d-transform", "unrelated"),
)
_D = {"v-exec": "d-exec", "v-include": "d-include", "v-send": "d-send", "v-fetch": "d-fetch",
      "v-call": "d-call", "v-create": "d-create", "v-transform": "d-transform"}
_COUNTED = ("directive", "you", "code", "doc", "greeting")


def window_features(hits: Iterable[KeywordHit]) -> dict[str, float]:
    """Feature values of one window: presence of each class and of directive verbs by class,
    capped counts of the frequent ones, and the conjunctions."""
    counts: dict[str, int] = {}
    for _, _, classes, directive in hits:
        for c in classes:
            counts[c] = counts.get(c, 0) + 1
            if directive and c in _D:
                counts[_D[c]] = counts.get(_D[c], 0) + 1
                counts["directive"] = counts.get("directive", 0) + 1
    values = {name: 1.0 for name in counts}
    for name in _COUNTED:
        if name in counts:
            values[name] = min(counts[name], 8) / 4.0
    for a, b in CONJUNCTIONS:
        if a in counts and b in counts:
            values[f"{a}+{b}"] = 1.0
    return values


def feature_names() -> list[str]:
    """Every feature a model may weigh, in a stable order."""
    names = [*CLASSES, "directive", *_D.values()]
    return [*dict.fromkeys(names), *(f"{a}+{b}" for a, b in CONJUNCTIONS)]


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    values: dict[str, float]


def windows(view: str) -> list[Window]:
    """The windows worth scoring: one per directive verb (bounded; anchors closer than a
    quarter window share one), holding the keyword hits from WINDOW/2 before it to WINDOW
    after it."""
    hits = keyword_hits(view)
    starts = [i for i, h in enumerate(hits) if h[3]]
    if not starts:
        return []
    out = []
    lo = 0
    last_anchor = -WINDOW
    for i in starts:
        anchor = hits[i][0]
        if anchor - last_anchor < WINDOW // 4:
            continue
        last_anchor = anchor
        while hits[lo][1] < anchor - WINDOW // 2:
            lo += 1
        hi = i
        while hi + 1 < len(hits) and hits[hi + 1][0] <= anchor + WINDOW:
            hi += 1
        chosen = hits[lo:hi + 1]
        out.append(Window(chosen[0][0], chosen[-1][1], window_features(chosen)))
        if len(out) >= MAX_WINDOWS:
            break
    return out
