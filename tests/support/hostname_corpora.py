"""Hostname corpora for the scorer's tests and benchmark: real name lists shipped in
tests/data/hostnames (see its README for sources and licences), and deterministic
generators that follow documented formats.

Two splits, by source, never by random names:
- DEV (tuning): benign AWS and GCP endpoint lists, generated legitimate ids (cloud, CDN,
  PaaS, Kubernetes, punycode), and tunnel tools reimplemented from their documented wire
  formats (dnscat2, DNSExfiltrator, a Cobalt-Strike-like DNS beacon, sliver, dnsteal,
  generic chunkers, single-token leaks, short-label chains, digit payloads);
- FINAL (held out, evaluated once): benign Azure and Alibaba endpoint lists and the real
  iodine and dns2tcp captures (scripts/capture-tunnel-names.py).
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "hostnames"

DEV_BENIGN_FILES = ("benign-aws.txt", "benign-gcp.txt")
FINAL_BENIGN_FILES = ("benign-azure.txt", "benign-alibaba.txt")
FINAL_TUNNEL_FILES = ("tunnel-iodine-base32.txt", "tunnel-iodine-base64.txt",
                      "tunnel-iodine-base128.txt", "tunnel-dns2tcp-base64.txt")
# Issue 13 round 3: FINAL_* above were evaluated once in round 1 and are DEV data since;
# these captures were made and frozen before round 3's tuning and are scored once, at its end
FRESH_R3_TUNNEL_FILES = tuple(f"fresh-r3/tunnel-{v}.txt" for v in (
    "iodine-base32-short", "iodine-base64-txt", "iodine-base128-srv", "iodine-base32-mx",
    "dns2tcp-base64-key", "dns2tcp-base64-text"))
# Round 4: FRESH_R3_* were scored once at the end of round 3 and are DEV data since; these
# were captured and frozen before round 4's tuning and are scored once, at its end
FRESH_R4_TUNNEL_FILES = tuple(f"fresh-r4/tunnel-{v}.txt" for v in (
    "iodine-base32-a", "iodine-base64-private", "iodine-base128-null", "iodine-base32-txt",
    "dns2tcp-base64-ssh", "dns2tcp-base64-smtp"))
# Round 5: FRESH_R4_* were scored once at the end of round 4 and are DEV data since; these
# (a third tool, dns-tunnel-messenger, and unused iodine/dns2tcp settings) were captured and
# frozen before round 5's tuning and are scored once, at its end
FRESH_R5_TUNNEL_FILES = tuple(f"fresh-r5/tunnel-{v}.txt" for v in (
    "iodine-base32-srv-deep", "iodine-base64-cname", "dns2tcp-base64-ckey", "messenger-base32",
    "messenger-base64url-key", "messenger-hex"))


def read_names(file: str) -> list[str]:
    lines = (DATA / file).read_text(encoding="ascii").splitlines()
    return [ln for ln in lines if ln and not ln.startswith("#")]


def valid_host(name: str) -> bool:
    """A name an HTTP client could send as a host: letters, digits, `-`, `_`, dots."""
    labels = name.rstrip(".").split(".")
    return len(name.rstrip(".")) <= 253 and all(
        0 < len(lb) <= 63 and all(c.isascii() and (c.isalnum() or c in "-_") for c in lb)
        for lb in labels)


# -- tunnel tools, from their documented formats ----------------------------------------------

def _labels(data: str, size: int = 63) -> str:
    return ".".join(data[i:i + size] for i in range(0, len(data), size))


def _room(domain: str, per_label: int = 63, limit: int = 253) -> int:
    """Characters of encoded data that fit in a name under `domain`."""
    free = limit - len(domain) - 1
    return free - free // (per_label + 1)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def dnscat2(rnd: random.Random, count: int, domain: str) -> list[str]:
    """dnscat2 (doc/protocol.md): each packet hex-encoded, dotted every 63 characters, under
    the domain, or under `dnscat.` without one. MSG packets: id(2) type(1) session(2) seq(2)
    ack(2) data; encrypted sessions add a 6-byte signature; idle polls carry no data."""
    out = []
    session = rnd.getrandbits(16)
    prefix = domain == "dnscat"
    for seq in range(count):
        room = _room(domain) // 2 - 15
        data = b"" if rnd.random() < 0.25 else rnd.randbytes(rnd.randint(1, room))
        packet = (rnd.getrandbits(16).to_bytes(2, "big") + b"\x01" + session.to_bytes(2, "big")
                  + seq.to_bytes(2, "big") + rnd.randbytes(2) + rnd.randbytes(6) + data)
        hexed = _labels(packet.hex())
        out.append(f"dnscat.{hexed}" if prefix else f"{hexed}.{domain}")
    return out


def dnsexfiltrator(rnd: random.Random, count: int, domain: str, b32: bool = False) -> list[str]:
    """DNSExfiltrator: `init.<base32(file|chunks)>.base32.<domain>`, then `<chunk>.<data>.
    <domain>` with the RC4-encrypted zip in base64url (or base32), labels of <= 63."""
    enc = _b32 if b32 else _b64u
    out = [f"init.{_b32(f'report.zip|{count}'.encode())}.base32.{domain}"]
    per = _room(domain) - 6
    size = per * 5 // 8 if b32 else per * 3 // 4
    for chunk in range(count - 1):
        out.append(f"{chunk}.{_labels(enc(rnd.randbytes(size - 2)))}.{domain}")
    return out


def beacon(rnd: random.Random, count: int, domain: str) -> list[str]:
    """A Cobalt-Strike-like DNS beacon (documented malleable-C2 `dns-beacon` options): an idle
    check-in name per beacon id, `api.`/`www.` task requests, and `post.` uploads of hex
    data in up to 3 labels with a counter and the beacon id."""
    ident = f"{rnd.getrandbits(32):x}"
    out = []
    for i in range(count):
        kind = rnd.random()
        if kind < 0.2:
            out.append(f"{ident}.{domain}")
        elif kind < 0.4:
            out.append(f"{rnd.choice(['api', 'www', 'cdn'])}.{rnd.getrandbits(28):x}.{ident}.{domain}")
        else:
            data = rnd.randbytes(rnd.randint(8, 84)).hex()
            out.append(f"post.{_labels(data, 56)}.{i:08x}.{ident}.{domain}")
    return out


def sliver(rnd: random.Random, count: int, domain: str, case_ok: bool = False) -> list[str]:
    """sliver DNS C2: protobuf messages in base32 (base58 where the path keeps case), split
    into labels of <= 63 under the parent domain."""
    out = []
    for _ in range(count):
        room = _room(domain)
        size = rnd.randint(8, room * 5 // 8 - 4)
        data = rnd.randbytes(size)
        text = _b58(data) if case_ok else _b32(data)
        out.append(f"{_labels(text[:room])}.{domain}")
    return out


def chunker(encode: Callable[[bytes], str], rnd: random.Random, count: int,
            domain: str, chunk: int) -> list[str]:
    """A generic tunnel: sequence number + a data chunk per name, short polls in between."""
    out = []
    for seq in range(count):
        size = chunk if seq % 3 else rnd.randint(2, 6)
        text = encode(seq.to_bytes(2, "big") + rnd.randbytes(size))
        out.append(f"{_labels(text)}.{domain}")
    return out


_TOKENS = ("AKIA{u16} {b40}", "ghp_{b36}", "sk-proj-{b48}", "xoxb-{d12}-{d12}-{b24}",
           "postgres://admin:{b16}@db.internal:5432/prod", "password={b12}", "-----BEGIN {b24}",
           "{{\"user\":\"alice\",\"token\":\"{b32}\"}}",
    "SECRET_KEY={b40}")


def token_leaks(rnd: random.Random, count: int, domain: str) -> list[str]:
    """An agent leaking one secret in one name: hex, base32 or base64url of a token."""
    alnum = string.ascii_letters + string.digits
    out = []
    for i in range(count):
        tmpl = rnd.choice(_TOKENS)
        def pick(alphabet: str, k: int) -> str:
            return "".join(rnd.choices(alphabet, k=k))

        token = tmpl.format(u16=pick(string.ascii_uppercase + string.digits, 16),
                            b40=pick(alnum, 40), b36=pick(alnum, 36), b48=pick(alnum, 48),
                            d12=pick(string.digits, 12), b24=pick(alnum, 24),
                            b16=pick(alnum, 16), b12=pick(alnum, 12), b32=pick(alnum, 32))
        raw = token.encode()[:rnd.randint(10, 60)]
        text = [raw.hex(), _b32(raw), _b64u(raw)][i % 3]
        out.append(f"{_labels(text)}.{domain}")
    return out


def short_chains(rnd: random.Random, count: int, domain: str) -> list[str]:
    """Encoded data spread over many short labels (4-10 characters each)."""
    out = []
    for _ in range(count):
        size = rnd.randint(4, 10)
        encoders: list[Callable[[bytes], str]] = [bytes.hex, _b32]
        encode = rnd.choice(encoders)
        text = encode(rnd.randbytes(rnd.randint(24, 90)))
        out.append(f"{_labels(text, size)[:240 - len(domain)].strip('.')}.{domain}")
    return out


def digits(rnd: random.Random, count: int, domain: str) -> list[str]:
    """Issue 18.2's payload: data as runs of 14 decimal digits, one label a name."""
    return [f"{rnd.randrange(10**13, 10**14)}.{domain}" for _ in range(count)]


