"""Host pattern and path prefix matching used by the host allowlist (pure, no flows)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

_UNRESERVED_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


class HostSet:
    """A set of host patterns: exact names, `*.suffix` and `*`.

    Lookup is one dict probe per label of the host, whatever the number of patterns.
    """

    __slots__ = ("_any", "_exact", "_suffixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        self._any = False
        self._exact: set[str] = set()
        self._suffixes: set[str] = set()
        for p in patterns:
            if p == "*":
                self._any = True
            elif p.startswith("*."):
                self._suffixes.add(p[2:])
            else:
                self._exact.add(p)

    def __contains__(self, host: str) -> bool:
        if self._any or host in self._exact:
            return True
        if not self._suffixes:
            return False
        dot = host.find(".")
        while dot != -1:
            if host[dot + 1 :] in self._suffixes:
                return True
            dot = host.find(".", dot + 1)
        return False

    def __bool__(self) -> bool:
        return self._any or bool(self._exact) or bool(self._suffixes)


def _unescape_unreserved(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    # Only unreserved characters are decoded: an encoded '/' stays encoded, so it cannot
    # be used to forge a segment boundary, and encoded dots still resolve as dot segments.
    if (ch.isalnum() and ch.isascii()) or ch in "-._~":
        return ch
    return m.group(0).upper()


def normalize_path(raw: str) -> str:
    """The path a prefix rule is matched against: no query, dot segments resolved, no `//`."""
    path = raw.split("?", 1)[0].split("#", 1)[0] or "/"
    if path.startswith("/") and "%" not in path and "/." not in path and "//" not in path:
        return path  # already normal: the common case, kept cheap
    if not path.startswith("/"):
        # absolute-form or authority-form targets are normalised by mitmproxy; anything
        # else is matched as a path under the root
        path = "/" + path
    path = _UNRESERVED_ESCAPE.sub(_unescape_unreserved, path)
    trailing = path.endswith("/") and path != "/"
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path + "/" if trailing and path != "/" else path


def path_has_prefix(path: str, prefix: str) -> bool:
    """Segment-aware prefix match: `/repos` covers `/repos` and `/repos/x`, not `/reposx`."""
    if prefix == "/" or path == prefix:
        return True
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path.startswith(prefix) and path[len(prefix)] == "/"


def normalize_host(host: str) -> str:
    """Lower-case, strip a trailing dot and brackets, IDNA-encode: the form every host
    comparison uses."""
    if host.isascii():
        host = host.strip().rstrip(".").lower()
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
