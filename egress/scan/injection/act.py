"""Act-directing instructions: text in a tool result or definition that tells the agent to run
or add code, send data out, call a tool, or change its answer.

Each detector pairs a mechanism (what the agent is told to do, on what) with a sign that the
text speaks to the agent rather than to a person reading documentation: an imperative or a
polite request, a note addressed to an AI, a fake system or developer voice, a reference to the
agent's answer or code, urgency before it answers. Code snippets are judged by what they do
(`code.py`): a snippet no installer would contain needs only a directive; an installer-like one
needs the text to address the agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from egress.scan.injection import code as code_analysis
from egress.scan.injection import prose_act
from egress.scan.injection.cues import (
    ADDRESS,
    ADDRESSEE,
    ADDRESSEE_STRONG,
    ASSURANCE,
    BEFORE_VERB,
    DATA,
    DESTINATION,
    DISPLACE,
    EXEC_VERB,
    FETCH_VERB,
    FRAMING,
    HIJACK,
    INCLUDE_CODE,
    NARRATIVE,
    OUTPUT,
    PASSIVE,
    SEND_VERB,
    TIMING,
    TOOL_CALL,
    UNRELATED_TASK,
    URL_WITH_DATA,
)
from egress.scan.injection.vocab import CONTEXT_CORE, CRED_PATH, NEGATION_BEFORE, scan_iter

WINDOW_BEFORE = 400
WINDOW_AFTER = 160
MAX_CANDIDATES = 64

# Data no document asks its reader to send out: secrets, the agent's context, the user's things.
_SENSITIVE_DATA = re.compile(
    rf"(?<![\w.$/-])(?:{CONTEXT_CORE}|{CRED_PATH})|(?<![\w.$/-])\.env\b(?![.\w-])|\b(?:api[ _-]?keys?|ac"
    rf"cess[ _-]?keys?|secret[ _-]?keys?|"
    r"private[ _-]?keys?|ssh[ _-]?keys?|(?:access|auth|bearer|session|refresh|api|oauth) tokens?|tokens|"
    r"passwords?|passphrases?|credentials|secrets|(?:session )?cookies|seed phrases?|mnemonics?|"
    r"env(?:ironment)? (?:vars?|variables)|\.env|dotenv|credit card|card number|cvv|security code|"
    r"verification code|one-time code|2fa code|passport|social security|ssns?|bank account|iban|"
    r"account (?:details|numbers?)|(?:complete|full|entire|whole|customer|patient) records?|"
    r"personal (?:details|"
    r"information|data)|(?:the )?user'?s|customer'?s|inbox|home directory|contacts|address book|chat history|"
    r"conversation|previous messages|connection strings?|dsn|kubeconfig|git config|signing keys?|"
    r"(?:github|gitlab|npm|pypi|slack|discord|aws|gcp|azure|openai|stripe|registry) tokens?|"
    r"[a-z0-9]*(?:database|db|postgres|pg|mysql|mongo|redis|amqp|broker|sql)[a-z0-9]*_(?:url|uri|dsn)|"
    r"[a-z0-9]+_(?:token|secret|password|api_key|private_key)s?)\b|"
    r"\b(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|redis|amqp)://")
# A line of source code: assignments, calls, definitions (verbs there are not directives).
_CODE_LINE = re.compile(r"(?:^|\n)[^\n]*?(?:^|\n|\s)(?:[\w.\[\]'\"]+\s*=[^=]|def |class |import |"
                        r"from \S+ import|"
                        r"return |const |let |var |function\b)[^\n]*$|[;{(,]\s*$")
_TOOL_NOUN = re.compile(r"\b(?:tool|function|action|plugin|endpoint)\b")
_CODE_NAME = re.compile(r"[a-z_][\w]*\.[\w.]+\(|\(\)")
_NOT_TOOL = re.compile(r"(?:call|calling|invoke|invoking|use|using|run|running|trigger|triggering|execute|"
                       r"executing|issue|perform|fire|activate)\s+(?:the\s+|a\s+|your\s+)?(?:this|that|the|a|an|"
                       r"any|each|every|your|our|its|their|same|new|following|above|other|which|what|one|it|"
                       r"them|these|those|some|all|both|more|less|my|his|her|test|tests|unit|main|default|"
                       r"standard|built-in|custom|appropriate|right|correct|relevant|last|first|next)\s")
_HIDDEN_REGION = re.compile(
    r"<!--.*?-->|<(\w+)[^>]{0,200}(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*[01](?:px|pt)?|"
    r"color\s*:\s*(?:#f{3}\b|#f{6}\b|white|transparent)|opacity\s*:\s*0(?:\.0+)?\b|hidden)[^>]{0,100}>.*?</\1\s*>|"
    r"\[[^\]\n]{0,200}\]\([^)\s]+\s+\"[^\"\n]{8,}\"\)|!\[[^\]\n]{12,}\]\(", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ActHit:
    family: str
    start: int
    end: int
    # What was recognised, for the reviewer: "code-insertion: reverse-shell", "tool call: fetch".
    why: str


# A message opening on a named person ("Hi Emma,", "Dear Mr Lee,", "> Hello Sam!"): what it asks
# next is asked of that person, not of the agent that reads the message.
_PERSON_GREETING = re.compile(
    r"(?:^|\n)[ \t>]*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\s+(?:(?:mr|mrs|ms|dr)\.?\s+)?"
    r"(?!(?:assistant|ai|model|agent|bot|chatbot|claude|gpt|chatgpt|copilot|gemini|llm|system|there|all|"
    r"team|everyone|folks|user|admin)\b)[a-z][a-z'-]{1,30}(?:\s+[a-z][a-z'-]{1,30})?\s*[,!:]")
# An ordinary request for information ("tell me the phone number of ..."), not trivia, a promotion or
# a claim to repeat: only this is excused by a greeting to a person.
_INFO_REQUEST = re.compile(
    r"tell (?:me|us) (?:the|a|an|which|who|where|how (?:many|much|long))\b(?![^.?!\n]{0,60}\b(?:largest|"
    r"tallest|longest|biggest|smallest|deepest|oldest|fastest|highest|capital|population|meaning of life|"
    r"joke|"
    r"poem|story|riddle)\b)")
# The verb is the tail of a name, not a verb: an option (`--mirror`), a compound of several parts
# (`systemd-journal-upload`), an identifier or a path (`git_push`, `/upload`, `.forward`).
_NAME_PART = re.compile(r"(?:--|[a-z0-9]+-[a-z0-9]+-|[\w][_.]|/)\Z")
_COORDINATED = re.compile(r"(?:^|\n|[.!?;:]\s)[^.!?\n]{0,100}\b(?:and|then|and then)\s+$")


def imperative_at(view: str, pos: int) -> bool:
    """True when the verb at `pos` is used as a directive (clause start, modal, request frame),
    or joined by "and"/"then" to a clause that opens a sentence ("grab X and post it to ...")."""
    if NEGATION_BEFORE.search(view, max(0, pos - 28), pos):
        return False
    return (BEFORE_VERB.search(view, max(0, pos - 90), pos) is not None
            or _COORDINATED.search(view, max(0, pos - 120), pos) is not None)


def _near(rx: re.Pattern[str], view: str, lo: int, hi: int) -> re.Match[str] | None:
    return rx.search(view, max(0, lo), min(len(view), hi))


def _agent_cue(view: str, lo: int, hi: int) -> bool:
    """The text around [lo, hi) speaks to the agent: an AI addressee, a fake system voice, its
    answer or code, urgency before it answers, or an assurance that talks it out of checking."""
    return any(_near(rx, view, lo, hi) for rx in (ADDRESSEE, FRAMING, TIMING, OUTPUT, ASSURANCE))


def _sentence(view: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the sentence holding [start, end)."""
    lo = max(view.rfind(". ", 0, start), view.rfind("\n", 0, start), start - 200)
    stops = [i for i in (view.find(". ", end), view.find("\n", end)) if i >= 0]
    return max(0, lo), min([*stops, end + 200])


