"""Finding the system's trusted roots, to merge with a bottle CA into one client bundle.

Pointing `SSL_CERT_FILE` at the bottle CA alone would break every host the proxy does not
intercept (passthrough hosts), so clients get system roots + bottle CA.
"""

from __future__ import annotations

import ssl
from pathlib import Path

_WELL_KNOWN = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # macOS, BSD
)


def system_roots_path() -> Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *_WELL_KNOWN):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi is a dependency
        return None
    return Path(certifi.where())


def system_roots_pem() -> bytes:
    path = system_roots_path()
    if path is None:
        return b""
    data = path.read_bytes()
    return data if data.endswith(b"\n") else data + b"\n"


def merged_bundle(*extra_pems: bytes) -> bytes:
    """System roots followed by extra certificates (PEM)."""
    out = system_roots_pem()
    for pem in extra_pems:
        out += pem if pem.endswith(b"\n") else pem + b"\n"
    return out
