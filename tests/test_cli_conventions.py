"""CLI conventions (issue 14, trap 9): `--version`, shell completion generated from the parser,
our own message for a busy port, an accurate `bottle start` usage line, private recordings,
no `nameserver 0.0.0.0` advice, and counted nouns."""

from __future__ import annotations

import argparse
import io
import os
import shlex
import socket
import stat
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest

from cli.commands import build_parser
from cli.launcher import counted
from launcher.bottle import save_recording
from proxy.dns.addresses import client_instructions
from tests.conftest import EgressFactory, PolicyWriter
from tests.support.origin import Origin

REPO = Path(__file__).resolve().parents[1]
BOTTLE = [sys.executable, "-m", "cli.main"]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def bottle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOTTLE, *args], cwd=REPO, env=env(), capture_output=True, text=True,
                          timeout=120, check=False)


def test_version_comes_from_the_package_metadata() -> None:
    res = bottle("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"bottle {version('bottle-egress')}\n"
    assert "--version" in bottle("--help").stdout


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the last word of `words` (COMP_WORDS/COMP_CWORD as bash sets them)."""
    quoted = " ".join(shlex.quote(w) for w in words)
    cmd = (f"source {shlex.quote(str(script))}; COMP_WORDS=({quoted}); "
           f"COMP_CWORD={len(words) - 1}; $(complete -p bottle | sed 's/.*-F \\([^ ]*\\).*/\\1/'); "
           'printf "%s\\n" "${COMPREPLY[@]}"')
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30, check=False,
                         cwd=script.parent)
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.splitlines() if w]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = bottle("completion", "bash")
    assert res.returncode == 0, res.stderr
    path = tmp_path_factory.mktemp("completion") / "bottle.bash"
    path.write_text(res.stdout)
    return path


def test_bash_completion_loads_from_process_substitution() -> None:
    cmd = f"source <({' '.join(shlex.quote(a) for a in BOTTLE)} completion bash); complete -p bottle"
    res = subprocess.run(["bash", "-c", cmd], cwd=REPO, env=env(), capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("complete -F ") and res.stdout.rstrip().endswith(" bottle")


def test_bash_completion_follows_the_parser_tree(bash_script: Path) -> None:
    top = set(complete(bash_script, "bottle", ""))
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) <= top and "--version" in top
    assert complete(bash_script, "bottle", "eg") == ["egress"]
    assert complete(bash_script, "bottle", "egress", "r") == ["run"]
    assert complete(bash_script, "bottle", "egress", "run", "--li") == ["--listen"]
    assert complete(bash_script, "bottle", "policy", "ch") == ["check"]
    # option values are skipped when finding the command path; choices complete
    assert complete(bash_script, "bottle", "replay", "--policy", "p.yaml", "--form") == ["--format"]
    assert sorted(complete(bash_script, "bottle", "replay", "--format", "")) == ["json", "table"]
    assert complete(bash_script, "bottle", "completion", "z") == ["zsh"]
    assert complete(bash_script, "bottle", "start", "--upstream-n") == ["--upstream-network"]
    # a value that is not a choice completes file names
    (bash_script.parent / "policy-for-completion.yaml").write_text("version: 1\n")
    assert complete(bash_script, "bottle", "policy", "check", "policy-for-") == ["policy-for-completion.yaml"]


def test_zsh_completion_uses_the_same_generated_function() -> None:
    res = bottle("completion", "zsh")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("#compdef bottle\n")
    assert "bashcompinit" in res.stdout and "complete -F _bottle_complete bottle" in res.stdout
    assert "--upstream-network" in res.stdout


def test_a_busy_port_gets_our_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([*BOTTLE, "egress", "run", "--listen", f"127.0.0.1:{port}",
                              "--state-dir", str(tmp_path / "state"),
                              "--audit-log", str(tmp_path / "audit.jsonl")],
                             cwd=REPO, env=env(), capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1
    assert res.stdout == ""  # no client environment for a proxy that never listened
    assert "--mode" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"bottle egress: cannot listen on 127.0.0.1:{port}: the port is already in use (another "
        "`bottle egress run`?); choose another with --listen 127.0.0.1:PORT, or --listen "
        "127.0.0.1:0 for a free one"], res.stderr


def test_start_usage_names_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    start = sub.choices["start"]
    usage = start.format_usage()
    for action in start._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            flag = max(action.option_strings, key=len)
            assert f"[{flag}" in usage, (flag, usage)
    assert "[-- CMD ...]" in usage
    shown = bottle("start", "--help")
    assert shown.returncode == 0
    for flag in ("--upstream-ca", "--upstream-network", "--cap-add", "--egress-image",
                 "--pipelock-image", "--dns-upstream", "--json"):
        assert flag in shown.stdout.split("\n\n")[0], flag


def test_egress_run_recording_is_private(egress: EgressFactory, write_policy: PolicyWriter,
                                         origin: Origin, tmp_path: Path) -> None:
    record = tmp_path / "flows.mitm"
    proc = egress(write_policy("version: 1\nhosts:\n  allow: [{hosts: [allowed.test]}]\n"),
                  "--record", str(record))
    res = subprocess.run(["curl", "-sS", "--max-time", "20", f"https://allowed.test:{origin.port}/hello"],
                         env=proc.client_env(), capture_output=True, text=True, check=False)
    assert "hello from origin" in res.stdout, res.stderr
    assert proc.stop() == 0
    assert record.stat().st_size > 0
    assert stat.S_IMODE(record.stat().st_mode) == 0o600


class _EgressContainer:
    """The two calls `save_recording` makes on a docker container, with a real tar archive."""

    def __init__(self, data: bytes) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("flows.mitm")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        self.archive = buf.getvalue()

    def stop(self, timeout: int) -> None:
        pass

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, object]]:
        return [self.archive], {}


def test_launcher_recording_is_private(tmp_path: Path) -> None:
    target = tmp_path / "out" / "flows.mitm"
    assert save_recording(_EgressContainer(b"flow bytes"), target) == target
    assert target.read_bytes() == b"flow bytes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o644)  # an existing, readable file is made private too
    save_recording(_EgressContainer(b"again"), target)
    assert target.read_bytes() == b"again" and stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_dns_advice_never_names_a_wildcard_address(wildcard: str) -> None:
    for port in (53, 5353):
        text = "\n".join(client_instructions((wildcard, port), ("1.1.1.1", 53)))
        assert f"nameserver {wildcard}" not in text and f"--dns {wildcard}" not in text
        assert f"@{wildcard}" not in text
        assert "this host's address" in text
    assert "nameserver 127.0.0.5" in "\n".join(client_instructions(("127.0.0.5", 53), ("1.1.1.1", 53)))


def test_counted_nouns() -> None:
    assert [counted(n, "volume") for n in (0, 1, 2)] == ["0 volumes", "1 volume", "2 volumes"]
