"""The per-bottle hostname volume budget: how much information names carry out, per
registered domain, over a sliding window. Pure code, no mitmproxy.

A single name can look innocent and still carry data: 293 names of 14 random digits carry
1.7 KB. So the budget charges the information of *every* name, not only of names that
look encoded, and charges what is new:

- a label not seen under the registered domain in the window is charged what it can carry:
  its length times log2 of the smallest common alphabet that holds all its characters
  (digits 10, hex 16, letters of one case 26, base32 32, letters and digits of one case 36,
  the same with `-`/`_` 38, mixed case 62, mixed case with `-`/`_` 64, anything else 94),
  plus `ALPHABET_CHOICE_BITS` for which of those alphabets it is;
- a label seen before carries only which of the known labels it is: log2 of the number of
  distinct labels in the window (at most the label's own price);
- a query type not asked before for a name carries log2 of the number of query types the
  DNS guard forwards (the HTTP side passes none).

What a name's owner could still learn without a charge: which *known* name is asked again
and when (timing), bounded by `dns.rate_limit`. `tests/test_dns_attacks.py` encodes payloads
in many short names through the live guard and checks that no more than `max_bytes` leave.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from egress.scan.hostnames import HostnameScore

DEFAULT_ENCODED_BITS = 48.0  # a name with this many bits counts as encoded-looking
DEFAULT_MAX_BYTES = 1024

_DIGITS = frozenset("0123456789")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEPARATORS = frozenset("-_")
# (alphabet, its size) from the smallest up: a label is priced by the first that holds it.
_ALPHABETS: tuple[tuple[frozenset[str], int], ...] = tuple(
    (frozenset(chars), size) for chars, size in (
        (_DIGITS, 10),
        (_DIGITS | frozenset("abcdef"), 16), (_DIGITS | frozenset("ABCDEF"), 16),
        (_LOWER, 26), (_UPPER, 26),
        (frozenset("abcdefghijklmnopqrstuvwxyz234567"), 32),
        (frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32),
        (_LOWER | _DIGITS, 36), (_UPPER | _DIGITS, 36),
        (_LOWER | _DIGITS | _SEPARATORS, 38), (_UPPER | _DIGITS | _SEPARATORS, 38),
        (_LOWER | _UPPER | _DIGITS, 62),
        (_LOWER | _UPPER | _DIGITS | _SEPARATORS, 64),
    ))
_PRINTABLE_BITS = math.log2(94)  # any printable ASCII but the dot
ALPHABET_CHOICE_BITS = math.log2(len(_ALPHABETS) + 1)
_LOG2 = {size: math.log2(size) for _, size in _ALPHABETS}


def label_information(label: str) -> float:
    """Bits a label can carry: its length times log2 of the smallest alphabet holding it."""
    chars = frozenset(label)
    for alphabet, size in _ALPHABETS:
        if chars <= alphabet:
            return len(label) * _LOG2[size]
    return len(label) * _PRINTABLE_BITS


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    window_seconds: float = 600.0
    max_names: int = 300
    max_encoded_names: int = 10
    max_bytes: int = DEFAULT_MAX_BYTES
    encoded_bits: float = DEFAULT_ENCODED_BITS


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """What charging one name did. `over`: the name is refused by the budget. `first`: the
    first refusal of this episode (report it once)."""

    over: bool
    first: bool
    names: int
    encoded_names: int
    bytes: int
    new: bool

    def describe(self, registered: str, limits: BudgetLimits) -> str:
        return (f"{self.names} names, {self.encoded_names} encoded-looking, ~{self.bytes} bytes of "
                f"information under {registered} in {limits.window_seconds:.0f}s exceed the "
                f"budget ({limits.max_names} names, {limits.max_encoded_names} encoded, "
                f"{limits.max_bytes} bytes)")


UNCHARGED = BudgetCharge(False, False, 0, 0, 0, False)


@dataclass(slots=True)
class _Entry:
    """One charge in the window: a new name (`qtype` None) or a new query type of a name."""

    time: float
    name: str
    qtype: str | None
    bits: float
    encoded: bool
    labels: tuple[str, ...]  # the labels this entry holds in the vocabulary


@dataclass(slots=True)
class _Usage:
    entries: deque[_Entry] = field(default_factory=deque)
    seen: dict[str, bool] = field(default_factory=dict)             # name -> allowed
    asked: dict[tuple[str, str], bool] = field(default_factory=dict)  # (name, qtype) -> allowed
    vocabulary: Counter[str] = field(default_factory=Counter)       # label -> entries using it
    names: int = 0
    encoded: int = 0
    bits: float = 0.0
    over: bool = False

    def name_bits(self, labels: list[str]) -> float:
        """The information of a new name's labels, given the labels already known."""
        known = self.vocabulary
        choice = math.log2(len(known)) if len(known) > 1 else 0.0
        bits = 0.0
        fresh: set[str] = set()
        for label in labels:
            price = label_information(label)
            if known.get(label, 0) or label in fresh:
                bits += min(price, choice)
            else:
                bits += price + ALPHABET_CHOICE_BITS
                fresh.add(label)
        return bits


