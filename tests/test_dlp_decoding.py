"""The DLP decoders, body parsing and split rebuilding on plain data (the live-proxy tests are
in tests/test_dlp_decoding_e2e.py): fuzzed multipart bodies and character sets that must
always give the secret up, the documented limits of split rebuilding, DER key detection,
and clean traffic that must stay quiet (no finding, no exhausted budget)."""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import random
import textwrap

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.agent_corpus import body, prose, source_excerpt
from egress.policy.loader import parse_policy
from egress.redact import KnownSecrets
from egress.scan import binary
from egress.scan.dlp.bodies import media_type, multipart
from egress.scan.dlp.engine import DLPEngine
from egress.scan.dlp.results import ScanContext
from egress.scan.dlp.splits import NEAR, SMALL_MESSAGE, split_windows
from egress.sources.dlp_catalogue import dlp_engine
from tests.test_dlp_e2e import KNOWN, SECRET

ENGINE = dlp_engine()
RAW = SECRET.encode()
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def body_rules(body: bytes, content_type: str | None, engine: DLPEngine = ENGINE,
               ctx: ScanContext | None = None) -> set[str]:
    return {m.rule for m in engine.scan_body(body, content_type, "body", ctx or ScanContext())}


# -- multipart, fuzzed (17.5) ---------------------------------------------------------------

