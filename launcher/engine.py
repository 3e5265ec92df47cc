"""Reaching the Docker engine, with one clear error when it is not there."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

from launcher.errors import LauncherError

# Every resource a bottle owns carries these labels; `ls`, `stop` and crash clean-up find
# resources by label, never by name alone.
LABEL_BOTTLE = "io.bottle-egress.bottle"
LABEL_ROLE = "io.bottle-egress.role"
LABEL_MANAGED = "io.bottle-egress.managed"
# The digest of the policy the egress reads (`bottle policy check` and its audit log show it).
LABEL_POLICY = "io.bottle-egress.policy-digest"


def connect(timeout: int = 60) -> Any:
    """A docker client (`docker.DockerClient`), or a LauncherError that says how to get one."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as e:
        detail = str(e).split("\n")[0]
        raise LauncherError(
            f"cannot reach the Docker engine ({detail})",
            "start Docker (e.g. `sudo scripts/start-docker.sh`, or `systemctl start docker`), "
            "or point DOCKER_HOST at a running engine") from None
    return client


def image_exists(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def labels(bottle: str, role: str) -> dict[str, str]:
    return {LABEL_MANAGED: "1", LABEL_BOTTLE: bottle, LABEL_ROLE: role}


def bottle_filter(bottle: str | None = None) -> dict[str, list[str]]:
    """Docker API filters for one bottle's resources (or every bottle's)."""
    return {"label": [f"{LABEL_BOTTLE}={bottle}" if bottle else LABEL_BOTTLE]}
