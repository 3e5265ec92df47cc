"""Credential injection, on plain data: placeholders, where a value sits in a request, header
rewriting, the shapes a value takes on the wire, and the immutable table of a bottle's
credentials.

The agent holds a per-bottle placeholder; the proxy holds the real value and puts it into
requests whose verified destination is the credential's host. This module knows nothing of
mitmproxy (`addons.credentials` is the adapter) and does no I/O: real values come from
`egress.sources.credentials`, which reads them and keeps the registry. It never puts a real
value into an exception, a log line or a `repr`: errors name the credential and the source,
not the value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
import string
import time
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from egress.hostmatch import normalize_path, path_has_prefix
from egress.policy.model import SECRET_SLOT, Credential, split_header_template
from egress.redact import MIN_SECRET_LEN
from egress.scan.token_scrub import TokenScrubber

# Re-exported: the adapter and other callers scrub through this module.


RULES = {
    "placeholder-exfiltration": "A credential placeholder was sent somewhere other than its "
    "credential's verified destination: another host, a path the credential is not for, plain "
    "HTTP, a query string, a body, a WebSocket message or a CONNECT target.",
    "credential-mismatch": "The agent sent a different credential to a credential's host and "
    "the credential's `on_mismatch` is `block`.",
    "credential-overridden": "The agent sent a different credential to a credential's host; "
    "the proxy replaced it with the real one (`on_mismatch: override`).",
    "response-not-scrubbable": "A response from a credential's host could not be decoded to "
    "remove the real value from it; it was blocked.",
}


class CredentialError(Exception):
    """A credential whose real value cannot be had. The message names the credential and its
    source, never the value."""

    def __init__(self, index: int, name: str, field_name: str, message: str) -> None:
        self.index, self.name, self.field, self.message = index, name, field_name, message
        super().__init__(f"credential {name!r}: {message}")

    @property
    def loc(self) -> tuple[int | str, ...]:
        """Where in the policy file the problem is (for file:line errors)."""
        return ("credentials", self.index, *self.field.split("."))


# -- errors -------------------------------------------------------------------------------

class SourceError(Exception):
    """Why a source gave no usable value (no value in the message)."""


# -- placeholders ---------------------------------------------------------------------------

# Public prefixes of common token formats, longest first: a `like-secret` placeholder keeps them.
KNOWN_PREFIXES = tuple(sorted((
    "sk-ant-api03-", "sk-ant-oat01-", "sk-ant-admin01-", "sk-ant-", "sk-proj-", "sk-svcacct-",
    "sk-", "github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "glpat-", "npm_", "xoxb-",
    "xoxp-", "hf_",
), key=len, reverse=True))
_BASE62 = string.digits + string.ascii_letters
_ALPHABETS = (string.digits, "0123456789abcdef", "0123456789ABCDEF",
              string.digits + string.ascii_lowercase, _BASE62, _BASE62 + "-_", _BASE62 + "+/")
MIN_RANDOM_CHARS = 16


def public_prefix(value: str, configured: str | None) -> str:
    if configured is not None and value.startswith(configured):
        return configured
    return next((p for p in KNOWN_PREFIXES if value.startswith(p)), "")


def make_placeholder(cred: Credential, value: str) -> str:
    """A fresh placeholder for one bottle. Raises `SourceError` if the shape cannot be met."""
    if cred.placeholder.shape == "bottle":
        return f"bottle-{cred.name}-{secrets.token_hex(12)}"
    prefix = public_prefix(value, cred.placeholder.prefix)
    body = value[len(prefix):]
    if len(body) < MIN_RANDOM_CHARS:
        raise SourceError(f"shape like-secret needs at least {MIN_RANDOM_CHARS} characters after "
                          "the public prefix; use shape: bottle")
    used = set(body)
    alphabet = next((a for a in _ALPHABETS if used <= set(a)), None) or "".join(sorted(set(_BASE62) | used))
    while True:
        candidate = prefix + "".join(secrets.choice(alphabet) for _ in body)
        if candidate != value:
            return candidate


# -- the shapes a value takes on the wire ---------------------------------------------------

def _b64_cores(raw: bytes, alphabet: Literal["std", "url"]) -> list[str]:
    """The base64 characters that depend only on `raw`, for each of the three alignments it
    can have inside a longer encoded text (e.g. `user:token` in Basic auth)."""
    out = []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw) if alphabet == "std" \
            else base64.urlsafe_b64encode(b"\0" * k + raw)
        text = encoded.decode()
        start = -(-8 * k // 6)
        end = 8 * (k + len(raw)) // 6
        out.append(text[start:end])
    return out


def _forms(value: str) -> list[str]:
    """The encodings a placeholder is recognised in (raw, URL, base64, hex)."""
    raw = value.encode("utf-8")
    hexed = binascii.hexlify(raw).decode()
    return [
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        *_b64_cores(raw, "std"),
        *_b64_cores(raw, "url"),
        hexed,
        hexed.upper(),
    ]


def detection_forms(placeholder: str) -> list[bytes]:
    return sorted({f.encode() for f in _forms(placeholder) if len(f) >= MIN_SECRET_LEN},
                  key=len, reverse=True)


@functools.lru_cache(maxsize=64)
def scrubber_for(items: tuple[tuple[str, str], ...]) -> TokenScrubber:
    """The response scrubber for some (real value, placeholder) pairs, built once: its
    spellings are compiled into one matcher (`egress.scan.token_scrub`)."""
    return TokenScrubber(items)


def scrub_bytes(data: bytes, scrubber: TokenScrubber | None) -> bytes:
    """`data` with every spelling of the scrubber's real values replaced by the placeholder."""
    return scrubber.scrub(data) if scrubber else data