BOUNDARY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=?"
boundaries = st.text(BOUNDARY_CHARS, min_size=1, max_size=40).filter(lambda b: not b.endswith(" "))
words = st.text("abcdefghij klmnop\r\n", max_size=60)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A multipart body with the secret somewhere in it, and the Content-Type it is sent
    with: random (and duplicate, and wrong) boundaries, preamble and epilogue, nested
    parts, transfer encodings, CRLF or LF, a missing closing delimiter."""
    boundary = draw(boundaries)
    newline = draw(st.sampled_from(["\r\n", "\n"]))
    where = draw(st.sampled_from(["preamble", "epilogue", "part", "header", "filename", "nested",
                                  "base64-part", "qp-part"]))
    secret_text = f"token {SECRET} end"

    def part(content: str, headers: list[str] | None = None, name: str = "f") -> str:
        head = [f'Content-Disposition: form-data; name="{name}"', *(headers or [])]
        return newline.join(head) + newline + newline + content

    parts = [part(draw(words), name=f"p{i}") for i in range(draw(st.integers(0, 3)))]
    special = {
        "part": lambda: part(secret_text),
        "header": lambda: part("x", [f"X-Note: {secret_text}"]),
        "filename": lambda: part("x").replace('name="f"', f'name="f"; filename="{SECRET}.txt"'),
        "nested": lambda: part(f"--inner{newline}{part(secret_text)}{newline}--inner--",
                               ["Content-Type: multipart/mixed; boundary=inner"]),
        "base64-part": lambda: part(newline.join(textwrap.wrap(b64(secret_text.encode()), 76)),
                                    ["Content-Transfer-Encoding: base64"]),
        "qp-part": lambda: part("".join(f"={b:02X}" for b in secret_text.encode()),
                                ["Content-Transfer-Encoding: quoted-printable"]),
    }
    if where in special:
        parts.insert(draw(st.integers(0, len(parts))), special[where]())
    delimiter = f"--{boundary}"
    body = "".join(f"{delimiter}{newline}{p}{newline}" for p in parts)
    if draw(st.booleans()):
        body += f"{delimiter}--{newline}"
    if where == "preamble" or draw(st.booleans()):
        body = (f"preamble {secret_text}" if where == "preamble" else draw(words)) + newline + body
    if where == "epilogue":
        body += f"epilogue {secret_text}{newline}"
    declared = draw(st.sampled_from(["same", "wrong", "duplicate-first", "duplicate-second", "quoted",
                                     "missing"]))
    header = {"same": f'boundary="{boundary}"', "wrong": "boundary=not-the-one",
              "duplicate-first": f'boundary="{boundary}"; boundary=other',
              "duplicate-second": f'boundary=other; boundary="{boundary}"',
              "quoted": f'boundary="{boundary}"', "missing": "charset=utf-8"}[declared]
    return body.encode(), f"multipart/form-data; {header}"


@FUZZ
@given(multipart_bodies())
def test_fuzzed_multipart_bodies_always_give_the_secret_up(case: tuple[bytes, str]) -> None:
    body, content_type = case
    assert "github-token" in body_rules(body, content_type), (content_type, body[:300])


def test_media_type_keeps_every_boundary_and_multipart_reports_framing_problems() -> None:
    media = media_type('multipart/form-data; boundary="a;b"; boundary=c; charset=utf-8')
    assert media.type == "multipart/form-data" and media.all("boundary") == ["a;b", "c"]
    clean = multipart(b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--x--\r\n", "x")
    assert [p.content for p in clean.parts] == [b"v"] and clean.problems == []
    messy = multipart(b"pre\r\n--x\r\nno headers here\r\n--x--\r\npost", "x")
    assert set(messy.problems) == {"preamble", "part without headers", "epilogue"}
    assert multipart(b"--y\r\n\r\nv", "x").problems == ["boundary not found"]


# -- character sets, fuzzed (17.15) ---------------------------------------------------------

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
             "utf-32-be", "latin-1", "cp1252", "utf-7"]
LABELS = [None, "utf-8", "utf-16", "utf-16le", "utf-16be", "utf-32", "latin-1", "utf-7", "zlib",
          "x-unknown", "ascii"]


@FUZZ
@given(st.sampled_from(ENCODINGS), st.sampled_from(LABELS), st.booleans(),
       st.text("abc def\n", max_size=200), st.text("xyz \t", max_size=200))
def test_fuzzed_charsets_always_give_the_secret_up(actual: str, label: str | None, as_json: bool,
                                                   before: str, after: str) -> None:
    """Whatever the body is encoded in and whatever its Content-Type says (right, wrong,
    bogus, nothing), the secret is found."""
    text = json.dumps({"a": before, "b": f"token {SECRET}", "c": after}) if as_json \
        else f"{before} {SECRET} {after}"
    media = "application/json" if as_json else "text/plain"
    content_type = media if label is None else f"{media}; charset={label}"
    assert "github-token" in body_rules(text.encode(actual), content_type), (actual, label)


def test_utf16_and_utf32_without_a_bom_are_recognised_by_their_nul_pattern() -> None:
    text = f"a long enough text with {SECRET} inside"
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        assert binary.utf16_encoding(text.encode(encoding)) == encoding
        assert body_rules(text.encode(encoding), None) == {"github-token"}
    assert binary.utf16_encoding(random.Random(1).randbytes(4096)) is None
    assert binary.utf16_encoding(b"plain ascii text, no NULs at all") is None


# -- splits (17.14): the documented reach --------------------------------------------------

def split_found(parts: list[str], ctx: ScanContext | None = None) -> bool:
    matches = ENGINE._split([("body", p) for p in parts], ctx or ScanContext(), "body")
    return any(m.rule in ("github-token", "known-secret", "prefixed-sk-key") for m in matches)


def test_splits_within_the_documented_reach_are_rebuilt() -> None:
    filler = [f"unrelated value {i}" for i in range(200)]
    assert split_found(["gh", SECRET[2:]])                                  # prefix cut
    assert split_found([SECRET[i:i + 3] for i in range(0, len(SECRET), 3)])  # 14 pieces
    assert split_found(["x" * 5000 + " " + SECRET[:10], SECRET[10:]])        # long first part
    assert split_found([SECRET[:20], *filler[:SMALL_MESSAGE - 2], SECRET[20:]])  # any two parts
    assert split_found([*filler[:50], SECRET[:20], *filler[:NEAR - 1], SECRET[20:], *filler[:50]])
    assert split_found(["gh", *filler, SECRET[2:]])                          # a cut anchor, anywhere
    known = KnownSecrets()
    known.add("deploy-key", KNOWN)
    ctx = ScanContext(known=known)
    assert split_found(["dep", *filler[:30], KNOWN[3:]], ctx)                # a known secret, cut early
    assert split_found([KNOWN[:12], *filler[:30], KNOWN[12:]], ctx)


def test_split_limits_are_as_documented() -> None:
    """The limits docs/bypass-resistance.md states (rows 17.14k-17.14m): if one of these
    starts passing, the reach was widened and the document should say so."""
    filler = [f"unrelated value {i}" for i in range(200)]
    # In a message of more than SMALL_MESSAGE parts, halves more than NEAR parts apart.
    assert not split_found([SECRET[:20], *filler[:NEAR + 5], SECRET[20:], *filler])
    # Halves each encoded on their own (base64 of each half): no token prefix to anchor on.
    assert not split_found([b64(SECRET[:20].encode()), b64(SECRET[20:].encode())])
    # A token whose first half carries no anchor and is cut in a message of many parts.
    assert not split_found([SECRET[4:20], *filler, "ghp_" + SECRET[20:]])
    # Between non-adjacent parts, a prefix cut whose longer half is two letters.
    sk_token = "sk-" + "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY"
    assert split_found(["sk", sk_token[2:]])
    assert not split_found(["sk", *filler[:5], sk_token[2:]])


def test_split_windows_are_capped_and_the_cap_is_a_finding() -> None:
    parts = [f"ghp_{i:04d}" for i in range(60)]  # 60 unfinished tokens, each glued to 59 others
    windows = split_windows(parts, ENGINE.prefilter, [], 1024, cap=4096)
    assert windows.exhausted and windows.size <= 4096
    matches = ENGINE._split([("body", p) for p in parts], ScanContext(), "body")
    assert not any(m.rule == "decode-budget-exhausted" for m in matches)  # default cap is larger
    tiny = ENGINE.scan_parts([("h", p) for p in parts * 40], ScanContext())
    assert {(m.rule, m.action) for m in tiny} <= {("decode-budget-exhausted", "block")}


def test_websocket_messages_keep_unfinished_tokens_for_later_messages() -> None:
    stream = ENGINE.stream("websocket.client", ScanContext(), 4096, messages=True)
    assert stream.feed(f"first half {SECRET[:20]}".encode()) == []
    for i in range(10):
        assert stream.feed(f"message {i} ".encode() + b"lorem ipsum " * 100) == []
    assert [m.rule for m in stream.feed(f"{SECRET[20:]} second half".encode())] == ["github-token"]
    as_json = ENGINE.stream("websocket.client", ScanContext(), 4096, messages=True)
    assert as_json.feed(json.dumps({"a": "gh"}).encode()) == []
    assert as_json.feed(b"x" * 8000) == []
    assert [m.rule for m in as_json.feed(json.dumps({"b": SECRET[2:]}).encode())] == ["github-token"]


# -- decoders (17.15) ------------------------------------------------------------------------

def test_der_private_keys_are_found_and_public_keys_and_certificates_are_not() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys: list[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey] = [
        rsa_key, ec_key, ed25519.Ed25519PrivateKey.generate()]
    formats = [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL,
               serialization.PrivateFormat.OpenSSH]
    for key in keys:
        for fmt in formats:
            traditional = fmt is serialization.PrivateFormat.TraditionalOpenSSL
            if isinstance(key, ed25519.Ed25519PrivateKey) and traditional:
                continue  # no such format for Ed25519
            pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
            inner = "\n".join(line for line in pem.splitlines() if not line.startswith("-----"))
            assert ENGINE.scan(inner, "t")[0].rule == "private-key", (key, fmt)
            der = base64.b64decode("".join(inner.split()))
            assert ENGINE.scan(der.hex(), "t")[0].rule == "private-key"
            if len(der) >= 200:  # half a key (an Ed25519 key is 48 bytes in all)
                assert ENGINE.scan(b64(der[: len(der) // 2]), "t")[0].rule == "private-key"
    encrypted = rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"pass"))
    assert binary.der_private_key(encrypted) == "ENCRYPTED PRIVATE KEY"
    public = ec_key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(ec_key.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime(2024, 1, 1))
            .not_valid_after(datetime.datetime(2030, 1, 1))
            .sign(ec_key, hashes.SHA256()))
    for blob in (public, cert.public_bytes(serialization.Encoding.DER)):
        assert binary.der_private_key(blob) is None
        assert not ENGINE.scan(b64(blob), "t")


def test_compressed_payloads_inside_layers_are_inflated_within_the_budget() -> None:
    assert {m.rule for m in ENGINE.scan(b64(gzip.compress(RAW)), "t")} == {"github-token"}
    assert {m.rule for m in ENGINE.scan(gzip.compress(RAW).hex(), "t")} == {"github-token"}
    bomb = b64(gzip.compress(b"\0" * (64 * 1024 * 1024)))  # inflates past any budget
    assert [(m.rule, m.action) for m in ENGINE.scan(bomb, "t")] == [("decode-budget-exhausted", "block")]
    assert body_rules(gzip.compress(b"payload " + RAW), "application/octet-stream") == {"github-token"}


def test_html_references_wrapped_base64_and_marks() -> None:
    for text in ("".join(f"&#x{ord(c):x};" for c in SECRET),
                 SECRET[:4] + "".join(f"&#{ord(c)};" for c in SECRET[4:9]) + SECRET[9:],
                 SECRET.replace("_", "&lowbar;"),
                 "\r\n".join(textwrap.wrap(b64(b"key: " + RAW), 76)),
                 json.dumps("\n".join(textwrap.wrap(b64(RAW), 8))),
                 SECRET[:6] + "\u0301" + SECRET[6:],
                 "".join(c + "\u0300" for c in SECRET),
                 "ghṕ_" + SECRET[4:]):
        assert "github-token" in {m.rule for m in ENGINE.scan(text, "t")}, text[:60]


# -- clean traffic stays quiet ---------------------------------------------------------------

def test_clean_agent_traffic_finds_nothing_and_exhausts_nothing() -> None:
    rng = random.Random(5)
    bodies = [body(10_000, seed) for seed in range(20)] + [body(400_000, 20)]
    for request in bodies:
        assert ENGINE.scan_body(request, "application/json") == []
    text = "\n".join(prose(rng, 2) + "\n" + source_excerpt(rng, "all")[1] for _ in range(100))
    assert ENGINE.scan(text, "t") == []
    image = {"type": "image", "source": {"type": "base64", "data": b64(rng.randbytes(3_000_000))}}
    assert ENGINE.scan_body(json.dumps(image).encode(), "application/json") == []
    page = "<p>Tom &amp; Jerry &lt;3 &nbsp; caf&eacute; &#8212; &#x27;quoted&#x27;</p>\n" * 200
    assert ENGINE.scan(page, "t") == []
    code = "printf(\"%s: %d%%\\n\", name, pct); url = '/a%20b?x=%2F'; s = \"\\u00e9\\/x\"\n" * 200
    assert ENGINE.scan(code, "t") == []
    # A large text with a couple of `=XX` in it is no quoted-printable text: decoding it whole
    # (as it was) cost its own length of budget, and base64 of text in it then ran out.
    small_budget = dlp_engine(parse_policy("dlp: {decode: {budget: 64KiB}}").dlp)
    files = [b64(f"line {i}: some file content to upload\n".encode() * 40) for i in range(60)]
    doc = json.dumps({"query": "a=12&b=34&c=5F", "files": files})
    assert small_budget.scan(doc, "t") == []
