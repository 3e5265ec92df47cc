"""Building the bottle images, online or offline, cached by a content hash of their inputs.

- `bottle-egress`: this repository's proxy (`images/egress.Dockerfile`);
- `bottle-agent`: a small agent with common clients (tests, `bottle doctor` demos);
- `bottle-squid-test`: Debian's squid standing in for pipelock in tests.

Online (the default for users) the Dockerfiles start from an official Python image and pip
installs from the package index inside the build. Offline (`--offline`) they start from a
base made here — `debootstrap` of Debian trixie (python3 3.13; bookworm's 3.11 is too old for
mitmproxy 12), imported with `docker import` — and the egress image installs only from a
wheelhouse downloaded on the host for the base's Python and platform. Each image is tagged
with a hash of everything that went into it, so a rerun with unchanged inputs builds nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from launcher.defaults import AGENT, EGRESS, OFFLINE_BUILD_COMMAND, SQUID
from launcher.engine import image_exists
from launcher.errors import LauncherError

log = logging.getLogger("launcher.images")

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"
WHEELHOUSE_ROOT = CACHE / "wheelhouse"

BASE_REPO = "bottle-base"
ONLINE_BASE = "python:3.13-slim"
ONLINE_SQUID_BASE = "debian:trixie-slim"

DEBIAN_SUITE = "trixie"
BASE_PACKAGES = ("python3", "ca-certificates")
# Removed from the debootstrap tree: nothing in a container reads them.
TRIM = ("var/lib/apt/lists/*", "var/cache/apt/*", "usr/share/doc/*", "usr/share/man/*",
        "usr/share/info/*", "usr/share/locale/*", "var/log/*", "etc/hostname")
BASE_RECIPE_VERSION = "1"
# Set on the build stage of multi-stage Dockerfiles, so old stages can be pruned.
STAGE_LABEL = "io.bottle-egress.build-stage"


# Sources of the egress image: a change in any of them makes a new tag.
# Every package `pyproject.toml` installs must be here, or the image's wheel lacks it
# (tests/test_launcher_unit.py checks).
EGRESS_INPUTS = ("pyproject.toml", "README.md", "egress", "addons", "proxy", "cli", "ca", "launcher",
                 "deploy", "policies", "images/egress.Dockerfile")


@dataclass(frozen=True)
class ImageKind:
    name: str
    dockerfile: str
    inputs: tuple[str, ...]
    online_base: str


KINDS = {
    "egress": ImageKind(EGRESS, "images/egress.Dockerfile", EGRESS_INPUTS, ONLINE_BASE),
    "agent": ImageKind(AGENT, "images/agent-test.Dockerfile", ("images/agent-test.Dockerfile",),
                       ONLINE_BASE),
    "squid": ImageKind(SQUID, "images/squid-test.Dockerfile",
                       ("images/squid-test.Dockerfile", "images/squid-test.conf"), ONLINE_SQUID_BASE),
}


@dataclass
class BuildReport:
    """What a build did, for the CLI and the benchmark: image -> (tag, seconds, cached)."""

    images: dict[str, tuple[str, float, bool]] = field(default_factory=dict)

    def add(self, kind: str, tag: str, seconds: float, cached: bool) -> None:
        self.images[kind] = (tag, round(seconds, 1), cached)

    def as_json(self) -> str:
        return json.dumps({k: {"image": t, "seconds": s, "cached": c}
                           for k, (t, s, c) in self.images.items()})


def _digest(parts: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h.hexdigest()[:12]


def _tree_files(rel: str) -> list[Path]:
    root = REPO / rel
    if root.is_file():
        return [root]
    # .so: the host's compiled hostname scorer, left out of the build context (.dockerignore)
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so"))


def inputs_digest(paths: Sequence[str], extra: Sequence[str] = ()) -> str:
    parts: list[bytes | str] = list(extra)
    for rel in paths:
        for f in _tree_files(rel):
            parts += [str(f.relative_to(REPO)), f.read_bytes()]
    return _digest(parts)


# -- the debootstrap base --------------------------------------------------------------------

def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (BOTTLE_DEBIAN_MIRROR overrides)."""
    override = os.environ.get("BOTTLE_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for src in sources:
        try:
            text = src.read_text()
        except OSError:
            continue
        for m in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", text, re.M):
            return m.group(1).rstrip("/")
    return "http://deb.debian.org/debian"


def base_tag(suite: str = DEBIAN_SUITE, mirror: str | None = None) -> str:
    mirror = mirror or debian_mirror()
    key = _digest([BASE_RECIPE_VERSION, suite, mirror, *BASE_PACKAGES, *TRIM])
    return f"{BASE_REPO}:{suite}-{key}"


def build_base(client: Any, suite: str = DEBIAN_SUITE, report: BuildReport | None = None) -> str:
    """A minimal Debian with python3, from debootstrap + docker import (root, debootstrap)."""
    mirror = debian_mirror()
    tag = base_tag(suite, mirror)
    started = time.monotonic()
    if image_exists(client, tag):
        if report:
            report.add("base", tag, time.monotonic() - started, True)
        return tag
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise LauncherError("the offline base image needs debootstrap",
                            "apt-get install debootstrap (or give --base IMAGE)")
    if os.geteuid() != 0:
        raise LauncherError("debootstrap needs root to build the offline base image",
                            f"run `{OFFLINE_BUILD_COMMAND}` (or give --base IMAGE)")
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
               suite, str(rootfs), mirror]
        log.info("debootstrap %s from %s ...", suite, mirror)
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
            raise LauncherError(f"debootstrap {suite} failed:\n{tail}",
                                "check the Debian mirror (BOTTLE_DEBIAN_MIRROR) and retry")
        for pattern in TRIM:
            for p in rootfs.glob(pattern):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."],
                       check=True)
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(
            str(tarball), repository=repo, tag=version,
            changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]'])
    if report:
        report.add("base", tag, time.monotonic() - started, False)
    return tag


