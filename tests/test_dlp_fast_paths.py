"""The DLP engine's faster ways of finding the same things give exactly what the plain way
gives: each fast path against a straightforward reference written here, on fuzzed text
shaped so that the corners (long stretches without a stop character, runs at the edges of
the pieces a text is looked at in) come up often."""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import re
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from egress.scan import binary, decode, escapes, plain_bytes
from egress.scan.dlp import blocks, splits
from egress.scan.dlp.prefilter import hyperscan_backend, runs, windows
from egress.scan.dlp.prefilter.backends import make_prefilter
from egress.scan.dlp.splits import in_lines, split_windows
from egress.scan.normalize import non_ascii_runs
from egress.sources.dlp_catalogue import load_catalogue
from tests.support.prereq import missing

_TRIGGERS = {"url": (decode._PCT_TRIGGER, escapes.PCT_STOPS),
             "json": (decode._JSON_TRIGGER, escapes.JSON_STOPS),
             "html": (decode._HTML_TRIGGER, escapes.HTML_STOPS),
             "qp": (decode._QP_TRIGGER, escapes.JSON_STOPS)}


def _reference_tokens(text: str, trigger: re.Pattern[str],
                      stops: tuple[str, str]) -> Iterator[tuple[int, int]]:
    """Escape tokens as first written: the largest `rfind` of every left stop character."""
    left_stops, right_stops = stops
    right = re.compile("[" + re.escape(right_stops) + "]")
    end = 0
    for m in trigger.finditer(text):
        if m.start() < end:
            continue
        start = max((text.rfind(c, end, m.start()) for c in left_stops), default=-1)
        start = start + 1 if start >= end else end
        stop = right.search(text, m.end())
        end = stop.start() if stop else len(text)
        yield start, end


# Escapes of every kind, every stop character, and filler that stops nothing.
_PIECES = st.sampled_from(["%2F", "%41", "\\u0041", "\\x41", "\\/", "&#65;", "&amp;", "=3D", "=0A",
                           " ", "\t", "\n", '"', "'", "<", ">", ",", ";", "&", "=", "?", ":",
                           "a", "Z9", "x" * 40, "y" * 200, "\u00e9"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=120), st.sampled_from(sorted(_TRIGGERS)))
def test_escape_tokens_equal_the_rfind_reference(pieces: list[str], kind: str) -> None:
    text = "".join(pieces)
    trigger, stops = _TRIGGERS[kind]
    assert list(escapes.escape_tokens(text, trigger, stops)) == list(
        _reference_tokens(text, trigger, stops))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 150),
                          st.sampled_from("\u00e9\u2014\u4e2d\U0001d400")), max_size=25))
def test_non_ascii_runs_equal_the_regex_at_piece_and_chunk_edges(
        plants: list[tuple[int, int, str]]) -> None:
    chars = ["a"] * 6000
    for at, length, c in plants:
        chars[at:at + length] = [c] * min(length, 6000 - at)
    for edge in (63, 64, 127, 2047, 2048, 2111, 4096):
        if plants and plants[0][0] % 3 == 0:
            chars[edge] = plants[0][2]
    text = "".join(chars)
    assert non_ascii_runs(text) == [m.span() for m in re.finditer(r"[^\x00-\x7f]+", text)]


def test_plain_bytes_are_neither_compressed_nor_structured() -> None:
    """`plain_bytes.plain` leaves `binary` alone on bytes with no NUL whose first byte is none
    of `STRUCTURED_FIRST`: checked for every first byte, followed by the rest of every
    compression magic and by ordinary bytes."""
    tails = [magic[1:] + b"\x01" * 30 for magic, _ in binary._MAGIC]
    tails += [b"\x8b" + b"\x01" * 40, b"\x9c" + b"A" * 40, b"\x82\x01\x22\x02" + b"\x01" * 40,
              bytes(range(1, 256))]
    for first in range(1, 256):
        for tail in tails:
            data = bytes([first]) + tail
            if not plain_bytes.plain(data):
                continue
            assert binary.compression_of(data) is None, data[:8]
            assert not binary.structured(data), data[:8]
            assert binary.der_private_key(data) is None, data[:8]
            assert binary.utf16_encoding(data) is None, data[:8]


