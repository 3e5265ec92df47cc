"""Host pattern and path prefix matching used by the host allowlist (pure, no flows)."""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote

from egress.addresses import canonical_ip

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


class MalformedPath(ValueError):
    """A request path no rule can be trusted to judge (control characters, endless encoding)."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MATRIX = re.compile(r";[^/]*")
# Percent-decoding is repeated until nothing changes; a path still changing after this many
# rounds is encoded for no purpose but to get past a filter.
MAX_DECODE_ROUNDS = 4


def _dot_segments(path: str) -> str:
    """`path` with `.`/`..` segments resolved and runs of `/` collapsed, trailing `/` kept."""
    if not path.startswith("/"):
        path = "/" + path
    trailing = path.endswith("/") and path != "/"
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path + "/" if trailing and path != "/" else path


def _variants(paths: set[str], marker: str, change: Callable[[str], str]) -> set[str]:
    """Each path, and each path with `change` applied when it contains `marker`."""
    return paths | {change(p) for p in paths if marker in p}


def path_forms(raw: str) -> tuple[str, ...]:
    """Every way an origin may read the path of request target `raw`, in canonical form.

    Origins disagree on what a path means: some decode `%2F` into a separator or decode
    twice, some treat `\\` as `/`, strip `;matrix` parameters or cut at `#`. A deny rule
    matches when any form is under its prefix; an allow rule only when every form is.
    The query is never part of a form. Raises `MalformedPath` for control characters (raw or
    encoded, at any decoding depth) and for encodings that do not settle.
    """
    path = raw.split("?", 1)[0] or "/"
    if _CONTROL.search(path):
        raise MalformedPath("the request path contains a control character")
    if (path.startswith("/") and "%" not in path and "/." not in path and "//" not in path
            and "\\" not in path and ";" not in path and "#" not in path):
        return (path,)  # already canonical: the common case, kept cheap
    decoded = {path}
    if "%" in path:
        current = path
        for _ in range(MAX_DECODE_ROUNDS):
            nxt = unquote(current, errors="surrogateescape")
            if _CONTROL.search(nxt):
                raise MalformedPath("the request path contains an encoded control character")
            if nxt == current:
                break
            decoded.add(nxt)
            current = nxt
        else:
            if unquote(current, errors="surrogateescape") != current:
                raise MalformedPath(f"the request path is percent-encoded more than "
                                    f"{MAX_DECODE_ROUNDS} times over")
        if len(decoded) > 1:
            # Every origin decodes at least once: the raw encoded spelling is not a reading.
            decoded.discard(path)
    forms = _variants(decoded, "\\", lambda p: p.replace("\\", "/"))
    forms = _variants(forms, ";", lambda p: _MATRIX.sub("", p))
    forms = _variants(forms, "#", lambda p: p.split("#", 1)[0])
    return tuple(sorted({_dot_segments(p) for p in forms}))


def path_has_prefix(path: str, prefix: str) -> bool:
    """Segment-aware prefix match: `/repos` covers `/repos` and `/repos/x`, not `/reposx`."""
    if prefix == "/" or path == prefix:
        return True
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path.startswith(prefix) and path[len(prefix)] == "/"


@functools.lru_cache(maxsize=4096)
def normalize_host(host: str) -> str:
    """Lower-case, strip a trailing dot and brackets, IDNA-encode, and write an IP address in
    its one canonical spelling (`2130706433`, `127.1` and `[::ffff:127.0.0.1]` are all
    `127.0.0.1`): the form every host comparison uses, policy patterns and requests alike.
    Cached: each request compares the same few names several times."""
    if host.isascii():
        host = host.strip().rstrip(".").lower()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
    else:
        host = host.strip().rstrip(".").lower()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return host
    # Only a name whose last label starts with a digit, or with a ':', can be an address:
    # no top-level domain does, so ordinary names skip the parse.
    if ":" in host or host[host.rfind(".") + 1 : host.rfind(".") + 2].isdigit():
        ip = canonical_ip(host)
        if ip is not None:
            return ip
    return host
