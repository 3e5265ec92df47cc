"""The DLP engine: finds secrets in text, wherever and however they are encoded.

Pipeline for one text (`DLPEngine.scan`):
1. Unicode normalisation (`egress.scan.normalize`): invisible characters, NFKC, look-alikes.
2. One prefilter pass over the text (`egress.scan.matcher`): hyperscan tells which rules can
   match and where the encoded runs are; the pyahocorasick fallback does the same from the
   rules' literal anchors. Only the rules it names run their Python regex.
3. Each regex match passes its rule's validator (checksum, decode) and value gates
   (entropy, placeholder, identifier), and every known secret is matched exactly.
4. Each decodable part of the text (`egress.scan.decode`) is decoded and scanned again, up
   to `max_depth` layers and within one shared budget. Running out of either (budget or
   depth) is itself a finding, `decode-budget-exhausted`, blocked unless the policy says
   otherwise: what was not decoded was not scanned.
5. Findings get the policy's action, unless a suppression covers them.

The structure of a request (headers, query, JSON, forms, multipart, binary, character set)
is taken apart by `scan_parts` and `scan_body` (`egress.scan.bodies`, `egress.scan.charset`);
a body that does not parse cleanly is scanned raw as well. Secrets split across parts are
rebuilt by `egress.scan.splits`; streams and WebSocket messages go through `StreamScanner`.
Nothing here imports mitmproxy: the adapter is `addons/dlp.py`.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import json
import re
import urllib.parse
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML

from egress import derived_cache
from egress.findings import Action, Finding
from egress.hostmatch import HostSet, normalize_host, normalize_path, path_has_prefix
from egress.policy.model import DLPSection
from egress.redact import MIN_SECRET_LEN, KnownSecrets, preview, secret_forms
from egress.scan import blocks, bodies, charset, literals
from egress.scan import validators as v
from egress.scan.decode import Budget, DecodeConfig, binary_text, candidates, printable_runs, qp_dense
from egress.scan.matcher import KnownMatcher, Prefilter, RuleSource, make_known_matcher, make_prefilter
from egress.scan.normalize import for_secrets
from egress.scan.splits import KNOWN_PREFIX, anchor_cut_in, split_windows, trailing_run

CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "dlp_rules.yaml"

KNOWN_SECRET = "known-secret"
BUDGET_RULE = "decode-budget-exhausted"
EXAMPLE_RULE = "example-key"
EXTRA_RULES = {
    KNOWN_SECRET: "A value the proxy knows is secret (policy `dlp.known_secrets`, injected "
    "credentials) in raw, base64, base32, hex or URL-encoded form.",
    BUDGET_RULE: "A scan ran out of its decoding budget: `dlp.decode.budget` decoded "
    "characters (or as many as the text is long, if more), `dlp.decode.max_depth` nested "
    "layers, or the size cap on windows rebuilt for split secrets. Part of the message was "
    "scanned only in its encoded form; blocked unless `dlp.decode.on_budget_exhausted` is "
    "`audit` or a `dlp.suppress` entry covers the host.",
    EXAMPLE_RULE: "A value in a provider's key format that is a documentation or test example "
    "(AWS's AKIAIOSFODNN7EXAMPLE, an EXAMPLE/SAMPLE/DUMMY/FAKE marker, counting runs such as "
    "`abc123...`): reported so a reviewer sees it, with the action of `dlp.example_keys` "
    "(default `audit`; `ignore` drops it).",
}
_EXHAUSTED = {
    "budget": "decoded more characters than `dlp.decode.budget` allows",
    "depth": "still encoded after `dlp.decode.max_depth` layers",
    "split": "too many places where a split secret could be rebuilt",
}

DEFAULT_MAX_LENGTH = 512
# Characters after a token prefix rebuilt from split parts (see `egress.scan.splits`).
SPLIT_WINDOW = 1024
# Fragments of unfinished tokens kept per WebSocket direction, to join with later messages.
PENDING_FRAGMENTS = 16
_KEY_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NOT_SECRET_NAMES = frozenset((
    "page", "cursor", "csrf", "xsrf", "nonce", "continuation", "next", "prev", "previous", "max",
    "min", "num", "count", "limit", "length", "size", "type", "name", "id", "ids", "url", "uri",
    "path", "file", "endpoint", "expires", "expiry", "expiration", "ttl", "format", "mode",
    "enabled", "header", "field", "param", "label", "hint", "policy", "usage", "budget",
    "authenticity", "lifetime", "kind", "version", "hash", "algorithm", "alg", "scope", "scopes",
    "env", "var", "public",
))


Accepted = Literal["found", "confirmed", "example"] | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    severity: str
    anchors: tuple[str, ...]
    regex: re.Pattern[str]
    validator: str | None = None
    prefilter: str | None = None
    entropy: float = 0.0
    checks: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH
    notes: str | None = None
    examples: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()
    split_anchors: tuple[str, ...] | None = None

    @property
    def has_secret_group(self) -> bool:
        return "secret" in self.regex.groupindex

    def source(self) -> RuleSource:
        # Generic and keyword rules' anchors are words (`token`, `datadog`) that say nothing
        # about a split; a rule may name its split anchors itself (none, when its prefix is
        # a common string such as `pat`).
        if self.split_anchors is not None:
            split = self.split_anchors
        elif self.generic or "key" in self.regex.groupindex:
            split = ()
        else:
            split = tuple(a for a in self.anchors if len(a) >= 3)
        return RuleSource(self.regex.pattern, self.anchors, self.prefilter, split_anchors=split)

    @property
    def generic(self) -> bool:
        """A rule that finds values by their name rather than their own format."""
        return "generic_value" in self.checks or "password_value" in self.checks

    def accepts(self, value: str, match: re.Match[str]) -> Accepted:
        """None (not a secret), `found`, `confirmed` (a validator confirmed the structure) or
        `example` (a documentation or test example in this rule's format)."""
        confirmed = False
        if self.validator is not None:
            verdict = v.VALIDATORS[self.validator](value)
            if verdict is False:
                return None
            confirmed = verdict is True
        if self.validator != "pem_private_key":
            if v.is_template(value):
                return None
            if v.is_example(value):
                if self.generic:
                    return None
                if v.is_documentation_key(value) or not self._still_a_key(v.example_residue(value)):
                    return "example"
        if not confirmed and self.entropy and v.shannon_entropy(_body(value)) < self.entropy:
            return None
        for check in self.checks:
            if not _CHECKS[check](value, match, self):
                return None
        return "confirmed" if confirmed else "found"

    def _still_a_key(self, residue: str) -> bool:
        """Whether what is left of an example-looking value without its markers is still a
        key of this rule: a real key with `EXAMPLE` glued to it is not an example."""
        m = self.regex.search(residue)
        if m is None:
            return False
        value = (m.group("secret") if self.has_secret_group else None) or m.group(0)
        return not (self.entropy and v.shannon_entropy(_body(value)) < self.entropy)


def _body(value: str) -> str:
    """A token without its fixed prefix (`ghp_`, `sk-ant-api03-`): what entropy is about."""
    m = re.match(r"^[A-Za-z0-9]{1,12}(?:[_.-][A-Za-z0-9]{1,8}){0,2}[_.-]", value)
    return value[m.end():] if m and len(value) - m.end() >= 8 else value


def _generic_value(value: str, match: re.Match[str], rule: Rule) -> bool:
    """A value found by its name is a secret when it is a literal (not an expression, call,
    attribute access, interpolation or type name), not a stand-in of documentation, and as
    random as a random string of its length and alphabet (`egress.scan.literals`)."""
    if not literals.is_secret_literal(value):
        return False
    start, end = match.span("secret") if rule.has_secret_group else match.span()
    text = match.string
    quoted = literals.quoted_whole(text, start, end)
    if quoted is None:
        return not literals.is_code_expression(text, start, end)
    close = literals.literal_end(text, start, end)
    return quoted and not (close is not None and literals.looks_like_code(text[start:close]))


def _password_value(value: str, match: re.Match[str], rule: Rule) -> bool:
    if len(value) < 6 or value.lower() in v.COMMON_PASSWORDS:
        return False
    if value.startswith(("$", "%", "{{", "<", "*", *literals.DIGEST_PREFIXES)) or "${" in value:
        return False
    if literals.looks_like_code(value) or literals.is_reference(value):
        return False
    user = match.groupdict().get("user")
    return value != user and v.shannon_entropy(value) >= 2.0


_NOT_SECRET_INFIXES = ("csrf", "xsrf", "nonce", "cursor", "pagination", "authenticity", "tokens")


def _secret_key_name(value: str, match: re.Match[str], rule: Rule) -> bool:
    key = match.groupdict().get("key") or ""
    parts = {p.lower() for p in _KEY_PARTS.findall(key)}
    return not parts & _NOT_SECRET_NAMES and not any(x in key.lower() for x in _NOT_SECRET_INFIXES)


def _letter_digit(value: str, match: re.Match[str], rule: Rule) -> bool:
    return v.has_letter_and_digit(_body(value))


def _not_identifier(value: str, match: re.Match[str], rule: Rule) -> bool:
    return not v.is_identifier(_body(value))


_CHECKS = {
    "generic_value": _generic_value,
    "password_value": _password_value,
    "secret_key_name": _secret_key_name,
    "letter_digit": _letter_digit,
    "not_identifier": _not_identifier,
}


class CatalogueError(Exception):
    pass


_RULE_ID_LINE = re.compile(r"^\s*-\s+id:\s*['\"]?([\w.-]+)", re.M)


def _same_rules(doc: Any, text: str) -> bool:
    """A cached document lists exactly the rule ids the text does (so even an entry that
    passed its checksum cannot drop a rule); anything else means parsing the text."""
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        return False
    ids = [r.get("id") if isinstance(r, dict) else None for r in doc["rules"]]
    return ids == _RULE_ID_LINE.findall(text)


def _catalogue_doc(text: str) -> Any:
    """The YAML document, from the derived cache when this exact text was parsed before
    (pure-Python YAML takes ~0.07 s for the catalogue, on every start of the proxy and the
    launcher). The cached JSON goes through the same checks below as a fresh parse."""
    key = derived_cache.key_of("dlp-catalogue", 1, text)
    payload = derived_cache.load(key)
    if payload is not None:
        with contextlib.suppress(ValueError):
            doc = json.loads(payload)
            if _same_rules(doc, text):
                return doc
    doc = YAML(typ="safe").load(text)
    with contextlib.suppress(TypeError, ValueError):  # a value JSON cannot hold: no entry
        derived_cache.store(key, json.dumps(doc).encode())
    return doc


def parse_catalogue(text: str, source: str = "<catalogue>") -> tuple[Rule, ...]:
    doc = _catalogue_doc(text)
    if not isinstance(doc, dict):
        raise CatalogueError(f"{source}: expected a mapping with `rules:`")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(doc.get("rules", [])):
        rid = item.get("id")
        where = f"{source}: rules[{i}] ({rid})"
        if not rid or rid in seen or rid in EXTRA_RULES:
            raise CatalogueError(f"{where}: missing or duplicate id")
        seen.add(rid)
        try:
            regex = re.compile(item["regex"])
        except (KeyError, re.error) as e:
            raise CatalogueError(f"{where}: bad regex: {e}") from None
        validator = item.get("validator")
        if validator is not None and validator not in v.VALIDATORS:
            raise CatalogueError(f"{where}: unknown validator {validator!r}")
        checks = tuple(item.get("checks") or ())
        unknown = [c for c in checks if c not in _CHECKS]
        if unknown:
            raise CatalogueError(f"{where}: unknown checks {unknown}")
        examples = tuple(item.get("examples") or ())
        near = tuple(item.get("near_misses") or ())
        if not examples or not near:
            raise CatalogueError(f"{where}: needs at least one example and one near miss")
        rules.append(Rule(
            id=rid, description=item["description"], severity=item.get("severity", "high"),
            anchors=tuple(a.lower() for a in item.get("anchors") or ()), regex=regex,
            validator=validator, prefilter=item.get("prefilter"),
            entropy=float(item.get("entropy", 0.0)), checks=checks,
            max_length=int(item.get("max_length", DEFAULT_MAX_LENGTH)), notes=item.get("notes"),
            examples=examples, near_misses=near,
            split_anchors=(tuple(a.lower() for a in item["split_anchors"])
                           if item.get("split_anchors") is not None else None)))
    return tuple(rules)


@cache
def load_catalogue(path: Path = CATALOGUE) -> tuple[Rule, ...]:
    return parse_catalogue(path.read_text(encoding="utf-8"), str(path))


def rule_reference() -> dict[str, str]:
    """Every DLP rule id with its description: the stable ids docs and policies name."""
    return {**{r.id: r.description for r in load_catalogue()}, **EXTRA_RULES}


# -- results -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Match:
    """One secret found. `value` is the secret and `fragments` the texts it was found as (the
    encoded form when a decoding layer found it): all sensitive, never log them."""

    rule: str
    where: str
    action: Action
    reason: str
    value: str
    fragments: tuple[str, ...]
    layers: tuple[str, ...] = ()
    confirmed: bool = False

    @property
    def finding(self) -> Finding:
        return Finding("dlp", self.rule, self.action, self.where, self.reason,
                       evidence=preview(self.value))

    @property
    def sensitive(self) -> tuple[str, ...]:
        return (self.value, *self.fragments)


@dataclass(frozen=True, slots=True)
class ScanContext:
    """Where a request is going (suppressions are scoped by it) and which values are known
    secrets at this moment."""

    host: str | None = None
    path: str | None = None
    known: KnownSecrets | None = None
    # Values that look like secrets but are not: the bottle's own credential placeholders
    # (credential injection polices where those may go).
    benign: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Hit:
    rule: str
    value: str
    start: int
    end: int
    layers: tuple[str, ...]
    confirmed: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class _Suppression:
    rules: frozenset[str]
    hosts: HostSet | None
    paths: tuple[str, ...] | None
    locations: tuple[str, ...] | None
    reason: str
    label: str

    def covers(self, rule: str, where: str, ctx: ScanContext) -> bool:
        if "*" not in self.rules and rule not in self.rules:
            return False
        if self.hosts is not None and (ctx.host is None or normalize_host(ctx.host) not in self.hosts):
            return False
        if self.paths is not None:
            if ctx.path is None:
                return False
            path = normalize_path(ctx.path)
            if not any(path_has_prefix(path, p) for p in self.paths):
                return False
        return self.locations is None or where.lower().startswith(self.locations)


# -- the engine ----------------------------------------------------------------------------

class DLPEngine:
    """One compiled `dlp:` policy section over the rule catalogue. Built once per policy load
    (`CompiledPolicy.dlp`); scanning is read-only and safe to share."""

    def __init__(self, section: DLPSection | None = None, rules: Sequence[Rule] | None = None,
                 known_values: Sequence[tuple[str, str]] = (), backend: str | None = None) -> None:
        self.section = section or DLPSection.model_validate({})
        self.rules = tuple(rules if rules is not None else load_catalogue())
        self.by_id = {r.id: r for r in self.rules}
        d = self.section.decode
        self.decode = DecodeConfig(d.url, d.base64, d.base32, d.hex, d.json_escapes,
                                   d.quoted_printable, d.max_depth, d.budget, d.min_printable,
                                   d.html_entities, d.compressed)
        self.prefilter: Prefilter = make_prefilter([r.source() for r in self.rules], backend)
        self.backend = self.prefilter.name
        self.known_values = tuple(known_values)
        self.overlap = max(r.max_length for r in self.rules) + 64
        self._actions = dict(self.section.actions)
        # `ignore` drops example keys at the scan; an explicit `actions` entry still wins.
        self._examples_ignored = (self.section.example_keys == "ignore"
                                  and EXAMPLE_RULE not in self._actions)
        self._example_action: Action = ("block" if self.section.example_keys == "block" else "audit")
        self._suppressions = tuple(
            _Suppression(
                rules=frozenset(s.rules),
                hosts=HostSet(s.hosts) if s.hosts is not None else None,
                paths=tuple(s.paths) if s.paths is not None else None,
                locations=tuple(x.lower() for x in s.locations) if s.locations is not None else None,
                reason=s.reason, label=f"dlp.suppress[{i}]")
            for i, s in enumerate(self.section.suppress))
        self._known_cache: tuple[int, int, KnownMatcher] | None = None
        # Whether a finding can depend on the request path (then scan results of a header
        # set cannot be reused across paths).
        self.path_scoped = any(s.paths is not None for s in self._suppressions)
        self._own_known = _known_matcher_for(self.known_values, backend)
        self._anchor_heads = frozenset(h for h, _ in self.prefilter.straddle if len(h) >= 2)
        self._head_max = max((len(h) for h in self._anchor_heads), default=0)
        # Conversation-aware scanning of large JSON bodies (`egress.scan.blocks`).
        self.blocks = blocks.CleanBlocks()
        self.block_min = blocks.CACHE_MIN  # JSON texts this long or longer are cut in blocks
        self._cross: DLPEngine | None = None
        self._salt: tuple[int, int, frozenset[str], bytes] | None = None

    @property
    def enabled(self) -> bool:
        return self.section.enabled

    # -- public API ------------------------------------------------------------------------

    def scan(self, text: str, where: str, ctx: ScanContext = ScanContext()) -> list[Match]:
        """Secrets in one text, in any supported encoding. `where` names the location."""
        return self._resolve(self._hits(text, ctx), text, lambda _s, _e: where, ctx)

    def scan_text(self, text: str, where: str, ctx: ScanContext = ScanContext()) -> list[Finding]:
        """`scan()` as findings, for scanners that only need the verdict. Pass each match's
        `sensitive` values to the audit log when calling `scan()` instead."""
        return [m.finding for m in self.scan(text, where, ctx)]

    def scan_parts(self, parts: Sequence[tuple[str, str]], ctx: ScanContext = ScanContext(),
                   join: bool = True, joined_where: str | None = None) -> list[Match]:
        """Several located texts (headers, form fields, query parameters) in one pass, each on
        its own line; with `join`, runs of consecutive parts glued together too, for a
        secret split across them."""
        parts = [(w, t) for w, t in parts if t]
        if not parts:
            return []
        text, starts = _join(t for _, t in parts)
        matches = self._resolve(self._hits(text, ctx), text, _locator(starts, [w for w, _ in parts]), ctx)
        if join:
            label = joined_where or "+".join(dict.fromkeys(w for w, _ in parts))
            matches = _merge(matches, self._split(parts, ctx, label))
        return matches

    def _known_values(self, ctx: ScanContext) -> list[str]:
        known = ctx.known.values() if ctx.known is not None else ()
        return [value for _, value in (*self.known_values, *known)]

    def _may_split(self, text: str, ctx: ScanContext) -> bool:
        """Whether a secret could be split across the parts of `text` (a JSON document,
        parts delimited by quotes): a distinctive anchor (token prefix, not a generic word)
        occurs, or a part starts with the rest of a cut anchor and another ends with its
        beginning, or a known secret's first characters occur (whole or cut). The split scan
        only rebuilds tokens that an anchor starts (`egress.scan.splits`), so an anchor inside
        a longer run (a base64 image, a hex hash) does not count."""
        if self.prefilter.has_split_anchor(text) and any(
                _starts_token(text, s) for s, _ in self.prefilter.anchor_spans(text)):
            return True
        if anchor_cut_in(text, self.prefilter):
            return True
        for value in self._known_values(ctx):
            if value[:KNOWN_PREFIX] in text:
                return True
            if any('"' + value[k:k + KNOWN_PREFIX] in text for k in range(1, KNOWN_PREFIX)):
                return True
        return False

    def _split(self, parts: Sequence[tuple[str, str]], ctx: ScanContext, where: str) -> list[Match]:
        """Secrets split across the parts of one message (`egress.scan.splits`): windows
        where the glued parts would hold a whole secret, scanned without decoding. Too many
        windows is reported like an exhausted decode budget."""
        found = split_windows([t for _, t in parts], self.prefilter, self._known_values(ctx),
                              SPLIT_WINDOW)
        matches = []
        if found.texts:
            hits = self._hits("\n".join(found.texts), ctx, decode=False)
            matches = self._resolve(hits, hits[1], lambda _s, _e: where, ctx)
        if found.exhausted:
            matches.append(self._exhausted(where, ctx, "split"))
        return matches

    def _exhausted(self, where: str, ctx: ScanContext, why: str) -> Match:
        return self._match(_Hit(BUDGET_RULE, "", 0, 0, (), False, note=why), where, (), ctx)

    def scan_body(self, body: bytes, content_type: str | None, where: str = "request.body",
                  ctx: ScanContext = ScanContext(), _depth: int = 0,
                  stats: blocks.BlockStats | None = None) -> list[Match]:
        """A message body, taken apart by media type: JSON, form, multipart, text (in every
        character set it may be read in), binary. `stats` receives what the block cache
        saved (large JSON bodies)."""
        if not body:
            return []
        if len(body) > self.section.max_scan_bytes:
            return self._scan_large(body, where, ctx)
        media = bodies.media_type(content_type)
        if media.type.startswith("multipart/") and _depth < 3:
            return self._scan_multipart(body, media, where, ctx, _depth)
        texts = charset.body_texts(body, media.param("charset"))
        if not texts:
            found = binary_text(body, self.decode, Budget(self.decode.budget))
            return self.scan(found[0] if found else printable_runs(body), f"{where}(binary)", ctx)
        matches: list[Match] = []
        for encoding, text in texts:
            found_in = self._scan_text_body(text, media.type, where, ctx, stats)
            matches = _merge(matches, _in_encoding(found_in, encoding))
        return matches

    def _scan_text_body(self, text: str, media: str, where: str, ctx: ScanContext,
                        stats: blocks.BlockStats | None = None) -> list[Match]:
        if media == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
            found = self.scan_parts([(f"{where}.form[{k}]", f"{k}={val}") for k, val in pairs], ctx,
                                    join=False) or self.scan(text, where, ctx)
            fields = [(f"{where}.form[{k}]", val) for k, val in pairs]
            return _merge(found, self._split(fields, ctx, f"{where}.form(joined)"))
        json_like = media.endswith("json") or text.lstrip()[:1] in ("{", "[")
        in_blocks = self._scan_blocks(text, where, ctx, stats) if json_like else None
        matches = in_blocks if in_blocks is not None else self.scan(text, where, ctx)
        if json_like and self._may_split(text, ctx):
            strings = bodies.json_values(text)
            if strings:
                split = self._split([(where, s) for s in strings], ctx, f"{where}.json(values joined)")
                matches = _merge(matches, split)
        return matches

    def _scan_blocks(self, text: str, where: str, ctx: ScanContext,
                     stats: blocks.BlockStats | None) -> list[Match] | None:
        """A large JSON text block by block, skipping blocks known to be clean, plus the
        rules that can match across a cut over the whole text (`egress.scan.blocks`).
        None when the text is not cut (small, quoted-printable dense, no cut point)."""
        if len(text) < self.block_min or qp_dense(text):
            return None
        spans = blocks.segments(text)
        if len(spans) < 2:
            return None
        stats = stats if stats is not None else blocks.BlockStats()
        salt = self._block_salt(ctx)
        matches: list[Match] = []
        for start, end in spans:
            block = text[start:end]
            key = salt + blocks.digest(block)
            stats.blocks += 1
            if key in self.blocks:
                stats.cached += 1
                stats.cached_chars += len(block)
                continue
            stats.scanned_chars += len(block)
            found = self.scan(block, where, ctx)
            if found:
                matches = _merge(matches, found)
            else:
                self.blocks.add(key, len(block))
        return _merge(matches, self._across_cuts(text, where, ctx))

    def _across_cuts(self, text: str, where: str, ctx: ScanContext) -> list[Match]:
        """What can cross a cut: the rules that can match a character that follows one, and
        known secrets, over the whole text, without decoding."""
        if self._cross is None:
            self._cross = self._restricted(tuple(
                r for r in self.rules if any(blocks.can_match(r.regex, c) for c in blocks.CUT_FOLLOWERS)))
        cross = self._cross
        hits = cross._hits(text, ctx, decode=False)
        return cross._resolve(hits, text, lambda _s, _e: where, ctx)

    def _restricted(self, rules: tuple[Rule, ...]) -> DLPEngine:
        """This engine (actions, suppressions, known secrets) with only `rules`; their
        prefilter is compiled once per process."""
        clone = copy.copy(self)
        clone.rules = rules
        clone.by_id = {r.id: r for r in rules}
        clone.prefilter = _prefilter_for(rules, self.backend)
        clone._known_cache = None
        clone._cross = None
        return clone

    def _block_salt(self, ctx: ScanContext) -> bytes:
        known = ctx.known
        ident = (id(known), known.version if known is not None else 0, ctx.benign)
        cached = self._salt
        if cached is not None and cached[:3] == ident:
            return cached[3]
        values = [v for _, v in known.values()] if known is not None else []
        salt = blocks.salt(values, ctx.benign)
        self._salt = (*ident, salt)
        return salt

    def block_stats(self) -> dict[str, int]:
        """The block cache's counters (entries, hits, misses, ...): no content."""
        return self.blocks.stats()

    def _scan_large(self, body: bytes, where: str, ctx: ScanContext) -> list[Match]:
        """A body too large to take apart: scanned as a stream, piece by piece."""
        scanner = self.stream(f"{where}(large)", ctx)
        step = max(self.section.max_scan_bytes // 4, 64 * 1024)
        return [m for i in range(0, len(body), step) for m in scanner.feed(body[i:i + step])]

    def scan_url(self, path: str, ctx: ScanContext = ScanContext(),
                 where: str = "request.url") -> list[Match]:
        """A request target: each path segment and each query key and value."""
        raw_path, _, query = path.partition("?")
        segments = [(f"{where}.path", urllib.parse.unquote(s)) for s in raw_path.split("/") if s]
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        parts = segments + [(f"{where}.query[{k}]", f"{k}={val}") for k, val in pairs]
        matches = self.scan_parts(parts, ctx, join=False)
        values = segments + [(f"{where}.query[{k}]", val) for k, val in pairs]
        matches = _merge(matches, self._split(values, ctx, f"{where}(joined)"))
        # The raw target too: encodings parse_qsl undid once may be nested, and a secret
        # with a '/' in it (AWS secret keys, base64) spans path segments.
        return _merge(matches, self.scan(path, where, ctx))

    def scan_headers(self, headers: Iterable[tuple[str, str]], ctx: ScanContext = ScanContext(),
                     where: str = "request.header") -> list[Match]:
        """Each header as `name: value`, and consecutive values glued (a split secret)."""
        fields = list(headers)
        parts = [(f"{where}[{name.lower()}]", f"{name}: {value}") for name, value in fields]
        matches = self.scan_parts(parts, ctx, join=False)
        values = [(f"{where}[{name.lower()}]", value) for name, value in fields]
        return _merge(matches, self._split(values, ctx, f"{where}(joined)"))

    def stream(self, where: str, ctx: ScanContext = ScanContext(),
               window: int | None = None, messages: bool = False) -> StreamScanner:
        """A scanner for data arriving in pieces; `messages` for WebSocket messages (an
        unfinished token in one is joined with later ones, see `StreamScanner`)."""
        return StreamScanner(self, where, ctx, window or self.overlap, fragments=messages)

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
                matcher = _known_matcher_for(known.values(), self.backend)
                cached = (id(known), known.version, matcher) if matcher else None
                self._known_cache = cached
            if cached is not None:
                out.append(cached[2])
        return out

    def _hits(self, text: str, ctx: ScanContext, decode: bool = True) -> tuple[list[_Hit], str]:
        """Raw hits in `text` (normalised) and the normalised text itself."""
        norm = for_secrets(text)
        hits: list[_Hit] = []
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
                         self.decode.max_depth if decode else 0)
        if budget.exhausted and decode:
            hits.append(_Hit(BUDGET_RULE, "", 0, 0, (), False, note=budget.exhausted))
        return hits, norm

    def _scan_layer(self, text: str, depth: int, origin: tuple[int, int] | None,
                    layers: tuple[str, ...], budget: Budget, known: list[KnownMatcher],
                    hits: list[_Hit], max_depth: int) -> None:
        decoding = self.decode.any and max_depth > 0
        found = self.prefilter.scan(text, want_runs=decoding and not budget.exhausted)
        for index in found.rules:
            rule = self.rules[index]
            for m in rule.regex.finditer(text):
                value = (m.group("secret") if rule.has_secret_group else None) or m.group(0)
                accepted = rule.accepts(value, m)
                if accepted is None or (accepted == "example" and self._examples_ignored):
                    continue
                start, end = origin or m.span()
                if accepted == "example":
                    hits.append(_Hit(EXAMPLE_RULE, value, start, end, layers, False, note=rule.id))
                else:
                    hits.append(_Hit(rule.id, value, start, end, layers, accepted == "confirmed"))
        for matcher in known:
            # One value has several forms that overlap (a base64 form and its aligned
            # core): report the longest at each place.
            taken: list[tuple[int, int]] = []
            for name, form, start, end in sorted(matcher.find(text), key=lambda f: f[2] - f[3]):
                if any(s <= start and end <= e for s, e in taken):
                    continue
                taken.append((start, end))
                s, e = origin or (start, end)
                hits.append(_Hit(KNOWN_SECRET, form, s, e, layers, True, note=name))
        if not decoding or budget.exhausted:
            return
        if depth >= max_depth:
            # One layer too many: whatever still decodes here was not looked at.
            if any(True for _ in candidates(text, self.decode, Budget(budget.left), found.runs)):
                budget.exhausted = "depth"
            return
        for d in candidates(text, self.decode, budget, found.runs):
            span = origin or (d.start, d.end)
            inner = d.text if d.text.isascii() else for_secrets(d.text)
            # A DER key comes back wrapped as PEM for the private-key rule: its base64 is
            # the key again, not another layer.
            limit = 0 if d.layer.endswith("der") else max_depth
            self._scan_layer(inner, depth + 1, span, (*layers, d.layer), budget, known, hits, limit)

    def _resolve(self, scanned: tuple[list[_Hit], str], original: str,
                 where_at: Any, ctx: ScanContext) -> list[Match]:
        hits, norm = scanned
        # One match per secret, with every text it was found as (all need redacting).
        first: dict[tuple[str, str], tuple[_Hit, list[str]]] = {}
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

    def _match(self, h: _Hit, where: str, fragments: tuple[str, ...], ctx: ScanContext) -> Match:
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

    def _scan_multipart(self, body: bytes, media: bodies.MediaType, where: str, ctx: ScanContext,
                        depth: int) -> list[Match]:
        """Each part by its own media type and transfer encoding, every part header, the
        fields glued (split secrets); and always the raw body as text, so that a wrong or
        duplicated boundary, a preamble or epilogue, or framing this parser reads
        differently from the origin never leaves bytes unscanned."""
        matches = self.scan_body(body, "text/plain", f"{where}(raw)", ctx, depth + 1)
        for boundary in dict.fromkeys(media.all("boundary")):
            matches = _merge(matches, self._scan_parts_of(body, boundary, where, ctx, depth))
        return matches

    def _scan_parts_of(self, body: bytes, boundary: str, where: str, ctx: ScanContext,
                       depth: int) -> list[Match]:
        matches: list[Match] = []
        fields: list[tuple[str, str]] = []
        head_parts: list[tuple[str, str]] = []
        for i, part in enumerate(bodies.multipart(body, boundary).parts):
            headers = part.headers
            name = bodies.disposition_param(headers.get("content-disposition", ""), "name") or str(i)
            label = f"{where}.part[{name}]"
            head_parts += [(f"{label}.header[{k}]", f"{k}: {val}") for k, val in headers.items()]
            encoding = headers.get("content-transfer-encoding", "").strip().lower()
            content = bodies.transfer_decode(part.content, encoding)
            matches = _merge(matches, self.scan_body(
                content, headers.get("content-type", "text/plain"), label, ctx, depth + 1))
            if "filename" not in headers.get("content-disposition", ""):
                fields.append((label, content.decode("utf-8", "replace")))
        matches = _merge(matches, self.scan_parts(head_parts, ctx, join=False))
        return _merge(matches, self._split(fields, ctx, f"{where}.parts(joined)"))


def _starts_token(text: str, s: int) -> bool:
    """Whether the anchor at `s` of a raw JSON text may start a token of a decoded value: at
    the start, after a character that is not a letter or digit, or after an escape (`\\n`,
    `\\u0020`), which decodes to something else."""
    return s == 0 or not text[s - 1].isalnum() or "\\" in text[max(0, s - 6):s]


@cache
def _prefilter_for(rules: tuple[Rule, ...], backend: str | None) -> Prefilter:
    return make_prefilter([r.source() for r in rules], backend)


def _benign(hit: _Hit, benign: frozenset[str]) -> bool:
    """A hit on one of the bottle's own placeholders, bare or as a Basic-auth password."""
    if hit.value in benign:
        return True
    if hit.rule == "basic-auth-credentials":
        password = v.basic_auth_password(hit.value)
        return password is not None and password in benign
    return False


def _known_matcher_for(values: Iterable[tuple[str, str]], backend: str | None) -> KnownMatcher | None:
    forms: list[tuple[str, str, bool]] = []
    for name, value in values:
        if len(value) < MIN_SECRET_LEN:
            continue
        forms += [(name, form, any_case) for form, any_case in secret_forms(value).items()]
    return make_known_matcher(forms, backend) if forms else None


# -- streams -------------------------------------------------------------------------------

class StreamScanner:
    """Scans data that arrives in pieces (a streamed body, WebSocket messages): each piece is
    scanned together with the last `window` bytes before it, so a secret split across pieces
    is whole in one scan. With `fragments`, the pieces are messages: an unfinished token at
    the end of a message (or of a JSON string in it) is also kept, and glued to the start of
    each of the next messages, so halves further apart than `window` still meet. Each
    secret is reported once."""

    def __init__(self, engine: DLPEngine, where: str, ctx: ScanContext, window: int,
                 fragments: bool = False) -> None:
        self.engine = engine
        self.where = where
        self.ctx = ctx
        self.window = window + window % 2  # even: UTF-16 code units stay aligned
        self._tail = b""
        self._seen: set[tuple[str, str]] = set()
        self._pending: deque[str] | None = deque(maxlen=PENDING_FRAGMENTS) if fragments else None

    def feed(self, data: bytes) -> list[Match]:
        if not data:
            return []
        joined = self._tail + data
        self._tail = joined[-self.window:]
        texts = charset.body_texts(joined)
        if not texts:
            found = binary_text(joined, self.engine.decode, Budget(self.engine.decode.budget))
            texts = [("utf-8", found[0] if found else printable_runs(joined))]
        matches: list[Match] = []
        for encoding, text in texts:
            matches = _merge(matches, _in_encoding(self.engine.scan(text, self.where, self.ctx),
                                                   encoding))
        if self._pending is not None:
            matches = _merge(matches, self._across(data))
        out = []
        for m in matches:
            if (m.rule, m.value) not in self._seen:
                self._seen.add((m.rule, m.value))
                out.append(m)
        return out

    def _across(self, message: bytes) -> list[Match]:
        """Unfinished tokens of earlier messages glued to the fragments of this one."""
        assert self._pending is not None
        texts = charset.body_texts(message)
        if not texts:
            return []
        fragments = _fragments(texts[0][1])
        windows = [f"\n{run}{frag[:SPLIT_WINDOW]}" for run in self._pending
                   for frag in fragments[:PENDING_FRAGMENTS]]
        matches: list[Match] = []
        if windows:
            hits = self.engine._hits("\n".join(windows), self.ctx, decode=False)
            matches = self.engine._resolve(hits, hits[1], lambda _s, _e: f"{self.where}(joined)",
                                           self.ctx)
        for frag in fragments:
            run = trailing_run(frag, SPLIT_WINDOW)
            if run and self.engine._unfinished(run, self.ctx):
                self._pending.append(run)
        return matches


def _fragments(text: str) -> list[str]:
    """A message's string values when it is JSON, else the message itself."""
    if text.lstrip()[:1] in ("{", "["):
        values = bodies.json_values(text)
        if values:
            return values
    return [text]


@dataclass
class StreamGate:
    """Holds back the last `overlap` bytes of a streamed body until the data after them has
    been scanned, so nothing is forwarded before the scan that could see a secret in it.

    `decoder` undoes a content encoding incrementally; with one, whole wire chunks are held
    until the decoded data they produced is `overlap` bytes behind the scanned frontier."""

    scanner: StreamScanner
    overlap: int
    decoder: Any = None
    _held: list[tuple[bytes, int]] = field(default_factory=list)
    _decoded: int = 0

    def push(self, chunk: bytes) -> tuple[bytes, list[Match]]:
        matches = self._scan(self.decoder.feed(chunk) if self.decoder is not None else [chunk])
        self._held.append((chunk, self._decoded))
        return self._release(self._decoded - self.overlap), matches

    def finish(self) -> tuple[bytes, list[Match]]:
        matches = self._scan(self.decoder.finish()) if self.decoder is not None else []
        return self._release(None), matches

    def _scan(self, pieces: Iterable[bytes]) -> list[Match]:
        """Scan decoded data piece by piece as the decoder produces it (each piece is bounded,
        so a small chunk that expands hugely never sits in memory whole)."""
        matches: list[Match] = []
        for piece in pieces:
            matches += self.scanner.feed(piece)
            self._decoded += len(piece)
        return matches

    def _release(self, frontier: int | None) -> bytes:
        out = []
        while self._held:
            chunk, end = self._held[0]
            if frontier is not None and end > frontier:
                if self.decoder is None and frontier > end - len(chunk):
                    cut = frontier - (end - len(chunk))
                    out.append(chunk[:cut])
                    self._held[0] = (chunk[cut:], end)
                break
            out.append(chunk)
            self._held.pop(0)
        return b"".join(out)


# -- helpers -------------------------------------------------------------------------------

def _join(texts: Iterable[str], sep: str = "\n") -> tuple[str, list[int]]:
    starts: list[int] = []
    pieces: list[str] = []
    pos = 0
    for t in texts:
        starts.append(pos)
        pieces.append(t)
        pos += len(t) + len(sep)
    return sep.join(pieces), starts


def _locator(starts: list[int], labels: list[str], joined: str | None = None) -> Any:
    def where(start: int, end: int) -> str:
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        last = max(bisect.bisect_right(starts, max(end - 1, start)) - 1, 0)
        if first == last or joined is None:
            return labels[first]
        return joined
    return where


def _in_encoding(matches: list[Match], encoding: str) -> list[Match]:
    """Matches found in a body read as `encoding` (UTF-16...): their texts also as the raw
    bytes look when read as UTF-8, which is how the body is redacted and how artefacts
    (flow files) are scrubbed."""
    if encoding in ("utf-8", "ascii") or not matches:
        return matches
    out = []
    for m in matches:
        extra = tuple(charset.as_bytes_text(f, encoding) for f in m.sensitive if f)
        out.append(replace(m, fragments=tuple(dict.fromkeys((*m.fragments, *extra)))))
    return out


def _merge(matches: list[Match], more: list[Match]) -> list[Match]:
    """`matches` plus those of `more` that are not the same secret again (a glued part may
    extend a token found on its own by the characters that followed it)."""
    out = list(matches)
    for m in more:
        if not any(o.rule == m.rule and (o.value in m.value or m.value in o.value) for o in out):
            out.append(m)
    return out
