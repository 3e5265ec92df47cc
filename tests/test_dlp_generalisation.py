"""Generalisation: token formats generated here from public format descriptions (not from the
catalogue's own examples), their encoded copies, and near misses derived from them.
Asserts the issue's targets: recall >= 95% including base64/hex/URL-encoded copies, and
<= 1% of near misses flagged."""

from __future__ import annotations

import base64
import random
import string
import urllib.parse

from egress.sources.dlp_catalogue import dlp_engine

AN = string.ascii_letters + string.digits
UP = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
URLSAFE = AN + "_-"


def _r(rng: random.Random, n: int, alphabet: str = AN) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# (family, prefix, body length, body alphabet)
FORMATS: list[tuple[str, str, int, str]] = [
    ("anthropic", "sk-ant-api03-", 95, URLSAFE),
    ("anthropic-admin", "sk-ant-admin01-", 95, URLSAFE),
    ("openai-proj", "sk-proj-", 156, URLSAFE),
    ("openai-svc", "sk-svcacct-", 120, URLSAFE),
    ("openai-legacy", "sk-", 48, AN),
    ("google", "AIza", 35, URLSAFE),
    ("google-oauth", "GOCSPX-", 28, URLSAFE),
    ("google-ya29", "ya29.", 120, URLSAFE),
    ("aws", "AKIA", 16, UP),
    ("aws-sts", "ASIA", 16, UP),
    ("github-pat", "ghp_", 36, AN),
    ("github-oauth", "gho_", 36, AN),
    ("github-app", "ghs_", 36, AN),
    ("github-refresh", "ghr_", 36, AN),
    ("gitlab", "glpat-", 20, URLSAFE),
    ("gitlab-deploy", "gldt-", 20, URLSAFE),
    ("slack-bot", "xoxb-1234567890123-1234567890123-", 24, AN),
    ("slack-app", "xapp-1-A0123456789-1234567890123-", 64, HEX),
    ("stripe", "sk_live_", 99, AN),
    ("stripe-test", "sk_test_", 24, AN),
    ("stripe-rk", "rk_live_", 24, AN),
    ("stripe-webhook", "whsec_", 32, AN),
    ("huggingface", "hf_", 34, string.ascii_letters),
    ("npm", "npm_", 36, AN),
    ("pypi", "pypi-AgEIcHlwaS5vcmc", 100, URLSAFE),
    ("docker", "dckr_pat_", 27, URLSAFE),
    ("databricks", "dapi", 32, HEX),
    ("replicate", "r8_", 37, AN),
    ("together", "tgp_v1_", 43, URLSAFE),
    ("groq", "gsk_", 52, AN),
    ("xai", "xai-", 80, AN),
    ("openrouter", "sk-or-v1-", 64, HEX),
    ("perplexity", "pplx-", 48, AN),
    ("tavily", "tvly-", 32, AN),
    ("pinecone", "pcsk_3xY9z_", 63, AN),
    ("fireworks", "fw_", 24, AN),
    ("digitalocean", "dop_v1_", 64, HEX),
    ("vault", "hvs.", 90, URLSAFE),
    ("vercel", "vcp_", 24, AN),
    ("supabase", "sbp_", 40, HEX),
    ("linear", "lin_api_", 40, AN),
    ("notion", "ntn_", 46, string.digits),
    ("sentry", "sntryu_", 64, HEX),
    ("sendgrid", "SG.", 22, URLSAFE),
    ("mailgun", "key-", 32, HEX),
    ("twilio", "SK", 32, HEX),
    ("newrelic", "NRAK-", 27, UP),
    ("shopify", "shpat_", 32, HEX),
    ("doppler", "dp.st.prd.", 40, AN),
    ("onepassword", "ops_eyJ", 300, URLSAFE),
    ("pulumi", "pul-", 40, HEX),
    ("buildkite", "bkua_", 40, HEX),
    ("modal", "wk-", 22, AN),
    ("crypto-hex", "0x", 64, HEX),
]


def tokens(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for family, prefix, n, alphabet in FORMATS:
        for _ in range(4):
            body = _r(rng, n, alphabet)
            if family == "sendgrid":
                body += "." + _r(rng, 43, URLSAFE)
            if family == "notion":
                body = body[:11] + _r(rng, 35)
            out.append((family, prefix + body))
    return out


def contexts(token: str) -> list[str]:
    raw = token.encode()
    return [token, f'{{"api_key": "{token}"}}', f"export TOKEN={token}", f"Authorization: Bearer {token}",
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(b"k=" + raw).decode().rstrip("="),
            raw.hex(), urllib.parse.quote(token, safe=""), "".join(f"%{b:02X}" for b in raw)]


def near_misses(family: str, token: str, prefix: str) -> list[str]:
    body = token[len(prefix):]
    return [prefix + body[:6], prefix + "x" * len(body), f"the {prefix} prefix identifies {family} tokens",
            prefix + "your-" + family + "-key-here", prefix + "<" + family.upper() + "_TOKEN>"]


def test_recall_and_near_miss_rate(capsys) -> None:
    rng = random.Random(20261127)
    engine = dlp_engine()
    hit = total = 0
    missed: list[str] = []
    for family, token in tokens(rng):
        for text in contexts(token):
            total += 1
            if engine.scan(text, "gen"):
                hit += 1
            else:
                missed.append(f"{family}: {text[:70]}")
    flagged: list[str] = []
    near_total = 0
    prefixes = {f: p for f, p, _, _ in FORMATS}
    for family, token in tokens(random.Random(5))[::4]:
        for text in near_misses(family, token, prefixes[family]):
            near_total += 1
            found = [m.rule for m in engine.scan(text, "gen")]
            if found:
                flagged.append(f"{family}: {text[:70]} -> {found}")
    recall, fp = hit / total, len(flagged) / near_total
    with capsys.disabled():
        print(f"\ngeneralisation: recall {recall:.1%} of {total} (raw and encoded), "
              f"near misses flagged {fp:.1%} of {near_total}")
    assert recall >= 0.95, "\n".join(missed[:40])
    assert fp <= 0.01, "\n".join(flagged)


