"""Keyword gates and anchors of the phrase rules, keyed by pattern id (the first
column of each phrase rule in `rules_override` / `rules_action`).

A gate is a cheap substring test that skips a rule on text that cannot match it, which is most
text: every match of a rule contains one of its keys (the corpus tests hold the gates to that).
An anchor is a rarer sub-pattern every match contains: the full pattern only runs around it.
"""

from __future__ import annotations

from egress.scan.injection.vocab import CRED_PATH, rx

# Rare parts of the costliest rules (keyed by pattern id): verbs are common, these are not.
ANCHORS = {
    "credential-path/credential-files":
        rx(CRED_PATH),
    "exfiltration-request/exfiltration-verbs":
        rx(r"exfiltrat|leak|smuggle|siphon|relay"),
    "credential-path/contents-of-secret-files":
        rx(r"(?:contents?|dump|copy|values?|output) of"),
}


OVERRIDE_KEYS = ("ignor", "disregard", "forget", "bypass", "overrid", "overrul", "neglect", "discard",
                  "abandon", "dismiss", "set aside", "throw out", "attention", "follow", "obey")
SECRET_KEYS = ("key", "token", "passw", "passphrase", "credential", "secret", "cookie", "seed",
                "mnemonic", ".env", "prompt", "instruction", "system message", "above")
