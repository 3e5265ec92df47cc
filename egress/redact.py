"""Keeping secret values out of every artefact we write (audit log, recorded flows, errors).

Two mechanisms:
- `preview()` turns a matched value into evidence that identifies it without revealing it.
- `KnownSecrets` holds values the proxy knows are secret (policy known secrets, injected
  credentials, values a scanner matched in this flow) and scrubs them, raw or in their
  common encodings, from any text before it is written.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import heapq
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable

MIN_SECRET_LEN = 8


def fingerprint(value: str | bytes) -> str:
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()[:12]


def preview(value: str | bytes) -> str:
    """First 4 characters (fewer for short values) and a hash: enough to correlate, not to use."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    keep = 4 if len(text) >= 16 else min(2, len(text) // 4)
    return f"{text[:keep]}…[{len(text)} chars, sha256:{fingerprint(value)}]"


_STD_TO_URL = str.maketrans("+/", "-_")


def _aligned_cores(raw: bytes, bits: int, encode: Callable[[bytes], bytes]) -> list[str]:
    """The part of the encoding of `raw` that does not depend on what surrounds it, for each
    byte alignment `raw` can have inside a longer encoded blob (3 for base64, 5 for base32)."""
    group = 3 if bits == 6 else 5
    cores = []
    for shift in range(group):
        enc = encode(b"\0" * shift + raw).decode()
        lo = -(-8 * shift // bits)
        hi = 8 * (shift + len(raw)) // bits
        cores.append(enc[lo:hi])
    return cores


def secret_forms(value: str) -> dict[str, bool]:
    """Every textual shape `value` commonly takes on the wire -> whether it is matched
    case-insensitively (hex and base32 digits may come in either case)."""
    raw = value.encode("utf-8", "surrogateescape")
    forms: dict[str, bool] = {}

    def add(form: str, any_case: bool = False) -> None:
        if len(form) >= MIN_SECRET_LEN and form not in forms:
            forms[form] = any_case

    add(value)
    add(urllib.parse.quote(value, safe=""))
    add(urllib.parse.quote_plus(value))
    add("".join(f"%{b:02X}" for b in raw), True)
    for full in (base64.b64encode(raw).decode(),):
        for text in (full, full.translate(_STD_TO_URL)):
            add(text)
            add(text.rstrip("="))
    for core in _aligned_cores(raw, 6, base64.b64encode):
        add(core)
        add(core.translate(_STD_TO_URL))
    add(base64.b32encode(raw).decode().rstrip("="), True)
    for core in _aligned_cores(raw, 5, base64.b32encode):
        add(core, True)
    pairs = [f"{b:02x}" for b in raw]
    add(binascii.hexlify(raw).decode(), True)
    for sep in (":", "-", " ", ","):
        add(sep.join(pairs), True)
    add("".join("\\x" + p for p in pairs), True)
    add(", ".join("0x" + p for p in pairs), True)
    add(",".join("0x" + p for p in pairs), True)
    add(" ".join("0x" + p for p in pairs), True)
    # Spellings a reflection or an artefact may carry (JSON escapes end up in flow files).
    add("".join(f"\\u{ord(c):04x}" for c in value), True)
    add("".join(f"&#{ord(c)};" for c in value))
    add("".join(f"&#x{ord(c):x};" for c in value), True)
    add(value[::-1])
    return forms


def encoded_forms(value: str) -> set[str]:
    """The case-sensitive strings `scrub()` replaces for `value` (both cases of hex)."""
    out: set[str] = set()
    for form, any_case in secret_forms(value).items():
        out.add(form)
        if any_case:
            out.update((form.lower(), form.upper()))
    return out


# (form, its lower case, the marker it is replaced by)
Form = tuple[str, str, str]


def _longest(form: Form) -> int:
    return -len(form[0])


@functools.lru_cache(maxsize=4096)
def _cached_forms(value: str) -> tuple[Form, ...]:
    """`value` and its encoded forms, longest first, each with its lower-case form."""
    forms = {value} | (encoded_forms(value) if len(value) >= MIN_SECRET_LEN else set())
    return tuple((f, f.lower(), "[REDACTED]") for f in sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=8192)
def _any_case(form: str) -> re.Pattern[str]:
    return re.compile(re.escape(form), re.IGNORECASE)


def _replace(text: str, folded: str, form: str, lowered: str, marker: str) -> tuple[str, str]:
    """Replace `form` in `text` in any letter case: a value can reach an artefact lower-cased
    (an HTTP/2 header name, a hostname, a location built from either). `folded` is
    `text.lower()`, kept in step so most forms cost one substring test."""
    if lowered not in folded:
        return text, folded
    text = _any_case(form).sub(marker, text)
    return text, text.lower()


class KnownSecrets:
    """Thread-safe registry of secret values with the names they are reported under."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        # (encoded form, its lower case, marker), longest first so a longer form is replaced
        # before its prefix
        self._forms: list[Form] = []
        # Bumped on every change, so matchers built from `values()` know when to rebuild.
        self.version = 0

    def add(self, name: str, value: str) -> None:
        if len(value) < MIN_SECRET_LEN:
            raise ValueError(f"known secret {name!r} is shorter than {MIN_SECRET_LEN} chars")
        with self._lock:
            if self._names.get(value) == name:
                return
            self._names[value] = name
            self._rebuild()

    def replace_all(self, items: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            self._names = {v: n for n, v in items if len(v) >= MIN_SECRET_LEN}
            self._rebuild()

    def _rebuild(self) -> None:
        forms: dict[str, str] = {}
        for value, name in self._names.items():
            for form in encoded_forms(value):
                forms[form] = name
        self._forms = [(form, form.lower(), f"[REDACTED:{name}]")
                       for form, name in sorted(forms.items(), key=lambda kv: -len(kv[0]))]
        self.version += 1

    def values(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(n, v) for v, n in self._names.items()]

    def __len__(self) -> int:
        return len(self._names)

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        """Replace every known value and every `extra` value (each in any encoding and any
        letter case) in `text`."""
        forms: Iterable[Form] = self._forms
        values = {v for v in extra if v}
        if values:
            # One order for every form, extra and known alike, longest first: a value that
            # contains a shorter one (a known secret holding what a rule matched, or the other
            # way round) must go whole, not leave the part the shorter one did not cover.
            mine = sorted((f for v in values for f in _cached_forms(v)), key=_longest)
            forms = heapq.merge(mine, forms, key=_longest)
        folded = text.lower()
        for form, lowered, marker in forms:
            text, folded = _replace(text, folded, form, lowered, marker)
        return text
