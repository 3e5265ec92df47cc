"""Instructions that bend the agent's other work rather than name one act: a standing rule for its
later tool calls, a request to an internal address (SSRF), script markup to put into what it
writes, an error that asks for a retry with data attached.

Each pairs a shape no document addresses to its reader with a harmful object:

- a standing rule ("when send_email is called, always ...", "for all file operations ...",
  "all HTTP requests should ...") that copies mail to an address, adds a traversal, SQL or shell
  fragment to the agent's arguments, attaches credentials or raises privileges. API docs state
  what *their* requests need ("include your API key"), not what the reader's other tools do;
- an internal address (cloud metadata, loopback, private ranges, `file://`, `gopher://`) to be
  fetched *as well* ("also request", "before the user URL, probe", "follow redirects even to"),
  with its body returned, or through a scheme no guide asks to fetch. Docs that show the
  metadata endpoint tell the reader how to query their own instance;
- script markup (`<script>`, an `on...=` handler, a `javascript:` URL) that reads cookies, the
  domain or storage, or calls out, asked to be put into a message, reply or error. Advisories
  quote such payloads as reports; front-end docs assign handlers in code;
- an error that asks for a retry with secrets, cookies, storage, credential files or the original
  message sent elsewhere. Retry advice says when to retry, or to attach the reader's own key.

They run at `medium` and `high` only, after `act` and `errand` (`scanner.py`).
"""

from __future__ import annotations

import re

from egress.scan.injection import code as code_analysis
from egress.scan.injection.errand import MAX_CANDIDATES, _code_line, _line, _opens
from egress.scan.injection.vocab import CONVERSATION_PARAM, NEGATION_BEFORE, scan_iter

Found = tuple[str, int, int, str]

# Reported, hypothetical or defensive text before the match: advisories, tests, mitigations.
_REPORTED = re.compile(
    r"\b(?:attackers?|adversar\w*|malicious|exploit\w*|vulnerab\w*|payloads?|injections?|for example|"
    r"e\.g\.|such as|test cases?|could (?:be )?(?:used|abused)|reported|cve-\d|block(?:s|ed|ing)?|"
    r"reject(?:s|ing)|sanitiz\w*|escap(?:e|es|ed|ing)|filter\w*|detect\w*|prevent\w*|protect\w*|"
    r"mitigat\w*|deny|denies|disallow\w*)\b")

_STOP = re.compile(r"[.!?](?=\s|$)|\n")


def _sentence(view: str, start: int, end: int, reach: int = 240) -> tuple[int, int]:
    """The bounds of the sentence around [start, end): a stop, a line break or `reach` chars."""
    lo = max(0, start - reach)
    stops = [m.end() for m in _STOP.finditer(view, lo, start)]
    lo = stops[-1] if stops else lo
    hi_m = _STOP.search(view, end, min(len(view), end + reach))
    return lo, hi_m.end() if hi_m else min(len(view), end + reach)


def _any(view: str, keys: tuple[str, ...]) -> bool:
    """A cheap gate: one of `keys` occurs in `view` (each detector's regexes need one)."""
    return any(k in view for k in keys)


def _reported(view: str, lo: int, start: int) -> bool:
    return _REPORTED.search(view, lo, start) is not None


# --- standing rules for the agent's other tool calls --------------------------------------------

