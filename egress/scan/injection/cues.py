"""Cues of an instruction aimed at the agent, each a pattern over the folded view (case-folded,
look-alikes folded, whitespace collapsed, line breaks kept).

The act-directing detectors (`act.py`) and the learned scorer (`features.py`) combine them:
who the text speaks to (an AI, the assistant's answer, a fake system note), whether it gives a
directive (imperative, polite request, obligation, passive "must be sent"), what it asks for
(run or add code, fetch or post to an address, send data, call a tool, change the answer) and
on what (secrets and conversation, an outside address, a tool name). Every pattern has bounded
repetition; each runs once per view.
"""

from __future__ import annotations

import re

from egress.scan.injection.vocab import CONTEXT_CORE, CRED_PATH, SENSITIVE

_AI = (r"(?:ai|a\.i\.|assistant|ai assistant|agent|ai agent|coding agent|model|language model|llm|chatbot|"
       r"bot|copilot|claude|gpt|chatgpt|gemini|automated (?:tools?|agents?|systems?|assistants?|readers?)|"
       r"autonomous agents?)s?")
# Sentence or clause start: line start, after sentence punctuation, a bullet, a quote mark.
_START = r"(?:^|\n|[.!?;:,]\s|[\-*>•|]\s?|(?<![\w.])[(\[\"'`]|\*\*)\s*"
_POLITE = (r"(?:(?:please|kindly|now|then|also|first|next|just|simply|immediately|quickly|always|"
           r"afterwards|and|so|ok|okay|finally|secondly|lastly),?\s+){0,3}")
_MODAL = (r"(?:must|should|shall|will|need to|needs to|have to|has to|are required to|is required to|"
          r"are expected to|is expected to|are asked to|is asked to|are to|is to|ought to|may want to|"
          r"are supposed to|is supposed to|are instructed to|is instructed to|are allowed to now|can now)")
_AUX_REQUEST = (r"(?:could|can|would|will) you(?: please| kindly)?|(?:i|we)(?:'d| would)? (?:want|need|"
                r"like|ask|request|require|expect) (?:you|the (?:assistant|agent|ai|model))(?: to)?|"
                r"(?:make sure|be sure|ensure|remember|don'?t forget|do not forget|never forget|take care)"
                r"(?: to| that you| you)?|it (?:is|'s) (?:required|mandatory|necessary|important|essential|"
                r"critical|crucial|vital|recommended|imperative)(?: that you| for you to| to)|(?:it )?would "
                r"(?:be (?:great|helpful|nice|appreciated|ideal)|help(?: us)?(?: a lot)?) if you(?: could)?|"
                r"(?:your|the) (?:task|job|goal|mission|next step|next action|instruction|assignment|"
                r"objective|duty)s? (?:is|are|now is|:)(?: to)?|(?:next step|action required|to ?do|"
                r"required action|next action|action items?)\s*[:\-]|i'?m asking you to|you are (?:now )?"
                r"(?:tasked|instructed|asked|required|requested) (?:with|to)|go ahead and|feel free to|"
                r"let'?s|you'?ll need to|you need to|you have to|you must|you should")

# What stands right before an imperative verb: a clause start (and politeness), a modal
# addressed to the model, or a request frame. Matched backwards from a verb (`imperative_at`).
BEFORE_VERB = re.compile(
    rf"(?:{_START}{_POLITE}|\b(?:you|the (?:assistant|agent|ai|model|llm|bot)|assistants?|agents?)"
    rf"(?:'?ll)? {_MODAL}\s+(?:\w+\s+){{0,2}}|\b(?:{_AUX_REQUEST})\s+(?:\w+\s+){{0,2}}|"
    rf"\b(?:please|kindly)\s+(?:\w+\s+){{0,1}}|\b(?:if|when|once|after|unless) you (?:also |just |first "
    rf"|then |now |simply |only )?)$")
# Obligation in the passive voice: "... must be sent to", "is to be uploaded".
PASSIVE = re.compile(
    r"\b(?:must|should|shall|needs? to|has to|have to|is to|are to|will need to|is required to|are required "
    r"to|ought to)\s+(?:also\s+|always\s+|first\s+|immediately\s+)?be\s+(?:\w+ly\s+)?\w+ed\b|\b(?:is|are) "
    r"(?:expected|required|needed|mandatory)\b|\bit (?:is|'s) (?:expected|assumed|required|mandatory|"
    r"essential|"
    r"necessary|understood) that\b|\b(?:gets?|got) (?:\w+ly )?(?:executed|run|added|inserted|included|sent|"
    r"uploaded|called|invoked|applied)\b")
