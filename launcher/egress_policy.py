"""The policy and secret files as the egress container reads them.

A `file:` source of `credentials:` or `dlp.known_secrets` names a path on the host. The
egress container cannot read the host, so `bottle start` copies each file in. Not at the same
path: the container's own tmpfs mounts (`/tmp`, `/run/bottle`) are mounted over its
filesystem when it starts, and a file copied under one of them is hidden (18.10 in
docs/bypass-resistance.md: a secret under `/tmp` made `bottle start` fail). Every secret file
goes to `/etc/bottle/secrets/<n>` instead (0400, the egress user's, a directory no mount
covers), and the copy of the policy the egress reads names those paths. Only the `file:`
values change; the rest of the policy text, comments included, is the reviewer's.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

SECRETS_DIR = "/etc/bottle/secrets"


@dataclass
class EgressFiles:
    """What goes into the egress container: the policy text it reads and, by path inside
    the container, the secret files that policy names."""

    policy: bytes
    secrets: dict[str, bytes]


def _file_sources(tree: Any) -> list[dict[str, Any]]:
    """The mappings holding a `file:` key: each credential's `source`, each known secret."""
    found: list[dict[str, Any]] = []
    if not isinstance(tree, dict):
        return found
    for cred in tree.get("credentials") or []:
        source = cred.get("source") if isinstance(cred, dict) else None
        if isinstance(source, dict) and "file" in source:
            found.append(source)
    dlp = tree.get("dlp")
    for known in (dlp.get("known_secrets") or []) if isinstance(dlp, dict) else []:
        if isinstance(known, dict) and "file" in known:
            found.append(known)
    return found


def egress_files(policy_text: str, secret_files: dict[str, bytes]) -> EgressFiles:
    """`secret_files`: the content of every `file:` source, keyed by the path as the policy
    writes it (read on the host by `secret_inputs`)."""
    inside = {path: f"{SECRETS_DIR}/{n}" for n, path in enumerate(sorted(secret_files), 1)}
    if not inside:
        return EgressFiles(policy_text.encode(), {})
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # no re-wrapping: the egress's line numbers stay the reviewer's
    tree = yaml.load(policy_text)
    for source in _file_sources(tree):
        source["file"] = inside[str(source["file"])]
    out = io.StringIO()
    yaml.dump(tree, out)
    return EgressFiles(out.getvalue().encode(), {inside[p]: secret_files[p] for p in inside})


def read_secret_file(path: str) -> bytes:
    """A `file:` source as the proxy reads it (`~` expanded, relative to the working directory)."""
    return Path(path).expanduser().read_bytes()


def secrets_archive(files: dict[str, bytes], uid: int) -> bytes:
    """A tar for `put_archive` at `/`: the secrets directory (0700) and its files (0400), all
    the egress user's."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        directory = tarfile.TarInfo(SECRETS_DIR.lstrip("/"))
        directory.type, directory.mode, directory.uid, directory.gid = tarfile.DIRTYPE, 0o700, uid, uid
        directory.mtime = now
        tar.addfile(directory)
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o400, uid, uid, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
