"""Conversation-aware scanning of large JSON bodies (`egress.scan.dlp.blocks`): a body cut in
blocks finds what the whole body scanned at once finds, blocks seen clean are not scanned
again, a block with a finding is never remembered, and the cache keeps no content."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from benchmarks.agent_corpus import conversation
from egress.policy.model import DLPSection
from egress.redact import KnownSecrets
from egress.scan.dlp import blocks
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import Match, ScanContext
from egress.sources.dlp_catalogue import dlp_engine, load_catalogue
from tests.test_dlp_e2e import SECRET

JSON = "application/json"


def found(matches: list[Match]) -> set[tuple[str, str, str]]:
    return {(m.rule, m.value, m.action) for m in matches}


def whole_engine(section: DLPSection | None = None) -> DLPEngine:
    engine = dlp_engine(section)
    engine.block_min = 1 << 62  # never cut: the whole-body scan the cache must equal
    return engine


def turns(seed: int = 5, n: int = 8) -> list[dict[str, Any]]:
    return [json.loads(b) for b in conversation(seed, turns=n, api="anthropic", images=False)]


def with_text(doc: dict[str, Any], texts: list[str]) -> bytes:
    """`doc` with one more user message holding each of `texts` as a content block."""
    out = json.loads(json.dumps(doc))
    out["messages"].append({"role": "user", "content": [{"type": "text", "text": t} for t in texts]})
    return json.dumps(out).encode()


def test_blocks_find_what_the_whole_body_finds_for_every_catalogue_example() -> None:
    base = turns(n=6)[-1]
    examples = [ex for rule in load_catalogue() for ex in rule.examples[:1]]
    # Each example in its own block of text, among the conversation's blocks.
    body = with_text(base, [f"here is the value:\n{ex}\nthanks" for ex in examples])
    assert len(body) > blocks.CACHE_MIN
    assert len(blocks.segments(body.decode())) > 10
    cut = dlp_engine().scan_body(body, JSON)
    whole = whole_engine().scan_body(body, JSON)
    assert found(cut) == found(whole)
    assert len({m.rule for m in whole}) > 150  # the examples were found at all


def test_a_secret_across_a_cut_is_found_by_the_whole_body_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private key whose header and body are two JSON strings: the PEM rule matches across
    the `"},{"` between them, where the body is cut. (The split pass would rebuild this one
    too; it is turned off here to show what the whole-body pass alone holds.)"""
    monkeypatch.setattr(DLPEngine, "_may_split", lambda self, t, c: False)
    rng = random.Random(7)  # not DER: only the PEM frame says it is a key
    key_body = "\\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(4))
    pem_end = "\\n-----END RSA PRIVATE KEY-----"
    filler = "word " * 2000
    raw = ('{"messages": [{"role": "user", "content": [{"type": "text", "text": "' + filler
           + '-----BEGIN RSA PRIVATE KEY-----"}, {"type": "text", "text": "\\n' + key_body + pem_end
           + '"}, {"type": "text", "text": "' + filler + '"}]}]}')
    text = raw.encode()
    assert len(text) > blocks.CACHE_MIN
    spans = blocks.segments(raw)
    header_end = raw.index("-----\"}") + 6
    assert any(end == header_end for _, end in spans), "the body is cut right after the header"
    assert "private-key" in {m.rule for m in whole_engine().scan_body(text, JSON)}
    assert "private-key" in {m.rule for m in dlp_engine().scan_body(text, JSON)}
    # Without the whole-body pass the blocks (or the structured entries) alone would miss it:
    # the pass is what holds.
    monkeypatch.setattr(DLPEngine, "_raw_cross", lambda self, t, w, c, chars: [])
    assert "private-key" not in {m.rule for m in dlp_engine().scan_body(text, JSON)}


