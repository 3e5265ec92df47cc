"""Making, exporting and destroying a bottle's CA (EC P-256, hours-long, optional name constraints).

The private key exists only in the proxy's memory: it is never written to any file, so no
way the process can end (SIGKILL, OOM kill, a crash, power loss) leaves it on disk, and
mitmproxy is handed the key object directly (`proxy.tls`). On disk, in the bottle's
private state directory (0700), there are only public files:
- `bottle-ca.pem`: the certificate alone;
- `ca-bundle.pem`: system roots + the certificate, for clients (`SSL_CERT_FILE`, ...).
`destroy()` drops the keys and removes the exports; `shred_stale()` overwrites and removes a
key file an older version (which kept the key in `mitmproxy-ca.pem`) or a plain mitmproxy
may have left in a state directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca.bundle import merged_bundle

CERT_FILE = "bottle-ca.pem"
BUNDLE_FILE = "ca-bundle.pem"
# Files that hold (or held, in earlier versions) a CA private key in a state directory: what
# `bottle egress run` and older versions wrote, and what mitmproxy writes into a confdir.
STALE_KEY_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.pem.tmp", "mitmproxy-ca.p12",
                   "mitmproxy-ca-cert.p12")
# Clock skew allowance: a container's clock may trail the host's by a little.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class CAFiles:
    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / CERT_FILE

    @property
    def bundle(self) -> Path:
        return self.directory / BUNDLE_FILE


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    tmp.replace(path)


def _shred(path: Path) -> bool:
    """Overwrite a file with zeros, then unlink it. True if there was one."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if path.is_file() and not path.is_symlink():
        try:
            with open(path, "r+b", buffering=0) as f:
                f.write(b"\0" * st.st_size)
                os.fsync(f.fileno())
        except OSError:
            pass  # not ours to write (read-only): removing it is still what matters
    path.unlink(missing_ok=True)
    return True


def shred_stale(directory: str | Path) -> list[str]:
    """Overwrite and remove CA key files left in `directory` by an older version or a plain
    mitmproxy. Returns the names removed."""
    d = Path(directory)
    return [name for name in STALE_KEY_FILES if _shred(d / name)]


def _subtrees(hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        name = host[2:] if host.startswith("*.") else host
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            out.append(x509.DNSName(name))
        else:
            out.append(x509.IPAddress(ipaddress.ip_network(ip)))
    return out


class BottleCA:
    def __init__(self, bottle_id: str, files: CAFiles, cert: x509.Certificate,
                 key: ec.EllipticCurvePrivateKey) -> None:
        self.bottle_id = bottle_id
        self.files = files
        self.cert = cert
        self._key: ec.EllipticCurvePrivateKey | None = key
        # One leaf key per bottle, kept in memory only; leaves never use the CA's key.
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        self._exports: list[CAFiles] = []

    @classmethod
    def create(cls, directory: str | Path, bottle_id: str, *, validity_hours: int = 24,
               permitted_hosts: Sequence[str] = ()) -> BottleCA:
        """Make a fresh CA; its public files go to `directory` (created 0700), its key nowhere.
        `permitted_hosts` adds name constraints."""
        files = CAFiles(Path(directory))
        _private_dir(files.directory)
        shred_stale(files.directory)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bottle-egress"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ephemeral per-bottle CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"bottle-egress CA {bottle_id}"[:64]),
        ])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + dt.timedelta(hours=validity_hours))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
        )
        if permitted_hosts:
            builder = builder.add_extension(
                x509.NameConstraints(permitted_subtrees=_subtrees(permitted_hosts),
                                     excluded_subtrees=None), critical=True)
        cert = builder.sign(key, hashes.SHA256())
        pem_cert = cert.public_bytes(serialization.Encoding.PEM)
        _write(files.cert, pem_cert, 0o644)
        _write(files.bundle, merged_bundle(pem_cert), 0o644)
        return cls(bottle_id, files, cert, key)

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            raise RuntimeError("the bottle CA has been destroyed")
        return self._key

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def may_issue(self, host: str) -> bool:
        """Whether a leaf for `host` lies inside this CA's name constraints (always, without
        any): a client that checks them would accept it."""
        try:
            constraints = self.cert.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            return True
        name = host.strip("[]").rstrip(".").lower()
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
        except ValueError:
            ip = None
        excluded = constraints.excluded_subtrees or []
        permitted = constraints.permitted_subtrees

        def inside(tree: x509.GeneralName) -> bool:
            if ip is not None:
                return isinstance(tree, x509.IPAddress) and isinstance(
                    tree.value, ipaddress.IPv4Network | ipaddress.IPv6Network) and ip in tree.value
            if not isinstance(tree, x509.DNSName):
                return False
            base = tree.value.lower().lstrip(".")
            return name == base or name.endswith("." + base)

        if any(inside(t) for t in excluded):
            return False
        return permitted is None or any(inside(t) for t in permitted)

    @property
    def leaf_key(self) -> ec.EllipticCurvePrivateKey:
        return self._leaf_key

    def issue_leaf(self, common_name: str | None, sans: Sequence[x509.GeneralName]) -> x509.Certificate:
        """A server certificate for `sans`, valid no longer than the CA, with SAN, AKI and SKI."""
        if not sans:
            raise ValueError("a leaf certificate needs at least one subject alternative name")
        subject = (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
                   if common_name and len(common_name) < 64 else x509.Name([]))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.cert.not_valid_before_utc)
            .not_valid_after(self.cert.not_valid_after_utc)
            .add_extension(x509.SubjectAlternativeName(list(sans)),
                           critical=len(subject) == 0)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._leaf_key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski),
                           critical=False)
        )
        return builder.sign(self.key, hashes.SHA256())

    def export(self, directory: str | Path) -> CAFiles:
        """Copy the public files (certificate, bundle; never the key) into `directory`, which
        must exist, world-readable, for clients in another container or user (a pod's shared
        volume). Each file is written to a temporary name and renamed, so a reader sees the
        old file or the new one, never half of one."""
        out = CAFiles(Path(directory))
        _write(out.cert, self.cert_pem, 0o644)
        _write(out.bundle, self.files.bundle.read_bytes(), 0o644)
        self._exports.append(out)
        return out

    def destroy(self) -> None:
        """Drop the in-memory keys and remove the exported files (and any stale key file)."""
        self._key = None
        for files in self._exports:
            files.cert.unlink(missing_ok=True)
            files.bundle.unlink(missing_ok=True)
        for p in (self.files.cert, self.files.bundle,
                  self.files.directory / "mitmproxy-dhparam.pem"):
            p.unlink(missing_ok=True)
        shred_stale(self.files.directory)
