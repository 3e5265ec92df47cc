"""`bottle demo`: the proxy at work in a few seconds, offline.

Starts a local HTTPS origin on loopback with its own throwaway CA, then the real proxy
(`bottle egress run`, a subprocess, as a user runs it) with a small policy that allows that
origin, and sends three requests through it: one allowed, one to a host no rule allows, one
carrying a freshly generated AWS secret key. Prints what each client got and the audit lines.
Nothing leaves the machine: the denied host is refused before any lookup.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import shlex
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

START_TIMEOUT = 60.0


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 signer: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(signer, hashes.SHA256())


def _origin_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1: (CA file, cert file, key file)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("bottle demo origin CA", ca_key,
                      x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bottle demo origin CA")]),
                      ca_key, ca=True)
    leaf = _certificate("127.0.0.1", key, ca.subject, ca_key, ca=False)
    paths = directory / "origin-ca.pem", directory / "origin.pem", directory / "origin.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class _Handler(BaseHTTPRequestHandler):
    received: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.received.append(f"{self.command} {self.path}")
        body = b"hello from the demo origin\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _origin(cert: Path, key: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return env


def _request(env: dict[str, str], method: str, url: str, body: bytes | None = None) -> str:
    """What a client sees, in one line."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": env["HTTPS_PROXY"]}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=env["SSL_CERT_FILE"])))
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with opener.open(req, timeout=10) as resp:
            return f"{resp.status} {resp.read().decode().strip()!r}"
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            doc = json.loads(text)
            return f"{e.code} {doc.get('rule')}: {doc.get('reason') or doc.get('message') or ''}".strip()
        except ValueError:
            return f"{e.code} {text[:120]!r}"
    except urllib.error.URLError as e:
        return f"refused: {e.reason}"


def _reason(audit: Path, url: str) -> str:
    """The rule and reason the audit log gives for `url`'s host (written as the flow ends)."""
    host = url.split("/")[2]
    for _ in range(50):
        for line in audit.read_text().splitlines() if audit.exists() else []:
            event = json.loads(line)
            if event.get("host") == host and event.get("findings"):
                f = event["findings"][0]
                return f"{f['scanner']}/{f['rule']}: {f['reason']}"
        time.sleep(0.02)
    return "see the audit log"


def run_demo(out: Any = sys.stdout) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bottle-demo-") as tmp:
        work = Path(tmp)
        ca, cert, key = _origin_pki(work)
        origin = _origin(cert, key)
        port = origin.server_address[1]
        policy = work / "demo-policy.yaml"
        policy.write_text("version: 1\nhosts:\n  allow:\n    - name: demo-origin\n"
                          f"      hosts: [127.0.0.1]\n      ports: [{port}]\n"
                          "  allow_private: [127.0.0.1]\n")
        env_file, audit = work / "client.env", work / "audit.jsonl"
        proxy = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "egress", "run", "--listen", "127.0.0.1:0",
             "--policy", str(policy), "--upstream-ca", str(ca), "--env-file", str(env_file),
             "--state-dir", str(work / "state"), "--audit-log", str(audit), "--bottle-id", "demo"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not env_file.exists():
                if proxy.poll() is not None or time.monotonic() > deadline:
                    proxy.kill()
                    _, err = proxy.communicate()
                    print(f"bottle demo: the proxy did not start:\n{err}", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            env = _read_env(env_file)
            base = f"https://127.0.0.1:{port}"
            print(f"origin  {base} (HTTPS, its own throwaway CA)\nproxy   {env['HTTPS_PROXY']} "
                  f"(bottle CA: fresh, in memory)\npolicy  allow 127.0.0.1:{port}; nothing else\n",
                  file=out)
            # Fresh each run, never a real key. Letters and digits only: in a form body `/` and
            # `+` change how the value is read, and the demo should show the provider rule.
            alphabet = string.ascii_letters + string.digits
            leaked = "".join(secrets.choice(alphabet) for _ in range(40))
            steps = [
                ("allowed request", "GET", f"{base}/hello", None),
                ("host not allowed", "GET", "https://example.com/", None),
                ("secret in a body", "POST", f"{base}/upload",
                 f"aws_secret_access_key = {leaked}\n".encode()),
            ]
            for n, (title, method, url, body) in enumerate(steps, 1):
                got = _request(env, method, url, body)
                print(f"{n}. {title}: {method} {url}\n   -> {got}", file=out)
                if got.startswith("refused"):
                    print(f"   (refused at CONNECT; the proxy's reason: {_reason(audit, url)})", file=out)
            print(f"\norigin received: {', '.join(_Handler.received) or 'nothing'}", file=out)
        finally:
            proxy.terminate()
            proxy.communicate(timeout=30)
            origin.shutdown()
        print(f"\naudit log ({audit.name}, JSON lines; no secret values):", file=out)
        for line in audit.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") in ("request", "connect") or "verdict" in event:
                print(f"  {line}", file=out)
        print(f"\ndone in {time.monotonic() - started:.1f} s", file=out)
    return 0