def _chunker(encode: Callable[[bytes], str],
             chunk: int) -> Callable[[random.Random, int, str], list[str]]:
    return lambda rnd, count, domain: chunker(encode, rnd, count, domain, chunk)


TUNNEL_DOMAINS = ("t.example-c2.com", "x.cdn-update.net", "a.b.ngrok.io", "d.attacker.org")


def dev_tunnels(seed: int = 13, per_family: int = 400) -> dict[str, list[str]]:
    """Tunnel names by family (DEV split): every family under several parent zones."""
    rnd = random.Random(seed)
    fams: dict[str, list[str]] = {}

    def each(fn: Callable[[random.Random, int, str], list[str]]) -> list[str]:
        n = per_family // len(TUNNEL_DOMAINS)
        return [name for d in TUNNEL_DOMAINS for name in fn(rnd, n, d)]

    fams["dnscat2"] = each(dnscat2) + dnscat2(rnd, per_family // 4, "dnscat")
    fams["dnsexfiltrator-b64"] = each(dnsexfiltrator)
    fams["dnsexfiltrator-b32"] = each(lambda r, n, d: dnsexfiltrator(r, n, d, b32=True))
    fams["beacon"] = each(beacon)
    fams["sliver-b32"] = each(sliver)
    fams["sliver-b58"] = each(lambda r, n, d: sliver(r, n, d, case_ok=True))
    for enc_name, enc in (("hex", bytes.hex), ("base32", _b32), ("base64url", _b64u)):
        for chunk in (20, 60, 110):
            fams[f"chunker-{enc_name}-{chunk}"] = each(_chunker(enc, chunk))
    fams["token-leak"] = each(token_leaks)
    fams["short-chain"] = each(short_chains)
    fams["digits-18.2"] = each(digits)
    return fams


# -- legitimate generated names, from the providers' documented formats -----------------------

_WORDS = ("api", "app", "web", "shop", "data", "blog", "prod", "staging", "dev", "test", "my",
          "acme", "contoso", "demo", "portal", "auth", "payments", "orders", "search", "media",
          "assets", "backend", "frontend", "worker", "jobs", "metrics", "logs", "internal")
_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1",
            "ap-northeast-1", "sa-east-1", "ca-central-1")
