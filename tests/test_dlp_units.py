"""Units of parsed JSON bodies (`egress.scan.dlp.blocks.Units`): an array element (a message,
a content block, a tool definition) scanned clean is left out of the next body that resends
it, at any body size; a unit with a hit is never remembered; a new known secret or
placeholder, or a new policy (a new engine), scans every unit again; the values of a unit
left out still reach the split scan; the cache holds digests only."""

from __future__ import annotations

import json
from typing import Any

from egress.policy.model import DLPSection
from egress.redact import KnownSecrets
from egress.scan.dlp import blocks, structured
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import ScanContext
from egress.sources.dlp_catalogue import dlp_engine
from tests.test_dlp_e2e import SECRET

JSON = "application/json"
PROSE = ("The build failed because the fixture directory was missing; recreate it with the "
         "setup script, then run the unit tests again and read the first failure carefully. ")


def unit_engine(section: DLPSection | None = None) -> DLPEngine:
    """An engine that looks for units in every body (the default skips bodies under
    `blocks.UNITS_BODY_MIN`, which these small test bodies are)."""
    engine = dlp_engine(section)
    engine.units_min = 0
    return engine


def message(role: str, *texts: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": t} for t in texts]}


def body(messages: list[dict[str, Any]]) -> bytes:
    return json.dumps({"model": "claude", "max_tokens": 512, "messages": messages}).encode()


def rules(matches: list[Any]) -> set[str]:
    return {m.rule for m in matches}


def session(secret_turn: int, turns: int = 6) -> list[bytes]:
    """Request k holds turns 1..k; turn `secret_turn` holds the secret."""
    msgs: list[dict[str, Any]] = []
    out = []
    for t in range(1, turns + 1):
        text = f"turn {t}: {PROSE * 3}"
        if t == secret_turn:
            text += f" deploy with {SECRET} now"
        msgs.append(message("user" if t % 2 else "assistant", text))
        out.append(body(msgs))
    return out


def test_a_resent_small_body_leaves_its_known_units_out_and_a_secret_stays_found() -> None:
    engine = unit_engine()
    requests = session(secret_turn=3)
    assert all(len(b) < blocks.CACHE_MIN for b in requests)  # units work below the block size
    for k, data in enumerate(requests, 1):
        st = blocks.BlockStats()
        found = rules(engine.scan_body(data, JSON, stats=st))
        assert ("github-token" in found) == (k >= 3), k
        # Every earlier clean turn comes from the cache; the secret's turn never does. A turn
        # walked is one unit (its content block is too small to be looked for inside it).
        assert st.units_cached == (k - 1 if k <= 3 else k - 2), (k, st)
        assert st.units - st.units_cached == (1 if k <= 3 else 2), (k, st)
    # Digests and node counts only: 32-byte keys, no text.
    assert all(isinstance(key, bytes) and len(key) == 32 and isinstance(v, int)
               for key, v in engine.blocks._keys.items())
    assert SECRET.encode() not in b"".join(engine.blocks._keys)


def test_a_new_known_secret_or_placeholder_scans_every_unit_again() -> None:
    value = "deploy-Zq81-kX0p-77Wn-uu2R-Lm"  # no rule matches this shape: only known-secret
    data = body([message("user", f"{PROSE} the value is {value} ok"), message("assistant", PROSE * 2)])
    known = KnownSecrets()
    ctx = ScanContext(known=known)
    engine = unit_engine()
    for _ in range(2):
        st = blocks.BlockStats()
        assert engine.scan_body(data, JSON, ctx=ctx, stats=st) == []
    assert st.units_cached == st.units == 2
    known.add("deploy", value)
    st = blocks.BlockStats()
    assert "known-secret" in rules(engine.scan_body(data, JSON, ctx=ctx, stats=st))
    assert st.units_cached == 0
    # A placeholder set of its own is a salt of its own: nothing comes from the cache.
    st = blocks.BlockStats()
    engine.scan_body(data, JSON, ctx=ScanContext(benign=frozenset({"PLACEHOLDER-1"})), stats=st)
    assert st.units_cached == 0


def test_a_new_policy_starts_with_no_unit_known() -> None:
    example = "AKIAIOSFODNN7EXAMPLE"
    data = body([message("user", f"{PROSE} aws_access_key_id = {example}")])
    ignoring = unit_engine(DLPSection.model_validate({"example_keys": "ignore"}))
    for _ in range(2):
        assert ignoring.scan_body(data, JSON) == []
    blocking = unit_engine(DLPSection.model_validate({"example_keys": "block"}))
    st = blocks.BlockStats()
    found = blocking.scan_body(data, JSON, stats=st)
    assert found and {m.action for m in found} == {"block"}
    assert st.units_cached == 0


def test_the_values_of_a_unit_left_out_still_reach_the_split_scan() -> None:
    first = message("user", f"{PROSE * 2} the token starts gh")
    engine = unit_engine()
    assert engine.scan_body(body([first]), JSON) == []
    st = blocks.BlockStats()
    found = engine.scan_body(body([first, message("user", SECRET[2:] + " " + PROSE)]), JSON, stats=st)
    assert st.units_cached == 1  # `first` came from the cache
    assert "github-token" in rules(found)


def test_a_number_and_a_string_are_different_units() -> None:
    salt = b"s" * 16
    number = structured.parse('[{"n": 12345}]', "json", "b").texts
    string = structured.parse('[{"n": "12345"}]', "json", "b").texts
    assert number != string
    as_number = json.loads('[{"n": 12345}]', parse_int=structured._Literal)[0]
    assert blocks.unit_key(salt, 1, as_number) != blocks.unit_key(salt, 1, {"n": "12345"})


def test_units_left_out_still_count_against_the_node_bound(monkeypatch: Any) -> None:
    data = body([message("user", PROSE, PROSE), message("assistant", PROSE * 2)])
    engine = unit_engine()
    engine.scan_body(data, JSON)
    seen: list[int] = []
    real = structured._Walk.json

    def walk(self: Any, doc: Any, root: int, depth0: int) -> None:
        real(self, doc, root, depth0)
        seen.append(self.nodes)

    monkeypatch.setattr(structured._Walk, "json", walk)
    st = blocks.BlockStats()
    engine.scan_body(data, JSON, stats=st)
    assert st.units_cached == 2
    fresh = unit_engine()
    fresh.scan_body(data, JSON)
    assert seen[0] == seen[1]  # the same node count, walked or left out


def test_a_message_resent_with_one_more_block_takes_its_old_blocks_from_the_cache() -> None:
    # An Anthropic client merges a turn into the last message of the same role: the message
    # is new, its earlier blocks are not.
    engine = unit_engine()
    old = [f"block {i}: {PROSE * 2}" for i in range(3)]
    assert engine.scan_body(body([message("user", *old)]), JSON) == []
    st = blocks.BlockStats()
    found = engine.scan_body(body([message("user", *old, f"and {SECRET} {PROSE}")]), JSON, stats=st)
    assert "github-token" in rules(found)
    assert st.units_cached == 3, st


def test_a_small_body_is_not_cut_in_units_by_default() -> None:
    # Hashing a small fresh body's units costs more than the cache can save on it.
    engine = dlp_engine()
    small = body([message("user", PROSE * 3)])
    large = body([message("user", PROSE * 3)] * 40)
    assert len(small) < blocks.UNITS_BODY_MIN <= len(large)
    for _ in range(2):
        st = blocks.BlockStats()
        engine.scan_body(small, JSON, stats=st)
        assert st.units == 0
    for cached in (0, 40):
        st = blocks.BlockStats()
        engine.scan_body(large, JSON, stats=st)
        assert (st.units, st.units_cached) == (40, cached)


def test_a_unit_resent_written_differently_keeps_its_key() -> None:
    """The key is of the parsed value: the same message serialised again with other
    whitespace or escapes (a client re-rendering its history) still hits, and a value that
    merely equals a key or a number elsewhere does not share a key."""
    salt = b"s" * 16
    unit = {"role": "user", "content": [{"type": "text", "text": "é\n" + PROSE, "n": 7}],
            "role2": "role", "e": "", "c": "a"}

    def key(text: str) -> tuple[bytes, int]:
        return blocks.unit_key(salt, 2, structured._DECODER.decode(text)[1])

    first = key(json.dumps([{"x": "role"}, unit]))
    assert key(json.dumps([{"y": 1}, unit], indent=2, ensure_ascii=False)) == first
    assert key(json.dumps([[], unit], separators=(",", ":"))) == first
    changed = dict(unit, role2="user")
    assert key(json.dumps([{}, changed])) != first
    as_number = json.dumps([{}, unit]).replace('"n": 7', '"n": "7"')
    assert key(as_number) != first
