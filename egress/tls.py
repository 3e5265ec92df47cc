"""mitmproxy adapter for the bottle CA: leaves are minted by `ca.BottleCA`, not by mitmproxy.

mitmproxy's own leaves reuse the CA key, live 199 days and carry no Subject Key Identifier
(strict X.509 verifiers, such as Python 3.13's default context, reject them). Ours use a
separate leaf key, never outlive the CA, and carry SAN, AKI and SKI.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

from cryptography import x509
from mitmproxy import certs
from mitmproxy.addons.tlsconfig import TlsConfig

from ca import BottleCA

log = logging.getLogger("egress.tls")

LEAF_CACHE = 1024


class BottleCertStore(certs.CertStore):
    def __init__(self, ca: BottleCA, base: certs.CertStore) -> None:
        super().__init__(ca.key, certs.Cert(ca.cert), None, base.default_crl, base.dhparams)
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

    def configure(self, updated: set[str]) -> None:
        # mitmproxy validates its TLS options and loads the CA file from `confdir`
        # (the bottle's state directory); then we take over leaf minting.
        super().configure(updated)
        if self.certstore is not None and not isinstance(self.certstore, BottleCertStore):
            self.certstore = BottleCertStore(self.ca, self.certstore)