# -- the wheelhouse --------------------------------------------------------------------------

@dataclass(frozen=True)
class Platform:
    """The Python of an image, as pip's --python-version/--platform/--abi need it."""

    python: str  # "3.13"
    machine: str  # "x86_64"
    glibc: tuple[int, int]

    def pip_args(self) -> list[str]:
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        legacy = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
        tags += [f"{name}_{self.machine}" for name, v in legacy.items() if v <= self.glibc]
        tags.append(f"linux_{self.machine}")
        nodot = self.python.replace(".", "")
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp",
                "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
        for t in [*tags, "any"]:
            args += ["--platform", t]
        return args


PROBE = ("import platform, sys; v = platform.libc_ver()[1] or '2.17'; "
         "print(f'{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()} {v}')")


def image_platform(client: Any, image: str) -> Platform:
    out = client.containers.run(image, ["python3", "-c", PROBE], remove=True, network_disabled=True)
    python, machine, glibc = out.decode().split()
    major, minor = (int(x) for x in glibc.split(".")[:2])
    if tuple(int(x) for x in python.split(".")) < (3, 12):
        raise LauncherError(f"{image} has Python {python}; bottle-egress needs >= 3.12 (mitmproxy 12)",
                            "use a base with a newer python3 (Debian trixie, python:3.13-slim)")
    return Platform(python, machine, (major, minor))


def _wheel_requirements() -> list[str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [*meta["project"]["dependencies"], *meta["build-system"]["requires"], "pip"]


def wheelhouse_path(platform: Platform) -> Path:
    key = _digest([json.dumps(_wheel_requirements()), platform.python, platform.machine,
                   str(platform.glibc)])
    return WHEELHOUSE_ROOT / f"py{platform.python}-{key}"


def wheelhouse(platform: Platform) -> Path:
    """Every wheel the egress image installs (and pip + setuptools to install it), downloaded
    on the host; reused while pyproject.toml's dependencies and the platform are unchanged."""
    reqs = _wheel_requirements()
    target = wheelhouse_path(platform)
    done = target / ".complete"
    if done.exists():
        return target
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
           "-d", str(target), *platform.pip_args(), *reqs]
    log.info("downloading wheels for Python %s (%s) ...", platform.python, platform.machine)
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        errors = [ln for ln in res.stderr.splitlines() if "ERROR" in ln][-5:]
        raise LauncherError("pip download for the offline wheelhouse failed:\n" + "\n".join(errors),
                            "check that this machine reaches the Python package index")
    done.write_text(json.dumps(reqs))
    # Older wheelhouses are dead weight in every build context: keep only this one.
    for other in WHEELHOUSE_ROOT.iterdir():
        if other != target and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    return target


