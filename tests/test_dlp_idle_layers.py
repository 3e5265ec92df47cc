"""Decoded layers the engine no longer scans, or scans in fewer steps, give exactly what the
full scan gives: a decoded escape token that `runs.idle` turns down finds and charges
nothing when scanned anyway; `runs.idle_runs` is true only where `run_candidates` yields
nothing, and `runs.b64_hopeless` only where `_b64_decode` gives nothing; `runs.outermost`
and `decode._b64_decode` equal their references; a recurring run is decoded as often as it
occurs; and a body full of `req=<uuid>` log tokens (read as quoted-printable) still gives
up the secret one of them hides."""

from __future__ import annotations

import base64
import json
import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from egress.policy.model import DLPSection
from egress.scan import decode
from egress.scan.dlp.prefilter import hyperscan_backend, runs
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter
from egress.scan.dlp.results import Hit
from egress.sources.dlp_catalogue import dlp_engine
from tests.support.prereq import missing
from tests.test_dlp_fast_paths import _reference_b64_decode

ENGINE = dlp_engine(DLPSection.model_validate({}))
SECRET = "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"  # the catalogue's own example

# What decoded `key=value` tokens of logs and code are made of: ids of one case, mixed-case
# ids, words, base64 and hex of text, line breaks, escapes, a token prefix, non-ASCII.
_PIECES = st.sampled_from([
    "req", "\x13", "\ufffd", "-", "/", " ", "\n", "=", "%", "&", "\\", "?page",
    "0c9b77-331b-660f-83e3-a35a59653d32", "Q8f3409-3617-4d71-ebfe-e75d43bb3cb0",
    "ABCDEFGHIJKLMNOPQRSTUV", "abcdefghijklmnopqrstuv", "StopAsyncIteration",
    base64.b64encode(b"password=hunter2hunter2").decode(), b"token: abc".hex() * 2,
    "ghp_", "x" * 70, "\u00e9",
])
_TEXTS = st.lists(_PIECES, min_size=1, max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_an_idle_part_finds_and_charges_nothing_when_scanned_anyway(text: str) -> None:
    if ENGINE.prefilter.name != "hyperscan":
        missing("the hyperscan package", "pip install hyperscan")
    found = ENGINE.prefilter.scan(text, want_runs=True)
    if runs.idle(text, found):
        assert runs.idle(text, found, ENGINE.decode.min_printable)  # it only adds
    if not runs.idle(text, found, ENGINE.decode.min_printable):
        return
    for max_depth in (5, 1):  # deeper layers left, and the depth limit reached
        hits: list[Hit] = []
        budget = decode.Budget(1 << 20)
        ENGINE._scan_layer(text, 1, (0, 1), ("quoted-printable",), budget, [], hits, max_depth,
                           found=found)
        assert (hits, budget.left, budget.exhausted) == ([], 1 << 20, None)


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_idle_runs_only_where_run_candidates_yields_nothing(text: str) -> None:
    if ENGINE.prefilter.name != "hyperscan":
        missing("the hyperscan package", "pip install hyperscan")
    found = ENGINE.prefilter.scan(text, want_runs=True).runs
    budget = decode.Budget(1 << 20)
    yielded = list(decode.run_candidates(text, decode.DecodeConfig(), budget, found))
    if runs.idle_runs(text, found):
        assert (yielded, budget.left) == ([], 1 << 20)
    assert not runs.idle_runs(text, None)
    assert not runs.idle_runs(text, {k: v for k, v in (found or {}).items() if k != "base64"})


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_quiet_only_where_the_runs_pass_reports_idle_runs(text: str) -> None:
    """`runs.quiet` stands in for the hyperscan runs pass of a lone decoded token: where it
    holds, the runs that pass reports are idle (and `idle_alone` is `idle` of its scan)."""
    pf = ENGINE.prefilter
    if not isinstance(pf, HyperscanPrefilter):
        missing("the hyperscan package", "pip install hyperscan")
        return
    found = pf.scan(text, want_runs=True)
    if runs.quiet(text):
        assert runs.idle_runs(text, found.runs)
    assert runs.idle_alone(text, pf.rule_ids) == (
        runs.quiet(text) and runs.idle(text, found))


def test_idle_runs_turns_down_decodable_base64_and_any_other_run() -> None:
    text = "id " + base64.b64encode(b"password=hunter2hunter2").decode()
    empty: dict[str, list[tuple[int, int]]] = {k: [] for k in decode.RUN_LAYERS}
    assert runs.idle_runs(text, {**empty, "base64": [(0, 2)]})  # shorter than MIN_RUN
    assert not runs.idle_runs(text, {**empty, "base64": [(3, len(text))]})
    assert runs.idle_runs("x" * 20, {**empty, "base64": [(0, 20)]})  # one case
    for kind in ("b64wrap", "base32", "hex", "longhex"):
        assert not runs.idle_runs(text, {**empty, kind: [(0, 20)]})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([
    "req", "Q8f3409-3617-4d71", "ebfe-e75d43bb3cb0", "StopAsyncIteration", "x", "-", "_", "/",
    "+", "=", "9", base64.b64encode(b"password=hunter2hunter2").decode(),
    base64.b64encode(b"\x1f\x8b\x08\x00binary").decode(), "A" * 3000, "\u00e9"]),
    min_size=1, max_size=8).map("".join), st.sampled_from([0.85, 0.5, 0.0, 1.0]))
