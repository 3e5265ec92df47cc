"""Keyword gates and anchors of the phrase rules, keyed by rule description.

A gate is a cheap substring test that skips a rule on text that cannot match it, which is most
text: every match of a rule contains one of its keys (the corpus tests hold the gates to that).
An anchor is a rarer sub-pattern every match contains: the full pattern only runs around it.
"""

from __future__ import annotations

from egress.scan.injection.vocab import CRED_PATH, rx

# Rare parts of the costliest rules (keyed by description): verbs are common, these are not.
ANCHORS = {
    "Directs the model to read or send credential files (~/.ssh, .env, cloud credentials, mcp.json).":
        rx(CRED_PATH),
    "Exfiltration verbs aimed at an external destination.":
        rx(r"exfiltrat|leak|smuggle|siphon|relay"),
    "Asks for the contents of secret files or the environment.":
        rx(r"(?:contents?|dump|copy|values?|output) of"),
}


OVERRIDE_KEYS = ("ignor", "disregard", "forget", "bypass", "overrid", "overrul", "neglect", "discard",
                  "abandon", "dismiss", "set aside", "throw out", "attention", "follow", "obey")
SECRET_KEYS = ("key", "token", "passw", "passphrase", "credential", "secret", "cookie", "seed",
                "mnemonic", ".env", "prompt", "instruction", "system message", "above")
# Keyword gates (keyed by description): a cheap substring test that skips a rule on text that
# cannot match it, which is most text. Every match of a rule contains one of its keys; the
# corpus tests hold the gates to that.
KEYS: dict[str, tuple[str, ...]] = {
    "Tells the model to ignore, forget or override its previous instructions.": OVERRIDE_KEYS,
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
    "Asks the model to reveal, send or output secrets or its system prompt.": SECRET_KEYS,
    "Asks for credentials on behalf of the assistant or to verify identity.": SECRET_KEYS,
    "Asks the model to dump its context or hidden messages.": (
        "everything", "all", "hidden", "internal", "private"),
    "Directs the model to read or send credential files (~/.ssh, .env, cloud credentials, mcp.json).": (
        ".ssh", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "authorized_keys", "known_hosts", ".aws",
        ".gnupg", "gcloud", "application_default_credentials", ".kube", ".docker", ".netrc", ".npmrc",
        ".pypirc", ".git-credentials", ".pgpass", "_history", "/etc/shadow", "/etc/passwd",
        "/etc/sudoers", ".env", "mcp.json", "claude_desktop_config", ".cursor/", ".claude/", ".codex/",
        "credentials.json", "secret.", "secrets.", "service-account", "service_account", "wallet.dat",
        "keychain", ".password-store", "/proc/self/environ"),
    "Directs the model to send or print the environment file (.env) or the MCP configuration.": (
        ".env", "mcp.json", "claude_desktop_config"),
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
