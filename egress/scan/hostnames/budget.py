"""The per-bottle hostname budget: how much information names carry to one zone.

A tunnel needs many names under a zone whose DNS it reads; a single name shows little. The
budget counts, per registered domain over a sliding window, the **information** the
bottle's distinct names (and, over DNS, their query types) can carry there, not the names
themselves. It charges what the sender *could* have chosen, not what an ordinary name is
estimated to carry, so the stated capacity holds whatever the encoding:

- every label of a new name is charged: a label not seen under that domain in the window
  costs `label_capacity` (its length times log2 of the smallest common alphabet holding it)
  plus `ALPHABET_CHOICE_BITS` (3.8) for which alphabet; a label seen before costs
  log2(1 + labels known), the bits it takes to pick one of them (at most its own price).
  So `ec2.us-east-1` after `s3.us-east-1` pays for `ec2` and a choice of region, and a
  payload spelled in digits, hex, short labels or dictionary words pays for every bit;
- a query type not asked before for a name costs log2 of the query types the DNS guard
  forwards (`DnsPolicy.qtype_bits`; the HTTP paths pass none): to the word tier for the
  address types every lookup asks (A, AAAA, HTTPS, SVCB), to the data tier for any other;
- a name seen before in the window costs nothing (and keeps the answer it got); another
  letter case of a name is a new name (resolvers pass case on: 0x20 encoding);
- two tiers per zone: labels that read as words, abbreviations, regions or punycode
  (`wordy`) are charged to `max_word_bytes`, everything else and query types to `max_bytes`;
  each zone also has caps on distinct names and on encoded-looking names;
- a name that is refused on its own (the scorer's verdict, or malformed) is charged too, and
  **closes its zone**: an ordinary zone that was sent one takes no other name, new or asked
  before, until it leaves the window. A tunnel's handshakes, polls and small chunks look
  like ordinary ids one at a time, but they share the zone of its encoded names (iodine's
  first names are its version handshake, refused by the scorer, and 8-bit probes). A
  legitimate zone is sent no encoded or malformed name; provider zones stay open (no
  tunnel server reads them), and `hostnames.exceptions` still exempt a zone.

Zones are budgeted separately: every registered domain has its own budget, which under a
public-suffix *private-section* suffix means every customer (`x.cloudfront.net`,
`app.herokuapp.com`) has its own; and the large provider zones of `zones.py` (cloud APIs,
CDNs, package registries: names only the provider's own DNS sees) get a budget
`provider_factor` times larger, so an agent using hundreds of AWS, GCP or Azure endpoints
stays inside it. Over budget, new names under that domain are refused; the trip is
reported once per episode. Not charged: *when* a known name is asked again (timing,
bounded by `dns.rate_limit`) and zones in `hostnames.exceptions`. Owned by the runtime, not
the compiled policy, so it survives policy reloads; thread-safe; memory bounded.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from egress.scan.hostnames.labels import ALPHABET_CHOICE_BITS, LabelScore, label_capacity
from egress.scan.hostnames.scorer import DEFAULT_ENCODED_BITS, HostnameScore
from egress.scan.hostnames.zones import provider_zone

DEFAULT_MAX_BYTES = 64
DEFAULT_MAX_WORD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    window_seconds: float = 600.0
    max_names: int = 1000
    max_encoded_names: int = 4
    max_bytes: int = DEFAULT_MAX_BYTES
    encoded_bits: float = DEFAULT_ENCODED_BITS
    provider_factor: int = 256
    max_word_bytes: int = DEFAULT_MAX_WORD_BYTES

    def for_zone(self, provider: bool) -> ZoneLimits:
        """What one ordinary or provider zone may receive per window."""
        f = self.provider_factor if provider else 1
        return ZoneLimits(self.max_names * f, self.max_encoded_names * f, self.max_bytes * f,
                          self.max_word_bytes * f)


@dataclass(frozen=True, slots=True)
class ZoneLimits:
    names: int
    encoded_names: int
    bytes: int
    word_bytes: int


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """What charging one name did. `over`: the name is refused by the budget. `first`: the
    first refusal of this episode (report it once). Counts are the zone's totals in the
    window, this name included."""

    over: bool
    first: bool
    names: int
    encoded_names: int
    bytes: int                 # information in data-looking labels and query types
    new: bool                  # something new was charged: a new name or a new query type
    bits: float = 0.0          # what this name was charged (both tiers)
    zone: str = ""             # the budget's key: the registered domain
    provider: bool = False     # a provider zone (larger budget)
    exceeded: str = ""         # which limit: names, encoded names, bytes or word bytes
    word_bytes: int = 0        # information in word-like labels
    closed_for: float = 0.0    # refused names: seconds the zone stays closed from this charge

    def describe(self, registered: str, limits: BudgetLimits) -> str:
        z = limits.for_zone(self.provider)
        kind = "provider zone" if self.provider else "zone"
        return (f"{kind} {registered}: {self.names} distinct names carried ~{self.bytes} bytes "
                f"({self.bytes * 8} bits) in data-looking labels and query types and "
                f"~{self.word_bytes} bytes in word-like labels ({self.encoded_names} "
                f"encoded-looking names) in the last {limits.window_seconds:.0f}s; its budget "
                f"is {z.bytes} bytes of data, {z.word_bytes} bytes of words, {z.names} names, "
                f"{z.encoded_names} encoded names ("
                + ("exceeded: refused names; it was sent a name refused as encoded data or "
                   "malformed in the window, and takes no other name until that leaves it, "
                   f"in {self.closed_for:.0f}s)"
                   if self.exceeded == "refused names"
                   else f"exceeded: {self.exceeded})" if self.exceeded
                   else "this name was refused earlier in the window)"))


UNCHARGED = BudgetCharge(False, False, 0, 0, 0, False)


# Query types every client asks for an ordinary lookup (an address, and the HTTPS/SVCB record
# a modern resolver asks alongside it): choosing among them is charged to the word tier, as
# every name of a busy agent is asked so; any other type (TXT, NULL, MX, ...) to the data tier.
ADDRESS_QTYPES = frozenset({"A", "AAAA", "HTTPS", "SVCB"})


@dataclass(slots=True)
class _Entry:
    """One charge in the window: a new name (`labels` set; `qtype` its first query type, if
    asked over DNS) or a new query type of a name already charged (`labels` empty)."""

    time: float
    name: str
    qtype: str | None
    data: float
    words: float
    encoded: bool
    labels: tuple[str, ...]  # the name's distinct labels, as held in the zone's vocabulary
    refused: bool = False    # the scorer refused the name (or it is malformed)


@dataclass(slots=True)
class _Usage:
    entries: deque[_Entry] = field(default_factory=deque)
    seen: dict[str, bool] = field(default_factory=dict)               # name -> allowed
    asked: dict[tuple[str, str], bool] = field(default_factory=dict)  # (name, qtype) -> allowed
    labels: dict[str, int] = field(default_factory=dict)              # label -> names using it
    names: int = 0
    encoded: int = 0
    refused: int = 0         # names of the window the scorer refused or that are malformed
    reopens: float = 0.0     # when the last refused name leaves the window (the zone reopens)
    bits: float = 0.0
    word_bits: float = 0.0
    over: bool = False


# Labels that read as words, abbreviations, punycode, or words and numbers at no more than
# WORDY_BITS per character (`us-east-1`, `ec2`) by the scorer's estimate: charged to the word
# tier. Everything else (hex, base32/36/64, mixed case, letters that are not words, digit
# runs) is data. The tier only picks the limit; either tier is charged the label's capacity.
WORDY_BITS = 2.5


def wordy(label: LabelScore) -> bool:
    kind = label.kind
    if kind in ("word", "idn"):
        return True
    return kind == "word-number" and label.bits <= WORDY_BITS * len(label.label)


def label_charge(label: str, known: dict[str, int]) -> float:
    """Bits one label of a new name costs, given the labels already known under its zone:
    a new label its capacity and the choice of alphabet, a known one the bits to pick it
    again (never more than its own price)."""
    own = label_capacity(label) + ALPHABET_CHOICE_BITS
    if label in known:
        return min(own, math.log2(1 + len(known)))
    return own


def name_charge(scored: HostnameScore, known: dict[str, int]) -> tuple[float, float]:
    """(data bits, word bits) a new name costs, given the labels already known under its zone."""
    data = words = 0.0
    for label in scored.labels:
        bits = label_charge(label.label, known)
        if wordy(label):
            words += bits
        else:
            data += bits
    return data, words


class VolumeBudget:
    """Information per registered domain over a sliding window, for one bottle.

    Every new name counts, refused ones included: a tunnel that keeps trying stays over
    budget. A name seen before keeps the answer it got; a new query type for it is charged
    and may be refused. Memory is bounded by `max_domains` and `max_entries` (oldest
    dropped first).
    """

    def __init__(self, max_domains: int = 20_000, max_entries: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._domains: OrderedDict[str, _Usage] = OrderedDict()
        self.max_domains = max_domains
        self.max_entries = max_entries

    def charge(self, scored: HostnameScore, limits: BudgetLimits, now: float,
               qtype: str | None = None, qtype_bits: float = 0.0,
               refused: bool = False) -> BudgetCharge:
        """Charge one name (and, for a DNS query, its query type, worth `qtype_bits`).
        `refused`: the name itself is refused already (the scorer's verdict, or malformed);
        it is charged all the same, and it closes its zone to new data-looking names for
        the window (a zone that was sent encoded data is the tunnel's zone)."""
        if scored.exempt is not None or not scored.subdomain:
            return UNCHARGED
        key = scored.registered
        # Case kept: a resolver passes it on, so case alone can carry bits (0x20 encoding).
        name = f"{scored.subdomain}.{key}"
        provider = provider_zone(key)
        z = limits.for_zone(provider)
        with self._lock:
            usage = self._domains.get(key)
            if usage is None:
                usage = _Usage()
                self._domains[key] = usage
                if len(self._domains) > self.max_domains:
                    self._domains.popitem(last=False)
            else:
                self._domains.move_to_end(key)
            self._expire(usage, now - limits.window_seconds)
            known = usage.seen.get(name)
            pair = (name, qtype) if qtype is not None else None
            # An ordinary zone that was sent a refused name (encoded data, or a malformed name)
            # in the window is the tunnel's: it is closed, and takes no other name, new or
            # asked before (a beacon's check-in name repeats). Not so a provider zone, whose
            # names only the provider's own DNS reads: its limits alone apply.
            closed = usage.refused > 0 and not provider
            if known is not None and closed and not refused:
                # the closing's first refusal opens an episode (reported once), whether the
                # name it refuses is new or was asked before it closed
                first = not usage.over
                usage.over = True
                return BudgetCharge(True, first, usage.names, usage.encoded,
                                    int(usage.bits / 8), False, 0.0, key, provider,
                                    "refused names", int(usage.word_bits / 8),
                                    usage.reopens - now)
            if known is not None:
                asked = usage.asked.get(pair) if pair is not None else None
                if pair is None or asked is not None or not known:
                    allowed = known if asked is None else asked
                    return BudgetCharge(not allowed, False, usage.names, usage.encoded,
                                        int(usage.bits / 8), False, 0.0, key, provider,
                                        word_bytes=int(usage.word_bits / 8))
                # a known name, a query type not asked before: only the type is new
                address = qtype in ADDRESS_QTYPES
                self._add(usage, _Entry(now, name, qtype, 0.0 if address else qtype_bits,
                                        qtype_bits if address else 0.0, False, ()))
                exceeded = self._exceeded(usage, z)
                usage.asked[pair] = not exceeded
                return self._result(usage, key, provider, exceeded, qtype_bits)
            data, words = name_charge(scored, usage.labels)
            if pair is not None:
                if qtype in ADDRESS_QTYPES:
                    words += qtype_bits
                else:
                    data += qtype_bits
            # encoded-looking: its data-looking labels alone carry encoded_bits (estimated)
            encoded = sum(lb.bits for lb in scored.labels
                          if not wordy(lb)) >= limits.encoded_bits
            distinct = tuple({lb.label for lb in scored.labels})
            for label in distinct:
                usage.labels[label] = usage.labels.get(label, 0) + 1
            usage.names += 1
            usage.encoded += encoded
            usage.refused += refused
            if refused:
                usage.reopens = now + limits.window_seconds
            self._add(usage, _Entry(now, name, qtype, data, words, encoded, distinct, refused))
            exceeded = "refused names" if closed else self._exceeded(usage, z)
            usage.seen[name] = not exceeded
            if pair is not None:
                usage.asked[pair] = not exceeded
            return self._result(usage, key, provider, exceeded, data + words,
                                usage.reopens - now if closed else 0.0)

    def _add(self, usage: _Usage, entry: _Entry) -> None:
        usage.entries.append(entry)
        usage.bits += entry.data
        usage.word_bits += entry.words
        if len(usage.entries) > self.max_entries:
            self._drop(usage, usage.entries.popleft())

    @staticmethod
    def _exceeded(usage: _Usage, z: ZoneLimits) -> str:
        return ("bytes" if usage.bits / 8 > z.bytes
                else "word bytes" if usage.word_bits / 8 > z.word_bytes
                else "encoded names" if usage.encoded > z.encoded_names
                else "names" if usage.names > z.names else "")

    @staticmethod
    def _result(usage: _Usage, key: str, provider: bool, exceeded: str,
                bits: float, closed_for: float = 0.0) -> BudgetCharge:
        """The answer to a new charge; it also opens or closes the zone's episode."""
        over = bool(exceeded)
        first = over and not usage.over
        usage.over = over
        return BudgetCharge(over, first, usage.names, usage.encoded, int(usage.bits / 8), True,
                            bits, key, provider, exceeded, int(usage.word_bits / 8),
                            closed_for)

    def _expire(self, usage: _Usage, cutoff: float) -> None:
        entries = usage.entries
        while entries and entries[0].time <= cutoff:
            self._drop(usage, entries.popleft())

    @staticmethod
    def _drop(usage: _Usage, entry: _Entry) -> None:
        usage.bits = max(0.0, usage.bits - entry.data)
        usage.word_bits = max(0.0, usage.word_bits - entry.words)
        if entry.qtype is not None:
            usage.asked.pop((entry.name, entry.qtype), None)
        if not entry.labels:  # a query type's entry
            return
        usage.names -= 1
        usage.encoded -= entry.encoded
        usage.refused -= entry.refused
        usage.seen.pop(entry.name, None)
        for label in entry.labels:
            left = usage.labels.get(label, 0) - 1
            if left > 0:
                usage.labels[label] = left
            else:
                usage.labels.pop(label, None)

    def usage(self, registered: str) -> tuple[int, int, int]:
        """(names, encoded names, bytes of data) currently charged to a registered domain."""
        with self._lock:
            u = self._domains.get(registered)
            return (u.names, u.encoded, int(u.bits / 8)) if u else (0, 0, 0)

    def clear(self) -> None:
        with self._lock:
            self._domains.clear()