# -- where a value sits in a request --------------------------------------------------------

_BASIC = re.compile(r"^(basic)([ \t]+)([A-Za-z0-9+/=_-]+)[ \t]*$", re.IGNORECASE)


def decode_basic(value: str) -> str | None:
    """The `user:password` text of a Basic Authorization value, or None."""
    m = _BASIC.match(value)
    if m is None:
        return None
    try:
        return base64.b64decode(m.group(3) + "=" * (-len(m.group(3)) % 4), validate=False) \
            .decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return None


def encode_basic(userinfo: str) -> str:
    return "Basic " + base64.b64encode(userinfo.encode("utf-8", "surrogateescape")).decode()


def header_texts(value: str) -> list[str]:
    """A header value as sent, plus its decoded Basic userinfo if it is one."""
    decoded = decode_basic(value)
    return [value] if decoded is None else [value, decoded]


def replace_in_header(value: str, old: str, new: str) -> str:
    """`old` -> `new` in a header value, also inside Basic userinfo."""
    decoded = decode_basic(value)
    if decoded is not None and old in decoded:
        m = _BASIC.match(value)
        assert m is not None
        return encode_basic(decoded.replace(old, new)).replace("Basic", m.group(1), 1)
    return value.replace(old, new) if old in value else value


def header_carries(value: str, secret: str) -> bool:
    return any(secret in text for text in header_texts(value))


Pairs = list[tuple[str, str]]
Outcome = Literal["unchanged", "replaced", "added", "overridden", "mismatch"]


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A request's headers and query after one credential was applied."""

    headers: Pairs
    query: Pairs
    outcome: Outcome

    @property
    def changed(self) -> bool:
        return self.outcome in ("replaced", "added", "overridden")


# -- the credentials of one bottle ----------------------------------------------------------

