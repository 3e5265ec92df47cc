"""`bottle start`: create one bottle's resources in order, overlapping what is independent,
and remove everything created so far when a step fails.

The critical path is the egress container's boot (Python, mitmproxy, the policy's scanners,
the CA: about a second). Around it: the host only parses and validates the policy (compiling
its scanners is the egress's job, redone on the host only to explain a failed start); the
networks are made in parallel; the egress container starts on the egress-side network and
joins the internal one while it boots (it listens on every interface); and when the agent's
environment does not depend on what the egress prints (no credential placeholders), the
agent container is created meanwhile too.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

from egress.policy.compiled import default_policy_path, policy_digest
from launcher import auditlog, seccomp
from launcher.agent_user import account_archive, choose_agent_user, workdir_problem
from launcher.bottle import (
    AGENT_CA_DIR,
    AUDIT_LOG,
    CONFIG_DIR,
    DNS_PORT,
    EGRESS_HOSTNAME,
    EGRESS_UID,
    EXPORT_DIR,
    METRICS_PORT,
    PIPELOCK_PORT,
    PROXY_PORT,
    READY_TIMEOUT,
    RECORD_FILE,
    STATE_DIR,
    SYSTEM_STORES,
    BottleInfo,
    Names,
    Rollback,
    SecretInputs,
    StartOptions,
    _tar_one,
    agent_environment,
    check_name,
    compile_checked,
    container_ip,
    engine_is_local,
    exec_checked,
    host_dir,
    load_checked,
    parse_exports,
    probe_host,
    read_file,
    remove_bottle,
    resolve_upstream,
    secret_inputs,
    write_resolv_conf,
)
from launcher.defaults import BUILD_COMMAND
from launcher.egress_policy import EgressFiles, egress_files, secrets_archive
from launcher.engine import (
    LABEL_BOTTLE,
    LABEL_POLICY,
    LABEL_ROLE,
    bottle_filter,
    image_exists,
    labels,
)
from launcher.errors import LauncherError
from launcher.workdir import WORKSPACE, create_helper, seal_workdir


def egress_command(opts: StartOptions, upstream: str, policy_in_container: str | None,
                   upstream_ca_in_container: str | None) -> list[str]:
    cmd = ["egress", "run", "--listen", f"0.0.0.0:{PROXY_PORT}", "--bottle-id", opts.name,
           "--state-dir", STATE_DIR, "--audit-log", AUDIT_LOG]
    if opts.record is not None:
        cmd += ["--record", RECORD_FILE]
    if policy_in_container:
        cmd += ["--policy", policy_in_container]
    if upstream_ca_in_container:
        cmd += ["--upstream-ca", upstream_ca_in_container]
    if upstream == "pipelock":
        cmd += ["--upstream", f"http://{Names(opts.name).pipelock}:{PIPELOCK_PORT}"]
    elif upstream != "none":
        cmd += ["--upstream", upstream]
    # The DNS guard, the agent's only resolver, forwards what it allows to the egress
    # container's own resolver (Docker's embedded DNS on the egress-side network) by default.
    cmd += ["--dns-listen", f"0.0.0.0:{DNS_PORT}",
            "--dns-upstream", opts.dns_upstream or "127.0.0.11:53"]
    if opts.metrics_port is not None:
        cmd += ["--metrics-listen", f"{EGRESS_HOSTNAME}:{METRICS_PORT}"]
    return cmd


def egress_metrics_kwargs(opts: StartOptions) -> dict[str, Any]:
    """Docker arguments that publish the egress container's metrics listener on the host's
    loopback only (never on the agent's network: see `METRICS_PORT`)."""
    if opts.metrics_port is None:
        return {}
    return {"hostname": EGRESS_HOSTNAME,
            "ports": {f"{METRICS_PORT}/tcp": ("127.0.0.1", opts.metrics_port)}}


def check_metrics_port(opts: StartOptions) -> None:
    if opts.metrics_port is None:
        return
    if not opts.inspect:
        raise LauncherError("--metrics-port needs --inspect (the egress proxy serves the metrics)",
                            exit_code=2)
    if not 1 <= opts.metrics_port <= 65535:
        raise LauncherError(f"--metrics-port {opts.metrics_port}: expected a port, 1-65535",
                            exit_code=2)


def wait_for_exports(container: Any, timeout: float = READY_TIMEOUT) -> dict[str, str]:
    """Wait until the egress printed its client environment (the BOTTLE_ID line closes it)."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        env = parse_exports(container.logs(stdout=True, stderr=False).decode(errors="replace"))
        if "BOTTLE_ID" in env:
            return env
        container.reload()
        if container.status in ("exited", "dead"):
            err = container.logs(stdout=False, stderr=True).decode(errors="replace")
            raise LauncherError("the egress container stopped before it was ready:\n"
                                + "\n".join(err.strip().splitlines()[-10:]))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)
    raise LauncherError(f"the egress container was not ready within {timeout:.0f} s",
                        f"see `docker logs {container.name}`")


@dataclass
class AgentSpec:
    """Everything the agent container is created with, but its environment."""

    mounts: list[Any]
    dns: list[str]
    labels: dict[str, str]


@dataclass
class Created:
    """An agent container created before start, with its image's system trust store and,
    with a workdir, the helper that remounts it once the agent runs."""

    container: Any
    env: dict[str, str]
    store: tuple[str, bytes] | None
    helper: Any = None

    def remove(self) -> None:
        for c in (self.helper, self.container):
            if c is not None:
                c.remove(force=True)


class Launch:
    def __init__(self, client: Any, opts: StartOptions, step: Callable[[str], None]) -> None:
        self.client = client
        self.opts = opts
        self.step = step
        self.names = Names(check_name(opts.name))
        self.rb = Rollback()
        self.pool = ThreadPoolExecutor(max_workers=3)

    # -- checks, before anything is created ------------------------------------------------

    def check(self) -> None:
        opts = self.opts
        if opts.policy is not None and not opts.inspect:
            raise LauncherError("--policy needs --inspect (the policy is the egress proxy's)",
                                exit_code=2)
        if opts.record is not None and not opts.inspect:
            raise LauncherError("--record needs --inspect (the egress proxy records)", exit_code=2)
        check_metrics_port(opts)
        self.policy_path = opts.policy or default_policy_path()
        self.policy = load_checked(self.policy_path) if opts.inspect else None
        self.secrets = secret_inputs(self.policy) if self.policy is not None else SecretInputs()
        if opts.upstream_ca is not None and not opts.upstream_ca.is_file():
            raise LauncherError(f"--upstream-ca {opts.upstream_ca}: no such file", exit_code=2)
        if opts.workdir is not None and not opts.workdir.is_dir():
            raise LauncherError(f"--workdir {opts.workdir}: no such directory", exit_code=2)
        self.agent_user = choose_agent_user(opts.user, opts.workdir)
        self.upstream = resolve_upstream(opts, self.client)
        self._require_image(opts.image, "agent")
        if opts.inspect or opts.workdir is not None:  # the workdir's remount runs from it too
            self._require_image(opts.egress_image, "egress")
        running = [c for c in self.client.containers.list(filters=bottle_filter(opts.name))
                   if c.labels.get(LABEL_ROLE) == "agent"]
        if running:
            raise LauncherError(f"bottle {opts.name} is already running",
                                f"`bottle stop {opts.name}` first, or pick another --name")
        leftovers = remove_bottle(self.client, opts.name)
        if not leftovers.empty():
            self.step(f"removed leftovers of an earlier run of {opts.name}: "
                      f"{', '.join(leftovers.containers + leftovers.networks + leftovers.volumes)}")
        self._check_free()
        user = self.agent_user
        self.step(f"the agent runs as uid {user.uid}, gid {user.gid} ({user.reason})")
        if opts.workdir is not None:
            problem = workdir_problem(user, opts.workdir)
            if problem:
                self.step(f"warning: {problem}")
        if opts.cap_add:
            self.step("warning: --cap-add reaches only the bounding set of the agent's "
                      "unprivileged user; no process in the bottle gains those capabilities")

    def _require_image(self, ref: str, what: str) -> None:
        if not image_exists(self.client, ref):
            raise LauncherError(f"the {what} image {ref} is not present",
                                f"build it: `{BUILD_COMMAND}` (offline: `sudo {BUILD_COMMAND} "
                                "--offline`), or pass another image")

    def _check_free(self) -> None:
        """Refuse names that belong to something that is not one of our bottles."""
        names, bottle = self.names, self.opts.name
        for cname in (names.agent, names.egress, names.pipelock):
            try:
                c = self.client.containers.get(cname)
            except docker.errors.NotFound:
                continue
            if c.labels.get(LABEL_BOTTLE) != bottle:
                raise LauncherError(f"a container named {cname} exists and is not part of "
                                    f"bottle {bottle}",
                                    f"pick another --name, or remove it: docker rm -f {cname}")
        for nname in (names.internal_net, names.egress_net):
            for n in self.client.networks.list(names=[nname]):
                if n.name == nname and (n.attrs.get("Labels") or {}).get(LABEL_BOTTLE) != bottle:
                    raise LauncherError(f"a network named {nname} exists and is not part of "
                                        f"bottle {bottle}",
                                        f"pick another --name, or remove it: docker network rm "
                                        f"{nname}")

    # -- resources ---------------------------------------------------------------------------

    def _network(self, name: str, role: str, **kwargs: Any) -> Future[Any]:
        job = self.pool.submit(self.client.networks.create, name, driver="bridge",
                               labels=labels(self.opts.name, role), **kwargs)
        job.add_done_callback(
            lambda f: self.rb.add(f.result().remove) if f.exception() is None else None)
        return job

    def _pipelock(self, internal: Future[Any]) -> Any:
        opts = self.opts
        c = self.client.containers.create(
            opts.pipelock_image, name=self.names.pipelock, network=self.names.egress_net,
            labels=labels(opts.name, "pipelock"), detach=True,
            security_opt=["no-new-privileges"], cap_drop=["ALL"])
        self.rb.add(lambda: c.remove(force=True))
        if not opts.inspect:
            internal.result().connect(c)
        c.start()
        self.step(f"pipelock {opts.pipelock_image} started")
        return c

    def _launch_egress(self, internal: Future[Any]) -> Any:
        """Create and start the egress container, joined to the internal network."""
        opts, names = self.opts, self.names
        ca_volume = self.client.volumes.create(names.ca_volume, labels=labels(opts.name, "ca"))
        self.rb.add(lambda: ca_volume.remove(force=True))
        policy_in = f"{CONFIG_DIR}/policy.yaml" if opts.policy else None
        files = (egress_files(self.policy_path.read_text(encoding="utf-8"), self.secrets.files)
                 if opts.policy else EgressFiles(b"", {}))
        upstream_ca_in = f"{CONFIG_DIR}/upstream-ca.pem" if opts.upstream_ca else None
        egress_labels = labels(opts.name, "egress")
        # the bytes the egress reads: the copy made below, or the image's built-in default
        # (the same file as this checkout's)
        egress_labels[LABEL_POLICY] = policy_digest(
            files.policy if opts.policy else self.policy_path.read_bytes())
        if opts.record is not None:
            egress_labels["io.bottle-egress.record"] = str(opts.record.resolve())
        mounts = [docker.types.Mount(EXPORT_DIR, names.ca_volume, type="volume")]
        mounts += self._audit_mount(egress_labels)
        c = self.client.containers.create(
            opts.egress_image,
            egress_command(opts, self.upstream, policy_in, upstream_ca_in),
            name=names.egress, network=names.egress_net, detach=True,
            labels=egress_labels, environment=dict(self.secrets.env),
            user=f"{EGRESS_UID}:{EGRESS_UID}",
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            **opts.egress_limits.docker_kwargs(),
            **egress_metrics_kwargs(opts),
            # The DNS guard binds port 53 without any capability.
            sysctls={"net.ipv4.ip_unprivileged_port_start": str(DNS_PORT)},
            # The CA key lives only here: memory-backed, private to the egress user.
            tmpfs={"/run/bottle": f"uid={EGRESS_UID},gid={EGRESS_UID},mode=0700,size=64m",
                   "/tmp": "size=64m"},
            mounts=mounts)
        self.rb.add(lambda: c.remove(force=True))
        if opts.upstream_network:
            try:
                self.client.networks.get(opts.upstream_network).connect(c)
            except docker.errors.NotFound:
                raise LauncherError(f"--upstream-network {opts.upstream_network}: no such network",
                                    "docker network ls") from None
        if policy_in is not None:  # its `file:` sources name the copies made below
            c.put_archive(CONFIG_DIR, _tar_one(Path(policy_in).name, files.policy, 0o644,
                                               int(EGRESS_UID)))
        if opts.upstream_ca is not None and upstream_ca_in is not None:
            c.put_archive(CONFIG_DIR, _tar_one(Path(upstream_ca_in).name,
                                               opts.upstream_ca.read_bytes(), 0o644,
                                               int(EGRESS_UID)))
        if files.secrets:
            c.put_archive("/", secrets_archive(files.secrets, int(EGRESS_UID)))
        c.start()
        internal.result().connect(c)  # while it boots: it listens on every interface
        return c

    def _audit_mount(self, egress_labels: dict[str, str]) -> list[Any]:
        """The host directory the egress container writes its audit log (and recording) to,
        so it outlives the bottle (`launcher.auditlog`); `bottle stop` hands the log to the
        invoking user. Without root or a local engine, `bottle stop` copies it out instead."""
        log, owner = auditlog.log_path(self.opts.name), auditlog.invoking_user()
        egress_labels[auditlog.LABEL_LOG] = str(log)
        egress_labels[auditlog.LABEL_OWNER] = f"{owner[0]}:{owner[1]}"
        if os.geteuid() != 0 or not engine_is_local(self.client):
            return []
        live = auditlog.prepare_live(log, owner, int(EGRESS_UID))
        self.rb.add(lambda: shutil.rmtree(live, ignore_errors=True))
        egress_labels[auditlog.LABEL_LIVE] = str(live)
        return [docker.types.Mount(str(Path(AUDIT_LOG).parent), str(live), type="bind")]

    def _egress_ready(self, egress: Any) -> tuple[dict[str, str], str]:
        """Its printed environment, once ready; the public CA files go to the CA volume."""
        exports = wait_for_exports(egress)
        # Only the public files leave the tmpfs: into the CA volume, for the agent to mount.
        bundle, cert = exports["SSL_CERT_FILE"], exports["NODE_EXTRA_CA_CERTS"]
        ca_pem = exec_checked(egress, ["sh", "-c", 'cp "$0" "$1" "$2" && cat "$1"', bundle, cert,
                                       EXPORT_DIR], user=EGRESS_UID).decode()
        return exports, ca_pem

    def _agent_spec(self, egress_ip: str | None, pipelock_ip: str | None) -> AgentSpec:
        opts, names = self.opts, self.names
        mounts: list[Any] = []
        if egress_ip is not None:
            mounts.append(docker.types.Mount(AGENT_CA_DIR, names.ca_volume, type="volume",
                                             read_only=True))
            # The agent's one resolver is the DNS guard, by two independent means: Docker's
            # embedded DNS (127.0.0.11) forwards only to `dns` (and, on engines fixed for
            # CVE-2024-29018, never through the host); and where the engine shares this disk,
            # a read-only resolv.conf names the guard directly, so resolution does not depend
            # on how a given engine version forwards from internal networks.
            dns = [egress_ip]
            if engine_is_local(self.client):
                resolv = write_resolv_conf(opts.name, egress_ip)
                self.rb.add(lambda: shutil.rmtree(host_dir(opts.name), ignore_errors=True))
                mounts.append(docker.types.Mount("/etc/resolv.conf", str(resolv), type="bind",
                                                 read_only=True))
        elif pipelock_ip is not None:
            dns = [pipelock_ip]  # pipelock serves no DNS: lookups fail, never leave via the host
        else:
            dns = ["192.0.2.1"]  # TEST-NET-1, unroutable from an internal network
        if opts.workdir is not None:
            mounts.append(docker.types.Mount(WORKSPACE, str(opts.workdir.resolve()), type="bind"))
        agent_labels = labels(opts.name, "agent")
        agent_labels.update({"io.bottle-egress.image": opts.image,
                             "io.bottle-egress.inspect": "1" if opts.inspect else "0",
                             "io.bottle-egress.upstream": self.upstream})
        probe = probe_host(self.policy) if self.policy is not None else None
        if probe:
            agent_labels["io.bottle-egress.probe-host"] = probe
        return AgentSpec(mounts, dns, agent_labels)

    def _create_agent(self, spec: AgentSpec, env: dict[str, str]) -> Created:
        opts = self.opts
        c = self.client.containers.create(
            opts.image, list(opts.command) or None, name=self.names.agent,
            network=self.names.internal_net, detach=True, environment=env, labels=spec.labels,
            mounts=spec.mounts, dns=spec.dns, cap_drop=["ALL"], cap_add=list(opts.cap_add) or None,
            user=self.agent_user.spec, security_opt=["no-new-privileges", seccomp.security_opt()],
            hostname=opts.name, working_dir=WORKSPACE if opts.workdir is not None else None,
            **opts.limits.docker_kwargs())
        self.rb.add(lambda: c.remove(force=True))
        account = account_archive(self.agent_user, read_file(c, "/etc/passwd"),
                                  read_file(c, "/etc/group"))
        if account is not None:
            c.put_archive("/", account)
        helper = None
        if opts.workdir is not None:
            helper = create_helper(self.client, c, opts.egress_image,
                                   labels(opts.name, "workdir-helper"))
            self.rb.add(lambda: helper.remove(force=True))
        store = None
        if opts.inspect:
            for path in SYSTEM_STORES:
                data = read_file(c, path)
                if data is not None:
                    store = (path, data)
                    break
        return Created(c, env, store, helper)

    def _install_trust(self, agent: Created, ca_pem: str) -> None:
        """Append the bottle CA to the image's system store, before the agent starts."""
        if agent.store is None:
            return
        path, data = agent.store
        data = (data if data.endswith(b"\n") else data + b"\n") + ca_pem.encode()
        directory, _, filename = path.rpartition("/")
        agent.container.put_archive(directory, _tar_one(filename, data))
        self.step(f"bottle CA added to the agent's system store {path}")

    # -- the whole start ---------------------------------------------------------------------

    def run(self) -> BottleInfo:
        opts, names = self.opts, self.names
        # internal: no route out. inhibit_ipv4: the host takes no address on this bridge, so
        # the agent cannot reach services listening on the host's wildcard address either
        # (a plain internal network lets it, through the gateway address).
        internal = self._network(names.internal_net, "internal", internal=True,
                                 options={"com.docker.network.bridge.inhibit_ipv4": "true"})
        if opts.inspect or self.upstream == "pipelock":
            self._network(names.egress_net, "egress-side").result()
        pipelock = self._pipelock(internal) if self.upstream == "pipelock" else None

        egress = egress_ip = None
        early: Future[Created] | None = None
        if opts.inspect:
            egress = self._launch_egress(internal)
            egress_ip = container_ip(self.client, names.egress, names.internal_net)
            proxy_url = f"http://{egress_ip}:{PROXY_PORT}"
            spec = self._agent_spec(egress_ip, None)
            assert self.policy is not None
            if not self.policy.credentials:
                # Nothing the egress prints changes the agent's environment: create it now.
                guess = agent_environment({"BOTTLE_ID": opts.name}, proxy_url, opts.env)
                early = self.pool.submit(self._create_agent, spec, guess)
            try:
                exports, ca_pem = self._egress_ready(egress)
            except LauncherError:
                # The host validated the file; compiling its scanners is the egress's job. If
                # that is what failed, say so with the host's paths and line numbers.
                compile_checked(self.policy, self.policy_path)
                raise
            self.step(f"egress proxy ready at {egress_ip}:{PROXY_PORT}")
            env = agent_environment(exports, proxy_url, opts.env)
        else:
            pipelock_ip = (container_ip(self.client, names.pipelock, names.internal_net)
                           if pipelock is not None else None)
            spec = self._agent_spec(None, pipelock_ip)
            env = {**opts.env, "BOTTLE_ID": opts.name}
            if pipelock_ip is not None:
                url = f"http://{pipelock_ip}:{PIPELOCK_PORT}"
                env.update({"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url,
                            "http_proxy": url})
        internal.result()

        agent = early.result() if early is not None else None
        if agent is not None and agent.env != env:  # the egress printed more than expected
            agent.remove()
            agent = None
        if agent is None:
            agent = self._create_agent(spec, env)
        if opts.inspect:
            self._install_trust(agent, ca_pem)
        agent.container.start()
        self.step(f"agent {names.agent} started from {opts.image}")
        if agent.helper is not None:
            seal_workdir(agent.helper, agent.container)
            self.step(f"{WORKSPACE} remounted nosuid,nodev")
        return BottleInfo(opts.name, names.agent, names.egress if egress else None, egress_ip,
                          self.upstream, env)


def start(client: Any, opts: StartOptions, on_step: Callable[[str], None] | None = None
          ) -> BottleInfo:
    launch = Launch(client, opts, on_step or (lambda _msg: None))
    launch.check()
    try:
        info = launch.run()
    except BaseException as e:
        # Let steps still running in the pool finish (or never start), then undo them all.
        launch.pool.shutdown(wait=True, cancel_futures=True)
        launch.rb.run()
        if isinstance(e, docker.errors.APIError):
            raise LauncherError(f"starting bottle {opts.name} failed: {e.explanation or e}",
                                "nothing was left behind; fix the cause and rerun") from None
        raise
    launch.pool.shutdown(wait=False)
    return info
