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
import threading
import urllib.parse
from collections.abc import Iterable

MIN_SECRET_LEN = 8


def fingerprint(value: str | bytes) -> str:
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()[:12]


def preview(value: str | bytes) -> str:
    """First 4 characters (fewer for short values) and a hash: enough to correlate, not to use."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    keep = 4 if len(text) >= 16 else min(2, len(text) // 4)
    return f"{text[:keep]}…[{len(text)} chars, sha256:{fingerprint(value)}]"


def encoded_forms(value: str) -> set[str]:
    """The textual shapes a value commonly takes on the wire."""
    raw = value.encode("utf-8", "surrogateescape")
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = b64.decode()
        forms.add(text)
        forms.add(text.rstrip("="))
    forms.add(base64.b32encode(raw).decode().rstrip("="))
    hexed = binascii.hexlify(raw).decode()
    forms.update({hexed, hexed.upper()})
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


@functools.lru_cache(maxsize=4096)
def _cached_forms(value: str) -> tuple[str, ...]:
    return tuple(sorted(encoded_forms(value) - {value}, key=len, reverse=True))


class KnownSecrets:
    """Thread-safe registry of secret values with the names they are reported under."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        # encoded form -> name, longest first so a longer form is replaced before its prefix
        self._forms: list[tuple[str, str]] = []

    def add(self, name: str, value: str) -> None:
        if len(value) < MIN_SECRET_LEN:
            raise ValueError(f"known secret {name!r} is shorter than {MIN_SECRET_LEN} chars")
        with self._lock:
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
        self._forms = sorted(forms.items(), key=lambda kv: -len(kv[0]))

    def values(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(n, v) for v, n in self._names.items()]

    def __len__(self) -> int:
        return len(self._names)

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        """Replace every known value and every `extra` value (each in any encoding) in `text`."""
        forms = self._forms
        for value in extra:
            if not value:
                continue
            if value in text:
                text = text.replace(value, "[REDACTED]")
            if len(value) >= MIN_SECRET_LEN:
                for form in _cached_forms(value):
                    if form in text:
                        text = text.replace(form, "[REDACTED]")
        for form, name in forms:
            if form in text:
                text = text.replace(form, f"[REDACTED:{name}]")
        return text