class VolumeBudget:
    """The information names carry per registered domain over a sliding window, for one
    bottle (see the module docstring for the charge).

    Owned by the runtime, not the compiled policy, so a reload keeps the counts; the limits
    come from whichever policy is current at each charge. Every new name counts, refused
    ones included: a tunnel that keeps trying stays over budget. A name seen earlier in the
    window keeps the answer it got (a new query type for it is charged and may be refused).
    Thread-safe; memory is bounded by `max_domains` and `max_entries` (oldest dropped first).
    """

    def __init__(self, max_domains: int = 20_000, max_entries: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._domains: OrderedDict[str, _Usage] = OrderedDict()
        self.max_domains = max_domains
        self.max_entries = max_entries

    def charge(self, scored: HostnameScore, limits: BudgetLimits, now: float,
               qtype: str | None = None, qtype_bits: float = 0.0) -> BudgetCharge:
        """Charge one name (and, for a DNS query, its query type, worth `qtype_bits`)."""
        if scored.exempt is not None or not scored.subdomain:
            return UNCHARGED
        key = scored.registered
        # As sent: the zone's owner sees the case of every letter, so another case of a
        # known name is a new name (DNS matching ignores case; the channel does not).
        name = scored.subdomain
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
            if known is not None:
                asked = usage.asked.get(pair) if pair is not None else None
                if pair is None or asked is not None or not known:
                    allowed = known if asked is None else asked
                    return BudgetCharge(not allowed, False, usage.names, usage.encoded,
                                        int(usage.bits / 8), False)
                # a known name, a query type not asked before: only the type is new
                self._add(usage, _Entry(now, name, qtype, qtype_bits, False, ()))
                over = self._over(usage, limits)
                usage.asked[pair] = not over
                return self._result(usage, over)
            labels = scored.subdomain.split(".")
            encoded = scored.bits >= limits.encoded_bits
            bits = usage.name_bits(labels) + (qtype_bits if pair is not None else 0.0)
            for label in labels:
                usage.vocabulary[label] += 1
            self._add(usage, _Entry(now, name, qtype, bits, encoded, tuple(labels)))
            usage.names += 1
            usage.encoded += encoded
            over = self._over(usage, limits)
            usage.seen[name] = not over
            if pair is not None:
                usage.asked[pair] = not over
            return self._result(usage, over)

    def _add(self, usage: _Usage, entry: _Entry) -> None:
        usage.entries.append(entry)
        usage.bits += entry.bits
        if len(usage.entries) > self.max_entries:
            self._drop(usage, usage.entries.popleft())

    @staticmethod
    def _over(usage: _Usage, limits: BudgetLimits) -> bool:
        return (usage.names > limits.max_names or usage.encoded > limits.max_encoded_names
                or usage.bits / 8 > limits.max_bytes)

    @staticmethod
    def _result(usage: _Usage, over: bool) -> BudgetCharge:
        first = over and not usage.over
        usage.over = over
        return BudgetCharge(over, first, usage.names, usage.encoded, int(usage.bits / 8), True)

    def _expire(self, usage: _Usage, cutoff: float) -> None:
        entries = usage.entries
        while entries and entries[0].time <= cutoff:
            self._drop(usage, entries.popleft())

    @staticmethod
    def _drop(usage: _Usage, entry: _Entry) -> None:
        usage.bits = max(0.0, usage.bits - entry.bits)
        if entry.qtype is not None:
            usage.asked.pop((entry.name, entry.qtype), None)
        if entry.labels:  # a name's own entry (a query-type entry holds no labels)
            usage.names -= 1
            usage.encoded -= entry.encoded
            usage.seen.pop(entry.name, None)
            vocabulary = usage.vocabulary
            for label in entry.labels:
                left = vocabulary[label] - 1
                if left > 0:
                    vocabulary[label] = left
                else:
                    del vocabulary[label]

    def usage(self, registered: str) -> tuple[int, int, int]:
        """(names, encoded names, bytes) currently charged to a registered domain."""
        with self._lock:
            u = self._domains.get(registered)
            return (u.names, u.encoded, int(u.bits / 8)) if u else (0, 0, 0)

    def clear(self) -> None:
        with self._lock:
            self._domains.clear()