def test_a_resent_conversation_is_scanned_once_and_a_secret_stays_found() -> None:
    engine = dlp_engine()
    docs = turns(n=10)
    stats = []
    for i, doc in enumerate(docs):
        st = blocks.BlockStats()
        body = with_text(doc, [f"deploy with {SECRET} now"]) if i == 6 else json.dumps(doc).encode()
        if i > 6:  # the client resends the turn holding the secret from then on
            held = {"role": "user", "content": [{"type": "text", "text": f"deploy with {SECRET} now"}]}
            doc["messages"].insert(len(docs[6]["messages"]), held)
            body = json.dumps(doc).encode()
        matches = engine.scan_body(body, JSON, stats=st)
        stats.append(st)
        assert ("github-token" in {m.rule for m in matches}) == (i >= 6), i
    later = [s for s in stats if s.blocks][1:]  # after the first body large enough to cut
    assert later and all(s.cached >= 1 for s in later)
    # Most of every later turn came from the cache: it scanned far less than it was sent.
    assert sum(s.scanned_chars for s in later) * 2 < sum(s.cached_chars for s in later)
    # Nothing of the content is kept: 32-byte keys (salt + digest) and lengths.
    assert all(isinstance(k, bytes) and len(k) == 32 and isinstance(v, int)
               for k, v in engine.blocks._keys.items())
    assert SECRET.encode() not in b"".join(engine.blocks._keys)
    assert engine.block_stats()["hits"] > 0


def test_a_block_with_a_finding_is_never_remembered() -> None:
    engine = dlp_engine()
    doc = turns(n=6)[-1]
    body = with_text(doc, [f"token {SECRET} here"])
    for _ in range(3):
        st = blocks.BlockStats()
        assert "github-token" in {m.rule for m in engine.scan_body(body, JSON, stats=st)}
        assert st.cached == st.blocks - 1 or st.cached < st.blocks  # the secret's block rescanned


def test_a_new_known_secret_makes_every_block_be_scanned_again() -> None:
    value = "deploy-Zq81-kX0p-77Wn-uu2R-Lm"  # no rule matches this shape: only known-secret
    doc = turns(n=6)[-1]
    body = with_text(doc, [f"the value is {value} ok"])
    known = KnownSecrets()
    ctx = ScanContext(known=known)
    engine = dlp_engine()
    assert engine.scan_body(body, JSON, ctx=ctx) == []
    st = blocks.BlockStats()
    assert engine.scan_body(body, JSON, ctx=ctx, stats=st) == []
    assert st.cached == st.blocks  # all clean, all remembered
    known.add("deploy", value)
    st = blocks.BlockStats()
    assert "known-secret" in {m.rule for m in engine.scan_body(body, JSON, ctx=ctx, stats=st)}
    assert st.cached == 0


def test_redact_on_a_resent_block_still_rewrites_it() -> None:
    section = DLPSection.model_validate({"actions": {"github-token": "redact"}})
    engine = dlp_engine(section)
    doc = turns(n=6)[-1]
    body = with_text(doc, [f"token {SECRET} here"])
    for _ in range(2):
        matches = engine.scan_body(body, JSON)
        assert {m.action for m in matches if m.rule == "github-token"} == {"redact"}
        text, missing = DLPEngine.redact(body.decode(), matches)
        assert not missing and SECRET not in text and "[REDACTED:github-token]" in text


def test_a_secret_split_across_values_of_a_large_body_is_rebuilt() -> None:
    doc = turns(n=6)[-1]
    body = with_text(doc, ["gh", "some other words in between", SECRET[2:]])
    assert len(body) > blocks.CACHE_MIN
    engine = dlp_engine()
    for _ in range(2):  # the second time from the cache, the split pass still runs
        assert "github-token" in {m.rule for m in engine.scan_body(body, JSON)}


def test_the_cache_is_bounded() -> None:
    cache = blocks.CleanBlocks(max_entries=3)
    for i in range(10):
        cache.add(bytes([i]) * 32, 100)
    assert cache.stats()["entries"] == 3
    assert bytes([9]) * 32 in cache and bytes([0]) * 32 not in cache


def test_which_rules_can_cross_a_cut() -> None:
    rules = {r.id: r for r in load_catalogue()}
    assert blocks.can_match(rules["private-key"].regex, "}")
    assert not blocks.can_match(rules["github-token"].regex, ",")
    assert not any(blocks.can_match(rules["jwt"].regex, c) for c in blocks.CUT_FOLLOWERS)