def _reference_b64_bytes(part: str, altchars: bytes) -> bytes | None:
    part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
    try:
        return base64.b64decode(part + "=" * (-len(part) % 4), altchars=altchars)
    except (binascii.Error, ValueError):
        return None


def _reference_b64_decode(run: str, config: decode.DecodeConfig,
                          budget: decode.Budget) -> tuple[str, str] | None:
    """`decode._b64_decode` as first written (every offset through `binary`)."""
    normalised = decode._b64_normalised(run)
    if normalised is None:
        return None
    run, altchars = normalised
    offsets = [o for o in range(4) if len(run) - o >= decode.MIN_RUN - o]
    if len(run) > decode._SAMPLE:
        printable = [o for o in offsets
                     if (s := _reference_b64_bytes(run[o:o + decode._SAMPLE], altchars)) is not None
                     and decode.printable_ratio(s) >= config.min_printable]
        offsets = printable[:1] or [0]
    first: bytes | None = None
    for offset in offsets:
        raw = _reference_b64_bytes(run[offset:], altchars)
        if raw is None:
            continue
        if decode.printable_ratio(raw) >= config.min_printable and not binary.compression_of(raw):
            return raw.decode("utf-8", "replace"), ""
        if binary.structured(raw):
            found = decode.binary_text(raw, config, budget)
            if found is not None and found[1]:
                return found
        first = raw if first is None else first
    return decode.binary_text(first, config, budget) if first is not None else None


_B64_PAYLOADS = st.one_of(
    st.binary(min_size=8, max_size=80),
    st.text(min_size=8, max_size=60).map(lambda t: t.encode()),
    st.text(alphabet="abc XYZ=-_", min_size=8, max_size=80).map(
        lambda t: gzip.compress(t.encode()) if len(t) % 2 else zlib.compress(t.encode())),
    st.text(alphabet="abc", min_size=8, max_size=40).map(lambda t: t.encode("utf-16-le")),
    st.binary(min_size=8, max_size=60).map(lambda b: b"\x30\x82\x01\x22\x02\x01\x00" + b))


@settings(max_examples=400, deadline=None)
@given(_B64_PAYLOADS, st.integers(0, 3), st.booleans(), st.sampled_from(["", "Q", "ab", "x-_"]))
def test_b64_decode_equals_the_reference(payload: bytes, cut: int, urlsafe: bool,
                                         glued: str) -> None:
    encoded = (base64.urlsafe_b64encode(payload) if urlsafe else base64.b64encode(payload)).decode()
    run = glued + encoded[cut:]
    config = decode.DecodeConfig()
    assert decode._b64_decode(run, config, decode.Budget(1 << 20)) == _reference_b64_decode(
        run, config, decode.Budget(1 << 20))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-=",
               min_size=16, max_size=90))
def test_b64_decode_of_any_run_equals_the_reference(run: str) -> None:
    config = decode.DecodeConfig()
    assert decode._b64_decode(run, config, decode.Budget(1 << 20)) == _reference_b64_decode(
        run, config, decode.Budget(1 << 20))


# Every base64 stretch (`runs.B64_ANY`; the prefilter reports only those that can decode,
# `tests/test_dlp_idle_layers.py` checks that) and the other run shapes.
_SHAPES = (("base64", runs.B64_ANY), *((k, s) for k, s in runs.RUN_SHAPES if k != "base64"))


@functools.cache
def _runs_db(with_som: bool) -> object:
    hs = hyperscan_backend.hyperscan
    shapes = _SHAPES
    flags = [hs.HS_FLAG_SOM_LEFTMOST if with_som or kind != "base64" else 0 for kind, _ in shapes]
    return hyperscan_backend._database([s for _, s in shapes], list(range(len(shapes))), flags)


