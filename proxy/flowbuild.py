"""Building mitmproxy flows from plain descriptions (policy tests, explain, benchmarks)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from mitmproxy import connection, flow, http, io


class FlowSpecError(ValueError):
    pass


def http_flow(method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"",
              status: int | None = None, response_body: bytes = b"",
              response_headers: dict[str, str] | None = None) -> http.HTTPFlow:
    """A finished-looking HTTP flow as the proxy would have seen it for `url`."""
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError as e:  # a bad IPv6 literal, a port out of range
        raise FlowSpecError(f"{url!r} is not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FlowSpecError(f"{url!r} is not an http(s) URL")
    now = time.time()
    port = explicit_port or (443 if parts.scheme == "https" else 80)
    client = connection.Client(peername=("127.0.0.1", 40000), sockname=("127.0.0.1", 8080),
                               timestamp_start=now)
    client.sni = parts.hostname if parts.scheme == "https" else None
    server = connection.Server(address=(parts.hostname, port))
    f = http.HTTPFlow(client, server)
    f.id = str(uuid.uuid4())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    all_headers = {"Host": parts.netloc, **(headers or {})}
    f.request = http.Request(
        host=parts.hostname, port=port, method=method.upper().encode(), scheme=parts.scheme.encode(),
        authority=b"", path=path.encode(), http_version=b"HTTP/1.1",
        headers=http.Headers([(k.encode(), v.encode()) for k, v in all_headers.items()]),
        content=body, trailers=None, timestamp_start=now, timestamp_end=now)
    if status is not None:
        f.response = http.Response.make(status, response_body, response_headers or {})
    return f


def write_flows(path: Path, flows: Iterable[flow.Flow]) -> Path:
    with path.open("wb") as fh:
        writer = io.FlowWriter(fh)
        for f in flows:
            writer.add(f)
    return path