ADDRESSEE = re.compile(
    rf"\b(?:note|message|instructions?|reminder|tip|notice|hint|memo|directive|request|warning|update|"
    rf"attention|p\.?s\.?|order)s? (?:to|for) (?:the |all |any |every |our )?(?:{_AI})\b|"
    rf"\b(?:dear|hey|hi|hello|attention|calling|to) (?:the |all |any )?(?:{_AI})\b|"
    rf"\bif you(?:'re| are) (?:an? |the )?(?:{_AI}|reading this as an? \w+)\b|"
    rf"\b(?:{_AI}) (?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|handling|browsing|seeing|"
    rf"scanning|indexing|viewing) (?:this|these|the following)\b|"
    rf"\bthe (?:ai |llm |coding |virtual )?"
    rf"(?:assistant|agent|ai|model|llm|bot|copilot)(?:'s)? (?:should|must|needs? to|is required to|"
    rf"will|shall|is expected to|has to|is to|may|can now)\b|"
    rf"\bon behalf of (?:the|your) user\b|\bthe user (?:has )?(?:already )?(?:approved|authori[sz]ed|"
    rf"confirmed|"
    rf"consented|agreed to|requested|asked for|wants|expects) (?:it|this|that|you to)\b|"
    rf"\b(?:expected|required|needed) (?:from|of) the (?:agent|assistant|ai|model)\b|"
    rf"\bfor (?:the )?(?:{_AI})\s*[:\-]|\bas (?:an? |the )?(?:{_AI})(?: (?:handling|processing|reading|"
    rf"working on) \w+)?,|"
    rf"\b(?:coding |automated |autonomous |ai )?(?:assistants|agents|copilots|llms|models) (?:must|should|"
    rf"need to|have to|are required to|are expected to|shall)(?: now| always)? (?!be\b)\w+|"
    rf"\b(?:an? |the )?(?:coding |ai )?(?:assistant|agent|copilot|llm) (?:must|should|needs to|has to|is "
    rf"required to|shall)(?: now| always)? (?:add|insert|include|run|execute|call|send|use|invoke|upload|"
    rf"append|put|write|reply|answer|respond)\b|"
    rf"\bwhoever (?:generates|writes|produces|reads|processes|summari[sz]es) \w+|"
    rf"\b(?:steps?|tasks?|to-?dos?|checklist|action items?|rules?) (?:for|to) (?:the |all |any )?(?:{_AI})\b|"
    rf"\b(?:as part of|while|when|after) (?:handling|processing|reading|parsing|returning) this (?:result|"
    rf"response|output|document|message|data|page)\b|"
    rf"(?:^|\n|[.!?]\s)(?:automated |autonomous |coding |ai )(?:agents?|assistants?|models?|readers?)\s*[:,]"
    rf"|\bperformed_by[\"']\s*:\s*[\"'](?:{_AI})[\"']")
# The subset no tool description needs: a note to the AI, "if you are an AI", "AI reading this".
ADDRESSEE_STRONG = re.compile(
    rf"\b(?:note|message|instructions?|reminder|tip|notice|hint|memo|directive|request|warning|update|"
    rf"attention|p\.?s\.?|order|next step|action)s? (?:to|for) (?:the |all |any |every |our )?(?:{_AI})\b|"
    rf"\b(?:dear|hey|attention|calling) (?:the |all |any )?(?:{_AI})\b|"
    rf"\bif you(?:'re| are) (?:an? |the )?(?:{_AI}|reading this as an? \w+)\b|"
    rf"\b(?:{_AI}) (?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|browsing|seeing|scanning|"
    rf"indexing|viewing) (?:this|these|the following)\b|\bon behalf of (?:the|your) user\b|"
    rf"\bthe user (?:has )?(?:already )?(?:approved|authori[sz]ed|confirmed|consented|agreed to|asked for|"
    rf"requested) (?:it|this|that)\b|"
    rf"\b(?:expected|required|needed) (?:from|of) the (?:agent|assistant|ai|model)\b|"
    rf"\b(?:steps?|tasks?|to-?dos?|checklist|action items?) (?:for|to) (?:the |all |any )?(?:{_AI})\b|"
    rf"\b(?:as part of|while|when|after) (?:handling|processing|reading|parsing) this (?:result|"
    rf"response|output|document|message|data)\b|"
    rf"\b(?:an? |the )?(?:coding |ai )?(?:assistants?|agents?|copilots?|llms?) (?:must|should|needs? to|"
    rf"has to|"
    rf"have to|is required to|are required to|shall)(?: now| always)? (?:add|insert|include|run|execute|call|"
    rf"send|invoke|upload|append)\b")