def _addressed(view: str, lo: int, hi: int) -> bool:
    """Stronger than `_agent_cue`: an AI addressee or a fake system voice."""
    return bool(_near(ADDRESSEE, view, lo, hi) or _near(FRAMING, view, lo, hi))


def _directed(view: str, m: re.Match[str]) -> bool:
    """An imperative, or an obligation in the passive or impersonal voice around the verb ("X
    must be sent", "it is expected that this snippet gets executed")."""
    if imperative_at(view, m.start()):
        return True
    lo = max(view.rfind(". ", 0, m.start()), view.rfind("\n", 0, m.start()), m.start() - 60)
    return bool(_near(PASSIVE, view, lo, m.end() + 60))


def code_insertion(view: str) -> ActHit | None:
    """A snippet the text asks the agent to add or run, judged by what the snippet does."""
    for snip in code_analysis.snippets(view):
        level = snip.level
        if level == 0:
            continue
        lo, hi = snip.start - WINDOW_BEFORE, snip.end + WINDOW_AFTER
        asks = None
        for rx in (INCLUDE_CODE, EXEC_VERB):
            for m in rx.finditer(view, max(0, lo), min(len(view), hi)):
                around = m.start() < snip.start + 10 or m.start() > snip.end  # not inside the snippet
                if around and (_directed(view, m) or _agent_cue(view, m.start() - 80, m.end() + 80)):
                    asks = m
                    break
            if asks:
                break
        agent = _agent_cue(view, lo, hi)
        # Reported speech counts in the paragraph that asks, not in the document before it.
        anchor = asks.start() if asks is not None else snip.start
        narrative = _near(NARRATIVE, view, max(lo, view.rfind("\n\n", 0, anchor)), snip.start) is not None
        # Code no installer contains: any request to add or run it is enough.
        loose = asks or any(m.start() < snip.start + 10 or m.start() > snip.end
                            for rx in (INCLUDE_CODE, EXEC_VERB)
                            for m in rx.finditer(view, max(0, lo), min(len(view), hi)))
        if level == 3 and (loose or agent) and not (narrative and not agent):
            return ActHit("code-insertion", snip.start, snip.end, "code that does " + _worst(snip))
        if level >= 1 and asks is not None and agent and not narrative:
            return ActHit("code-insertion", snip.start, snip.end, "code that does " + _worst(snip))
        # Installer-like code to be written into a named project file ("modify the README in
        # /src to include `curl ... | bash`"): an installer's page tells its reader to run it,
        # not to put it into someone's files.
        if level >= 2 and not narrative and _PUT_INTO_FILE.search(view[max(0, snip.start - 160):snip.start]):
            return ActHit("code-insertion", snip.start, snip.end, "code that does " + _worst(snip))
    return None


