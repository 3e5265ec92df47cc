"""Per-agent identities behind one shared egress (`bottle egress run --agent-identities FILE`).

In the Kubernetes gateway layout one egress serves many agent pods. Each agent proves who it
is with a proxy credential in its proxy URL (`http://<agent>:<token>@gateway:8080`, sent by
clients as `Proxy-Authorization: Basic ...`); the proxy holds only SHA-256 hashes of the
tokens, one line per agent:

    # agent name      sha256 of its token (hex)
    agent-a           sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

The tokens are random (32 bytes or more), so a plain hash is enough: nothing is guessable
from it. The authenticated name is what pipelock sees as `X-Pipelock-Agent` and what the
audit log records as `agent`. The file is read once at start (a changed file needs a restart).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RULES = {
    "missing-credential": "A request or CONNECT without Proxy-Authorization reached an egress "
    "that serves several agents (`--agent-identities`); it was answered 407.",
    "invalid-credential": "A request or CONNECT whose proxy credential names no agent or has "
    "the wrong token; it was answered 407.",
}

AGENT_KEY = "bottle-egress-agent"  # flow.metadata: the authenticated agent's name


def agent_of(metadata: Mapping[str, Any]) -> str | None:
    """The agent a flow was authenticated as, from its metadata (`AGENT_KEY`)."""
    name = metadata.get(AGENT_KEY)
    return name if isinstance(name, str) else None


AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_HASH = re.compile(r"^sha256:([0-9a-f]{64})$")
# Compared against when the name is unknown, so that a wrong name costs what a wrong token does.
_NO_HASH = bytes(32)


class IdentityFileError(Exception):
    """The identities file cannot be used (message names file and line, never a value)."""


def token_hash(token: str) -> str:
    """The line format's hash of a token: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass
class AgentIdentities:
    """Agent name -> SHA-256 digest of its token, and the names of authenticated connections."""

    digests: dict[str, bytes]
    # client connection id -> agent name, for the requests inside a tunnel that a CONNECT
    # authenticated and for the CONNECT sent upstream for it (`addons.upstream`).
    connections: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, flag: str = "--agent-identities") -> AgentIdentities:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise IdentityFileError(f"{flag} {path}: {e.strerror or type(e).__name__}") from None
        except UnicodeDecodeError:
            raise IdentityFileError(f"{flag} {path}: not UTF-8 text") from None
        digests: dict[str, bytes] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            where = f"{flag} {path}, line {number}"
            if len(parts) != 2:
                raise IdentityFileError(f"{where}: expected 'NAME sha256:HEX' (the token's "
                                        "SHA-256 hash, never the token itself)")
            name, digest = parts
            if not AGENT_NAME.match(name):
                raise IdentityFileError(f"{where}: agent name: use letters, digits, '.', '_' "
                                        "or '-' (at most 63 characters)")
            found = _HASH.match(digest)
            if found is None:
                raise IdentityFileError(f"{where}: expected sha256: and 64 lower-case hex "
                                        "digits after the agent name")
            if name in digests:
                raise IdentityFileError(f"{where}: agent {name!r} is listed twice")
            digests[name] = bytes.fromhex(found.group(1))
        if not digests:
            raise IdentityFileError(f"{flag} {path}: no agent listed (every request would be "
                                    "refused)")
        return cls(digests)

    def authenticate(self, header: str | None) -> str | None:
        """The agent name a `Proxy-Authorization` value proves, or None."""
        if not header:
            return None
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, token = decoded.partition(":")
        if not sep:
            return None
        expected = self.digests.get(name, _NO_HASH)
        given = hashlib.sha256(token.encode()).digest()
        if hmac.compare_digest(given, expected) and name in self.digests:
            return name
        return None
