"""Structural checks a secret format carries with it (the value gates every rule applies
are `egress.scan.dlp.rules.value_gates`).

A validator takes the matched secret and returns:
- `True`  the value is structurally what the rule says (checksum, decode, prefix set);
- `False` it is not: the match is dropped;
- `None`  the format has a check that could not confirm it (GitHub tokens made by test
  generators have no valid CRC): the rule's entropy gate decides alone.

Pure functions over `str`; nothing here knows where the value was found.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from collections.abc import Callable

from egress.scan.dlp.rules.literals import is_secret_literal
from egress.scan.dlp.rules.value_gates import COMMON_PASSWORDS, is_placeholder, shannon_entropy

Validator = Callable[[str], bool | None]

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def github_checksum(token: str) -> bool | None:
    """ghp_/gho_/ghu_/ghs_/ghr_: base62(CRC32(30 random chars)) is the last 6 characters.

    A valid checksum confirms the token; an invalid one leaves the decision to entropy,
    because generated test tokens and fixtures rarely carry one.
    """
    body = token[4:40]
    if len(body) != 36:
        return None
    n = zlib.crc32(body[:30].encode())
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    return True if digits.rjust(6, "0") == body[30:] else None


def luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# (prefixes, lengths): the major issuers' IIN ranges.
_ISSUERS: list[tuple[tuple[str, ...], tuple[int, ...]]] = [
    (("4",), (13, 16, 19)),                                                   # Visa
    (tuple(str(p) for p in range(51, 56)) + tuple(str(p) for p in range(2221, 2721)), (16,)),  # Mastercard
    (("34", "37"), (15,)),                                                    # Amex
    (("6011", "65", *tuple(str(p) for p in range(644, 650))), (16, 19)),      # Discover
    (tuple(str(p) for p in range(3528, 3590)), (16, 19)),                     # JCB
    (("36", "38", "39", *tuple(str(p) for p in range(300, 306))), (14, 16, 19)),  # Diners
    (("62",), (16, 17, 18, 19)),                                              # UnionPay
]


# How card numbers are printed when they are grouped: fours (the last group shorter for 13, 17,
# 18 and 19 digits), 4-6-5 (Amex) and 4-6-4 (Diners). Numbers that happen to pass Luhn in a
# log line (`page=48512 200 40226`) are grouped otherwise.
_CARD_GROUPS = re.compile(r"\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{4,5}")


def payment_card(value: str) -> bool:
    """Luhn checksum and a known issuer prefix with that issuer's length; separators only
    where cards are printed with them."""
    digits = "".join(c for c in value if c.isdigit())
    if len(set(digits)) < 2:
        return False
    if len(digits) != len(value) and not _CARD_GROUPS.fullmatch(value):
        return False
    for prefixes, lengths in _ISSUERS:
        if len(digits) in lengths and digits.startswith(prefixes):
            return luhn(digits)
    return False


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban(value: str) -> bool:
    """Country length table and the ISO 13616 mod-97 check."""
    compact = re.sub(r"[\s-]", "", value).upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    if len(set(compact[4:])) < 4:
        return False
    moved = compact[4:] + compact[:4]
    numeric = "".join(str(int(c, 36)) for c in moved)
    return int(numeric) % 97 == 1


def _b64url_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def jwt(token: str) -> bool:
    """Header and payload are base64url JSON objects; the header names an `alg`."""
    parts = token.split(".")
    if len(parts) not in (3, 5):
        return False
    try:
        header, payload = _b64url_json(parts[0]), _b64url_json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header and isinstance(payload, dict)


_PEM_HEADER = re.compile(r"^[A-Za-z-]+:.*$", re.MULTILINE)


def pem_private_key(block: str) -> bool | None:
    """The body between BEGIN and END (or to the end of a truncated block) is base64 that
    decodes to DER (a SEQUENCE), an OpenSSH key, or an OpenPGP packet: confirmed. A long,
    random-looking base64 body of another shape still counts (None); an empty, short or
    repetitive body (a header in code or docs) does not."""
    text = block.replace("\\r", "\n").replace("\\n", "\n")
    _head, _, rest = text.partition("-----")
    kind = rest.partition("-----")[0]
    body = rest.partition("-----")[2]
    body = body.split("-----END", 1)[0]
    body = _PEM_HEADER.sub("", body)
    if "PGP" in kind:
        body = re.sub(r"(?m)^=[A-Za-z0-9+/]{4}\s*$", "", body)
    compact = re.sub(r"[^A-Za-z0-9+/=]", "", body)
    if len(compact) < 64:
        return False
    compact = compact[: len(compact) - len(compact) % 4]
    try:
        der = base64.b64decode(compact.rstrip("=") + "=" * (-len(compact.rstrip("=")) % 4))
    except (ValueError, binascii.Error):
        return False
    if "OPENSSH" in kind:
        structured = der.startswith(b"openssh-key-v1\0")
    elif "PGP" in kind:
        structured = bool(der) and der[0] & 0x80 != 0
    else:
        structured = der[:1] == b"\x30"
    if structured:
        return True
    return None if len(compact) >= 128 and shannon_entropy(compact) >= 4.5 else False


# Access key id prefixes: IAM user, role, STS temporary, and the other principal kinds.
AWS_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA",
                    "APKA", "AROA", "ASCA", "A3T")


def aws_key_id(value: str) -> bool | None:
    """A known prefix (the documentation's example ids are left to the example gate); the
    base32 alphabet AWS uses after the prefix confirms it (fixtures often use any digit, so
    that alone decides nothing)."""
    if not value.startswith(AWS_KEY_PREFIXES) or len(value) != 20:
        return False
    return True if all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in value[4:]) else None


def base58check(value: str) -> bool:
    """Base58 with a double-SHA256 checksum (Bitcoin WIF keys, extended keys)."""
    n = 0
    for c in value:
        i = _B58_INDEX.get(c)
        if i is None:
            return False
        n = n * 58 + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\0" * (len(value) - len(value.lstrip("1"))) + raw
    if len(raw) < 5:
        return False
    payload, check = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == check


def wif_key(value: str) -> bool:
    """Wallet Import Format: version 0x80 (mainnet) or 0xEF (testnet), base58check."""
    return base58check(value) and value[:1] in ("5", "K", "L", "9", "c")


def basic_auth_password(value: str) -> str | None:
    """The password of a Basic-auth value (base64 of `user:password`), or None."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = raw.partition(":")
    return password if sep else None


def basic_auth(value: str) -> bool:
    """`Authorization: Basic` credentials: base64 of `user:password` with a real password."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = raw.partition(":")
    if not sep or not re.fullmatch(r"[^\s\"{}:]{0,256}", user) or password == user:
        return False
    return len(password) >= 6 and not is_placeholder(password) and password.lower() not in COMMON_PASSWORDS


def base64_32_bytes(value: str) -> bool:
    """An HMAC-SHA256 signature in base64 (Azure SAS `sig=`), URL-encoded or not."""
    text = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)
    try:
        return len(base64.b64decode(text + "=" * (-len(text) % 4), validate=True)) == 32
    except (ValueError, binascii.Error):
        return False


def discord_bot_token(value: str) -> bool:
    """The first segment is the bot's numeric user id in base64 (webhook URLs pass as is)."""
    if "/api/webhooks/" in value:
        return True
    first = value.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    except (ValueError, binascii.Error):
        return False
    return raw.isdigit() and 15 <= len(raw) <= 21


def crc32_base62(token: str) -> bool | None:
    """GitHub-style checksum (GitHub tokens, npm tokens): the last six characters of the
    36-character body are base62(CRC32(the first thirty)). True when it holds; None
    otherwise (test fixtures rarely compute one), so the rule's entropy gate decides."""
    body = token.split("_", 1)[-1][:36]
    if len(body) != 36:
        return None
    n = zlib.crc32(body[:30].encode())
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    return True if digits.rjust(6, "0") == body[30:] else None


def _b64any(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not."""
    compact = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def b64_json(value: str) -> bool:
    """A token that is base64 of a JSON object (Cloudflare tunnel tokens, Grafana keys)."""
    raw = _b64any(value)
    if raw is None:
        return False
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def pypi_macaroon(token: str) -> bool | None:
    """PyPI / TestPyPI tokens are `pypi-` + base64url of a version-2 macaroon whose location
    field is pypi.org or test.pypi.org; confirmed when it decodes so."""
    raw = _b64any(token.removeprefix("pypi-"))
    if raw is None:
        return None
    return True if raw[:2] == b"\x02\x01" and (b"pypi.org" in raw[:32]) else None


def jenkins_secret(value: str) -> bool:
    """hudson.util.Secret: version byte 1, a 4-byte IV length (16), a 4-byte data length,
    then exactly that much IV and data."""
    raw = _b64any(value)
    if raw is None or len(raw) < 9 + 16 + 16 or raw[0] != 1:
        return False
    iv_len = int.from_bytes(raw[1:5], "big")
    data_len = int.from_bytes(raw[5:9], "big")
    return iv_len == 16 and 9 + iv_len + data_len == len(raw)


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32(value: str) -> bool | None:
    """BIP-173 bech32 checksum (age secret keys: AGE-SECRET-KEY-1...): True when it holds,
    None when it does not (hand-made fixtures), False outside the bech32 alphabet."""
    low = value.lower()
    hrp, sep, data = low.rpartition("1")
    if not sep or not hrp or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return True if chk == 1 else None


_SECRET_KEY_NAME = re.compile(r"pass|secret|token|key|cred|auth|pwd|\.dockerconfigjson|\.pem$|\.p12$|\.jks$",
                              re.IGNORECASE)
_DATA_ENTRY = re.compile(r"([\w.-]{1,100}):[ \t]+([A-Za-z0-9+/]{4,8192}={0,2})")


def kubernetes_data(block: str) -> bool:
    """A Kubernetes Secret `data:` block holds a credential: a value under a secret-like key
    that decodes to a real value (not a template or a stand-in), or a private key."""
    for key, value in _DATA_ENTRY.findall(block.replace("\\n", "\n")):
        raw = _b64any(value)
        if raw is None or len(raw) < 6:
            continue
        if b"PRIVATE KEY-----" in raw:
            return True
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if len(raw) >= 16 and _SECRET_KEY_NAME.search(key):
                return True  # binary key material under a key name
            continue
        if not _SECRET_KEY_NAME.search(key):
            continue
        if is_secret_literal(text):
            return True
    return False


def basic_auth_or_text(value: str) -> bool:
    """.npmrc `_auth` (base64 of user:password) or `_password` (base64 of the password)."""
    if basic_auth(value):
        return True
    raw = _b64any(value)
    if raw is None:
        return False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return (":" not in text and len(text) >= 8 and text.isprintable() and not is_placeholder(text)
            and text.lower() not in COMMON_PASSWORDS and shannon_entropy(text) >= 2.8)


VALIDATORS: dict[str, Validator] = {
    "github_checksum": github_checksum,
    "luhn_issuer": payment_card,
    "iban_mod97": iban,
    "jwt": jwt,
    "pem_private_key": pem_private_key,
    "aws_key_id": aws_key_id,
    "wif": wif_key,
    "base58check": base58check,
    "basic_auth": basic_auth,
    "base64_32_bytes": base64_32_bytes,
    "discord_bot_token": discord_bot_token,
    "crc32_base62": crc32_base62,
    "b64_json": b64_json,
    "pypi_macaroon": pypi_macaroon,
    "jenkins_secret": jenkins_secret,
    "bech32": bech32,
    "kubernetes_data": kubernetes_data,
    "basic_auth_or_text": basic_auth_or_text,
}
