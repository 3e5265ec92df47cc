"""What a DLP scan returns (`Match`), what it is told about the request (`ScanContext`),
and the raw hits the engine resolves into matches; plus the two ways match lists combine."""

from __future__ import annotations

from dataclasses import dataclass, replace

from egress.findings import Action, Finding
from egress.redact import KnownSecrets, preview
from egress.scan.dlp import charset


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


# No host, path or known secrets: the default context of a scan.
NO_CONTEXT = ScanContext()


@dataclass(slots=True)
class Hit:
    """A raw hit before resolving: where in the normalised text, through which decoding
    layers, whether a validator confirmed it; `note` is the known secret's name, the
    format of an example, or why decoding stopped."""

    rule: str
    value: str
    start: int
    end: int
    layers: tuple[str, ...]
    confirmed: bool
    note: str = ""


def in_encoding(matches: list[Match], encoding: str) -> list[Match]:
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


def merge(matches: list[Match], more: list[Match]) -> list[Match]:
    """`matches` plus those of `more` that are not the same secret again (a glued part may
    extend a token found on its own by the characters that followed it)."""
    out = list(matches)
    for m in more:
        if not any(o.rule == m.rule and (o.value in m.value or m.value in o.value) for o in out):
            out.append(m)
    return out
