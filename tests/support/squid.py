"""Squid from Debian as the stand-in next hop (pipelock's role), logging what it saw."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.prereq import require_binary
from tests.support.wait import wait_listening


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Squid:
    """A private squid instance: any CONNECT allowed, names from a hosts file, and an access
    log of method, URL and the X-Pipelock-Agent request header for every request."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.binary = require_binary("squid")
        # squid drops root privileges to its own user: its files live in a world-writable
        # scratch directory rather than pytest's private (0700) tmp tree
        self.dir = Path(tempfile.mkdtemp(prefix="bottle-squid-"))
        os.chmod(self.dir, 0o777)
        self.port = _free_port()
        self.log = self.dir / "access.log"
        hosts_file = self.dir / "hosts"
        hosts_file.write_text("".join(f"{ip} {name}\n" for name, ip in hosts.items()))
        self.conf = self.dir / "squid.conf"
        self.conf.write_text(f"""
http_port 127.0.0.1:{self.port}
pid_filename {self.dir}/squid.pid
cache deny all
cache_mem 8 MB
logformat bottle %rm %ru agent=%{{X-Pipelock-Agent}}>h
access_log stdio:{self.log} bottle
cache_log {self.dir}/cache.log
cache_store_log none
hosts_file {hosts_file}
dns_nameservers 127.0.0.1
acl all_ports port 1-65535
http_access allow all
coredump_dir {self.dir}
shutdown_lifetime 0 seconds
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Squid:
        self.proc = subprocess.Popen([self.binary, "-N", "-f", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc = self.proc
        wait_listening(proc, self.port, "squid",
                       lambda: proc.stderr.read().decode() if proc.stderr else "")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        # squid writes its access log on each request; give it a moment to flush
        time.sleep(0.3)
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        # our readiness probe connects and hangs up without a request: not traffic
        return [x for x in lines if not x.startswith("- error:transaction-end-before-headers")]
