"""The per-bottle CA: shape, lifetime, key handling, leaves, name constraints."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca import BottleCA
from tests.conftest import EgressFactory, PolicyWriter, a_private_key_pem, private_key_files
from tests.support.origin import Origin
from tests.support.prereq import missing, require_binary


def test_ca_is_short_lived_ec_p256_with_ca_extensions(tmp_path: Path) -> None:
    ca = BottleCA.create(tmp_path / "s", "bottle-7", validity_hours=6)
    cert = ca.cert
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(hours=6) <= life <= dt.timedelta(hours=6, minutes=10)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert "bottle-7" in cert.subject.rfc4514_string()


def test_key_is_private_and_destroyed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ca = BottleCA.create(state, "b")
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    # the key is in memory only: no file anywhere under the state directory holds it
    assert private_key_files(tmp_path) == []
    assert sorted(p.name for p in state.iterdir()) == ["bottle-ca.pem", "ca-bundle.pem"]
    # the bundle carries the system roots too, not only the bottle CA
    assert ca.files.bundle.read_bytes().count(b"BEGIN CERTIFICATE") > 10
    ca.destroy()
    assert not ca.files.cert.exists() and not ca.files.bundle.exists()
    with pytest.raises(RuntimeError):
        ca.issue_leaf("x.test", [x509.DNSName("x.test")])


def test_a_stale_key_file_is_shredded_when_a_ca_is_made(tmp_path: Path) -> None:
    """What an older version (key in `mitmproxy-ca.pem`) or a plain mitmproxy left behind."""
    state = tmp_path / "state"
    state.mkdir()
    stale = state / "mitmproxy-ca.pem"
    stale.write_bytes(a_private_key_pem())
    assert private_key_files(tmp_path) == [stale]  # the detector sees a real key
    (state / "mitmproxy-ca.p12").write_bytes(b"pkcs12 key")
    ca = BottleCA.create(state, "b")
    assert not stale.exists() and not (state / "mitmproxy-ca.p12").exists()
    assert private_key_files(tmp_path) == []
    ca.destroy()


def test_leaf_has_san_aki_ski_and_never_outlives_ca(tmp_path: Path) -> None:
    ca = BottleCA.create(tmp_path / "s", "b", validity_hours=2)
    leaf = ca.issue_leaf("api.example.com", [x509.DNSName("api.example.com")])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example.com"]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski_ca = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski_ca.digest
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf.not_valid_after_utc <= ca.cert.not_valid_after_utc
    assert leaf.public_key() != ca.cert.public_key()  # leaves never use the CA key


def _openssl_verify(ca_pem: Path, leaf: x509.Certificate, tmp: Path) -> subprocess.CompletedProcess[str]:
    require_binary("openssl")
    leaf_path = tmp / "leaf.pem"
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return subprocess.run(["openssl", "verify", "-CAfile", str(ca_pem), str(leaf_path)],
                          capture_output=True, text=True, check=False)


def test_name_constraints_reject_leaves_outside(tmp_path: Path) -> None:
    ca = BottleCA.create(tmp_path / "s", "b", permitted_hosts=["*.github.com", "pypi.org"])
    nc = ca.cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    inside = ca.issue_leaf("api.github.com", [x509.DNSName("api.github.com")])
    outside = ca.issue_leaf("evil.example", [x509.DNSName("evil.example")])
    ok = _openssl_verify(ca.files.cert, inside, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _openssl_verify(ca.files.cert, outside, tmp_path)
    assert bad.returncode != 0
    assert "subtree" in (bad.stdout + bad.stderr).lower()


def _leaf_through_proxy(proxy_url: str, host: str, port: int, bundle: str,
                        strict: bool) -> x509.Certificate:
    proxy_host, proxy_port = proxy_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((proxy_host, int(proxy_port)), timeout=10)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    assert b" 200 " in head.split(b"\r\n")[0]
    ctx = ssl.create_default_context(cafile=bundle)
    if strict:
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with ctx.wrap_socket(sock, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _python313() -> str | None:
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))]
    candidates += [p for p in (shutil.which("python3.13"),) if p]
    for c in candidates:
        if subprocess.run([str(c), "-c", "pass"], capture_output=True).returncode == 0:
            return str(c)
    return None


def test_proxy_leaves_pass_strict_x509_verification(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    proc = egress(write_policy("hosts:\n  allow:\n    - hosts: [allowed.test]\n"))
    leaf = _leaf_through_proxy(proc.url, "allowed.test", origin.port,
                               proc.env["SSL_CERT_FILE"], strict=True)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "allowed.test" in san.get_values_for_type(x509.DNSName)
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    # Python 3.13 turns VERIFY_X509_STRICT on by default: prove a real 3.13 client accepts us.
    py313 = _python313()
    if py313 is None:
        missing("python3.13", "install Python 3.13 (pyenv install 3.13)")
        return
    code = ("import ssl,urllib.request,sys;"
            "h=urllib.request.ProxyHandler({'https':sys.argv[1]});"
            "c=ssl.create_default_context(cafile=sys.argv[2]);"
            "assert c.verify_flags & ssl.VERIFY_X509_STRICT;"
            "o=urllib.request.build_opener(h,urllib.request.HTTPSHandler(context=c));"
            "print(o.open(sys.argv[3],timeout=20).read().decode())")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYENV")}
    res = subprocess.run([py313, "-c", code, proc.url, proc.env["SSL_CERT_FILE"],
                          f"https://allowed.test:{origin.port}/strict"],
                         capture_output=True, text=True, check=False, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "hello from origin" in res.stdout


def test_name_constrained_proxy_still_serves_allowed_hosts(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin) -> None:
    proc = egress(write_policy("""
        hosts:
          allow:
            - hosts: [allowed.test]
        ca:
          name_constraints: true
    """))
    ca_cert = x509.load_pem_x509_certificate((proc.state_dir / "bottle-ca.pem").read_bytes())
    nc = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    assert [n.value for n in nc.permitted_subtrees or []] == ["allowed.test"]
    leaf = _leaf_through_proxy(proc.url, "allowed.test", origin.port,
                               proc.env["SSL_CERT_FILE"], strict=True)
    assert leaf.issuer == ca_cert.subject


def test_stop_destroys_the_key_and_state(egress: EgressFactory, write_policy: PolicyWriter) -> None:
    proc = egress(write_policy("hosts:\n  allow:\n    - hosts: [allowed.test]\n"))
    assert stat.S_IMODE(os.stat(proc.state_dir).st_mode) == 0o700
    # a running proxy keeps its CA key in memory only (mitmproxy gets the key object)
    assert private_key_files(proc.state_dir) == []
    assert not (proc.state_dir / "mitmproxy-ca.pem").exists()
    assert proc.stop() == 0
    assert not (proc.state_dir / "ca-bundle.pem").exists()
    assert "Traceback" not in proc.stderr()
