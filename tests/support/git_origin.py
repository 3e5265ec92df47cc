"""A git smart-HTTP origin: `git http-backend` (CGI) behind the test HTTPS origin, with Basic
auth that accepts one user and token, the way GitHub and Gitea accept a token as password."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from tests.support.origin import Reply, Route, SeenRequest

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, **GIT_ENV, **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True,
                          check=True).stdout


def make_repo(root: Path, name: str = "repo.git", content: str = "hello from git\n") -> Path:
    """A bare repository `root/name` holding one commit with README."""
    work = root / "work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", str(work))
    (work / "README").write_text(content)
    git("add", "README", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    bare = root / name
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def backend_path() -> str:
    out = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout
    return str(Path(out.strip()) / "git-http-backend")


def git_backend(root: Path, user: str, token: str) -> Route:
    """A route serving every repository under `root`; anything without `user:token` Basic auth
    gets the 401 challenge git answers by asking for credentials."""
    expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    backend = backend_path()

    def route(req: SeenRequest) -> Reply:
        auth = next((v for k, v in req.headers.items() if k.lower() == "authorization"), None)
        if auth != expected:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain"},
                         b"authentication required\n")
        path, _, query = req.path.partition("?")
        headers = {k.lower(): v for k, v in req.headers.items()}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": req.method, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": headers.get("content-type", ""), "CONTENT_LENGTH": str(len(req.body)),
            "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1", "GIT_CONFIG_NOSYSTEM": "1",
        }
        if "content-encoding" in headers:
            env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
        if "git-protocol" in headers:
            env["GIT_PROTOCOL"] = headers["git-protocol"]
        done = subprocess.run([backend], input=req.body, env=env, capture_output=True, check=False)
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        status, out_headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                out_headers[key] = value.strip()
        out_headers["Content-Length"] = str(len(body))
        return Reply(status, out_headers, body)
    return route
