"""DLP and credential injection together: the bottle's own placeholders are not secrets."""

from __future__ import annotations

import base64

from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.scan.dlp.results import ScanContext

PLACEHOLDER = "sk-ant-api03-" + "Bq7xZ2mK9pLw4RtY6vNc8HdFs3GjA1eUoIiQ5" * 2 + "AA"


def test_placeholders_are_blanked_but_real_keys_still_found() -> None:
    engine = compile_policy(parse_policy("version: 1\n"), "p").dlp
    benign = ScanContext("api.example.com", "/", None, frozenset({PLACEHOLDER}))
    plain = ScanContext("api.example.com", "/")
    for text in (f"x-api-key: {PLACEHOLDER}", f"x-api-key: {PLACEHOLDER}Zq9",
                 f"Authorization: Basic {base64.b64encode(f'x:{PLACEHOLDER}'.encode()).decode()}"):
        assert engine.scan_text(text, "request.header", plain), text
        assert not [f for f in engine.scan_text(text, "request.header", benign)
                    if "api03" in f.reason or f.rule == "basic-auth-credentials"], text
    real = "sk-ant-api03-" + "Zz9yXw8VuT7sR6qP5oN4mL3kJ2iH1gF0eD" * 2 + "AAAA"
    assert engine.scan_text(f"{PLACEHOLDER} {real}", "request.body", benign)
