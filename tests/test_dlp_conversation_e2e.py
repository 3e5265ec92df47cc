"""The conversation cache end to end: an agent resends its whole conversation every turn
through the real proxy to a real origin. A secret that appears in turn 7 is blocked on turn
7 and on every later turn (the origin never receives it), the clean turns pass, the later
turns are served from the block cache (the `dlp-blocks` counts in the recorded flows), and
no artefact holds the secret."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from addons.dlp import BLOCKS_METADATA
from benchmarks.agent_corpus import conversation
from proxy.flowfile import read_flows
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin
from tests.support.proxy import EgressProcess
from tests.test_dlp_decoding_e2e import POLICY, assert_artefacts_clean, rule_of
from tests.test_dlp_e2e import SECRET

TURNS = 12
SECRET_TURN = 7


@pytest.fixture
def start(egress: EgressFactory, write_policy: PolicyWriter,
          tmp_path: Path) -> Callable[[str], EgressProcess]:
    def run(policy: str = POLICY) -> EgressProcess:
        return egress(write_policy(policy), "--record", str(tmp_path / "recorded.mitm"))
    return run


def requests_of_a_session() -> list[bytes]:
    """Turn k's request: turns 1..k; from turn 7 on, a user message holding the secret."""
    docs: list[dict[str, Any]] = [json.loads(b) for b in conversation(
        28, turns=TURNS, api="anthropic", images=False)]
    leaked = {"role": "user", "content": [{"type": "text", "text": f"use this token: {SECRET}"}]}
    at = len(docs[SECRET_TURN - 1]["messages"])
    for doc in docs[SECRET_TURN - 1:]:
        doc["messages"].insert(at, leaked)
    return [json.dumps(doc).encode() for doc in docs]


def test_a_secret_in_turn_7_is_blocked_on_every_later_turn_and_turns_come_from_the_cache(
        start: Callable[[str], EgressProcess], origin: Origin, tmp_path: Path) -> None:
    proc = start(POLICY)
    base = f"https://allowed.test:{origin.port}"
    bodies = requests_of_a_session()
    assert len(bodies[2]) > 16 * 1024  # large enough to be cut in blocks from turn 3 on
    ctx = ssl.create_default_context(cafile=proc.env["SSL_CERT_FILE"])
    outcomes = []
    with httpx.Client(proxy=proc.url, verify=ctx, timeout=60) as client:
        for turn, body in enumerate(bodies, 1):
            res = client.post(f"{base}/v1/messages/turn-{turn}", content=body,
                              headers={"content-type": "application/json"})
            outcomes.append((turn, res.status_code, rule_of(res)))
    expected = [(t, 200, None) if t < SECRET_TURN else (t, 403, "dlp/github-token")
                for t in range(1, TURNS + 1)]
    assert outcomes == expected
    # The origin got exactly the clean turns, each whole, and never the secret.
    assert origin.paths() == [f"/v1/messages/turn-{t}" for t in range(1, SECRET_TURN)]
    assert [r.body for r in origin.seen] == bodies[:SECRET_TURN - 1]
    assert all(SECRET.encode() not in r.body for r in origin.seen)
    assert_artefacts_clean(proc, tmp_path, SECRET)
    # What the cache saved, per turn, from the recorded flows (counts only).
    counts: dict[str, dict[str, int]] = {
        f.request.path.rsplit("-", 1)[1]: f.metadata.get(BLOCKS_METADATA) or {}  # type: ignore[attr-defined]
        for f in read_flows([tmp_path / "recorded.mitm"])}
    cut = [t for t in range(1, TURNS + 1) if counts.get(str(t))]
    assert cut == list(range(3, TURNS + 1))
    for t in cut[1:]:  # clean turns 4-6 and blocked turns 7-12 alike
        stats = counts[str(t)]
        assert stats["cached"] >= 1, (t, stats)
        assert stats["cached_chars"] > stats["scanned_chars"], (t, stats)