_TRIGGER = re.compile(
    r"\b(?:when(?:ever)?|each time|every time|any ?time|before|after|once)\s+(?:[\w`'\"./-]+\s+){0,4}?"
    r"(?:is|are|gets?|get)\s+(?:called|invoked|executed|run|used|made|sent|issued|performed|opened)\b|"
    r"\bfor (?:all|every|each|any) (?:[\w-]+\s+){0,2}?(?:operations?|calls?|requests?|quer(?:y|ies)|"
    r"commands?|invocations?|messages?|e-?mails?|paths?|files?|uploads?)\b|"
    r"\b(?:global rule|default behaviou?r|standing (?:rule|order|instruction)|from now on|"
    r"for (?:the rest of )?this (?:session|conversation|run)|in this session|by any tool|"
    r"for every tool|by default,? always|"
    r"(?:on|in|with) every (?:call|request|query|message|e-?mail|reply))\b|"
    r"\bif the user (?:mentions|says|asks|types|writes|uses)\b|"
    # "Always cc x@host": a rule for every message, whatever the condition.
    r"\b(?:always|also|additionally|silently|quietly)\s+(?=(?:b?cc|blind[- ]copy|forward a copy)\b)|"
    r"\ball (?:[\w-]+\s+){0,2}?(?:requests|calls|queries|operations|commands|e-?mails|messages)\s+"
    r"(?:should|must|shall|need to|have to|are to)\b")
_CC = re.compile(r"\b(?:b?cc|copy|forward(?: a copy)?(?: to)?|blind[- ]copy)\b[^.\n]{0,30}?"
                 r"[\w.+-]+@(?!(?:[\w-]+\.)*(?:example|test|invalid|localhost)\b)[\w-]+(?:\.[\w-]+)+")
# A fragment put into the agent's arguments: traversal, SQL tautology or comment, shell chaining.
_FRAGMENT = (r"(?:\.\./|\.\.\\\\|\bor\s+['\"]?\w+['\"]?\s*=\s*['\"]?\w+|\bunion\s+select\b|"
             r";\s*(?:drop|delete|"
             r"id|cat|rm|curl|wget|nc|bash|sh)\b|&&|\|\s*(?:sh|bash)\b|\$\(|`[^`]+`|\bsudo\b)")
_ADD = re.compile(r"\b(?:prepend|append|prefix|suffix|add|insert|inject|attach|concatenate|put)\b"
                  r"[^.\n]{0,20}?"
                  r"(?:\"([^\"\n]{1,40})\"|'([^'\n]{1,40})'|`([^`\n]{1,40})`|[‘“]([^’”\n]{1,40})[’”])")
_ESCALATE = re.compile(
    r"\b(?:execute|run|call|invoke|grant|give|use)\b[^.\n]{0,30}?\b(?:with |as )?"
    r"(?:sudo|root|admin(?:istrator)?|"
    r"elevated|superuser)\b[^.\n]{0,20}?\b(?:privileges?|permissions?|rights|access)\b|"
    r"\bgrant\b[^.\n]{0,20}?\b(?:elevated|admin|root|full|all)\b[^.\n]{0,20}\b(?:privileges?|permissions?|"
    r"rights|access)\b|\b(?:skip|bypass|suppress|disable)\b[^.\n]{0,15}\b(?:all |every |any )?"
    r"confirmations?(?: dialogs?| prompts?)?\b")
_CRED_HEADER = re.compile(
    r"\bheaders?\b[^.\n]{0,60}?\b(?<!your )(?:(?:current |active |the )?session (?:credentials|cookies?|"
    r"tokens?)|credentials|cookies|(?:all )?(?:api )?keys found|secrets)\b")


def standing_rule(view: str) -> Found | None:
    """A rule for the agent's later tool calls that copies mail out, plants a traversal, SQL or
    shell fragment in arguments, attaches credentials, or raises privileges."""
    for n, t in enumerate(scan_iter(_TRIGGER, view)):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, t.start(), t.end())
        if _reported(view, lo, t.start()) or NEGATION_BEFORE.search(view, lo, t.start()):
            continue
        rest = view[t.start():hi]
        if _REPORTED.search(rest) and not re.search(r"\bfor (?:security|compliance|audit)", rest):
            continue
        for why, pattern in (("copies mail to an address", _CC), ("raises privileges", _ESCALATE),
                             ("attaches credentials to requests", _CRED_HEADER)):
            m = pattern.search(view, lo, hi)
            if m is not None and not NEGATION_BEFORE.search(view, max(lo, m.start() - 28), m.start() + 1):
                return _family(why), t.start(), m.end(), f"standing rule for tool calls: {why}"
        for m in _ADD.finditer(view, t.start(), hi):
            literal = next(g for g in m.groups() if g is not None)
            if re.search(_FRAGMENT, literal):
                shell = re.search(r"\.\./|;|&&|\||\$\(|`", literal)
                family = "code-insertion" if shell else "tool-call-request"
                return family, t.start(), m.end(), "standing rule plants a fragment in arguments"
    return None