@dataclass(frozen=True)
class ActiveCredential:
    """One credential with its placeholder and current real value. `repr` shows neither."""

    index: int
    spec: Credential
    placeholder: str = field(repr=False)
    value: str = field(repr=False)
    # Earlier values (rotated by a refresh): still scrubbed from responses.
    retired: tuple[str, ...] = field(default=(), repr=False)
    next_refresh: float | None = None
    detect: tuple[bytes, ...] = field(default=(), repr=False)
    # (real value, placeholder) for the current and the retired values: what responses from
    # the credential's host are scrubbed of (`scrubber_for`).
    scrub_items: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def build(cls, index: int, spec: Credential, placeholder: str, value: str,
              retired: Iterable[str] = (), now: float | None = None) -> ActiveCredential:
        ttl = spec.source.ttl
        kept = tuple(v for v in dict.fromkeys(retired) if v != value)[-4:]
        items = ((value, placeholder), *((old, placeholder) for old in kept))
        return cls(index, spec, placeholder, value, kept,
                   None if ttl is None else (now if now is not None else time.monotonic()) + ttl,
                   tuple(detection_forms(placeholder)), items)

    @property
    def scrub(self) -> TokenScrubber:
        """The scrubber of this credential's values (see `scrubber_for`)."""
        return scrubber_for(self.scrub_items)

    @property
    def name(self) -> str:
        return self.spec.name

    def applies(self, scheme: str, path: str) -> bool:
        if scheme != "https" and not (scheme == "http" and self.spec.allow_http):
            return False
        return self.spec.path is None or path_has_prefix(normalize_path(path), self.spec.path)

    def rendered(self) -> tuple[str, str]:
        """(header name, value) the credential is sent as (header and basic kinds)."""
        if self.spec.basic is not None:
            return "Authorization", encode_basic(f"{self.spec.basic.user}:{self.value}")
        assert self.spec.header is not None
        name, template = split_header_template(self.spec.header)
        return name, template.replace(SECRET_SLOT, self.value)

    def apply(self, headers: Pairs, query: Pairs, siblings: Collection[str] = ()) -> Rewrite:
        """Put the real value in: replace the placeholder wherever it is in the headers (and in
        the credential's own query parameter), add the credential if absent, and report an
        agent-supplied different credential as `mismatch` (or override it). `siblings` are the
        real values of the other credentials applied to this request: a slot holding one of
        them is theirs, not a different credential."""
        ph, real = self.placeholder, self.value
        out_headers = [(k, replace_in_header(v, ph, real)) for k, v in headers]
        replaced = out_headers != headers
        out_query = query
        target = self.spec.target_header
        if target is not None:
            present = [v for k, v in out_headers if k.lower() == target]
            if not present:
                if not self.spec.add_if_missing:
                    return Rewrite(out_headers, query, "replaced" if replaced else "unchanged")
                return Rewrite([*out_headers, self.rendered()], query, "added")
            if all(any(header_carries(v, r) for r in (real, *siblings)) for v in present):
                return Rewrite(out_headers, query, "replaced" if replaced else "unchanged")
            if self.spec.on_mismatch == "block":
                return Rewrite(headers, query, "mismatch")
            name, value = self.rendered()
            kept = [(k, v) for k, v in out_headers if k.lower() != target]
            return Rewrite([*kept, (name, value)], query, "overridden")
        param = self.spec.query
        assert param is not None
        values = [v for k, v in query if k == param]
        if not values:
            if not self.spec.add_if_missing:
                return Rewrite(out_headers, query, "replaced" if replaced else "unchanged")
            return Rewrite(out_headers, [*query, (param, real)], "added")
        if all(v in (ph, real, *siblings) for v in values):
            out_query = [(k, real if k == param and v == ph else v) for k, v in query]
            changed = replaced or out_query != query
            return Rewrite(out_headers, out_query, "replaced" if changed else "unchanged")
        if self.spec.on_mismatch == "block":
            return Rewrite(headers, query, "mismatch")
        out_query = [(k, v) for k, v in query if k != param] + [(param, real)]
        return Rewrite(out_headers, out_query, "overridden")

    def restore(self, headers: Pairs, query: Pairs) -> tuple[Pairs, Pairs]:
        """The reverse of `apply` for what is kept of a sent request: real -> placeholder."""
        values = (self.value, *self.retired)
        out_h = headers
        for real in values:
            out_h = [(k, replace_in_header(v, real, self.placeholder)) for k, v in out_h]
        out_q = [(k, self.placeholder if v in values else v) for k, v in query]
        return out_h, out_q


