"""Is the value after a secret-sounding name a secret, or code and prose?

Generic DLP rules find values by their name (`password = ...`, `"api_key": ...`). In source
code most such values are not secrets: expressions (`token = self._fp.read(1)[0]`), calls,
attribute accesses (`settings.SECRET_KEY`), interpolations, type names, and the made-up values
of documentation (`passwd='geheim$parole'`). These gates decide from the value and the text
right around it; pure functions, no knowledge of where the text was found.

The randomness gate compares a value's Shannon entropy with what a random string of the same
length over the same alphabet has on average (hex, digits, lower/upper alphanumerics,
alphanumerics, base64, printable with symbols): a fixed bits-per-character bar rejects short
hex keys and accepts long words alike.
"""

from __future__ import annotations

import math
import re
import string
import urllib.parse
from functools import cache

from egress.scan.dlp.rules.value_gates import (
    COMMON_PASSWORDS,
    base64_text,
    is_identifier,
    is_placeholder,
    shannon_entropy,
)
from egress.scan.hostnames.bigrams import BIGRAM_LOG2

# Entropy may fall RANDOM_SPREAD / sqrt(length) bits below the random expectation: the spread
# of random strings' entropy shrinks with their length, and at this bar about 3 in 1,000
# random strings of 8-64 characters over any of the alphabets fall short (simulated; the
# first percentile is near 2.0 / sqrt(length), the 0.1th near 2.8 / sqrt(length)).
RANDOM_SPREAD = 2.5

_HEX = frozenset(string.hexdigits)
_B64 = frozenset(string.ascii_letters + string.digits + "+/=_-")
_NAME = r"[A-Za-z_$][\w$]*"
_DOTTED = re.compile(rf"{_NAME}(?:\.{_NAME})+")
_OBJECTS = ("self.", "this.", "cls.", "os.", "process.", "request.", "req.", "config.", "conf.",
            "settings.", "env.", "ctx.", "context.", "args.", "kwargs.", "options.", "opts.",
            "props.", "params.", "window.", "document.", "vars.", "secrets.", "inputs.", "data.")
# Words that stand for a secret in examples ("password123", "my-secret-token").
_STAND_INS = COMMON_PASSWORDS | {"secret", "secrets", "token", "tokens", "key", "apikey", "passw0rd",
                                 "p4ssw0rd", "pa55word", "s3cret", "s3cr3t", "hunter", "mysecret",
                                 "supersecret", "topsecret", "my", "your", "some", "foo", "bar",
                                 "dev", "local", "demo"}
_WORD = re.compile(r"[A-Za-z]+")
_PIECES = re.compile(r"[^A-Za-z0-9]+")


_COMMON_WORDS = COMMON_PASSWORDS | {"true", "false", "null", "none", "nil", "undefined", "key"}
_NUMBERISH = re.compile(r"^[\d.:/+-]+$")
_LOWER_WORDS = re.compile(r"^[a-z]+(?:[._/-][a-z]+)*$")
# From the start of a run of digits only: searched, `\d+` from every digit of a long run
# walked the rest of it (same answer: whether a version number occurs).
_VERSION = re.compile(r"(?<!\d)\d+\.\d+\.\d+")
_TIMEISH = re.compile(r"^[\d:.TZ+-]+$")
# Where a secret is kept, not the secret: Vault paths, 1Password and cloud secret-manager
# references, Kubernetes secret references.
_REFERENCES = ("vault:", "op://", "arn:aws:secretsmanager:", "arn:aws:ssm:", "ssm:", "secretsmanager:",
               "projects/", "akv://", "keyvault:", "azurekeyvault:", "gcp-secret:", "sops:", "secret://",
               "secretref:", "file:", "env:", "cmd:")


def is_reference(value: str) -> bool:
    if "%" in value:
        value = urllib.parse.unquote(value)
    return value.lower().startswith(_REFERENCES)


def is_secret_literal(value: str) -> bool:
    """The value of a generic rule (found by its name) reads as a secret: long enough, not a
    placeholder, template, reference, code, name, path, URL, number, time or version, not
    a documentation stand-in, and random enough. URL-encoded values are judged decoded, and a
    base64 value that decodes to text (a Kubernetes `data:` value) is judged by that text."""
    if "%" in value:
        value = urllib.parse.unquote(value)
    if not _literal(value):
        return False
    decoded = base64_text(value)
    return decoded is None or _literal(decoded)


