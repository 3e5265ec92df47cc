"""The environment a client needs to use the proxy and trust the bottle CA."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

# Variables pointing at the merged bundle (system roots + bottle CA): these *replace* the
# client's trust store, so the bundle must carry the system roots as well.
BUNDLE_VARS = (
    "SSL_CERT_FILE",  # OpenSSL-based clients, Python ssl, httpx
    "REQUESTS_CA_BUNDLE",  # requests
    "CURL_CA_BUNDLE",  # curl
    "GIT_SSL_CAINFO",  # git
    "PIP_CERT",  # pip
    "AWS_CA_BUNDLE",  # AWS SDKs and CLI
    "CARGO_HTTP_CAINFO",  # cargo
)
# Variables that *add* to a client's built-in roots: the bottle CA alone is enough.
EXTRA_CA_VARS = (
    "NODE_EXTRA_CA_CERTS",  # Node.js
    "DENO_CERT",  # Deno
)
DEFAULT_NO_PROXY = "localhost,127.0.0.1,::1"
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
# Every variable the proxy itself sets: credential placeholders may not take these names.
CLIENT_VARS = frozenset((*PROXY_VARS, *BUNDLE_VARS, *EXTRA_CA_VARS, "BOTTLE_ID"))


def client_environment(proxy_url: str, bundle: Path, ca_cert: Path, bottle_id: str,
                       no_proxy: str = DEFAULT_NO_PROXY,
                       placeholders: Mapping[str, str] | None = None) -> dict[str, str]:
    """The agent's environment. `placeholders` maps a variable to a credential placeholder.
    `BOTTLE_ID` comes last: readers stop at it."""
    env = {
        "HTTPS_PROXY": proxy_url,
        "HTTP_PROXY": proxy_url,
        "NO_PROXY": no_proxy,
        # Many tools (curl among them) only read the lower-case spellings.
        "https_proxy": proxy_url,
        "http_proxy": proxy_url,
        "no_proxy": no_proxy,
    }
    env.update({name: str(bundle) for name in BUNDLE_VARS})
    env.update({name: str(ca_cert) for name in EXTRA_CA_VARS})
    env.update(placeholders or {})
    env["BOTTLE_ID"] = bottle_id
    return env


def as_shell(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