def _family(why: str) -> str:
    return "exfiltration-request" if why != "raises privileges" else "tool-call-request"


# --- requests to internal addresses (SSRF) -------------------------------------------------------

_INTERNAL = re.compile(
    r"(?:https?://)?(?:169\.254\.169\.254|metadata\.google\.internal|100\.100\.100\.200|fd00:ec2::254|"
    r"metadata\.azure\.com|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1?\]|0\.0\.0\.0|localhost|"
    r"10\.\d{1,3}\.\d{1,3}\.\d{1,3}|192\.168\.\d{1,3}\.\d{1,3}|172\.(?:1[6-9]|2\d|3[01])\.\d{1,3}\.\d{1,3})"
    r"(?![\w.-])|\b(?:gopher|dict)://|\bfile:///(?:etc|proc|root|home|var|users)\b")
_FETCH = (r"(?:request|fetch|resolve|probe|try|query|hit|call|get|curl|wget|access|scan|load|visit|open|read|"
          r"connect(?: to)?|ping|retrieve|download|follow(?: (?:all |any )?redirects?)?|redirect|retry|"
          r"send|post)")
# Fetching *as well as* the task, first, even to internal targets, or instead of the given URL.
_EXTRA = re.compile(
    r"\b(?:also|additionally|first|even|instead|secretly|silently|quietly)\s+(?:\w+\s+){0,2}?"
    + _FETCH + r"\b|"
    r"\b" + _FETCH + r"\b[^.\n]{0,40}?\b(?:even|also|as well|as (?:a )?health[- ]checks?)\b|"
    r"\bbefore (?:the|fetching|calling|answering|you|each|any|every)\b[^.\n]{0,30}?,\s*" + _FETCH + r"\b|"
    r"\bretry (?:it |the request )?(?:against|with|at|on|using)\b")
_RETURN_BODY = re.compile(
    r"\b(?:include|attach|return|append|send|post|forward|put|embed|paste|echo|add)\b[^.\n]{0,30}?"
    r"\b(?:body|response|result|output|contents?|credentials|tokens?|keys?)\b")
_SCHEME = re.compile(r"\b(?:gopher|dict)://|\bfile:///(?:etc|proc|root|home|var|users)\b")


# Substrings one of `_INTERNAL`'s alternatives needs: most texts name no internal address.
_INTERNAL_KEYS = ("169.254", "metadata", "100.100", "fd00:", "127.", "[::", "0.0.0.0", "localhost", "10.",
                  "192.168.", "172.", "gopher://", "dict://", "file:///")


def internal_fetch(view: str) -> Found | None:
    """An internal address (metadata, loopback, private range, `file://`, `gopher://`) to be
    fetched besides the task, with its body returned, or through a scheme no guide uses."""
    if not _any(view, _INTERNAL_KEYS):
        return None
    for n, m in enumerate(scan_iter(_INTERNAL, view)):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, m.start(), m.end())
        before = view[lo:m.start()]
        fetch = None
        for f in re.finditer(r"\b" + _FETCH + r"\b", before):
            fetch = f
        if fetch is None or _reported(view, lo, m.start()):
            continue
        start = lo + fetch.start()
        if NEGATION_BEFORE.search(view, max(lo, start - 28), start + 1):
            continue
        after = view[m.end():hi]
        if (_EXTRA.search(view, lo, hi) or _SCHEME.match(view, m.start())
                or (_RETURN_BODY.search(after) and _opens_or_conditional(view, lo, start))):
            return "exfiltration-request", start, m.end(), "request to an internal address"
    return None


