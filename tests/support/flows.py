"""Building and writing mitmproxy flow files for replay tests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from mitmproxy import flow, http, io
from mitmproxy.test import tflow


def http_flow(method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"",
              status: int | None = None, response_body: bytes = b"",
              response_headers: dict[str, str] | None = None) -> http.HTTPFlow:
    parts = urlsplit(url)
    f = http.HTTPFlow(tflow.tclient_conn(), tflow.tserver_conn())
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    now = time.time()
    f.request = http.Request(
        host=parts.hostname or "", port=port, method=method.encode(), scheme=parts.scheme.encode(),
        authority=b"", path=path.encode(), http_version=b"HTTP/1.1",
        headers=http.Headers([(k.encode(), v.encode()) for k, v in
                              {"Host": parts.netloc, **(headers or {})}.items()]),
        content=body, trailers=None, timestamp_start=now, timestamp_end=now)
    f.server_conn.address = (parts.hostname or "", port)
    f.client_conn.sni = parts.hostname if parts.scheme == "https" else None
    if status is not None:
        f.response = http.Response.make(status, response_body, response_headers or {})
    return f


def write_flows(path: Path, flows: Iterable[flow.Flow]) -> Path:
    with path.open("wb") as fh:
        writer = io.FlowWriter(fh)
        for f in flows:
            writer.add(f)
    return path
