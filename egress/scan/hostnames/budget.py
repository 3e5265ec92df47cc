"""The per-bottle hostname budget: how much information names carry to one zone.

A tunnel needs many names under a zone whose DNS it reads; a single name shows little. The
budget counts, per registered domain over a sliding window, the **information** the
bottle's distinct names carry there, not the names themselves:

- every label of a new name is charged: a label not seen under that domain in the window
  costs its estimated bits (`labels.py`: words ~1 bit/letter, digits 3.3, hex 4, base32 5,
  ...); a label seen before costs log2(1 + labels known), the bits it takes to pick one of
  them. So `ec2.us-east-1` after `s3.us-east-1` pays for `ec2` and a choice of region, and
  a payload spelled in digits, hex or short labels pays for every bit it carries;
- a name seen before in the window costs nothing (and keeps the answer it got);
- each zone also has a cap on distinct names.

Zones are budgeted separately: every registered domain has its own budget, which under a
public-suffix *private-section* suffix means every customer (`x.cloudfront.net`,
`app.herokuapp.com`) has its own; and the large provider zones of `zones.py` (cloud APIs,
CDNs, package registries: names only the provider's own DNS sees) get a budget
`provider_factor` times larger, so an agent using hundreds of AWS, GCP or Azure endpoints
stays inside it. Over budget, new names under that domain are refused; the trip is
reported once per episode. Owned by the runtime, not the compiled policy, so it survives
policy reloads; thread-safe; memory bounded.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from egress.scan.hostnames.labels import LabelScore
from egress.scan.hostnames.scorer import DEFAULT_ENCODED_BITS, HostnameScore
from egress.scan.hostnames.zones import provider_zone


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    window_seconds: float = 600.0
    max_names: int = 1000
    max_encoded_names: int = 10
    max_bytes: int = 256
    encoded_bits: float = DEFAULT_ENCODED_BITS
    provider_factor: int = 64
    max_word_bytes: int = 4096

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
    bytes: int                 # information in data-looking labels
    new: bool
    bits: float = 0.0          # what this name was charged (both tiers)
    zone: str = ""             # the budget's key: the registered domain
    provider: bool = False     # a provider zone (larger budget)
    exceeded: str = ""         # which limit: names, encoded names, bytes or word bytes
    word_bytes: int = 0        # information in word-like labels

    def describe(self, registered: str, limits: BudgetLimits) -> str:
        z = limits.for_zone(self.provider)
        kind = "provider zone" if self.provider else "zone"
        return (f"{kind} {registered}: {self.names} distinct names carried ~{self.bytes} bytes "
                f"({self.bytes * 8} bits) in data-looking labels and ~{self.word_bytes} bytes in "
                f"word-like labels ({self.encoded_names} encoded-looking names) in the last "
                f"{limits.window_seconds:.0f}s; its budget is {z.bytes} bytes of data, "
                f"{z.word_bytes} bytes of words, {z.names} names, {z.encoded_names} encoded "
                f"names (exceeded: {self.exceeded})")


UNCHARGED = BudgetCharge(False, False, 0, 0, 0, False)


@dataclass(slots=True)
class _Usage:
    # (time, name, data bits, word bits, encoded, the name's distinct labels)
    entries: deque[tuple[float, str, float, float, bool, tuple[str, ...]]] = field(
        default_factory=deque)
    seen: dict[str, bool] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)   # label -> names using it
    names: int = 0
    encoded: int = 0
    bits: float = 0.0
    word_bits: float = 0.0
    over: bool = False


# Labels that read as words, abbreviations, punycode, or words and numbers at no more than
# WORDY_BITS per character (`us-east-1`, `ec2`): charged to the word tier. Everything else
# (hex, base32/36/64, mixed case, letters that are not words, digit runs) is data.
WORDY_BITS = 2.5


def wordy(label: LabelScore) -> bool:
    kind = label.kind
    if kind in ("word", "idn"):
        return True
    return kind == "word-number" and label.bits <= WORDY_BITS * len(label.label)


def name_charge(scored: HostnameScore, known: dict[str, int]) -> tuple[float, float]:
    """(data bits, word bits) a new name costs, given the labels already known under its zone:
    a new label costs its estimated bits, a known one the bits to pick it again."""
    choice = math.log2(1 + len(known))
    data = words = 0.0
    for label in scored.labels:
        own = max(label.bits, 1.0)
        bits = min(own, choice) if label.label in known else own
        if wordy(label):
            words += bits
        else:
            data += bits
    return data, words


class VolumeBudget:
    """Information per registered domain over a sliding window, for one bottle.

    Every new name counts, refused ones included: a tunnel that keeps trying stays over
    budget. Memory is bounded by `max_domains` and `max_entries` (oldest dropped first).
    """

    def __init__(self, max_domains: int = 20_000, max_entries: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._domains: OrderedDict[str, _Usage] = OrderedDict()
        self.max_domains = max_domains
        self.max_entries = max_entries

    def charge(self, scored: HostnameScore, limits: BudgetLimits, now: float) -> BudgetCharge:
        if scored.exempt is not None or scored.problem is not None or not scored.subdomain:
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
            if known is not None:
                return BudgetCharge(not known, False, usage.names, usage.encoded,
                                    int(usage.bits / 8), False, 0.0, key, provider,
                                    word_bytes=int(usage.word_bits / 8))
            data, words = name_charge(scored, usage.labels)
            # encoded-looking: its data-looking labels alone carry encoded_bits
            encoded = sum(lb.bits for lb in scored.labels
                          if not wordy(lb)) >= limits.encoded_bits
            distinct = tuple({lb.label for lb in scored.labels})
            for label in distinct:
                usage.labels[label] = usage.labels.get(label, 0) + 1
            usage.entries.append((now, name, data, words, encoded, distinct))
            usage.names += 1
            usage.encoded += encoded
            usage.bits += data
            usage.word_bits += words
            if len(usage.entries) > self.max_entries:
                self._drop(usage, usage.entries.popleft())
            exceeded = ("bytes" if usage.bits / 8 > z.bytes
                        else "word bytes" if usage.word_bits / 8 > z.word_bytes
                        else "encoded names" if usage.encoded > z.encoded_names
                        else "names" if usage.names > z.names else "")
            over = bool(exceeded)
            first = over and not usage.over
            usage.over = over
            usage.seen[name] = not over
            return BudgetCharge(over, first, usage.names, usage.encoded, int(usage.bits / 8),
                                True, data + words, key, provider, exceeded,
                                int(usage.word_bits / 8))

    def _expire(self, usage: _Usage, cutoff: float) -> None:
        entries = usage.entries
        while entries and entries[0][0] <= cutoff:
            self._drop(usage, entries.popleft())

    @staticmethod
    def _drop(usage: _Usage,
              entry: tuple[float, str, float, float, bool, tuple[str, ...]]) -> None:
        _, name, data, words, encoded, labels = entry
        usage.names -= 1
        usage.encoded -= encoded
        usage.bits = max(0.0, usage.bits - data)
        usage.word_bits = max(0.0, usage.word_bits - words)
        usage.seen.pop(name, None)
        for label in labels:
            left = usage.labels.get(label, 0) - 1
            if left > 0:
                usage.labels[label] = left
            else:
                usage.labels.pop(label, None)

    def usage(self, registered: str) -> tuple[int, int, int]:
        """(names, encoded names, bytes) currently charged to a registered domain."""
        with self._lock:
            u = self._domains.get(registered)
            return (u.names, u.encoded, int(u.bits / 8)) if u else (0, 0, 0)

    def clear(self) -> None:
        with self._lock:
            self._domains.clear()
