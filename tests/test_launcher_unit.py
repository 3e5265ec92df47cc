"""The launcher's pure parts: environment composition, commands, names, parsing. No Docker."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cli.launcher import COMMANDS, _pretty_event
from egress.policy.loader import parse_yaml_model
from egress.policy.model import Policy
from launcher.agent_user import (
    DEFAULT_UID,
    AgentUser,
    account_archive,
    choose_agent_user,
    workdir_problem,
)
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
from launcher.doctor import parse_probe_output
from launcher.egress_policy import SECRETS_DIR, egress_files
from launcher.errors import LauncherError
from launcher.images import EGRESS_INPUTS, Platform, debian_mirror
from launcher.isolation import agent_checks, cap_names, parse_inside
from launcher.limits import (
    AGENT_DEFAULTS,
    EGRESS_DEFAULTS,
    GiB,
    Limits,
    MiB,
    limits_from_flags,
    limits_of,
)
from launcher.seccomp import MODE_ARGUMENT, profile, security_opt
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
            '"host":"denied.test","status":403,'
            '"findings":[{"scanner":"hosts","rule":"host-not-allowed"}]}')
    assert _pretty_event(line, color=False) == \
        "10:00:00  block     403  CONNECT denied.test  [hosts/host-not-allowed]"
    # an event without a response says so rather than leaving the column out
    dns = '{"time":"2026-01-01T10:00:01.000Z","event":"dns","verdict":"allow","host":"a.test"}'
    assert _pretty_event(dns, color=False) == "10:00:01  allow     -    a.test"
    assert _pretty_event("not json", color=False) == "not json"


def test_entry_point_runs_launcher_commands_without_the_proxy_engine():
    code = ("import sys\nfrom cli.main import main\ntry:\n    main(['stop', '--help'])\n"
            "except SystemExit:\n    pass\nprint('engine loaded' if 'mitmproxy' in sys.modules else 'lean')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert "usage: bottle stop" in res.stdout and res.stdout.strip().endswith("lean"), res.stdout
    full = subprocess.run([sys.executable, "-m", "cli.main", "--help"], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    for command in ("egress", "policy", "replay", *sorted(COMMANDS)):
        assert command in full.stdout


# -- the agent's user (18.1) -------------------------------------------------------------------

def test_agent_user_is_never_root(tmp_path: Path):
    owned = tmp_path / "project"
    owned.mkdir()
    if os.geteuid() == 0:
        os.chown(owned, 2345, 2346)
    pick = choose_agent_user
    # sudo: the user who ran it
    assert pick(None, None, {"SUDO_UID": "1500", "SUDO_GID": "1501"}, 0, 0).spec == "1500:1501"
    assert pick(None, None, {"SUDO_UID": "1500"}, 0, 0).spec == "1500:1500"
    # sudo by root itself, or garbage, is ignored
    assert pick(None, None, {"SUDO_UID": "0"}, 0, 0).uid == DEFAULT_UID
    assert pick(None, None, {"SUDO_UID": "x"}, 0, 0).uid == DEFAULT_UID
    # a non-root launcher: itself (a root primary group is not handed on)
    assert pick(None, owned, {}, 1200, 1201).spec == "1200:1201"
    assert pick(None, owned, {}, 1200, 0).spec == "1200:1200"
    # root without sudo: the workdir's owner, else 1000
    if os.geteuid() == 0:
        assert pick(None, owned, {}, 0, 0).spec == "2345:2346"
        assert "owner of --workdir" in pick(None, owned, {}, 0, 0).reason
    root_owned = tmp_path / "root"
    root_owned.mkdir()
    if os.geteuid() == 0:
        assert pick(None, root_owned, {}, 0, 0).spec == f"{DEFAULT_UID}:{DEFAULT_UID}"
    assert pick(None, None, {}, 0, 0).spec == f"{DEFAULT_UID}:{DEFAULT_UID}"
    # --user wins, and refuses root
    assert pick("3000:3001", owned, {"SUDO_UID": "1500"}, 0, 0).spec == "3000:3001"
    assert pick("3000", None, {}, 0, 0).spec == "3000:3000"
    for bad in ("0", "0:0", "5:0", "root", "-1", "1:x"):
        with pytest.raises(LauncherError) as err:
            pick(bad, None, {}, 0, 0)
        assert err.value.exit_code == 2


def test_workdir_problem_names_the_fix(tmp_path: Path):
    d = tmp_path / "w"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    owner = AgentUser(d.stat().st_uid, d.stat().st_gid, "test")
    assert workdir_problem(owner, d) is None
    other = AgentUser(owner.uid + 4000, owner.gid + 4000, "test")
    problem = workdir_problem(other, d)
    assert problem is not None and f"chown -R {other.spec} {d}" in problem
    d.chmod(0o777)
    assert workdir_problem(other, d) is None


def test_account_for_the_agent_uid_is_added_once():
    user = AgentUser(4321, 4322, "test")
    passwd = b"root:x:0:0:root:/root:/bin/bash\nbottle:x:999:999::/:/bin/sh\n"
    group = b"root:x:0:\n"
    with tarfile.open(fileobj=io.BytesIO(account_archive(user, passwd, group) or b"")) as tar:
        members = {m.name: m for m in tar.getmembers()}
        files = {name: (tar.extractfile(m) or io.BytesIO()).read() for name, m in members.items()
                 if m.isfile()}
    new_passwd = files["etc/passwd"].decode()
    # the name "bottle" is taken by another uid: the agent's account gets its own
    assert new_passwd.endswith("bottle4321:x:4321:4322:bottle agent:/home/bottle:/bin/sh\n")
    assert new_passwd.startswith(passwd.decode())
    assert files["etc/group"].endswith(b"bottle4321:x:4322:\n")
    home = members["home/bottle"]
    assert home.isdir() and (home.uid, home.gid, home.mode) == (4321, 4322, 0o700)
    # an image that already has the uid keeps its own account; one without passwd gets none
    assert account_archive(AgentUser(999, 999, "t"), passwd, group) is None
    assert account_archive(user, None, None) is None


# -- seccomp (18.1) ------------------------------------------------------------------------------

def test_seccomp_profile_refuses_setid_modes_and_namespaces():
    prof = profile()
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO"
    rules = prof["syscalls"]
    unconditional = set(rules[0]["names"])
    assert rules[0]["action"] == "SCMP_ACT_ALLOW" and "args" not in rules[0]
    for name in ("read", "write", "execve", "fork", "ptrace", "mkdir", "fchown", "socketpair",
                 "rt_sigaction", "prctl", "seccomp"):
        assert name in unconditional, name
    for name in ("unshare", "setns", "mount", "keyctl", "bpf", "io_uring_setup", "userfaultfd",
                 "open_by_handle_at", "init_module", "clone3", "openat2", "fchmodat2",
                 *MODE_ARGUMENT, "clone", "socket", "personality"):
        assert name not in unconditional, name
    for name, index in MODE_ARGUMENT.items():
        allowed = [r for r in rules if r["names"] == [name]]
        assert allowed == [{"names": [name], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": index, "value": 0o6000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
    enosys = [r for r in rules if r.get("errnoRet") == 38]
    assert enosys and {"clone3", "openat2", "fchmodat2"} == set(enosys[0]["names"])
    clone = next(r for r in rules if r["names"] == ["clone"])
    assert clone["args"][0]["value"] & 0x10000000  # CLONE_NEWUSER is never allowed
    assert security_opt().startswith("seccomp=") and json.loads(security_opt()[8:]) == prof


# -- limits (18.7, 18.8) -------------------------------------------------------------------------

def test_limits_parse_and_describe():
    assert AGENT_DEFAULTS.describe() == "memory 4 GiB, 1024 pids, all CPUs"
    assert EGRESS_DEFAULTS.describe() == "memory 2 GiB, 128 pids, 1 CPU"
    got = limits_from_flags({"memory": "512m", "pids": "64", "cpus": "0.5"}, "", AGENT_DEFAULTS)
    assert got == Limits(512 * MiB, 64, 0.5)
    assert got.docker_kwargs() == {"mem_limit": 512 * MiB, "memswap_limit": 512 * MiB,
                                   "pids_limit": 64, "nano_cpus": 500_000_000}
    assert limits_from_flags({"memory": "2GiB", "cpus": "all"}, "egress-",
                             EGRESS_DEFAULTS) == Limits(2 * GiB, 128, None)
    assert limits_from_flags({}, "", AGENT_DEFAULTS) == AGENT_DEFAULTS
    for flags, message in (({"memory": "lots"}, "--memory 'lots'"), ({"memory": "1m"}, "at least"),
                           ({"pids": "3"}, "at least 16"), ({"pids": "x"}, "--pids 'x'"),
                           ({"cpus": "0"}, "--cpus 0"), ({"cpus": "two"}, "--cpus 'two'")):
        with pytest.raises(LauncherError, match=message) as err:
            limits_from_flags(flags, "", AGENT_DEFAULTS)
        assert err.value.exit_code == 2
    assert limits_of({"Memory": 4 * GiB, "PidsLimit": 1024, "NanoCpus": 0}) == AGENT_DEFAULTS
    assert limits_of({"Memory": 0, "PidsLimit": None, "NanoCpus": 0}) is None


# -- secrets for the egress container (18.10) ----------------------------------------------------

def test_secret_files_move_out_of_any_tmpfs_and_the_policy_follows():
    text = ("version: 1\n"
            "# reviewer's comment\n"
            "credentials:\n"
            "  - name: gh\n"
            "    host: api.github.com\n"
            "    header: 'Authorization: Bearer {secret}'\n"
            "    source: {file: /tmp/gh-token}   # rotated by a script\n"
            "    placeholder: {env: GH_TOKEN}\n"
            "dlp:\n"
            "  known_secrets:\n"
            "    - name: db\n"
            "      file: \"/run/bottle/db\"\n"
            "    - name: env-one\n"
            "      env: SOME_VAR\n"
            "    - name: gh-again\n"
            "      file: /tmp/gh-token\n")
    out = egress_files(text, {"/tmp/gh-token": b"t0k3n", "/run/bottle/db": b"pw"})
    policy = out.policy.decode()
    assert "/tmp/" not in policy and "/run/bottle" not in policy
    assert "# reviewer's comment" in policy and "# rotated by a script" in policy
    assert len(policy.splitlines()) == len(text.splitlines())
    parsed = parse_yaml_model(policy, "<egress copy>", Policy)  # valid; sources not read
    files = {k.name: k.file for k in parsed.dlp.known_secrets}
    assert parsed.credentials[0].source.file == files["gh-again"]
    assert files["env-one"] is None and files["db"] != files["gh-again"]
    assert out.secrets == {files["db"]: b"pw", files["gh-again"]: b"t0k3n"}
    assert all(p.startswith(SECRETS_DIR + "/") for p in out.secrets)
    # no file source: the policy is passed through byte for byte
    assert egress_files("version: 1\n", {}).policy == b"version: 1\n"


# -- doctor's isolation checks -------------------------------------------------------------------

def test_isolation_checks_read_from_inside():
    text = ("Name:\tsleep\nUid:\t4321\t4321\t4321\t4321\nGid:\t4321\t4321\t4321\t4321\n"
            "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
            "@mount 118 101 254:0 /srv/p /workspace rw,nosuid,nodev,relatime - ext4 /dev/vda rw\n"
            "@cgroup memory/memory.limit_in_bytes 4294967296\n@cgroup pids/pids.max 1024\n"
            "@cgroup cpu/cpu.cfs_quota_us -1\n@cgroup cpu/cpu.cfs_period_us 100000\n")
    checks = {c.name: c for c in agent_checks(parse_inside(text), AGENT_DEFAULTS)}
    assert all(c.status == "ok" for c in checks.values()), checks
    assert checks["workdir"].detail == "/workspace rw,nosuid,nodev,relatime"
    assert checks["agent limits"].detail == "memory 4 GiB, 1024 pids, all CPUs"
    # what the old launcher gave an agent: root, a plain bind mount, no limits
    old = (text.replace("4321", "0").replace("rw,nosuid,nodev,relatime", "rw,relatime")
           .replace("4294967296", "9223372036854771712").replace("pids.max 1024", "pids.max max")
           .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0").replace("Seccomp:\t2", "Seccomp:\t0")
           .replace("CapEff:\t0000000000000000", "CapEff:\t00000000a80425fb"))
    bad = {c.name: c for c in agent_checks(parse_inside(old), None)}
    assert all(bad[n].status == "fails" for n in ("agent user", "capabilities",
                                                  "no-new-privileges", "seccomp", "workdir",
                                                  "agent limits")), bad
    assert "net_raw" in cap_names("00000000a80425fb") and cap_names("0") == "none"
    # cgroup v2, and a container whose limits differ from what it was created with
    v2 = text.split("@cgroup")[0] + ("@cgroup memory.max 536870912\n@cgroup pids.max 64\n"
                                     "@cgroup cpu.max 50000 100000\n")
    limits = {c.name: c for c in agent_checks(parse_inside(v2), Limits(512 * 2**20, 64, 0.5))}
    assert limits["agent limits"].detail == "memory 512 MiB, 64 pids, 0.5 CPUs"
    mismatch = {c.name: c for c in agent_checks(parse_inside(v2), Limits(GiB, 64, 0.5))}
    assert mismatch["agent limits"].status == "fails"
    no_workdir = parse_inside(text.replace("@mount", "#"))
    assert {c.name: c for c in agent_checks(no_workdir, None)}["workdir"].status == "note"


def test_the_egress_image_gets_every_package_the_project_installs() -> None:
    # The image's build context holds only EGRESS_INPUTS: a package missing there is
    # missing from the image's wheel, and `import cli.commands` fails inside it.
    import tomllib

    root = Path(__file__).resolve().parent.parent
    found = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in found["include"]}
    assert packages, "pyproject.toml lists no packages"
    assert packages <= set(EGRESS_INPUTS), sorted(packages - set(EGRESS_INPUTS))
    # and .dockerignore, which excludes everything it does not name, lets each of them in
    kept = {line[1:] for line in (root / ".dockerignore").read_text().splitlines()
            if line.startswith("!")}
    assert packages <= kept, sorted(packages - kept)
