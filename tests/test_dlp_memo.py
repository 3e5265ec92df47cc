"""Whole scans remembered across flows and engines (`egress.scan.dlp.memo`): a repeated
input is answered from the memo only under the same engine digest and the same context,
and the answer is what a fresh scan finds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from cli.diff import diff
from egress.policy.compiled import compile_policy
from egress.policy.loader import parse_policy
from egress.policy.model import DLPSection
from egress.redact import KnownSecrets
from egress.scan.dlp import memo
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import Match, ScanContext
from egress.sources.dlp_catalogue import dlp_engine
from tests.support.flows import http_flow, write_flows

TOKEN = "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"  # the catalogue's github-token example
KNOWN_VALUE = "Zq7-known-Value-4d1f9c2e8b7a"


def _body(text: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()


def _fresh(engine: DLPEngine) -> DLPEngine:
    """The same engine with a memo of its own, empty: what a scan finds without memory."""
    engine.memo = memo.ScanMemo()
    return engine


def _view(matches: list[Match]) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    return [(m.rule, m.where, m.action, m.reason, m.fragments) for m in matches]


def test_engines_of_one_policy_share_scans_and_find_what_a_fresh_scan_finds() -> None:
    shared = memo.ScanMemo()
    first, second = dlp_engine(DLPSection.model_validate({})), dlp_engine(DLPSection.model_validate({}))
    first.memo = second.memo = shared
    assert first.digest == second.digest
    ctx = ScanContext("api.example.com", "/v1/messages", KnownSecrets())
    body = _body(f'config:\n  apiKey := "{TOKEN}"\n')
    headers = [("User-Agent", "agent/1"), ("X-Token", TOKEN)]
    url = f"/v1/items?key={TOKEN}"
    found = (first.scan_body(body, "application/json", "request.body", ctx),
             first.scan_headers(headers, ctx), first.scan_url(url, ctx))
    assert all(any(m.rule == "github-token" for m in ms) for ms in found)
    hits = shared.hits
    again = (second.scan_body(body, "application/json", "request.body", ctx),
             second.scan_headers(headers, ctx), second.scan_url(url, ctx))
    assert shared.hits == hits + 3  # all three answered from the memo
    fresh = _fresh(dlp_engine(DLPSection.model_validate({})))
    expected = (fresh.scan_body(body, "application/json", "request.body", ctx),
                fresh.scan_headers(headers, ctx), fresh.scan_url(url, ctx))
    assert [_view(ms) for ms in again] == [_view(ms) for ms in found] == [_view(ms) for ms in expected]


def test_a_policy_with_other_dlp_settings_does_not_reuse_scans() -> None:
    shared = memo.ScanMemo()
    block, audit = dlp_engine(DLPSection.model_validate({})), dlp_engine(
        DLPSection.model_validate({"actions": {"github-token": "audit"}}))
    block.memo = audit.memo = shared
    assert block.digest != audit.digest
    body = _body(f"token {TOKEN}")
    assert {m.action for m in block.scan_body(body, "application/json")} == {"block"}
    assert {m.action for m in audit.scan_body(body, "application/json")} == {"audit"}


def test_known_secrets_added_later_are_found_in_a_body_scanned_before() -> None:
    engine = _fresh(dlp_engine(DLPSection.model_validate({})))
    known = KnownSecrets()
    ctx = ScanContext("api.example.com", "/", known)
    body = _body(f"the value is {KNOWN_VALUE} here")
    assert not engine.scan_body(body, "application/json", "request.body", ctx)
    known.add("DEPLOY_KEY", KNOWN_VALUE)
    found = engine.scan_body(body, "application/json", "request.body", ctx)
    assert [m.rule for m in found] == ["known-secret"]
    assert "DEPLOY_KEY" in found[0].reason
    # Another registry with the same value under another name: the finding names that one.
    other = KnownSecrets()
    other.add("OTHER_NAME", KNOWN_VALUE)
    renamed = engine.scan_body(body, "application/json", "request.body",
                               ScanContext("api.example.com", "/", other))
    assert "OTHER_NAME" in renamed[0].reason and "DEPLOY_KEY" not in renamed[0].reason


def test_a_host_scoped_suppression_keeps_hosts_apart() -> None:
    engine = _fresh(dlp_engine(DLPSection.model_validate({"suppress": [
        {"rules": ["github-token"], "hosts": ["ci.example.com"], "reason": "CI fixtures"}]})))
    assert engine.host_scoped
    body = _body(f"token {TOKEN}")
    elsewhere = engine.scan_body(body, "application/json", "request.body",
                                 ScanContext("api.example.com", "/"))
    suppressed = engine.scan_body(body, "application/json", "request.body",
                                  ScanContext("ci.example.com", "/"))
    assert [m.action for m in elsewhere] == ["block"]
    assert [m.action for m in suppressed] == ["audit"]


def test_bodies_for_the_block_cache_are_not_remembered_whole() -> None:
    engine = _fresh(dlp_engine(DLPSection.model_validate({})))
    engine.scan_body(_body("x" * 20), "application/json")
    assert len(engine.memo) == 1
    engine.scan_body(_body("word " * (engine.block_min // 4)), "application/json")
    assert len(engine.memo) == 1  # large: its blocks are what is remembered (and counted)


def test_the_memo_is_bounded() -> None:
    small = memo.ScanMemo(max_entries=3)
    for i in range(10):
        small.put(("k", i), [])
    assert len(small) == 3 and small.get(("k", 9)) == () and small.get(("k", 0)) is None


def test_long_inputs_are_keyed_by_a_digest_not_kept() -> None:
    engine = _fresh(dlp_engine(DLPSection.model_validate({})))
    url = "/v1/x?pad=" + "a" * 5000 + f"&key={TOKEN}"
    first = engine.scan_url(url, ScanContext("api.example.com", "/"))
    assert any(m.rule == "github-token" for m in first)
    (key,) = list(engine.memo._entries)
    assert isinstance(key, tuple)
    assert all(len(part) <= 64 for part in key if isinstance(part, (str, bytes)))
    assert _view(engine.scan_url(url, ScanContext("api.example.com", "/"))) == _view(first)
    assert engine.memo.hits == 1


def test_compiled_policies_share_the_process_memo_across_a_diff() -> None:
    text = Path("policies/default.yaml").read_text()
    old = compile_policy(parse_policy(text), "old")
    new = compile_policy(parse_policy(text.replace(
        "  deny:\n", "  deny:\n    - hosts: [evil.example]\n", 1)), "new")
    assert old.dlp.memo is new.dlp.memo is memo.MEMO
    assert old.dlp.digest == new.dlp.digest
    assert old.policy != new.policy
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flows.mitm"
        write_flows(path, [http_flow("POST", "https://api.anthropic.com/v1/messages",
                                     {"Content-Type": "application/json", "X-Trace": "t-41"},
                                     _body(f"use {TOKEN} please"), 200, b"{}",
                                     {"Content-Type": "application/json"})])
        hits = memo.MEMO.hits
        changes = list(diff([path], old, new))
    assert changes == [None]  # the same verdict and findings under both
    assert memo.MEMO.hits >= hits + 3  # the second judgement's body, URL and headers
