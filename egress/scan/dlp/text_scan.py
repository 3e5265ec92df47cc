"""The DLP engine's core: finds secrets in one text (or several located texts), wherever
and however they are encoded.

Pipeline for one text (`TextScanner.scan`):
1. Unicode normalisation (`egress.scan.normalize`): invisible characters, NFKC, look-alikes.
2. One prefilter pass over the text (`egress.scan.dlp.prefilter.protocol`): hyperscan tells which
   rules can match and where the encoded runs are; the pyahocorasick fallback does the same
   from the rules' literal anchors. Only the rules it names run their Python regex; in a
   long text only in windows around the places hyperscan saw them end, which finds exactly
   what a whole-text search finds (`egress.scan.dlp.prefilter.windows`); the payment-card
   rule, in a text of any length, only in the digit chains hyperscan finds
   (`egress.scan.dlp.prefilter.digits`).
3. Each regex match passes its rule's validator (checksum, decode) and value gates
   (entropy, placeholder, identifier; `egress.scan.dlp.rules.rule`), and every known secret is
   matched exactly (`egress.scan.dlp.known_secrets`).
4. Each decodable part of the text (`egress.scan.decode`) is decoded and scanned again, up
   to `max_depth` layers and within one shared budget (a part too short for any rule, known
   secret or encoded run, with no escape left in it, is not: nothing could be found). The
   escape-decoded parts of one layer go through the prefilter together
   (`egress.scan.dlp.prefilter.batch`); each is still scanned, in order, as it would be alone,
   but for those where it could find and charge nothing (`egress.scan.dlp.prefilter.runs.idle`).
   Running out of either (budget or depth) is itself a finding, `decode-budget-exhausted`,
   blocked unless the policy says otherwise: what was not decoded was not scanned.
5. Findings get the policy's action, unless a suppression covers them.

Secrets split across parts are rebuilt by `egress.scan.dlp.splits`. Message structure
(bodies, URLs, headers, multipart, large JSON) is `egress.scan.dlp.engine`'s.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence

from egress.findings import Action, Finding
from egress.policy.model import DLPSection
from egress.scan import deadline
from egress.scan.decode import (
    MIN_RUN,
    Budget,
    DecodeConfig,
    candidates,
    escape_candidates,
    run_candidates,
)
from egress.scan.dlp import locations
from egress.scan.dlp.blocks import can_match, min_width
from egress.scan.dlp.known_secrets import known_matcher_for
from egress.scan.dlp.locations import Locator, fixed
from egress.scan.dlp.prefilter import batch, digits, windows
from egress.scan.dlp.prefilter.backends import PrefilterFactory, make_prefilter
from egress.scan.dlp.prefilter.hyperscan_backend import HyperscanPrefilter
from egress.scan.dlp.prefilter.protocol import KnownMatcher, Prefilter, Prefiltered, ascii_data
from egress.scan.dlp.prefilter.runs import has_escape, idle, idle_alone, idle_runs
from egress.scan.dlp.results import NO_CONTEXT, Hit, Match, ScanContext, merge
from egress.scan.dlp.rule_search import Near, wide_digits, within_walls
from egress.scan.dlp.rules import validators as v
from egress.scan.dlp.rules.catalogue import BUDGET_RULE, EXAMPLE_RULE, KNOWN_SECRET
from egress.scan.dlp.rules.rule import Rule
from egress.scan.dlp.rules.suppressions import suppressions_of
from egress.scan.dlp.splits import KNOWN_PREFIX, anchor_cut_in, split_windows
from egress.scan.dlp.structured import SEPARATOR as WALL
from egress.scan.normalize import for_secrets

_EXHAUSTED = {
    "budget": "decoded more characters than `dlp.decode.budget` allows",
    "depth": "still encoded after `dlp.decode.max_depth` layers",
    "split": "too many places where a split secret could be rebuilt",
}

# Characters after a token prefix rebuilt from split parts (see `egress.scan.dlp.splits`).
SPLIT_WINDOW = 1024
# Texts this long or longer run each rule's regex only around where the prefilter saw it
# (shorter ones are searched whole: cheaper than asking where).
WINDOWED_MIN = 16 * 1024


class TextScanner:
    """One compiled `dlp:` policy section over a rule set, scanning texts. Scanning is
    read-only and safe to share. Pure: `rules` come parsed and `prefilters` compiles (or
    loads) the prefilter, in memory unless the caller's factory says otherwise."""

    def __init__(self, section: DLPSection | None, rules: Sequence[Rule],
                 known_values: Sequence[tuple[str, str]] = (), backend: str | None = None,
                 prefilters: PrefilterFactory = make_prefilter) -> None:
        self.section = section or DLPSection.model_validate({})
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        d = self.section.decode
        self.decode = DecodeConfig(d.url, d.base64, d.base32, d.hex, d.json_escapes,
                                   d.quoted_printable, d.max_depth, d.budget, d.min_printable,
                                   d.html_entities, d.compressed)
        self._prefilters = prefilters
        self.prefilter: Prefilter = prefilters([r.source() for r in self.rules], backend)
        self.backend = self.prefilter.name
        self.known_values = tuple(known_values)
        self.overlap = max(r.max_length for r in self.rules) + 64
        self._actions = dict(self.section.actions)
        # `ignore` drops example keys at the scan; an explicit `actions` entry still wins.
        self._examples_ignored = (self.section.example_keys == "ignore"
                                  and EXAMPLE_RULE not in self._actions)
        self._example_action: Action = ("block" if self.section.example_keys == "block" else "audit")
        self._suppressions = suppressions_of(self.section)
        self._known_cache: tuple[int, int, KnownMatcher] | None = None
        self._floor_cache: tuple[tuple[Rule, ...], int] | None = None
        # Whether a finding can depend on the request path (then scan results of a header
        # set cannot be reused across paths).
        self.path_scoped = any(s.paths is not None for s in self._suppressions)
        self._own_known = known_matcher_for(self.known_values, backend)
        self._anchor_heads = frozenset(h for h, _ in self.prefilter.straddle if len(h) >= 2)
        self._head_max = max((len(h) for h in self._anchor_heads), default=0)

    @functools.cached_property
    def _wall_crossers(self) -> frozenset[int]:
        """The rules whose pattern can match every character of `WALL` (they may match
        across it, see `_within_walls`)."""
        return frozenset(i for i, r in enumerate(self.rules)
                         if all(can_match(r.regex, c) for c in set(WALL)))

    @property
    def enabled(self) -> bool:
        return self.section.enabled

    # -- public API ------------------------------------------------------------------------

    def scan(self, text: str, where: str, ctx: ScanContext = NO_CONTEXT) -> list[Match]:
        """Secrets in one text, in any supported encoding. `where` names the location."""
        return self._resolve(self._hits(text, ctx), text, fixed(where), ctx)

    def scan_text(self, text: str, where: str, ctx: ScanContext = NO_CONTEXT) -> list[Finding]:
        """`scan()` as findings, for scanners that only need the verdict. Pass each match's
        `sensitive` values to the audit log when calling `scan()` instead."""
        return [m.finding for m in self.scan(text, where, ctx)]

    def scan_parts(self, parts: Sequence[tuple[str, str]], ctx: ScanContext = NO_CONTEXT,
                   join: bool = True, joined_where: str | None = None) -> list[Match]:
        """Several located texts (headers, form fields, query parameters) in one pass, each on
        its own line; with `join`, runs of consecutive parts glued together too, for a
        secret split across them."""
        parts = [(w, t) for w, t in parts if t]
        if not parts:
            return []
        text, starts = locations.join(t for _, t in parts)
        where_at = locations.locator(starts, [w for w, _ in parts])
        matches = self._resolve(self._hits(text, ctx), text, where_at, ctx)
        if join:
            label = joined_where or "+".join(dict.fromkeys(w for w, _ in parts))
            matches = merge(matches, self._split(parts, ctx, label))
        return matches

    def _known_values(self, ctx: ScanContext) -> list[str]:
        known = ctx.known.values() if ctx.known is not None else ()
        return [value for _, value in (*self.known_values, *known)]

    def _may_split(self, text: str, ctx: ScanContext) -> bool:
        """Whether a secret could be split across the parts of `text` (a JSON document,
        parts delimited by quotes): a distinctive anchor (token prefix, not a generic word)
        occurs, or a part starts with the rest of a cut anchor and another ends with its
        beginning, or a known secret's first characters occur (whole or cut). The split scan
        only rebuilds tokens that an anchor starts (`egress.scan.dlp.splits`), so an anchor in a
        longer run (base64 image, hex hash) does not count. One encoding serves both passes."""
        data = text.encode("ascii", "replace") if self.prefilter.name == "hyperscan" else None
        if any(_starts_token(text, s) for s, _ in self.prefilter.token_anchor_spans(text, data)):
            return True
        if anchor_cut_in(text, self.prefilter, data=data):
            return True
        for value in self._known_values(ctx):
            if value[:KNOWN_PREFIX] in text:
                return True
            if any('"' + value[k:k + KNOWN_PREFIX] in text for k in range(1, KNOWN_PREFIX)):
                return True
        return False

    def _split(self, parts: Sequence[tuple[str, str]], ctx: ScanContext, where: str) -> list[Match]:
        """Secrets split across the parts of one message (`egress.scan.dlp.splits`): windows
        where the glued parts would hold a whole secret, scanned without decoding. Too many
        windows is reported like an exhausted decode budget."""
        found = split_windows([t for _, t in parts], self.prefilter, self._known_values(ctx),
                              SPLIT_WINDOW)
        matches = []
        if found.texts:
            hits = self._hits("\n".join(found.texts), ctx, decode=False)
            matches = self._resolve(hits, hits[1], fixed(where), ctx)
        if found.exhausted:
            matches.append(self._exhausted(where, ctx, "split"))
        return matches

    def _exhausted(self, where: str, ctx: ScanContext, why: str) -> Match:
        return self._match(Hit(BUDGET_RULE, "", 0, 0, (), False, note=why), where, (), ctx)

    def _unfinished(self, run: str, ctx: ScanContext) -> bool:
        """Whether the trailing token of a message may be the first half of a secret: it holds
        a token prefix, or ends with the beginning of one, or with a known secret's start."""
        if self.prefilter.has_split_anchor(run):
            return True
        low = run.lower()
        if any(low[-n:] in self._anchor_heads for n in range(2, min(len(low), self._head_max) + 1)):
            return True
        for value in self._known_values(ctx):
            if value[:KNOWN_PREFIX] in run:
                return True
            if any(run.endswith(value[:k]) for k in range(3, KNOWN_PREFIX)):
                return True
        return False

    # -- redaction -------------------------------------------------------------------------

    @staticmethod
    def redact(text: str, matches: Iterable[Match]) -> tuple[str, list[Match]]:
        """`text` with every match's fragment replaced by `[REDACTED:<rule>]`; also returns
        the matches whose fragment was not found in `text` (they cannot be redacted here)."""
        missing = []
        pieces = sorted(((f, m) for m in matches for f in m.fragments if f), key=lambda p: -len(p[0]))
        placed: set[int] = set()
        for fragment, m in pieces:
            if fragment in text:
                text = text.replace(fragment, f"[REDACTED:{m.rule}]")
                placed.add(id(m))
        for m in matches:
            if id(m) not in placed:
                missing.append(m)
        return text, missing

    # -- internals -------------------------------------------------------------------------

    def _known(self, ctx: ScanContext) -> list[KnownMatcher]:
        out = [self._own_known] if self._own_known is not None else []
        known = ctx.known
        if known is not None and len(known):
            cached = self._known_cache
            if cached is None or cached[0] != id(known) or cached[1] != known.version:
                matcher = known_matcher_for(known.values(), self.backend)
                cached = (id(known), known.version, matcher) if matcher else None
                self._known_cache = cached
            if cached is not None:
                out.append(cached[2])
        return out

    def _hits(self, text: str, ctx: ScanContext, decode: bool = True,
              normalised: bool = False, walls: bool = False) -> tuple[list[Hit], str]:
        """Raw hits in `text` (normalised, unless the caller did that already) and the
        normalised text itself. With `walls`, `text` is the entries of a structured body
        joined by `WALL` (which the caller made sure occurs nowhere else): no match spans
        one. Only the caller can say so: a wall in any other text is text."""
        norm = text if normalised else for_secrets(text)
        hits: list[Hit] = []
        # A long text may decode to as much text as it has: a large upload of base64 is no
        # reason to stop, and an attacker cannot push a secret past the budget by padding.
        budget = Budget(max(self.decode.budget, len(norm)) if decode else 0)
        scanned = norm
        for placeholder in ctx.benign:
            # Blank the bottle's own placeholders out (same length, so positions hold): glued
            # to a neighbouring header or field they would otherwise read as a longer token.
            if placeholder in scanned:
                scanned = scanned.replace(placeholder, " " * len(placeholder))
        self._scan_layer(scanned, 0, None, (), budget, self._known(ctx), hits,
                         self.decode.max_depth if decode else 0, walls)
        if budget.exhausted and decode:
            hits.append(Hit(BUDGET_RULE, "", 0, 0, (), False, note=budget.exhausted))
        return hits, norm

    def _scan_layer(self, text: str, depth: int, origin: tuple[int, int] | None,
                    layers: tuple[str, ...], budget: Budget, known: list[KnownMatcher],
                    hits: list[Hit], max_depth: int, walls: bool = False,
                    found: Prefiltered | None = None) -> None:
        """Hits in `text` and in what it decodes to. `found`: what the prefilter says of
        `text`, when the caller has it already (`_scan_escapes`)."""
        decoding = self.decode.any and max_depth > 0
        deadline.check()  # every step below is linear: a scan stops soon after its budget
        # A long text is read by several hyperscan passes (rules, runs, each windowed rule's
        # ends, card digit chains): its bytes are made once for all of them.
        data = (ascii_data(text) if len(text) >= WINDOWED_MIN
                and isinstance(self.prefilter, HyperscanPrefilter) else None)
        if found is None:
            found = self.prefilter.scan(text, want_runs=decoding and not budget.exhausted,
                                        data=data)
        # Walls stand between the entries of the top layer; a decoded part of it is one
        # entry's (URL, JSON and HTML escape tokens stop at a line break, base64/base32/hex
        # runs hold no NUL).
        walled = walls and WALL in text
        near = Near(text, data) if len(text) >= WINDOWED_MIN else None
        for index in found.rules:
            deadline.check()
            rule = self.rules[index]
            matches = (within_walls(rule.regex, text) if walled and index in self._wall_crossers
                       else self._finditer(index, rule, text, near))
            for m in matches:
                value = (m.group("secret") if rule.has_secret_group else None) or m.group(0)
                accepted = rule.accepts(value, m)
                if accepted is None or (accepted == "example" and self._examples_ignored):
                    continue
                start, end = origin or m.span()
                if accepted == "example":
                    hits.append(Hit(EXAMPLE_RULE, value, start, end, layers, False, note=rule.id))
                else:
                    hits.append(Hit(rule.id, value, start, end, layers, accepted == "confirmed"))
        for matcher in known:
            # One value has several forms that overlap (a base64 form and its aligned
            # core): report the longest at each place.
            taken: list[tuple[int, int]] = []
            for name, form, start, end in sorted(matcher.find(text), key=lambda f: f[2] - f[3]):
                if any(s <= start and end <= e for s, e in taken):
                    continue
                taken.append((start, end))
                s, e = origin or (start, end)
                hits.append(Hit(KNOWN_SECRET, form, s, e, layers, True, note=name))
        if not decoding or budget.exhausted:
            return
        if depth >= max_depth:
            # One layer too many: whatever still decodes here was not looked at.
            if any(True for _ in candidates(text, self.decode, Budget(budget.left), found.runs)):
                budget.exhausted = "depth"
            return
        floor = self._floor(known)
        self._scan_escapes(text, depth, origin, layers, budget, known, hits, max_depth, floor)
        if idle_runs(text, found.runs):
            return
        for d in run_candidates(text, self.decode, budget, found.runs):
            span = origin or (d.start, d.end)
            inner = d.text if d.text.isascii() else for_secrets(d.text)
            if len(inner) < floor and not has_escape(inner):
                # Too short for any rule, known secret or encoded run, and no escape to
                # decode: scanning it would find nothing (most JSON and URL escapes in
                # code decode to one character).
                continue
            # A DER key comes back wrapped as PEM for the private-key rule: its base64 is
            # the key again, not another layer.
            limit = 0 if d.layer.endswith("der") else max_depth
            self._scan_layer(inner, depth + 1, span, (*layers, d.layer), budget, known, hits, limit)

    def _scan_escapes(self, text: str, depth: int, origin: tuple[int, int] | None,
                      layers: tuple[str, ...], budget: Budget, known: list[KnownMatcher],
                      hits: list[Hit], max_depth: int, floor: int) -> None:
        """The escape-decoded parts of `text` (`egress.scan.decode.escape_candidates`), each
        charged and scanned in the order `candidates` yields them. Their text does not
        depend on the budget, so all are known before the first is scanned: the prefilter
        looks at them together (`egress.scan.dlp.prefilter.batch`; source code holds
        thousands of `x=0A`-like quoted-printable tokens per megabyte), and only those it
        may report a rule in are scanned by it one by one."""
        parts = escape_candidates(text, self.decode)
        if not parts:
            return
        inner: list[str] = []
        kept: list[int] = []
        for k, d in enumerate(parts):
            t = d.text if d.text.isascii() else for_secrets(d.text)
            inner.append(t)
            # Too short for any rule, known secret or encoded run, and no escape to decode:
            # scanning it would find nothing (most JSON and URL escapes in code decode to
            # one character).
            if len(t) >= floor or has_escape(t):
                kept.append(k)
        ahead: dict[int, Prefiltered] = {}
        pf = self.prefilter if isinstance(self.prefilter, HyperscanPrefilter) else None
        if len(kept) >= batch.MIN_TEXTS and pf is not None:
            found = batch.scan_batch(pf, [inner[k] for k in kept])
            ahead = {k: f for k, f in zip(kept, found, strict=True) if f is not None}
            pf = None  # the others have a rule reported: not idle
        keep, min_printable = set(kept), self.decode.min_printable
        for k, d in enumerate(parts):
            if not budget.take(len(d.text)) or k not in keep:
                continue
            if not known and (idle(inner[k], ahead[k], min_printable) if k in ahead
                              else pf is not None and idle_alone(inner[k], pf.rule_ids)):
                continue  # its scan would find and charge nothing
            self._scan_layer(inner[k], depth + 1, origin or (d.start, d.end), (*layers, d.layer),
                             budget, known, hits, max_depth, found=ahead.get(k))

    def _floor(self, known: list[KnownMatcher]) -> int:
        """The shortest text that a rule, a known secret or an encoded run (`MIN_RUN`) can
        be found in."""
        cached = self._floor_cache
        if cached is None or cached[0] is not self.rules:
            # From the parse trees `blocks.can_match` keeps: no second parse of every rule.
            cached = self._floor_cache = (self.rules, min(
                (min_width(r.regex) for r in self.rules), default=0))
        floor = min(cached[1], MIN_RUN)
        for matcher in known:
            table = getattr(matcher, "table", None)
            forms = getattr(table, "forms", None)
            floor = min(floor, min(map(len, forms), default=0) if forms is not None else 0)
        return floor

    def windowed_rules(self) -> list[int]:
        """The rules `_finditer` may search in windows: those whose ends database a long text
        asks the prefilter for (`bottle egress precompile` builds them ahead of time)."""
        return [i for i, r in enumerate(self.rules) if r.id not in windows.SLOW_TO_COMPILE
                and windows.reach(r.regex.pattern, r.regex.flags) is not None]

    def _finditer(self, index: int, rule: Rule, text: str,
                  near: Near | None) -> Iterator[re.Match[str]]:
        """`rule.regex.finditer(text)`; in a long text, searched only in windows around the
        places the prefilter saw the rule end (`egress.scan.dlp.prefilter.windows`, which
        says why that finds the same matches), when the rule's reach is bounded there."""
        if near is None:
            # A short text too: the card regex tries every position, the chains pass costs
            # one hyperscan call (`digits.card_finditer`, exact where every digit is ASCII).
            if digits.applies(rule.regex) and not wide_digits(text, windows.non_ascii_spans(text)):
                return digits.card_finditer(rule.regex, text)
            return rule.regex.finditer(text)
        if rule.id in windows.SLOW_TO_COMPILE:
            return rule.regex.finditer(text)
        if digits.applies(rule.regex) and not near.wide_digits(text):
            return digits.card_finditer(rule.regex, text, near.data)
        reach = windows.reach(rule.regex.pattern, rule.regex.flags)
        if reach is None or not near.runs.bounded_in(reach):
            return rule.regex.finditer(text)
        ends = self.prefilter.rule_ends(text, index, near.data)
        if ends is None:
            return rule.regex.finditer(text)
        spans = windows.windows(ends, near.non_ascii, reach, len(text))
        return windows.windowed_finditer(rule.regex, text, spans, reach)

    def _resolve(self, scanned: tuple[list[Hit], str], original: str,
                 where_at: Locator, ctx: ScanContext) -> list[Match]:
        hits, norm = scanned
        # One match per secret, with every text it was found as (all need redacting).
        first: dict[tuple[str, str], tuple[Hit, list[str]]] = {}
        for h in hits:
            if ctx.benign and _benign(h, ctx.benign):
                continue
            if h.rule == BUDGET_RULE:
                first.setdefault((h.rule, ""), (h, []))
                continue
            fragment = norm[h.start:h.end]
            if fragment not in original:
                fragment = h.value if h.value in original else fragment
            # A known secret is one finding per name, whatever forms it was found in.
            entry = first.setdefault((h.rule, h.note if h.rule == KNOWN_SECRET else h.value), (h, []))
            for text in (fragment, h.value):
                if text not in entry[1]:
                    entry[1].append(text)
        return [self._match(h, where_at(h.start, h.end), tuple(frags), ctx)
                for h, frags in first.values()]

    def _match(self, h: Hit, where: str, fragments: tuple[str, ...], ctx: ScanContext) -> Match:
        via = f" ({' > '.join(h.layers)} encoded)" if h.layers else ""
        if h.rule == KNOWN_SECRET:
            reason = f"known secret {h.note!r}{via}"
        elif h.rule == BUDGET_RULE:
            reason = (f"decoding budget exhausted ({_EXHAUSTED.get(h.note, h.note)}); "
                      "part of the message was not scanned decoded")
        elif h.rule == EXAMPLE_RULE:
            reason = f"documentation or test example in the {h.note} format{via}"
        else:
            rule = self.by_id[h.rule]
            reason = rule.description.rstrip(".") + via + (" [verified]" if h.confirmed else "")
        default: Action = (self.section.decode.on_budget_exhausted if h.rule == BUDGET_RULE
                           else self._example_action if h.rule == EXAMPLE_RULE
                           else self.section.default_action)
        action: Action = self._actions.get(h.rule, default)
        for s in self._suppressions:
            if s.covers(h.rule, where, ctx):
                action, reason = "audit", f"{reason}; suppressed by {s.label}: {s.reason}"
                break
        return Match(h.rule, where, action, reason, h.value, fragments, h.layers, h.confirmed)


def _starts_token(text: str, s: int) -> bool:
    """Whether the anchor at `s` of a raw JSON text may start a token of a decoded value: at
    the start, after a character that is not a letter or digit, or after an escape (`\\n`,
    `\\u0020`), which decodes to something else."""
    return s == 0 or not text[s - 1].isalnum() or "\\" in text[max(0, s - 6):s]


def _benign(hit: Hit, benign: frozenset[str]) -> bool:
    """A hit on one of the bottle's own placeholders, bare or as a Basic-auth password."""
    if hit.value in benign:
        return True
    if hit.rule == "basic-auth-credentials":
        password = v.basic_auth_password(hit.value)
        return password is not None and password in benign
    return False