def _reported_runs(with_som: bool, data: bytes) -> list[tuple[int, int, int]]:
    """(shape, start, end) of every run the runs shapes report in `data`: with hyperscan's
    start of match on every shape, or as the prefilter compiles them (base64 without it,
    its start from `runs.RunStarts`)."""
    shapes = _SHAPES
    db = _runs_db(with_som)
    starts = runs.RunStarts(data)
    out: list[tuple[int, int, int]] = []

    def on(kid: int, start: int, end: int, flags: int, ctx: object) -> None:
        out.append((kid, start if with_som else starts(shapes[kid][0], start, end), end))

    hyperscan_backend.hs_scan(db, data, on)
    return sorted(out)


_RUNNY = st.lists(st.one_of(
    st.text(alphabet="AZaz09+/_-", min_size=1, max_size=40),
    st.sampled_from(["=", "==", "===", " ", "\n", '"', ".", "\u00e9", "?", "x" * 20]),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_RUNNY)
def test_base64_run_starts_equal_hyperscan_start_of_match(pieces: list[str]) -> None:
    if hyperscan_backend.hyperscan is None:
        missing("the hyperscan package", "pip install hyperscan")
    data = "".join(pieces).encode("ascii", "replace") + b"\n"
    assert _reported_runs(False, data) == _reported_runs(True, data)


def test_idle_runs_only_when_run_candidates_reads_nothing() -> None:
    """`runs.idle_runs` lets the engine skip `run_candidates`: true when every kind it reads
    is given and empty (then it yields nothing, even for a text full of runs), false when
    any is missing (it would search the text itself) or holds a run."""
    text = base64.b64encode(b"password=hunter2-hunter2-hunter2").decode() + " " + b"token".hex() * 9
    empty: dict[str, list[tuple[int, int]]] = {k: [] for k in decode.RUN_LAYERS}
    assert runs.idle_runs(text, empty)
    assert list(decode.run_candidates(text, decode.DecodeConfig(), decode.Budget(1 << 20), empty)) == []
    assert list(decode.run_candidates(text, decode.DecodeConfig(), decode.Budget(1 << 20), None))
    assert not runs.idle_runs(text, None)
    for key in decode.RUN_LAYERS:
        assert not runs.idle_runs(text, {k: v for k, v in empty.items() if k != key})
        assert not runs.idle_runs(text, {**empty, key: [(0, 20)]})


# Split anchors of the catalogue, whole, cut, glued to letters and to each other.
_PARTS = st.lists(st.one_of(
    st.sampled_from(["ghp_", "GHP_", "sk-ant-", "xoxb-", "glpat-", "AKIA", "npm_", "gh", "p_", "xox",
                     "b-", "\n", " ", "x", "\u00e9", "token", "hooks.slack.com"]),
    st.text(alphabet="abAB09_-", max_size=12)).map("".join), min_size=2, max_size=30)


@settings(max_examples=150, deadline=None)
@given(_PARTS, st.sampled_from(["hyperscan", "aho-corasick"]))
def test_anchor_spans_of_lines_from_those_of_the_glued_parts(parts: list[str], backend: str) -> None:
    """`splits.in_lines` gives what a second `anchor_spans` pass over the parts one per line
    gives (no split anchor of the catalogue holds a line break)."""
    if backend == "hyperscan" and hyperscan_backend.hyperscan is None:
        missing("the hyperscan package", "pip install hyperscan")
    prefilter = make_prefilter([r.source() for r in load_catalogue()], backend)
    assert not any("\n" in a for a in prefilter.split_list)
    texts = [t for t in parts if t]
    starts = [sum(map(len, texts[:i])) for i in range(len(texts))]
    lines = "\n" + "\n".join(texts) + "\n"
    assert in_lines(prefilter.anchor_spans("".join(texts)), starts, texts) == \
        prefilter.anchor_spans(lines)


class _StrOnly:
    """A prefilter as a backend that reads text, not bytes: the split scan then lower-cases
    the text itself (the reference for the byte path)."""

    name = "reference"

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, attr: str) -> object:
        return getattr(self._inner, attr)


