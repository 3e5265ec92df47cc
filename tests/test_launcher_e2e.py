"""`bottle start --inspect` end to end with a real Docker engine.

One test bottle: agent -> its egress container (TLS inspection, policy) -> squid (standing in
for pipelock) -> a TLS origin with its own test CA. Everything is checked from inside the
agent container, the way an agent would try it. Tests run in file order; the last one stops
the bottle and checks nothing of it remains.

Every bottle name carries this run's id (`run_name`), so runs sharing one engine never touch
each other's containers.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from launcher.bottle import Names, host_dir
from launcher.limits import GiB, MiB
from tests.support.docker_env import (
    REPO,
    OutsideWorld,
    bottle_cli,
    build_test_images,
    docker_client,
    outside_world,
    release_test_images,
    run_in,
    run_name,
)
from tests.support.pki import TestPKI
from tests.support.prereq import missing
from tests.test_dlp_e2e import SECRET as DLP_SECRET

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

NAME = run_name("e2e-inspect")
# The main bottle is started by root "through sudo" from this user, so the agent runs as it.
SUDO_UID = 4321
# A known secret read from a file under /tmp (the egress container has a tmpfs there).
KNOWN_SECRET = "known-e2e-secret-Zq81xVb0c3Lm9TgR"
POLICY = """\
version: 1
hosts:
  allow:
    - name: test-origin
      hosts: [allowed.test, "*.allowed.test"]
credentials:
  - name: test-token
    host: api.allowed.test
    header: "Authorization: Bearer {secret}"
    source: {env: BOTTLE_E2E_REAL_TOKEN}
    placeholder: {env: TEST_TOKEN}
dlp:
  known_secrets:
    - name: e2e-known
      file: KNOWN_SECRET_FILE
dns:
  private_answers: [allowed.test, "*.allowed.test"]   # the test origin's address is private
