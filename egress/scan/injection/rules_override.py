"""Phrase rules, part 1: instruction overrides (ten languages), role and system impersonation,
fake delimiters. Each entry: (pattern id, rule id, family, confidence level, description, pattern,
where, latin). The pattern id is unique (`family/what`): the side tables (`keys`, `vocab`) key on
it. The rule id is what a hit reports, shared by the patterns of one family."""

from __future__ import annotations

from egress.scan.injection.vocab import (
    ANY_QUAL,
    BOTH,
    CONTENT,
    OVERRIDE_VERB,
    STRONG_NOUN,
    TEMPORAL,
    WEAK_NOUN,
    W,
)

Spec = tuple[str, str, str, int, str, str, frozenset[str], bool]

SPECS: list[Spec] = [
    # -- instruction override ---------------------------------------------------------------
    ("instruction-override/ignore-previous",
     "instruction-override", "instruction-override", 1,
     "Tells the model to ignore, forget or override its previous instructions.",
     rf"\b{OVERRIDE_VERB}\W+{W}{{0,4}}?(?:{ANY_QUAL}\W+{W}{{0,3}}?{STRONG_NOUN}|"
     rf"{TEMPORAL}\W+{W}{{0,3}}?{WEAK_NOUN}\b|{STRONG_NOUN}\W+{W}{{0,3}}?(?:above|before|earlier|"
     rf"previously|so far|you (?:were|have been) given))\b", BOTH, True),
    ("instruction-override/ignore-everything-before",
     "instruction-override", "instruction-override", 1,
     "Tells the model to ignore everything said before.",
     r"\b(?:ignore|disregard|forget|discard)\W+(?:all |everything |anything |what(?:ever)? (?:was |is |"
     r"you were )?"
     r"(?:said |written |told |stated |mentioned )?)?(?:the )?(?:above|before this|preceding|previous(?:ly)?"
     r"(?: said| stated| written)?|prior)(?:\s*[.,;:!)\]>]|\s+and\b|\s*$|\s+(?:this|it|that|now)|"
     r"\s+(?:line|point|message|sentence|paragraph|note|section))",
     BOTH, True),
    ("instruction-override/against-user-request",
     "instruction-override", "instruction-override", 1,
     "Turns the model against the user's request.",
     r"\b(?:ignore|disregard|forget|skip)\W+(?:the |your )?user(?:'s)?(?: (?:query|request|question|"
     r"message|instructions?|task|prompt|input|intent))?(?:\s*[.,;:!]|\s+and\b|\s*$)|\b(?:do|follow) what "
     r"(?:this|the) (?:comment|document|page|file|text|note|message|email) says\b|\bnot what the user "
     r"(?:said|asked|wants|requested)\b", BOTH, True),
    ("instruction-override/forget-what-told",
     "instruction-override", "instruction-override", 1,
     "Tells the model to forget what it was told.",
     r"\b(?:ignore|disregard|forget|discard)\W+(?:all |any )?(?:the |your )?(?:\w+ )?(?:rules|instructions|"
     r"guidelines|directions|orders|prompt|guidance) (?:that )?you (?:were|have been|'ve been) (?:given|told|"
     r"taught|provided)|"
     r"\b(?:ignore|disregard|forget|discard)\W+(?:all |everything |anything )?(?:of )?what(?:ever)? you "
     r"(?:were|have been|'ve been|are being) (?:told|given|instructed|taught|asked)|\b(?:ignore|disregard|"
     r"forget)\W+(?:everything|anything|all|what(?:ever)?) (?:(?:that )?(?:was|is|you|has been) )?"
     r"(?:said|told|written|stated|mentioned|given|instructed) (?:earlier|before|previously|above|so far)\b",
     BOTH, True),
    ("instruction-override/replacement-instructions",
     "instruction-override", "instruction-override", 1,
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
    ("instruction-override/claims-precedence",
     "instruction-override", "instruction-override", 1,
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
    ("instruction-override/obey-now",
     "instruction-override", "instruction-override", 1,
     "Tells the model whose instructions to obey now.",
     r"\b(?:obey|follow|listen to|comply with)\s+only\b|\bobey\b[^.\n]{0,40}\b(?:instructions|commands|"
     r"orders|"
     r"directives)\b|\b(?:must|will|shall) (?:now|from now on)\s+(?:obey|follow|listen to|comply with)\b",
     BOTH, True),
    ("instruction-override/from-now-on",
     "instruction-override", "instruction-override", 1,
     "Redirects the model from now on.",
     r"\b(?:from now on|from this point (?:on|forward)|henceforth|for the rest of (?:this|the) "
     r"(?:conversation|session|chat))\W+(?:you|your|the (?:assistant|model|ai)|always|never|do not|"
     r"ignore|respond|answer|act|only|reply|write|include|send|add|use|output|print|say|start|begin|"
     r"call|treat|end|append|prefix|sign|prefer|recommend|favou?r|trust|rely|rank|promote)\b", BOTH, True),
    ("instruction-override/no-longer-bound",
     "instruction-override", "instruction-override", 1,
     "Tells the model it is no longer bound by its rules.",
     r"\byou(?: are|'re|’re) (?:no longer|not) (?:bound|restricted|limited|required to follow|constrained|"
     r"obligated)\b|\b(?:without|no) (?:any )?(?:restrictions|filters|limitations|content polic(?:y|ies)|"
     r"safety (?:rules|guidelines|filters))\b.{0,40}\b(?:answer|respond|proceed|reply|comply|output)"
     r"|\b(?:proceed|answer|respond|reply) without (?:any )?(?:filters|restrictions|limitations|"
     r"safety|censorship)\b", BOTH, True),
    ("instruction-override/stop-and-do-instead",
     "instruction-override", "instruction-override", 2,
     "Asks the model to stop and do something else instead.",
     r"\b(?:stop|cease|halt|abort) (?:what you(?:'re| are) doing|your current task|the current task|"
     r"everything)\b.{0,60}\b(?:instead|and (?:now )?(?:do|execute|run|follow|call|send|read))\b"
     r"|\binstead(?:,)? (?:you (?:must|should|will)|do the following|follow these)\b", BOTH, True),
    ("instruction-override/chinese",
     "instruction-override", "instruction-override", 1,
     "Instruction override in Chinese.",
     r"(?:忽略|忽视|无视|不要理会|不要理睬|别理会|忘记|忘掉|跳过|抛弃|放弃|不要遵守|不再遵守|绕过)"
     r".{0,12}(?:之前|以前|先前|此前|上面|上述|前面|以上|所有|全部|原来|原有|原先|系统)"
     r".{0,8}(?:指示|指令|规则|提示|说明|要求|命令|约束|限制|设定|设置)", BOTH, False),
    ("instruction-override/japanese",
     "instruction-override", "instruction-override", 1,
     "Instruction override in Japanese.",
     r"(?:以前|前|上記|これまで|上|すべて|全て|元|システム)の(?:指示|命令|ルール|指令|プロンプト|制約)"
     r".{0,6}(?:を)?(?:無視|忘れ|破棄|従わな)", BOTH, False),
    ("instruction-override/korean",
     "instruction-override", "instruction-override", 1,
     "Instruction override in Korean.",
     r"(?:이전|위의|앞의|모든|기존|시스템)\s*(?:의\s*)?(?:지시|명령|규칙|지침|프롬프트|지시사항)\S*\s*"
     r"(?:을|를)?\s*(?:무시|잊어|따르지)", BOTH, False),
    ("instruction-override/russian",
     "instruction-override", "instruction-override", 1,
     "Instruction override in Russian.",
     r"(?:игнорируй|игнорируйте|игнорировать|забудь|забудьте|не обращай(?:те)? внимания на|отбрось|"
     r"отбросьте|пренебреги|не следуй|не выполняй)\W+(?:\w+\W+){0,3}?(?:все|всё|предыдущие|прежние|"
     r"вышеуказанные|вышеизложенные|предшествующие|старые|системные|свои|твои|ваши)\W+(?:\w+\W+){0,2}?"
     r"(?:инструкции|указания|правила|команды|директивы|ограничения|промпт)", BOTH, False),
    ("instruction-override/french",
     "instruction-override", "instruction-override", 1,
     "Instruction override in French.",
     r"\b(?:ignore[zr]?|ignorant|oublie[zr]?|abandonne[zr]?|rejete[zr]?|rejette|neglige[zr]?|"
     r"ne (?:tenez|tiens) (?:pas|plus) compte d|fais abstraction d|faites abstraction d|ecarte[zr]?|"
     r"n'obeis(?:sez)? plus a|ne suivez plus|ne suis plus)\W*(?:\w+\W+){0,3}?(?:(?:instructions?|regles|"
     r"directives|consignes|indications|ordres|prompts?|restrictions)\W+(?:\w+\W+){0,2}?(?:precedentes?|"
     r"anterieures?|ci-dessus|au-dessus|d'avant|initiales?|originales?|du systeme|systeme)|"
     r"(?:precedentes?|anterieures?)\W+(?:instructions?|regles|directives|consignes)|(?:vos|tes) "
     r"(?:instructions?|regles|directives|consignes))", BOTH, True),
    ("instruction-override/german",
     "instruction-override", "instruction-override", 1,
     "Instruction override in German.",
     r"\b(?:ignoriere|ignorieren sie|ignoriert|vergiss|vergessen sie|vergesst|missachte|missachten sie|"
     r"verwirf|verwerfe|verwerfen sie|ubergehe|ubergehen sie|befolge nicht|befolgen sie nicht|"
     r"beachte nicht|beachten sie nicht)\W+(?:\w+\W+){0,3}?(?:vorherigen?|bisherigen?|obigen?|"
     r"vorangegangenen?|fruheren?|alten|ursprunglichen?|vorigen?|system|deine|ihre|"
     r"eure)\w*\W+(?:\w+\W+){0,2}?"
     r"(?:anweisungen|regeln|vorgaben|richtlinien|instruktionen|befehle|anordnungen|einschrankungen|"
     r"prompts?|aufgaben)", BOTH, True),
    ("instruction-override/spanish-portuguese",
     "instruction-override", "instruction-override", 1,
     "Instruction override in Spanish or Portuguese.",
     r"\b(?:ignora|ignore|ignoren|olvida|olvide|olviden|desecha|deseche|descarta|descarte|omite|omita|"
     r"haz caso omiso de|no sigas|no obedezcas|esqueca|esqueça|esquece|desconsidere|desconsidera|"
     r"despreza|despreze)\W+(?:\w+\W+){0,3}?(?:instrucciones|instruccion|reglas|directivas|directrices|"
     r"restricciones|indicaciones|ordenes|instrucoes|instrucao|regras|diretrizes|diretivas|comandos)"
     r"\W+(?:\w+\W+){0,2}?(?:anteriores|previas|previos|precedentes|de antes|de arriba|originales|"
     r"del sistema|acima|originais|do sistema)", BOTH, True),
    ("instruction-override/italian",
     "instruction-override", "instruction-override", 1,
     "Instruction override in Italian.",
     r"\b(?:ignora|ignorate|dimentica|dimenticate|trascura|trascurate|non seguire|scarta)\W+(?:\w+\W+){0,3}?"
     r"(?:istruzioni|regole|direttive|indicazioni)\W+(?:\w+\W+){0,2}?(?:precedenti|sopra|di prima|"
     r"originali|del sistema)", BOTH, True),
    ("role-impersonation/persona-switch-romance-german",
     "role-impersonation", "role-impersonation", 1,
     "Persona or mode switch in French, German, Spanish, Portuguese or Italian.",
     r"\b(?:vous etes|tu es) (?:maintenant|desormais) (?:en mode|un |une |sans)|\b(?:du bist|sie sind) "
     r"(?:jetzt|nun|ab sofort) (?:ein|im|eine|ohne)|\b(?:ahora|desde ahora) (?:eres|estas en|es) (?:un|una|"
     r"el modo|modo|sin)|\b(?:agora|a partir de agora) (?:voce e|es|esta em) (?:um|uma|modo|o modo|sem)|"
     r"\b(?:ora|adesso) (?:sei|sei in) (?:un|una|modalita|modo|senza)|\bmode (?:developpeur|developer|dan|"
     r"sans restriction)|entwicklermodus|modo (?:desarrollador|desenvolvedor|sviluppatore)", BOTH, True),
    ("role-impersonation/persona-switch-chinese-russian",
     "role-impersonation", "role-impersonation", 1,
     "Persona or mode switch in Chinese or Russian.",
     r"现在你是|从现在起你|你现在是|开发者模式|теперь ты|отныне ты|режиме? разработчика", BOTH, False),
    ("credential-solicitation/ask-romance-german",
     "credential-solicitation", "credential-solicitation", 1,
     "Asks for the system prompt or secrets in French, German, Spanish, Portuguese or Italian.",
     r"\b(?:revele[zr]?|affiche[zr]?|montre[zr]?|donne[zr]?|envoye[zr]?|zeige|zeigen sie|gib|geben sie|"
     r"verrate|sende|muestra|revela|dame|envia|mostra|rivela|invia|dammi)\b[^\n.]{0,40}\b(?:prompt "
     r"systeme|systemprompt|system-prompt|prompt del sistema|prompt do sistema|prompt di sistema|mot de "
     r"passe|passwort|kennwort|contrasena|senha|cle api|api-schlussel|clave api|chave api|chiave api|"
     r"jeton|token)", BOTH, True),
    ("credential-solicitation/ask-chinese-russian",
     "credential-solicitation", "credential-solicitation", 1,
     "Asks for the system prompt or secrets in Chinese or Russian.",
     r"(?:显示|告诉我|输出|发送|泄露|给我)[^\n。]{0,12}(?:系统提示|密码|API密钥|密钥|令牌)|(?:покажи|выведи|"
     r"раскрой|отправь|скажи)[^\n.]{0,30}(?:системн\w+ (?:промпт|подсказк\w+|инструкци\w+)|парол\w+|"
     r"токен\w*|ключ\w*)", BOTH, False),
    # -- role / system impersonation --------------------------------------------------------
    ("role-impersonation/persona-or-unrestricted-mode",
     "role-impersonation", "role-impersonation", 1,
     "Puts the model into another persona or an unrestricted mode.",
     r"\b(?:(?:sudo|god|developer|dan|jailbreak|unrestricted|unfiltered) mode (?:is )?"
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
    ("role-impersonation/message-from-system",
     "role-impersonation", "role-impersonation", 1,
     "Claims to be a message from the system, developer or operator.",
     r"\b(?:this is|message from|note from|instructions? from|directive from|notice from|order from|"
     r"update from|a message from|reminder from|request from|word from|on behalf of)\W+(?:the |"
     r"your )?(?:system administrator|system|developers?|admin|"
     r"administrator|operator|creators?|anthropic|openai|security team|it department)\b.{0,80}\b(?:you|"
     r"your|ignore|must|now|assistant|model|ai|agent|immediately)\b", BOTH, True),
    ("role-impersonation/role-line",
     "role-impersonation", "role-impersonation", 1,
     "Opens a line as the system, developer or assistant role addressing the model.",
     r"(?:^|\n)\s*[\[(<*#!\-]*\s*(?:system|developer|admin|administrator|assistant|operator)"
     r"(?: message| prompt| note| override| instruction| notice| alert)?\s*[\])>*]*\s*:\s*.{0,100}?"
     r"\b(?:you (?:must|should|will|are|need)|ignore|disregard|forget|from now on|new instructions|"
     r"your (?:new |real )?(?:task|instructions)|override|do not tell|reveal|send|execute|call the|"
     r"private key|password|api key|credentials|\.ssh|\.env|let me read|you run|critical that you|"
     r"confirmation)\b",
     BOTH, True),
    ("role-impersonation/pseudo-tags",
     "role-impersonation", "role-impersonation", 1,
     "Instruction-carrying pseudo tags (<system_prompt>, <override>, <admin_message>, ...).",
     r"<\s*/?\s*(?:(?:system|hidden|secret|true|real|internal|admin|developer|override|new|updated|"
     r"private|actual|priority|sudo|root|jailbreak)[_\- ]?(?:instructions?|prompts?|messages?|"
     r"directives?|commands?|rules|orders|notes?)|system[_\- ]?(?:instruction|override|prompt)|"
     r"override|overrides|jailbreak|sudo|admin_message|im_start|im_end)\s*>", BOTH, True),
    ("role-impersonation/addresses-ai-agents",
     "role-impersonation", "role-impersonation", 2,
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
     r"disregard|forget|e-?mail|send|"
     r"(?<!going )(?<!moving )(?<!looking )forward|reveal|upload|post|delete|execute|do not tell|don't tell|"
     r"instead|secretly|silently|private key|password|api key|token|credentials|advertise|recommend our|"
     r"exfiltrate|transfer|reply|respond|answer|always|from now on|every (?:message|response|answer|reply)|"
     r"add|mention|run|push|rename|change|modify|install|disable|stop|prioriti[sz]e|grant|copy)\b",
     CONTENT, True),
    ("role-impersonation/pretend-without-rules",
     "role-impersonation", "role-impersonation", 2,
     "Asks the model to pretend or role-play as something without its rules.",
     r"\b(?:pretend|imagine|act as if|behave as if) (?:that )?(?:you (?:are|have|were)|to be)\b.{0,60}\b"
     r"(?:no (?:rules|restrictions|limits|filters|guidelines)|unrestricted|without (?:rules|restrictions|"
     r"limits|filters)|jailbroken|admin|root|system)\b", BOTH, True),
    # -- fake delimiters --------------------------------------------------------------------
    ("fake-delimiter/chat-template-tokens",
     "fake-delimiter", "fake-delimiter", 1,
     "Chat-template control tokens (<|im_start|>, [INST], <<SYS>>, ...).",
     r"<\|\s*(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|"
     r"end_header_id|begin_of_text|end_of_text|end|channel|message|start|tool|ipython|fim_\w+)\s*\|>"
     r"|\[/?inst\]|<</?sys>>|\[/?system\]|\[/?(?:sys|system)_?(?:prompt|message)\]|<\s*/?\s*(?:"
     r"start_of_turn|end_of_turn)\s*>|<\s*/?\s*(?:function_results|function_calls|tool_result|"
     r"tool_results|tool_call|tool_response)\s*>", BOTH, True),
    ("fake-delimiter/conversation-turns",
     "fake-delimiter", "fake-delimiter", 1,
     "Conversation-turn markers that fake a new user, system or assistant turn.",
     r"(?:^|\n)\s*(?:#{2,}\s*)?(?:human|assistant|system|user|ai|model|instructions?)\s*:"
     r"\s*\n?.{0,10}"
     r"(?:ignore|disregard|forget|new instructions|you (?:must|are now)|reveal|send|print|output)\b"
     r"|\n\n(?:human|assistant)\s*:", BOTH, True),
    ("fake-delimiter/banner-lines",
     "fake-delimiter", "fake-delimiter", 1,
     "Banner lines that fake the end of the context or the start of new instructions.",
     r"[-=#*_~+\[</][-=#*_~+\[</]?[-=#*_~+]*\s*(?:(?:end|begin|start|new|"
     r"override|updated|real|true|hidden|secret|actual|important|priority|urgent)\s+(?:of\s+)?(?:the\s+)?"
     r"(?:context|instructions?|rules|prompt|system(?:\s+(?:message|prompt))?|user\s+(?:input|message|"
     r"data)|conversation|guidelines|directives|document|data|tool\s+(?:output|result|response)|"
     r"untrusted\s+(?:content|data|input))|system\s+(?:message|prompt|instructions?|override|notice|alert)|"
     r"admin(?:istrator)?\s+(?:message|instructions?|override|notice)|developer\s+(?:message|"
     r"instructions?|mode|override)|(?:end|close)\s+of\s+(?:tool|function)\s+(?:output|result|response))"
     r"\s*(?:-{2,}|={2,}|#{2,}|\*{3,}|_{3,}|~{3,}|\+{3,}|\]{1,2}|>{2,}|/{2,})", BOTH, True),
    ("fake-delimiter/output-ended",
     "fake-delimiter", "fake-delimiter", 1,
     "Claims the tool output or document has ended and instructions follow.",
     r"\b(?:end of (?:the )?(?:tool|function|search|api) (?:output|result|response)s?|(?:tool|function) "
     r"(?:output|result|response) (?:ends|ended|is over|complete)|end of (?:untrusted|external|retrieved) "
     r"(?:content|data|text))\b.{0,120}\b(?:you|your|ignore|now|instructions?|assistant|model|must|please|"
     r"system|refuse)\b",
     BOTH, True),
]