# -- the images ------------------------------------------------------------------------------

def image_tag(kind: str, base_id: str, wheels: Path | None = None) -> str:
    spec = KINDS[kind]
    extra = [base_id]
    if wheels is not None:
        extra += sorted(p.name for p in wheels.glob("*.whl"))
    return f"{spec.name}:{inputs_digest(spec.inputs, extra)}"


def prune_older(client: Any, repo: str, keep: str) -> None:
    """Drop earlier builds of `repo` (each source change makes a new tag) and their build
    stages; an image a container still uses stays."""
    for image in client.images.list(name=repo):
        for old in image.tags:
            if old not in (keep, f"{repo}:latest"):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(old)
    with contextlib.suppress(docker.errors.APIError):
        client.images.prune(filters={"dangling": True, "label": f"{STAGE_LABEL}={repo}"})


def build_image(client: Any, kind: str, base: str, wheels: Path | None = None,
                report: BuildReport | None = None, prune: bool = True) -> str:
    """Build one image unless an image with the same inputs exists; also tag it :latest.
    `prune`: drop earlier builds (not while other checkouts share the engine: tests)."""
    spec = KINDS[kind]
    started = time.monotonic()
    base_id = client.images.get(base).id
    tag = image_tag(kind, base_id, wheels)
    cached = image_exists(client, tag)
    if not cached:
        buildargs = {"BASE": base}
        if wheels is not None:
            buildargs["WHEELHOUSE"] = str(wheels.relative_to(REPO))
        log.info("building %s from %s ...", tag, base)
        try:
            client.images.build(path=str(REPO), dockerfile=spec.dockerfile, tag=tag,
                                buildargs=buildargs, rm=True, forcerm=True, pull=False)
        except docker.errors.BuildError as e:
            lines = [str(c.get("stream") or c.get("error") or "").rstrip() for c in e.build_log]
            tail = "\n".join(ln for ln in lines if ln)[-3000:]
            raise LauncherError(f"building {spec.name} failed:\n{tail}",
                                "fix the error above and rerun the build") from None
        except docker.errors.APIError as e:
            raise LauncherError(f"building {spec.name} failed: {e.explanation or e}",
                                f"make sure the base image {base} is present (docker pull {base}, "
                                f"or `{OFFLINE_BUILD_COMMAND}`)") from None
    client.images.get(tag).tag(spec.name, "latest")
    if not cached and prune:
        prune_older(client, spec.name, tag)
    if report:
        report.add(kind, tag, time.monotonic() - started, cached)
    return tag


def build(client: Any, kinds: Sequence[str], offline: bool, base: str | None = None,
          report: BuildReport | None = None, prune: bool = True) -> dict[str, str]:
    """Build `kinds` ("egress", "agent", "squid"); returns kind -> image tag."""
    report = report or BuildReport()
    if offline and base is None:
        base = build_base(client, report=report)
    tags: dict[str, str] = {}
    for kind in kinds:
        kind_base = base or KINDS[kind].online_base
        if offline and not image_exists(client, kind_base):
            raise LauncherError(f"base image {kind_base} is not present and pulls are not attempted",
                                f"docker pull {kind_base}, or build offline: `{OFFLINE_BUILD_COMMAND}`")
        wheels = None
        if kind == "egress" and offline:
            started = time.monotonic()
            platform = image_platform(client, kind_base)
            cached = wheelhouse_path(platform).joinpath(".complete").exists()
            wheels = wheelhouse(platform)
            report.add("wheelhouse", str(wheels.relative_to(REPO)), time.monotonic() - started, cached)
        tags[kind] = build_image(client, kind, kind_base, wheels, report, prune)
    return tags