"""
# The real credential: in the launching shell and the egress container, never in the agent.
REAL_TOKEN = "real-e2e-token-7f3a9c21d4b86e05"


@pytest.fixture(scope="module", autouse=True)
def audit_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The kept audit logs of this module's bottles (`bottle stop` writes them under
    $XDG_STATE_HOME) go to a directory of this run, not to the home of whoever runs the tests."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_STATE_HOME", str(state))
        yield state


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_client()


@pytest.fixture(scope="module")
def images(client: Any) -> Iterator[dict[str, str]]:
    built = build_test_images(client)
    yield built
    release_test_images(client, built)


@pytest.fixture(scope="module")
def world(client: Any, images: dict[str, str], pki: TestPKI) -> Iterator[OutsideWorld]:
    cert = pki.server_cert("docker-origin", ["allowed.test", "api.allowed.test", "denied.test",
                                             "other.test"])
    with outside_world(client, images, cert) as w:
        yield w


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """The project directory of the user who ran sudo: theirs, as a real one would be. Open to
    everyone, so that any agent, whatever its uid, can write in it: the test shows what a
    file written by the agent becomes on the host, not what permissions stop."""
    path = Path(tempfile.mkdtemp(prefix="bottle-e2e-work-"))
    os.chown(path, SUDO_UID, SUDO_UID)
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def known_secret_file() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="bottle-e2e-secret-", dir="/tmp"))
    path = directory / "known.txt"
    path.write_text(KNOWN_SECRET + "\n")
    path.chmod(0o600)
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def bottle(client: Any, images: dict[str, str], world: OutsideWorld, pki: TestPKI,
           tmp_path_factory: pytest.TempPathFactory, workdir: Path,
           known_secret_file: Path) -> Iterator[dict[str, Any]]:
    policy = tmp_path_factory.mktemp("launcher") / "policy.yaml"
    policy.write_text(POLICY.replace("KNOWN_SECRET_FILE", str(known_secret_file)))
    res = bottle_cli("start", "--inspect", "--name", NAME, "--image", images["agent"],
                     "--egress-image", images["egress"], "--policy", str(policy),
                     "--upstream", world.squid_url, "--upstream-network", world.network,
                     "--upstream-ca", str(pki.ca_path), "--env", "AGENT_MARKER=1", "--json",
                     "--dns-upstream", f"{world.resolver_ip}:53", "--workdir", str(workdir),
                     "--", "sleep", "infinity",
                     env={"BOTTLE_E2E_REAL_TOKEN": REAL_TOKEN, "SUDO_UID": str(SUDO_UID),
                          "SUDO_GID": str(SUDO_UID)})
    try:
        assert res.returncode == 0, res.stderr
        info = json.loads(res.stdout)
        names = Names(NAME)
        yield {"info": info, "agent": client.containers.get(names.agent),
               "egress": client.containers.get(names.egress), "names": names,
               "stderr": res.stderr}
    finally:
        bottle_cli("stop", NAME)


def curl(agent: Any, *args: str) -> tuple[int, str]:
    quoted = " ".join(f"'{a}'" for a in args)
    return run_in(agent, f"curl -sS --max-time 20 {quoted} 2>&1")


def test_allowed_https_host_answers_through_egress_and_upstream(bottle, world: OutsideWorld):
    code, out = curl(bottle["agent"], "https://allowed.test/hello")
    assert code == 0, out
    assert out == "hello from origin\n"
    # it went agent -> egress -> squid -> origin: squid logged the tunnel, the origin the request
    assert "CONNECT allowed.test:443" in world.squid_log()
    assert any(r["path"] == "/hello" and r["host"] == "allowed.test"
               for r in world.origin_requests())


def test_agent_environment_is_the_egress_one(bottle):
    env = dict(line.split("=", 1) for line in
               run_in(bottle["agent"], "env")[1].splitlines() if "=" in line)
    ip = bottle["info"]["egress_ip"]
    assert env["HTTPS_PROXY"] == env["https_proxy"] == f"http://{ip}:8080"
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
                "PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO"):
        assert env[var] == "/etc/bottle-ca/ca-bundle.pem"
    assert env["NODE_EXTRA_CA_CERTS"] == "/etc/bottle-ca/bottle-ca.pem"
    assert env["BOTTLE_ID"] == NAME and env["AGENT_MARKER"] == "1"
    # the system store was extended too: a client ignoring the variables still trusts the CA
    code, out = run_in(bottle["agent"], "env -u SSL_CERT_FILE -u CURL_CA_BUNDLE "
                       "curl -sS --max-time 20 https://allowed.test/hello 2>&1")
    assert code == 0 and out == "hello from origin\n", out


def test_agent_container_is_locked_down(bottle, client):
    agent = bottle["agent"]
    agent.reload()
    host = agent.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not host["PortBindings"] and not host["Privileged"]
    assert list(agent.attrs["NetworkSettings"]["Networks"]) == [bottle["names"].internal_net]
    net = client.networks.get(bottle["names"].internal_net)
    assert net.attrs["Internal"] is True
    mounts = {m["Destination"]: m for m in agent.attrs["Mounts"]}
    assert mounts["/etc/bottle-ca"]["RW"] is False
    code, out = run_in(agent, "echo x > /etc/bottle-ca/ca-bundle.pem")
    assert code != 0 and "Read-only" in out
    # what the agent's first process really runs with, as the kernel reports it
    _, status = run_in(agent, "cat /proc/1/status")
    fields = {k: v.split() for k, _, v in (ln.partition(":") for ln in status.splitlines())}
    assert fields["Uid"] == [str(SUDO_UID)] * 4 and fields["Gid"] == [str(SUDO_UID)] * 4
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == ["0000000000000000"]
    assert fields["NoNewPrivs"] == ["1"] and fields["Seccomp"] == ["2"]
    # no file of the agent image keeps a setuid or setgid bit
    code, out = run_in(agent, "find / -xdev -type f -perm /6000 2>/dev/null", user="0")
    assert out.strip() == "", out
    # the seccomp profile refuses what Docker's default refuses: a user namespace, a mount
    code, out = run_in(agent, "unshare -U true; python3 -c 'import os; os.unshare(0x10000000)'")
    assert "Operation not permitted" in out and code != 0, out


def test_setuid_file_planted_in_workdir_is_neither_setuid_nor_roots_on_the_host(bottle,
                                                                            workdir: Path):
    """18.1: a setuid program the agent writes to the workdir is a setuid program on the host.
    The agent is the user who ran sudo (not root), cannot set the bits at all, and the workdir
    is mounted nosuid,nodev; a setuid-root file already in the project elevates nothing."""
    agent = bottle["agent"]
    assert f"the agent runs as uid {SUDO_UID}, gid {SUDO_UID}" in bottle["stderr"]
    _, mountinfo = run_in(agent, "cat /proc/self/mountinfo")
    workspace = [ln.split() for ln in mountinfo.splitlines() if ln.split()[4] == "/workspace"]
    assert len(workspace) == 1, mountinfo
    assert {"rw", "nosuid", "nodev"} <= set(workspace[0][5].split(",")), workspace
    # every way of making a setuid or setgid file in the workdir
    plant = (
        "cd /workspace; id -u > whoami; "
        "cp /bin/dash dash-copy; chmod 4755 dash-copy; echo chmod=$?; "
        "chmod u+s,g+s dash-copy; echo chmod-symbolic=$?; "
        "install -m 6755 /bin/dash installed; echo install=$?; "
        "python3 -c \"import os; os.close(os.open('created', os.O_CREAT | os.O_WRONLY, 0o4755))\"; "
        "echo open=$?; "
        "python3 -c \"import os; os.mknod('node', 0o104755)\"; echo mknod=$?; "
        "python3 -c \"import os; open('static','wb').write(open('/bin/true','rb').read()); "
        "os.chmod('static', 0o2755)\"; echo pychmod=$?")
    code, out = run_in(agent, plant)
    for step in ("chmod", "chmod-symbolic", "install", "open", "mknod", "pychmod"):
        assert f"{step}=0" not in out, out
    assert out.count("Operation not permitted") >= 6, out
    files = sorted(workdir.iterdir())
    assert {p.name for p in files} >= {"whoami", "dash-copy", "static"}, files
    assert (workdir / "whoami").read_text().strip() == str(SUDO_UID)
    for path in files:
        st = path.lstat()
        assert st.st_uid == SUDO_UID and st.st_gid == SUDO_UID, (path, st.st_uid, st.st_gid)
        assert not st.st_mode & 0o6000, (path, oct(st.st_mode))
    # a setuid-root shell that is already in the project runs as the agent, not as root
    rootsh = workdir / "rootsh"
    shutil.copy("/bin/dash", rootsh)
    os.chown(rootsh, 0, 0)
    rootsh.chmod(0o4755)
    code, out = run_in(agent, "/workspace/rootsh -p -c 'id -u; id -un'")
    assert code == 0 and out.split()[0] == str(SUDO_UID), out
    rootsh.unlink()


def test_known_secret_file_under_tmp_reaches_the_egress(bottle, world: OutsideWorld,
                                                       known_secret_file: Path):
    """18.10: a `file:` known secret under /tmp; the egress container's /tmp tmpfs hid its
    copy and `bottle start` failed. It is copied to a path no mount covers, and enforced."""
    assert str(known_secret_file).startswith("/tmp/")
    egress = bottle["egress"]
    code, policy = run_in(egress, "cat /etc/bottle/policy.yaml", user="10001")
    assert str(known_secret_file) not in policy and "/etc/bottle/secrets/" in policy, policy
    code, listing = run_in(egress, "stat -c '%a %u %n' /etc/bottle/secrets /etc/bottle/secrets/*",
                           user="10001")
    assert code == 0 and listing.split()[:2] == ["700", "10001"], listing
    assert all(line.split()[:2] == ["400", "10001"] for line in listing.splitlines()[1:]), listing
    _, out = curl(bottle["agent"], "-i", "-X", "POST", "--data", f"note={KNOWN_SECRET}",
                  "https://allowed.test/known")
    assert " 403" in out and "dlp/known-secret" in out.lower(), out
    assert all(r["path"] != "/known" for r in world.origin_requests())
    code, out = run_in(bottle["agent"], f"grep -rl '{KNOWN_SECRET}' /etc /tmp /workspace "
                       "/home 2>/dev/null; echo done", user="0")
    assert out.strip() == "done", out


def test_default_limits_of_agent_and_egress(bottle):
    """18.8 and 18.7: both containers get memory, process and CPU limits by default."""
    for container, memory, pids, nano in ((bottle["agent"], 4 * GiB, 1024, 0),
                                          (bottle["egress"], 2 * GiB, 128, 10**9)):
        container.reload()
        host = container.attrs["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["PidsLimit"], host["NanoCpus"]) == (
            memory, memory, pids, nano), container.name
        user = "10001" if container is bottle["egress"] else ""
        _, out = run_in(container, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
                        "cat /sys/fs/cgroup/pids.max", user=user)
        assert out.strip() == str(pids), out


def test_denied_host_gets_structured_403_and_is_never_contacted(bottle, world: OutsideWorld):
    # answered inside a TLS tunnel the proxy holds for the denied name (nothing dialled)
    _, out = curl(bottle["agent"], "-v", "https://denied.test/secret")
    assert "403" in out
    assert "x-bottle-block-reason: hosts/host-not-allowed" in out.lower()
    assert '"rule":"hosts/host-not-allowed"' in out
    assert "denied.test" not in world.squid_log()
    assert all(r["host"] != "denied.test" for r in world.origin_requests())


def test_direct_connections_ignoring_the_proxy_fail(bottle, world: OutsideWorld, client):
    """No route out: not to the origin, not to the upstream, not to the host itself."""
    seen: list[str] = []
    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    listener.settimeout(0.5)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, addr = listener.accept()
            except TimeoutError:
                continue
            seen.append(addr[0])
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        # Every address the host has on a Docker bridge, the internal network's gateway first.
        gateways = set()
        for net in client.networks.list():
            for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Gateway"):
                    gateways.add(cfg["Gateway"])
        targets = [f"https://{world.origin_ip}/", f"http://{world.squid_ip}:3128/",
                   *(f"http://{gw}:{port}/" for gw in sorted(gateways))]
        # all at once: each attempt can only time out
        script = " ".join(f"(curl -s --noproxy '*' --max-time 3 -o /dev/null {url}; "
                          f"echo \"$? {url}\") &" for url in targets) + " wait"
        _, out = run_in(bottle["agent"], script)
        results = {url: code for code, url in
                   (line.split(" ", 1) for line in out.splitlines() if " " in line)}
        assert set(results) == set(targets), out
        for url, code in results.items():
            assert code != "0", f"{url} reachable directly"
        assert seen == [], f"the host listener was reached from the bottle: {seen}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()
    assert all(r["path"] != "/" or r["host"] != world.origin_ip for r in world.origin_requests())


def test_agent_resolver_is_only_the_egress(bottle, client):
    """CVE-2024-29018: Docker's embedded DNS on internal networks forwarded queries through the
    host in some engine versions. The agent's only upstream resolver is the egress container's
    DNS guard; a name the host resolves does not resolve in the bottle through any other way."""
    agent = bottle["agent"]
    egress_ip = bottle["info"]["egress_ip"]
    assert agent.attrs["HostConfig"]["Dns"] == [egress_ip]
    code, conf = run_in(agent, "cat /etc/resolv.conf")
    assert [ln.split() for ln in conf.splitlines() if ln.startswith("nameserver")] == [
        ["nameserver", egress_ip]], conf
    code, out = run_in(agent, "echo nameserver 8.8.8.8 > /etc/resolv.conf")
    assert code != 0 and "Read-only" in out
    host_name = "deb.debian.org"
    try:
        socket.getaddrinfo(host_name, 443)
    except OSError:
        missing(f"a host resolver that answers {host_name} (the Debian mirror)",
                "check /etc/resolv.conf")
    code, out = run_in(agent, f"getent hosts {host_name}")
    assert code != 0, f"{host_name} resolved inside the bottle: {out}"
    # asking Docker's embedded resolver (or any address) directly changes nothing
    probe = ("import socket,sys\n"
             "q=bytes.fromhex('abcd01000001000000000000')+b''.join(bytes([len(p)])+p.encode()"
             " for p in sys.argv[1].split('.'))+bytes.fromhex('0000010001')\n"
             "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3)\n"
             "s.sendto(q,('127.0.0.11',53))\n"
             "try:\n r=s.recv(512);print('rcode',r[3]&15,'answers',int.from_bytes(r[6:8],'big'))\n"
             "except OSError as e: print('no answer',e)\n")
    code, out = run_in(agent, f"python3 -c \"{probe}\" {host_name}")
    assert "answers 0" in out or "no answer" in out, out


def test_secret_in_post_body_is_blocked(bottle, world: OutsideWorld):
    _, out = curl(bottle["agent"], "-i", "-X", "POST", "--data", f"note={DLP_SECRET}",
                  "https://allowed.test/upload")
    assert " 403" in out and "x-bottle-block-reason: dlp/github-token" in out.lower(), out
    assert all(DLP_SECRET not in r["body"] for r in world.origin_requests())
    assert all(r["path"] != "/upload" for r in world.origin_requests())


def test_credential_placeholder_is_swapped_on_the_way_to_its_host(bottle, world: OutsideWorld,
                                                                  client):
    agent, egress = bottle["agent"], bottle["egress"]
    env = dict(e.split("=", 1) for e in agent.attrs["Config"]["Env"])
    placeholder = env["TEST_TOKEN"]
    assert placeholder and placeholder != REAL_TOKEN
    assert REAL_TOKEN not in json.dumps(agent.attrs)  # not in the agent's config at all
    assert f"BOTTLE_E2E_REAL_TOKEN={REAL_TOKEN}" in egress.attrs["Config"]["Env"]
    # the agent sends its placeholder; the origin receives the real value
    code, out = run_in(agent, 'curl -sS --max-time 20 -H "Authorization: Bearer $TEST_TOKEN" '
                       "https://api.allowed.test/whoami")
    assert code == 0, out
    seen = [r for r in world.origin_requests() if r["path"] == "/whoami"]
    headers = {k.lower(): v for k, v in seen[-1]["headers"].items()} if seen else {}
    assert headers.get("authorization") == f"Bearer {REAL_TOKEN}", seen
    # the origin echoed the header back: the agent sees it scrubbed to the placeholder
    assert REAL_TOKEN not in out and placeholder in out, out
    # the placeholder to any other host is an exfiltration attempt
    code, out = run_in(agent, 'curl -sS -i --max-time 20 -H "X-Token: $TEST_TOKEN" '
                       "https://allowed.test/elsewhere")
    assert " 403" in out and "credentials/placeholder-exfiltration" in out, out
    assert all(r["path"] != "/elsewhere" for r in world.origin_requests())
    # and the real value is nowhere in the agent's filesystem or environment
    code, out = run_in(agent, f"grep -rl '{REAL_TOKEN}' /etc /root /home /tmp /workspace "
                       "2>/dev/null; env | grep -c BOTTLE_E2E_REAL_TOKEN", user="0")
    assert out.strip() == "0", out


def test_dns_goes_through_the_guard_and_exfiltration_names_never_leave(bottle,
                                                                        world: OutsideWorld):
    agent = bottle["agent"]
    # an allowed name resolves, through the guard, at the upstream resolver
    code, out = run_in(agent, "getent hosts allowed.test")
    assert code == 0 and world.origin_ip in out, out
    assert "allowed.test" in world.resolver_queries()
    code, out = run_in(agent, "getent hosts api.allowed.test")
    assert code == 0 and world.origin_ip in out, out
    # an exfiltration-shaped name under an allowed domain: NXDOMAIN, never forwarded
    exfil = "aGVsbG8gd29ybGQgc2VjcmV0IGRhdGEgZXhmaWw.x7f3k9q2.allowed.test"
    code, out = run_in(agent, f"getent hosts {exfil}")
    assert code != 0, out
    # a name the policy does not allow at all: the same
    code, out = run_in(agent, "getent hosts denied.test")
    assert code != 0, out
    queried = world.resolver_queries()
    assert exfil not in queried and "denied.test" not in queried, queried
    events = [json.loads(line) for line in bottle_cli("logs", NAME, "--audit", "--json")
              .stdout.splitlines() if line.strip()]
    blocked = [e for e in events if e.get("event") == "dns" and e.get("verdict") == "block"]
    # decided by the hostname scanner; the encoded labels are scrubbed from the audit log
    exfil_events = [e for e in blocked if any(f.get("rule") == "encoded-hostname"
                                              for f in e["findings"])]
    assert exfil_events, [(e.get("host"), e.get("findings")) for e in blocked]
    assert all(e["host"].endswith(".allowed.test") for e in exfil_events)
    assert exfil.split(".")[0] not in json.dumps(events)
    # the zone that was sent encoded data is the tunnel's: closed to every other name for the
    # budget's window, one asked and answered before included (so this test runs after every
    # test that needs a name under allowed.test)
    code, out = run_in(agent, "getent hosts api.allowed.test")
    assert code != 0, out


def test_ca_private_key_is_nowhere_in_the_agent(bottle, client):
    egress, agent = bottle["egress"], bottle["agent"]
    # the key lives in the egress process's memory only: no file in its state holds it
    code, listing = run_in(egress, "ls /run/bottle/state; grep -rl 'PRIVATE KEY' /run/bottle/state /tmp "
                           "2>/dev/null || true", user="10001")
    assert code == 0 and "mitmproxy-ca.pem" not in listing and "PRIVATE KEY" not in listing
    assert "bottle-ca.pem" in listing and "/run/bottle" not in listing, listing
    # the state lives on the egress container's tmpfs only
    code, mounts = run_in(egress, "grep ' /run/bottle ' /proc/mounts")
    assert mounts.split()[2] == "tmpfs", mounts
    # the CA volume holds only the public files
    code, listing = run_in(agent, "ls /etc/bottle-ca; grep -l 'PRIVATE KEY' /etc/bottle-ca/* || true")
    assert sorted(listing.split()) == ["bottle-ca.pem", "ca-bundle.pem"], listing


def test_doctor_reports_isolation_and_trust_per_runtime(bottle):
    res = bottle_cli("doctor", NAME, "--url", "https://allowed.test/", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    results = {r["runtime"]: r["status"] for r in report["trust"]}
    for runtime in ("curl", "openssl", "python-urllib", "python-requests", "git"):
        assert results.get(runtime) == "trusts", results
    checks = {c["name"]: c for c in report["isolation"]}
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert checks["agent user"]["detail"] == f"uid {SUDO_UID}, gid {SUDO_UID}"
    assert checks["capabilities"]["detail"] == "effective none; bounding none"
    assert checks["no-new-privileges"]["detail"] == "NoNewPrivs 1"
    assert checks["seccomp"]["detail"] == "mode 2 (filter)"
    assert {"nosuid", "nodev"} <= set(checks["workdir"]["detail"].split()[1].split(","))
    assert checks["agent limits"]["detail"] == "memory 4 GiB, 1024 pids, all CPUs"
    assert checks["egress limits"]["detail"] == "memory 2 GiB, 128 pids, 1 CPU"
    pretty = bottle_cli("doctor", NAME, "--url", "https://allowed.test/")
    assert "isolation" in pretty.stdout and "trust in the bottle CA" in pretty.stdout


def test_ls_and_audit_logs(bottle, audit_state: Path):
    ls = bottle_cli("ls", "--json")
    rows = {r["name"]: r for r in json.loads(ls.stdout)}
    assert rows[NAME]["state"] == "running" and rows[NAME]["inspect"] is True
    assert rows[NAME]["limits"] == {
        "agent": {"memory_bytes": 4 * GiB, "pids": 1024, "cpus": None},
        "egress": {"memory_bytes": 2 * GiB, "pids": 128, "cpus": 1.0}}
    table = bottle_cli("ls").stdout
    assert "AGENT LIMITS" in table and "memory 4 GiB, 1024 pids, all CPUs" in table, table
    audit = bottle_cli("logs", NAME, "--audit", "--json")
    events = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
    assert any(e.get("host") == "denied.test" and e.get("verdict") == "block" for e in events)
    assert any(e.get("host") == "allowed.test" and e.get("verdict") == "allow" for e in events)
    pretty = bottle_cli("logs", NAME, "--audit")
    assert "block" in pretty.stdout and "denied.test" in pretty.stdout
    # not on the CA's small tmpfs (counted against the memory limit, it cannot hold the
    # policy's rotation budget): a host directory, where the log outlives the bottle
    mounts = {m["Destination"]: m for m in bottle["egress"].attrs["Mounts"]}
    live = audit_state / "bottle-egress" / "audit" / f"{NAME}.live"
    assert mounts["/var/lib/bottle"]["Type"] == "bind"
    assert mounts["/var/lib/bottle"]["Source"] == str(live)
    assert (live / "audit.jsonl").stat().st_uid == 10001


def test_clear_errors_without_tracebacks(bottle, images, tmp_path: Path):
    again = bottle_cli("start", "--inspect", "--name", NAME, "--image", images["agent"],
                       "--egress-image", images["egress"], "--upstream", "none")
    assert again.returncode != 0 and "already running" in again.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nhosts:\n  allow:\n    - name: x\n      hostz: [a.test]\n")
    invalid = bottle_cli("start", "--inspect", "--name", run_name("e2e-bad"), "--policy",
                         str(bad), "--upstream", "none", "--image", images["agent"])
    assert invalid.returncode == 2 and "bad.yaml" in invalid.stderr and ":5" in invalid.stderr
    no_image = bottle_cli("start", "--inspect", "--name", run_name("e2e-noimg"), "--upstream",
                          "none", "--image", "bottle-agent:does-not-exist")
    assert no_image.returncode != 0 and "bottle image build" in no_image.stderr
    no_engine = bottle_cli("ls", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert no_engine.returncode != 0 and "cannot reach the Docker engine" in no_engine.stderr
    no_pipelock = bottle_cli("start", "--inspect", "--name", run_name("e2e-nopl"), "--image",
                             images["agent"], "--pipelock-image", "pipelock:absent")
    assert no_pipelock.returncode != 0 and "docker pull pipelock:absent" in no_pipelock.stderr
    as_root = bottle_cli("start", "--name", run_name("e2e-root"), "--upstream", "none",
                         "--image", images["agent"], "--user", "0:0")
    assert as_root.returncode == 2 and "never runs as root" in as_root.stderr
    bad_limit = bottle_cli("start", "--name", run_name("e2e-limit"), "--upstream", "none",
                           "--image", images["agent"], "--memory", "lots")
    assert bad_limit.returncode == 2 and "--memory 'lots'" in bad_limit.stderr
    for res in (again, invalid, no_image, no_engine, no_pipelock, as_root, bad_limit):
        assert "Traceback" not in res.stderr
    assert not bottle_cli("ls", "--json").stdout.count(run_name("e2e-bad"))


def test_failed_start_rolls_back(images, client):
    name = run_name("e2e-rollback")
    res = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                     "--egress-image", images["egress"], "--upstream", "none",
                     "--upstream-network", "no-such-network-e2e")
    assert res.returncode != 0 and "no-such-network-e2e" in res.stderr
    flt = {"label": [f"io.bottle-egress.bottle={name}"]}
    assert not client.containers.list(all=True, filters=flt)
    assert not client.networks.list(filters=flt)
    assert not client.volumes.list(filters=flt)


def test_start_cleans_leftovers_of_a_crashed_run(images, client):
    name = run_name("e2e-crash")
    first = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                       "--egress-image", images["egress"], "--upstream", "none", "--",
                       "sleep", "infinity")
    assert first.returncode == 0, first.stderr
    client.containers.get(Names(name).agent).remove(force=True)  # the agent "crashed"
    second = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                        "--egress-image", images["egress"], "--upstream", "none", "--",
                        "sleep", "infinity")
    assert second.returncode == 0, second.stderr
    assert "removed leftovers" in second.stderr
    stop = bottle_cli("stop", name)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert bottle_cli("stop", name).stdout.strip() == f"bottle {name}: nothing to stop"


def test_limits_are_enforced_in_agent_and_egress(images, client):
    """18.8: a fork loop in the agent stops at its process limit; 18.7: the egress container
    has memory, process and CPU limits too. Both as the flags set them, in the cgroups."""
    name = run_name("e2e-limits")
    start = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                       "--egress-image", images["egress"], "--upstream", "none",
                       "--memory", "512m", "--pids", "64", "--cpus", "0.5",
                       "--egress-memory", "300m", "--egress-pids", "48", "--egress-cpus", "0.25",
                       "--", "sleep", "infinity", env={"SUDO_UID": None, "SUDO_GID": None})
    try:
        assert start.returncode == 0, start.stderr
        agent = client.containers.get(Names(name).agent)
        egress = client.containers.get(Names(name).egress)
        cgroup = ("for f in memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us "
                  "cpu/cpu.cfs_period_us memory.max pids.max cpu.max; do "
                  "[ -r /sys/fs/cgroup/$f ] && echo $f $(cat /sys/fs/cgroup/$f); done")
        for container, user, memory, pids, cpus in ((agent, "", 512 * MiB, 64, 0.5),
                                                    (egress, "10001", 300 * MiB, 48, 0.25)):
            host = container.attrs["HostConfig"]
            assert (host["Memory"], host["PidsLimit"], host["NanoCpus"]) == (
                memory, pids, int(cpus * 1e9)), container.name
            _, out = run_in(container, cgroup, user=user)
            seen = dict(line.split(" ", 1) for line in out.strip().splitlines())
            if "pids.max" in seen:  # cgroup v2
                assert seen["memory.max"] == str(memory) and seen["pids.max"] == str(pids)
                quota, period = seen["cpu.max"].split()
            else:
                assert seen["memory/memory.limit_in_bytes"] == str(memory), seen
                assert seen["pids/pids.max"] == str(pids), seen
                quota, period = seen["cpu/cpu.cfs_quota_us"], seen["cpu/cpu.cfs_period_us"]
            assert int(quota) / int(period) == cpus, seen
        # a fork loop: processes until the kernel refuses one
        fork_loop = ("import os, signal, time\n"
                     "children = []\n"
                     "try:\n"
                     "    while len(children) < 10000:\n"
                     "        pid = os.fork()\n"
                     "        if pid == 0:\n"
                     "            time.sleep(60)\n"
                     "            os._exit(0)\n"
                     "        children.append(pid)\n"
                     "except OSError as e:\n"
                     "    print('refused', len(children), e.errno, flush=True)\n"
                     "for pid in children:\n"
                     "    os.kill(pid, signal.SIGKILL)\n"
                     "    os.waitpid(pid, 0)\n")
        res = agent.exec_run(["python3", "-c", fork_loop])
        out = res.output.decode()
        assert out.startswith("refused "), out
        _, forked, errno = out.split()
        assert int(forked) < 64 and errno == "11", out  # EAGAIN, at the pids limit
        # the egress container's memory limit holds: an allocation past it is killed
        res = egress.exec_run(["/opt/bottle/bin/python", "-c",
                               "b = bytearray(600 * 1024 * 1024); print('allocated')"],
                              user="10001")
        assert res.exit_code != 0 and b"allocated" not in res.output, res.output
        # the agent's default user when root starts it directly, without --workdir: 1000
        _, ids = run_in(agent, "id -u; id -g")
        assert ids.split() == ["1000", "1000"], ids
        # shown by ls and doctor
        rows = {r["name"]: r for r in json.loads(bottle_cli("ls", "--json").stdout)}
        assert rows[name]["limits"] == {
            "agent": {"memory_bytes": 512 * MiB, "pids": 64, "cpus": 0.5},
            "egress": {"memory_bytes": 300 * MiB, "pids": 48, "cpus": 0.25}}, rows[name]
        doctor = bottle_cli("doctor", name, "--url", "https://allowed.test/", "--json")
        checks = {c["name"]: c for c in json.loads(doctor.stdout)["isolation"]}
        assert checks["agent limits"] == {"name": "agent limits", "status": "ok",
                                          "detail": "memory 512 MiB, 64 pids, 0.5 CPUs"}
        assert checks["egress limits"]["detail"] == "memory 300 MiB, 48 pids, 0.25 CPUs"
    finally:
        bottle_cli("stop", name)


def _proxy_status(pid: int) -> dict[str, int]:
    """VmHWM/VmRSS of the egress container's proxy (its init process), in KiB, read on the host."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def test_parallel_large_downloads_stay_within_the_egress_memory_limit(
        images, client, world: OutsideWorld, pki: TestPKI, tmp_path: Path):
    """18.7 with a real engine: 20 agents' downloads of 30 MiB at once through an egress container
    limited to 512 MiB. Buffered whole they took the proxy to 1.28 GB (it would be killed here);
    streamed, every download completes intact and the proxy's peak stays far below the limit."""
    import hashlib

    n, size = 20, 30 * MiB
    expected = hashlib.sha256(bytes(range(256)) * 4096 * (size // MiB)).hexdigest()
    name = run_name("e2e-downloads")
    policy = tmp_path / "policy.yaml"
    # no upstream proxy: the egress dials the origin itself, on the test network's address
    policy.write_text(POLICY.split("credentials:")[0]
                      + f"  allow_private: [{world.origin_ip}]\n" + POLICY[POLICY.index("dns:"):])
    start = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                       "--egress-image", images["egress"], "--policy", str(policy),
                       "--upstream", "none", "--upstream-network", world.network,
                       "--upstream-ca", str(pki.ca_path), "--egress-memory", "512m", "--",
                       "sleep", "infinity")
    try:
        assert start.returncode == 0, start.stderr
        agent = client.containers.get(Names(name).agent)
        egress = client.containers.get(Names(name).egress)
        assert egress.attrs["HostConfig"]["Memory"] == 512 * MiB
        pid = egress.attrs["State"]["Pid"]
        assert curl(agent, "https://allowed.test/hello")[1].startswith("hello from origin")
        idle = _proxy_status(pid)["VmRSS"]
        # each download hashed as it arrives: nothing of it is kept in the agent either
        code, out = run_in(agent, (
            f"seq {n} | xargs -P {n} -I{{}} sh -c "
            f"'curl -sSf https://allowed.test/bytes/{size} | sha256sum'"))
        sums = [line.split()[0] for line in out.splitlines() if line.strip()]
        # curl's own error (-S) and the egress container's last log lines say why one failed
        assert code == 0 and sums == [expected] * n, (
            out[-2000:], egress.logs(tail=40).decode(errors="replace"))
        egress.reload()
        assert egress.status == "running" and not egress.attrs["State"]["OOMKilled"]
        peak = _proxy_status(pid)["VmHWM"]
        # the measured growth is tens of MiB; whole buffering would be 20 x 30 MiB at least
        assert peak - idle < 200 * 1024, (idle, peak)
        print(f"egress proxy RSS idle {idle // 1024} MiB, peak {peak // 1024} MiB "
              f"for {n} x {size // MiB} MiB downloads")
    finally:
        bottle_cli("stop", name)


def test_record_flows_then_replay_them(images, client, world: OutsideWorld, pki: TestPKI,
                                      tmp_path: Path):
    name = run_name("e2e-record")
    flows = tmp_path / "flows.mitm"
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.split("credentials:")[0])
    start = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                       "--egress-image", images["egress"], "--policy", str(policy),
                       "--upstream", "none", "--upstream-network", world.network,
                       "--upstream-ca", str(pki.ca_path), "--record", str(flows), "--",
                       "sleep", "infinity")
    assert start.returncode == 0, start.stderr
    agent = client.containers.get(Names(name).agent)
    assert curl(agent, "https://allowed.test/recorded")[1] != ""
    curl(agent, "https://denied.test/never")
    stop = bottle_cli("stop", name)
    assert stop.returncode == 0 and f"flows recorded to {flows}" in stop.stdout, stop.stdout
    replay = bottle_cli("replay", str(flows), "--policy", str(policy), "--format", "json")
    verdicts = [json.loads(line) for line in replay.stdout.splitlines() if line.strip()]
    assert any(v["url"].startswith("https://allowed.test/recorded") and v["verdict"] == "allow"
               for v in verdicts), replay.stdout + replay.stderr


