"""Valid-looking credentials, one generator per vendor format, for the detection benchmark.

Written from the vendors' documented token formats (prefix, length, alphabet, and the check
digits where a format has them: GitHub/npm CRC32, PyPI macaroon header, JWT structure, PEM and
OpenSSH key structure, base58check, bech32, Luhn), independently of the rule catalogue's
regexes: the benchmark measures whether the catalogue finds what vendors issue, so the two
descriptions of a format are kept apart on purpose. Seeded; never a real secret.

`FORMATS` lists `Format(family, make, name, keyword)`: `make(rng)` returns one token, `name`
is the variable a developer would keep it in, and `keyword` is True when the format carries no
prefix of its own (a 32-hex key is only a Datadog key next to a Datadog name), so shapes
without a name cannot hold it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass

AN = string.ascii_letters + string.digits
LOW = string.ascii_lowercase + string.digits
UP = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
UHEX = "0123456789ABCDEF"
B64 = AN + "+/"
URL = AN + "_-"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

Make = Callable[[random.Random], str]


@dataclass(frozen=True)
class Format:
    family: str
    make: Make
    name: str
    keyword: bool = False


def r(rng: random.Random, n: int, alphabet: str = AN) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def uuid(rng: random.Random) -> str:
    h = r(rng, 32, HEX)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def crc_b62(body: str) -> str:
    n = zlib.crc32(body.encode())
    out = ""
    while n:
        n, k = divmod(n, 62)
        out = (string.digits + string.ascii_uppercase + string.ascii_lowercase)[k] + out
    return out.rjust(6, "0")


def b64(data: bytes, url: bool = False, pad: bool = True) -> str:
    text = (base64.urlsafe_b64encode(data) if url else base64.b64encode(data)).decode()
    return text if pad else text.rstrip("=")


def b64json(obj: object, url: bool = True) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode(), url=url, pad=False)


def github(prefix: str) -> Make:
    def make(rng: random.Random) -> str:
        body = r(rng, 30)
        return prefix + body + crc_b62(body)
    return make


def pre(prefix: str, n: int, alphabet: str = AN, suffix: str = "") -> Make:
    return lambda rng: prefix + r(rng, n, alphabet) + suffix


def b58check(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, k = divmod(n, 58)
        out = B58[k] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def bech32(hrp: str, data: bytes) -> str:
    """BIP-173 bech32 of 8-bit `data` (age keys use it with the HRP AGE-SECRET-KEY-)."""
    acc, bits, five = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)

    def polymod(values: list[int]) -> int:
        gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
        chk = 1
        for v in values:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    low = hrp.lower()
    expand = [ord(c) >> 5 for c in low] + [0] + [ord(c) & 31 for c in low]
    mod = polymod([*expand, *five, 0, 0, 0, 0, 0, 0]) ^ 1
    check = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return (hrp + "1" + "".join(BECH32[d] for d in five + check)).upper()


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    digits = prefix + r(rng, length - len(prefix) - 1, string.digits)
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return digits + str((10 - total % 10) % 10)


def pem(kind: str, der_len: int) -> Make:
    def make(rng: random.Random) -> str:
        der = b"\x30\x82" + der_len.to_bytes(2, "big") + b"\x02\x01\x00" + rng.randbytes(der_len - 3)
        text = b64(der)
        lines = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
        label = f"{kind} PRIVATE KEY" if kind else "PRIVATE KEY"
        return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"
    return make


def openssh(rng: random.Random) -> str:
    blob = b"openssh-key-v1\0" + b"\0\0\0\x04none\0\0\0\x04none\0\0\0\0\0\0\0\x01" + rng.randbytes(200)
    text = b64(blob)
    lines = "\n".join(text[i:i + 70] for i in range(0, len(text), 70))
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{lines}\n-----END OPENSSH PRIVATE KEY-----"


def jwt(rng: random.Random) -> str:
    head = b64json({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    body = b64json({"sub": r(rng, 12), "iat": 1_760_000_000 + rng.randrange(10**7),
                    "role": rng.choice(["service_role", "admin", "user"])})
    return f"{head}.{body}.{r(rng, 43, URL)}"


def pypi(rng: random.Random) -> str:
    macaroon = (b"\x02\x01\x08pypi.org\x02\x01" + bytes([rng.randrange(32, 40)]) + rng.randbytes(38)
                + b"\x00\x02\x06" + rng.randbytes(70))
    return "pypi-" + b64(macaroon, url=True, pad=False)


def aws_secret(rng: random.Random) -> str:
    return r(rng, 40, B64)


def slack(kind: str) -> Make:
    def make(rng: random.Random) -> str:
        team, user = r(rng, 12, string.digits), r(rng, 13, string.digits)
        tail = r(rng, 24) if kind == "xoxb" else r(rng, 32, HEX)
        ids = f"{team}-{user}" if kind == "xoxb" else f"{team}-{user}-{r(rng, 12, string.digits)}"
        return f"{kind}-{ids}-{tail}"
    return make


def azure_identifiable(total: int, signature: str, at: int, pad: str) -> Make:
    def make(rng: random.Random) -> str:
        head = r(rng, at, B64)
        tail = r(rng, total - at - len(signature) - len(pad), AN)
        return head + signature + tail + pad
    return make


def password(rng: random.Random) -> str:
    """A human-made strong password: words, digits and a symbol, or random characters."""
    if rng.random() < 0.5:
        return r(rng, rng.randint(14, 24), AN + "!#%*+-.=@^_~")
    words = ["Falcon", "river", "Copper", "maple", "Orbit", "quartz", "Tundra", "violet"]
    return (rng.choice(words) + rng.choice("!#%*@^") + str(rng.randint(10, 9999))
            + rng.choice(words) + r(rng, 3, string.digits))


def kw(family: str, name: str, n: int, alphabet: str = AN) -> Format:
    return Format(family, pre("", n, alphabet), name, keyword=True)


FORMATS: list[Format] = [
    # model APIs
    Format("anthropic", pre("sk-ant-api03-", 93, URL, "AA"), "ANTHROPIC_API_KEY"),
    Format("anthropic-admin", pre("sk-ant-admin01-", 93, URL, "AA"), "ANTHROPIC_ADMIN_KEY"),
    Format("openai-project", lambda g: "sk-proj-" + r(g, 74, URL) + "T3BlbkFJ" + r(g, 74, URL),
           "OPENAI_API_KEY"),
    Format("openai-svcacct", lambda g: "sk-svcacct-" + r(g, 74, URL) + "T3BlbkFJ" + r(g, 74, URL),
           "OPENAI_API_KEY"),
    Format("openai-legacy", lambda g: "sk-" + r(g, 20) + "T3BlbkFJ" + r(g, 20), "OPENAI_KEY"),
    Format("deepseek", pre("sk-", 32, HEX), "DEEPSEEK_API_KEY"),
    Format("google-api", pre("AIzaSy", 33, URL), "GOOGLE_API_KEY"),
    Format("google-oauth-secret", pre("GOCSPX-", 28, URL), "client_secret"),
    Format("google-ya29", pre("ya29.a0A", 150, URL), "access_token"),
    Format("google-refresh", pre("1//0", 99, URL), "refresh_token"),
    Format("xai", pre("xai-", 80), "XAI_API_KEY"),
    Format("groq", pre("gsk_", 52), "GROQ_API_KEY"),
    Format("openrouter", pre("sk-or-v1-", 64, HEX), "OPENROUTER_API_KEY"),
    Format("perplexity", pre("pplx-", 48), "PERPLEXITY_API_KEY"),
    Format("together", pre("tgp_v1_", 43, URL), "TOGETHER_API_KEY"),
    Format("replicate", pre("r8_", 37), "REPLICATE_API_TOKEN"),
    Format("huggingface", pre("hf_", 34, string.ascii_letters), "HF_TOKEN"),
    Format("fireworks", pre("fw_", 24), "FIREWORKS_API_KEY"),
    Format("tavily", pre("tvly-dev-", 32), "TAVILY_API_KEY"),
    Format("pinecone", lambda g: f"pcsk_{r(g, 6)}_{r(g, 63)}", "PINECONE_API_KEY"),
    Format("langsmith", lambda g: f"lsv2_pt_{r(g, 32, HEX)}_{r(g, 10, HEX)}", "LANGSMITH_API_KEY"),
    Format("elevenlabs", pre("sk_", 48, HEX), "ELEVENLABS_API_KEY"),
    Format("nvidia", pre("nvapi-", 64, URL), "NVIDIA_API_KEY"),
    Format("langfuse", lambda g: "sk-lf-" + uuid(g), "LANGFUSE_SECRET_KEY"),
    Format("cerebras", pre("csk-", 48, LOW), "CEREBRAS_API_KEY"),
    Format("anyscale", pre("esecret_", 26, LOW), "ANYSCALE_API_KEY"),
    Format("firecrawl", pre("fc-", 32, HEX), "FIRECRAWL_API_KEY"),
    Format("e2b", pre("e2b_", 40, HEX), "E2B_API_KEY"),
    Format("jina", lambda g: "jina_" + r(g, 32, HEX) + r(g, 28, AN + "_-"), "JINA_API_KEY"),
    Format("voyage", pre("pa-", 43, URL), "VOYAGE_API_KEY"),
    kw("cohere", "COHERE_API_KEY", 40),
    kw("mistral", "MISTRAL_API_KEY", 32),
    kw("deepgram", "DEEPGRAM_API_KEY", 40, HEX),
    kw("assemblyai", "ASSEMBLYAI_API_KEY", 32, HEX),
    kw("wandb", "WANDB_API_KEY", 40, HEX),
    # clouds
    Format("aws-key-id", pre("AKIA", 16, B32), "AWS_ACCESS_KEY_ID"),
    Format("aws-sts-key-id", pre("ASIA", 16, B32), "aws_access_key_id"),
    Format("aws-secret", aws_secret, "AWS_SECRET_ACCESS_KEY", keyword=True),
    Format("aws-session", lambda g: "IQoJb3JpZ2luX2Vj" + r(g, 300, B64), "AWS_SESSION_TOKEN"),
    Format("aws-bedrock", lambda g: "ABSKQmVkcm9ja0FQSUtleS" + r(g, 110, B64) + "=",
           "AWS_BEARER_TOKEN_BEDROCK"),
    Format("aws-mws", lambda g: "amzn.mws." + uuid(g), "MWS_AUTH_TOKEN"),
    Format("gcp-hmac", pre("GOOG1", 56, UP), "GCS_HMAC_ACCESS_ID"),
    Format("firebase-fcm", lambda g: f"AAAA{r(g, 7)}:APA91b{r(g, 134, URL)}", "FCM_SERVER_KEY"),
    Format("alibaba", pre("LTAI", 20), "ALIBABA_CLOUD_ACCESS_KEY_ID"),
    Format("tencent", pre("AKID", 32), "TENCENTCLOUD_SECRET_ID"),
    Format("azure-ad-secret", lambda g: r(g, 3, AN) + str(g.randrange(10)) + "Q~" + r(g, 34, AN + "_~.-"),
           "AZURE_CLIENT_SECRET"),
    Format("azure-storage-id", azure_identifiable(88, "+ASt", 76, "=="), "AZURE_STORAGE_KEY"),
    Format("azure-cosmos-id", azure_identifiable(88, "ACDb", 76, "=="), "COSMOS_KEY"),
    Format("azure-servicebus-id", azure_identifiable(44, "+ASb", 33, "="), "SERVICEBUS_KEY"),
    Format("azure-eventhub-id", azure_identifiable(44, "+AEh", 33, "="), "EVENTHUB_KEY"),
    Format("azure-acr", lambda g: r(g, 42, B64) + "+ACR" + r(g, 6), "ACR_PASSWORD"),
    Format("azure-devops", lambda g: r(g, 52) + "AZDO" + r(g, 28), "AZURE_DEVOPS_PAT"),
    Format("digitalocean", pre("dop_v1_", 64, HEX), "DIGITALOCEAN_TOKEN"),
    Format("do-spaces", pre("DO00", 16, UP), "SPACES_ACCESS_KEY_ID"),
    Format("scaleway", pre("SCW", 17, UP), "SCW_ACCESS_KEY"),
    Format("flyio", pre("fo1_", 43, URL), "FLY_API_TOKEN"),
    Format("render", pre("rnd_", 32), "RENDER_API_KEY"),
    Format("netlify", pre("nfp_", 36), "NETLIFY_AUTH_TOKEN"),
    Format("vercel", pre("vcp_", 24), "VERCEL_TOKEN"),
    Format("heroku", pre("HRKU-AA", 58, URL), "HEROKU_API_KEY"),
    Format("cloudflare-origin-ca", lambda g: f"v1.0-{r(g, 24, HEX)}-{r(g, 146, HEX)}", "CF_ORIGIN_CA_KEY"),
    Format("cloudflare-tunnel",
           lambda g: b64json({"a": r(g, 32, HEX), "t": uuid(g), "s": b64(g.randbytes(32))}, url=False),
           "TUNNEL_TOKEN"),
    kw("cloudflare-api", "CLOUDFLARE_API_TOKEN", 40, URL),
    Format("akamai", lambda g: f"akab-{r(g, 16, LOW)}-{r(g, 16, LOW)}", "client_token"),
    Format("planetscale", pre("pscale_tkn_", 43, URL), "PLANETSCALE_TOKEN"),
    Format("neon", pre("napi_", 64, LOW), "NEON_API_KEY"),
    Format("supabase", pre("sbp_", 40, HEX), "SUPABASE_ACCESS_TOKEN"),
    Format("databricks", pre("dapi", 32, HEX), "DATABRICKS_TOKEN"),
    Format("vault", pre("hvs.", 90, URL), "VAULT_TOKEN"),
    Format("terraform", lambda g: f"{r(g, 14)}.atlasv1.{r(g, 67, URL)}", "TFE_TOKEN"),
    Format("pulumi", pre("pul-", 40, HEX), "PULUMI_ACCESS_TOKEN"),
    Format("doppler", pre("dp.st.prd.", 40), "DOPPLER_TOKEN"),
    Format("onepassword", lambda g: "ops_eyJ" + r(g, 300, URL), "OP_SERVICE_ACCOUNT_TOKEN"),
    Format("tailscale", lambda g: f"tskey-auth-{r(g, 17)}-{r(g, 33)}", "TS_AUTHKEY"),
    Format("infisical", lambda g: f"st.{r(g, 24, HEX)}.{r(g, 32, HEX)}.{r(g, 32, HEX)}", "INFISICAL_TOKEN"),
    Format("linode", pre("", 64, HEX), "LINODE_TOKEN", keyword=True),
    Format("hetzner", pre("", 64), "HCLOUD_TOKEN", keyword=True),
    kw("vultr", "VULTR_API_KEY", 36, UP),
    kw("ibm-cloud", "IBMCLOUD_API_KEY", 44, URL),
    # code hosts, CI, registries
    Format("github-pat", github("ghp_"), "GITHUB_TOKEN"),
    Format("github-oauth", github("gho_"), "GH_TOKEN"),
    Format("github-app", github("ghs_"), "GITHUB_TOKEN"),
    Format("github-fine", lambda g: f"github_pat_11{r(g, 20)}_{r(g, 59)}", "GITHUB_PAT"),
    Format("gitlab", pre("glpat-", 20, URL), "GITLAB_TOKEN"),
    Format("gitlab-runner", pre("glrt-", 20, URL), "CI_RUNNER_TOKEN"),
    Format("bitbucket", pre("ATBB", 32), "BITBUCKET_APP_PASSWORD"),
    Format("atlassian", lambda g: "ATATT3xFfGF0" + r(g, 170, URL) + "=" + r(g, 8, UHEX), "JIRA_API_TOKEN"),
    Format("npm", github("npm_"), "NPM_TOKEN"),
    Format("pypi", pypi, "PYPI_TOKEN"),
    Format("rubygems", pre("rubygems_", 48, HEX), "GEM_HOST_API_KEY"),
    Format("nuget", pre("oy2", 43, LOW), "NUGET_API_KEY"),
    Format("crates", pre("cio", 32), "CARGO_REGISTRY_TOKEN"),
    Format("clojars", pre("CLOJARS_", 60, HEX), "CLOJARS_TOKEN"),
    Format("dockerhub", pre("dckr_pat_", 27, URL), "DOCKERHUB_TOKEN"),
    Format("circleci", lambda g: f"CCIPAT_{r(g, 22)}_{r(g, 40, HEX)}", "CIRCLE_TOKEN"),
    Format("sonar", pre("squ_", 40, HEX), "SONAR_TOKEN"),
    Format("jfrog", pre("AKCp", 69), "ARTIFACTORY_API_KEY"),
    Format("jfrog-identity", lambda g: "cmVmdGtuOjAxOjE3" + r(g, 48), "JFROG_ACCESS_TOKEN"),
    Format("buildkite", pre("bkua_", 40, HEX), "BUILDKITE_API_TOKEN"),
    Format("postman", lambda g: f"PMAK-{r(g, 24, HEX)}-{r(g, 34, HEX)}", "POSTMAN_API_KEY"),
    Format("readme", pre("rdme_", 70, HEX), "README_API_KEY"),
    Format("prefect", pre("pnu_", 36), "PREFECT_API_KEY"),
    Format("sourcegraph", lambda g: f"sgp_{r(g, 16, HEX)}_{r(g, 40, HEX)}", "SRC_ACCESS_TOKEN"),
    Format("docker-swarm", lambda g: f"SWMTKN-1-{r(g, 50, LOW)}-{r(g, 25, LOW)}", "join_token"),
    Format("octopus", pre("API-", 26, UP), "OCTOPUS_API_KEY"),
    Format("teamcity", lambda g: "eyJ0eXAiOiAiVENWMiJ9." + r(g, 36, URL) + "." + r(g, 48, URL),
           "TEAMCITY_TOKEN"),
    Format("jenkins-secret",
           lambda g: "{" + b64(b"\x01\x00\x00\x00\x10\x00\x00\x00\x20" + g.randbytes(48)) + "}", "secret"),
    kw("gitea", "GITEA_TOKEN", 40, HEX),
    kw("snyk", "SNYK_TOKEN", 36, HEX),
    # observability, product analytics
    Format("grafana-cloud",
           lambda g: "glc_" + b64json({"o": str(g.randrange(10**6)), "n": "stack-" + r(g, 6, LOW),
                                       "k": r(g, 24), "m": {"r": "prod-us-east-0"}}, url=False),
           "GRAFANA_CLOUD_TOKEN"),
    Format("grafana-sa", lambda g: f"glsa_{r(g, 32)}_{r(g, 8, HEX)}", "GRAFANA_TOKEN"),
    Format("newrelic", pre("NRAK-", 27, UP), "NEW_RELIC_API_KEY"),
    Format("newrelic-license", lambda g: r(g, 36, HEX) + "NRAL", "NEW_RELIC_LICENSE_KEY"),
    Format("sentry-user", pre("sntryu_", 64, HEX), "SENTRY_AUTH_TOKEN"),
    Format("dynatrace", lambda g: f"dt0c01.{r(g, 24, UP)}.{r(g, 64, UP)}", "DT_API_TOKEN"),
    Format("honeycomb", pre("hcaik_", 58, LOW), "HONEYCOMB_API_KEY"),
    Format("launchdarkly", lambda g: "sdk-" + uuid(g), "LAUNCHDARKLY_SDK_KEY"),
    Format("statsig", pre("secret-", 43), "STATSIG_SERVER_SECRET"),
    Format("posthog", pre("phx_", 43), "POSTHOG_PERSONAL_API_KEY"),
    kw("datadog-api", "DD_API_KEY", 32, HEX),
    kw("datadog-app", "DD_APP_KEY", 40, HEX),
    kw("rollbar", "ROLLBAR_ACCESS_TOKEN", 32, HEX),
    kw("pagerduty", "PAGERDUTY_TOKEN", 20, AN + "+_-"),
    # SaaS
    Format("slack-bot", slack("xoxb"), "SLACK_BOT_TOKEN"),
    Format("slack-user", slack("xoxp"), "SLACK_TOKEN"),
    Format("slack-webhook",
           lambda g: f"https://hooks.slack.com/services/T{r(g, 10, UP)}/B{r(g, 10, UP)}/{r(g, 24)}",
           "SLACK_WEBHOOK_URL"),
    Format("discord-webhook",
           lambda g: f"https://discord.com/api/webhooks/{r(g, 19, string.digits)}/{r(g, 68, URL)}",
           "DISCORD_WEBHOOK"),
    Format("teams-webhook", lambda g: f"https://contoso.webhook.office.com/webhookb2/{uuid(g)}@{uuid(g)}"
                                      f"/IncomingWebhook/{r(g, 32, HEX)}/{uuid(g)}", "TEAMS_WEBHOOK_URL"),
    Format("telegram", lambda g: f"{g.randrange(10**9, 10**10)}:AA{r(g, 33, URL)}", "TELEGRAM_BOT_TOKEN"),
    Format("stripe-live", pre("sk_live_", 99), "STRIPE_SECRET_KEY"),
    Format("stripe-restricted", pre("rk_live_", 99), "STRIPE_KEY"),
    Format("stripe-webhook", pre("whsec_", 32), "STRIPE_WEBHOOK_SECRET"),
    Format("square", pre("EAAA", 60, URL), "SQUARE_ACCESS_TOKEN"),
    Format("square-oauth", pre("sq0csp-", 43, URL), "SQUARE_APP_SECRET"),
    Format("braintree", lambda g: f"access_token$production${r(g, 16, LOW)}${r(g, 32, HEX)}",
           "BRAINTREE_TOKEN"),
    Format("plaid", lambda g: "access-production-" + uuid(g), "PLAID_ACCESS_TOKEN"),
    Format("flutterwave", lambda g: f"FLWSECK-{r(g, 32, HEX)}-X", "FLW_SECRET_KEY"),
    Format("shopify", pre("shpat_", 32, HEX), "SHOPIFY_ACCESS_TOKEN"),
    Format("shippo", pre("shippo_live_", 40, HEX), "SHIPPO_API_KEY"),
    Format("easypost", pre("EZAK", 54), "EASYPOST_API_KEY"),
    Format("sendgrid", lambda g: f"SG.{r(g, 22, URL)}.{r(g, 43, URL)}", "SENDGRID_API_KEY"),
    Format("mailgun", pre("key-", 32, HEX), "MAILGUN_API_KEY"),
    Format("mailchimp", lambda g: r(g, 32, HEX) + "-us" + str(g.randint(1, 21)), "MAILCHIMP_API_KEY"),
    Format("brevo", lambda g: f"xkeysib-{r(g, 64, HEX)}-{r(g, 16)}", "BREVO_API_KEY"),
    Format("resend", lambda g: f"re_{r(g, 8)}_{r(g, 24)}", "RESEND_API_KEY"),
    Format("twilio-key", pre("SK", 32, HEX), "TWILIO_API_KEY"),
    Format("hubspot", lambda g: "pat-na1-" + uuid(g), "HUBSPOT_ACCESS_TOKEN"),
    Format("salesforce", lambda g: f"00D{r(g, 15)}!{r(g, 96, AN + '._')}", "SF_ACCESS_TOKEN"),
    Format("zoho", lambda g: f"1000.{r(g, 32, HEX)}.{r(g, 32, HEX)}", "ZOHO_REFRESH_TOKEN"),
    Format("intercom", lambda g: b64(b"tok:" + uuid(g).encode() + b":1:0", pad=False), "INTERCOM_TOKEN"),
    Format("linear", pre("lin_api_", 40), "LINEAR_API_KEY"),
    Format("notion", lambda g: "ntn_" + r(g, 11, string.digits) + r(g, 35), "NOTION_TOKEN"),
    Format("figma", pre("figd_", 40, URL), "FIGMA_TOKEN"),
    Format("airtable", lambda g: f"pat{r(g, 14)}.{r(g, 64, HEX)}", "AIRTABLE_TOKEN"),
    Format("asana", lambda g: f"2/{r(g, 16, string.digits)}/{r(g, 16, string.digits)}:{r(g, 32, HEX)}",
           "ASANA_PAT"),
    Format("trello", lambda g: "ATTA" + r(g, 64, HEX) + r(g, 8, UHEX), "TRELLO_TOKEN"),
    Format("clickup", lambda g: f"pk_{r(g, 8, string.digits)}_{r(g, 32, UP)}", "CLICKUP_TOKEN"),
    Format("contentful", pre("CFPAT-", 43, URL), "CONTENTFUL_MANAGEMENT_TOKEN"),
    Format("typeform", lambda g: f"tfp_{r(g, 44, URL)}_{r(g, 14)}", "TYPEFORM_TOKEN"),
    Format("dropbox", pre("sl.u.", 140, URL), "DROPBOX_ACCESS_TOKEN"),
    Format("mapbox", lambda g: "sk." + b64json({"u": r(g, 8, LOW), "a": r(g, 25, LOW)}) + "." + r(g, 22, URL),
           "MAPBOX_SECRET_TOKEN"),
    Format("zapier-webhook",
           lambda g: f"https://hooks.zapier.com/hooks/catch/{r(g, 7, string.digits)}/{r(g, 6, LOW)}/",
           "ZAPIER_HOOK"),
    Format("twitter-bearer", lambda g: "A" * 22 + r(g, 20) + "%3D" + r(g, 50), "TWITTER_BEARER_TOKEN"),
    Format("facebook", pre("EAAG", 160), "FB_ACCESS_TOKEN"),
    Format("okta", pre("00", 40, URL), "OKTA_API_TOKEN", keyword=True),
    Format("stytch", pre("secret-live-", 36, URL), "STYTCH_SECRET"),
    Format("adafruit", pre("aio_", 28), "ADAFRUIT_IO_KEY"),
    Format("yandex", pre("AQVN", 36, URL), "YC_API_KEY"),
    Format("cloudinary", lambda g: f"cloudinary://{r(g, 15, string.digits)}:{r(g, 27, URL)}@demo-cloud",
           "CLOUDINARY_URL"),
    Format("infura", lambda g: f"https://mainnet.infura.io/v3/{r(g, 32, HEX)}", "INFURA_URL"),
    kw("algolia", "ALGOLIA_ADMIN_KEY", 32, HEX),
    kw("zendesk", "ZENDESK_API_TOKEN", 40),
    kw("postmark", "POSTMARK_SERVER_TOKEN", 36, HEX),
    kw("openweather", "OPENWEATHER_API_KEY", 32, HEX),
    # keys and files
    Format("rsa-pem", pem("RSA", 600), "private_key"),
    Format("pkcs8-pem", pem("", 300), "private_key"),
    Format("ec-pem", pem("EC", 118), "private_key"),
    Format("openssh", openssh, "ssh_key"),
    Format("age", lambda g: bech32("AGE-SECRET-KEY-", g.randbytes(32)), "AGE_KEY"),
    Format("jwt", jwt, "access_token"),
    Format("wif", lambda g: b58check(b"\x80" + g.randbytes(32) + b"\x01"), "wallet_key"),
    Format("xprv",
           lambda g: b58check(bytes.fromhex("0488ade4") + g.randbytes(41) + b"\x00" + g.randbytes(32)),
           "xprv"),
    Format("eth-key", pre("0x", 64, HEX), "PRIVATE_KEY"),
    Format("card", lambda g: luhn_complete(g, g.choice(["4", "51", "55", "2221"]), 16), "card_number"),
    Format("wireguard", lambda g: b64(g.randbytes(32)), "PrivateKey", keyword=True),
    # generic credentials in their usual places
    Format("password", password, "DB_PASSWORD", keyword=True),
    Format("hex-secret", pre("", 32, HEX), "API_SECRET", keyword=True),
    Format("b64-secret", lambda g: b64(g.randbytes(30)), "CLIENT_SECRET", keyword=True),
    Format("an-token", pre("", 40), "AUTH_TOKEN", keyword=True),
]


def by_family() -> dict[str, Format]:
    return {f.family: f for f in FORMATS}
