"""Docker test environment: the engine, the images, and a test 'outside world' network.

The outside world of a test bottle is one Docker network holding a TLS origin (answering as
allowed.test, denied.test, ...) and a squid forward proxy playing pipelock's part. The bottle's
egress container joins it through `--upstream-network`; the agent never does.

Hermetic on a shared engine: every object a test run creates carries this run's id
(`RUN_ID`) in its name or label (bottles: `run_name()`), and clean-up only ever touches those.
The images are pinned under this run's own tags, so another checkout building and pruning its
own `bottle-egress` cannot take them away mid-run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.pki import ServerCert
from tests.support.prereq import missing, require_binary, require_root

REPO = Path(__file__).resolve().parents[2]
ORIGIN_NAMES = ["allowed.test", "api.allowed.test", "denied.test", "other.test"]
TEST_LABEL = "io.bottle-egress.test"
RUN_ID = secrets.token_hex(3)
PINNED_REPO = "bottle-test-{kind}"


def run_name(prefix: str) -> str:
    """A bottle name unique to this test run (bottle names are at most 41 characters)."""
    return f"{prefix}-{RUN_ID}"


def docker_client() -> Any:
    try:
        import docker
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as e:
        missing(f"a Docker engine ({type(e).__name__})", "sudo scripts/start-docker.sh")
        raise AssertionError("unreachable") from None
    return client


def build_test_images(client: Any) -> dict[str, str]:
    """The offline images (cached by content hash: fast when nothing changed), each pinned
    as `bottle-test-<kind>:<RUN_ID>` for this run; `release_test_images` drops the pins."""
    from launcher.images import base_tag, build

    if not client.images.list(name=base_tag().split(":")[0]) or os.geteuid() != 0:
        require_root("debootstrap builds the offline base image")
        require_binary("debootstrap")
    built = build(client, ["egress", "agent", "squid"], offline=True, prune=False)
    pinned = {}
    for kind, tag in built.items():
        repo = PINNED_REPO.format(kind=kind)
        client.images.get(tag).tag(repo, RUN_ID)
        pinned[kind] = f"{repo}:{RUN_ID}"
    return pinned


def release_test_images(client: Any, images: dict[str, str]) -> None:
    for ref in images.values():
        with contextlib.suppress(Exception):
            client.images.remove(ref, noprune=True)


def bottle_cli(*args: str, timeout: float = 120, env: dict[str, str | None] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """`bottle ARGS` in a new process; `env` adds variables (None: removes one)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO)
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def tar_files(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def run_in(container: Any, script: str, user: str = "") -> tuple[int, str]:
    """Run a shell script inside a container; (exit code, stdout+stderr)."""
    res = container.exec_run(["sh", "-c", script], user=user)
    return res.exit_code, res.output.decode(errors="replace")


@dataclass
class OutsideWorld:
    network: str
    origin: Any
    squid: Any
    origin_ip: str
    squid_ip: str
    resolver: Any  # the recording upstream resolver for the DNS guard
    resolver_ip: str

    def resolver_queries(self) -> list[str]:
        out = []
        for line in self.resolver.logs(stdout=True, stderr=False).decode().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                doc = json.loads(line)
                if "query" in doc:
                    out.append(doc["query"])
        return out

    @property
    def squid_url(self) -> str:
        return f"http://{self.squid.name}:3128"

    def origin_requests(self) -> list[dict[str, Any]]:
        self.origin.reload()
        out = []
        for line in self.origin.logs(stdout=True, stderr=False).decode().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                doc = json.loads(line)
                if "method" in doc:
                    out.append(doc)
        return out

    def squid_log(self) -> str:
        return run_in(self.squid, "cat /var/log/squid/access.log")[1]


@contextlib.contextmanager
def outside_world(client: Any, images: dict[str, str], cert: ServerCert) -> Iterator[OutsideWorld]:
    tag = f"{RUN_ID}-{secrets.token_hex(2)}"
    labels = {TEST_LABEL: tag}
    net = client.networks.create(f"bottle-e2e-outside-{tag}", driver="bridge", labels=labels)
    created: list[Any] = []
    try:
        origin = client.containers.create(
            images["agent"], ["python3", "/srv/origin_server.py", "/srv/cert.pem", "/srv/key.pem",
                              "443"],
            name=f"bottle-e2e-origin-{tag}", labels=labels, detach=True)
        created.append(origin)
        origin.put_archive("/srv", tar_files({
            "origin_server.py": (REPO / "tests/support/origin_server.py").read_bytes(),
            "cert.pem": cert.cert_path.read_bytes(), "key.pem": cert.key_path.read_bytes()}))
        client.networks.get("bridge").disconnect(origin)
        net.connect(origin, aliases=ORIGIN_NAMES)
        squid = client.containers.create(images["squid"], name=f"bottle-e2e-squid-{tag}",
                                         labels=labels, detach=True, network=net.name)
        created.append(squid)
        origin.start()
        squid.start()
        origin.reload()
        origin_ip = origin.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        resolver = client.containers.create(
            images["egress"], ["-m", "tests.support.dns_recorder", "test", origin_ip],
            entrypoint=["/opt/bottle/bin/python"], user="0", name=f"bottle-e2e-dns-{tag}",
            labels=labels, detach=True, network=net.name, working_dir="/srv")
        created.append(resolver)
        resolver.put_archive("/srv", tar_files({
            f"tests/{name}": (REPO / "tests" / name).read_bytes()
            for name in ("__init__.py", "support/__init__.py", "support/dns.py",
                         "support/dns_recorder.py")}))
        resolver.start()
        deadline = time.monotonic() + 30
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError("the test origin, squid or resolver did not come up in 30 s")
            squid.reload()
            squid_ready = "Accepting HTTP Socket connections" in run_in(
                squid, "cat /var/log/squid/cache.log 2>/dev/null")[1]
            if squid_ready and b"listening" in origin.logs() and b"listening" in resolver.logs():
                break
            resolver.reload()
            if "exited" in (squid.status, origin.status, resolver.status):
                raise RuntimeError(f"test upstream failed:\n{squid.logs().decode()}\n"
                                   f"{origin.logs().decode()}\n{resolver.logs().decode()}")
            time.sleep(0.2)
        squid.reload()
        resolver.reload()
        yield OutsideWorld(net.name, origin, squid, origin_ip,
                           squid.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"],
                           resolver,
                           resolver.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"])
    finally:
        for c in created:
            with contextlib.suppress(Exception):
                c.remove(force=True)
        with contextlib.suppress(Exception):
            net.remove()
