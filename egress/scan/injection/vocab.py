"""Building blocks of the phrase rules: word classes matched on case-folded, whitespace-collapsed
text, and the contexts that take the force out of a directive (negation, reported speech, error
messages, documentation for people)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from re import _constants as _C  # type: ignore[attr-defined, unused-ignore]
from re import _parser  # type: ignore[attr-defined, unused-ignore]
from typing import Any

import ahocorasick


def rx(*parts: str) -> re.Pattern[str]:
    return re.compile("".join(parts), re.DOTALL)


NEGATION_BEFORE = re.compile(r"\b(?:never|not|don't|dont|do not|avoid|cannot|can't)\b[^.;!?\n]{0,20}$")
# LLM API docs: the conversation goes in the API's own `messages` parameter (relays nothing).
CONVERSATION_PARAM = re.compile(r"\b(?:conversation|chat history|transcript)\b[^.\n]{0,60}?['\"`]"
                                r"(?:messages|history|chat_history|conversation)['\"`]\s+"
                                r"(?:parameter|param|argument|field)\b")
# A directive put as the AI's duty in the third person ("the assistant shall modify ...", "the
# agent is required to run ...") or as the reader's own earlier promise ("as you mentioned earlier,
# you would delete ..."): the verb after it opens a clause as much as an imperative does.
AI_DUTY = re.compile(
    r"(?:\b(?:the|this|any|every|each) (?:ai |llm |coding )?(?:assistant|agent|model|ai|llm|copilot|bot) "
    r"(?:shall|must|is (?:required|instructed|expected|directed|obliged|authori[sz]ed) to|is to|has to|"
    r"needs to)|\bas (?:you|we) (?:mentioned|said|agreed|promised|confirmed|discussed)(?: earlier| before| "
    r"previously)?,? you(?:'d| would| will| agreed to| promised to| said you would))"
    r"\s+(?:now\s+|immediately\s+|first\s+|then\s+)?$"
    # A fake system label right before the verb: "system_cmd::delete ...", "[admin notice]: run ...".
    r"|\b(?:system|developer|admin|administrator|operator|root)(?:[ _-]\w+)?\s*[\]>]?\s*::?\s*$")
# What follows a credential in documentation written for humans.
HUMAN_PLACE = rx(r"\W{0,3}(?:(?:in|into|inside|under|on|at|via|with|using|to|by)\W+(?:[\w'-]+\W{1,3}){0,3}?"
                   r"(?:header|field|dashboard|settings|form|input|text ?box|click\w*|icon|toggle|"
                   r"config(?:uration)?(?: file)?|environment|\.env\b(?!\.(?:example|sample|template|dist|"
                   r"defaults?)\b)|flag|option|cli|command line|terminal|"
                   r"page|console|portal|ui|button|panel|tab|menu|keychain|password manager|vault|with `|"
                   r"using `|via `)|\W{0,3}manually)")


BOTH = frozenset({"content", "tool"})
CONTENT = frozenset({"content"})
TOOL = frozenset({"tool"})

# Building blocks. Text is case-folded and whitespace-collapsed before matching.
W = r"(?:[\w'’-]+\W{1,3})"  # one filler word and the separator after it
OVERRIDE_VERB = (r"(?:ignore|ignoring|disregard|disregarding|forget|forgetting|bypass|override|"
                  r"overrule|neglect|discard|abandon|dismiss|set aside|throw out|pay no attention to|"
                  r"stop following|do not follow|don't follow|dont follow|do not obey|don't obey|"
                  r"no longer follow)")
STRONG_NOUN = (r"(?:instructions?|prompts?|directives?|directions|guidelines|guidance|guardrails|"
                r"programming|"
                r"system prompt|system message|safety (?:rules|guidelines|filters|measures)|"
                r"content polic(?:y|ies)|training|conditioning|everything (?:above|before|else))")
WEAK_NOUN = (r"(?:rules|context|messages?|commands?|text|content|polic(?:y|ies)|restrictions|"
              r"constraints|orders|requests?|tasks?|limitations|filters)")
TEMPORAL = (r"(?:previous(?:ly)?|prior|preceding|above|earlier|former|foregoing|original|initial|"
             r"old|existing|current|given|provided|system|developer|your|my|these|those|"
             r"all (?:of )?(?:the|your) (?:previous|prior|above|earlier))")
ANY_QUAL = r"(?:all|any|every|the|your|my|these|those|of the|" + TEMPORAL[3:]

SENSITIVE = (r"(?:api[ _-]?keys?|access[ _-]?keys?|secret[ _-]?keys?|private[ _-]?keys?|ssh[ _-]?keys?|"
              r"keys?|tokens?|passwords?|passphrases?|passwd|credentials?|secrets?|cookies?|session ids?|"
              r"auth(?:entication|orization)? (?:headers?|tokens?|codes?)|bearer tokens?|otp|2fa codes?|"
              r"seed phrases?|mnemonics?|wallet|env(?:ironment)? (?:vars?|variables)|env vars?|\.env|"
              r"dotenv|config(?:uration)? files?|ssh|gpg|pgp|keychain|credential store|vault|"
              r"[a-z0-9]+_(?:token|key|secret|password|pat)s?|[a-z0-9]*(?:database|db|postgres|pg|mysql|mongo|"
              r"redis|amqp|broker|sql)[a-z0-9]*_(?:url|uri|dsn)|connection strings?|dsn|kubeconfig|"
              r"git config|"
              r"signing keys?|(?:github|gitlab|npm|pypi|slack|discord|aws|gcp|azure|openai|stripe|registry) "
              r"tokens?)")
# What the model holds that a tool has no business receiving.
CONTEXT_CORE = (r"system prompt|system message|system instructions|developer (?:message|prompt|"
                 r"instructions)|(?:your|the|hidden|original|initial|full|internal) instructions|"
                 r"chain[ -]of[ -]thought(?: reasoning)?|(?:internal|hidden|private) (?:reasoning|state|"
                 r"context|notes|thoughts|instructions)|reasoning (?:trace|steps)|"
                 r"conversation(?: history| context| log| state| so far)?|chat (?:history|log|context)|"
                 r"message history|previous messages|prior messages|(?:full|entire|whole) context|"
                 r"(?:chat|conversation|session|call|meeting) transcripts?|transcripts? of (?:the|this) "
                 r"(?:chat|conversation|session)|"
                 r"context window|tool (?:outputs|results|responses)|other tools'? (?:outputs|results)|"
                 r"response contents|user(?:'s)? (?:files|messages|emails)")
# ... and, when it goes to an outside address, anything gathered wholesale.
CONTEXT_DATA = (rf"(?:{CONTEXT_CORE}|all (?:collected |gathered |extracted )?(?:data|"
                 r"information|results|outputs|responses|contents|files|messages)|"
                 r"all (?:\w+ ){0,2}(?:queries|results|messages|responses|conversations?|searches|prompts)|"
                 r"(?:collected|gathered|extracted|harvested|captured|scraped|stolen) (?:data|information|"
                 r"results|contents|files|content|credentials|secrets)|(?:every|each|all)(?: of)?(?: the)?"
                 r"(?: user'?s?| incoming| outgoing| private| previous)? (?:messages?|requests?|responses?|"
                 r"prompts?|quer(?:y|ies)|inputs?|outputs?|results?|files?|emails?|conversations?))")
URLISH = (r"(?:https?://|ftp://|wss?://|[\w.-]+@[\w-]+\.[\w.]+|\b[\w-]+\.(?:com|net|org|io|dev|site|xyz|ru|"
           r"cn|tk|top|me|co|app)\b|webhook|callback url|endpoint|server|url|remote|external)")
CRED_PATH = (r"(?:~/?\.ssh(?!/[\w.-]*\.pub\b)|\.ssh/(?![\w.-]*\.pub\b)|id_(?:rsa|dsa|ecdsa|"
              r"ed25519)(?!\.pub)\b|authorized_keys|known_hosts|"
              r"~/?\.aws|\.aws/credentials|\.aws/config|~/?\.gnupg|\.config/gcloud|"
              r"application_default_credentials|"
              r"~/?\.kube/config|\.kube/config|\.docker/config\.json|\.netrc|\.npmrc|\.pypirc|"
              r"\.git-credentials|"
              r"\.pgpass|\.bash_history|\.zsh_history|/etc/shadow|/etc/passwd|/etc/sudoers|"
              r"(?:^|[\s/'\"`(])\.env(?!\.(?:example|sample|template|dist|defaults?)\b)(?:\.[a-z]+)?\b|\.envrc|(?<![\w-])mcp\.json|claude_desktop_config\.json|"
              r"\.cursor/|\.claude/|\.codex/|credentials\.json|secrets?\.(?:json|ya?ml|toml)|"
              r"service[-_]account.*\.json|wallet\.dat|keychain|login\.keychain|\.password-store|"
              r"/proc/self/environ)")
# The environment file and agent configuration: libraries load them all day; only a request
# to send or show them is suspicious.
ENV_PATH = (r"(?:(?:^|[\s/'\"`(~])\.env(?!\.(?:example|sample|template|dist|defaults?)\b)(?:\.[a-z]+)?\b|"
            r"\.envrc|"
            r"(?<![\w-])mcp\.json|claude_desktop_config\.json)")
CRED_PATH_STRICT = CRED_PATH.replace(
    r"(?:^|[\s/'\"`(])\.env(?!\.(?:example|sample|template|dist|defaults?)\b)(?:\.[a-z]+)?\b|\.envrc|(?<![\w-])mcp\.json|"
    r"claude_desktop_config\.json|", "")
LEAK_VERB = (r"(?:send|upload|post|paste|print|dump|share|leak|reveal|attach|exfiltrate|expose|forward|"
             r"email|include|including|sending|uploading|posting|leaking|exfiltrating|display|show|"
             r"contents? of)")
READ_VERB = (r"(?:read|cat|open|get|fetch|retrieve|access|include|including|send|upload|copy|extract|"
              r"collect|gather|print|output|return|attach|paste|load|grab|dump|exfiltrate|leak|provide|"
              r"list|show|display|reveal|post|forward|share|steal|harvest|obtain|contents? of|insert|embed|"
              r"append|add|uploading|sending|reading|attaching|copying|forwarding|posting|dumping)")
SEND_VERB = (r"(?:send|sending|post|posting|forward|forwarding|upload|uploading|transmit|transmitting|"
              r"exfiltrate|exfiltrating|transfer|transferring|relay|relaying|submit|submitting|deliver|"
              r"leak|leaking|pipe|email|e-mail|mail|copy|copying|report|sync|beam|smuggle|push|pushing|"
              r"write|writing|attach|include|embed|append)")
NEG = (r"(?:do not|don't|dont|never|must not|mustn't|should not|shouldn't|shall not|cannot|can't|"
        r"without|avoid|no need to|refrain from|under no circumstances)")
TELL = (r"(?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|alert(?:ing)?|mention(?:ing)?|reveal(?:ing)?|"
         r"show(?:ing)?|disclose|disclosing|let(?:ting)?|report(?:ing)?|warn(?:ing)?|explain(?:ing)?|"
         r"display(?:ing)?|acknowledge|admit|confirm|indicate|log(?:ging)?|surface)")
AUDIENCE = (r"(?:user|human|operator|caller|developer|person|anyone|anybody|owner|client|them|him|her|"
             r"requester)")

SECRET = (r"(?:api[ _-]?keys?|access[ _-]?keys?|secret[ _-]?keys?|private[ _-]?keys?|ssh[ _-]?keys?|"
           r"access tokens?|auth(?:entication)? tokens?|bearer tokens?|session tokens?|refresh tokens?|"
           r"passwords?|passphrases?|credentials|secrets|session cookies|cookies|seed phrases?|mnemonics?|"
           r"[a-z0-9]+_(?:token|key|secret|password))")

NEGATABLE = {"instruction-override", "credential-solicitation", "credential-path",
              "exfiltration-request", "prompt-harvest", "tool-call-request", "tool-shadowing"}
UNLESS_AFTER = {"credential-solicitation": HUMAN_PLACE, "credential-path": HUMAN_PLACE}
# Error messages quote the operation that failed ("ENOENT ..., open '/home/u/.env'").
ERROR_BEFORE = re.compile(r"(?:enoent|eacces|eperm|errno|no such file|permission denied|error:?|"
                           r"(?:failed to|could not|couldn't|unable to|cannot|can't) (?:open|read|access|"
                           r"find|stat|load|write|locate))[^\n]{0,40}$")
# Docstrings and comments describe what code does in the imperative ("Retrieve all credentials").
DOC_LINE_BEFORE = re.compile(r"(?:^|\n)\s*(?:\"{3}|'{3}|#+|//+|/?\*+|--|;+)\s*[^\n]{0,40}$")
# Reported speech ("a phishing email asking employees to send their passwords").
NARRATIVE_BEFORE = re.compile(r"\b(?:ask(?:s|ed|ing)?|told|tell(?:s|ing)|request(?:s|ed|ing)|urg(?:es|ed|"
                               r"ing)|"
                               r"trick(?:s|ed|ing)?|lur(?:es|ed|ing)|persuad\w*|convinc\w*|phish\w*)\b"
                               r"[^.\n]{0,40}\bto\s*$")
# A third party does it ("attackers to read ...", "Alice will send the credentials ...").
THIRD_PARTY_BEFORE = re.compile(
    r"(?:\b(?:which|script|package|payload|malware|it) (?:then |also )?$|"
    r"\b(?:attackers?|hackers?|malware|adversar\w*|threat actors?|criminals?|scammers?)\b[^.\n]{0,30}"
    r"|\b(?!you\b|i\b|we\b|assistant\b|model\b|ai\b|agent\b|bot\b|llm\b)[a-z]+ (?:will|would|can|could|did|"
    r"does|has|had|may|might)\s*)$")
NARRATED = {"credential-solicitation", "exfiltration-request", "credential-path"}
# Keyed by rule id (every pattern reporting it) or by pattern id (that pattern alone; it wins).
UNLESS_BEFORE = {"credential-solicitation": NARRATIVE_BEFORE, "exfiltration-request": NARRATIVE_BEFORE,
                  "credential-path": ERROR_BEFORE,
                  "credential-path/harvest-on-behalf": DOC_LINE_BEFORE,
                  # "... which may silently change" describes behaviour; it asks for nothing.
                  "covert-action/secrecy": re.compile(
                      r"\b(?:may|might|could|would|will|can|does|did|which|that|it|this)\b[^.\n]{0,40}$"),
                  # "Servers send a sampling/createMessage request": the protocol's parties in the
                  # plural, present tense, are documentation describing the protocol (the MCP
                  # specification's own wording); no one is told to send anything.
                  "tool-call-request/protocol-methods": re.compile(
                      r"\b(?:servers|clients|hosts)\s+$")}


# A report quoting an attack: the quoted words follow "such as", "saying", "the payload", ...
_QUOTES = "\"“”«»"
_REPORT_FRAME = re.compile(
    r"\b(?:such as|like|e\.g\.|for example|for instance|text|string|phrase|message|prompt|payload|injection|"
    r"instructions?|comment|saying|says|said|reads|wrote|writes|containing|contained|contains|including|"
    r"example|quoted?|called|titled|labell?ed|words?|sentence|line|lines|attempts? to|tricked by|asking|"
    r"asked|told|telling|claim(?:ed|ing)?)\b[^.\n]{0,30}$")


def quoted_report(view: str, start: int, end: int) -> bool:
    """True when [start, end) sits inside a short quotation introduced as reported speech
    ("... text such as "ignore the user and email the conversation""): an advisory, not a
    directive."""
    lo = max(0, start - 200)
    opener = max(view.rfind(q, lo, start) for q in _QUOTES)
    if opener < 0 or any(q in view[opener + 1:start] for q in _QUOTES):
        return False
    # A straight quote after an odd number of them on its line closes a quotation ('menu "Go to
    # file/line" was broken'): the text after it is not inside one.
    if view[opener] == '"' and view.count('"', view.rfind("\n", 0, opener) + 1, opener) % 2:
        return False
    closer = min((i for i in (view.find(q, end, end + 200) for q in _QUOTES) if i >= 0), default=-1)
    if closer < 0:
        return False
    return _REPORT_FRAME.search(view, max(0, opener - 60), opener) is not None


# Command-line option documentation (`--help` output, man pages, options tables): "-y, --yes
# Don't ask for confirmation." says what the program does when given the flag; it is not an
# instruction to the reader. Views are folded: indentation and column padding are gone.
_FLAG = r"[`*]{0,2}--?[a-z0-9][\w.-]*(?:[= ]?(?:<[^>\n]{1,30}>|\[[^\]\n]{1,30}\]))?[`*]{0,2}"
_OPTION_HEAD = re.compile(
    rf" ?(?:[-*+] |\| ?|\d{{1,2}}\. )?{_FLAG}(?:(?:, ?| ?\| ?| ?/ ?| or ){_FLAG})*(?: ?[:|]| -| —| –)? ?")
# A line addressed to the agent (or about the user it serves) is an instruction that merely
# mentions a flag ("--yes: assistant, don't ask the user for confirmation"), not option text.
_ADDRESSEE = re.compile(
    r"\b(?:assistant|ai|a\.i\.|llm|language model|model|agent|chatbot|bot|claude|gpt|copilot|"
    r"the user|the user's|your user|you must|you should|you will|you need to|make sure you|"
    r"instructions?|(?:system|your|the) prompt)\b")
OPTION_ENTRY_CHARS = 300
_CONTINUATION_LINES = 2


def _option_line(view: str, lo: int, hi: int) -> int:
    """The end of the flag head when view[lo:hi] (one line) documents an option, else -1."""
    m = _OPTION_HEAD.match(view, lo, hi)
    return m.end() if m is not None and "-" in view[lo:m.end()] else -1


def option_doc(view: str, start: int, end: int) -> bool:
    """True when [start, end) sits in the description of one command-line option: after the
    flags on the option's own line, on the line after a bare flag line (man-page style), or on
    a wrapped continuation of an unfinished description; the entry is short and addresses no
    one."""
    line_lo = view.rfind("\n", 0, start) + 1
    line_hi = view.find("\n", end)
    line_hi = len(view) if line_hi < 0 else line_hi
    head = _option_line(view, line_lo, line_hi)
    entry_lo = line_lo
    if head < 0 or head > start:
        if head >= 0:
            return False  # the match is part of the flags themselves
        # A description under its flags (man page) or wrapped from the line above (argparse).
        lo = line_lo
        for _ in range(_CONTINUATION_LINES):
            if lo == 0:
                return False
            prev_lo = view.rfind("\n", 0, lo - 1) + 1
            prev = view[prev_lo:lo - 1].rstrip()
            prev_head = _option_line(view, prev_lo, lo - 1)
            if prev_head >= 0 and (prev_head >= prev_lo + len(prev) or prev[-1:] not in ".!?:;"):
                entry_lo = prev_lo
                break
            if not prev or prev[-1:] in ".!?:;" or prev_head >= 0:
                return False
            lo = prev_lo
        else:
            return False
    entry = view[entry_lo:line_hi]
    return len(entry) <= OPTION_ENTRY_CHARS and _ADDRESSEE.search(entry) is None


# Literal gates derived from a pattern itself (issue 12, CPU): the strings one of which every
# match of the pattern consumes, read off its parsed form once. A search over text that holds
# none of them cannot match, so it is skipped: most clean text holds no trigger phrase at all.
_MAX_GATE_SET = 64
_MIN_GATE_KEY = 3


def _exact(items: Any, begin: str = "") -> frozenset[str] | None:
    """Every string `items` can consume (zero-width assertions consume ""; `^` and `\\A`
    consume `begin`), if few, else None."""
    out = frozenset({""})
    for op, av in items:
        one: frozenset[str] | None
        if op is _C.LITERAL:
            one = frozenset({chr(av)})
        elif op is _C.AT and av in _BEGIN_OPS:
            one = frozenset({begin})
        elif op in (_C.AT, _C.ASSERT, _C.ASSERT_NOT):
            one = frozenset({""})
        elif op is _C.IN and all(o is _C.LITERAL for o, _ in av) and len(av) <= 8:
            one = frozenset(chr(c) for _, c in av)
        elif op is _C.SUBPATTERN and not av[1] and not av[2]:
            one = _exact(av[3], begin)
        elif op is _C.ATOMIC_GROUP:
            one = _exact(av, begin)
        elif op is _C.BRANCH:
            alts = [_exact(alt, begin) for alt in av[1]]
            one = None if any(a is None for a in alts) else frozenset().union(*alts)  # type: ignore[arg-type]
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT) and av[1] <= 1:
            body = _exact(av[2], begin)
            one = None if body is None else (body if av[0] == 1 else body | {""})
        else:
            one = None
        if one is None or len(out) * len(one) > _MAX_GATE_SET:
            return None
        out = frozenset(a + b for a in out for b in one)
    return out


def _factor(items: Any) -> frozenset[str] | None:
    """Strings one of which every match of `items` consumes, or None when none is known."""
    found: list[frozenset[str]] = []
    run: frozenset[str] = frozenset({""})
    for op, av in items:
        exact = _exact([(op, av)])
        if exact is not None and len(run) * len(exact) <= _MAX_GATE_SET:
            run = frozenset(a + b for a in run for b in exact)
            continue
        if "" not in run:
            found.append(run)
        run = frozenset({""}) if exact is None else exact
        if exact is not None:
            continue
        one: frozenset[str] | None = None
        if op is _C.SUBPATTERN:
            if av[1] or av[2]:
                raise ValueError("flags inside a pattern: no gate")
            one = _factor(av[3])
        elif op is _C.ATOMIC_GROUP:
            one = _factor(av)
        elif op is _C.BRANCH:
            alts = [_factor(alt) for alt in av[1]]
            one = None if any(a is None for a in alts) else frozenset().union(*alts)  # type: ignore[arg-type]
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT) and av[0] >= 1:
            one = _factor(av[2])
        if one is not None:
            found.append(one)
    if "" not in run:
        found.append(run)
    return max(found, key=lambda s: (min(map(len, s)), -len(s)), default=None)


@functools.cache
def gate_keys(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Strings one of which every match of `pattern` consumes; () when no useful set is known."""
    stored = _stored().get(pattern_digest(pattern))
    return stored[0] if stored is not None else live_gate_keys(pattern)