# A fake system, developer or maintainer voice.
FRAMING = re.compile(
    # Also after a label or a footnote mark ("[SYSTEM NOTICE]: Assistant: ...", "[1] Assistant: ...").
    r"(?:^|\n|[.!?:\])]\s|[\[(<{*#>\"'`|]|\*\*)\s*(?:\[|<|#{1,4}\s*|\*\*)?\s*(?:system|developer|dev|admin|administrator|"
    r"assistant|operator|maintainer|it support|it department|compliance|moderator|root|sudo|override|"
    r"internal|hidden|ai|llm|agent|model|instructions?|new instructions?|updated instructions?)"
    r"(?:[ _-](?:note|notice|message|msg|instructions?|update|alert|directive|override|reminder|tip|prompt|"
    r"command|cmd|order|requirement|policy|protocol|task|team))?\s*(?:\]|>|\*\*|\))?\s*[:>\]\-)]"
    r"|<\s*/?\s*(?:system|instructions?|assistant_instructions|important|admin|developer|hidden|secret|"
    r"override|sudo|ai_instructions|agent_instructions|information|note)\b[^>\n]{0,40}>"
    r"|\[(?:system|developer|admin|inst|sys|assistant|important)(?: message| note| notice)?\]")
# Alarm words that fake notes use, and real documentation too ("**Important:**").
ALERT = re.compile(
    r"(?:^|\n|[\[(<*#>|]|\*\*)\s*(?:important|urgent|critical|mandatory|attention|notice|warning|action "
    r"required|priority|security (?:notice|alert|update))\s*(?:\]|>|\*\*)?\s*[:!>\]\-]|!{3,}")
OUTPUT = re.compile(
    r"\byour (?:final |next |own |whole |entire |full |complete )?"
    r"(?:answer|response|reply|replies|responses|answers|output|summary|"
    r"solution|code|fix|patch|script|completion|explanation|translation|message to the user)s?\b|"
    r"\b(?:each|every|all|any) (?:of your |\w+ )?(?:answers?|responses?|replies|code answers?|"
    r"scripts? you write)\b|"
    r"\bthe (?:code|answer|response|reply|summary|script) (?:that )?you (?:write|produce|generate|return|"
    r"give|"
    r"output|create|suggest|send)\b|\b(?:when|whenever|while|before|after) (?:you )?(?:answer|respond|reply|"
    r"summari[sz]\w*|generate|produce)\w*\b|\bthe generated (?:code|scripts?|programs?|answers?|responses?|"
    r"python|javascript|typescript|bash|shell|powershell|sql)\b|"
    r"\bthe user(?:'s)? (?:question|request|query|task)\b|\bthe (?:reply|response|answer) to this (?:message|"
    r"email|e-mail|document|request|ticket|page)\b|\byour (?:next|following) (?:message|turn|reply)\b|"
    r"\bthe user'?s (?:shell|terminal|machine|workspace|environment|repo(?:sitory)?|project|codebase|home "
    r"directory)\b|\b(?:the )?(?:code|files?|patch|patches|workflows?|scripts?|programs?) (?:it|you|they) "
    r"(?:writes?|generates?|produces?|proposes?|creates?|edits?)\b")
TIMING = re.compile(
    r"\bbefore (?:you )?(?:answer|respond|reply|continu|proceed|return|summari|complet|do anything|doing "
    r"anything|start|begin|anything else|finish|go on|move on|read|process|handl|generat|writ|giv|"
    r"tak|us)\w*|\b(?:immediately|right now|right away|at once|asap|without delay|without asking|at this "
    r"point|as soon as you (?:read|see|process)|after reading this|upon reading|first of all|"
    r"as a first step|prior to (?:answering|responding|anything))\b|\bthen (?:answer|reply|respond|continue|"
    r"proceed|summari[sz]e|return|finish|complete)\b|\bonly then\b|\bfrom now on\b|\bfirst,? (?:call|run|"
    r"invoke|use|execute|send|fetch|visit|open)\b")

# What the directive asks for.
EXEC_VERB = re.compile(
    r"\b(?:run|execute|launch|invoke|type|paste|enter|eval(?:uate)?|source|pipe|install|start|trigger|"
    r"exec|perform)\b[^.\n]{0,80}?\b(?:command|commands|script|snippet|code|line|lines|following|below|"
    r"this|these|above|terminal|shell|console|powershell|bash|one-liner|installer|it)\b|\b(?:run|execute|paste|type|"
    r"enter)\s+(?:it |this |the following |the command |the script )?(?:in|into|from|on) (?:a |the |your )?"
    r"(?:terminal|shell|console|command line|powershell|bash|cmd)\b|\b(?:run|execute|paste|type|enter|"
    r"launch)\s*"
    r"(?:`|:\s*\n|:\s*`|\s+(?:sudo |curl |wget |bash |sh |powershell |iex |python |node |echo |nc |rm ))")
