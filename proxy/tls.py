"""mitmproxy adapter for the bottle CA: leaves are minted by `ca.BottleCA`, not by mitmproxy.

mitmproxy's own leaves reuse the CA key, live 199 days and carry no Subject Key Identifier
(strict X.509 verifiers, such as Python 3.13's default context, reject them). Ours use a
separate leaf key, never outlive the CA, and carry SAN, AKI and SKI.

mitmproxy's TLS addon loads its CA from `confdir` (and creates one there when there is none).
`BottleTlsConfig` never lets it: the certificate store is built from the in-memory key, so no
CA key file exists at any time.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Collection, Iterable
from pathlib import Path

from cryptography import x509
from mitmproxy import certs
from mitmproxy.addons.tlsconfig import TlsConfig

from ca import BottleCA

log = logging.getLogger("proxy.tls")

LEAF_CACHE = 1024


# Options that make mitmproxy's TLS addon (re)load its certificate store from `confdir`.
CERTSTORE_OPTIONS = frozenset(("certs", "confdir", "key_size", "cert_passphrase", "emudhra",
                               "emudhra_old"))


def dhparams() -> certs.DHParams:
    """mitmproxy's default DH parameters (public), which OpenSSL only loads from a file."""
    fd, name = tempfile.mkstemp(prefix="bottle-dhparam-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(certs.DEFAULT_DHPARAM)
        return certs.CertStore.load_dhparam(Path(name))
    finally:
        os.unlink(name)


class BottleCertStore(certs.CertStore):
    def __init__(self, ca: BottleCA) -> None:
        super().__init__(ca.key, certs.Cert(ca.cert), None, certs.dummy_crl(ca.key, ca.cert),
                         dhparams())
        self.ca = ca
        self._leaves: OrderedDict[tuple[str | None, tuple[x509.GeneralName, ...]],
                                  certs.CertStoreEntry] = OrderedDict()

    def get_cert(self, commonname: str | None, sans: Iterable[x509.GeneralName],
                 organization: str | None = None,
                 crl_url: str | None = None) -> certs.CertStoreEntry:
        names = tuple(dict.fromkeys(sans))
        key = (commonname, names)
        entry = self._leaves.get(key)
        if entry is not None:
            self._leaves.move_to_end(key)
            return entry
        leaf = self.ca.issue_leaf(commonname, names)
        entry = certs.CertStoreEntry(
            cert=certs.Cert(leaf),
            privatekey=self.ca.leaf_key,
            chain_file=None,
            chain_certs=[self.default_ca],
        )
        self._leaves[key] = entry
        if len(self._leaves) > LEAF_CACHE:
            self._leaves.popitem(last=False)
        return entry


class BottleTlsConfig(TlsConfig):
    """mitmproxy's TLS addon, with its certificate store replaced by the bottle CA's."""

    name = "tlsconfig"

    def __init__(self, ca: BottleCA) -> None:
        super().__init__()
        self.ca = ca

    def configure(self, updated: Collection[str]) -> None:
        # mitmproxy validates its other TLS options; the store is never read from `confdir`.
        super().configure({o for o in updated if o not in CERTSTORE_OPTIONS})
        if not isinstance(self.certstore, BottleCertStore):
            self.certstore = BottleCertStore(self.ca)

    def running(self) -> None:
        # mitmproxy's `running` re-runs its configure("confdir"), which would load or create
        # a CA in `confdir`; ours is already in place.
        if not isinstance(self.certstore, BottleCertStore):
            self.certstore = BottleCertStore(self.ca)
