"""Generic rules know code: a value found by its name (`password = ...`) is a secret only when it
is a literal that looks like one (`egress/scan/dlp/rules/literals.py`). Code that merely names a secret,
documentation stand-ins and references pass; literal secrets in code, config and logs do not;
random values of every usual alphabet and length pass the value gate."""

from __future__ import annotations

import random
import string

import pytest

from benchmarks.agent_corpus import sources
from egress.scan.dlp.rules import literals
from egress.sources.dlp_catalogue import dlp_engine

ENGINE = dlp_engine()
GENERIC = {"generic-secret-assignment", "xml-secret-element", "secret-name-value-pair"}

CODE = [
    "token = self._fp.read(1)[0]",
    "password = getpass.getpass()",
    "api_key = os.environ['API_KEY']",
    "secret = settings.SECRET_KEY",
    "MLKEM768X25519PrivateKey = rust_openssl.hpke.MLKEM768X25519PrivateKey",
    "def add_signer(self, private_key: PKCS7PrivateKeyTypes, hash_algorithm: HashTypes):",
    "token_response = OAuthToken.model_validate_json(content)",
    '    >>> connect(user="hans", passwd=\'geheim$parole\')',
    "model = Model(password='IAmSensitive', password_bytes=b'IAmSensitiveBytes')",
    'api_key = "sha256:6e03c7e49846d1f2"',
    "DB_PASSWORD=vault:secret/data/app#db_password",
    "client_secret: ${{ secrets.CLIENT_SECRET }}",
    'password: "{{ .Values.db.password }}"',
    "SUMO_ACCESS_KEY: AbCeFG123",
    'auth_token = f"{prefix}{uuid4().hex}"',
    "secret_key = get_secret_key_from_env()",
    "const apiKey = process.env.API_KEY_VALUE;",
    "access_key = request.headers.get('X-Access-Key')",
    "password = 'correct horse battery staple'",
    "TOKEN_URL = 'https://oauth2.googleapis.com/token'",
    "2025-04-12T03:38:28.453Z INFO token refresh at 03:38:28.453Z",
]
LITERALS = [
    'password = "Tundra@9422Orbit307"',
    "export API_SECRET=7d33b9bef6789b8f88318f33db302836",
    'apiKey := "Zq81kX0p77Wnuu2RLm4TvB9"',
    '{"content":"apiKey := \\"Zq81kX0p77Wnuu2RLm4TvB9\\""}',
    "<password>Kp8vQ2mX7tR4zW9n</password>",
    "- name: DB_PASSWORD\n  value: hQu7kkbL6TWWbgBN",
    "2025-06-01T10:00:00Z [DEBUG] Using API_KEY=f4K9mQ2xR7tW1zB8nC3vL6pY0sD5hJ2g",
    "client_secret: T3JiaXQjNTg3M0NvcHBlcjIyNw==",
]


@pytest.mark.parametrize("text", CODE)
def test_code_that_names_a_secret_is_not_a_secret(text: str) -> None:
    assert [m.rule for m in ENGINE.scan(text, "t")] == []


@pytest.mark.parametrize("text", LITERALS)
def test_literal_secrets_in_code_config_and_logs_are_found(text: str) -> None:
    assert {m.rule for m in ENGINE.scan(text, "t")} & GENERIC, text


def test_random_values_of_every_alphabet_pass_the_value_gate() -> None:
    """The gates are about code and prose: random values (what secrets are) get through,
    whatever their alphabet and length."""
    rng = random.Random(11)
    alnum = string.ascii_letters + string.digits
    alphabets = [string.hexdigits[:16], alnum, string.ascii_lowercase + string.digits, alnum + "+/",
                 alnum + "!#%*+-.=@^_~"]
    values = ["".join(rng.choice(a) for _ in range(rng.randint(12, 64)))
              for a in alphabets for _ in range(600)]
    passed = sum(literals.is_secret_literal(v) for v in values)
    assert passed / len(values) >= 0.985, passed / len(values)


def test_standard_library_source_is_not_flagged_by_generic_rules() -> None:
    """Real benign code (the interpreter's standard library, the half the detection
    benchmark tunes on): the generic rules flag at most one file in 200."""
    files = sources("dev")
    flagged = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = {m.rule for m in ENGINE.scan(text, "t")} & GENERIC
        if found:
            flagged.append(f"{path.name}: {found}")
    assert len(flagged) <= len(files) // 200, flagged
