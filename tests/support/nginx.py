"""nginx from Debian as an HTTP/2-capable TLS origin on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.support.pki import ServerCert
from tests.support.prereq import require_binary
from tests.support.wait import wait_listening


class Nginx:
    """Answers every request with the protocol it was spoken to in (`HTTP/2.0`, `HTTP/1.1`)."""

    def __init__(self, cert: ServerCert) -> None:
        self.binary = require_binary("nginx", "nginx-light")
        self.dir = Path(tempfile.mkdtemp(prefix="bottle-nginx-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        (self.dir / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  server {{
    listen 127.0.0.1:{self.port} ssl http2;
    ssl_certificate {cert.cert_path};
    ssl_certificate_key {cert.key_path};
    location / {{ default_type text/plain; return 200 "protocol=$server_protocol\\n"; }}
  }}
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        self.proc = subprocess.Popen([self.binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.proc, self.port, "nginx", lambda: (self.dir / "error.log").read_text())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
