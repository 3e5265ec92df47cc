"""Recording: the bottle's traffic as mitmproxy flow files, with every known secret removed.

Each finished flow is copied, scrubbed (injected credentials, known secrets and every value a
scanner matched in it, in raw and encoded forms and any letter case), its bodies decoded
(bounded) so scrubbing sees plain bytes, truncated above a size limit with a marker, and its
verdict attached as plain metadata. Then every other text of the serialised flow is scrubbed
too (header names, authority, SNI, server address, metadata, ...): a secret can travel as a
name or a hostname label, and the file must not keep it in any field, including fields a
future mitmproxy adds. The files open in mitmproxy/mitmweb and replay with `bottle replay`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mitmproxy import dns, flow, http, tcp

from addons.support.flows import KEY, FlowRecord, existing_record
from egress.decompress import DecodeError, decode_body
from egress.runtime import Runtime

DEFAULT_MAX_BODY = 1024 * 1024
RECORDED = "bottle-egress-recorded"


def truncate(body: bytes, limit: int) -> bytes:
    if len(body) <= limit:
        return body
    return body[:limit] + f"\n…[bottle-egress: truncated {len(body) - limit} bytes]".encode()


class Recorder:
    name = "record"

    def __init__(self, runtime: Runtime, path: Path, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.runtime = runtime
        self.path = path
        self.max_body = max_body
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")
        # Imported here: mitmproxy.io pulls in flow filters and pyparsing (~0.05 s of every
        # proxy start), and only a recording proxy writes flows.
        from mitmproxy.io import tnetstring

        self._dump = tnetstring.dump

    # -- hooks: write each flow once, when it is finished ---------------------------------

    def response(self, f: http.HTTPFlow) -> None:
        if f.websocket is None:
            self._write(f)

    def error(self, f: http.HTTPFlow) -> None:
        self._write(f)

    websocket_end = error
    http_connect_error = error

    def dns_response(self, f: dns.DNSFlow) -> None:
        self._write(f)

    dns_error = dns_response

    def tcp_end(self, f: tcp.TCPFlow) -> None:
        self._write(f)

    tcp_error = tcp_end

    def done(self) -> None:
        self._file.close()

    # -- scrubbing --------------------------------------------------------------------------

    def _write(self, f: flow.Flow) -> None:
        if f.metadata.get(RECORDED):
            return
        f.metadata[RECORDED] = True
        rec = existing_record(f)
        # Addons keep live state under `bottle-egress*` keys (the record holds compiled policy
        # objects, MCP and DLP their stream inspectors): none of it belongs in the copy.
        live = {k: f.metadata.pop(k) for k in list(f.metadata) if k.startswith(KEY)}
        try:
            copy = f.copy()
        finally:
            f.metadata.update(live)
        copy.metadata.pop(RECORDED, None)
        copy.metadata[KEY] = rec.as_metadata() if rec else {}
        self._scrub(copy, rec)
        # What mitmproxy's FlowWriter writes, with every remaining text scrubbed on the way.
        self._dump(self._scrub_state(copy.get_state(), rec), self._file)
        self._file.flush()

    def _text(self, text: str, rec: FlowRecord | None) -> str:
        return self.runtime.secrets.scrub(text, rec.sensitive if rec else ())

    def _bytes(self, data: bytes, rec: FlowRecord | None) -> bytes:
        text = data.decode("utf-8", "surrogateescape")
        return self._text(text, rec).encode("utf-8", "surrogateescape")

    def _scrub_state(self, state: Any, rec: FlowRecord | None) -> Any:
        """Every str and bytes in a flow's serialised state, scrubbed. Bodies (`content`)
        were scrubbed already, after decoding, by `_scrub`."""
        if isinstance(state, dict):
            return {k: v if k == "content" else self._scrub_state(v, rec) for k, v in state.items()}
        if isinstance(state, (list, tuple)):
            return type(state)(self._scrub_state(v, rec) for v in state)
        if isinstance(state, str):
            return self._text(state, rec)
        if isinstance(state, bytes):
            return self._bytes(state, rec)
        return state

    def _message(self, m: http.Message, rec: FlowRecord | None) -> None:
        raw = m.raw_content
        if raw:
            encoding = m.headers.get("content-encoding")
            if encoding:
                try:
                    raw = decode_body(raw, encoding, max_out=max(self.max_body * 4, 1 << 20))
                except DecodeError as e:
                    raw = f"[bottle-egress: {e.kind} body not recorded]".encode()
                del m.headers["content-encoding"]
            m.raw_content = truncate(self._bytes(raw, rec), self.max_body)
            if "content-length" in m.headers:
                m.headers["content-length"] = str(len(m.raw_content or b""))
        if m.trailers:
            for name, value in list(m.trailers.items(multi=True)):
                m.trailers.set_all(name, [self._text(value, rec)])

    def _connections(self, f: flow.Flow, rec: FlowRecord | None) -> None:
        """The names the connections carry (SNI, CONNECT target): the same names as the
        request's, and as much data."""
        if f.client_conn.sni:
            f.client_conn.sni = self._text(f.client_conn.sni, rec)
        server = f.server_conn
        if server.sni:
            server.sni = self._text(server.sni, rec)
        if server.address:
            server.address = (self._text(str(server.address[0]), rec), server.address[1])

    def _scrub(self, f: flow.Flow, rec: FlowRecord | None) -> None:
        if isinstance(f, http.HTTPFlow):
            f.request.path = self._text(f.request.path, rec)
            f.request.host = self._text(f.request.host, rec)
            # The request line's other parts: a refused method or authority can be data.
            f.request.method = self._text(f.request.method, rec)
            if f.request.authority:
                f.request.authority = self._text(f.request.authority, rec)
            self._connections(f, rec)
            self._message(f.request, rec)
            if f.response is not None:
                self._message(f.response, rec)
            if f.websocket is not None:
                for msg in f.websocket.messages:
                    msg.content = truncate(self._bytes(msg.content, rec), self.max_body)
        elif isinstance(f, tcp.TCPFlow):
            for tmsg in f.messages:
                tmsg.content = truncate(self._bytes(tmsg.content, rec), self.max_body)
        if f.error is not None:
            f.error.msg = self._text(f.error.msg, rec)