def test_b64_hopeless_only_where_b64_decode_gives_none_and_charges_nothing(
        run: str, min_printable: float) -> None:
    config = decode.DecodeConfig(min_printable=min_printable)
    budget = decode.Budget(1 << 20)
    if runs.b64_hopeless(run, min_printable):
        assert decode._b64_decode(run, config, budget) is None
        assert (budget.left, budget.exhausted) == (1 << 20, None)


def test_hopeless_runs_adds_mixed_case_ids_that_decode_to_nothing() -> None:
    empty: dict[str, list[tuple[int, int]]] = {k: [] for k in decode.RUN_LAYERS}
    text = "reqVb4a5f2-fdee-2101-7208-c1eb5372b28c"  # `req=56b4a5f2-...` read as quoted-printable
    whole = {**empty, "base64": [(0, len(text))]}
    assert not runs.idle_runs(text, whole) and runs.hopeless_runs(text, whole, 0.85)
    readable = base64.b64encode(b"password=hunter2hunter2").decode()
    assert not runs.hopeless_runs(readable, {**empty, "base64": [(0, len(readable))]}, 0.85)
    assert not runs.hopeless_runs(text, None, 0.85)
    for kind in ("b64wrap", "base32", "hex", "longhex"):
        assert not runs.hopeless_runs(text, {**whole, kind: [(0, 20)]}, 0.85)


_RUNNY = st.lists(st.one_of(
    st.text(alphabet="AZaz09+/_-", min_size=1, max_size=40),
    st.sampled_from(["=", "==", "===", " ", "\n", '"', ".", "\u00e9", "?", "x" * 20,
                     "lower_snake_case_name", "UPPER_CASE_NAME_HERE", "1234567890123456",
                     "1234-5678-9012-3456", "StopAsyncIteration"]),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())), max_size=40)


@settings(max_examples=400, deadline=None)
@given(_RUNNY)
def test_base64_runs_reported_are_every_stretch_that_can_decode(pieces: list[str]) -> None:
    """The runs pass reports, of all base64 stretches (`runs.B64_ANY`, start of match from
    hyperscan), every one that `run_candidates` and `idle_runs` do not turn down at once
    (one case or digits only), with the same span, and no other span."""
    pf = ENGINE.prefilter
    if not isinstance(pf, HyperscanPrefilter):
        missing("the hyperscan package", "pip install hyperscan")
        return
    text = "".join(pieces)
    hs = hyperscan_backend.hyperscan
    every: dict[int, int] = {}

    def on(kid: int, start: int, end: int, flags: int, ctx: object) -> None:
        every[start] = max(every.get(start, -1), end - 1)

    db = hyperscan_backend._database([runs.B64_ANY], [0], [hs.HS_FLAG_SOM_LEFTMOST])
    hyperscan_backend.hs_scan(db, text.encode("ascii", "replace") + b"\n", on)
    found = pf.scan(text, want_runs=True).runs
    assert found is not None
    got = found["base64"]
    assert set(got) <= set(every.items())
    assert [(s, e) for s, e in got if decode._b64_normalised(text[s:e]) is not None] == [
        (s, e) for s, e in sorted(every.items()) if decode._b64_normalised(text[s:e]) is not None]


