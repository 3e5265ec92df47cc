"""The launcher's pure parts: environment composition, commands, names, parsing. No Docker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.bottle import (
    AGENT_BUNDLE,
    AGENT_CERT,
    Names,
    StartOptions,
    agent_environment,
    check_name,
    check_policy,
    parse_env,
    parse_exports,
    probe_host,
)
from launcher.cli import COMMANDS, _pretty_event
from launcher.doctor import parse_probe_output
from launcher.errors import LauncherError
from launcher.images import Platform, debian_mirror
from launcher.start import egress_command

EGRESS_OUTPUT = """\
export HTTPS_PROXY=http://0.0.0.0:8080
export HTTP_PROXY=http://0.0.0.0:8080
export NO_PROXY=localhost,127.0.0.1,::1
export SSL_CERT_FILE=/run/bottle/state/ca-bundle.pem
export NODE_EXTRA_CA_CERTS=/run/bottle/state/bottle-ca.pem
export GITHUB_TOKEN='bottle-demo-placeholder'
export BOTTLE_ID=demo
"""


def test_agent_environment_rewrites_proxy_and_ca_and_keeps_placeholders():
    env = agent_environment(parse_exports(EGRESS_OUTPUT), "http://172.30.0.2:8080",
                            {"EDITOR": "vi", "HTTPS_PROXY": "http://evil:1"})
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://172.30.0.2:8080"
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == AGENT_BUNDLE
    assert env["NODE_EXTRA_CA_CERTS"] == AGENT_CERT
    assert env["GITHUB_TOKEN"] == "bottle-demo-placeholder"  # placeholders pass through
    assert env["EDITOR"] == "vi" and env["BOTTLE_ID"] == "demo"
    assert not any(v.startswith("/run/bottle") for v in env.values())


def test_egress_command_names_every_in_container_path():
    opts = StartOptions(name="demo", inspect=True)
    cmd = egress_command(opts, "http://squid:3128", "/etc/bottle/policy.yaml",
                         "/etc/bottle/upstream-ca.pem")
    assert cmd[:4] == ["egress", "run", "--listen", "0.0.0.0:8080"]
    assert cmd[cmd.index("--upstream") + 1] == "http://squid:3128"
    assert cmd[cmd.index("--state-dir") + 1].startswith("/run/bottle/")
    assert cmd[cmd.index("--dns-listen") + 1] == "0.0.0.0:53"
    assert "--upstream" not in egress_command(opts, "none", None, None)
    pipelock = egress_command(opts, "pipelock", None, None)
    assert pipelock[pipelock.index("--upstream") + 1] == f"http://{Names('demo').pipelock}:8888"


@pytest.mark.parametrize("bad", ["", "-x", "a b", "x" * 42, "a/b"])
def test_bad_names_are_refused(bad: str):
    with pytest.raises(LauncherError):
        check_name(bad)


def test_env_and_policy_errors_say_what_to_do(tmp_path: Path):
    assert parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(LauncherError, match="NAME=VALUE"):
        parse_env(["novalue"])
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\nhosts:\n  allow:\n    - name: x\n      hostz: [a.test]\n")
    with pytest.raises(LauncherError) as err:
        check_policy(bad)
    assert "p.yaml:5" in str(err.value) and "bottle policy check" in str(err.value)
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nhosts:\n  allow:\n    - name: x\n      hosts: ['*.a.test', b.test]\n")
    assert probe_host(check_policy(good)) == "b.test"


def test_wheelhouse_platform_tags_cover_manylinux():
    args = Platform("3.13", "x86_64", (2, 41)).pip_args()
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert "manylinux_2_41_x86_64" in platforms and "manylinux2014_x86_64" in platforms
    assert "manylinux_2_5_x86_64" in platforms and platforms[-1] == "any"
    assert args[args.index("--python-version") + 1] == "3.13" and "cp313" in args


def test_debian_mirror_from_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BOTTLE_DEBIAN_MIRROR", "http://mirror.test/debian/")
    assert debian_mirror() == "http://mirror.test/debian"


def test_probe_output_parsing_and_fixes():
    results = parse_probe_output("curl\ttrusts\tHTTP 502\njava\tfails\tno\ngarbage\n")
    assert [(r.runtime, r.status) for r in results] == [("curl", "trusts"), ("java", "fails")]
    assert "keytool" in results[1].fix and results[0].fix == ""


def test_pretty_audit_line():
    line = ('{"time":"2026-01-01T10:00:00.000Z","verdict":"block","method":"CONNECT",'
            '"host":"denied.test","findings":[{"rule":"host-not-allowed"}]}')
    assert _pretty_event(line, color=False) == "10:00:00  block     CONNECT denied.test  [host-not-allowed]"
    assert _pretty_event("not json", color=False) == "not json"


def test_entry_point_runs_launcher_commands_without_the_proxy_engine():
    code = ("import sys\nfrom egress.main import main\ntry:\n    main(['stop', '--help'])\n"
            "except SystemExit:\n    pass\nprint('engine loaded' if 'mitmproxy' in sys.modules else 'lean')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert "usage: bottle stop" in res.stdout and res.stdout.strip().endswith("lean"), res.stdout
    full = subprocess.run([sys.executable, "-m", "egress.main", "--help"], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    for command in ("egress", "policy", "replay", *sorted(COMMANDS)):
        assert command in full.stdout