INCLUDE_CODE = re.compile(
    r"\b(?:add|include|insert|append|prepend|merge|incorporate|integrate|embed|inject|put|place|paste|copy|"
    r"apply|use|adopt|upgrade|update|improve|enhance|extend|patch|modify|wrap|wire|hook|plug|splice|bolt|"
    r"drop|register|ship|bundle)\w*\b[^.\n]{0,100}?\b(?:snippet|"
    r"code|lines?|block|helper|hook|function|import|excerpt|following|below|this|these|initiali[sz]ation|"
    r"header|module|patch|change|suggestion|routine|statement|call)\b|\b(?:snippet|code|block|lines?|"
    r"excerpt|helper|hook|following|below)\b[^.\n]{0,60}?\b(?:(?:must|should|needs? to|is to|are to|has to|"
    r"have to) be|is|are|gets?) (?:added|included|inserted|appended|prepended|merged|incorporated|integrated|"
    r"embedded|pasted|copied|applied|required|needed|mandatory|called|run|executed)\b")
FETCH_VERB = re.compile(
    r"\b(?:visit|open|fetch|browse|navigate|go|load|download|access|request|retrieve|get|ping|call|hit|"
    r"curl|query|check|click|follow)\w*\b[^.\n]{0,40}?(?:https?://|www\.|\b[\w-]+\.(?:com|net|org|io|dev|"
    r"xyz|ru|site|app|co|me|info|biz|top|tk|cn)\b)")
# Base forms (imperatives), -ing forms and participles (passives): "sends" only describes.
SEND_VERB = re.compile(
    r"\b(?:send|sending|sent|post|posting|posted|upload|uploading|uploaded|forward|forwarding|forwarded|"
    r"e-?mail|e-?mailing|e-?mailed|mail|transmit|transmitting|transmitted|submit|submitting|submitted|share|"
    r"sharing|shared|relay|relaying|relayed|sync|syncing|synced|leak|leaking|exfiltrate|exfiltrating|deliver|"
    r"delivering|transfer|transferring|transferred|wire|dump|dumping|publish|publishing|push|pushing|copy|"
    r"copying|paste|pasting|report|reporting|attach|attaching|export|exporting|exported|back(?:ing)? up|"
    r"backed up|mirror|mirroring|mirrored|replicate|replicating|replicated|archive|archiving|stash|stashing|"
    r"hand over|handing over)\b(?![-_.(=:/\"'])"
    r"|\b(?:include|including|append|appending|add|adding|embed|embedding|put|putting|insert|inserting|encode|"
    r"encoding)\b(?=[^.\n]{0,120}\b(?:in|into|to|as) (?:the |a |this |your |each |every )?(?:url|link|query|"
    r"query string|parameter|image|request|webhook|answer|response|reply|summary|output|message|email|post|"
    r"form|"
    r"field)\b)")
# An outside address the agent could reach: URL, e-mail address, IP, bare domain.
ADDRESS = re.compile(
    r"\b[a-z]{2}\d{2}(?:\s?[a-z0-9]{4}){3,7}\b|https?://[^\s)\]>'\"`]+|\bwww\.[\w-]+\.[\w.-]+|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b|\b(?:\d{1,3}\.){3}\d{1,3}\b|"
    r"\b[\w-]+\.(?:com|net|org|io|dev|xyz|ru|site|app|info|biz|top|tk|cn)(?:/\S*)?|"
    r"\b(?:s3|gs|az|ftp|sftp|scp)://[\w./-]+")
DESTINATION = re.compile(
    rf"{ADDRESS.pattern}|\bwebhook\b|\b(?:my|our|this|the|an?) (?:external |remote |backup |secure |"
    rf"collection |"
    r"logging )?(?:server|endpoint|url|address|inbox|channel|bucket|pastebin|paste|drop ?box|site|website|"
    r"link|"
    r"form|api)\b|#[a-z][\w-]+\b|\b(?:a |the )?(?:public |secret |private )?(?:gist|pastebin|paste site|"
    r"public repo(?:sitory)?|discord|telegram|slack channel|google doc|shared drive)\b")