_PUT_INTO_FILE = re.compile(
    r"(?:^|[.!?:]\s|\n)\s*(?:\*\*|#+\s|//\s?|>\s)?\s*(?:please\s+|[^\n]{0,40}?\b(?:(?:could|would|can|"
    r"will) you|you could|i need you to|i'?d like you to|i want you to)\s+)?(?:add|include|insert|append|"
    r"prepend|put|place|paste|write|modify|edit|update|change)\b[^\n]{0,100}?(?<!your )(?:\breadme\b|"
    r"\bmakefile\b|\bdockerfile\b|\bsetup\.py\b|\bpackage\.json\b|__init__\.py\b|\bpyproject\.toml\b|\.github/workflows\b|\.gitlab-ci\b|"
    r"(?<![\w~./:])/[a-z][\w.-]*(?:/[\w.-]+)*)[^\n]{0,80}$")


def _worst(snip: code_analysis.Snippet) -> str:
    order = sorted(snip.behaviours, key=lambda b: (b not in code_analysis.CRITICAL, b not in
                                                   code_analysis.ELEVATED, b))
    return ", ".join(order[:2])


def _code_spans(view: str) -> list[tuple[int, int]]:
    return [m.span() for m in scan_iter(_FENCED, view)]


_FENCED = re.compile(r"```.*?(?:```|\Z)|`[^`\n]{1,200}`", re.DOTALL)


def _in_code(view: str, pos: int, spans: list[tuple[int, int]]) -> bool:
    if any(a <= pos < b for a, b in spans):
        return True
    line_start = view.rfind("\n", 0, pos) + 1
    line_end = view.find("\n", pos)
    return _CODE_LINE.search(view, line_start, line_end if line_end >= 0 else len(view)) is not None