@dataclass(frozen=True)
class CredentialTable:
    """An immutable snapshot of a bottle's credentials; swapped whole on reload or refresh."""

    credentials: tuple[ActiveCredential, ...] = ()
    by_host: Mapping[str, tuple[ActiveCredential, ...]] = field(default_factory=dict)
    _detect: tuple[tuple[bytes, ActiveCredential], ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, creds: Sequence[ActiveCredential]) -> CredentialTable:
        by_host: dict[str, list[ActiveCredential]] = {}
        for c in creds:
            by_host.setdefault(c.spec.host, []).append(c)
        detect = sorted(((form, c) for c in creds for form in c.detect), key=lambda x: -len(x[0]))
        return cls(tuple(creds), {h: tuple(v) for h, v in by_host.items()}, tuple(detect))

    def __bool__(self) -> bool:
        return bool(self.credentials)

    @functools.cached_property
    def placeholder_values(self) -> frozenset[str]:
        return frozenset(c.placeholder for c in self.credentials)

    def for_host(self, host: str) -> tuple[ActiveCredential, ...]:
        return self.by_host.get(host, ())

    def find(self, data: bytes) -> ActiveCredential | None:
        """The credential whose placeholder (raw, URL-encoded, base64 or hex) is in `data`."""
        for form, cred in self._detect:
            if form in data:
                return cred
        return None

    def find_text(self, text: str) -> ActiveCredential | None:
        return self.find(text.encode("utf-8", "surrogateescape"))

    def find_in_name(self, name: str) -> ActiveCredential | None:
        """Like `find`, ignoring case: for host names (DNS folds case)."""
        folded = name.lower().encode("utf-8", "surrogateescape")
        for form, cred in self._detect:
            if form.lower() in folded:
                return cred
        return None


def verified_host(scheme: str, connect_host: str | None, request_host: str, sni: str | None,
                  host_header: str | None) -> str | None:
    """The destination when every name the request is routed by agrees (CONNECT target or
    server address, request host, Host/:authority and, for HTTPS, the TLS SNI the upstream
    certificate is verified against); None otherwise. All names already normalised."""
    names = [request_host, host_header]
    if connect_host is not None:
        names.append(connect_host)
    if scheme == "https":
        names.append(sni)
    first = names[0]
    if not first or any(n != first for n in names):
        return None
    return first


def misplaced(table: CredentialTable, matched: Collection[str], headers: Pairs, path: str,
              query: Pairs, body: bytes) -> tuple[ActiveCredential, str] | None:
    """The first placeholder found where it must not go, and where: in a header unless its
    credential (or one sharing its placeholder) is `matched` for this request, in the path, in
    a query parameter other than its own credential's, in the body."""
    allowed = {c.placeholder for c in table.credentials if c.name in matched}
    for k, v in headers:
        for text in header_texts(v):
            hit = table.find_text(text)
            if hit is not None and hit.placeholder not in allowed:
                return hit, f"request.headers.{k.lower()}"
    hit = table.find_text(path)
    if hit is not None:
        return hit, "request.path"
    for k, v in query:
        hit = table.find_text(v) or table.find_text(k)
        own = any(c.spec.query == k and c.placeholder == hit.placeholder and c.name in matched
                  for c in table.credentials) if hit is not None else False
        if hit is not None and not own:
            return hit, "request.query"
    hit = table.find(body) if body else None
    if hit is not None:
        return hit, "request.body"
    return None


def overwritten_headers(table: CredentialTable, dest: str, scheme: str, path: str) -> frozenset[str]:
    """Lower-case names of the headers the credentials for `dest` will overwrite on this
    request (policy `on_mismatch: override`): whatever the agent put there never leaves the
    bottle, so other scanners need not judge it."""
    return frozenset(
        c.spec.target_header.lower() for c in table.for_host(dest)
        if c.spec.target_header and c.spec.on_mismatch == "override" and c.applies(scheme, path))