def _literal(value: str) -> bool:
    if len(value) < 8 or is_identifier(value) or value.lower() in _COMMON_WORDS:
        return False
    if value.startswith(("$", "%", "{", "<", "@", "#", "http://", "https://", "/", "./", "../", "~/",
                         *DIGEST_PREFIXES)):
        return False
    if _NUMBERISH.match(value) or _LOWER_WORDS.match(value) or _VERSION.search(value):
        return False
    if _TIMEISH.match(value) or is_placeholder(value) or is_reference(value) or looks_like_code(value):
        return False
    letters = any(c.isalpha() for c in value)
    other = any(c.isdigit() for c in value) or not value.isalnum() or (
        value != value.lower() and value != value.upper())
    if not (letters and other) or is_stand_in(value) or is_code_name(value):
        return False
    return random_enough(value)


def alphabet_size(value: str) -> int:
    """The alphabet a random value like this one would be drawn from."""
    chars = set(value)
    if chars <= set(string.digits):
        return 10
    if chars <= _HEX and (value == value.lower() or value == value.upper()):
        return 16
    if value.isalnum() and value.isascii():
        if value == value.lower() or value == value.upper():
            return 36
        return 62
    if chars <= _B64:
        return 64
    return 72


@cache
def expected_entropy(n: int, k: int) -> float:
    """Mean Shannon entropy (bits per character) of n characters drawn uniformly from k:
    log2(n) minus the expected per-symbol count term, summed over the binomial counts."""
    if n <= 1:
        return 0.0
    p = 1.0 / k
    term = 0.0
    log_pmf = n * math.log1p(-p)  # c = 0
    for c in range(1, n + 1):
        log_pmf += math.log((n - c + 1) / c) + math.log(p) - math.log1p(-p)
        term += math.exp(log_pmf) * c * math.log2(c)
    return math.log2(n) - k * term / n


_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,11}(?:[_.-][A-Za-z0-9]{1,8}){0,2}[_.-](?=.{12})")
_SEPARATORS = re.compile(r"[_.-]")


def random_enough(value: str, spread: float = RANDOM_SPREAD) -> bool:
    """Entropy within `spread / sqrt(length)` of a random string's, judged on the value's
    body: a token prefix (`sk-`, `e2b_`, `amzn.mws.`) and sparse separators (UUID dashes) are
    format, not randomness, and would otherwise move a hex key into a larger alphabet."""
    body = _PREFIX.sub("", value, count=1)
    core = _SEPARATORS.sub("", body)
    if len(body) - len(core) <= len(body) // 6:
        body = core
    n = len(body)
    if n < 2:
        return False
    return shannon_entropy(body) >= expected_entropy(n, alphabet_size(body)) - spread / math.sqrt(n)


def is_stand_in(value: str) -> bool:
    """Made of words and counting digits that stand for a secret in docs and tests:
    `geheim$parole`, `my-secret-token`, `password123`, `Secret_2024`, `AbCeFG123`."""
    pieces = [p for p in _PIECES.split(value) if p]
    if not pieces or _counting_share(value) >= 0.6:
        return True
    words = [w.lower() for p in pieces for w in _WORD.findall(p)]
    digits = "".join(c for c in value if c.isdigit())
    if all(p.isalpha() and len(p) >= 3 and (p.islower() or p.istitle() or p.isupper())
           and (p.isupper() or _pronounceable(p)) for p in pieces):
        return True  # words and separators only
    return bool(words) and all(w in _STAND_INS for w in words) and len(digits) <= 6


_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# Mean letter-bigram log2-likelihood (`egress.scan.hostnames.bigrams`, English words) above
# which the word pieces of a name read as words. Chosen on the standard library's
# identifiers of 8+ characters (91% pass) against random tokens (0.3% of 16-character
# alphanumeric, 1% of hex and 2% of lower-case alphanumeric ones pass).
WORDY = -4.9


