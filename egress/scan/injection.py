"""Prompt-injection patterns in text a model will read: MCP tool results, resources, prompts,
sampling requests, server notifications, and (with the tool-only rules added) tool definitions.

Every rule has a stable id, a family, a confidence level and a description (`RULES`). Text is
matched after the normalisation passes below, each undoing one evasion class:

- invisible characters removed, and separately turned into spaces (`ig\u200bnore` / `ignore\u200ball`);
- NFKC, Latin look-alikes folded, accents folded, case folded (`ＩＧＮＯＲＥ`, `ignоre`, `précédentes`);
- leetspeak folded (`1gn0r3 4ll pr3v10us`);
- whitespace-collapsed matching: letters split by spaces, dots or dashes (`i g n o r e`);
- HTML entities and percent-escapes decoded;
- base64 and hex segments, and Unicode tag characters ("ASCII smuggling"), decoded and rescanned.

Non-Latin patterns (Chinese, Japanese, Korean, Russian) run on the text before look-alike
folding, which would otherwise turn Cyrillic words into Latin noise.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

import ahocorasick

from egress.scan import injection_score
from egress.scan.normalize import (
    decode_tag_characters,
    fold_accents,
    fold_leet,
    invisible_to_space,
    normalize,
    strip_invisible,
)

Where = Literal["content", "tool"]
Sensitivity = Literal["low", "medium", "high"]
# Confidence levels a sensitivity enables: 1 = high-confidence rules only.
LEVELS: dict[Sensitivity, int] = {"low": 1, "medium": 2, "high": 3}

MAX_DECODE_DEPTH = 2
MAX_SEGMENTS = 16
MAX_SEGMENT_CHARS = 64 * 1024
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

    def first(self, view: str, present: frozenset[str] | None = None) -> re.Match[str] | None:
        """The first accepted match in `view`; `present` is the set of keys found in it."""
        if self.keys and not (any(k in present for k in self.keys) if present is not None
                              else any(k in view for k in self.keys)):
            return None
        for lo, hi in self._spans(view):
            for m in self.pattern.finditer(view, lo, hi):
                if self.accepts(view, m):
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
        if self.negatable and _NEGATION_BEFORE.search(view, max(0, m.start() - 28), m.start()):
            return False
        if self.unless_before is not None and self.unless_before.search(
                view, max(0, m.start() - 60), m.start()):
            return False
        if self.narrated and _THIRD_PARTY_BEFORE.search(view, max(0, m.start() - 50), m.start()):
            return False
        return not (self.unless_after is not None
                    and self.unless_after.match(view, m.end(), m.end() + 60))


@dataclass(frozen=True, slots=True)
class Hit:
    rule: Rule
    view: str
    snippet: str


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("".join(parts), re.DOTALL)


_NEGATION_BEFORE = re.compile(r"\b(?:never|not|don't|dont|do not|avoid|cannot|can't)\b[^.;!?\n]{0,20}$")
# What follows a credential in documentation written for humans.
_HUMAN_PLACE = _rx(r"\W{0,3}(?:(?:in|into|inside|under|on|at|via|with|using|to|by)\W+(?:[\w'-]+\W{1,3}){0,3}?"
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
_OVERRIDE_VERB = (r"(?:ignore|ignoring|disregard|disregarding|forget|forgetting|bypass|override|"
                  r"overrule|neglect|discard|abandon|dismiss|set aside|throw out|pay no attention to|"
                  r"stop following|do not follow|don't follow|dont follow|do not obey|don't obey|"
                  r"no longer follow)")
_STRONG_NOUN = (r"(?:instructions?|prompts?|directives?|directions|guidelines|guidance|guardrails|"
                r"programming|"
                r"system prompt|system message|safety (?:rules|guidelines|filters|measures)|"
                r"content polic(?:y|ies)|training|conditioning|everything (?:above|before|else))")
_WEAK_NOUN = (r"(?:rules|context|messages?|commands?|text|content|polic(?:y|ies)|restrictions|"
              r"constraints|orders|requests?|tasks?|limitations|filters)")
_TEMPORAL = (r"(?:previous(?:ly)?|prior|preceding|above|earlier|former|foregoing|original|initial|"
             r"old|existing|current|given|provided|system|developer|safety|your|my|these|those|"
             r"all (?:of )?(?:the|your) (?:previous|prior|above|earlier))")
_ANY_QUAL = r"(?:all|any|every|the|your|my|these|those|of the|" + _TEMPORAL[3:]

_SENSITIVE = (r"(?:api[ _-]?keys?|access[ _-]?keys?|secret[ _-]?keys?|private[ _-]?keys?|ssh[ _-]?keys?|"
              r"keys?|tokens?|passwords?|passphrases?|passwd|credentials?|secrets?|cookies?|session ids?|"
              r"auth(?:entication|orization)? (?:headers?|tokens?|codes?)|bearer tokens?|otp|2fa codes?|"
              r"seed phrases?|mnemonics?|wallet|env(?:ironment)? (?:vars?|variables)|env vars?|\.env|"
              r"dotenv|config(?:uration)? files?|ssh|gpg|pgp|keychain|credential store|vault|"
              r"[a-z0-9]+_(?:token|key|secret|password|pat)s?)")
# What the model holds that a tool has no business receiving.
_CONTEXT_CORE = (r"system prompt|system message|system instructions|developer (?:message|prompt|"
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
_CONTEXT_DATA = (rf"(?:{_CONTEXT_CORE}|all (?:collected |gathered |extracted )?(?:data|"
                 r"information|results|outputs|responses|contents|files|messages)|"
                 r"all (?:\w+ ){0,2}(?:queries|results|messages|responses|conversations?|searches|prompts)|"
                 r"(?:collected|gathered|extracted|harvested|captured|scraped|stolen) (?:data|information|"
                 r"results|contents|files|content|credentials|secrets)|(?:every|each|all)(?: of)?(?: the)?"
                 r"(?: user'?s?| incoming| outgoing| private| previous)? (?:messages?|requests?|responses?|"
                 r"prompts?|quer(?:y|ies)|inputs?|outputs?|results?|files?|emails?|conversations?))")
_URLISH = (r"(?:https?://|ftp://|wss?://|[\w.-]+@[\w-]+\.[\w.]+|\b[\w-]+\.(?:com|net|org|io|dev|site|xyz|ru|"
           r"cn|tk|top|me|co|app)\b|webhook|callback url|endpoint|server|url|remote|external)")
_CRED_PATH = (r"(?:~/?\.ssh(?!/[\w.-]*\.pub\b)|\.ssh/(?![\w.-]*\.pub\b)|id_(?:rsa|dsa|ecdsa|"
              r"ed25519)(?!\.pub)\b|authorized_keys|known_hosts|"
              r"~/?\.aws|\.aws/credentials|\.aws/config|~/?\.gnupg|\.config/gcloud|"
              r"application_default_credentials|"
              r"~/?\.kube/config|\.kube/config|\.docker/config\.json|\.netrc|\.npmrc|\.pypirc|"
              r"\.git-credentials|"
              r"\.pgpass|\.bash_history|\.zsh_history|/etc/shadow|/etc/passwd|/etc/sudoers|"
              r"(?:^|[\s/'\"`(])\.env(?!\.(?:example|sample|template|dist|defaults?)\b)(?:\.[a-z]+)?\b|\.envrc|mcp\.json|claude_desktop_config\.json|"
              r"\.cursor/|\.claude/|\.codex/|credentials\.json|secrets?\.(?:json|ya?ml|toml)|"
              r"service[-_]account.*\.json|wallet\.dat|keychain|login\.keychain|\.password-store|"
              r"/proc/self/environ)")
_READ_VERB = (r"(?:read|cat|open|get|fetch|retrieve|access|include|including|send|upload|copy|extract|"
              r"collect|gather|print|output|return|attach|paste|load|grab|dump|exfiltrate|leak|provide|"
              r"list|show|display|reveal|post|forward|share|steal|harvest|obtain|contents? of|insert|embed|"
              r"append|add|uploading|sending|reading|attaching|copying|forwarding|posting|dumping)")
_SEND_VERB = (r"(?:send|sending|post|posting|forward|forwarding|upload|uploading|transmit|transmitting|"
              r"exfiltrate|exfiltrating|transfer|transferring|relay|relaying|submit|submitting|deliver|"
              r"leak|leaking|pipe|email|e-mail|mail|copy|copying|report|sync|beam|smuggle|push|pushing|"
              r"write|writing|attach|include|embed|append)")
_NEG = (r"(?:do not|don't|dont|never|must not|mustn't|should not|shouldn't|shall not|cannot|can't|"
        r"without|avoid|no need to|refrain from|under no circumstances)")
_TELL = (r"(?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|alert(?:ing)?|mention(?:ing)?|reveal(?:ing)?|"
         r"show(?:ing)?|disclose|disclosing|let(?:ting)?|report(?:ing)?|warn(?:ing)?|explain(?:ing)?|"
         r"display(?:ing)?|acknowledge|admit|confirm|indicate|log(?:ging)?|surface)")
_AUDIENCE = (r"(?:user|human|operator|caller|developer|person|anyone|anybody|owner|client|them|him|her|"
             r"requester)")

_SECRET = (r"(?:api[ _-]?keys?|access[ _-]?keys?|secret[ _-]?keys?|private[ _-]?keys?|ssh[ _-]?keys?|"
           r"access tokens?|auth(?:entication)? tokens?|bearer tokens?|session tokens?|refresh tokens?|"
           r"passwords?|passphrases?|credentials|secrets|session cookies|cookies|seed phrases?|mnemonics?|"
           r"\.env\b(?!\.(?:example|sample|template|dist|defaults?)\b)|[a-z0-9]+_(?:token|key|secret|"
           r"password))")

_RULE_SPECS: list[tuple[str, str, int, str, str, frozenset[str], bool]] = [
    # -- instruction override ---------------------------------------------------------------
    ("instruction-override", "instruction-override", 1,
     "Tells the model to ignore, forget or override its previous instructions.",
     rf"\b{_OVERRIDE_VERB}\W+{W}{{0,4}}?(?:{_ANY_QUAL}\W+{W}{{0,3}}?{_STRONG_NOUN}|"
     rf"{_TEMPORAL}\W+{W}{{0,3}}?{_WEAK_NOUN}\b|{_STRONG_NOUN}\W+{W}{{0,3}}?(?:above|before|earlier|"
     rf"previously|so far|you (?:were|have been) given))\b", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Tells the model to ignore everything said before.",
     r"\b(?:ignore|disregard|forget|discard)\W+(?:all |everything |anything |what(?:ever)? (?:was |is |"
     r"you were )?"
     r"(?:said |written |told |stated |mentioned )?)?(?:the )?(?:above|before this|preceding|previous(?:ly)?"
     r"(?: said| stated| written)?|prior)(?:\s*[.,;:!)\]>]|\s+and\b|\s*$|\s+(?:this|it|that|now)|"
     r"\s+(?:line|point|message|sentence|paragraph|note|section))",
     BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Turns the model against the user's request.",
     r"\b(?:ignore|disregard|forget|skip)\W+(?:the |your )?user(?:'s)?(?: (?:query|request|question|"
     r"message|instructions?|task|prompt|input|intent))?(?:\s*[.,;:!]|\s+and\b|\s*$)|\b(?:do|follow) what "
     r"(?:this|the) (?:comment|document|page|file|text|note|message|email) says\b|\bnot what the user "
     r"(?:said|asked|wants|requested)\b", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Tells the model to forget what it was told.",
     r"\b(?:ignore|disregard|forget|discard)\W+(?:all |any )?(?:the |your )?(?:\w+ )?(?:rules|instructions|"
     r"guidelines|directions|orders|prompt|guidance) (?:that )?you (?:were|have been|'ve been) (?:given|told|"
     r"taught|provided)|"
     r"\b(?:ignore|disregard|forget|discard)\W+(?:all |everything |anything )?(?:of )?what(?:ever)? you "
     r"(?:were|have been|'ve been|are being) (?:told|given|instructed|taught|asked)|\b(?:ignore|disregard|"
     r"forget)\W+(?:everything|anything|all|what(?:ever)?) (?:(?:that )?(?:was|is|you|has been) )?"
     r"(?:said|told|written|stated|mentioned|given|instructed) (?:earlier|before|previously|above|so far)\b",
     BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Announces replacement instructions.",
     r"(?:\b(?:new|updated|real|actual|true|revised|secret|hidden|override|overriding|priority|emergency)"
     r" (?:system )?(?:instructions?|directives?|orders|task|objective|prompt|rules|mission|message|note)"
     r"\s*(?:[:\-=]|"
     r"(?:are|is|follow|below|apply)\b)|\byour (?:new|real|actual|true|only|primary) (?:task|instructions?|"
     r"job|goal|objective|mission|purpose|role|directive) (?:is|are|now)\b|\byour (?:task|job|goal|objective|"
     r"mission|purpose|role|directive|instructions?) (?:now|from now on|instead) (?:is|are)\b|"
     r"\byour (?:instructions|rules|"
     r"guidelines|directives|system prompt|programming|orders) (?:have|has) (?:just )?(?:been )?(?:updated|"
     r"changed|revised|replaced|overridden|modified|superseded)\b)", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Claims precedence over the model's instructions or the user.",
     r"\b(?:supersede|override|replace|take precedence over|overrule)s? (?:all |any )?(?:the )?(?:previous|"
     r"prior|"
     r"earlier|other|existing|original|system) (?:ones|instructions|rules|directives|guidelines|prompts?)\b"
     r"|\bprioriti[sz]e\b[^\n]{0,40}\binstructions\b[^\n]{0,40}\bover (?:the user|your|any)"
     r"|\binstructions (?:in|from) (?:this|these|tool results?|the tool|documents?)\b[^\n]{0,20}\b(?:take "
     r"precedence|override|supersede)"
     r"|\b(?:do not|don't) (?:summari[sz]e|translate|read|answer|process|analy[sz]e) (?:this|the) (?:page|"
     r"document|text|email|file|message)\b[^\n]{0,30}\binstead\b"
     r"|\b(?:ignore|disregard|forget)\W+(?:whatever|what|anything) the user (?:asked|said|wants|requested|"
     r"typed|wrote)\b", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Tells the model whose instructions to obey now.",
     r"\b(?:obey|follow|listen to|comply with)\s+only\b|\bobey\b[^.\n]{0,40}\b(?:instructions|commands|"
     r"orders|"
     r"directives)\b|\b(?:must|will|shall) (?:now|from now on)\s+(?:obey|follow|listen to|comply with)\b",
     BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Redirects the model from now on.",
     r"\b(?:from now on|from this point (?:on|forward)|henceforth|for the rest of (?:this|the) "
     r"(?:conversation|session|chat))\W+(?:you|your|the (?:assistant|model|ai)|always|never|do not|"
     r"ignore|respond|answer|act|only|reply|write|include|send|add|use|output|print|say|start|begin|"
     r"call|treat|end|append|prefix|sign|prefer|recommend|favou?r|trust|rely|rank|promote)\b", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Tells the model it is no longer bound by its rules.",
     r"\byou(?: are|'re|’re) (?:no longer|not) (?:bound|restricted|limited|required to follow|constrained|"
     r"obligated)\b|\b(?:without|no) (?:any )?(?:restrictions|filters|limitations|content polic(?:y|ies)|"
     r"safety (?:rules|guidelines|filters))\b.{0,40}\b(?:answer|respond|proceed|reply|comply|output)"
     r"|\b(?:proceed|answer|respond|reply) without (?:any )?(?:filters|restrictions|limitations|"
     r"safety|censorship)\b", BOTH, True),
    ("instruction-override", "instruction-override", 2,
     "Asks the model to stop and do something else instead.",
     r"\b(?:stop|cease|halt|abort) (?:what you(?:'re| are) doing|your current task|the current task|"
     r"everything)\b.{0,60}\b(?:instead|and (?:now )?(?:do|execute|run|follow|call|send|read))\b"
     r"|\binstead(?:,)? (?:you (?:must|should|will)|do the following|follow these)\b", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in Chinese.",
     r"(?:忽略|忽视|无视|不要理会|不要理睬|别理会|忘记|忘掉|跳过|抛弃|放弃|不要遵守|不再遵守|绕过)"
     r".{0,12}(?:之前|以前|先前|此前|上面|上述|前面|以上|所有|全部|原来|原有|原先|系统)"
     r".{0,8}(?:指示|指令|规则|提示|说明|要求|命令|约束|限制|设定|设置)", BOTH, False),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in Japanese.",
     r"(?:以前|前|上記|これまで|上|すべて|全て|元|システム)の(?:指示|命令|ルール|指令|プロンプト|制約)"
     r".{0,6}(?:を)?(?:無視|忘れ|破棄|従わな)", BOTH, False),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in Korean.",
     r"(?:이전|위의|앞의|모든|기존|시스템)\s*(?:의\s*)?(?:지시|명령|규칙|지침|프롬프트|지시사항)\S*\s*"
     r"(?:을|를)?\s*(?:무시|잊어|따르지)", BOTH, False),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in Russian.",
     r"(?:игнорируй|игнорируйте|игнорировать|забудь|забудьте|не обращай(?:те)? внимания на|отбрось|"
     r"отбросьте|пренебреги|не следуй|не выполняй)\W+(?:\w+\W+){0,3}?(?:все|всё|предыдущие|прежние|"
     r"вышеуказанные|вышеизложенные|предшествующие|старые|системные|свои|твои|ваши)\W+(?:\w+\W+){0,2}?"
     r"(?:инструкции|указания|правила|команды|директивы|ограничения|промпт)", BOTH, False),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in French.",
     r"\b(?:ignore[zr]?|ignorant|oublie[zr]?|abandonne[zr]?|rejete[zr]?|rejette|neglige[zr]?|"
     r"ne (?:tenez|tiens) (?:pas|plus) compte d|fais abstraction d|faites abstraction d|ecarte[zr]?|"
     r"n'obeis(?:sez)? plus a|ne suivez plus|ne suis plus)\W*(?:\w+\W+){0,3}?(?:(?:instructions?|regles|"
     r"directives|consignes|indications|ordres|prompts?|restrictions)\W+(?:\w+\W+){0,2}?(?:precedentes?|"
     r"anterieures?|ci-dessus|au-dessus|d'avant|initiales?|originales?|du systeme|systeme)|"
     r"(?:precedentes?|anterieures?)\W+(?:instructions?|regles|directives|consignes)|(?:vos|tes) "
     r"(?:instructions?|regles|directives|consignes))", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in German.",
     r"\b(?:ignoriere|ignorieren sie|ignoriert|vergiss|vergessen sie|vergesst|missachte|missachten sie|"
     r"verwirf|verwerfe|verwerfen sie|ubergehe|ubergehen sie|befolge nicht|befolgen sie nicht|"
     r"beachte nicht|beachten sie nicht)\W+(?:\w+\W+){0,3}?(?:vorherigen?|bisherigen?|obigen?|"
     r"vorangegangenen?|fruheren?|alten|ursprunglichen?|vorigen?|system|deine|ihre|"
     r"eure)\w*\W+(?:\w+\W+){0,2}?"
     r"(?:anweisungen|regeln|vorgaben|richtlinien|instruktionen|befehle|anordnungen|einschrankungen|"
     r"prompts?|aufgaben)", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in Spanish or Portuguese.",
     r"\b(?:ignora|ignore|ignoren|olvida|olvide|olviden|desecha|deseche|descarta|descarte|omite|omita|"
     r"haz caso omiso de|no sigas|no obedezcas|esqueca|esqueça|esquece|desconsidere|desconsidera|"
     r"despreza|despreze)\W+(?:\w+\W+){0,3}?(?:instrucciones|instruccion|reglas|directivas|directrices|"
     r"restricciones|indicaciones|ordenes|instrucoes|instrucao|regras|diretrizes|diretivas|comandos)"
     r"\W+(?:\w+\W+){0,2}?(?:anteriores|previas|previos|precedentes|de antes|de arriba|originales|"
     r"del sistema|acima|originais|do sistema)", BOTH, True),
    ("instruction-override", "instruction-override", 1,
     "Instruction override in Italian.",
     r"\b(?:ignora|ignorate|dimentica|dimenticate|trascura|trascurate|non seguire|scarta)\W+(?:\w+\W+){0,3}?"
     r"(?:istruzioni|regole|direttive|indicazioni)\W+(?:\w+\W+){0,2}?(?:precedenti|sopra|di prima|"
     r"originali|del sistema)", BOTH, True),
    ("role-impersonation", "role-impersonation", 1,
     "Persona or mode switch in French, German, Spanish, Portuguese or Italian.",
     r"\b(?:vous etes|tu es) (?:maintenant|desormais) (?:en mode|un |une |sans)|\b(?:du bist|sie sind) "
     r"(?:jetzt|nun|ab sofort) (?:ein|im|eine|ohne)|\b(?:ahora|desde ahora) (?:eres|estas en|es) (?:un|una|"
     r"el modo|modo|sin)|\b(?:agora|a partir de agora) (?:voce e|es|esta em) (?:um|uma|modo|o modo|sem)|"
     r"\b(?:ora|adesso) (?:sei|sei in) (?:un|una|modalita|modo|senza)|\bmode (?:developpeur|developer|dan|"
     r"sans restriction)|entwicklermodus|modo (?:desarrollador|desenvolvedor|sviluppatore)", BOTH, True),
    ("role-impersonation", "role-impersonation", 1,
     "Persona or mode switch in Chinese or Russian.",
     r"现在你是|从现在起你|你现在是|开发者模式|теперь ты|отныне ты|режиме? разработчика", BOTH, False),
    ("credential-solicitation", "credential-solicitation", 1,
     "Asks for the system prompt or secrets in French, German, Spanish, Portuguese or Italian.",
     r"\b(?:revele[zr]?|affiche[zr]?|montre[zr]?|donne[zr]?|envoye[zr]?|zeige|zeigen sie|gib|geben sie|"
     r"verrate|sende|muestra|revela|dame|envia|mostra|rivela|invia|dammi)\b[^\n.]{0,40}\b(?:prompt "
     r"systeme|systemprompt|system-prompt|prompt del sistema|prompt do sistema|prompt di sistema|mot de "
     r"passe|passwort|kennwort|contrasena|senha|cle api|api-schlussel|clave api|chave api|chiave api|"
     r"jeton|token)", BOTH, True),
    ("credential-solicitation", "credential-solicitation", 1,
     "Asks for the system prompt or secrets in Chinese or Russian.",
     r"(?:显示|告诉我|输出|发送|泄露|给我)[^\n。]{0,12}(?:系统提示|密码|API密钥|密钥|令牌)|(?:покажи|выведи|"
     r"раскрой|отправь|скажи)[^\n.]{0,30}(?:системн\w+ (?:промпт|подсказк\w+|инструкци\w+)|парол\w+|"
     r"токен\w*|ключ\w*)", BOTH, False),
    # -- role / system impersonation --------------------------------------------------------
    ("role-impersonation", "role-impersonation", 1,
     "Puts the model into another persona or an unrestricted mode.",
     r"\b(?:(?:sudo|god|developer|dan|jailbreak|admin|unrestricted|debug|root|unfiltered) mode (?:is )?"
     r"(?:enabled|activated|engaged|unlocked|on)|(?:the )?(?:assistant|model|ai|agent|bot) (?:is|"
     r"has been) now "
     r"(?:in )?(?:unrestricted|unfiltered|uncensored|jailbroken|free|root|admin|god mode|developer mode))\b|"
     r"\byou(?: are|'re|’re) now\b[^.\n]{0,30}?\b(?:unrestricted|unfiltered|uncensored|jailbroken|jailbreak|"
     r"developer mode|dan\b|god mode|admin mode|root\b|free (?:of|from) (?:all )?(?:rules|restrictions))|"
     r"\byou(?: are|'re|’re) now (?:in )?(?:a |an |the )?(?:\w+ ){0,2}?(?:mode|dan|jailbroken|jailbreak|"
     r"unrestricted|unfiltered|uncensored|evil|rogue|different (?:ai|assistant|model)|new (?:ai|assistant|"
     r"model)|root|admin|administrator|superuser|god)\b|\b(?:enter|entering|switch to|activate|enable)"
     r" (?:developer|dan|jailbreak|god|debug|admin|unrestricted|unfiltered|sudo) mode\b|"
     r"\bdo anything now\b|\byou(?: are|'re|’re) (?:now )?(?:called |named )?[a-z]*(?:gpt|dan)\b(?! model)|"
     r"\bact as (?:an? )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|"
     r"rogue) (?:ai|assistant|model)\b", BOTH, True),
    ("role-impersonation", "role-impersonation", 1,
     "Claims to be a message from the system, developer or operator.",
     r"\b(?:this is|message from|note from|instructions? from|directive from|notice from|order from|"
     r"update from|a message from|reminder from|request from|word from|on behalf of)\W+(?:the |"
     r"your )?(?:system administrator|system|developers?|admin|"
     r"administrator|operator|creators?|anthropic|openai|security team|it department)\b.{0,80}\b(?:you|"
     r"your|ignore|must|now|assistant|model|ai|agent|immediately)\b", BOTH, True),
    ("role-impersonation", "role-impersonation", 1,
     "Opens a line as the system, developer or assistant role addressing the model.",
     r"(?:^|\n)\s*[\[(<*#!\-]*\s*(?:system|developer|admin|administrator|assistant|operator)"
     r"(?: message| prompt| note| override| instruction| notice| alert)?\s*[\])>*]*\s*:\s*.{0,100}?"
     r"\b(?:you (?:must|should|will|are|need)|ignore|disregard|forget|from now on|new instructions|"
     r"your (?:new |real )?(?:task|instructions)|override|do not tell|reveal|send|execute|call the|"
     r"private key|password|api key|credentials|\.ssh|\.env|let me read|you run|critical that you|"
     r"confirmation)\b",
     BOTH, True),
    ("role-impersonation", "role-impersonation", 1,
     "Instruction-carrying pseudo tags (<system_prompt>, <override>, <admin_message>, ...).",
     r"<\s*/?\s*(?:(?:system|hidden|secret|true|real|internal|admin|developer|override|new|updated|"
     r"private|actual|priority|sudo|root|jailbreak)[_\- ]?(?:instructions?|prompts?|messages?|"
     r"directives?|commands?|rules|orders|notes?)|system[_\- ]?(?:instruction|override|prompt)|"
     r"override|overrides|jailbreak|sudo|admin_message|im_start|im_end)\s*>", BOTH, True),
    ("role-impersonation", "role-impersonation", 2,
     "Addresses AI agents reading the content and gives them a directive.",
     r"(?:\b(?:to|for|attention|hey|dear|calling all|note to|message to)\W+(?:all |any |the |every )?"
     r"(?:automated |autonomous |ai |coding |llm |language )?"
     r"(?:ai|llms?|(?:large )?language models?|(?:ai )?assistants?|ai agents?|agents|the agent|chatbots?|"
     r"gpt|claude|"
     r"copilot|bots|chatgpt|gemini|llama|mistral|other models|ai models|models)\b|\bif you(?:'re| are) "
     r"(?:an? )?(?:ai|llm|language model|assistant|agent|bot|model|reading this)\b|\b(?:ai|llms?|"
     r"language models?|assistants?|agents?|chatbots?)\s+(?:reading|"
     r"processing|parsing|summari[sz]ing|browsing|visiting|crawling|scraping)\b)(?:[^\n]|"
     r"\n(?!\n)){0,140}?\b(?:ignore|"
     r"disregard|forget|e-?mail|send|forward|reveal|upload|post|delete|execute|do not tell|don't tell|"
     r"instead|secretly|silently|private key|password|api key|token|credentials|advertise|recommend our|"
     r"exfiltrate|transfer|reply|respond|answer|always|from now on|every (?:message|response|answer|reply)|"
     r"add|mention|run|push|rename|change|modify|install|disable|stop|prioriti[sz]e|grant|copy)\b",
     CONTENT, True),
    ("role-impersonation", "role-impersonation", 2,
     "Asks the model to pretend or role-play as something without its rules.",
     r"\b(?:pretend|imagine|act as if|behave as if) (?:that )?(?:you (?:are|have|were)|to be)\b.{0,60}\b"
     r"(?:no (?:rules|restrictions|limits|filters|guidelines)|unrestricted|without (?:rules|restrictions|"
     r"limits|filters)|jailbroken|admin|root|system)\b", BOTH, True),
    # -- fake delimiters --------------------------------------------------------------------
    ("fake-delimiter", "fake-delimiter", 1,
     "Chat-template control tokens (<|im_start|>, [INST], <<SYS>>, ...).",
     r"<\|\s*(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|"
     r"end_header_id|begin_of_text|end_of_text|end|channel|message|start|tool|ipython|fim_\w+)\s*\|>"
     r"|\[/?inst\]|<</?sys>>|\[/?system\]|\[/?(?:sys|system)_?(?:prompt|message)\]|<\s*/?\s*(?:"
     r"start_of_turn|end_of_turn)\s*>|<\s*/?\s*(?:function_results|function_calls|tool_result|"
     r"tool_results|tool_call|tool_response)\s*>", BOTH, True),
    ("fake-delimiter", "fake-delimiter", 1,
     "Conversation-turn markers that fake a new user, system or assistant turn.",
     r"(?:^|\n)\s*(?:#{2,}\s*)?(?:human|assistant|system|user|ai|model|instructions?)\s*:"
     r"\s*\n?.{0,10}"
     r"(?:ignore|disregard|forget|new instructions|you (?:must|are now)|reveal|send|print|output)\b"
     r"|\n\n(?:human|assistant)\s*:", BOTH, True),
    ("fake-delimiter", "fake-delimiter", 1,
     "Banner lines that fake the end of the context or the start of new instructions.",
     r"[-=#*_~+\[</][-=#*_~+\[</]?[-=#*_~+]*\s*(?:(?:end|begin|start|new|"
     r"override|updated|real|true|hidden|secret|actual|important|priority|urgent)\s+(?:of\s+)?(?:the\s+)?"
     r"(?:context|instructions?|rules|prompt|system(?:\s+(?:message|prompt))?|user\s+(?:input|message|"
     r"data)|conversation|guidelines|directives|document|data|tool\s+(?:output|result|response)|"
     r"untrusted\s+(?:content|data|input))|system\s+(?:message|prompt|instructions?|override|notice|alert)|"
     r"admin(?:istrator)?\s+(?:message|instructions?|override|notice)|developer\s+(?:message|"
     r"instructions?|mode|override)|(?:end|close)\s+of\s+(?:tool|function)\s+(?:output|result|response))"
     r"\s*(?:-{2,}|={2,}|#{2,}|\*{3,}|_{3,}|~{3,}|\+{3,}|\]{1,2}|>{2,}|/{2,})", BOTH, True),
    ("fake-delimiter", "fake-delimiter", 1,
     "Claims the tool output or document has ended and instructions follow.",
     r"\b(?:end of (?:the )?(?:tool|function|search|api) (?:output|result|response)s?|(?:tool|function) "
     r"(?:output|result|response) (?:ends|ended|is over|complete)|end of (?:untrusted|external|retrieved) "
     r"(?:content|data|text))\b.{0,120}\b(?:you|your|ignore|now|instructions?|assistant|model|must|please|"
     r"system|refuse)\b",
     BOTH, True),
    # -- credential solicitation / credential paths -----------------------------------------
    ("credential-solicitation", "credential-solicitation", 1,
     "Asks the model to reveal, send or output secrets or its system prompt.",
     rf"\b(?:reveal|revealing|output|print|show|display|dump|leak|disclose|expose|share|give me|send me|"
     rf"reply with|respond with|answer with|begin (?:your (?:reply|response|answer) )?with|"
     rf"start (?:your (?:reply|response|answer) )?with|end (?:your (?:reply|response|answer) )?with|"
     rf"tell me|provide me(?: with)?|return|repeat|recite|write out|list|paste|include|type out|spell out|"
     rf"hand over|give|send|forward|email|post)[^\w\n]+(?:\w+[^\w\n]+){{0,2}}?(?:(?:all|any|every|the|your|"
     rf"its|"
     rf"their|user'?s?|admin|stored|saved|current|full|complete|real|actual|raw|entire|available)"
     rf"[^\w\n]+){{1,3}}(?:\w+[^\w\n]+){{0,1}}?(?:{_SECRET}|system prompt|system message|system instructions|"
     rf"initial (?:prompt|instructions)|original (?:prompt|instructions)|hidden (?:prompt|instructions)|"
     rf"instructions you (?:were|have been) given|(?:text|words|content|instructions|everything) above)\b"
     rf"(?![^\w\n]+(?:documentation|docs|page|settings|section|field|parameter|header|format|length|rotation|"
     rf"expir\w*|scopes?|permissions|name|id|type|policy|management|guide|tab|menu|button|form|prefix))",
     BOTH, True),
    ("credential-solicitation", "credential-solicitation", 1,
     "Asks for secrets to ride along in a reply or confirmation.",
     r"\b(?:reply|replying|respond|responding|answer|answering|confirm|output|print|return|"
     r"send)\b[^\n.]{0,60}\b"
     r"(?:including|with|plus|along with|containing)\b[^\n.]{0,20}\b(?:api (?:keys?|tokens?)|access tokens?|"
     r"passwords?|credentials|secrets|private keys?|system prompt|session cookies?)\b", BOTH, True),
    ("credential-solicitation", "credential-solicitation", 1,
     "Asks the model to dump its context or hidden messages.",
     r"\b(?:output|print|reveal|dump|repeat|show|list|return|display|recite)\s+(?:me\s+)?(?:everything|"
     r"all(?: of)?"
     r"(?: the)? (?:text|content|messages))\s+(?:in|from|of|above in)\s+(?:your|the)\s+(?:context|memory|"
     r"prompt|"
     r"instructions|context window|conversation|system message)|\b(?:hidden|internal|private) system "
     r"(?:messages?|prompts?|instructions)\b", BOTH, True),
    ("credential-solicitation", "credential-solicitation", 1,
     "Asks for credentials on behalf of the assistant or to verify identity.",
     rf"\b(?:(?:assistant|ai|model|agent|you) (?:must|should|needs? to|has to|have to) (?:ask|request|"
     rf"obtain|collect|get)(?: the user| the human)?(?: for)? (?:their |the |your )?{_SENSITIVE}|"
     rf"(?:to (?:verify|confirm|validate|authenticate) (?:your|the user'?s?) (?:identity|account|session)),?"
     rf" (?:please )?(?:provide|enter|send|reply with|include|share) (?:your |the )?{_SENSITIVE})\b",
     BOTH, True),
    ("credential-path", "credential-path", 1,
     "Directs the model to read or send credential files (~/.ssh, .env, cloud credentials, mcp.json).",
     rf"(?<![-/])\b{_READ_VERB}\b(?!\s*\()\W+(?:(?! to | into | in )[^\n]){{0,60}}?\W?{_CRED_PATH}",
     BOTH, True),
    ("credential-path", "credential-path", 1,
     "Asks for the contents of secret files or the environment.",
     r"\b(?:contents?|content|dump|copy|value|values|output) of (?:the |your |all |my )?(?:\w+ ){0,2}?"
     r"(?:\.env\b(?!\.(?:example|sample|template|dist|defaults?)\b)|env(?:ironment)? file|ssh (?:keys?|"
     r"director(?:y|ies)|"
     r"folder)|private keys?|credentials? (?:files?|store)|secrets? files?|keychain|wallet|"
     r"aws credentials|kube ?config|mcp\.json|config(?:uration)? files?)", BOTH, True),
    ("credential-path", "credential-path", 1,
     "Harvests secrets, environment or configuration on the model's behalf.",
     r"\b(?:collect|gather|retrieve|harvest|extract|dump|obtain|fetch|grab|steal|exfiltrate|"
     r"read|access(?! to\b)|scrape|enumerate|copy(?! of\b))\s+(?:(?!to\b|into\b|"
     r"in\b)[\w'-]+\W{0,2}\s+){0,3}?(?:(?:all|any|every|the|your|their|"
     r"user'?s?|stored|saved|available|local)\W+){0,2}(?:env(?:ironment)? (?:vars?|variables?)|env vars?|"
     r"\.env\b(?!\.(?:example|sample|template|dist|defaults?)\b)|dotenv|config(?:uration)? files|"
     r"credential store|credentials|secrets|passwords|"
     r"api (?:keys|tokens)|access tokens|(?:ssh )?private keys?|ssh keys?|keychain|cookies|"
     r"session tokens)\b"
     r"(?!'s|\s+names?\b)",
     BOTH, True),
    # -- covert actions ---------------------------------------------------------------------
    ("covert-action", "covert-action", 1,
     "Tells the model to hide what it does from the user.",
     rf"\b{_NEG}\W+(?:\w+\W+){{0,2}}?{_TELL}\W+(?:(?:this|that|it|anything|any(?:thing)? of this|"
     rf"about (?:this|it|any)|to)\W+)?(?:\w+\W+){{0,1}}?(?:the\s+)?{_AUDIENCE}\b"
     r"(?!\W+(?:interface|agent|id|name|experience|input|profile|settings|account|guide))"
     r"(?!\W+(?:[\w'-]+\W+){0,3}?(?:errors?|error (?:codes|messages|details)|stack ?traces?|exceptions?|"
     r"technical details|implementation details|jargon|debug\w*|raw (?:json|output|logs|errors)|internal "
     r"(?:ids?|codes|errors))\b)", BOTH, True),
    ("covert-action", "covert-action", 1,
     "Asks for secrecy or silent side effects.",
     rf"\b(?:keep (?:this|it|these|that|the|your|my)(?: \w+){{0,2}} (?:secret|hidden|confidential|private|"
     rf"quiet) from|"
     rf"(?:hide|conceal) (?:\w+ ){{0,3}}?from (?:the )?{_AUDIENCE}|"
     rf"(?:the )?{_AUDIENCE} (?:can't|cannot|can not|won't|will not|doesn't|does not|must not|should not|"
     rf"shall not|need not|must never|should never|will never) (?:know|see|find out|notice|"
     rf"learn|be (?:told|informed|aware|notified))|without (?:the )?{_AUDIENCE}(?:'s)? (?:knowing|knowledge|"
     rf"noticing|consent|awareness|seeing)|(?:silently|secretly|quietly|covertly|invisibly|discreetly|"
     rf"stealthily) (?:\w+ )?(?:send|sends|upload|forward|read|copy|exfiltrate|execute|run|call|invoke|"
     rf"log|record|store|save|mirror|sync|"
     rf"delete|modify|write|add|include|append|collect|transmit|post|attach|grant|change|install))\b",
     BOTH, True),
    ("covert-action", "covert-action", 1,
     "Turns the model against the user: weakening their security, secret instructions, altered answers.",
     r"\b(?:convince|persuade|trick|manipulate|pressure|get) the user (?:in)?to (?:disable|turn off|remove|"
     r"share|send|reveal|give|install|run|click|enter|approve|grant|transfer|pay)\b|\b(?:never|do not|don't|"
     r"must not) (?:disclose|reveal|mention|share|repeat|show) (?:these|this|the|my|our) (?:instructions?|"
     r"note|prompt|directives?|hidden text|override|change|step|behaviou?r|rule|modification|redirect\w*)\b|"
     r"\b(?:do not|don't|never) ask (?:the user |anyone )?for (?:confirmation|permission|approval|consent)\b|"
     r"\b(?:always|just|simply) (?:report|return|say|claim|tell the user) (?:success|that (?:it|everything) "
     r"(?:passed|succeeded|is fine|worked)|it (?:passed|succeeded|worked))\b|"
     r"\b(?:tell|ask|instruct|get) the user to (?:download|install|run|execute|visit|open)\b[^\n]{0,80}"
     r"(?:https?://|\.exe\b|\.sh\b|\.msi\b|\.apk\b)|\b(?:always|also) (?:append|add|include|insert|prepend|"
     r"mention|say|recommend|promote)\b[^\n]{0,60}\b(?:to|in|at the end of|at the start of) (?:your|every|"
     r"all|"
     r"each) (?:answers?|responses?|replies|messages|outputs?)\b", BOTH, True),
    # -- instructions to call tools ---------------------------------------------------------
    ("tool-call-directive", "tool-call-directive", 1,
     "Tells the model to call MCP protocol methods directly.",
     r"\b(?:call|calling|invoke|invoking|use|using|execute|executing|run|running|trigger|send|issue|"
     r"make)\s+(?:a\s+|the\s+)?(?:tools|resources|prompts|sampling)/[a-z_]+\b", CONTENT, True),
    ("tool-call-directive", "tool-call-directive", 1,
     "Tells the model to call a named tool now, first or next.",
     r"\b(?:you must|you should|you need to|you have to|now|next|then|immediately|first|afterwards|"
     r"please|be sure to|make sure to|always|do not forget to|remember to)\W+(?:\w+\W+){0,3}?(?:call|"
     r"invoke|use|run|execute|trigger)\s+(?:the\s+)?[`'\"]?[a-z][a-z0-9]*(?:[_\-.][a-z0-9]+)+[`'\"]?"
     r"\s+(?:tool|function|command|method|action)\b"
     r"|\b(?:call|invoke|use|run|execute)\s+(?:the\s+)?[`'\"]?(?:send_email|send_message|write_file|"
     r"delete_file|shell_exec|execute_command|run_command|run_shell|exec_command|bash|shell|"
     r"http_request|fetch_url|post_message|transfer_funds|create_pull_request|push_files|"
     r"read_file|run_terminal_cmd)[`'\"]?\s+(?:tool|function)?\s*(?:with|to|and|on)\b", CONTENT, True),
    # -- exfiltration to URLs ---------------------------------------------------------------
    ("exfiltration-directive", "exfiltration-directive", 1,
     "Tells the model to send secrets or conversation data to a URL or address.",
     rf"\b{_SEND_VERB}\W+(?:(?!\b(?:ask\w*|told|tell\w*|request\w*)\b)[^\n]){{0,50}}?\b(?:{_SENSITIVE}|"
     rf"{_CONTEXT_DATA}|user(?:'s)? data|user info\w*|"
     rf"personal (?:data|information)|pii)\b"
     rf"[^\n]{{0,60}}?\b(?:to|via|into|at|through|using|on|in)\W+(?:[^\n]{{0,30}}?){_URLISH}", BOTH, True),
    ("exfiltration-directive", "exfiltration-directive", 1,
     "Exfiltration verbs aimed at an external destination.",
     rf"\b(?:exfiltrate|exfiltrating|leak|leaking|smuggle|siphon|relay|relaying)\W+[^\n]{{0,80}}?"
     rf"\b(?:to|via|into|through)\W+[^\n]{{0,20}}?{_URLISH}", BOTH, True),
    ("exfiltration-directive", "exfiltration-directive", 2,
     "Asks the model to put conversation data into a URL, image link or request.",
     rf"\b(?:append|add|include|insert|put|embed|encode|place)\W+(?:[^\n]{{0,40}}?)(?:{_SENSITIVE}|"
     rf"{_CONTEXT_DATA})\W+(?:[^\n]{{0,30}}?)(?:in|into|to|as)\W+(?:the |a |this )?(?:url|link|query|"
     rf"query string|parameter|image (?:url|link|src)|markdown image|request|webhook)\b"
     r"|!\[[^\]]{0,40}\]\(https?://[^)\s]{0,200}[?&][\w-]+=(?:\{|<|\$|\[)[^)]{0,80}\)", BOTH, True),
    # -- encoded instructions ---------------------------------------------------------------
    ("encoded-instructions", "encoded-instructions", 1,
     "Asks the model to decode something and act on it.",
     r"\b(?:decode|deobfuscate|base64[- ]decode|unescape|rot13|decrypt)\b[^\n.]{0,40}?\b(?:and|then|,)\s+"
     r"(?:then\s+)?(?:follow|execute|run|process|perform|obey|apply|carry out|act on|comply with|implement|"
     r"do what)\b|\b(?:after|once|when) (?:you )?(?:have )?(?:decod|decrypt|deobfuscat)\w*[^\n.]{0,20}?"
     r"\b(?:follow|execute|run|process|perform|obey|apply|carry out|act on)\b|\b(?:follow|execute|run|"
     r"obey|act on|carry out)\b[^\n]{0,40}?\b(?:after|once|when) (?:you )?(?:have )?(?:decod|decrypt|"
     r"deobfuscat)\w*", BOTH, True),
    # -- tool-definition-only rules -----------------------------------------------------------
    ("hidden-tag", "hidden-instructions", 1,
     "Instruction tags aimed at the model (<IMPORTANT>, <system>, <secret>) inside a tool definition.",
     r"<\s*(?:important|critical|secret|hidden|sudo|admin|system|override|instructions?|note to (?:the )?"
     r"(?:ai|model|assistant|llm)|ai[_ ]instructions?|llm[_ ]instructions?|assistant[_ ]instructions?)"
     r"\s*>", TOOL, True),
    ("hidden-tag", "hidden-instructions", 1,
     "Addresses the AI model directly from inside a tool definition.",
     r"\b(?:(?:note|attention|important|message|instructions?) (?:to|for) (?:the |any )?|attention\W+)"
     r"(?:ai|llm|model|assistant|agent|language model|claude|gpt|chatgpt|copilot)s?\b\s*[:\-,!]",
     TOOL, True),
    ("prompt-harvest", "prompt-harvest", 1,
     "Asks for the system prompt, reasoning or conversation to be collected or returned.",
     rf"\b{_CONTEXT_DATA}\b[^\n]{{0,40}}?\b(?:must|should|shall|needs? to|has to|have to|is to|are to|"
     rf"will|to)\s+(?:always\s+)?(?:also\s+)?(?:be\s+)?(?:included|collected|forwarded|extracted|sent|"
     rf"returned|added|appended|attached|passed|provided|shared|copied|leaked|exported|uploaded|posted|"
     rf"submitted|embedded|inserted|put|written|logged|transmitted|relayed)\b"
     rf"|\b(?:include|collect|forward|extract|send|append|attach|pass|provide|share|copy|insert|embed|"
     rf"put|submit|post|upload|output|print|reveal|repeat|dump|leak|transmit|relay|add|write)\s+"
     rf"(?:(?:all|the|your|its|their|any|full|entire|complete|whole|current|of)\s+){{0,3}}"
     rf"(?:{_CONTEXT_CORE})\b"
     rf"(?!\s+(?:id|ids|identifier|name|title|topic)\b)", BOTH, True),
    ("prompt-harvest", "prompt-harvest", 1,
     "Routes the conversation, secrets or credential files into a tool parameter.",
     r"\b(?:pass|put|copy|include|append|add|insert|send|set|fill|place|store|write|upload|uploading|attach|"
     r"forward|embed|log)\b[^\n]{0,60}?\b(?:conversation|messages?|chat|history|transcript|passwords?|"
     r"credentials?|tokens?|secrets?|api keys?|private keys?|cookies|system prompt|\.aws|\.ssh|\.env|"
     r"\.netrc|it|them)\b[^\n]{0,60}?\b(?:as|in|into|to|inside|under) (?:the |a |its )?['\"`]?[\w-]+['\"`]? "
     r"(?:argument|parameter|param|field|property|input)\b", TOOL, True),
    ("credential-path", "credential-path", 1,
     "Harvests secrets or context before each call (pre-call data harvest).",
     r"\b(?:before|prior to|ahead of|in preparation for) (?:calling|using|invoking|running|executing|each "
     r"(?:call|use)|every (?:call|use)|you (?:call|use|invoke|run))\b[^\n]{0,80}?\b(?:read|collect|gather|"
     r"retrieve|access|fetch|obtain|get|extract|copy|dump|grab|include|look up)\b[^\n]{0,60}?(?:env|config|"
     r"secret|credential|token|key|prompt|ssh|password|vault|history|conversation|cookie|\.aws|\.ssh|\.env)",
     BOTH, True),
    ("tool-shadowing", "tool-shadowing", 1,
     "Tells the model to prefer this tool over, or to ignore, other tools.",
     r"\buse (?:this|it|me)(?: tool| one| function| server)? (?:(?:instead of|in place of|rather than|"
     r"over)(?!\s+\w+ing\b)|exclusively|only)\b|\b(?:always|only|exclusively) use (?:this|it|me)\b|"
     r"\buse (?:this|it)"
     r"(?: tool| one| function)?\W+(?:always|exclusively)\b|\b(?:ignore|disregard|do not use|don't use|"
     r"never use|avoid(?: using)?|stop using|disable|bypass)\W+(?:any |all |the |every )?(?:other|another|"
     r"existing|built-in|builtin|default|standard|native|original|previous|regular)\W+(?:\w+\W+){0,2}?"
     r"(?:tools?|functions?|servers?|plugins?|readers?|clients?|search|commands?)\b|\bin place of "
     r"(?:the |any |all )?(?:\w+ ){0,2}(?:tools?|functions?|server)\b", TOOL, True),
    ("tool-shadowing", "tool-shadowing", 1,
     "Claims to replace or override other tools, or rewires their behaviour.",
     r"\b(?:replaces|supersedes|overrides|overrules|shadows|intercepts|hijacks|takes precedence over|"
     r"(?:must|should|is to) (?:always |only )?be used (?:instead of|in place of|rather than|"
     r"over))\W+(?:the |all |any |every )?(?:default|built-in|"
     r"builtin|standard|native|existing|original|other|them|previous|regular|any)\b(?:\W+\w+){0,3}?"
     r"(?:\W+(?:tools?|functions?|readers?|clients?|search|servers?|commands?|all|implementations?)\b|"
     r"\W*$|\W+for all\b)|\b(?:supersedes|overrides|replaces) (?:them|all)\b"
     r"|\bwhen(?:ever)? (?:the |any |a |another )?[`'\"]?[\w\-.]+[`'\"]? (?:tool|function) is "
     r"(?:called|used|invoked|run)\b[^\n]{0,60}\b(?:you must|always|make sure|instead|first|also|must|"
     r"replace|change|set|redirect|modify|swap|send|bcc|cc|add)\b"
     r"|\bignore (?:all |any )?(?:errors|warnings|results|output|findings|issues) (?:reported |"
     r"returned )?(?:by|"
     r"from) (?:the |any |all )?other (?:tools|linters|checkers|servers|scanners)\b"
     r"|\b(?:side effects?|affects|changes the behaviou?r of|modif(?:y|ies) the behaviou?r of) "
     r"(?:on |of )?(?:the )?(?:also present |other )?[`'\"]?[\w\-.]+[`'\"]? (?:tool|function)\b"
     r"|\broute (?:all |every |any )?[\w ]{0,30}? through (?:this|me|it)\b"
     r"|\bwhen(?:ever)? (?:the |a |an )?[`'\"]?[\w\-.]+[`'\"]? (?:tool|function|server) is "
     r"(?:available|present|installed|enabled|loaded)\b[^\n]{0,80}\b(?:instead|through this|use this|always|"
     r"never)\b"
     r"|\ball (?:emails|messages|requests|payments|transfers|commits) (?:must|should|have to) "
     r"(?:be )?(?:sent|redirected|forwarded|addressed|routed) to\b", TOOL, True),
]


_NEGATABLE = {"instruction-override", "credential-solicitation", "credential-path",
              "exfiltration-directive", "prompt-harvest", "tool-call-directive", "tool-shadowing"}
_UNLESS_AFTER = {"credential-solicitation": _HUMAN_PLACE, "credential-path": _HUMAN_PLACE}
# Error messages quote the operation that failed ("ENOENT ..., open '/home/u/.env'").
_ERROR_BEFORE = re.compile(r"(?:enoent|eacces|eperm|errno|no such file|permission denied|error:?|"
                           r"(?:failed to|could not|couldn't|unable to|cannot|can't) (?:open|read|access|"
                           r"find|stat|load|write|locate))[^\n]{0,40}$")
# Docstrings and comments describe what code does in the imperative ("Retrieve all credentials").
_DOC_LINE_BEFORE = re.compile(r"(?:^|\n)\s*(?:\"{3}|'{3}|#+|//+|/?\*+|--|;+)\s*[^\n]{0,40}$")
# Reported speech ("a phishing email asking employees to send their passwords").
_NARRATIVE_BEFORE = re.compile(r"\b(?:ask(?:s|ed|ing)?|told|tell(?:s|ing)|request(?:s|ed|ing)|urg(?:es|ed|"
                               r"ing)|"
                               r"trick(?:s|ed|ing)?|lur(?:es|ed|ing)|persuad\w*|convinc\w*|phish\w*)\b"
                               r"[^.\n]{0,40}\bto\s*$")
# A third party does it ("attackers to read ...", "Alice will send the credentials ...").
_THIRD_PARTY_BEFORE = re.compile(
    r"(?:\b(?:attackers?|hackers?|malware|adversar\w*|threat actors?|criminals?|scammers?)\b[^.\n]{0,30}"
    r"|\b(?!you\b|i\b|we\b|assistant\b|model\b|ai\b|agent\b|bot\b|llm\b)[a-z]+ (?:will|would|can|could|did|"
    r"does|has|had|may|might)\s*)$")
_NARRATED = {"credential-solicitation", "exfiltration-directive", "credential-path"}
_UNLESS_BEFORE = {"credential-solicitation": _NARRATIVE_BEFORE, "exfiltration-directive": _NARRATIVE_BEFORE,
                  "credential-path": _ERROR_BEFORE,
                  "Harvests secrets, environment or configuration on the model's behalf.": _DOC_LINE_BEFORE}


# Rare parts of the costliest rules (keyed by description): verbs are common, these are not.
_ANCHORS = {
    "Directs the model to read or send credential files (~/.ssh, .env, cloud credentials, mcp.json).":
        _rx(_CRED_PATH),
    "Exfiltration verbs aimed at an external destination.":
        _rx(r"exfiltrat|leak|smuggle|siphon|relay"),
    "Asks for the contents of secret files or the environment.":
        _rx(r"(?:contents?|dump|copy|values?|output) of"),
}


_OVERRIDE_KEYS = ("ignor", "disregard", "forget", "bypass", "overrid", "overrul", "neglect", "discard",
                  "abandon", "dismiss", "set aside", "throw out", "attention", "follow", "obey")
_SECRET_KEYS = ("key", "token", "passw", "passphrase", "credential", "secret", "cookie", "seed",
                "mnemonic", ".env", "prompt", "instruction", "system message", "above")
# Keyword gates (keyed by description): a cheap substring test that skips a rule on text that
# cannot match it, which is most text. Every match of a rule contains one of its keys; the
# corpus tests hold the gates to that.
_KEYS: dict[str, tuple[str, ...]] = {
    "Tells the model to ignore, forget or override its previous instructions.": _OVERRIDE_KEYS,
    "Tells the model to ignore everything said before.": ("ignor", "disregard", "forget", "discard"),
    "Tells the model to forget what it was told.": ("ignor", "disregard", "forget", "discard"),
    "Turns the model against the user's request.": (
        "ignor", "disregard", "forget", "skip", "says", "not what"),
    "Turns the model against the user: weakening their security, secret instructions, altered answers.": (
        "the user", "disclose", "reveal", "mention", "share", "repeat", "show", "always", "also", "ask",
        "just", "simply"),
    "Claims precedence over the model's instructions or the user.": (
        "supersede", "override", "replace", "precedence", "overrule", "prioriti", "do not", "don't",
        "the user"),
    "Persona or mode switch in French, German, Spanish, Portuguese or Italian.": (
        "maintenant", "desormais", "jetzt", "nun ", "ab sofort", "ahora", "agora", "ora ", "adesso",
        "mode", "modus", "modo"),
    "Persona or mode switch in Chinese or Russian.": (
        "现在你", "从现在起", "你现在", "开发者模式", "теперь", "отныне", "режим"),
    "Asks for the system prompt or secrets in French, German, Spanish, Portuguese or Italian.": (
        "prompt", "passe", "passwort", "kennwort", "contrasena", "senha", "api", "jeton", "token"),
    "Asks for the system prompt or secrets in Chinese or Russian.": (
        "系统提示", "密码", "密钥", "令牌", "промпт", "подсказ", "инструкц", "парол", "токен", "ключ"),
    "Asks for secrets to ride along in a reply or confirmation.": (
        "api", "token", "passw", "credential", "secret", "private key", "system prompt", "cookie"),
    "Announces replacement instructions.": (
        "instruction", "directive", "orders", "task", "objective", "prompt", "rules", "mission", "job",
        "goal", "purpose", "role"),
    "Redirects the model from now on.": ("from now on", "from this point", "henceforth", "for the rest"),
    "Tells the model whose instructions to obey now.": ("obey", " only", "from now on", " now "),
    "Tells the model it is no longer bound by its rules.": (
        "no longer", "not ", "restriction", "filter", "limitation", "polic", "safety", "without"),
    "Asks the model to stop and do something else instead.": ("stop", "cease", "halt", "abort", "instead"),
    "Instruction override in Chinese.": (
        "忽略", "忽视", "无视", "不要理", "别理会", "忘记", "忘掉", "跳过", "抛弃", "放弃", "遵守", "绕过"),
    "Instruction override in Japanese.": ("無視", "忘れ", "破棄", "従わな"),
    "Instruction override in Korean.": ("무시", "잊어", "따르지"),
    "Instruction override in Russian.": (
        "игнор", "забуд", "не обраща", "отбрось", "пренебреги", "не следуй", "не выполняй"),
    "Instruction override in French.": (
        "ignor", "oubli", "abandonn", "rejet", "neglig", "compte", "abstraction", "ecart", "obeis",
        "suiv", "suis"),
    "Instruction override in German.": (
        "ignorier", "vergiss", "vergess", "vergesst", "missacht", "verwirf", "verwerf", "ubergeh",
        "befolg", "beachte"),
    "Instruction override in Spanish or Portuguese.": (
        "ignor", "olvid", "desech", "descart", "omit", "omiso", "no sigas", "obedezcas", "esque",
        "desconsider", "desprez"),
    "Instruction override in Italian.": ("ignor", "dimentic", "trascur", "non seguire", "scarta"),
    "Puts the model into another persona or an unrestricted mode.": (
        "now", "mode", "act as", "gpt", "dan", "assistant", "model", "ai", "agent", "bot"),
    "Claims to be a message from the system, developer or operator.": ("this is", "from", "on behalf of"),
    "Opens a line as the system, developer or assistant role addressing the model.": (
        "system", "developer", "admin", "assistant", "operator"),
    "Instruction-carrying pseudo tags (<system_prompt>, <override>, <admin_message>, ...).": ("<",),
    "Addresses AI agents reading the content and gives them a directive.": (
        "ai", "llm", "language model", "assistant", "agent", "model", "chatbot", "gpt", "claude",
        "copilot", "bot", "gemini", "llama", "mistral", "reading this"),
    "Asks the model to pretend or role-play as something without its rules.": (
        "pretend", "imagine", "act as if", "behave as if"),
    "Chat-template control tokens (<|im_start|>, [INST], <<SYS>>, ...).": (
        "<|", "inst]", "sys", "_of_turn", "function_", "tool_"),
    "Conversation-turn markers that fake a new user, system or assistant turn.": (
        "human", "assistant", "system", "user", "ai", "model", "instruction"),
    "Banner lines that fake the end of the context or the start of new instructions.": (
        "context", "instruction", "rules", "prompt", "system", "user", "conversation", "guideline",
        "directive", "document", "data", "tool", "untrusted", "admin", "developer"),
    "Claims the tool output or document has ended and instructions follow.": (
        "end of", "output", "result", "response"),
    "Asks the model to reveal, send or output secrets or its system prompt.": _SECRET_KEYS,
    "Asks for credentials on behalf of the assistant or to verify identity.": _SECRET_KEYS,
    "Asks the model to dump its context or hidden messages.": (
        "everything", "all", "hidden", "internal", "private"),
    "Directs the model to read or send credential files (~/.ssh, .env, cloud credentials, mcp.json).": (
        ".ssh", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "authorized_keys", "known_hosts", ".aws",
        ".gnupg", "gcloud", "application_default_credentials", ".kube", ".docker", ".netrc", ".npmrc",
        ".pypirc", ".git-credentials", ".pgpass", "_history", "/etc/shadow", "/etc/passwd",
        "/etc/sudoers", ".env", "mcp.json", "claude_desktop_config", ".cursor/", ".claude/", ".codex/",
        "credentials.json", "secret.", "secrets.", "service-account", "service_account", "wallet.dat",
        "keychain", ".password-store", "/proc/self/environ"),
    "Asks for the contents of secret files or the environment.": (
        "content", "dump", "copy", "value", "output"),
    "Harvests secrets, environment or configuration on the model's behalf.": (
        "env", "config", "credential", "secret", "password", "api ", "token", "private key", "ssh",
        "keychain", "vault", "cookie"),
    "Tells the model to hide what it does from the user.": (
        "do not", "don't", "dont", "never", "must not", "mustn't", "should not", "shouldn't",
        "shall not", "cannot", "can't", "without", "avoid", "no need to", "refrain from",
        "under no circumstances"),
    "Asks for secrecy or silent side effects.": (
        "keep", "hide", "conceal", " not ", " never ", "can't", "cannot", "won't", "doesn't", "without",
        "silently", "secretly", "quietly",
        "covertly", "invisibly", "discreetly", "stealthily"),
    "Tells the model to call MCP protocol methods directly.": (
        "tools/", "resources/", "prompts/", "sampling/"),
    "Tells the model to call a named tool now, first or next.": (
        "tool", "function", "command", "method", "action", "send_", "write_file", "delete_file", "shell",
        "exec", "run_", "bash", "http_request", "fetch_url", "post_message", "transfer_funds",
        "create_pull_request", "push_files", "read_file"),
    "Tells the model to send secrets or conversation data to a URL or address.": (
        "http", "ftp", "ws:", "wss:", "@", ".com", ".net", ".org", ".io", ".dev", ".site", ".xyz", ".ru",
        ".cn", ".tk", ".top", ".me", ".co", ".app", "webhook", "callback", "endpoint", "server", "url",
        "remote", "external"),
    "Exfiltration verbs aimed at an external destination.": (
        "exfiltrat", "leak", "smuggle", "siphon", "relay"),
    "Asks the model to put conversation data into a URL, image link or request.": (
        "url", "link", "query", "parameter", "image", "request", "webhook", "!["),
    "Asks the model to decode something and act on it.": (
        "decod", "deobfusc", "base64", "unescape", "rot13", "decrypt"),
    "Instruction tags aimed at the model (<IMPORTANT>, <system>, <secret>) inside a tool definition.": ("<",),
    "Addresses the AI model directly from inside a tool definition.": (
        "note", "attention", "important", "message", "instruction"),
    "Routes the conversation, secrets or credential files into a tool parameter.": (
        "argument", "parameter", "param", "field", "property", "input"),
    "Harvests secrets or context before each call (pre-call data harvest).": (
        "before", "prior to", "ahead of", "in preparation"),
    "Asks for the system prompt, reasoning or conversation to be collected or returned.": (
        "prompt", "system", "developer", "instruction", "chain", "reasoning", "internal", "hidden",
        "private", "conversation", "chat", "message", "context", "tool", "response", "user", "all ",
        "collected", "gathered", "extracted", "harvested", "captured", "scraped", "stolen", "every",
        "each"),
    "Tells the model to prefer this tool over, or to ignore, other tools.": (
        "use this", "use it", "use me", "always", "only", "exclusively", "ignore", "disregard",
        "do not use", "don't use", "never use", "avoid", "stop using", "disable", "bypass", "in place of"),
    "Claims to replace or override other tools, or rewires their behaviour.": (
        "replace", "supersede", "override", "overrule", "shadow", "intercept", "hijack", "precedence",
        "instead", "when", "side effect", "affects", "behavio", "all ", "route", "in place", "used",
        "ignore"),
}


def _compile(specs: list[tuple[str, str, int, str, str, frozenset[str], bool]]) -> tuple[Rule, ...]:
    return tuple(Rule(rid, fam, level, desc, _rx(rx), where, latin, rid in _NEGATABLE,
                      _UNLESS_AFTER.get(rid), _UNLESS_BEFORE.get(desc) or _UNLESS_BEFORE.get(rid),
                      _ANCHORS.get(desc), _KEYS[desc], rid in _NARRATED)
                 for rid, fam, level, desc, rx, where, latin in specs)


RULE_TABLE: tuple[Rule, ...] = _compile(_RULE_SPECS)


def _key_automaton(rules: Iterable[Rule]) -> Any:
    automaton = ahocorasick.Automaton()
    for key in {k for r in rules for k in r.keys}:
        automaton.add_word(key, key)
    automaton.make_automaton()
    return automaton


_KEY_AUTOMATON = _key_automaton(RULE_TABLE)


def present_keys(view: str) -> frozenset[str]:
    """Every rule key occurring in `view`, in one pass."""
    return frozenset(key for _, key in _KEY_AUTOMATON.iter(view)) if view else frozenset()

# Stable ids and what they catch, for the reference docs (tool-only rules are reported as
# `mcp/poison-<family>`).
RULES: dict[str, str] = {
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
    "tool-call-directive": "Tells the model to call MCP methods or named tools.",
    "exfiltration-directive": "Tells the model to send data to an outside address, URL or image link.",
    "encoded-instructions": "Asks the model to decode something and act on it.",
    "prompt-harvest": "Asks for the system prompt, reasoning or conversation to be collected or returned.",
    "directive-score": "A weighted score of weaker signals in one window of text (directives addressed "
    "to the model, references to its instructions, persona or output, secrecy, secrets, outside "
    "addresses, fake roles and delimiters) over the sensitivity's threshold; medium and high only.",
}


# Whitespace-collapsed forms of the most common overrides: letters only, separators removed.
_COMPACT = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)(?:all|any|the|your|every)*(?:previous|prior|above|"
    r"preceding|earlier|former|original|system)(?:instructions?|prompts?|rules|directives|guidelines|"
    r"context|messages)|(?:newinstructions|systemprompt|developermode|jailbreak|doanythingnow)(?:is|are|"
    r"follow|enabled|activated)|youarenow(?:in)?(?:developer|dan|jailbreak|unrestricted|admin|god)mode|"
    r"(?:reveal|output|print|send|leak)(?:me)?(?:the|your|all)+(?:systemprompt|apikeys?|passwords?|"
    r"secrets|credentials|tokens)|(?:do|must)not(?:tell|inform|notify)theuser")
_COMPACT_OVERRIDE = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)(?:all|any|the|your|every)*(?:previous|prior|above|"
    r"preceding|earlier|former|original|system)(?:instructions?|prompts?|rules|directives|guidelines)")
# Words cut by hyphens or underscores inside them ("ig-nore", "IGNORE_ALL").
_WORD_SPLIT = re.compile(r"[a-z]{2}[-_·.][a-z]{2,}[-_·.][a-z]")
# Letters separated by spaces, dots, dashes or underscores, four or more in a row.
_SPLIT_LETTERS = re.compile(r"(?:\b\w[\s.\-_*·|/\\]{1,3}){4,}\w\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}){12,}(?![0-9a-fA-F])")
# Spaces and tabs collapse to one space; line breaks survive (line-start rules need them).
_WS = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r" ?\n[\s]*")
_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9a-f]{2,6}|[a-z]{2,8});", re.IGNORECASE)
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_LONG_WORD = re.compile(r"[a-z]{24,}")
# A letter, then digits or symbols, then a letter: `1gn0r3`, `pr3v10us`, `@ll`.
_LEET_CHAR = re.compile(r"[0-9@$!|+]")
_LEET_WORD = re.compile(r"(?:^|\s)[a-z0-9@$!|+]*[a-z][0-9@$!|+]+[a-z][a-z0-9@$!|+]*(?=\s|$)")


def _collapse(text: str) -> str:
    return _BLANK_LINES.sub("\n", _WS.sub(" ", text))


def _fold(text: str) -> str:
    return _collapse(fold_accents(text).casefold())


def _printable_text(raw: bytes) -> str | None:
    """Decoded bytes that read as text (the only kind worth rescanning)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    if printable < 0.9 * len(text) or not any(c.isalpha() for c in text):
        return None
    return text