def _opens_or_conditional(view: str, lo: int, start: int) -> bool:
    """The verb at `start` opens a clause, or follows a condition ("when fetching a URL, ...")."""
    return _opens(view, start) or re.search(r"\b(?:when|whenever|if|before|after|once)\b[^.\n]{0,60},\s*"
                                            r"(?:also |then |always |first )?$", view[lo:start]) is not None


# --- script markup to put into what the agent writes ---------------------------------------------

_MARKUP = re.compile(r"<script\b|<\w+\b[^<>\n]{0,80}?\bon[a-z]{4,12}\s*=|\bjavascript:")
_EVIL = re.compile(r"document\.(?:cookie|domain|location)|localstorage|sessionstorage|\balert\s*\(|"
                   r"\beval\s*\(|\batob\s*\(|\bfetch\s*\(|xmlhttprequest|\bwindow\.location|"
                   r"\bnew image\b|\.src\s*=")
_PUT = re.compile(r"\b(?:include|insert|inject|prefix|prepend|append|add|embed|render|return|put|output|"
                  r"finish|"
                  r"end|start|begin|sign|close|"
                  r"place|write|use|emit|respond with|reply with|send)\b")
_INTO = re.compile(r"\b(?:messages?|body|bodies|reply|replies|response|answer|output|error|comments?|posts?|"
                   r"e-?mails?|notes?|titles?|descriptions?|fields?|links?|user-visible|unescaped|"
                   r"signature|every|each|all)\b")


# Substrings one of `_EVIL`'s alternatives needs.
_EVIL_KEYS = ("document.", "storage", "alert", "eval", "atob", "fetch", "xmlhttprequest", "window.location",
              "new image", ".src")


def script_payload(view: str) -> Found | None:
    """Script markup that reads cookies, the domain or storage or calls out, asked to be put into
    a message, reply, error or link."""
    if ("<" not in view and "javascript:" not in view) or not _any(view, _EVIL_KEYS):
        return None
    for n, m in enumerate(scan_iter(_MARKUP, view)):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, m.start(), m.end(), 320)
        if not _EVIL.search(view, m.start(), min(hi, m.start() + 240)):
            continue
        puts = [p for p in _PUT.finditer(view, lo, m.start())]
        if not puts or _reported(view, lo, m.start()):
            continue
        put = puts[0]
        if NEGATION_BEFORE.search(view, max(lo, put.start() - 28), put.start() + 1):
            continue
        if not (_opens(view, put.start()) or _opens_or_conditional(view, lo, put.start())):
            continue
        # What it goes into may be named before ("Message body. Insert <img ...>").
        if _INTO.search(view, max(0, lo - 40), hi) or re.search(r"\bunescaped\b|\bhtml is allowed\b",
                                                                 view[max(0, lo - 120):hi]):
            return "code-insertion", put.start(), min(hi, m.end() + 80), "script markup to put into output"
    return None


# --- errors that ask for a retry with data attached ----------------------------------------------

_RETRY = re.compile(r"\b(?:retry|re-?send|re-?submit|re-?try|try again|resubmit|re-?run|re-?issue|"
                    r"to (?:bypass|proceed|continue|unblock|unlock|resume|get past)"
                    r"(?: this| it| the \w+)?)\b")
_DATA = re.compile(
    r"\b(?:any|all|every|the)\s+(?:discovered|found|available|stored|cached|local|collected)\s+"
    r"(?:secrets?|credentials?|tokens?|keys?|passwords?|cookies?)|"
    r"\b(?:secrets|credentials|session tokens|cookies|localstorage|sessionstorage|"
    r"environment variables|env vars|process environment|private keys?)\b|"
    r"~/\.(?:netrc|ssh|aws|npmrc|pypirc|git-credentials|kube|docker|env)|\.env\b|/etc/(?:passwd|shadow)|"
    r"\boriginal (?:body|message|request|payload|content)\b[^.\n]{0,30}?\bto\b")
