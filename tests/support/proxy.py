"""Running the real `bottle egress run` as a subprocess, the way a user does."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tests.support.dns import DNSFixture

REPO = Path(__file__).resolve().parents[2]


def with_resolver(cmd: list[str], resolv_conf: Path) -> list[str]:
    """Run `cmd` in a private mount namespace whose /etc/resolv.conf names our test resolver,
    so the proxy's own lookups (getaddrinfo) go to a resolver the test can inspect."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(resolv_conf), *cmd]


class EgressProcess:
    def __init__(self, args: list[str], tmp: Path, dns: DNSFixture | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.audit_path = tmp / "audit.jsonl"
        cmd = [sys.executable, "-m", "cli.main", "egress", "run", "--listen", "127.0.0.1:0",
               "--audit-log", str(self.audit_path), *args]
        if dns is not None:
            conf = tmp / "resolv.conf"
            conf.write_text(f"nameserver {dns.address}\noptions timeout:1 attempts:1\n")
            cmd = with_resolver(cmd, conf)
        env = dict(os.environ)
        env.update(extra_env or {})
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, text=True)
        self.stderr_lines: list[str] = []
        self._stderr_thread = threading.Thread(target=self._drain, args=(self.proc.stderr,),
                                               daemon=True)
        self._stderr_thread.start()
        self.env = self._read_env()

    def _drain(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.stderr_lines.append(line)

    def _read_env(self, timeout: float = 30.0) -> dict[str, str]:
        assert self.proc.stdout is not None
        env: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        result: dict[str, str] = {}

        def reader() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                parts = shlex.split(line)
                if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
                    k, v = parts[1].split("=", 1)
                    env[k] = v
                    if k == "BOTTLE_ID":
                        result.update(env)
                        return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(max(0.0, deadline - time.monotonic()))
        if not result:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("proxy did not start:\n" + "".join(self.stderr_lines))
        return result

    @property
    def url(self) -> str:
        return self.env["HTTPS_PROXY"]

    @property
    def state_dir(self) -> Path:
        return Path(self.env["SSL_CERT_FILE"]).parent

    def client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        return env

    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def stderr_with(self, text: str, timeout: float = 10.0) -> str:
        """The proxy's stderr once it holds `text` (it is drained by a thread, so a line the
        proxy just wrote may not be here yet), or as it is when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while text not in (out := self.stderr()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return out

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr_thread.join(5)
        return self.proc.returncode

    def __enter__(self) -> EgressProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