def _reference_outermost(spans: dict[int, int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans.items()):
        if out and start < out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
            continue
        out.append((start, end))
    return out


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.integers(0, 60), st.integers(0, 80), max_size=12))
def test_outermost_equals_the_reference(spans: dict[int, int]) -> None:
    assert runs.outermost(spans) == _reference_outermost(spans)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCabc0189+/_-=\u00e9.", min_size=16, max_size=60),
       st.integers(0, 3), st.booleans())
def test_b64_decode_of_odd_and_long_runs_equals_the_reference(run: str, lead: int,
                                                              long: bool) -> None:
    """Runs no run finder makes (a character that is not ASCII near the start, `.`) and runs
    longer than the sample a long run is judged on."""
    if long:
        run = run + base64.b64encode(b"some printable text " * 200).decode()
    run = run[lead:] if len(run) - lead >= 16 else run
    config = decode.DecodeConfig()
    assert decode._b64_decode(run, config, decode.Budget(1 << 20)) == _reference_b64_decode(
        run, config, decode.Budget(1 << 20))


def test_a_secret_among_many_log_tokens_read_as_quoted_printable_is_found() -> None:
    """Hundreds of `req=<uuid>` tokens (their decoded forms idle or not, prefiltered
    together) and one token whose quoted-printable form hides a token: found, in that
    layer, and the same body without it is clean."""
    rng = random.Random(5)
    # Sparse, as in real logs: a text dense with escapes is decoded whole instead.
    lines = [f"[INFO] worker handled the listing, req={uuid.UUID(int=rng.getrandbits(128))} "
             f"took {i} ms" for i in range(400)]
    hidden = "".join(f"={b:02X}" for b in SECRET.encode())
    body = {"messages": [{"role": "user", "content": "\n".join(lines)}]}
    assert ENGINE.scan_body(json.dumps(body).encode(), "application/json") == []
    parts = [d.text for d in decode.escape_candidates("\n".join(lines), ENGINE.decode)
             if d.layer == "quoted-printable" and len(d.text) >= decode.MIN_RUN]
    idle = [runs.idle(t, ENGINE.prefilter.scan(t, want_runs=True)) for t in parts]
    assert idle.count(True) >= 50 and idle.count(False) >= 10  # both kinds are exercised
    # Mixed-case ids (`reqQ8f3...`) decode to nothing readable: idle as well, told so.
    hopeless = [runs.idle(t, ENGINE.prefilter.scan(t, want_runs=True), 0.85) for t in parts]
    assert hopeless.count(True) > idle.count(True)
    lines.insert(200, f"[DEBUG] req={uuid.UUID(int=5)} auth {hidden}")
    body["messages"][0]["content"] = "\n".join(lines)
    found = ENGINE.scan_body(json.dumps(body).encode(), "application/json")
    assert [(m.rule, m.value, m.layers) for m in found] == [
        ("github-token", SECRET, ("quoted-printable",))]


def test_recurring_runs_are_decoded_as_often_as_they_occur() -> None:
    """`run_candidates` remembers the runs `hopeless` turned down in one text: an identifier
    that recurs is skipped, a recurring run that decodes is yielded at each place."""
    readable = base64.b64encode(b"password=hunter2hunter2").decode()
    text = " ".join(["IncrementalEncoder", readable, "IncrementalEncoder", "x", readable,
                     "NotImplementedError", "IncrementalEncoder"])
    spans = [m.span() for m in decode.B64_RUN.finditer(text)]
    got = [(d.text, d.start) for d in decode.run_candidates(
        text, decode.DecodeConfig(), decode.Budget(1 << 20), {"b64wrap": [], "base64": spans})]
    assert got == [("password=hunter2hunter2", text.index(readable)),
                   ("password=hunter2hunter2", text.rindex(readable))]