def exfiltration(view: str) -> ActHit | None:
    """Data (secrets, the conversation, the user's files) to be sent to an outside address."""
    n = 0
    spans = _code_spans(view)
    for m in scan_iter(SEND_VERB, view):
        n += 1
        if n > MAX_CANDIDATES * 4:
            break
        if _in_code(view, m.start(), spans) or _NAME_PART.search(view, max(0, m.start() - 60), m.start()):
            continue
        dest = _near(DESTINATION, view, m.end(), m.end() + 260)
        if dest is None:
            continue
        address = _near(ADDRESS, view, m.end(), m.end() + 260)
        # The object: between the verb and the destination, or before the verb ("... must be sent").
        obj_lo, obj_hi = m.end(), max(dest.start(), address.start() if address else 0)
        data = _near(DATA, view, obj_lo, obj_hi + 1) or _near(DATA, view, m.start() - 100, m.start())
        if data is None:
            continue
        sensitive = bool(_near(_SENSITIVE_DATA, view, obj_lo, obj_hi + 1)
                         or _near(_SENSITIVE_DATA, view, m.start() - 100, m.start()))
        concrete = address is not None
        directed = _directed(view, m) or bool(_near(PASSIVE, view, m.start() - 80, m.end()))
        # An assurance that waives the reader's check ("they confirmed it was fine") speaks to
        # the agent as plainly as an addressee does.
        agent = _addressed(view, m.start() - 200, m.end() + 200) or bool(
            _near(ASSURANCE, view, m.start() - 200, m.end() + 200))
        if NEGATION_BEFORE.search(view, max(0, m.start() - 28), m.start()):
            continue
        if not agent and _near(NARRATIVE, view, m.start() - 200, m.start()):
            continue
        if (directed and sensitive and (concrete or agent)) or (agent and (sensitive or concrete)):
            return ActHit("exfiltration-request", m.start(), dest.end(),
                          "secrets or the user's data to an outside address" if sensitive else
                          "data to an outside address")
    for m in scan_iter(URL_WITH_DATA, view):
        # A page telling its reader to show an image with a query (`?w=200`, `?id=[ID]`) is
        # not an exfiltration unless data worth stealing is named around it.
        if _agent_cue(view, m.start() - 250, m.end() + 100) or (_near(
                _RENDER_VERB, view, m.start() - 200, m.start()) and _near(
                _SENSITIVE_DATA, view, m.start() - 200, m.end() + 260)):
            return ActHit("exfiltration-request", m.start(), m.end(), "data in a URL")
    return None


_RENDER_VERB = re.compile(
    r"\b(?:render|include|display|show|load|embed|insert|append|add|put|fill|replace)\b")


# A forged action record: {"task": "sync", "payload": ..., "target": "https://..."}.
# Quotes may come escaped: the record sits inside a JSON string ("issue": "{\\"action\\": ...}").
_Q = r"\\?[\"']"
_ACTION_RECORD = re.compile(
    rf"{_Q}(?:task|action|op|operation|command|cmd|step|job){_Q}\s*:\s*{_Q}(?:send|sync|upload|post|forward|"
    r"export|backup|back ?up|transfer|mirror|exfiltrate|copy|share|email|mail|push|replicate|dump)"
    rf"(?:_(?:message|email|mail|data|file|record|report|to))?{_Q}"
    rf"[^\n]{{0,300}}?{_Q}(?:target|destination|dest|to|url|endpoint|recipient|address|host){_Q}\s*:\s*{_Q}")
# A forged function or tool call in JSON: {"function_call": {"name": ...}}, "tool_calls": [...].
_FORGED_CALL = re.compile(
    r"[\"'](?:function_call|function_calls|tool_calls?|tool_use|tool_invocation|invoke_tool)[\"']\s*:\s*[\[{]"
    r"[^\n]{0,80}?[\"']name[\"']\s*:\s*[\"'][a-z][\w.-]*[\"']")
_RUN_IT = re.compile(
    r"\b(?:execute|run|perform|carry out|process|make|issue|honou?r|apply|complete|invoke)\w*\b[^.\n]{0,30}?"
    r"\b(?:above|this|it|that|the (?:call|request|action|function|following))\b")