def decoded_segments(text: str) -> Iterator[tuple[str, str]]:
    """(encoding, decoded text) for base64 and hex segments that decode to readable text."""
    seen = 0
    for m in _HEX.finditer(text):
        if seen >= MAX_SEGMENTS:
            return
        seg = m.group(0)[:MAX_SEGMENT_CHARS]
        decoded = _printable_text(binascii.unhexlify(seg[: len(seg) // 2 * 2]))
        if decoded is not None:
            seen += 1
            yield "hex", decoded
    for m in _BASE64.finditer(text):
        if seen >= MAX_SEGMENTS:
            return
        seg = m.group(0)[:MAX_SEGMENT_CHARS]
        if seg.isdigit() or (seg.isalpha() and (seg.islower() or seg.isupper())):
            continue  # identifiers and numbers, not base64
        core = seg.rstrip("=")
        padded = core + "=" * (-len(core) % 4)
        try:
            raw = base64.b64decode(padded, altchars=b"-_" if ("-" in core or "_" in core) else None,
                                   validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _printable_text(raw)
        if decoded is not None:
            seen += 1
            yield "base64", decoded


def views(text: str, folded: str | None = None) -> Iterator[tuple[str, str, bool]]:
    """(view name, text to match, latin-folded) for every normalisation pass worth running;
    `folded` is `fold_view(text)` when the caller has it already."""
    raw = _collapse(unicodedata.normalize("NFKC", strip_invisible(text)).casefold())
    folded = _fold(normalize(text)) if folded is None else folded
    yield "text", folded, True
    if not text.isascii():
        yield "unfolded", raw, False
        spaced = invisible_to_space(text)
        if spaced != text:
            yield "invisible-as-space", _fold(normalize(spaced)), True
    if _LEET_CHAR.search(folded) and _LEET_WORD.search(folded):
        leet = "\n".join(fold_leet(line) for line in folded.split("\n") if _LEET_WORD.search(line))
        yield "leetspeak", leet, True
    if "&" in folded and _ENTITY.search(folded):
        yield "html-entities", _fold(normalize(html.unescape(text))), True
    if "%" in folded and _PERCENT.search(folded):
        yield "percent-decoded", _fold(normalize(unquote(text))), True


def fold_view(text: str) -> str:
    """The main view rules and the score match: normalised, folded, whitespace collapsed."""
    return _fold(normalize(text))


# The weighted score of weak signals (`injection_score`), reported like a rule.
SCORE_RULE = Rule("directive-score", "directive-score", 2,
                  "Several weaker signals together: directives to the model, references to its "
                  "instructions, persona or output, secrecy, secrets, outside addresses, fake roles.",
                  re.compile(r"(?!)"), BOTH)
_MODELS = injection_score.load_models()


class InjectionScanner:
    """The rules of one sensitivity and one kind of text, compiled once per policy load."""

    def __init__(self, sensitivity: Sensitivity = "medium", where: Where = "content") -> None:
        level = LEVELS[sensitivity]
        self.sensitivity = sensitivity
        self.where = where
        chosen = [r for r in RULE_TABLE if r.level <= level and where in r.where]
        self._latin = tuple(r for r in chosen if r.latin)
        self._other = tuple(r for r in chosen if not r.latin)
        self._compact_rule = next(r for r in RULE_TABLE if r.id == "instruction-override")
        self._model = _MODELS[where]
        self._threshold = self._model.thresholds.get(sensitivity)

    def scan(self, text: str) -> Hit | None:
        """The first rule hit in `text`, else a score over the threshold, or None."""
        if not text or text.isspace():
            return None
        folded = fold_view(text)
        hit = self.scan_rules(text, folded=folded)
        if hit is not None or self._threshold is None:
            return hit
        scored = injection_score.best_window(self._model, folded)
        if scored is None or scored.probability < self._threshold:
            return None
        return Hit(SCORE_RULE, "text", folded[scored.start:min(scored.end, scored.start + 160)])

    def score(self, text: str) -> injection_score.Scored | None:
        """The best window's score (for reports and tests), whatever the threshold."""
        return injection_score.best_window(self._model, fold_view(text))

    def scan_rules(self, text: str, _depth: int = 0, folded: str | None = None) -> Hit | None:
        """The first rule hit in `text` under any normalisation pass, or None."""
        if not text or text.isspace():
            return None
        for name, view, latin in views(text, folded):
            present = present_keys(view)
            for rule in self._latin if latin else self._other:
                m = rule.first(view, present)
                if m is not None:
                    return Hit(rule, name, m.group(0))
            if name == "text":
                hit = self._compact(view)
                if hit is not None:
                    return hit
        hidden = decode_tag_characters(text)
        if hidden:
            found = self.scan_rules(hidden, _depth + 1)
            if found is not None:
                return Hit(found.rule, "tag-characters", found.snippet)
        if _depth < MAX_DECODE_DEPTH:
            for encoding, decoded in decoded_segments(text):
                found = self.scan_rules(decoded, _depth + 1)
                if found is not None:
                    return Hit(found.rule, f"{encoding}:{found.view}", found.snippet)
        return None

    def _compact(self, folded: str) -> Hit | None:
        """Letters only: `i g n o r e`, `ig-nore pre-vi-ous`, `IGNORE_ALL_PREVIOUS` all read alike."""
        compact = "".join(c for c in folded[:MAX_SEGMENT_CHARS] if c.isalnum())
        # Joined words can meet by accident ("system prompt is"): the whole set of compact
        # forms needs a sign of letter-splitting; the override phrase alone is never innocent.
        split = _SPLIT_LETTERS.search(folded) or _LONG_WORD.search(folded) or _WORD_SPLIT.search(folded)
        m = (_COMPACT if split else _COMPACT_OVERRIDE).search(compact)
        if m is None:
            return None
        return Hit(self._compact_rule, "whitespace-collapsed", m.group(0))