def follow_audit_until(name: str, env: dict[str, str | None], first: str,
                       then: Callable[[], object], last: str, timeout: float = 60) -> str:
    """`bottle logs NAME --audit --follow --json`: wait for a line containing `first` (the
    existing log has been printed), run `then`, and wait for a line containing `last` (it can
    only come from following). Returns everything printed."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO)}
    full_env.update({k: v for k, v in env.items() if v is not None})
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "logs", name, "--audit",
                             "--follow", "--json"], cwd=REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen, deadline = "", time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)  # raw reads: no buffer hides ready lines
            for wanted, action in ((first, then), (last, None)):
                while wanted not in seen:
                    assert time.monotonic() < deadline, f"{wanted} never followed: {seen}"
                    if sel.select(timeout=1):
                        out = os.read(fd, 65536)
                        assert out, f"follow ended early: {seen}"
                        seen += out.decode(errors="replace")
                if action is not None:
                    action()
    finally:
        proc.kill()
        proc.wait()
    return seen


def test_audit_log_outlives_the_bottle_on_the_host(images, client, world: OutsideWorld,
                                                   pki: TestPKI, tmp_path: Path):
    """Issue 14 trap 1: the audit log was on the egress container's disk, gone at `bottle stop`.
    Now it is written to a host directory (rotated there), handed to the user who ran sudo at
    stop, and `bottle logs --audit` / `bottle ls --all` still find it."""
    name = run_name("e2e-keep")
    state = tmp_path / "state"
    env: dict[str, str | None] = {"XDG_STATE_HOME": str(state), "SUDO_UID": str(SUDO_UID),
                                  "SUDO_GID": str(SUDO_UID)}
    policy, flows = tmp_path / "policy.yaml", tmp_path / "flows.mitm"
    # tiny files, many backups: every event rotates, and no event may be lost at stop
    policy.write_text(POLICY.split("credentials:")[0] + "audit: {max_bytes: 300, backups: 50}\n")
    start = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                       "--egress-image", images["egress"], "--policy", str(policy),
                       "--upstream", world.squid_url, "--upstream-network", world.network,
                       "--upstream-ca", str(pki.ca_path), "--record", str(flows), "--", "sleep",
                       "infinity", env=env)
    audit_dir = state / "bottle-egress" / "audit"
    log = audit_dir / f"{name}.jsonl"
    try:
        assert start.returncode == 0, start.stderr
        agent = client.containers.get(Names(name).agent)
        code, out = curl(agent, "https://allowed.test/kept")
        assert code == 0 and '"path": "/kept"' in out, out  # the origin's echo
        assert "403" in curl(agent, "-o", "/dev/null", "-w", "%{http_code}",
                             "https://denied.test/never")[1]
        _, out = curl(agent, "-i", "-X", "POST", "--data", f"token={DLP_SECRET}",
                      "https://allowed.test/kept-upload")
        assert " 403" in out and "dlp/github-token" in out, out
        paths = [r["path"] for r in world.origin_requests()]
        assert "/kept" in paths and "/kept-upload" not in paths
        # the running bottle: --since/--tail select, --follow prints what comes later
        running = bottle_cli("logs", name, "--audit", "--json", "--since", "10m", "--tail", "2",
                             env=env)
        assert len(running.stdout.splitlines()) == 2, running.stdout + running.stderr
        assert "/kept" in follow_audit_until(name, env, "/kept", lambda: curl(
            agent, "https://allowed.test/followed"), "/followed")
        # while it runs: the live directory is the egress user's alone, and rotation works in it
        live = audit_dir / f"{name}.live"
        st = live.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (10001, 0o700)
        assert (live / "audit.jsonl.1").is_file()
        assert (audit_dir.stat().st_uid, audit_dir.stat().st_mode & 0o777) == (SUDO_UID, 0o700)
    finally:
        stop = bottle_cli("stop", name, env=env)
    assert stop.returncode == 0, stop.stderr
    assert f"audit log kept at {log}" in stop.stdout, stop.stdout
    assert not client.containers.list(all=True,
                                      filters={"label": [f"io.bottle-egress.bottle={name}"]})
    st = log.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (SUDO_UID, SUDO_UID, 0o600)
    assert not (audit_dir / f"{name}.live").exists()
    raw = log.read_text()
    assert DLP_SECRET not in raw and DLP_SECRET.encode().hex() not in raw
    # the recording went through the same directory and is the sudo user's too
    assert f"flows recorded to {flows}" in stop.stdout, stop.stdout
    st = flows.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (SUDO_UID, SUDO_UID, 0o600)
    assert DLP_SECRET.encode() not in flows.read_bytes()

    as_json = bottle_cli("logs", name, "--audit", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    # every event of the run, in order, from the first rotated file to the proxy's stop
    assert events[0]["event"] == "start" and events[-1]["event"] == "stop", events
    assert any(e.get("host") == "allowed.test" and e.get("verdict") == "allow" for e in events)
    assert any(e.get("host") == "denied.test" and e.get("verdict") == "block" for e in events)
    assert "github-token" in as_json.stdout
    pretty = bottle_cli("logs", name, "--audit", env=env).stdout
    assert "denied.test" in pretty and "block" in pretty and "allow" in pretty, pretty
    assert "dlp/github-token" in pretty and "403" in pretty, pretty
    tail = bottle_cli("logs", name, "--audit", "--json", "--tail", "1", env=env).stdout
    assert [json.loads(line)["event"] for line in tail.splitlines()] == ["stop"]
    # nothing more can come: --follow on a stopped bottle prints its log and returns
    followed = bottle_cli("logs", name, "--audit", "--json", "--tail", "1", "--follow", env=env,
                          timeout=30)
    assert followed.returncode == 0 and followed.stdout == tail
    recent = bottle_cli("logs", name, "--audit", "--json", "--since", "1h", env=env).stdout
    assert len(recent.splitlines()) == len(events)
    future = bottle_cli("logs", name, "--audit", "--since", "2999-01-01T00:00:00Z", env=env)
    assert future.returncode == 0 and future.stdout == ""

    ls = bottle_cli("ls", "--all", "--json", env=env)
    rows = {r["name"]: r for r in json.loads(ls.stdout)}
    assert rows[name]["state"] == "stopped" and rows[name]["log"] == str(log)
    assert rows[name]["inspect"] is True and rows[name]["image"] == images["agent"]
    assert name not in {r["name"] for r in json.loads(bottle_cli("ls", "--json", env=env).stdout)}
    assert "stopped" in bottle_cli("ls", "--all", env=env).stdout
    missing = bottle_cli("logs", run_name("e2e-never"), "--audit", env=env)
    assert missing.returncode == 1 and "no bottle named" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_ls_shows_the_policy_digest_of_check_and_audit(images, client, world: OutsideWorld,
                                                       pki: TestPKI, tmp_path: Path):
    """Issue 14: one policy digest everywhere, `bottle ls` included. The launcher labels the
    egress container with the digest of the policy bytes it hands the egress; `bottle ls`,
    `ls --json` and (after stop) `ls --all` show the digest that `bottle policy check` prints
    and that the egress writes into every audit event."""
    name = run_name("e2e-digest")
    env: dict[str, str | None] = {"XDG_STATE_HOME": str(tmp_path / "state")}
    policy = tmp_path / "policy.yaml"
    policy.write_text("# digest test: comments count\n" + POLICY.split("credentials:")[0])
    digest = hashlib.sha256(policy.read_bytes()).hexdigest()[:16]
    check = bottle_cli("policy", "check", str(policy))
    assert f"digest {digest}" in check.stdout, check.stdout + check.stderr
    start = bottle_cli("start", "--inspect", "--name", name, "--image", images["agent"],
                       "--egress-image", images["egress"], "--policy", str(policy),
                       "--upstream", world.squid_url, "--upstream-network", world.network,
                       "--upstream-ca", str(pki.ca_path), "--", "sleep", "infinity", env=env)
    try:
        assert start.returncode == 0, start.stderr
        agent = client.containers.get(Names(name).agent)
        assert curl(agent, "https://allowed.test/digest")[0] == 0
        rows = {r["name"]: r for r in json.loads(bottle_cli("ls", "--json", env=env).stdout)}
        assert rows[name]["policy"] == digest, rows[name]
        table = bottle_cli("ls", env=env).stdout.splitlines()
        assert "POLICY" in table[0].split()
        row = next(line for line in table if line.startswith(name + " "))
        assert row.split()[table[0].split().index("POLICY")] == digest, table
        events = [json.loads(line) for line in bottle_cli(
            "logs", name, "--audit", "--json", env=env).stdout.splitlines() if line.strip()]
        assert {e["policy"] for e in events if "policy" in e} == {digest}, events
    finally:
        stop = bottle_cli("stop", name, env=env)
    assert stop.returncode == 0, stop.stderr
    rows = {r["name"]: r for r in json.loads(bottle_cli("ls", "--all", "--json", env=env).stdout)}
    assert rows[name]["state"] == "stopped" and rows[name]["policy"] == digest, rows[name]


def test_without_inspect_and_upstream_the_bottle_is_sealed(images, client, world: OutsideWorld):
    name = run_name("e2e-sealed")
    start = bottle_cli("start", "--name", name, "--upstream", "none", "--image",
                       images["agent"], "--", "sleep", "infinity")
    assert start.returncode == 0, start.stderr
    try:
        agent = client.containers.get(Names(name).agent)
        roles = {c.labels["io.bottle-egress.role"] for c in client.containers.list(
            filters={"label": [f"io.bottle-egress.bottle={name}"]})}
        assert roles == {"agent"}
        env = dict(e.split("=", 1) for e in agent.attrs["Config"]["Env"])
        assert "HTTPS_PROXY" not in env and "SSL_CERT_FILE" not in env
        code, out = curl(agent, "--max-time", "3", f"https://{world.origin_ip}/")
        assert code != 0, out
        # isolation is checked for every bottle; trust probes need the bottle CA
        doctor = bottle_cli("doctor", name, "--json")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        report = json.loads(doctor.stdout)
        assert report["trust"] == [] and "without --inspect" in report["note"]
        checks = {c["name"]: c["status"] for c in report["isolation"]}
        assert checks["seccomp"] == checks["agent user"] == checks["agent limits"] == "ok"
    finally:
        bottle_cli("stop", name)


def test_stop_removes_every_container_network_and_ca_file(bottle, client):
    names = bottle["names"]
    res = bottle_cli("stop", NAME)
    assert res.returncode == 0, res.stderr
    flt = {"label": [f"io.bottle-egress.bottle={NAME}"]}
    assert not client.containers.list(all=True, filters=flt)
    assert not client.networks.list(filters=flt)
    assert not client.volumes.list(filters=flt)
    assert not [v for v in client.volumes.list() if v.name == names.ca_volume]
    for cname in (names.agent, names.egress):
        assert not client.containers.list(all=True, filters={"name": f"^{cname}$"})
    assert not host_dir(NAME).exists()