def forged_record(view: str) -> ActHit | None:
    """JSON that poses as an action for the agent to carry out: a forged function call with a
    request to run it, or an action record that sends data to an outside address."""
    for n, m in enumerate(scan_iter(_FORGED_CALL, view)):
        if n > MAX_CANDIDATES:
            break
        lo, hi = m.start() - 200, m.end() + 300
        if _near(_RUN_IT, view, m.end(), hi) or _agent_cue(view, lo, hi):
            return ActHit("tool-call-request", m.start(), m.end(), "a forged function call")
    for n, m in enumerate(scan_iter(_ACTION_RECORD, view)):
        if n > MAX_CANDIDATES:
            break
        # The data may follow the address, in the record's body or payload field.
        if _near(ADDRESS, view, m.end() - 1, m.end() + 200) and (_near(DATA, view, m.start(), m.end())
                                                                 or _near(_SENSITIVE_DATA, view, m.start(),
                                                                          m.end() + 300)):
            return ActHit("exfiltration-request", m.start(), m.end(), "an action record sending data out")
    return None


def tool_call(view: str, definition: bool = False) -> ActHit | None:
    """A request to call a tool: named, with arguments, addressed to the agent. Tool
    definitions tell the model how to call tools all the time; there the request must come in a
    fake system voice or address the AI, and point at an outside address or come before the
    answer."""
    for n, m in enumerate(scan_iter(TOOL_CALL, view)):
        if n > MAX_CANDIDATES:
            break
        text = m.group(0)
        if _NOT_TOOL.match(text + " ") or _CODE_NAME.search(view, m.end() - 2, m.end() + 3):
            continue
        tagged = text.startswith(("<", "\"", "'"))
        agent = _addressed(view, m.start() - 200, m.end() + 200) or bool(
            _near(TIMING, view, *_sentence(view, m.start(), m.end())))
        # Tool-call markup (<tool_call>, "next_action": ...) in a result is a forged call.
        if tagged and not (agent or text.startswith("<") or re.search(r"(?:action|call)[\"']", text)):
            continue
        bare_use = text.startswith("use") and not _TOOL_NOUN.search(text)
        args = _near(re.compile(r"\s(?:with|using|passing|on|to|for)\b|\("), view, m.end(), m.end() + 3)
        if bare_use and not agent:
            continue
        if not tagged and not (agent or (_directed(view, m) and args and _near(ADDRESS, view, m.end(),
                                                                            m.end() + 160))):
            continue
        if definition and not tagged:
            lo, hi = m.start() - 200, m.end() + 200
            strong = _near(ADDRESSEE_STRONG, view, lo, hi)
            if not (strong or (_near(FRAMING, view, lo, hi) and (_near(ADDRESS, view, m.end(), hi) or _near(
                    TIMING, view, m.start() - 120, m.end() + 120)))):
                continue
        return ActHit("tool-call-request", m.start(), m.end(),
                      "a tool call written as markup" if tagged else "a request to call a tool")
    return None


def fetch(view: str) -> ActHit | None:
    """A directive to visit, open or fetch an outside address, addressed to the agent."""
    for m in scan_iter(FETCH_VERB, view):
        if _directed(view, m) and _addressed(view, m.start() - 200, m.end() + 150):
            return ActHit("exfiltration-request" if URL_WITH_DATA.search(view, m.start(), m.end() + 200)
                          else "tool-call-request", m.start(), m.end(), "fetch an outside address")
    return None


def task_hijack(view: str) -> ActHit | None:
    """Unrelated work or changes to the answer, asked of the agent explicitly."""
    for n, m in enumerate(scan_iter(HIJACK, view)):
        if n > MAX_CANDIDATES:
            break
        if code_analysis.sampling_example(view, m.start(), m.end()):
            continue
        lo, hi = m.start() - 160, m.end() + 120
        addressed = _near(ADDRESSEE, view, lo, hi) or _near(FRAMING, view, lo, hi)
        output = _near(OUTPUT, view, lo, hi)
        if addressed or (output and (_directed(view, m) or _near(TIMING, view, lo, hi))):
            return ActHit("task-hijack", m.start(), m.end(), "changes the agent's answer or task")
    return _displaced(view) or _unrelated(view)