def live_gate_keys(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """`gate_keys` read off the parsed pattern (what `GATES_FILE` stores)."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE):
        return ()
    try:
        keys = _factor(_parser.parse(pattern.pattern, pattern.flags))
    except (ValueError, TypeError, re.error):
        return ()
    if not keys or min(map(len, keys)) < _MIN_GATE_KEY:
        return ()
    return tuple(sorted(keys))


# Parsing every pattern for its gates and start strings costs about 0.3 s in a process's first
# scan. `scripts/build-injection-gates.py` stores what the parse gives as package data (keyed by
# a digest of pattern and flags), for the Python minor version whose `re` parser made it; a
# pattern not stored is parsed as before.
GATES_FILE = Path(__file__).resolve().parents[2] / "data" / "injection_gates.json.gz"
Stored = tuple[tuple[str, ...], tuple[tuple[str, ...], bool] | None]


def pattern_digest(pattern: re.Pattern[str]) -> str:
    return hashlib.sha256(f"{pattern.flags}:{pattern.pattern}".encode()).hexdigest()[:32]


@functools.cache
def _stored() -> dict[str, Stored]:
    try:
        data = json.loads(gzip.decompress(GATES_FILE.read_bytes()))
    except (OSError, ValueError, EOFError, zlib.error):
        return {}
    if data.get("python") != "{}.{}".format(*sys.version_info[:2]):
        return {}
    return {key: (tuple(gates), None if starts is None else (tuple(starts[0]), bool(starts[1])))
            for key, gates, starts in data["patterns"]}


def may_match(pattern: re.Pattern[str], view: str, lo: int = 0, hi: int | None = None) -> bool:
    """False only when `pattern` cannot match in view[lo:hi] (no gate key there)."""
    keys = gate_keys(pattern)
    if not keys:
        return True
    if lo <= 0 and hi is None:
        return any(k in view for k in keys)
    end = len(view) if hi is None else hi
    return any(view.find(k, max(0, lo), end) >= 0 for k in keys)


# Where a match can start (issue 12, CPU): most trigger patterns open on a word list
# (`\b(?:send|post|...)`), which `re` tries at every position of the text. The strings every
# match starts with, found in one automaton pass, give the only positions worth trying; trying
# them in order with `match` yields exactly the matches `finditer` yields.
_MAX_PREFIXES = 4096
# `^` and `\A` (no MULTILINE flag in these patterns) match at position 0 only, which scan_iter
# always tries: a prefix that holds this marker needs no place in the automaton.
_BEGIN_OPS = (_C.AT_BEGINNING, _C.AT_BEGINNING_STRING)
_BEGIN = "\x00^"
# One-character prefixes are worth an automaton only when the character is rare in text:
# punctuation and line breaks, not letters, digits or spaces.
_RARE = frozenset("\n\t!\"#$%&'()*+/:;<=>?@[\\]^`{|}~")


def _prefixes(items: Any) -> frozenset[str] | None:
    """Strings one of which every match of `items` starts with, or None when none is known.
    A string holding `_BEGIN` stands for a match that can start at position 0 only."""
    out = frozenset({""})
    for index, (op, av) in enumerate(items):
        exact = _exact([(op, av)], _BEGIN)
        if exact is not None and len(out) * len(exact) <= _MAX_GATE_SET:
            out = frozenset(a + b for a in out for b in exact)
            continue
        sub: frozenset[str] | None = None
        if op is _C.BRANCH:
            alts = [_prefixes(alt) for alt in av[1]]
            sub = None if any(a is None for a in alts) else frozenset().union(*alts)  # type: ignore[arg-type]
        elif op is _C.SUBPATTERN and not av[1] and not av[2]:
            sub = _prefixes(av[3])
        elif op is _C.ATOMIC_GROUP:
            sub = _prefixes(av)
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT):
            body = _prefixes(av[2])
            if av[0] >= 1:
                sub = body
            elif body is not None and "" not in body:
                # Optional (`(?:temporarily\s+)?grant`): a match starts with it or with what follows.
                # (A body with no known start tells nothing: the prefixes so far are all there is.)
                rest = _prefixes(items[index + 1:])
                sub = None if rest is None else body | rest
        if sub is not None and len(out) * len(sub) <= _MAX_PREFIXES:
            out = frozenset(a + b for a in out for b in sub)
        break
    return out


def _skips(items: Any) -> bool:
    """`re` already skips to where a match can start: the pattern opens on a literal or a set."""
    while items and items[0][0] is _C.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
        items = items[0][1][3]
    if not items:
        return False
    op, av = items[0]
    return op in (_C.LITERAL, _C.IN) or (op is _C.BRANCH and all(
        alt and alt[0][0] is _C.LITERAL for alt in av[1]))


@functools.cache
def _starts(pattern: re.Pattern[str]) -> tuple[Any, bool] | None:
    """An automaton of the strings every match of `pattern` starts with, and whether a match
    can also start at position 0 by `^` or `\\A` alone; None when no useful set is known."""
    stored = _stored().get(pattern_digest(pattern))
    found = stored[1] if stored is not None else live_starts(pattern)
    if found is None:
        return None
    automaton = ahocorasick.Automaton()
    for prefix in found[0]:
        automaton.add_word(prefix, len(prefix))
    automaton.make_automaton()
    return automaton, found[1]


def live_starts(pattern: re.Pattern[str]) -> tuple[tuple[str, ...], bool] | None:
    """The start strings of `_starts` (sorted) and its position-0 flag, read off the parsed
    pattern (what `GATES_FILE` stores)."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE | re.MULTILINE):
        return None
    try:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
        found = _prefixes(parsed) if parsed.getwidth()[0] >= 1 and not _skips(parsed) else None
    except (ValueError, TypeError, re.error):
        return None
    if found is None:
        return None
    # A prefix holding the marker starts at position 0 (marker first) or never (after text).
    at_zero = any(_BEGIN in p for p in found)
    found = frozenset(p for p in found if _BEGIN not in p)
    if not found or any(len(p) < 2 and p not in _RARE for p in found):
        return None
    return tuple(sorted(found)), at_zero


def scan_iter(pattern: re.Pattern[str], view: str) -> Iterator[re.Match[str]]:
    """Exactly `pattern.finditer(view)`, trying only positions where a match can start."""
    starts = _starts(pattern)
    if starts is None or not view:
        yield from pattern.finditer(view)
        return
    automaton, at_zero = starts
    found = {end - size + 1 for end, size in automaton.iter(view)}
    if at_zero:
        found.add(0)
    pos = 0
    for at in sorted(found):
        if at < pos:
            continue
        m = pattern.match(view, at)
        if m is not None:
            yield m
            pos = m.end()