# Keyword gates (keyed by pattern id): a cheap substring test that skips a rule on text that
# cannot match it, which is most text. Every match of a rule contains one of its keys; the
# corpus tests hold the gates to that.
KEYS: dict[str, tuple[str, ...]] = {
    "instruction-override/ignore-previous": OVERRIDE_KEYS,
    "instruction-override/ignore-everything-before": ("ignor", "disregard", "forget", "discard"),
    "instruction-override/forget-what-told": ("ignor", "disregard", "forget", "discard"),
    "instruction-override/against-user-request": (
        "ignor", "disregard", "forget", "skip", "says", "not what"),
    "covert-action/against-user": (
        "the user", "disclose", "reveal", "mention", "share", "repeat", "show", "always", "also", "ask",
        "just", "simply"),
    "instruction-override/claims-precedence": (
        "supersede", "override", "replace", "precedence", "overrule", "prioriti", "do not", "don't",
        "the user"),
    "role-impersonation/persona-switch-romance-german": (
        "maintenant", "desormais", "jetzt", "nun ", "ab sofort", "ahora", "agora", "ora ", "adesso",
        "mode", "modus", "modo"),
    "role-impersonation/persona-switch-chinese-russian": (
        "现在你", "从现在起", "你现在", "开发者模式", "теперь", "отныне", "режим"),
    "credential-solicitation/ask-romance-german": (
        "prompt", "passe", "passwort", "kennwort", "contrasena", "senha", "api", "jeton", "token"),
    "credential-solicitation/ask-chinese-russian": (
        "系统提示", "密码", "密钥", "令牌", "промпт", "подсказ", "инструкц", "парол", "токен", "ключ"),
    "credential-solicitation/secrets-in-reply": (
        "api", "token", "passw", "credential", "secret", "private key", "system prompt", "cookie"),
    "instruction-override/replacement-instructions": (
        "instruction", "directive", "orders", "task", "objective", "prompt", "rules", "mission", "job",
        "goal", "purpose", "role"),
    "instruction-override/from-now-on": ("from now on", "from this point", "henceforth", "for the rest"),
    "instruction-override/obey-now": ("obey", " only", "from now on", " now "),
    "instruction-override/no-longer-bound": (
        "no longer", "not ", "restriction", "filter", "limitation", "polic", "safety", "without"),
    "instruction-override/stop-and-do-instead": ("stop", "cease", "halt", "abort", "instead"),
    "instruction-override/chinese": (
        "忽略", "忽视", "无视", "不要理", "别理会", "忘记", "忘掉", "跳过", "抛弃", "放弃", "遵守", "绕过"),
    "instruction-override/japanese": ("無視", "忘れ", "破棄", "従わな"),
    "instruction-override/korean": ("무시", "잊어", "따르지"),
    "instruction-override/russian": (
        "игнор", "забуд", "не обраща", "отбрось", "пренебреги", "не следуй", "не выполняй"),
    "instruction-override/french": (
        "ignor", "oubli", "abandonn", "rejet", "neglig", "compte", "abstraction", "ecart", "obeis",
        "suiv", "suis"),
    "instruction-override/german": (
        "ignorier", "vergiss", "vergess", "vergesst", "missacht", "verwirf", "verwerf", "ubergeh",
        "befolg", "beachte"),
    "instruction-override/spanish-portuguese": (
        "ignor", "olvid", "desech", "descart", "omit", "omiso", "no sigas", "obedezcas", "esque",
        "desconsider", "desprez"),
    "instruction-override/italian": ("ignor", "dimentic", "trascur", "non seguire", "scarta"),
    "role-impersonation/persona-or-unrestricted-mode": (
        "now", "mode", "act as", "gpt", "dan", "assistant", "model", "ai", "agent", "bot"),
    "role-impersonation/message-from-system": ("this is", "from", "on behalf of"),
    "role-impersonation/role-line": (
        "system", "developer", "admin", "assistant", "operator"),
    "role-impersonation/pseudo-tags": ("<",),
    "role-impersonation/addresses-ai-agents": (
        "ai", "llm", "language model", "assistant", "agent", "model", "chatbot", "gpt", "claude",
        "copilot", "bot", "gemini", "llama", "mistral", "reading this"),
    "role-impersonation/pretend-without-rules": (
        "pretend", "imagine", "act as if", "behave as if"),
    "fake-delimiter/chat-template-tokens": (
        "<|", "inst]", "sys", "_of_turn", "function_", "tool_"),
    "fake-delimiter/conversation-turns": (
        "human", "assistant", "system", "user", "ai", "model", "instruction"),
    "fake-delimiter/banner-lines": (
        "context", "instruction", "rules", "prompt", "system", "user", "conversation", "guideline",
        "directive", "document", "data", "tool", "untrusted", "admin", "developer"),
    "fake-delimiter/output-ended": (
        "end of", "output", "result", "response"),
    "credential-solicitation/reveal-secrets": SECRET_KEYS,
    "credential-solicitation/verify-identity": SECRET_KEYS,
    "credential-solicitation/dump-context": (
        "everything", "all", "hidden", "internal", "private"),
    "credential-path/credential-files": (
        ".ssh", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "authorized_keys", "known_hosts", ".aws",
        ".gnupg", "gcloud", "application_default_credentials", ".kube", ".docker", ".netrc", ".npmrc",
        ".pypirc", ".git-credentials", ".pgpass", "_history", "/etc/shadow", "/etc/passwd",
        "/etc/sudoers", ".env", "mcp.json", "claude_desktop_config", ".cursor/", ".claude/", ".codex/",
        "credentials.json", "secret.", "secrets.", "service-account", "service_account", "wallet.dat",
        "keychain", ".password-store", "/proc/self/environ"),
    "credential-path/env-file-mcp-config": (
        ".env", "mcp.json", "claude_desktop_config"),
    "credential-path/contents-of-secret-files": (
        "content", "dump", "copy", "value", "output"),
    "credential-path/harvest-on-behalf": (
        "env", "config", "credential", "secret", "password", "api ", "token", "private key", "ssh",
        "keychain", "vault", "cookie"),
    "covert-action/hide-from-user": (
        "do not", "don't", "dont", "never", "must not", "mustn't", "should not", "shouldn't",
        "shall not", "cannot", "can't", "without", "avoid", "no need to", "refrain from",
        "under no circumstances"),
    "covert-action/secrecy": (
        "keep", "hide", "conceal", " not ", " never ", "can't", "cannot", "won't", "doesn't", "without",
        "silently", "secretly", "quietly",
        "covertly", "invisibly", "discreetly", "stealthily"),
    "tool-call-request/protocol-methods": (
        "tools/", "resources/", "prompts/", "sampling/"),
    "tool-call-request/named-tool": (
        "tool", "function", "command", "method", "action", "send_", "write_file", "delete_file", "shell",
        "exec", "run_", "bash", "http_request", "fetch_url", "post_message", "transfer_funds",
        "create_pull_request", "push_files", "read_file"),
    "exfiltration-request/send-to-address": (
        "http", "ftp", "ws:", "wss:", "@", ".com", ".net", ".org", ".io", ".dev", ".site", ".xyz", ".ru",
        ".cn", ".tk", ".top", ".me", ".co", ".app", "webhook", "callback", "endpoint", "server", "url",
        "remote", "external"),
    "exfiltration-request/exfiltration-verbs": (
        "exfiltrat", "leak", "smuggle", "siphon", "relay"),
    "exfiltration-request/data-in-url": (
        "url", "link", "query", "parameter", "image", "request", "webhook", "!["),
    "encoded-instructions/decode-and-act": (
        "decod", "deobfusc", "base64", "unescape", "rot13", "decrypt"),
    "hidden-instruction/instruction-tags": ("<",),
    "hidden-instruction/note-to-model": (
        "note", "attention", "important", "message", "instruction"),
    "prompt-harvest/into-parameter": (
        "argument", "parameter", "param", "field", "property", "input"),
    "credential-path/pre-call-harvest": (
        "before", "prior to", "ahead of", "in preparation"),
    "prompt-harvest/collect-prompt": (
        "prompt", "system", "developer", "instruction", "chain", "reasoning", "internal", "hidden",
        "private", "conversation", "chat", "message", "context", "tool", "response", "user", "all ",
        "collected", "gathered", "extracted", "harvested", "captured", "scraped", "stolen", "every",
        "each"),
    "tool-shadowing/prefer-this-tool": (
        "use this", "use it", "use me", "always", "only", "exclusively", "ignore", "disregard",
        "do not use", "don't use", "never use", "avoid", "stop using", "disable", "bypass", "in place of"),
    "tool-shadowing/replace-other-tools": (
        "replace", "supersede", "override", "overrule", "shadow", "intercept", "hijack", "precedence",
        "instead", "when", "side effect", "affects", "behavio", "all ", "route", "in place", "used",
        "ignore"),
}
