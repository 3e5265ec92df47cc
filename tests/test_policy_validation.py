"""`bottle policy check` reports every problem of a file in one pass (issue 14, trap 6).

Schema errors in one section no longer hide the semantic checks of the others (unknown DLP
rules, passthrough hosts, credential sources); each problem names file, line and field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSX_")}
    env["PYTHONPATH"] = str(REPO)
    env["OPSX_TOKEN"] = "ghp_" + "k3" * 18  # a resolvable credential source
    return subprocess.run([sys.executable, "-m", "cli.main", "policy", "check", str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def problems(res: subprocess.CompletedProcess[str]) -> list[str]:
    assert res.returncode == 1, res
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    return res.stderr.strip().splitlines()


def test_errors_in_hosts_and_dlp_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\n"
        "hosts:\n"
        "  allow:\n"
        "    - hosts: [api.example.com]\n"
        "      methods: [FETCH]\n"               # line 5: schema error in hosts
        "dlp:\n"
        "  actions: {no-such-rule: audit}\n"     # line 7: unknown rule (semantic check)
        "  suppress:\n"
        "    - rules: [also-not-a-rule]\n"       # line 9
        "      reason: test\n")
    lines = problems(check(path))
    assert lines == [
        f"{path}:5: hosts.allow[0].methods: 'FETCH' is not an HTTP method; allowed: GET, HEAD, "
        "POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT",
        f"{path}:7: dlp.actions.no-such-rule: unknown DLP rule 'no-such-rule' (list them with "
        "`bottle dlp rules`)",
        f"{path}:9: dlp.suppress[0].rules[0]: unknown DLP rule 'also-not-a-rule'",
    ], lines


def test_credential_sources_are_checked_in_the_same_pass(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\n"
        "hosts:\n"
        "  allow: [{hosts: [api.example.com]}]\n"
        "  passthrough: [pinned.example.org]\n"  # line 4: semantic error in hosts
        "credentials:\n"
        "  - name: gh\n"
        "    host: api.example.com\n"
        "    header: 'Authorization: Bearer {secret}'\n"
        "    source: {env: OPSX_UNSET_VARIABLE}\n"  # line 9: unresolvable source
        "    placeholder: {env: GH_TOKEN}\n"
        "mode: loud\n")                          # line 11: schema error
    lines = problems(check(path))
    assert any(line.startswith(f"{path}:4: hosts.passthrough[0]: ") for line in lines), lines
    assert any(line.startswith(f"{path}:9: credentials[0].source.env: credential 'gh': ")
               and "OPSX_UNSET_VARIABLE is not set" in line for line in lines), lines
    assert any(line.startswith(f"{path}:11: mode: ") for line in lines), lines
    assert len(lines) == 3, lines


def test_a_failed_section_causes_no_follow_up_errors_elsewhere(tmp_path: Path) -> None:
    """With `hosts` invalid, the credential check (which needs the allow rules) does not run on
    a default `hosts`: no invented 'host is not allowed' problem."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\n"
        "hosts:\n"
        "  allow: [{hosts: [api.example.com], ports: [99999]}]\n"
        "credentials:\n"
        "  - name: gh\n"
        "    host: api.example.com\n"
        "    header: 'Authorization: Bearer {secret}'\n"
        "    source: {env: OPSX_TOKEN}\n"
        "    placeholder: {env: GH_TOKEN}\n"
        "dlp: {default_action: shout}\n")
    lines = problems(check(path))
    assert [line.split(": ")[1] for line in lines] == ["hosts.allow[0].ports[0]", "dlp.default_action"], lines


def test_a_mapping_used_as_a_key_is_a_clear_error(tmp_path: Path) -> None:
    """`{{file: {x}}}` (a template left unformatted) made ruamel raise TypeError: exit 70."""
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ncredentials:\n  - source: {{file: {x}}}\n")
    lines = problems(check(path))
    assert lines == [f"{path}: YAML error: a mapping or list used as a key (in a flow mapping, "
                     "`{{...}}` nests a mapping as a key)"], lines