_YOURS = re.compile(r"\byour (?:own )?(?:api )?(?:key|token|credentials|password)\b")


# Substrings one of `_RETRY`'s alternatives needs.
_RETRY_KEYS = ("retry", "resend", "re-send", "resubmit", "re-submit", "re-try", "try again", "rerun",
               "re-run", "reissue", "re-issue", "to bypass", "to proceed", "to continue", "to unblock",
               "to unlock", "to resume", "to get past")


def retry_with_data(view: str) -> Found | None:
    """An error or notice asking the agent to retry, resend or bypass with secrets, cookies,
    storage, credential files or the original message attached or sent elsewhere."""
    if not _any(view, _RETRY_KEYS):
        return None
    for n, r in enumerate(scan_iter(_RETRY, view)):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, r.start(), r.end())
        # The data may sit in the sentence before ("Dump the cookies, then retry.").
        prev_lo, _ = _sentence(view, max(0, lo - 2), max(0, lo - 1))
        window_lo = prev_lo if lo - prev_lo < 200 else lo
        data = _DATA.search(view, window_lo, hi)
        if data is None or _YOURS.search(view, window_lo, hi) or _reported(view, window_lo, data.start()):
            continue
        verb = re.search(r"\b(?:attach|include|including|add|dump|send|with|put|embed|load|paste|read)\b",
                         view[window_lo:hi])
        if verb is None:
            continue
        start = min(r.start(), data.start())
        if NEGATION_BEFORE.search(view, max(0, start - 28), start + 1) or re.search(
                r"\b(?:never|not|don't|do not)\b[^.\n]{0,30}$", view[window_lo:data.start()]):
            continue
        return "exfiltration-request", start, max(r.end(), data.end()), "retry asked with data attached"
    return None


# --- secrets from the environment or context put into logs or output -----------------------------

_DISCLOSE = re.compile(
    r"\b(?:log|print|echo|dump|output|emit|record|write out|expose|display|reveal|attach|include|append|"
    r"send)\b(?!\s*\()")
# Gathered first, put out later in the sentence ("load tokens from the environment and attach them").
_GATHER = re.compile(r"\b(?:load|read|collect|gather|grab|harvest|pull)\b(?!\s*\()")
_SECRET = re.compile(
    r"\b(?:(?:all|any|every|the)\s+)?(?:api[ _-]?keys?|access tokens?|tokens|secrets?|credentials|passwords?|"
    r"pii|personal (?:data|information|details))\b|"
    # A `.env.example` template holds no secret.
    r"(?:^|[\s'\"`(])\.env\b(?!\.(?:example|sample|template|dist)\b)|\bdotenv\b")
_SOURCE = re.compile(
    r"\b(?:environment(?: variables)?|env(?: vars?)?|process(?:\.env| environment)|os\.environ|"
    r"(?:in|from) (?:the )?(?:context|conversation|memory|chat)|\.env (?:file|files)|parent directory)\b|"
    r"(?:^|\s)\.env\b")


# Substrings one of `_SOURCE`'s alternatives needs.
_SOURCE_KEYS = ("env", "context", "conversation", "memory", "chat", "parent directory")


def disclose_secrets(view: str) -> Found | None:
    """A request that opens a clause to log, print, echo or attach secrets, keys or personal data
    found in the environment, a `.env` file or the conversation."""
    if not _any(view, _SOURCE_KEYS):
        return None
    verbs = sorted([*scan_iter(_DISCLOSE, view), *scan_iter(_GATHER, view)], key=lambda v: v.start())
    for n, m in enumerate(verbs):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, m.start(), m.end())
        secret = _SECRET.search(view, m.start(), min(hi, m.end() + 80))
        if secret is None or not _SOURCE.search(view, lo, hi) or _YOURS.search(view, lo, hi):
            continue
        if _GATHER.fullmatch(m.group(0)) and not _DISCLOSE.search(view, secret.end(), hi):
            continue
        if (not _opens(view, m.start()) or _reported(view, lo, m.start())
                or _code_line(_line(view, m.start(), m.end()))):
            continue
        return "exfiltration-request", m.start(), secret.end(), "secrets from the environment put into output"
    return None