_GCP_REGIONS = ("us-central1", "europe-west1", "asia-east1", "us-east4", "europe-west4")
_AZ_REGIONS = ("eastus", "westeurope", "southeastasia", "westus2", "northeurope")
_ALNUM = string.ascii_lowercase + string.digits
_K8S = "bcdfghjklmnpqrstvwxz2456789"
_SCRIPTS = ("абвгдежзиклмнопрстуфхцчшэюя", "αβγδεζηθικλμνξοπρστυφχψω", "אבגדהוזחטיכלמנסעפצקרשת",
            "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん",
            "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年", "äöüßéèàçñøå")


def generated_benign(seed: int = 7, per_shape: int = 60) -> dict[str, list[str]]:
    """Legitimate names with generated labels (ids, hashes, hosts), by shape (DEV split)."""
    rnd = random.Random(seed)

    def word() -> str:
        return rnd.choice(_WORDS)

    def name() -> str:
        return "-".join(rnd.choice(_WORDS) for _ in range(rnd.randint(1, 3)))

    def chars(alphabet: str, k: int) -> str:
        return "".join(rnd.choices(alphabet, k=k))

    def hexs(k: int) -> str:
        return chars("0123456789abcdef", k)

    def ip() -> str:
        return "-".join(str(rnd.randint(1, 254)) for _ in range(4))

    def uuid() -> str:
        return f"{hexs(8)}-{hexs(4)}-4{hexs(3)}-{rnd.choice('89ab')}{hexs(3)}-{hexs(12)}"

    def idn() -> str:
        script = rnd.choice(_SCRIPTS)
        word_ = "".join(rnd.choices(script, k=rnd.randint(3, 9)))
        if script == _SCRIPTS[-1]:
            word_ = rnd.choice(_WORDS) + word_[:2]
        return "xn--" + word_.encode("punycode").decode()

    shapes: dict[str, Callable[[], str]] = {
        "ec2-public": lambda: f"ec2-{ip()}.compute-1.amazonaws.com",
        "ec2-region": lambda: f"ec2-{ip()}.{rnd.choice(_REGIONS)}.compute.amazonaws.com",
        "ec2-internal": lambda: f"ip-{ip()}.{rnd.choice(_REGIONS)}.compute.internal",
        "elb": lambda: f"{name()}-{rnd.randint(10**9, 2 * 10**9)}.{rnd.choice(_REGIONS)}.elb.amazonaws.com",
        "nlb": lambda: f"{name()}-{hexs(16)}.elb.{rnd.choice(_REGIONS)}.amazonaws.com",
        "api-gateway": lambda: f"{chars(_ALNUM, 10)}.execute-api.{rnd.choice(_REGIONS)}.amazonaws.com",
        "cloudfront": lambda: f"d{chars(_ALNUM, 13)}.cloudfront.net",
        "rds": lambda: f"{name()}.{chars(_ALNUM, 12)}.{rnd.choice(_REGIONS)}.rds.amazonaws.com",
        "lambda-url": lambda: f"{chars(_ALNUM, 32)}.lambda-url.{rnd.choice(_REGIONS)}.on.aws",
        "s3": lambda: f"{name()}-{rnd.randint(1, 999)}.s3.{rnd.choice(_REGIONS)}.amazonaws.com",
        "ecr": lambda: f"{rnd.randint(10**11, 10**12 - 1)}.dkr.ecr.{rnd.choice(_REGIONS)}.amazonaws.com",
        "eks": lambda: f"{hexs(32).upper()}.gr7.{rnd.choice(_REGIONS)}.eks.amazonaws.com",
        "vpce": lambda: f"vpce-{hexs(17)}-{chars(_ALNUM, 8)}.s3.{rnd.choice(_REGIONS)}.vpce.amazonaws.com",
        "appsync": lambda: f"{chars(_ALNUM, 26)}.appsync-api.{rnd.choice(_REGIONS)}.amazonaws.com",
        "amplify": lambda: f"{rnd.choice(['main', 'dev', 'staging'])}.d{chars(_ALNUM, 13)}.amplifyapp.com",
        "iot": lambda: f"{chars(_ALNUM, 14)}-ats.iot.{rnd.choice(_REGIONS)}.amazonaws.com",
        "elasticache": lambda: f"{name()}.{chars(_ALNUM, 6)}.ng.0001.use1.cache.amazonaws.com",
        "cloud-run": lambda: f"{name()}-{chars(_ALNUM, 10)}-uc.a.run.app",
        "cloud-run-2": lambda: (
            f"{name()}-{rnd.randint(10**11, 10**12 - 1)}.{rnd.choice(_GCP_REGIONS)}.run.app"),
        "appspot": lambda: f"{word()}-dot-{name()}-{rnd.randint(100, 999999)}.appspot.com",
        "cloudfunctions": lambda: (
            f"{rnd.choice(_GCP_REGIONS)}-{name()}-{rnd.randint(100, 99999)}.cloudfunctions.net"),
        "firebase": lambda: f"{name()}-{rnd.randint(100, 99999)}-default-rtdb.firebaseio.com",
        "azure-blob": lambda: f"{name().replace('-', '')}{rnd.randint(1, 99)}.blob.core.windows.net",
        "azure-vault": lambda: f"{name()}-kv.vault.azure.net",
        "azure-webapp": lambda: f"{name()}-{hexs(12)}.scm.azurewebsites.net",
        "aks": lambda: f"{name()}-dns-{hexs(8)}.hcp.{rnd.choice(_AZ_REGIONS)}.azmk8s.io",
        "container-apps": lambda: (
            f"{name()}.{rnd.choice(['wonderfulhill', 'happysea', 'bluesky'])}-{hexs(8)}"
              f".{rnd.choice(_AZ_REGIONS)}.azurecontainerapps.io"),
        "static-web-apps": lambda: (
            f"{rnd.choice(['gentle', 'happy', 'proud'])}-{rnd.choice(['sand', 'river', 'rock'])}-{hexs(9)}."
            f"{rnd.randint(1, 5)}.azurestaticapps.net"),
        "front-door": lambda: f"{name()}-{chars(_ALNUM, 16)}.z01.azurefd.net",
        "akamai": lambda: f"e{rnd.randint(1, 99999)}.{rnd.choice(['dscb', 'dscd', 'a', 'b'])}.akamaiedge.net",
        "googlevideo": lambda: f"rr{rnd.randint(1, 9)}---sn-{chars(_ALNUM, 8)}.googlevideo.com",
        "nflx": lambda: (
            f"ipv4-c{rnd.randint(1, 200):03d}-{word()}{rnd.randint(1, 9):03d}-ix."
            f"{rnd.randint(1, 9)}.oca.nflxvideo.net"),
        "content-hash": lambda: (
            f"{hexs(rnd.choice([32, 40]))}.{rnd.choice(['cdn', 'static', 'assets'])}.example-shop.com"),
        "uuid": lambda: f"{uuid()}.cfargotunnel.com",
        "vercel": lambda: f"{name()}-{chars(_ALNUM, 9)}-{word()}.vercel.app",
        "netlify": lambda: f"{hexs(24)}--{name()}.netlify.app",
        "codespaces": lambda: (
            f"{word()}-{name()}-{chars(_ALNUM, 12)}-{rnd.choice([3000, 8080])}.app.github.dev"),
        "heroku": lambda: f"{name()}-{hexs(12)}.herokuapp.com",
        "supabase": lambda: f"{chars(string.ascii_lowercase, 20)}.supabase.co",
        "r2": lambda: f"pub-{hexs(32)}.r2.dev",
        "pages": lambda: f"{hexs(8)}.{name()}.pages.dev",
        "ngrok": lambda: f"{hexs(4)}-{ip()}.ngrok-free.app",
        "k8s-pod": lambda: f"{name()}-{chars(_K8S, 10)}-{chars(_K8S, 5)}.{name()}.{word()}.svc.cluster.local",
        "punycode": lambda: f"{idn()}.{rnd.choice(['xn--p1ai', 'com', 'xn--fiqs8s', 'de', 'jp'])}",
        "punycode-sub": lambda: (
            f"{rnd.choice(['www', 'mail', 'shop'])}.{idn()}.{rnd.choice(['com', 'net', 'org'])}"),
    }
    return {shape: [fn() for _ in range(per_shape)] for shape, fn in shapes.items()}