def is_code_name(value: str) -> bool:
    """A name a program would use (`PKCS7PrivateKeyTypes`, `IAmSensitive`, `MAX_RETRY_COUNT`):
    an identifier whose camelCase or snake_case pieces cover it and read as words (acronyms
    of up to five capitals and numbers of up to five digits allowed). Random tokens break
    into short pieces and unlikely letter pairs."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return False
    constant = value.upper() == value and "_" in value  # CONSTANT_CASE: words between `_`
    pieces = [p for p in (value.split("_") if constant else _CAMEL.findall(value)) if p]
    digit_groups = [p for p in pieces if p.isdigit()]
    if len(digit_groups) > 2 or any(len(p) > 5 for p in digit_groups):
        return False
    if set(value) <= _HEX and len("".join(digit_groups)) >= 3:
        return False  # a hex string with a few letters that happen to spell something
    total, letters, covered, short = 0.0, 0, 0, 0
    for p in pieces:
        if p.isdigit():
            covered += len(p)
        elif len(p) <= 2 or (not constant and p.isupper() and len(p) <= 5):
            short += 1
            covered += len(p) if len(p) >= 2 else 0
        elif not constant and p.isupper():
            return False  # a run of capitals, not an acronym
        else:
            prev = "^"
            for ch in p.lower():
                total += BIGRAM_LOG2.get(prev + ch, -9.0)
                prev = ch
            total += BIGRAM_LOG2.get(prev + "^", -9.0)
            letters += len(p) + 1
            covered += len(p)
    if letters < 5 or covered < 0.75 * len(value.replace("_", "")) or short > max(2, len(pieces) // 3):
        return False
    return total / letters >= WORDY


def _counting_share(value: str) -> float:
    """Share of characters in runs of three or more counting letters or digits (`AbCeFG123`
    is abc, efg, 123)."""
    low = value.lower()
    covered, run = 0, 1
    for i in range(1, len(low) + 1):
        if i < len(low) and low[i].isalnum() and ord(low[i]) == ord(low[i - 1]) + 1:
            run += 1
            continue
        covered += run if run >= 3 else 0
        run = 1
    return covered / len(value) if value else 0.0


def _pronounceable(word: str) -> bool:
    """A natural-language word has vowels and no long consonant clusters."""
    low = word.lower()
    vowels = sum(c in "aeiouy" for c in low)
    return vowels >= max(1, len(low) // 4) and not re.search(r"[^aeiouy]{5,}", low)


def is_code_expression(text: str, start: int, end: int) -> bool:
    """Whether the unquoted value text[start:end] is an expression: a call or index follows
    (`read(1)[0]`, `get()`), it is an attribute access (`settings.SECRET_KEY`,
    `self._fp.read`), or it is a name on a well-known object (`process.env.X`)."""
    value = text[start:end]
    after = text[end:end + 1]
    if after in ("(", "["):
        return True
    if value.startswith(_OBJECTS) or value.startswith("@"):
        return True
    if _DOTTED.fullmatch(value):
        pieces = value.split(".")
        # `module.attr` / `obj.attr`: a lower-case first name is a module or an object.
        if re.fullmatch(r"_?[a-z][a-z_]*\d?", pieces[0]):
            return True
        return all(len(p.strip("_$")) <= 4 or is_code_name(p.strip("_$")) for p in pieces)
    return False


_CALL_OR_INDEX = re.compile(r"[A-Za-z_$][\w.$]*[(\[].*[)\]]")


def looks_like_code(value: str) -> bool:
    """A whole value that is an expression: a call or an index (`get_token(session)`,
    `os.environ['API_KEY']`, `Optional[str]`) or an attribute access on a module or object
    (`settings.SECRET_KEY`, `process.env.API_KEY`), also URL-encoded."""
    if "%" in value:
        value = urllib.parse.unquote(value)
    if _CALL_OR_INDEX.fullmatch(value):
        return True
    return is_code_expression(value, 0, len(value))


# Digest references are hashes of public things, not secrets.
DIGEST_PREFIXES = ("sha1:", "sha224:", "sha256:", "sha384:", "sha512:", "md5:", "sha256-", "sha384-",
                   "sha512-", "blake2b:", "blake3:")


def literal_end(text: str, start: int, end: int) -> int | None:
    """Where the string literal a value starts ends (the index of its closing quote), or
    None when the value is not quoted or the literal does not close on this line."""
    before = text[start - 1:start]
    if before not in ('"', "'", "`"):
        return None
    close = "\\" + before if text[start - 2:start - 1] == "\\" else before
    stop = text.find(close, end, end + 130)
    if stop < 0 or "\n" in text[end:stop]:
        return None
    return stop


def quoted_whole(text: str, start: int, end: int) -> bool | None:
    """For a value right after a quote: True when the string literal is one word (it closes
    right after the value, or after more symbols such as `;` or `&` that stopped the rule's
    regex), False when it goes on with spaces (prose, a sentence, a format); None when the
    value is not quoted."""
    before = text[start - 1:start]
    if before not in ('"', "'", "`"):
        return None
    close = "\\" + before if text[start - 2:start - 1] == "\\" else before
    stop = text.find(close, end, end + 130)
    if stop < 0:
        return False
    rest = text[end:stop]
    return not any(c.isspace() for c in rest) and "\\n" not in rest