# Catalogue anchors whole and cut, the characters whose lower case is odd (two characters,
# or ASCII from non-ASCII), other non-ASCII letters, quotes and line breaks.
_SPLIT_PARTS = st.lists(st.one_of(
    st.sampled_from(["ghp_", "GHP_", "sk-ant-", "xoxb-", "glpat-", "npm_", "gh", "p_", "xox", "b-",
                     "\n", " ", '"', "\u0130", "\u212a", "\u00e9", "\u03a3", "K", "token: ",
                     "hooks.slack.com", "abcdefghij", "?"]),
    st.text(alphabet="abAB09_-?\u00e9", max_size=14)).map("".join), min_size=2, max_size=24)


@settings(max_examples=200, deadline=None)
@given(_SPLIT_PARTS, st.sampled_from(["", "Zq9kLmN3", "gh\u00e9p_abcdef12"]))
@example(["key: s", "other", "\u212a-ant-api03-abcdefghij"], "")  # Kelvin sign lowers to `k`
@example(["\u0130\u0130 x: gh", "y", "p_abcdefghijklmn"], "")  # U+0130 lowers to two
def test_split_windows_from_bytes_equal_those_from_the_lower_cased_text(
        parts: list[str], known: str) -> None:
    """The split scan hands a byte-per-character backend the parts' bytes (lower-cased for
    the straddle pass and its needle searches) instead of lower-casing the text: the
    windows are exactly those of the text path, with or without the characters whose
    lower case changes length or turns ASCII (and the heads of cut anchors are found from
    the parts' trailing tokens on the byte path, `splits._PartEnds`, by a search of the
    lower-cased lines on the text path; on the byte path too for the first heads of a
    message, `splits.PART_COST`: 0 here, so that the grouping is what is compared)."""
    if hyperscan_backend.hyperscan is None:
        missing("the hyperscan package", "pip install hyperscan")
    prefilter = make_prefilter([r.source() for r in load_catalogue()], "hyperscan")
    known_values = [known] if known else []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(splits, "PART_COST", 0)
        fast = split_windows(parts, prefilter, known_values, 64)
    slow = split_windows(parts, _StrOnly(prefilter), known_values, 64)  # type: ignore[arg-type]
    assert (fast.texts, fast.exhausted) == (slow.texts, slow.exhausted)


@settings(max_examples=200, deadline=None)
@given(_SPLIT_PARTS)
def test_token_anchors_only_where_a_split_anchor_is(parts: list[str]) -> None:
    """`_may_split` asks for token-starting anchors without first asking whether any split
    anchor occurs: the first implies the second, and the encoded text handed in gives the
    spans the text gives."""
    if hyperscan_backend.hyperscan is None:
        missing("the hyperscan package", "pip install hyperscan")
    prefilter = make_prefilter([r.source() for r in load_catalogue()], "hyperscan")
    text = '"' + '","'.join(parts) + '"'
    spans = prefilter.token_anchor_spans(text)
    assert not spans or prefilter.has_split_anchor(text)
    data = text.encode("ascii", "replace")
    assert prefilter.token_anchor_spans(text, data) == spans
    assert prefilter.straddles(text, data) == prefilter.straddles(text)


def test_min_width_from_the_kept_parse_equals_a_fresh_parse() -> None:
    """`blocks.min_width` (the floor of `TextScanner._floor`) gives what parsing each rule
    afresh gives."""
    for rule in load_catalogue():
        assert blocks.min_width(rule.regex) == windows.min_width(rule.regex.pattern,
                                                                 rule.regex.flags), rule.id


# Runs as realistic code holds them (identifiers, request ids) and base64 of text, in both
# alphabets, glued at every offset.
_RUNS = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-",
            min_size=16, max_size=80),
    st.sampled_from(["IncrementalDecoder", "reqV4f21df-e944-0b0c-6c4d-cfd3720511b6",
                     "IsolatedAsyncioTestCase", "NotImplementedError"]),
    st.tuples(st.text(min_size=8, max_size=40), st.integers(0, 3), st.booleans()).map(
        lambda t: (base64.urlsafe_b64encode if t[2] else base64.b64encode)(
            t[0].encode()).decode()[t[1]:]))


