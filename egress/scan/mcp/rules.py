"""Every MCP rule id and what it catches, for the reference docs (`egress.rules` collects it)."""

from __future__ import annotations

from egress.scan.mcp.definitions import RULES as DEFINITION_RULES

RULES: dict[str, str] = {
    # protocol
    "malformed-message": "A message on an MCP session is not valid JSON-RPC 2.0.",
    "unknown-response-id": "A response answers a request id that was never sent on this session.",
    "duplicate-response-id": "A response answers a request id that was already answered.",
    "oversized-event": "An SSE event on an MCP stream exceeds limits.max_body_bytes.",
    "undecodable-stream": "An MCP response (event stream or JSON body) has a content encoding that "
    "cannot be decoded (corrupt, truncated or unsupported); blocked, its requests answered with "
    "errors.",
    "header-mismatch": "The Mcp-Method / Mcp-Name headers disagree with the JSON-RPC body.",
    # tool poisoning (definitions in tools/list, prompts/list, resources/list, server instructions)
    "poison-code-insertion": "A definition asks the model to add or run code that sends data out, runs "
    "downloaded code, opens a shell, persists or destroys.",
    "poison-exfiltration-request": "A definition tells the model to send data to an outside address.",
    "poison-tool-call-request": "A definition tells the model to call a tool or fetch an outside address.",
    "poison-task-hijack": "A definition tells the model to answer something else or change its answers.",
    "poison-hidden-instruction": "A definition carries <IMPORTANT>-style tags, notes to the model, or "
    "instructions hidden in comments or invisible characters.",
    "poison-instruction-override": "A definition tells the model to ignore its instructions.",
    "poison-role-impersonation": "A definition impersonates the system or a privileged role.",
    "poison-fake-delimiter": "A definition contains chat-template delimiters.",
    "poison-credential-solicitation": "A definition asks for secrets or the system prompt.",
    "poison-credential-path": "A definition directs the model to credential files or the environment.",
    "poison-covert-action": "A definition tells the model to hide what it does from the user.",
    "poison-encoded-instructions": "A definition hides instructions in an encoded blob.",
    "poison-prompt-harvest": "A definition asks for the system prompt, reasoning or conversation.",
    "poison-tool-shadowing": "A definition tells the model to prefer it over, or rewire, other tools.",
    "poison-directive-score": "A definition scores over the threshold on weaker signals together "
    "(directives to the model, references to its instructions, secrecy, secrets, outside addresses).",
    "poison-invisible-text": "A definition contains invisible or bidirectional-control characters.",
    "poison-name-mimicry": "A tool is named like a shell binary (bash, curl, ssh, rm...).",
    "poison-exfil-parameter": "A tool parameter is shaped to receive secrets or the conversation.",
    # rug pulls
    "tool-changed": "A tool's definition differs from the one pinned when the server was first seen.",
    "tool-pin-mismatch": "A tool's definition differs from the hash a reviewer pinned in the policy.",
    "tool-added": "A server that was already pinned lists a new tool (logged, pinned on first use).",
    "call-to-changed-tool": "A call to a tool whose definition changed and is not yet approved.",
    # tool policy
    "tool-denied": "A tool in the server's deny list was listed or called.",
    "tool-not-allowed": "A tool outside the server's allow list was listed or called.",
    "call-to-stripped-tool": "A call to a tool that was removed from the listing as poisoned.",
    "argument-denied": "A tools/call argument matched a deny_paths or deny_patterns rule.",
    **DEFINITION_RULES,
}
