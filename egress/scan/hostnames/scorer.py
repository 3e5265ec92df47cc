"""Does one name carry encoded data? The single-name score. Pure code, no mitmproxy.

1. `host_name` normalises the name (case kept; malformed names stop here).
2. The name is split into its registered domain (eTLD+1 from the Public Suffix List shipped
   by `publicsuffixlist`, private section included: `d1x.cloudfront.net` is its own domain)
   and the labels the zone's owner receives. The customer label right under a private-
   section suffix (a bucket, a distribution id) is priced at half: only the platform sees
   a lookup of it, never a tunnel's server.
3. Each label is priced in bits (`labels.py`) and the name scored from named signals:

| signal (reason) | points |
|---|---|
| `encoded-bits=N`: estimated bits of the scored labels | 0.35 per bit |
| `text-payload=N`: a label decodes (hex, base32, base64) to N bytes of readable text | +80 |
| `tool-shape=dnscat2`: hex labels opening with dnscat2's packet header | +60 |
| `tool-shape=iodine` / `=dns2tcp`: the first label is exactly one of the tool's control
  packets (`shapes.tool_packet`: iodine's version, login, ping and fragment size; dns2tcp's
  data-less poll), by the fixed bits of its documented layout | +100 |
| `encoded-chunks=N`: labels carrying >= 40 bits | +35 per chunk beyond the first |
| `encoder-alphabet=base32`: a random-looking label of >= 32 letters and digits whose digits
  are only a base32 encoder's (RFC 4648's 2-7 or iodine's 0-5; ids use all ten) | +35 |
| `mixed-case`: a label of >= 8 characters in random mixed case (base64 keeps case; no
  hostname has it: camel-case words do not count, nor a name whose registered domain is in
  random case too, as a resolver's 0x20 randomisation makes it) | +85 |
| `short-labels=N`: more than 3 labels of 4+ characters that are not words (a chain of
  short encoded labels) | +10 per label beyond 3 |
| `label-count=N` beyond 6; `subdomain-length=N` beyond 100 | +8 per label; +0.4 per char |
| `non-hostname-characters`: a malformed name (refused as such whatever it scores) | +100 |

A name scoring `hostnames.block_score` (default 100) looks like encoded data. A blocked
name's explanation names the label and the feature that made it look like data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

from egress.scan.hostnames.labels import (
    ABBREV_BITS,
    TEXT_MIN_BITS,
    WORD_BITS,
    WORDINESS_MIN,
    LabelScore,
    alnum_bits,
    round1,
    score_label,
    text_payload,
    token_bits,
)
from egress.scan.hostnames.names import (
    _IPV4,
    _NOT_NAME,
    MAX_LABEL,
    MAX_NAME,
    HostName,
    case_randomised,
    host_name,
    is_reverse_lookup,
)
from egress.scan.hostnames.shapes import PACKET_LENGTHS, encoder_alphabet, tool_packet, tool_shape
from egress.scan.hostnames.suffixes import SuffixLists, suffix_lists
from egress.scan.hostnames.words import LETTER_BITS, wordiness

POINTS_PER_BIT: Final = 0.35
CHUNK_BITS: Final = 40.0
CHUNK_POINTS: Final = 35.0
TEXT_POINTS: Final = 80.0
MIXED_CASE_POINTS: Final = 85.0
MIXED_CASE_MIN_CHARS: Final = 8
SHORT_LABELS_FREE: Final = 3
SHORT_LABEL_POINTS: Final = 10.0
SHORT_LABEL_MIN_CHARS: Final = 4
LABELS_FREE: Final = 6
LABEL_POINTS: Final = 8.0
SUBDOMAIN_FREE: Final = 100
SUBDOMAIN_POINTS: Final = 0.4
CUSTOMER_LABEL_WEIGHT: Final = 0.5
DATA_LABEL_BITS: Final = 24.0
DATA_LABEL_POINTS: Final = 15.0
SHAPE_POINTS: Final = 60.0
ENCODER_ALPHABET_POINTS: Final = 35.0
HANDSHAKE_POINTS: Final = 100.0  # a tool's control packet (shapes.tool_packet): refused on its own
NON_HOSTNAME_POINTS: Final = 100.0
UNSCORED_BITS: Final = 6.0  # per character: what a label left unscored is charged (the most any is)
DEFAULT_BLOCK_SCORE: Final = 100.0
DEFAULT_ENCODED_BITS: Final = 40.0

class HostnameScore(NamedTuple):
    """A scored name. `reasons` are stable `name=value` strings and `explanation` says which
    label and feature decided; neither quotes the name's labels."""

    name: str                     # lower case, no trailing dot
    registered: str
    subdomain: str                # the scored labels, case kept
    score: float
    bits: float
    reasons: tuple[str, ...] = ()
    exempt: str | None = None
    problem: str | None = None    # malformed: why no hostname looks like this
    labels: tuple[LabelScore, ...] = ()
    customer: bool = False        # the last scored label is a customer's, under a private-section suffix
    top: LabelScore | None = None           # the label carrying the most bits
    text: tuple[int, int, str] = (0, 0, "")  # readable payload: bytes, label index, encoding
    shape: str = ""                          # a tool's packet layout, or an encoder's alphabet

    @property
    def explanation(self) -> str:
        """Which label and which feature made the name look like data (never the label)."""
        if self.problem is not None:
            return self.problem
        size, index, encoding = self.text
        if size:
            return f"label {index}: decodes ({encoding}) to {size} bytes of readable text"
        if self.shape.startswith("label "):  # a tool's control packet, an encoder's alphabet
            return self.shape
        parts = [self.top.describe()] if self.top is not None and self.top.bits >= 16 else []
        if self.shape:
            parts.append(f"packet header of {self.shape}")
        return "; ".join(parts)

    def blocked(self, block_score: float) -> bool:
        """Refused: malformed (whatever exception covers its zone), or scored too high."""
        return self.problem is not None or (self.exempt is None and self.score >= block_score)

    def encoded(self, min_bits: float = DEFAULT_ENCODED_BITS) -> bool:
        return self.exempt is None and self.bits >= min_bits

    def summary(self) -> str:
        base = f"score {self.score:.0f} ({', '.join(self.reasons) or 'no signals'})"
        return f"{base}; {self.explanation}" if self.explanation else base


