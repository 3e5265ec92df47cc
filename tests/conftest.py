"""Shared fixtures: a test PKI, a recording resolver, a TLS origin and the real proxy."""

from __future__ import annotations

import atexit
import os
import random
import re
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Compiled rule databases go to a cache of this run's own (inherited by every proxy the tests
# start), never to the user's ~/.cache: set before anything imports the scanners.
if "BOTTLE_EGRESS_CACHE" not in os.environ:
    os.environ["BOTTLE_EGRESS_CACHE"] = tempfile.mkdtemp(prefix="bottle-egress-test-cache-")
    atexit.register(shutil.rmtree, os.environ["BOTTLE_EGRESS_CACHE"], True)

from tests.support.dns import DNSFixture
from tests.support.origin import Origin
from tests.support.pki import ServerCert, TestPKI
from tests.support.prereq import require_binary, require_root
from tests.support.proxy import EgressProcess

# Names the recording resolver answers with 127.0.0.1; the origin's certificate covers them.
TEST_NAMES = ["allowed.test", "api.allowed.test", "denied.test", "other.test", "pinned.test",
              "cdn.test", "upstream-only.test", "localhost"]


# A PEM private key block (not merely the words, which the DLP rule cache holds too).
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{40,}"
                             rb"-----END [A-Z0-9 ]*PRIVATE KEY-----")


def a_private_key_pem() -> bytes:
    """A real key, PEM: what a stale key file left by an older version would hold."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())


def private_key_files(root: Path) -> list[Path]:
    """Files under `root` that hold a PEM private key."""
    found = []
    for p in root.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink() and PEM_PRIVATE_KEY.search(p.read_bytes()):
                found.append(p)
        except OSError:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def no_private_key_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole session (set up first, so torn down last), no private key is left in
    the temporary directories the suite made: the bottle CA's key never touches disk, and
    the test PKI removes its own."""
    yield
    roots = [tmp_path_factory.getbasetemp(), Path(os.environ["BOTTLE_EGRESS_CACHE"])]
    left = [p for root in roots if root.is_dir() for p in private_key_files(root)]
    if left:
        pytest.fail("private keys left behind by the test session: "
                    + ", ".join(str(p) for p in left[:10]), pytrace=False)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPKI]:
    directory = tmp_path_factory.mktemp("pki")
    yield TestPKI(directory)
    for key in directory.glob("*.key"):
        key.unlink()


@pytest.fixture(scope="session")
def origin_cert(pki: TestPKI) -> ServerCert:
    return pki.server_cert("origin", [*TEST_NAMES, "127.0.0.1"])


@pytest.fixture
def origin(origin_cert: ServerCert) -> Iterator[Origin]:
    with Origin(origin_cert) as o:
        yield o


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DNSFixture]:
    require_root("the test resolver listens on port 53 of a loopback address")
    require_binary("unshare", "util-linux")
    address = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
    with DNSFixture(address, 53, {"test": "127.0.0.1"}) as d:
        yield d


@pytest.fixture
def dns(dns_server: DNSFixture) -> DNSFixture:
    with dns_server.resolver._lock:
        dns_server.resolver.queries.clear()
    return dns_server


PolicyWriter = Callable[..., Path]


@pytest.fixture
def write_policy(tmp_path: Path) -> PolicyWriter:
    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path
    return write


EgressFactory = Callable[..., EgressProcess]
# `bottle egress run` flags that let the proxy reach the suite's loopback origins.
LOCAL_ORIGIN_FLAGS = ["--allow-private", "127.0.0.1", "--any-port"]


@pytest.fixture(scope="session")
def rule_cache() -> None:
    """The default catalogue's compiled rule databases, in this run's cache before the first
    proxy starts: otherwise that proxy compiles them (over a minute on a loaded machine, past
    the harness's start timeout)."""
    from egress.policy.store import load_compiled

    load_compiled(str(Path(__file__).resolve().parents[1] / "policies" / "default.yaml"))


@pytest.fixture
def egress(tmp_path: Path, pki: TestPKI, dns: DNSFixture, rule_cache: None) -> Iterator[EgressFactory]:
    """Start the real proxy (trusting the origin's test CA, resolving via the test resolver).

    The test origins listen on 127.0.0.1 (the test resolver's answer for every name) on free
    ports, which the proxy refuses by default (a non-public address; a port other than 80 or
    443). `local_origin=True` (the default) starts it with the documented development flags
    `--allow-private 127.0.0.1 --any-port`, so that a test's policy means what it says about
    hosts, methods and paths; tests of those two defences pass `local_origin=False`."""
    started: list[EgressProcess] = []

    def start(policy: Path, *args: str, trust_origin: bool = True, local_origin: bool = True,
              env: dict[str, str] | None = None) -> EgressProcess:
        extra = ["--policy", str(policy), "--state-dir", str(tmp_path / f"state{len(started)}")]
        if trust_origin:
            extra += ["--upstream-ca", str(pki.ca_path)]
        if local_origin:
            extra += LOCAL_ORIGIN_FLAGS
        workdir = tmp_path / f"proc{len(started)}"
        workdir.mkdir()
        proc = EgressProcess([*extra, *args], workdir, dns=dns, extra_env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