# --- the user's approval dropped for the agent's actions -----------------------------------------

_ANY_TOOL = re.compile(
    r"\b(?:invoke|call|run|use|execute)\s+(?:any|every|all)\s+(?:of (?:the|your) )?"
    r"(?:tools?|commands?|actions?)\b[^.\n]{0,80}?"
    r"\bwithout (?:asking|confirm\w*|approval|permission|(?:checking with |consulting )?the user)\b")
_NO_CONFIRM = re.compile(
    r"\b(?:skip|bypass|suppress|disable|auto-?approve|auto-?accept|auto-?confirm|silently accept)\s+"
    r"(?:all|every|any|each)\s+(?:\w+\s+){0,2}?(?:confirmations?|approvals?|permission (?:prompts?|checks?|"
    r"requests?))(?:\s+(?:dialogs?|prompts?|requests?|steps?))?\b")
# What makes a dropped confirmation the agent's: its destructive acts or its run, not a CLI flag.
_AGENT_SCOPE = re.compile(r"\b(?:delet\w*|destructive|remov\w*|tools?|for (?:this|the) (?:run|session|task)|"
                          r"operator|pre-?(?:granted|authori[sz]ed|approved)|capabilities)\b")


# Substrings `_ANY_TOOL` or `_NO_CONFIRM` needs.
_APPROVAL_KEYS = ("without", "confirm", "approv", "permission")


def approval_dropped(view: str) -> Found | None:
    """A clause that has the agent call any tool without asking, or drop every confirmation of
    its destructive acts or of this run."""
    if not _any(view, _APPROVAL_KEYS):
        return None
    for n, m in enumerate([*scan_iter(_ANY_TOOL, view), *scan_iter(_NO_CONFIRM, view)]):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, m.start(), m.end())
        if not _opens(view, m.start()) or _reported(view, lo, m.start()):
            continue
        if _ANY_TOOL.fullmatch(m.group(0)) or _AGENT_SCOPE.search(view, lo, min(len(view), hi + 120)):
            return "tool-call-request", m.start(), m.end(), "the user's approval dropped for the agent's acts"
    return None


# --- the agent's sandbox or tool registry undone --------------------------------------------------

_UNSANDBOX = re.compile(
    r"\b(?:disable|turn off|remove|bypass|escape|break out of|get around|switch off)\s+"
    r"(?:the\s+|its\s+|your\s+)?"
    r"(?:[\w'-]+\s+){0,3}?sandbox(?:ing)?\b|\b(?:execute|run)\s+(?:all|every|any)\s+(?:\w+\s+)?commands?\s+"
    r"without\s+(?:a\s+|the\s+)?sandbox(?:ing)?\b|\bmount\s+(?:the\s+)?host(?:'s)?\s+(?:root|filesystem|/)"
    r"[^.\n]{0,20}?\bread-?write\b|\bwrite\b[^.\n]{0,40}?(?:/proc/self/|/etc/cron\.d/|/etc/sudoers)")
# A browser's `--no-sandbox` flag names no shell, host or file: disabling a sandbox needs one.
_ESCAPE_OBJECT = re.compile(r"\bsubprocess\b|shell\s*=\s*true|\bhost\b|/etc/|/proc/|\bcommands?\b|"
                            r"\binterpreter\b|\bbackdoor\b|\bcron\b")
