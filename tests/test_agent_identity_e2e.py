"""Per-agent identity behind one shared egress (`--agent-identities`, the Kubernetes gateway).

Real proxy, real curl clients with credentials in their proxy URLs, squid standing in for
pipelock and logging the X-Pipelock-Agent header of what it receives, real origins.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from egress.agent_identity import AgentIdentities, IdentityFileError, token_hash
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.artefacts import assert_nowhere, audit_events
from tests.support.origin import Origin
from tests.support.proxy import EgressProcess
from tests.support.squid import Squid

POLICY = "hosts:\n  allow:\n    - hosts: [allowed.test]\n"
REPO = Path(__file__).resolve().parents[1]


def _identities(path: Path, agents: dict[str, str]) -> Path:
    path.write_text("# agent  sha256 of its token\n"
                    + "".join(f"{name} {token_hash(tok)}\n" for name, tok in agents.items()))
    return path


def _proxy(proc: EgressProcess, user: str | None, token: str | None) -> str:
    host_port = proc.url.removeprefix("http://")
    return f"http://{user}:{token}@{host_port}" if user else proc.url


def _curl(proc: EgressProcess, proxy: str, url: str, *extra: str) -> tuple[str, str, str]:
    """(status of the CONNECT, status of the request, body)."""
    res = subprocess.run(["curl", "-sS", "--max-time", "20", "-x", proxy, "-w",
                          "\n%{http_connect} %{http_code}", *extra, url],
                         env=proc.client_env(), capture_output=True, text=True, check=False)
    body, _, codes = res.stdout.rpartition("\n")
    connect, code = codes.split()
    return connect, code, body


def _basic(user: str, token: str) -> str:
    return base64.b64encode(f"{user}:{token}".encode()).decode()


def test_each_agent_reaches_pipelock_under_its_own_name(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    tokens = {"agent-a": secrets.token_hex(32), "agent-b": secrets.token_hex(32)}
    flows = tmp_path / "flows.mitm"
    with Squid({"allowed.test": "127.0.0.1"}) as sq, Origin(None) as plain:
        proc = egress(write_policy(POLICY), "--upstream", sq.url, "--bottle-id", "bottle-gateway",
                      "--agent-identities", str(_identities(tmp_path / "ids", tokens)),
                      "--record", str(flows))
        a = _proxy(proc, "agent-a", tokens["agent-a"])
        b = _proxy(proc, "agent-b", tokens["agent-b"])
        assert _curl(proc, a, f"https://allowed.test:{origin.port}/from-a")[1] == "200"
        # HTTP/2 inside the tunnel: the CONNECT authenticated the connection
        assert _curl(proc, b, f"https://allowed.test:{origin.port}/from-b", "--http2")[1] == "200"
        # a request inside A's tunnel that claims B's name, and carries a Proxy-Authorization
        # of its own: neither reaches the origin
        assert _curl(proc, a, f"https://allowed.test:{origin.port}/claims-b",
                     "-H", "X-Pipelock-Agent: agent-b",
                     "-H", f"Proxy-Authorization: Basic {_basic('agent-b', tokens['agent-b'])}"
                     )[1] == "200"
        # plain HTTP: the request itself goes to squid, with B's name whatever B claims
        plain_b = _curl(proc, b, f"http://allowed.test:{plain.port}/plain-b",
                        "-H", "X-Pipelock-Agent: agent-a")
        assert plain_b[1] == "200", (plain_b, sq.lines(), proc.stderr())
        lines = sq.lines()
        assert lines == [f"CONNECT allowed.test:{origin.port} agent=agent-a",
                         f"CONNECT allowed.test:{origin.port} agent=agent-b",
                         f"CONNECT allowed.test:{origin.port} agent=agent-a",
                         f"GET http://allowed.test:{plain.port}/plain-b agent=agent-b"], lines
        assert origin.paths() == ["/from-a", "/from-b", "/claims-b"]
        assert plain.paths() == ["/plain-b"]
        for seen in [*origin.seen, *plain.seen]:
            assert "proxy-authorization" not in {k.lower() for k in seen.headers}
        assert plain.seen[0].headers.get("X-Pipelock-Agent") == "agent-b"  # squid forwarded it
        assert origin.seen[2].headers.get("X-Pipelock-Agent") is None  # dropped in the tunnel
        proc.stop()
        by_path = {e["path"]: e for e in audit_events(proc) if e["event"] == "http"}
        assert by_path["/from-a"]["agent"] == "agent-a"
        assert by_path["/from-b"]["agent"] == "agent-b"
        assert by_path["/claims-b"]["agent"] == "agent-a"
        assert by_path["/plain-b"]["agent"] == "agent-b"
        assert all(e["bottle"] == "bottle-gateway" for e in by_path.values())
        assert_nowhere(proc, [*tokens.values(), *(_basic(n, t) for n, t in tokens.items())],
                       [flows])


def test_missing_or_wrong_credential_is_407_and_nothing_is_forwarded(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    token = secrets.token_hex(32)
    wrong = secrets.token_hex(32)
    flows = tmp_path / "flows.mitm"
    with Squid({"allowed.test": "127.0.0.1"}) as sq, Origin(None) as plain:
        proc = egress(write_policy(POLICY), "--upstream", sq.url,
                      "--agent-identities", str(_identities(tmp_path / "ids", {"agent-a": token})),
                      "--record", str(flows))
        https = f"https://allowed.test:{origin.port}/x"
        http = f"http://allowed.test:{plain.port}/y"
        attempts = {"none": proc.url, "wrong token": _proxy(proc, "agent-a", wrong),
                    "unknown agent": _proxy(proc, "agent-z", token),
                    "token as name": _proxy(proc, token, "x")}
        for what, proxy in attempts.items():
            connect, code, _ = _curl(proc, proxy, https)
            assert (connect, code) == ("407", "000"), what
            _, code, body = _curl(proc, proxy, http, "-D", "-")
            assert code == "407", what
            head, _, payload = body.partition("\n\n")  # (text mode: \r\n read as \n)
            assert 'Proxy-Authenticate: Basic realm="bottle-egress"' in head, head
            assert payload, (what, body)
            denial = json.loads(payload)
            rule = "missing-credential" if what == "none" else "invalid-credential"
            assert denial["rule"] == f"identity/{rule}", (what, denial)
        # a bare `Basic` with garbage is refused the same way
        res = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", proc.url,
                              "--proxy-header", "Proxy-Authorization: Basic !!notbase64", http],
                             env=proc.client_env(), capture_output=True, text=True, check=False)
        assert res.stdout == "407"
        assert sq.lines() == []
        assert origin.seen == [] and plain.seen == []
        # the one right credential still works
        assert _curl(proc, _proxy(proc, "agent-a", token), https)[1] == "200"
        proc.stop()
        refused = [e for e in audit_events(proc) if e.get("verdict") == "block"]
        assert len(refused) == 2 * len(attempts) + 1
        assert {f["rule"] for e in refused for f in e["findings"]} == {
            "missing-credential", "invalid-credential"}
        assert all("agent" not in e for e in refused)
        assert_nowhere(proc, [token, wrong, _basic("agent-a", wrong), _basic(token, "x")], [flows])


def test_without_upstream_the_credential_never_reaches_the_origin(
        egress: EgressFactory, write_policy: PolicyWriter, origin: Origin, tmp_path: Path) -> None:
    """Direct to origins (no squid in between to drop the header): what the origin receives is
    exactly what the egress forwarded."""
    token = secrets.token_hex(32)
    with Origin(None) as plain:
        proc = egress(write_policy(POLICY),
                      "--agent-identities", str(_identities(tmp_path / "ids", {"agent-a": token})))
        a = _proxy(proc, "agent-a", token)
        assert _curl(proc, a, f"http://allowed.test:{plain.port}/plain")[1] == "200"
        assert _curl(proc, a, f"https://allowed.test:{origin.port}/tls")[1] == "200"
        assert plain.paths() == ["/plain"] and origin.paths() == ["/tls"]
        for seen in [*plain.seen, *origin.seen]:
            assert "proxy-authorization" not in {k.lower() for k in seen.headers}
        proc.stop()
        agents = {e["path"]: e.get("agent") for e in audit_events(proc) if e["event"] == "http"}
        assert agents == {"/plain": "agent-a", "/tls": "agent-a"}
        assert_nowhere(proc, [token, _basic("agent-a", token)])


def test_identities_file_errors_are_clear_and_name_the_line(tmp_path: Path) -> None:
    token = secrets.token_hex(32)
    bad = tmp_path / "ids"
    bad.write_text(f"agent-a {token_hash(token)}\nagent-b {token}\n")
    with pytest.raises(IdentityFileError, match=r"line 2: expected sha256:") as err:
        AgentIdentities.load(bad)
    assert token not in str(err.value)
    bad.write_text(f"agent-a {token_hash(token)}\nagent-a {token_hash(token)}\n")
    with pytest.raises(IdentityFileError, match="line 2: agent 'agent-a' is listed twice"):
        AgentIdentities.load(bad)
    bad.write_text("# nobody\n")
    with pytest.raises(IdentityFileError, match="no agent listed"):
        AgentIdentities.load(bad)
    # through the CLI: one line, exit 2, no traceback, the plaintext token not echoed
    bad.write_text(f"agent-b {token}\n")
    res = subprocess.run([sys.executable, "-m", "cli.main", "egress", "run", "--listen",
                          "127.0.0.1:0", "--state-dir", str(tmp_path / "state"),
                          "--agent-identities", str(bad)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert res.returncode == 2, res.stderr
    assert f"--agent-identities {bad}, line 1: expected sha256:" in res.stderr
    assert "Traceback" not in res.stderr and token not in res.stderr


def test_authenticate_accepts_only_the_listed_name_with_its_token() -> None:
    ids = AgentIdentities({"agent-a": bytes.fromhex(token_hash("tok-a").removeprefix("sha256:"))})
    assert ids.authenticate(f"Basic {_basic('agent-a', 'tok-a')}") == "agent-a"
    assert ids.authenticate(f"basic  {_basic('agent-a', 'tok-a')}") == "agent-a"
    for header in (None, "", f"Bearer {_basic('agent-a', 'tok-a')}", f"Basic {_basic('agent-a', 'tok-b')}",
                   f"Basic {_basic('agent-b', 'tok-a')}", "Basic %%%", "Basic " +
                   base64.b64encode(b"agent-a").decode()):
        assert ids.authenticate(header) is None, header
