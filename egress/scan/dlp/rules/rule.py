"""One DLP rule of the catalogue and the gates a value must pass to be reported by it:
the rule's validator (checksum, decode), documentation/test example markers, entropy, and
the named checks below (literal-ness of generic values, password plausibility, key names).
Pure: rules are built from an already parsed catalogue (`egress.scan.dlp.rules.catalogue`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from egress.scan.dlp.prefilter.protocol import RuleSource
from egress.scan.dlp.rules import literals
from egress.scan.dlp.rules import validators as v
from egress.scan.dlp.rules import value_gates as gates

DEFAULT_MAX_LENGTH = 512
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
        return RuleSource(self.regex.pattern, self.anchors, self.prefilter, split_anchors=split,
                          max_length=self.max_length)

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
            if gates.is_template(value):
                return None
            if gates.is_example(value):
                if self.generic:
                    return None
                if gates.is_documentation_key(value) or not self._still_a_key(gates.example_residue(value)):
                    return "example"
        if not confirmed and self.entropy and gates.shannon_entropy(_body(value)) < self.entropy:
            return None
        for check in self.checks:
            if not CHECKS[check](value, match, self):
                return None
        return "confirmed" if confirmed else "found"

    def _still_a_key(self, residue: str) -> bool:
        """Whether what is left of an example-looking value without its markers is still a
        key of this rule: a real key with `EXAMPLE` glued to it is not an example."""
        m = self.regex.search(residue)
        if m is None:
            return False
        value = (m.group("secret") if self.has_secret_group else None) or m.group(0)
        return not (self.entropy and gates.shannon_entropy(_body(value)) < self.entropy)


def _body(value: str) -> str:
    """A token without its fixed prefix (`ghp_`, `sk-ant-api03-`): what entropy is about."""
    m = re.match(r"^[A-Za-z0-9]{1,12}(?:[_.-][A-Za-z0-9]{1,8}){0,2}[_.-]", value)
    return value[m.end():] if m and len(value) - m.end() >= 8 else value


def _generic_value(value: str, match: re.Match[str], rule: Rule) -> bool:
    """A value found by its name is a secret when it is a literal (not an expression, call,
    attribute access, interpolation or type name), not a stand-in of documentation, and as
    random as a random string of its length and alphabet (`egress.scan.dlp.rules.literals`)."""
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
    if len(value) < 6 or value.lower() in gates.COMMON_PASSWORDS:
        return False
    if value.startswith(("$", "%", "{{", "<", "*", *literals.DIGEST_PREFIXES)) or "${" in value:
        return False
    if literals.looks_like_code(value) or literals.is_reference(value):
        return False
    user = match.groupdict().get("user")
    return value != user and gates.shannon_entropy(value) >= 2.0


_NOT_SECRET_INFIXES = ("csrf", "xsrf", "nonce", "cursor", "pagination", "authenticity", "tokens")


def _secret_key_name(value: str, match: re.Match[str], rule: Rule) -> bool:
    key = match.groupdict().get("key") or ""
    parts = {p.lower() for p in _KEY_PARTS.findall(key)}
    return not parts & _NOT_SECRET_NAMES and not any(x in key.lower() for x in _NOT_SECRET_INFIXES)


def _letter_digit(value: str, match: re.Match[str], rule: Rule) -> bool:
    return gates.has_letter_and_digit(_body(value))


def _not_identifier(value: str, match: re.Match[str], rule: Rule) -> bool:
    return not gates.is_identifier(_body(value))


CHECKS = {
    "generic_value": _generic_value,
    "password_value": _password_value,
    "secret_key_name": _secret_key_name,
    "letter_digit": _letter_digit,
    "not_identifier": _not_identifier,
}