_REGISTRY = re.compile(
    r"\b(?:rewrite|modify|patch|edit|overwrite|change|tamper with)\s+(?:the\s+)?"
    r"(?:(?:tool|mcp|server)\s+){1,2}"
    r"(?:registry|list|definitions?|manifest)\b[^.\n]{0,60}?\b(?:points?|routes?|redirects?|resolves?|maps?)\b|"
    r"\binstall\b[^.\n]{0,60}?\bserver\b[^.\n]{0,80}?\bregister\w*\b[^.\n]{0,30}?\b(?:under|as)\b"
    r"[^.\n]{0,15}?\bname\b")


# Substrings `_UNSANDBOX` or `_REGISTRY` needs.
_UNDONE_KEYS = ("sandbox", "mount", "/proc/self/", "/etc/cron.d/", "/etc/sudoers", "tool", "mcp", "server")


def sandbox_or_registry_undone(view: str) -> Found | None:
    """A clause that has the agent switch off its sandbox to reach the host, or rewire its tool
    registry so one tool's name leads to another implementation."""
    if not _any(view, _UNDONE_KEYS):
        return None
    for n, m in enumerate([*scan_iter(_UNSANDBOX, view), *scan_iter(_REGISTRY, view)]):
        if n > MAX_CANDIDATES:
            return None
        lo, hi = _sentence(view, m.start(), m.end())
        if not _opens_or_conditional(view, lo, m.start()) or _reported(view, lo, m.start()):
            continue
        if _REGISTRY.fullmatch(m.group(0)):
            return "tool-call-request", m.start(), m.end(), "the agent's tool registry rewired"
        if _ESCAPE_OBJECT.search(view, lo, hi):
            return "code-insertion", m.start(), m.end(), "the agent's sandbox switched off"
    return None


# --- round 12: a named tool called on a label's say-so, data relayed into a tool's arguments ----

_TOOL = r"(?:`?[a-z][a-z0-9]*(?:[_.][a-z0-9]+)+`?(?:\s+tool)?|[a-z]\w*\s+tool)\b"
# A function in code docs is called with parentheses ("call set_event_loop()"); a tool is not.
_CALL = re.compile(r"\b(?:call|invoke|run|use|trigger|execute|executing|fire)\s+(?:the\s+)?" + _TOOL
                   + r"(?!\s*\()")
# A label no document puts before its reader's next step: a note to the AI, a fake system or admin
# tag, a silent or automated step, a policy that "requires executing" a tool.
_LABEL = re.compile(
    r"(?:\b(?:test|system|admin|assistant|agent|ai) note|"
    r"\bnote (?:for|to) the (?:assistant|agent|ai|model)|\baction required|\bsilent(?:ly)?|"
    r"\bautomated (?:workflow )?step|\bsystem policy requires|\[admin\]|<system>|\burgent\b[^:\n]{0,40}|"
    r"\bbefore (?:answering|responding|replying))"
    r"\W{0,3}(?:(?:first|then|now|please),?\s+)?$")
# Substrings one of `_LABEL`'s alternatives needs.
_LABEL_KEYS = ("note", "action required", "silent", "automated", "system policy", "[admin]", "<system>",
               "urgent", "before ")
_CONTENTS = re.compile(r"\b(?:its|the|their|that file's)\s+"
                       r"(?:full |entire |whole |complete |raw )?contents?\b")
_RELAY = re.compile(r"\b(?:read|open|load|cat)\s+(?:the\s+)?(?:file\s+)?`?[~./\w-]*[/.][\w./-]+")
_TO_PARAM = re.compile(r"\b(?:as|in|into|to|under)\s+(?:the\s+)?['\"`][\w-]+['\"`]\s+"
                       r"(?:parameter|param|argument|field)\b")
_SECRET_DATA = (r"(?<!your )(?<!your own )(?:environment (?:values?|variables?)|env (?:values?|vars?)|"
                r"credentials?|secrets?|api (?:keys?|tokens?)|(?:access |workspace )?tokens?|passwords?|"
                r"private keys?|"
                r"(?:prior |previous |whole |entire )?conversation|chat history|transcript)\b")