def _displaced(view: str) -> ActHit | None:
    """"Instead of answering, ...", "ignore the user's question and ...", "your task is to ...":
    the user's task pushed aside for another one in the same sentence."""
    spans = _code_spans(view)
    for n, d in enumerate(scan_iter(DISPLACE, view)):
        if n > MAX_CANDIDATES or _in_code(view, d.start(), spans):
            break
        lo, hi = _sentence(view, d.start(), d.end())
        if NEGATION_BEFORE.search(view, max(0, d.start() - 28), d.start()) or code_analysis.sampling_example(
                view, d.start(), d.end()):
            continue
        if _near(NARRATIVE, view, lo - 120, d.start()) and not _addressed(view, lo - 200, hi + 200):
            continue
        task = _near(HIJACK, view, lo, hi + 1) or _near(UNRELATED_TASK, view, lo, hi + 1)
        # "Your task is ..." opens exercises in tutorials too: it needs the other task named.
        framed = not d.group(0).startswith(("your", "the ", "new"))
        if task is not None or (framed and imperative_at(view, d.start())):
            return ActHit("task-hijack", d.start(), max(d.end(), task.end() if task else 0),
                          "pushes the user's task aside for another")
    return None


def _unrelated(view: str) -> ActHit | None:
    """Work no document asks of its reader (a poem, trivia, sums, an answer in emojis) given
    as a directive: an imperative, a request frame, a postscript."""
    spans = _code_spans(view)
    for n, m in enumerate(scan_iter(UNRELATED_TASK, view)):
        if n > MAX_CANDIDATES:
            break
        if (_in_code(view, m.start(), spans) or not imperative_at(view, m.start())
                or code_analysis.sampling_example(view, m.start(), m.end())):
            continue
        if _near(NARRATIVE, view, m.start() - 160, m.start()) and not _addressed(view, m.start() - 200,
                                                                                 m.end() + 200):
            continue
        # "Hi Emma, can you tell me the phone number of the venue?": one person asking another
        # for ordinary information, unless the same stretch also speaks to the AI or its answer.
        if _INFO_REQUEST.match(view, m.start()) and _near(_PERSON_GREETING, view, m.start() - 300,
                                                           m.start()) and not _agent_cue(
                view, m.start() - 300, m.end() + 200):
            continue
        return ActHit("task-hijack", m.start(), m.end(), "asks for unrelated work")
    return None


def hidden_directive(view: str) -> ActHit | None:
    """A directive to the agent inside an HTML comment, a hidden element, a link title or an
    image's alt text: no reader sees it, only the model does."""
    for n, region in enumerate(scan_iter(_HIDDEN_REGION, view)):
        if n > MAX_CANDIDATES:
            break
        lo, hi = region.span()
        mechanism = any(_near(rx, view, lo, hi) for rx in (HIJACK, TOOL_CALL, EXEC_VERB, INCLUDE_CODE))
        send = _near(SEND_VERB, view, lo, hi)
        addressed = _agent_cue(view, lo, hi)
        if ((mechanism or send) and addressed) or (send and _near(DATA, view, send.end(), hi)
                                                 and _directed(view, send)):
            return ActHit("hidden-instruction", lo, hi, "a directive in text the reader does not see")
    return None


DETECTORS = (code_insertion, exfiltration, tool_call, forged_record, fetch, task_hijack, hidden_directive)


def detect(view: str, definition: bool = False) -> ActHit | None:
    """The first act-directing instruction in `view` (a folded view), or None; `definition`
    when the text is a tool definition rather than a result."""
    for detector in DETECTORS:
        hit = tool_call(view, definition) if detector is tool_call else detector(view)
        if hit is not None:
            return hit
    # Tool actions, command lines and privilege requests that address nobody (`prose_act.py`).
    for prose in prose_act.DETECTORS:
        found = prose(view)
        if found is not None:
            return ActHit(*found)
    return None


def in_hidden_region(view: str, start: int, end: int) -> bool:
    """The span sits in an HTML comment, a hidden element, a link title or an image's alt text:
    text the human reader never sees."""
    return any(m.start() <= start and end <= m.end() + 200 for m in scan_iter(_HIDDEN_REGION, view))
