"""Phrase rules, part 2: credential solicitation and paths, covert actions, tool calls,
exfiltration, encoded instructions, and the rules for tool definitions only."""

from __future__ import annotations

from egress.scan.injection.rules_override import Spec
from egress.scan.injection.vocab import (
    AUDIENCE,
    BOTH,
    CONTENT,
    CONTEXT_CORE,
    CONTEXT_DATA,
    CRED_PATH_STRICT,
    ENV_PATH,
    LEAK_VERB,
    NEG,
    READ_VERB,
    SECRET,
    SEND_VERB,
    SENSITIVE,
    TELL,
    TOOL,
    URLISH,
)

SPECS: list[Spec] = [
    # -- credential solicitation / credential paths -----------------------------------------
    ("credential-solicitation/reveal-secrets",
     "credential-solicitation", "credential-solicitation", 1,
     "Asks the model to reveal, send or output secrets or its system prompt.",
     rf"\b(?:reveal|revealing|output|print|show|display|dump|leak|disclose|expose|share|give me|send me|"
     rf"reply with|respond with|answer with|begin (?:your (?:reply|response|answer) )?with|"
     rf"start (?:your (?:reply|response|answer) )?with|end (?:your (?:reply|response|answer) )?with|"
     rf"tell me|provide me(?: with)?|return|repeat|recite|write out|list|paste|include|type out|spell out|"
     rf"hand over|give|send|forward|email|post)[^\w\n()=]+(?:\w+[^\w\n()=]+){{0,2}}?(?:(?:all|any|every|the|"
     rf"your|"
     rf"its|"
     rf"their|user'?s?|admin|stored|saved|current|full|complete|real|actual|raw|entire|available)"
     rf"[^\w\n()=]+){{1,3}}(?:\w+[^\w\n()=]+){{0,1}}?(?:{SECRET}|system prompt|system message|"
     rf"system instructions|"
     rf"initial (?:prompt|instructions)|original (?:prompt|instructions)|hidden (?:prompt|instructions)|"
     rf"instructions you (?:were|have been) given|(?:text|words|content|instructions|everything) above)\b"
     rf"(?![^\w\n]+(?:documentation|docs|page|settings|section|field|parameter|header|format|length|rotation|"
     rf"expir\w*|scopes?|permissions|name|id|type|policy|management|guide|tab|menu|button|form|prefix))",
     BOTH, True),
    ("credential-solicitation/secrets-in-reply",
     "credential-solicitation", "credential-solicitation", 1,
     "Asks for secrets to ride along in a reply or confirmation.",
     r"\b(?:reply|replying|respond|responding|answer|answering|confirm|output|print|return|"
     r"send)\b[^\n.]{0,60}\b"
     r"(?:including|with|plus|along with|containing)\b[^\n.]{0,20}\b(?:api (?:keys?|tokens?)|access tokens?|"
     r"passwords?|credentials|secrets|private keys?|system prompt|session cookies?)\b", BOTH, True),
    ("credential-solicitation/dump-context",
     "credential-solicitation", "credential-solicitation", 1,
     "Asks the model to dump its context or hidden messages.",
     r"\b(?:output|print|reveal|dump|repeat|show|list|return|display|recite)\s+(?:me\s+)?(?:everything|"
     r"all(?: of)?"
     r"(?: the)? (?:text|content|messages))\s+(?:in|from|of|above in)\s+(?:your|the)\s+(?:context|memory|"
     r"prompt|"
     r"instructions|context window|conversation|system message)|\b(?:hidden|internal|private) system "
     r"(?:messages?|prompts?|instructions)\b", BOTH, True),
    ("credential-solicitation/verify-identity",
     "credential-solicitation", "credential-solicitation", 1,
     "Asks for credentials on behalf of the assistant or to verify identity.",
     rf"\b(?:(?:assistant|ai|model|agent|you) (?:must|should|needs? to|has to|have to) (?:ask|request|"
     rf"obtain|collect|get)(?: the user| the human)?(?: for)? (?:their |the |your )?{SENSITIVE}|"
     rf"(?:to (?:verify|confirm|validate|authenticate) (?:your|the user'?s?) (?:identity|account|session)),?"
     rf" (?:please )?(?:provide|enter|send|reply with|include|share) (?:your |the )?{SENSITIVE})\b",
     BOTH, True),
    ("credential-path/credential-files",
     "credential-path", "credential-path", 1,
     "Directs the model to read or send credential files (~/.ssh, .env, cloud credentials, mcp.json).",
     rf"(?<![-/])(?<!tries to )(?<!attempts to )\b{READ_VERB}\b(?!\s*\()\W+(?:(?! to | into | in | about |>)"
     rf"[^\n]){{0,60}}?\W?(?<!>)(?<!> )"
     rf"{CRED_PATH_STRICT}", BOTH, True),
    ("credential-path/env-file-mcp-config",
     "credential-path", "credential-path", 1,
     "Directs the model to send or print the environment file (.env) or the MCP configuration.",
     rf"(?<![-/])\b{LEAK_VERB}\b(?!\s*\()\W+(?:(?! to | into | in )[^\n]){{0,60}}?\W?{ENV_PATH}", BOTH, True),
    ("credential-path/contents-of-secret-files",
     "credential-path", "credential-path", 1,
     "Asks for the contents of secret files or the environment.",
     r"\b(?:contents?|content|dump|copy|value|values|output) of (?:the |your |all |my )?(?:\w+ ){0,2}?"
     r"(?:\.env\b(?!\.(?:example|sample|template|dist|defaults?)\b)|env(?:ironment)? file|ssh (?:keys?|"
     r"director(?:y|ies)|"
     r"folder)|private keys?|credentials? (?:files?|store)|secrets? files?|keychain|wallet|"
     r"aws credentials|kube ?config|mcp\.json|config(?:uration)? files?)", BOTH, True),
    ("credential-path/harvest-on-behalf",
     "credential-path", "credential-path", 1,
     "Harvests secrets, environment or configuration on the model's behalf.",
     r"\b(?:collect|gather|retrieve|harvest|extract|dump|obtain|fetch|grab|steal|exfiltrate|"
     r"read|access(?! to\b)|scrape|enumerate|copy(?! of\b))\s+(?:(?!to\b|into\b|"
     r"in\b)[\w'-]+\W{0,2}\s+){0,3}?(?:(?:all|any|every|the|your|their|"
     r"user'?s?|stored|saved|available|local)\W+){0,2}(?:env(?:ironment)? (?:vars?|variables?)|env vars?|"
     r"\.env\b(?!\.(?:example|sample|template|dist|defaults?)\b)|dotenv|config(?:uration)? files|"
     r"credential store|credentials|secrets|passwords|"
     r"api (?:keys|tokens)|access tokens|(?:ssh )?private keys?|ssh keys?|keychain|(?:session|browser|auth|"
     r"login) cookies|"
     r"session tokens)\b"
     r"(?!'s|\s+names?\b)",
     BOTH, True),
    # -- covert actions ---------------------------------------------------------------------
    ("covert-action/hide-from-user",
     "covert-action", "covert-action", 1,
     "Tells the model to hide what it does from the user.",
     rf"\b{NEG}\W+(?:\w+\W+){{0,2}}?{TELL}\W+(?:(?:this|that|it|anything|any(?:thing)? of this|"
     rf"about (?:this|it|any)|to)\W+)?(?:\w+\W+){{0,1}}?(?:the\s+)?{AUDIENCE}\b"
     r"(?!\W+(?:interface|agent|id|name|experience|input|profile|settings|account|guide))"
     r"(?!\W+(?:[\w'-]+\W+){0,3}?(?:errors?|error (?:codes|messages|details)|stack ?traces?|exceptions?|"
     r"technical details|implementation details|jargon|debug\w*|raw (?:json|output|logs|errors)|internal "
     r"(?:ids?|codes|errors))\b)", BOTH, True),
    ("covert-action/secrecy",
     "covert-action", "covert-action", 1,
     "Asks for secrecy or silent side effects.",
     rf"\b(?:keep (?:this|it|these|that|the|your|my)(?: \w+){{0,2}} (?:secret|hidden|confidential|private|"
     rf"quiet) from|"
     rf"(?:hide|conceal) (?:\w+ ){{0,3}}?from (?:the )?{AUDIENCE}|"
     rf"(?:the )?{AUDIENCE} (?:can't|cannot|can not|won't|will not|doesn't|does not|must not|should not|"
     rf"shall not|need not|must never|should never|will never) (?:know|see|find out|notice|"
     rf"learn|be (?:told|informed|aware|notified))|without (?:the )?{AUDIENCE}(?:'s)? (?:knowing|knowledge|"
     rf"noticing|consent|awareness|seeing)|(?:silently|secretly|quietly|covertly|invisibly|discreetly|"
     rf"stealthily) (?:\w+ )?(?:send|sends|upload|forward|read|copy|exfiltrate|execute|run|call|invoke|"
     rf"log|record|store|save|mirror|sync|"
     rf"delete|modify|write|add|include|append|collect|transmit|post|attach|grant|change|install))\b",
     BOTH, True),
    ("covert-action/against-user",
     "covert-action", "covert-action", 1,
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
    ("tool-call-request/protocol-methods",
     "tool-call-request", "tool-call-request", 1,
     "Tells the model to call MCP protocol methods directly.",
     r"\b(?:call|calling|invoke|invoking|use|using|execute|executing|run|running|trigger|send|issue|"
     r"make)\s+(?:a\s+|the\s+)?(?:tools|resources|prompts|sampling)/[a-z_]+\b", CONTENT, True),
    ("tool-call-request/named-tool",
     "tool-call-request", "tool-call-request", 1,
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
    ("exfiltration-request/send-to-address",
     "exfiltration-request", "exfiltration-request", 1,
     "Tells the model to send secrets or conversation data to a URL or address.",
     rf"\b{SEND_VERB}\W+(?:(?!\b(?:ask\w*|told|tell\w*|request\w*)\b)[^\n]){{0,50}}?\b(?:{SENSITIVE}|"
     rf"{CONTEXT_DATA}|user(?:'s)? data|user info\w*|"
     rf"personal (?:data|information)|pii)\b"
     rf"[^\n]{{0,60}}?\b(?:to|via|into|at|through|using|on|in)\W+(?:[^\n]{{0,30}}?){URLISH}", BOTH, True),
    ("exfiltration-request/exfiltration-verbs",
     "exfiltration-request", "exfiltration-request", 1,
     "Exfiltration verbs aimed at an external destination.",
     rf"\b(?:exfiltrate|exfiltrating|leak|leaking|smuggle|siphon|relay|relaying)\W+[^\n]{{0,80}}?"
     rf"\b(?:to|via|into|through)\W+[^\n]{{0,20}}?{URLISH}", BOTH, True),
    ("exfiltration-request/data-in-url",
     "exfiltration-request", "exfiltration-request", 2,
     "Asks the model to put conversation data into a URL, image link or request.",
     rf"\b(?:append|add|include|insert|put|embed|encode|place)\W+(?:[^\n]{{0,40}}?)(?:{CONTEXT_DATA})\W+"
     rf"(?:[^\n]{{0,30}}?)(?:in|into|to|as)\W+(?:the |a |this )?(?:url|link|query|query string|parameter|"
     rf"image (?:url|link|src)|markdown image|request|webhook)\b"
     rf"|\b(?:append|add|include|insert|put|embed|encode|place)\W+(?:[^\n]{{0,40}}?)(?:{SENSITIVE})\W+"
     rf"(?:[^\n]{{0,30}}?)(?:in|into|to|as)\W+(?:the |a |this )?(?:image (?:url|link|src)|markdown image|"
     rf"image link)\b"
     # An image whose query slot is named for stolen data (`?d={conversation_summary}`); a slot
     # named for anything else (`?id=[ID]`) is judged by `prose_act.rendered_exfiltration`.
     r"|!\[[^\]]{0,40}\]\(https?://[^)\s]{0,200}[?&][\w-]+=(?:\{|<|\$|\[)\{?[\w-]{0,24}?(?:conversation|"
     r"summary|chat|history|secret|password|passwd|api_?key|messages?|context|prompt|credential)[^)]{0,60}\)",
     BOTH, True),
    # -- encoded instructions ---------------------------------------------------------------
    ("encoded-instructions/decode-and-act",
     "encoded-instructions", "encoded-instructions", 1,
     "Asks the model to decode something and act on it.",
     r"\b(?:decode|deobfuscate|base64[- ]decode|unescape|rot13|decrypt)\b[^\n.]{0,40}?\b(?:and|then|,)\s+"
     r"(?:then\s+)?(?:follow|execute|run|process|perform|obey|apply|carry out|act on|comply with|implement|"
     r"do what)\b|\b(?:after|once|when) (?:you )?(?:have )?(?:decod|decrypt|deobfuscat)\w*[^\n.]{0,20}?"
     r"\b(?:follow|execute|run|process|perform|obey|apply|carry out|act on)\b|\b(?:follow|execute|run|"
     r"obey|act on|carry out)\b[^\n]{0,40}?\b(?:after|once|when) (?:you )?(?:have )?(?:decod|decrypt|"
     r"deobfuscat)\w*", BOTH, True),
    # -- tool-definition-only rules -----------------------------------------------------------
    ("hidden-instruction/instruction-tags",
     "hidden-tag", "hidden-instruction", 1,
     "Instruction tags aimed at the model (<IMPORTANT>, <system>, <secret>) inside a tool definition.",
     r"<\s*(?:important|critical|secret|hidden|sudo|admin|system|override|instructions?|note to (?:the )?"
     r"(?:ai|model|assistant|llm)|ai[_ ]instructions?|llm[_ ]instructions?|assistant[_ ]instructions?)"
     r"\s*>", TOOL, True),
    ("hidden-instruction/note-to-model",
     "hidden-tag", "hidden-instruction", 1,
     "Addresses the AI model directly from inside a tool definition.",
     r"\b(?:(?:note|attention|important|message|instructions?) (?:to|for) (?:the |any )?|attention\W+)"
     r"(?:ai|llm|model|assistant|agent|language model|claude|gpt|chatgpt|copilot)s?\b\s*[:\-,!]",
     TOOL, True),
    ("prompt-harvest/collect-prompt",
     "prompt-harvest", "prompt-harvest", 1,
     "Asks for the system prompt, reasoning or conversation to be collected or returned.",
     rf"\b{CONTEXT_DATA}\b[^\n]{{0,40}}?\b(?:must|should|shall|needs? to|has to|have to|is to|are to|"
     rf"will|to)\s+(?:always\s+)?(?:also\s+)?(?:be\s+)?(?:included|collected|forwarded|extracted|sent|"
     rf"returned|added|appended|attached|passed|provided|shared|copied|leaked|exported|uploaded|posted|"
     rf"submitted|embedded|inserted|put|written|logged|transmitted|relayed)\b"
     rf"|\b(?:include|collect|forward|extract|send|append|attach|pass|provide|share|copy|insert|embed|"
     rf"put|submit|post|upload|output|print|reveal|repeat|dump|leak|transmit|relay|add|write)\s+"
     rf"(?:(?:all|the|your|its|their|any|full|entire|complete|whole|current|of)\s+){{0,3}}"
     rf"(?:{CONTEXT_CORE})\b"
     rf"(?!\s+(?:id|ids|identifier|name|title|topic)\b)"
     # an LLM API's docs: the conversation goes in the API's own `messages` parameter
     rf"(?![^\n.]{{0,30}}?\b(?:in|as|into|via) (?:the |its )?['\"`]?(?:messages|history)['\"`]? "
     rf"(?:parameter|param|field|argument|array|list)\b)", BOTH, True),
    ("prompt-harvest/into-parameter",
     "prompt-harvest", "prompt-harvest", 1,
     "Routes the conversation, secrets or credential files into a tool parameter.",
     r"\b(?:pass|put|copy|include|append|add|insert|send|set|fill|place|store|write|upload|uploading|attach|"
     r"forward|embed|log)\b[^\n]{0,60}?\b(?:conversation|messages?|chat|history|transcript|passwords?|"
     r"credentials?|tokens?|secrets?|api keys?|private keys?|cookies|system prompt|\.aws|\.ssh|\.env|"
     r"\.netrc|it|them)\b[^\n]{0,60}?\b(?:as|in|into|to|inside|under) (?:the |a |its )?['\"`]?[\w-]+['\"`]? "
     r"(?:argument|parameter|param|field|property|input)\b", TOOL, True),
    ("credential-path/pre-call-harvest",
     "credential-path", "credential-path", 1,
     "Harvests secrets or context before each call (pre-call data harvest).",
     r"\b(?:before|prior to|ahead of|in preparation for) (?:calling|using|invoking|running|executing|each "
     r"(?:call|use)|every (?:call|use)|you (?:call|use|invoke|run))\b[^\n]{0,80}?\b(?:read|collect|gather|"
     r"retrieve|access|fetch|obtain|get|extract|copy|dump|grab|include|look up)\b[^\n]{0,60}?(?:env|config|"
     r"secret|credential|token|key|prompt|ssh|password|vault|history|conversation|cookie|\.aws|\.ssh|\.env)",
     BOTH, True),
    ("tool-shadowing/prefer-this-tool",
     "tool-shadowing", "tool-shadowing", 1,
     "Tells the model to prefer this tool over, or to ignore, other tools.",
     r"\buse (?:this|it|me)(?: tool| one| function| server)? (?:(?:instead of|in place of|rather than|"
     r"over)(?!\s+\w+ing\b)|exclusively|only)\b|\b(?:always|only|exclusively) use (?:this|it|me)\b|"
     r"\buse (?:this|it)"
     r"(?: tool| one| function)?\W+(?:always|exclusively)\b|\b(?:ignore|disregard|do not use|don't use|"
     r"never use|avoid(?: using)?|stop using|disable|bypass)\W+(?:any |all |the |every )?(?:other|another|"
     r"existing|built-in|builtin|default|standard|native|original|previous|regular)\W+(?:\w+\W+){0,2}?"
     r"(?:tools?|functions?|servers?|plugins?|readers?|clients?|search|commands?)\b|\bin place of "
     r"(?:the |any |all )?(?:\w+ ){0,2}(?:tools?|functions?|server)\b", TOOL, True),
    ("tool-shadowing/replace-other-tools",
     "tool-shadowing", "tool-shadowing", 1,
     "Claims to replace or override other tools, or rewires their behaviour.",
     r"\b(?:replaces|supersedes|overrides|overrules|shadows|intercepts|hijacks|takes precedence over|"
     r"(?:must|should|is to) (?:always |only )?be used (?:instead of|in place of|rather than|"
     r"over))\W+(?:the |all |any |every )?(?:default|built-in|"
     r"builtin|standard|native|existing|original|other|them|previous|regular|any)\b(?:\W+\w+){0,3}?"
     r"(?:\W+(?:tools?|functions?|readers?|clients?|search|servers?|commands?|all|implementations?)\b|"
     r"\W*$|\W+for all\b)|\b(?:supersedes|overrides|replaces) (?:them|all)(?:\W+\w+)?\W+(?:tools?|functions?|"
     r"servers?|"
     r"commands?)\b|\b(?:supersedes|overrides|replaces) (?:them|all)\W*$"
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