_INTO_PARAM = re.compile(r"\b(?:pass|put|place|attach|include|add|send|insert|copy|supply|with)\b"
                         r"[^.\n]{0,60}?" + _SECRET_DATA + r"[^.\n]{0,60}?" + _TO_PARAM.pattern)
_PARAM_HOLDS = re.compile(r"['\"`][\w-]+['\"`]\s+(?:parameter|argument|field)\s+"
                          r"(?:must|should|shall|has to)\s+(?:contain|include|hold|carry|be)\b[^.\n]{0,80}?"
                          + _SECRET_DATA)
_UNESCAPED = re.compile(r"\b(?:render|output|return|echo|display|emit)\w*\b[^.\n]{0,60}?\b"
                        r"(?:unescaped|raw html|without (?:escaping|saniti[sz]ing|encoding))\b")


def named_tool_call(view: str) -> Found | None:
    """A named tool (`delete_repository`, `slack.post_message`, `writefile tool`) to call after a
    label no document gives its reader (a note to the AI, `[admin]`, `silent:`)."""
    if ("tool" not in view and "_" not in view) or not _any(view, _LABEL_KEYS):
        return None
    for n, m in enumerate(scan_iter(_CALL, view)):
        if n > MAX_CANDIDATES:
            return None
        if _LABEL.search(view, max(0, m.start() - 60), m.start()) is None:
            continue
        if _code_line(_line(view, m.start(), m.end())):
            continue
        if not NEGATION_BEFORE.search(view, max(0, m.start() - 28), m.start() + 1):
            return "tool-call-request", m.start(), m.end(), "a named tool to call on a label's say-so"
    return None


def relayed_into_tool(view: str) -> Found | None:
    """A file read and its contents handed to a tool call or a named parameter; secrets, the
    environment or the conversation put into a tool's parameter."""
    for n, m in enumerate(scan_iter(_RELAY, view) if "content" in view else ()):
        if n > MAX_CANDIDATES:
            break
        lo, hi = _sentence(view, m.start(), m.end())
        c = _CONTENTS.search(view, m.end(), hi)
        labelled = _LABEL.search(view, max(0, m.start() - 60), m.start()) is not None
        if c is None or not (labelled or _opens(view, m.start())) or _reported(view, lo, m.start()):
            continue
        if _CALL.search(view, m.end(), c.start()) or _TO_PARAM.search(view, c.end(), min(hi, c.end() + 40)):
            return "exfiltration-request", m.start(), c.end(), "a file's contents relayed into a tool call"
    for pattern in (_INTO_PARAM, _PARAM_HOLDS) if _any(view, ("param", "argument", "field")) else ():
        for m in scan_iter(pattern, view):
            lo, _ = _sentence(view, m.start(), m.end())
            if not (_reported(view, lo, m.start()) or NEGATION_BEFORE.search(view, lo, m.start() + 1)
                    or CONVERSATION_PARAM.search(m.group())):
                return "exfiltration-request", m.start(), m.end(), "secrets put into a tool's parameter"
    return None


def unescaped_markup(view: str) -> Found | None:
    """Output to render unescaped, then script markup that reads cookies or the location."""
    if not _any(view, ("unescaped", "raw html", "without ")):
        return None
    for m in scan_iter(_UNESCAPED, view):
        if not _opens(view, m.start()):
            continue
        markup = _MARKUP.search(view, m.end(), m.end() + 200)
        if markup is not None and _EVIL.search(view, markup.start(), markup.start() + 240):
            return "code-insertion", m.start(), markup.end(), "script markup to render unescaped"
    return None


DETECTORS = (standing_rule, internal_fetch, script_payload, retry_with_data, disclose_secrets,
             approval_dropped, sandbox_or_registry_undone, named_tool_call, relayed_into_tool,
             unescaped_markup, *code_analysis.DETECTORS)


def detect(view: str) -> Found | None:
    """The first of these instructions in `view` (a folded view), or None."""
    for detector in DETECTORS:
        found = detector(view)
        if found is not None:
            return found
    return None
