"""An HTTP/2 request body without a Content-Length, forwarded to an HTTP/1 origin (row 17.f3).

HTTP/2 frames a body by itself, so clients often send none (curl uploading from a pipe, git
pushing a pack). mitmproxy forwarded such a request to an HTTP/1 origin with no length at
all: the origin read an empty body, then read the body as the next request on its
connection, a request the proxy never saw (path rules, DLP, credentials all skipped). The
real proxy, a raw HTTP/2 client and curl, to a local HTTP/1 origin.
"""

from __future__ import annotations

import json
import subprocess

from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin, echo
from tests.support.pki import ServerCert
from tests.support.rawhttp import h2_request

POLICY = """
    version: 1
    hosts:
      allow:
        - hosts: [allowed.test]
          paths: ["/ok/"]
"""


def test_an_http2_body_without_a_length_cannot_smuggle_a_request_to_an_http1_origin(
        egress: EgressFactory, write_policy: PolicyWriter, origin_cert: ServerCert) -> None:
    proc = egress(write_policy(POLICY))
    with Origin(origin_cert, {"/": echo}) as o:
        authority = f"allowed.test:{o.port}"
        smuggled = (f"GET /admin/smuggled HTTP/1.1\r\nHost: {authority}\r\n\r\n").encode()
        reply = h2_request(proc, authority, [(":method", "POST"), (":scheme", "https"),
                                             (":authority", authority), (":path", "/ok/post")],
                           body=smuggled)
        assert reply.headers.get(":status") == "200", reply.headers
        # the origin got one request, with its whole body, and nothing it would read as another
        assert [(r.method, r.path, r.body) for r in o.seen] == [("POST", "/ok/post", smuggled)]
        assert o.seen[0].headers.get("content-length") == str(len(smuggled))
        assert json.loads(reply.body)["body"] == smuggled.decode()
        # a real client uploading from a pipe over HTTP/2 sends no length either
        data = b"line of an upload from a pipe\n" * 4000
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "--http2", "-X", "POST", "-T", "-",
             "-w", "\n%{http_version}", f"https://{authority}/ok/pipe"],
            input=data, env=proc.client_env(), capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
        answer, _, version = done.stdout.rpartition(b"\n")
        assert version == b"2" and json.loads(answer)["body"] == data.decode()
        assert [r.path for r in o.seen] == ["/ok/post", "/ok/pipe"] and o.seen[1].body == data
