"""Policy loading: what a reviewer sees when a file is wrong, and what a valid one means."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from egress.hostmatch import HostSet, normalize_path, path_has_prefix
from egress.policy.compiled import compile_policy, default_policy_path
from egress.policy.loader import load_policy, parse_policy
from egress.policy.problems import PolicyError

REPO = Path(__file__).resolve().parents[1]


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as e:
        parse_policy(textwrap.dedent(text), "p.yaml")
    return [str(p) for p in e.value.problems]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=60)


def test_errors_name_file_line_field_and_allowed_values() -> None:
    got = problems("""
        version: 1
        mode: enforcing
        hosts:
          allow:
            - hosts: [github.com]
              methods: [GET, FETCH]
            - hosts: ["foo*.com"]
              methdos: [GET]
        limits:
          max_body_bytes: lots
    """)
    assert "p.yaml:3: mode: Input should be 'enforce' or 'audit'" in got
    assert any(x.startswith("p.yaml:7: hosts.allow[0].methods:") and "FETCH" in x and "GET, HEAD" in x
               for x in got)
    assert any(x.startswith("p.yaml:8: hosts.allow[1].hosts[0]:") for x in got)
    assert any(x.startswith("p.yaml:9: hosts.allow[1].methdos: unknown field 'methdos'; allowed fields: "
                            "name, hosts, methods, paths") for x in got)
    assert any(x.startswith("p.yaml:11: limits.max_body_bytes:") and "32MiB" in x for x in got)


def test_yaml_syntax_and_shape_errors() -> None:
    assert problems("hosts:\n  allow: [\n")[0].startswith("p.yaml:3: YAML syntax error")
    assert problems("- just\n- a list\n")[0].startswith("p.yaml:1: a policy must be a mapping")
    assert "duplicate" in problems("mode: audit\nmode: enforce\n")[0].lower()


def test_semantic_checks_point_at_the_offending_line() -> None:
    got = problems("""
        hosts:
          allow:
            - hosts: ["*"]
        ca:
          name_constraints: true
    """)
    assert any(x.startswith("p.yaml:4: hosts.allow[0].hosts: `*` cannot be combined") for x in got)
    got = problems("""
        hosts:
          allow:
            - hosts: [api.example.com]
              methods: [GET]
          passthrough: [api.example.com]
    """)
    assert any(x.startswith("p.yaml:6: hosts.passthrough[0]:") and "host-wide" in x for x in got)


def test_sizes_and_defaults() -> None:
    p = parse_policy("limits:\n  max_body_bytes: 1.5 MiB\n")
    assert p.limits.max_body_bytes == 1572864
    assert p.mode == "enforce" and p.hosts.action == "block" and p.hosts.allow == []
    assert p.ca.validity_hours == 24 and not p.ca.name_constraints


def test_host_rules_match_as_documented() -> None:
    compiled = compile_policy(parse_policy(textwrap.dedent("""
        hosts:
          allow:
            - hosts: ["*.github.com", "PyPI.org."]
            - hosts: [api.example.com]
              methods: [GET]
              paths: [/v1/public]
          deny:
            - hosts: [gist.github.com]
              methods: [POST]
              reason: no gists
    """)), "p")
    h = compiled.hosts
    assert h.check_request("api.github.com", "GET", "/") == []
    assert h.check_request("a.b.github.com", "POST", "/x") == []
    assert h.check_request("github.com", "GET", "/")[0].rule == "host-not-allowed"  # not the apex
    assert h.check_request("pypi.org", "GET", "/simple") == []
    assert h.check_request("gist.github.com", "POST", "/")[0].rule == "host-denied"
    assert h.check_request("gist.github.com", "GET", "/") == []
    assert h.check_request("api.example.com", "GET", "/v1/public/x?y=1") == []
    assert h.check_request("api.example.com", "GET", "/v1/publicity")[0].rule == "request-not-allowed"
    assert h.check_request("api.example.com", "GET", "/v1/public/../private")[0].rule == "request-not-allowed"
    assert h.check_request("api.example.com", "GET", "/v1/%70ublic/x") == []
    assert h.check_request("api.example.com", "POST", "/v1/public")[0].rule == "request-not-allowed"
    assert h.check_host("api.example.com") is None
    assert h.check_host("evil.example") is not None


@pytest.mark.parametrize(("raw", "normal"), [
    ("/a/b/../c", "/a/c"), ("//a//b", "/a/b"), ("/a/%2e%2e/b", "/b"), ("/a%2Fb", "/a%2Fb"),
    ("/x/?q=1", "/x/"), ("", "/"), ("/a/./b/", "/a/b/"),
])
def test_path_normalisation(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


def test_host_set_and_prefix_semantics() -> None:
    s = HostSet(["*.a.com", "b.com"])
    assert "x.a.com" in s and "y.x.a.com" in s and "a.com" not in s and "b.com" in s
    assert "xb.com" not in s and "b.com.evil" not in s
    assert path_has_prefix("/repos/x", "/repos") and not path_has_prefix("/reposx", "/repos")
    assert path_has_prefix("/anything", "/")


def test_default_policy_is_valid_and_shipped() -> None:
    path = default_policy_path()
    assert path.is_file()
    compiled = compile_policy(load_policy(path), str(path))
    assert compiled.hosts.check_request("api.anthropic.com", "POST", "/v1/messages") == []
    assert compiled.hosts.check_request("example.com", "GET", "/")


def test_cli_policy_check_and_schema(tmp_path: Path) -> None:
    ok = run_cli("policy", "check", str(default_policy_path()))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts:\n  allow:\n    - hosts: [x.com]\n      methods: [FETCH]\n")
    res = run_cli("policy", "check", str(bad))
    assert res.returncode == 1 and f"{bad}:4: hosts.allow[0].methods" in res.stderr
    assert "Traceback" not in res.stderr
    missing = run_cli("policy", "check", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 1 and "file not found" in missing.stderr
    schema = json.loads(run_cli("policy", "schema").stdout)
    assert schema["additionalProperties"] is False and "hosts" in schema["properties"]


def test_egress_run_user_errors_are_one_line_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: sometimes\n")
    res = run_cli("egress", "run", "--policy", str(bad), "--listen", "127.0.0.1:0")
    assert res.returncode == 2 and f"{bad}:1: mode" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("egress", "run", "--listen", "nonsense")
    assert res.returncode == 2 and "--listen" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("egress", "run", "--upstream", "ftp://x", "--listen", "127.0.0.1:0")
    assert res.returncode == 2 and "--upstream" in res.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_cli("egress", "run", "--listen", f"127.0.0.1:{port}", "--state-dir",
                      str(tmp_path / "s"))
    assert res.returncode == 1 and "cannot listen" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "s" / "mitmproxy-ca.pem").exists()  # CA destroyed on failed start