@settings(max_examples=400, deadline=None)
@given(_RUNS)
def test_hopeless_runs_decode_to_nothing(run: str) -> None:
    """`plain_bytes.hopeless` (the shortcut `decode._b64_decode` takes for short ASCII runs)
    is only ever true of a run that the reference decodes to nothing."""
    config = decode.DecodeConfig()
    normalised = decode._b64_normalised(run)
    if normalised is None or not normalised[0].isascii():
        return
    core = normalised[0]
    data = core.encode().translate(bytes.maketrans(b"-_", b"+/"))
    if plain_bytes.hopeless(data, config.min_printable):
        assert _reference_b64_decode(run, config, decode.Budget(1 << 20)) is None


def test_hopeless_holds_for_the_identifiers_of_code() -> None:
    """The shortcut is taken for the runs it was made for, and not for base64 of text."""
    for run in ("IncrementalDecoder", "IsolatedAsyncioTestCase", "NotImplementedError"):
        assert plain_bytes.hopeless(run.encode(), 0.85), run
    assert not plain_bytes.hopeless(base64.b64encode(b"password=hunter2-hunter2"), 0.85)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_RUNS, st.sampled_from([" ", "\n", "=", "==", ".", "lowercaseonlyidentifier",
                                                   "UPPERCASEONLYIDENTIFIER", "1234567890123456"])),
                max_size=25))
def test_base64_run_candidates_equal_decoding_every_run(pieces: list[str]) -> None:
    """`decode.run_candidates` over base64 runs (the runs it turns down without a call, the
    runs `hopeless` turns down) yields what decoding every run with the reference gives."""
    text = "".join(pieces)
    config = decode.DecodeConfig(base32=False, hex=False)
    spans = [m.span() for m in decode.B64_RUN.finditer(text)]
    given_runs = {"b64wrap": [], "base64": spans}
    expected = [(found[0], s, e) for s, e in spans
                if (found := _reference_b64_decode(text[s:e], config, decode.Budget(1 << 20)))]
    got = [(d.text, d.start, d.end)
           for d in decode.run_candidates(text, config, decode.Budget(1 << 20), given_runs)]
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(_SPLIT_PARTS, st.sampled_from(["gh", "xox", "p_", "sk-ant", "k", "ab", "a", "b-"]))
@example(["x gh\nmore gh", "gh", "GH", "a gh", "\u00e9gh", "gh\n", "gh\nzz"], "gh")
def test_part_ends_equal_a_search_of_every_line(parts: list[str], head: str) -> None:
    """`_PartEnds.ending_with(head)`: the parts `_straddling` took from a search of the
    lower-cased lines for `head` and a line break (its own or one inside the part) whose
    trailing token is as long as `head`."""
    texts = [t for t in parts if t]
    lines = "\n" + "\n".join(texts) + "\n"
    line_starts = [sum(len(t) + 1 for t in texts[:i]) + 1 for i in range(len(texts))]
    folded = splits.Folded(lines, lines.encode("ascii", "replace"))
    ends = splits._PartEnds(folded, line_starts, texts, 64)
    if folded.data is None:  # an odd lower case: the search path stays
        assert not ends.exact(head) and not ends.applies(head)
        return
    assert ends.exact(head)
    reference = sorted({i for p in splits.find_all(lines.lower(), head + "\n")
                        if 0 <= (i := splits._part_at(line_starts, p + len(head) - 1)) < len(texts)
                        and splits.head_ok(splits.trailing_run(texts[i], 64), head)})
    assert ends.ending_with(head) == reference


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\x00", b"\x7f", b"\x1f", b"\xff", b"\t", b"\n", b"\r", b" ",
                                 b"a", b"abcdefg", b"abcdefgh", b"Z" * 40]), max_size=80))
def test_printable_runs_equal_the_regex(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert plain_bytes.printable_run_list(data) == plain_bytes.PRINTABLE_RUN.findall(data)
    assert decode.printable_runs(data) == "\n".join(
        r.decode("ascii") for r in plain_bytes.PRINTABLE_RUN.findall(data))