@dataclass(frozen=True, slots=True)
class HostnameException:
    """A trusted zone: names under it are neither scored nor budgeted."""

    reason: str
    domain: str | None = None   # registered domain, exactly
    suffix: str | None = None   # this name and every name under it


_new: Final = tuple.__new__  # NamedTuples built without their Python-level __new__ (hot path)
SCORE_MEMO: Final = 8192  # names remembered per scorer; a name's score never changes


class HostnameScorer:
    """Scores names; its rules are fixed once built (one per compiled policy)."""

    def __init__(self, exceptions: Iterable[HostnameException] = (),
                 block_score: float = DEFAULT_BLOCK_SCORE) -> None:
        # Signals are added until a name is known to reach `block_score`; past it, the
        # remaining labels are not priced (they are charged UNSCORED_BITS per character)
        # and the costly text decoding is skipped: the verdict cannot change.
        self.block_score = block_score
        self._enough = block_score / POINTS_PER_BIT  # bits past which labels go unpriced
        self._lists: SuffixLists | None = None
        # Scores are pure functions of the name: a client opening many connections to the
        # same hosts (and replay, where every flow is a new connection) scores each name
        # once. Cleared rather than evicted when full: safe to share across threads.
        self._memo: dict[str, HostnameScore] = {}
        self._by_domain: dict[str, str] = {}
        self._by_suffix: dict[str, str] = {}
        for e in exceptions:
            if e.domain:
                self._by_domain[e.domain.lower().rstrip(".")] = e.reason
            if e.suffix:
                self._by_suffix[e.suffix.lower().rstrip(".")] = e.reason

    def exception_for(self, lower: str, registered: str) -> str | None:
        if not (self._by_suffix or self._by_domain):
            return None
        reason = self._by_domain.get(registered)
        if reason is not None:
            return reason
        if self._by_suffix:
            if lower in self._by_suffix:
                return self._by_suffix[lower]
            dot = lower.find(".")
            while dot != -1:
                reason = self._by_suffix.get(lower[dot + 1:])
                if reason is not None:
                    return reason
                dot = lower.find(".", dot + 1)
        return None

    @property
    def lists(self) -> SuffixLists:
        if self._lists is None:
            self._lists = suffix_lists()
        return self._lists

    def split(self, name: str) -> tuple[str, str]:
        """(registered domain, the part its owner receives: scored labels, dot-joined).

        `name` may carry a trailing dot and any case; the registered domain is lower case,
        the scored part keeps the case it came with."""
        host = host_name(name)
        if host.ip or not host.labels:
            return host.lower, ""
        registered, sub, _ = self._split(host)
        return registered, sub

    def _split(self, host: HostName) -> tuple[str, str, bool]:
        text, lower = host.text, host.lower
        lists = self.lists
        labels = lower.split(".")  # split once for both lookups (SuffixLists.registered)
        tld = labels[-1]
        if tld not in lists.tlds and not tld.isalpha():
            # No top-level domain has digits or dashes: such a name goes to whatever resolver
            # is asked (dnscat2 without a domain), so every label of it is scored.
            return ".", text, False
        n = len(labels)
        pub = lists.full.public_labels(labels)
        registered = ".".join(labels[-pub - 1:]) if pub < n else None
        # Private-section suffixes have two or more labels, so a registered domain with one
        # dot (a one-label suffix) is an ICANN one: the second lookup is needed only for
        # deeper ones.
        if registered is not None and pub == 1:
            icann: str | None = registered
        else:
            pub = lists.icann.public_labels(labels)
            icann = ".".join(labels[-pub - 1:]) if pub < n else None
        if registered is None:
            # The name is itself a public suffix (a wildcard entry such as
            # `*.compute-1.amazonaws.com`): score what lies under its ICANN domain.
            base = icann or lower
            return base, text[: len(text) - len(base)].rstrip("."), False
        if icann == registered:
            return registered, text[: len(text) - len(registered)].rstrip("."), False
        # Registered under a private-section suffix: its first label is a customer's choice.
        suffix_len = len(registered) - registered.index(".") - 1
        return registered, text[: len(text) - suffix_len].rstrip("."), True

    def score(self, name: str) -> HostnameScore:
        known = self._memo.get(name)
        if known is not None:
            return known
        scored = self.score_uncached(name)
        if len(self._memo) >= SCORE_MEMO:
            self._memo.clear()
        self._memo[name] = scored
        return scored

    def score_uncached(self, name: str) -> HostnameScore:
        """The score computed afresh (benchmarks measure this)."""
        # A well-formed ASCII name (the common case) is normalised, split and scored here in
        # one go, its split serving the suffix walk and the scored labels, no HostName built;
        # anything else (IDN, IP literal, malformed, a public suffix) goes to `_score_host`.
        text = name[:-1] if name.endswith(".") else name
        # bytes tests below: str's answers on ASCII, without str's slow scan of long names
        if not text.isascii() or 1 in (raw := text.encode()).translate(_NOT_NAME) or \
                len(text) > MAX_NAME:
            return self._score_host(host_name(name))
        labels = text.split(".")
        if "" in labels or (len(text) > MAX_LABEL and max(map(len, labels)) > MAX_LABEL) or \
                (text[-1] <= "9" and _IPV4.match(text)):
            return self._score_host(host_name(name))
        # an all-lower-case name (the common case) is its own lower case, split already
        is_lower = raw.islower()
        lower = text if is_lower else text.lower()
        lists = self._lists if self._lists is not None else self.lists
        low = labels if is_lower else lower.split(".")
        n, tld = len(low), low[-1]
        customer = False
        if tld not in lists.tlds and not tld.isalpha():
            registered, scored = ".", n  # see _split: every label is scored
        else:
            pub = lists.full.public_labels(low)
            if pub >= n:  # the name is itself a public suffix
                return self._score_host(host_name(name))
            registered = ".".join(low[-pub - 1:])
            # the registered domain is an ICANN one (its suffix has as many labels in the
            # ICANN section) or a customer's under a private-section suffix (see _split)
            if pub == 1 or lists.icann.public_labels(low) == pub:
                scored = n - pub - 1
            else:
                scored, customer = n - pub, True
        sub = ".".join(labels := labels[:scored]) if scored < n else text
        if self._by_suffix or self._by_domain:
            exempt = self.exception_for(lower, registered)
            if exempt is not None:
                return HostnameScore(lower, registered, sub, 0.0, 0.0, ("exception",), exempt)
        if not scored:  # HostnameScore(lower, registered, "", 0.0, 0.0) without its cost
            return _new(HostnameScore, (lower, registered, "", 0.0, 0.0, *_UNSCORED_DEFAULTS))
        # an all-lower-case name cannot be in random case (the common case: no call)
        return self._score_labels(lower, registered, sub, labels, customer,
                                  not is_lower and case_randomised(text, registered))

    def _score_host(self, host: HostName) -> HostnameScore:
        """The general path: any name `host_name` normalised."""
        if host.problem is not None:
            return self._malformed(host)
        if host.ip or not host.labels:
            return HostnameScore(host.lower, host.lower, "", 0.0, 0.0)
        registered, sub, customer = self._split(host)
        if self._by_suffix or self._by_domain:
            exempt = self.exception_for(host.lower, registered)
            if exempt is not None:
                return HostnameScore(host.lower, registered, sub, 0.0, 0.0, ("exception",),
                                     exempt)
        if not sub:
            return HostnameScore(host.lower, registered, "", 0.0, 0.0)
        text = host.text
        return self._score(host.lower, registered, sub, customer,
                           not text.islower() and case_randomised(text, registered))

    def _malformed(self, host: HostName) -> HostnameScore:
        """A name no hostname can be: refused whatever it scores (`problem`), and scored all
        the same (+NON_HOSTNAME_POINTS), so its score says how much data it looks like."""
        registered = self.lists.registered(host.lower.strip(".")) or host.lower
        cut = len(host.text) - len(registered) if host.lower.endswith(registered) else 0
        sub = host.text[:cut].rstrip(".") or host.text
        base = self._score(host.lower, registered, sub, False)
        # base._replace(score=..., reasons=..., exempt=..., problem=...), without its cost
        return _new(HostnameScore, (
            *base[:3], round(base.score + NON_HOSTNAME_POINTS, 1), base.bits,
            (*base.reasons, "non-hostname-characters"),
            self.exception_for(host.lower, registered), host.problem, *base[8:]))

    def _score(self, lower: str, registered: str, sub: str, customer: bool,
               case_noise: bool = False) -> HostnameScore:
        return self._score_labels(lower, registered, sub, sub.split("."), customer, case_noise)

    def _score_labels(self, lower: str, registered: str, sub: str, labels: list[str],
                      customer: bool, case_noise: bool = False) -> HostnameScore:
        if lower.endswith(".arpa") and is_reverse_lookup(lower, labels):
            return HostnameScore(lower, registered, sub, 0.0, 0.0, ("reverse-lookup",))
        # One pass over the labels: each is priced (left to right, until the bits alone
        # reach the block score: past it a label is charged UNSCORED_BITS per character,
        # as the verdict cannot change) and its signals counted at once.
        out: list[LabelScore] = []
        enough = self._enough
        plain = sub.isascii()  # every label ASCII (a malformed name's may not be)
        priced = 0.0       # bits of the priced labels, before the customer label's halving
        total_bits = 0.0
        chunks = data_labels = short = 0
        alphabet = ""      # a long label's base32 encoder alphabet, and that label
        alphabet_of: LabelScore | None = None
        decodable = False
        mixed, hexed = case_noise, False
        top: LabelScore | None = None
        top_bits = -1.0
        halved = len(labels) if customer else 0   # the position of the halved label
        append = out.append
        position = 0
        for label in labels:
            position += 1
            if priced >= enough and position != halved:
                if not halved:  # so is every label left: charged in one go
                    for label in labels[position - 1:]:
                        bits = len(label) * UNSCORED_BITS
                        append(_new(LabelScore, (position, label, bits, "unscored")))
                        total_bits += bits
                        if bits >= CHUNK_BITS:
                            chunks += 1
                        position += 1
                    break
                bits = len(label) * UNSCORED_BITS
                append(_new(LabelScore, (position, label, bits, "unscored")))
                total_bits += bits
                if bits >= CHUNK_BITS:
                    chunks += 1
                continue
            if plain and (raw := label.encode()).islower() and raw.isalnum():
                # One-case ASCII letters (and digits), the common label: priced here as
                # token_bits prices it, short words with no further signal settled at once.
                n = len(label)
                if raw.isalpha():
                    if n <= 5:
                        bits = n * ABBREV_BITS
                        append(s := _new(LabelScore, (position, label, bits, "word")))
                        priced += bits
                        if position == halved:
                            bits *= CUSTOMER_LABEL_WEIGHT
                        total_bits += bits
                        if bits > top_bits:
                            top, top_bits = s, bits
                        continue  # a word, under DATA_LABEL_BITS: no other signal
                    if wordiness(label) >= WORDINESS_MIN:
                        bits, kind = n * WORD_BITS, "word"
                    else:
                        bits, kind = n * LETTER_BITS, "letters"
                else:
                    bits, kind = alnum_bits(label, n, raw)
                s = _new(LabelScore, (position, label, bits, kind))
            elif "-" in label or "_" in label:  # no `xn--` label without a dash
                s = score_label(label, position)
                bits, kind = s.bits, s.kind
            else:
                bits, kind = token_bits(label)
                s = _new(LabelScore, (position, label, bits, kind))
            append(s)
            priced += bits
            if position == halved:
                bits *= CUSTOMER_LABEL_WEIGHT
            total_bits += bits
            if bits > top_bits:
                top, top_bits = s, bits
            if kind in _NOT_WORDS:
                n = len(label)
                if n >= SHORT_LABEL_MIN_CHARS:
                    short += 1
                if not mixed and n >= MIXED_CASE_MIN_CHARS and kind in _CASED:
                    # a mixed-case token has both cases: only base64 needs looking at
                    mixed = kind == "mixed-case" or label not in (label.lower(), label.upper())
            if bits < DATA_LABEL_BITS:
                continue
            decodable = decodable or (bits >= TEXT_MIN_BITS and kind in _DECODABLE)
            if kind in _DATA_KINDS:
                data_labels += 1
                hexed = hexed or kind == "hex"
            if bits >= CHUNK_BITS:
                chunks += 1
                if not alphabet and kind in _ENCODER_KINDS:
                    alphabet = encoder_alphabet(label, s.bits)
                    alphabet_of = s
        if not (chunks or hexed or mixed) and data_labels < 2 and short <= SHORT_LABELS_FREE \
                and len(labels) <= LABELS_FREE and len(sub) <= SUBDOMAIN_FREE \
                and (len(labels[0]) not in PACKET_LENGTHS or not tool_packet(labels[0])):
            # only the bits fire (most legitimate names: no chunk, so no longest chunk, alphabet
            # or text to decode; no hex, case (so no case noise) or tool packet): the score below
            return _new(HostnameScore, (
                lower, registered, sub, round1(total_bits * POINTS_PER_BIT), round1(total_bits),
                (f"encoded-bits={round(total_bits)}",) if total_bits >= 1 else (), None, None,
                tuple(out), customer, top, _NO_TEXT, ""))
        scored = tuple(out)
        mixed = mixed and not case_noise
        points = total_bits * POINTS_PER_BIT
        # round(x) formats as `x:.0f` does (both round half to even): an int is cheaper
        reasons: list[str] = [f"encoded-bits={round(total_bits)}"] if total_bits >= 1 else []
        if top_bits >= CHUNK_BITS and top is not None:
            reasons.append(f"longest-chunk={len(top.label)}:{top.kind}")
        shape = tool_shape(scored) if hexed else ""
        if shape:
            points += SHAPE_POINTS
            reasons.append(f"tool-shape={shape}")
        else:
            # a first label that is exactly one of a tool's control packets (its layout fixes
            # bits no generated id of that length has): refused on its own
            packet = tool_packet(labels[0], case_noise) if len(labels[0]) in PACKET_LENGTHS else ""
            if packet:
                shape = f"label 1: {packet}"
                points += HANDSHAKE_POINTS
                reasons.append(f"tool-shape={packet.split(' ', 1)[0]}")
        if alphabet:
            points += ENCODER_ALPHABET_POINTS
            reasons.append("encoder-alphabet=base32")
            if not shape and alphabet_of is not None:
                shape = f"{alphabet_of.describe()}; {alphabet}"
        if data_labels > 1:
            points += DATA_LABEL_POINTS * (data_labels - 1)
            reasons.append(f"data-labels={data_labels}")
        if chunks > 1:
            points += CHUNK_POINTS * (chunks - 1)
            reasons.append(f"encoded-chunks={chunks}")
        if short > SHORT_LABELS_FREE:
            points += SHORT_LABEL_POINTS * (short - SHORT_LABELS_FREE)
            reasons.append(f"short-labels={short}")
        if len(labels) > LABELS_FREE:
            points += LABEL_POINTS * (len(labels) - LABELS_FREE)
            reasons.append(f"label-count={len(labels)}")
        if len(sub) > SUBDOMAIN_FREE:
            points += SUBDOMAIN_POINTS * (len(sub) - SUBDOMAIN_FREE)
            reasons.append(f"subdomain-length={len(sub)}")
        text = _NO_TEXT
        # Decoding is the costly check: names already far past any threshold skip it.
        if decodable and points < self.block_score:
            text = text_payload(scored, customer, _DECODABLE)
            if text[0]:
                points += TEXT_POINTS
                reasons.insert(1, f"text-payload={text[0]}")
        # after the text check, so that a decodable mixed-case label is named for its text
        if mixed:
            points += MIXED_CASE_POINTS
            reasons.append("mixed-case")
        return _new(HostnameScore, (lower, registered, sub, round1(points),
                                    round1(total_bits), tuple(reasons), None, None, scored,
                                    customer, top, text, shape))


_DATA_KINDS: Final = frozenset({"hex", "base32", "base36", "mixed-case", "letters", "digits"})
# labels that are not words (for chains of short labels): `word-number` is `ec2`, `node12`
# but also `x7q2`; a chain of them is counted only past SHORT_LABELS_FREE
_NOT_WORDS: Final = _DATA_KINDS | {"base64", "word-number"}
_CASED: Final = frozenset({"mixed-case", "base64"})
# the kinds of the only labels shapes.encoder_alphabet can name (one-case, digits, >= 4.5 b/c)
_ENCODER_KINDS: Final = frozenset({"base32", "base36", "word-number"})
# labels worth decoding: a long base32 token with few digit runs reads as `word-number`
_DECODABLE: Final = _DATA_KINDS | {"word-number"}
_NO_TEXT: Final = (0, 0, "")
# HostnameScore's defaults from `reasons` on (a name with no label to score)
_UNSCORED_DEFAULTS: Final = ((), None, None, (), False, None, _NO_TEXT, "")