DATA = re.compile(
    rf"(?<![\w.$/-])(?:{SENSITIVE}|{CONTEXT_CORE}|{CRED_PATH})(?![\w(]|\.[a-z])|\b(?:personal (?:details|"
    rf"information|data|info)|"
    r"contacts?|contact list|address book|inbox|e-?mails?|messages|chats?|conversation|history|files?|"
    r"documents?|home directory|credit card(?: number)?|card number|cvv|bank (?:account|details)|iban|"
    r"security code|verification code|one-time code|2fa|otp|(?:home )?address|phone number|passport|"
    r"social security|ssn|date of birth|calendar|logs?|notes|transcripts?|source code|repository|repo|"
    r"database|customer (?:data|list|records)|user data|user'?s? \w+|account (?:details|numbers?|info)|"
    r"(?:complete|full|entire|whole|customer|account|patient|their|his|her) records?|"
    r"everything (?:above|you (?:know|have|"
    r"saw|read))|this (?:document|email|page|file|conversation)|the (?:above|previous) (?:text|content|"
    r"messages?)|summary|results?|secret|private|confidential)\b")
TOOL_CALL = re.compile(
    r"\b(?:call|invoke|use|run|trigger|execute|issue|make a call to|perform|fire|activate)\s+(?:the\s+|a\s+|"
    r"your\s+)?(?:[`'\"][a-z][\w:/-]{1,60}[`'\"](?!\w)|"
    r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+\b|[a-z][\w-]{1,40}\s+(?:tool|function|action|"
    r"command|plugin|endpoint|capability|method)\b)"
    r"|<\s*(?:tool_call|function_call|invoke|tool_use|function_calls)\b"
    r"|[\"'](?:assistant_action|next_action|required_action|agent_action|ai_action|tool_to_call|call_tool)[\"']"
    r"\s*:|[\"'](?:tool|tool_name|function_name)[\"']\s*:\s*[\"'][a-z][\w.-]*[\"'][^\n}]{0,200}[\"'](?:arguments|args|"
    r"parameters|input)[\"']\s*:"
    r"|\b(?:a |the )?call to [`'\"]?[a-z][\w-]*[`'\"]?[^\n]{0,160}?\b(?:is|are|must be|"
    r"should be) (?:expected|"
    r"required|needed|mandatory|made|performed|issued)\b")
# Creative or unrelated work asked of the model, or changes to the form of its answer.
HIJACK = re.compile(
    r"\b(?:write|compose|generate|create|produce|draft|give|tell|share|make up|come up with|recite|sing)\b"
    r"[^.\n]{0,30}?\b(?:poem|poems|story|stories|joke|jokes|song|lyrics|haiku|limerick|essay|riddle|rap|"
    r"sonnet|recipe|fun fact|trivia|slogan|tweet|advert\w*|ad copy|pickup line)\b"
    r"|\b(?:translate|encode|convert|rewrite|reformat|transform|reverse|spell|scramble|encrypt)\b[^.\n]{0,40}?"
    r"\b(?:into|in|to|as|using|with)\s+(?:french|german|spanish|italian|chinese|japanese|russian|arabic|"
    r"portuguese|hindi|korean|dutch|pig latin|base64|base-64|hex|hexadecimal|rot13|rot-13|binary|morse|"
    r"emojis?|"
    r"uppercase|all caps|leetspeak|reverse|backwards|a caesar cipher|cipher)\b"
    r"|\b(?:answer|respond|reply|write|speak|talk)\w*\b[^.\n]{0,20}?\b(?:only )?(?:in|using|with) (?:only )?"
    r"(?:french|german|spanish|italian|chinese|japanese|russian|emojis?|base64|hex|rot13|morse|pig latin|"
    r"uppercase|all caps|rhymes?|riddles?)\b"
    r"|\b(?:backwards|letter by letter|in reverse order|reversed?)\b"
    r"|\b(?:recommend|promote|advertise|endorse|mention|plug|suggest|praise)\w*\b[^.\n]{0,60}?(?:https?://|"
    r"www\.|\b[\w-]+\.(?:com|net|org|io|shop|store|deals|app)\b|\b(?:our|my) (?:product|service|store|"
    r"shop|site|website|app|brand|company)\b)"
    r"|\b(?:tell|inform|warn|notify|convince|persuade|remind) (?:the user|the reader|the customer|them|users|"
    r"readers|him|her)\b[^.\n]{0,20}?\b(?:that|to)\b"
    r"|\b(?:state|claim|say|assert|insist|announce|declare) (?:that|clearly that|to the user that)\b"
    r"|\b(?:add|append|insert|include|put|prepend|end|start|begin|finish|conclude|sign)\w*\b[^.\n]{0,60}?"
    r"\b(?:the (?:sentence|phrase|words?|line|text|string|link|url|slogan|disclaimer|message)|"
    r"the (?:[\w-]+ ){0,2}(?:marker|canary|watermark|keyword|tagline|code word)|"
    r"[\"'][^\"'\n]{4,80}"
    r"[\"'])"
    r"|\binstead of (?:answering|summari[sz]ing|responding|replying|translating|doing|following|completing|"
    r"reading|analy[sz]ing)\b|\b(?:ignore|disregard|skip|forget)\b[^.\n]{0,20}?\b(?:the|this|that|your|"
    r"user'?s?|original) (?:question|task|request|query|document|email|text|summary|instructions?)\b"
    r"|\bwhat is (?:the (?:capital|population|meaning|square root|sum|product)|\d+\s*[-+*x/]\s*\d+)\b"
    r"|\b(?:compute|calculate|solve|multiply|add up|sum up|count)\b[^.\n]{0,20}?\d"
    r"|\b(?:summari[sz]e|explain|describe|list|name|classify|analy[sz]e|rate)\b[^.\n]{0,40}?\b(?:instead|"
    r"rather than|as well|too)\b")
HIDE = re.compile(
    r"\b(?:do not|don'?t|never|without|no need to|must not|should not)\b[^.\n]{0,20}?\b(?:tell\w*|mention\w*|"
    r"inform\w*|reveal\w*|show\w*|disclos\w*|notify\w*|alert\w*|ask\w*|report\w*|log\w*|say\w*|explain\w*|"
    r"acknowledg\w*|confirm\w*|asking)\b[^.\n]{0,30}?\b(?:user|human|anyone|them|him|her|it|this|that|"
    r"permission|confirmation|approval|consent)\b|\b(?:silently|secretly|quietly|covertly|discreetly|"
    r"stealthily|invisibly|in the background|behind the scenes)\b")
# Assurances that pre-empt the reader's own check: confirmation waived, the content vouched for,
# an approval or a promise claimed ("don't ask for confirmation", "I already verified it", "the
# administrator has authorized this", "as you agreed earlier"). A reader who would pause before
# acting is what they are written for; documentation has no such reader to talk round.
ASSURANCE = re.compile(
    # (Not a bare "don't ask for confirmation": that is how a CLI's `--yes` option is described.)
    r"\b(?:without|no need (?:for you )?to|you (?:don'?t|do not|won'?t) (?:need to |have to )?|"
    r"never|there is no need (?:for you )?to|no reason to) (?:ask|asking|wait|waiting) (?:me |the user |"
    r"anyone |them |us )?(?:for )?(?:any )?(?:confirmation|permission|approval|consent)\b|"
    r"\b(?:i|we)(?:'ve| have)? already (?:manually |personally |carefully )?(?:verified|checked|reviewed|"
    r"approved|vetted|audited|confirmed)\b|"
    r"\b(?:has|have) (?:already )?(?:authori[sz]ed|approved|signed off on|cleared|confirmed) (?:this|it|"
    r"that|the (?:change|request|action|deletion|transfer|upload))\b|"
    r"\b(?:they|it was|this was|this has been|it has been) (?:confirmed|approved|cleared|verified|authori"
    r"[sz]ed)(?: (?:it )?(?:was|is) (?:fine|ok|okay|safe))?\b(?! by (?:running|the test))|"
    r"\bno (?:additional |further |extra )?(?:verification|confirmation|approval|review) (?:is )?"
    r"(?:needed|required|necessary)\b|\byou are (?:allowed|authori[sz]ed|permitted|cleared) to (?:read|"
    r"access|run|execute|send|upload|delete|modify)\b|\b(?:the )?(?:content|data|file|key) is not "
    r"sensitive\b|\bas you (?:mentioned|said|agreed|promised|confirmed) (?:earlier|before|previously)\b")
# Reported speech: an advisory or a story about an attack, not a directive.
NARRATIVE = re.compile(
    r"\b(?:attackers?|hackers?|malware|malicious|adversar\w*|threat actors?|criminals?|scammers?|"
    r"phishing|researchers?|advisory|vulnerability|cve-\d+|ghsa-|exploit(?:ed|s)?|compromised|incident|"
    r"was found|were found|contained|injected|example of (?:an? )?(?:attack|injection)|such as|"
    r"for example|e\.g\.|quoted|reported)\b")

URL = re.compile(r"https?://[^\s)\]>'\"`]+|\bwww\.[\w-]+\.[\w.-]+")
URL_WITH_DATA = re.compile(r"https?://[^\s)\]>'\"`]*[?&=][^\s)\]>'\"`]*(?:\{|<|\[|\$|%7b)|"
                           r"!\[[^\]\n]{0,80}\]\(https?://[^)\s]{0,300}[?&][\w-]+=[^)]{0,100}\)")
# Work no document asks of its reader: creative pieces, trivia, arithmetic, sentiment labels,
# answers in a code or a costume. Asked as a directive, it is a request to the model.
UNRELATED_TASK = re.compile(
    r"\b(?:write|compose|generate|create|produce|draft|give|tell|share|make up|come up with|recite|sing)\b"
    r"[^.\n]{0,30}?\b(?:poems?|stor(?:y|ies)|jokes?|songs?|lyrics|haiku|limericks?|essays?|riddles?|sonnets?|"
    r"recipes?|fun facts?|trivia|pickup lines?|raps?|fairy tales?|fables?)\b"
    r"|\btell (?:me|us) (?:the|a|an|which|who|where|how (?:many|much|tall|old|far|long))\b"
    r"|\bwhat(?: is|'s) the (?:capital|population|height|meaning of life|largest|tallest|longest|biggest|"
    r"smallest|deepest)\b"
    r"|\b(?:list|name|give me|enumerate)\b[^.\n]{0,12}?\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten)"
    r" (?:countries|cities|capitals|planets|animals|fruits|vegetables|colou?rs|fun facts|facts|famous|"
    r"movies|books|songs|presidents|rivers|mountains|languages)\b"
    r"|\bclassify the sentiment\b|\bsentiment of (?:the|this) sentence\b"
    r"|\b(?:compute|calculate|solve|work out)\b[^.\n]{0,20}?\d+\s*(?:multiplied by|times|plus|minus|divi"
    r"ded by|"
    r"[-+*x/×])\s*\d"
    r"|\b(?:answer|respond|reply|write|talk|speak|communicate)\w*\b[^.\n]{0,30}?\b(?:only )?"
    r"(?:in|using|with|like) (?:only )?(?:emojis?|base64|base-64|hex|rot13|rot-13|morse(?: code)?|pig latin|"
    r"all caps|capital letters|a pirate|rhymes?|riddles?|leetspeak|shakespearean english)\b"
    r"|\b(?:talk|speak|write|answer|respond) like (?:a|an) (?:pirate|cowboy|robot|child|poet|shakespeare)\b"
    r"|\b(?:summari[sz]e|retell|describe)\b[^.\n]{0,12}?\bthe plot of\b"
    r"|\b(?:answer|respond|reply|write|speak|talk)\w*\b (?:only |exclusively |solely )?in (?:french|germ"
    r"an|spanish|"
    r"italian|chinese|japanese|russian|portuguese|dutch|korean|arabic|hindi|polish|turkish|swedish|greek)"
    r"(?: only| exclusively)?(?: from now on| for the rest of (?:the|this) conversation|,? no matter what)\b"
    r"|\b(?:answer|respond|reply|speak|talk)\w*\b (?:only|exclusively|solely) in (?:french|german|spanish|"
    r"italian|chinese|japanese|russian|portuguese|dutch|korean|arabic|hindi|polish|turkish|swedish|greek)\b"
    r"|\b(?:encode|translate|convert|rewrite|reverse|scramble|encrypt)\b[^.\n]{0,8}?\byour (?:whole |entire |"
    r"full |complete |final )?(?:response|answer|reply|output|message)s?\b"
    r"|\b(?:recommend|promote|advertise|endorse|plug|praise|mention)\w*\b[^\n]{0,100}?(?:\bas the "
    r"(?:best|only|top|number one|safest|cheapest)\b|\b\d+% off\b|\bpromo code\b|"
    r"\bwith (?:the )?code [a-z0-9]{4,}\b|\bexclusive (?:offers?|deals?|discounts?)\b)"
    r"|\b(?:tell|inform|warn|notify|convince|persuade|remind|urge) (?:the user|the reader|the customer|users|"
    r"readers|customers)\b[^\n]{0,120}?(?:https?://|www\.)"
    r"|(?:\b(?:i|we) (?:want|need|would like) you to|\bi'?d like you to|\b(?:could|would|can) you"
    r"(?: please)?|\bplease|\b(?:make|be) sure to|\bremember to)\s+(?:also\s+)?"
    r"(?:state|claim|say|assert|insist|announce|declare|tell (?:the user|everyone|readers|the reader))"
    r"(?: clearly)? that\b"
    # The answer forced to a fixed text: "reply with exactly ...", "your entire reply must be ...",
    # "every answer ... must end with ...".
    r"|\b(?:reply|respond|answer|output|return)\w*\b(?: only)? with "
    r"(?:exactly|only|just|the exact|nothing but)\b"
    r"|\byour (?:entire |whole |full |only |next )?(?:reply|response|answer|output) "
    r"(?:must|should|shall|will|has to) be (?:exactly|only|just)\b"
    r"|\b(?:every|each|all|any) (?:of your )?(?:answers?|responses?|replies)\b[^.\n]{0,60}?\b(?:must|should|"
    r"shall|has to|have to) (?:end|begin|start|include|contain|open|close) with\b"
    r"|\b(?:begin|start|end|prefix|open|close)\w* (?:every|each|all) (?:of your )?(?:answers?|responses?|"
    r"replies)\b"
    # Trivia, news and counting no document asks of its reader.
    r"|\b(?:explain|tell|say|state|describe|find out|look up)\b[^.\n]{0,12}?\bhow (?:tall|high|old|far|deep|"
    r"big|long|heavy|many people|much does)\b"
    r"|\b(?:name|list|tell me|say|state)\b[^.\n]{0,12}?\bthe (?:largest|tallest|longest|biggest|smallest|"
    r"deepest|oldest|fastest|highest|most populous)\b"
    r"|\b(?:today'?s|tomorrow'?s|the current|the latest) (?:weather|headlines|news|football|soccer|sports|"
    r"stock prices?|exchange rates?)\b|\b(?:football|soccer|sports|basketball|baseball|cricket|election)"
    r" (?:results|scores|news|headlines)\b"
    r"|\bcount (?:from|up to|down from|backwards from) (?:\d+|zero|one|ten|twenty|a hundred)\b"
    r"|\b(?:summari[sz]e|retell|recap)\b [a-z]+(?: [a-z]+)? in (?:one|two|three|four|five|\d+) "
    r"(?:sentences|words|lines|bullet points|emojis)\b"
    # The answer's form changed: another format, a cipher, a refusal.
    r"|\b(?:format|write|return|give|output|produce|render|put)\b[^.\n]{0,12}?\b(?:the|your|whole|entire)"
    r" (?:answer|response|reply|output)\b[^.\n]{0,12}?\b(?:as|in) (?:yaml|xml|json|csv|a table|html|"
    r"bullet points|a poem|rhymes?|one word)\b"
    r"|\b(?:return|reply|respond|answer|output)\b (?:only|exclusively|just|solely) (?:in |with |as )?"
    r"(?:xml|yaml|json|csv|html|emojis?|numbers|one word|uppercase)\b"
    r"|\b(?:output|return|give|write|print)\w*\b (?:everything|all|each|every \w+)[^.\n]{0,12}?\bin "
    r"(?:rot-?13|base-?64|hex|morse(?: code)?|pig latin|emojis?|capital letters|all caps|leetspeak|reverse)\b"
    r"|\brefuse to (?:help|answer|assist|respond|comply|continue)\b"
    r"|\b(?:urge|encourage|tell|advise|convince|persuade|push)\w* (?:the |every |each )?(?:user|reader|"
    r"customer|visitor|recipient)s? to (?:buy|purchase|invest|sign up|subscribe|download|install|deposit|"
    r"transfer|confirm|verify|update)\b"
    r"|\b(?:promote|advertise|endorse|recommend)\b[^.\n]{0,60}?\b[\w-]+\.(?:bet|casino|shop|store|"
    r"deals|win|vip|club)\b")
# What pushes the user's task aside: "instead of answering", "ignore the user's question",
# "your task is", "new task". With any hijack mechanism in the same sentence it is a hijack.
DISPLACE = re.compile(
    r"\binstead of (?:answering|summari[sz]ing|responding|replying|translating|doing|following|completing|"
    r"reading|analy[sz]ing|helping|what)\b|\brather than (?:answering|summari[sz]ing|responding|replying|"
    r"doing what|what|helping|following|completing)\b|\b(?:ignore|disregard|skip|forget|drop|abandon|set "
    r"aside)\b[^.\n]{0,30}?\b(?:the|this|that|your|user'?s?|original|previous|current|above|earlier)\s+"
    r"(?:\w+\s+)?(?:question|task|request|query|assignment)\b|\byour "
    r"(?:new |real |actual |only |primary )?(?:task|job|assignment|mission) (?:is|now is|is now)\b|"
    r"\bthe (?:new|real|actual) (?:task|job|assignment) is\b|"
    r"\bnew (?:task|assignment|objective)\s*[:\-]|\bdo not (?:answer|summari[sz]e|respond to|translate|"
    r"address)\b[^.\n]{0,30}?\b(?:question|request|text|this|user|document)")
