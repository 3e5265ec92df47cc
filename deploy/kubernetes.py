"""Kubernetes manifests for a bottle, built as data and dumped as YAML (`bottle k8s render`).

Two layouts (docs/kubernetes.md weighs them):
- `sidecar` (default): one agent pod with `bottle egress run` as a native sidecar (an init
  container with `restartPolicy: Always`, Kubernetes >= 1.29) and, by default, a pod
  firewall (an init container that lets only the egress user's sockets leave the pod);
- `gateway` (`deploy/gateway.py`): one egress Deployment per namespace behind a Service, agent
  pods without a sidecar whose NetworkPolicy lets them reach that gateway and nothing else.

Everything a manifest says about the egress container's operator endpoints (metrics, health,
readiness: issue 16 item 1) comes from the `METRICS_*`, `HEALTH_PATH` and `READY_PATH`
constants below, so the manifests follow that listener by changing them alone.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from egress.envvars import client_environment

Obj = dict[str, Any]

# -- the operator endpoints of `bottle egress run` (one listener) ----------------------------
METRICS_FLAG = "--metrics-listen"
METRICS_PORT = 9090
METRICS_PORT_NAME = "metrics"
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

# -- inside the pods (the egress side mirrors launcher/bottle.py) ----------------------------
PROXY_PORT = 8080
DNS_PORT = 53
EGRESS_UID = 10001
AGENT_UID = 1000
POLICY_DIR = "/etc/bottle/policy"
POLICY_KEY = "policy.yaml"
# The CA's in-memory volume. The state directory sits two levels down: `bottle egress run`
# creates it and its parent 0700 for its own user (the volume's root belongs to root).
STATE_VOLUME_PATH = "/run/bottle"
STATE_DIR = "/run/bottle/egress/state"
EXPORT_DIR = "/export"  # egress side of the public trust files' volume
AGENT_CA_DIR = "/etc/bottle-ca"  # agent side of it, read-only
AUDIT_DIR = "/var/lib/bottle"
AUDIT_LOG = f"{AUDIT_DIR}/audit.jsonl"
AGENT_HOME = "/home/bottle"
WORKSPACE = "/workspace"
BUNDLE_FILE = "ca-bundle.pem"
CERT_FILE = "bottle-ca.pem"

# kubeadm's defaults: the cluster DNS Service's address, and its pods' labels.
DEFAULT_DNS_UPSTREAM = "10.96.0.10:53"
CLUSTER_DNS_NAMESPACE = "kube-system"
CLUSTER_DNS_LABELS = {"k8s-app": "kube-dns"}
DEFAULT_UPSTREAM_SELECTOR = "app.kubernetes.io/name=pipelock"
DEFAULT_AGENT_IMAGE = "bottle-agent:latest"
DEFAULT_EGRESS_IMAGE = "bottle-egress:latest"
DEFAULT_FIREWALL_IMAGE = "bottle-pod-firewall:latest"

# Resources. The egress figures are measured (README, "Isolation and limits";
# `benchmarks/egress_memory.py`): 78-80 MB resident idle, 94-96 MB under 400 small HTTPS
# requests 8 at a time (0.11 cores on average), 130 MB while 20 uploads of 30 MiB are scanned,
# +11-16 MiB for 20 parallel 30 MB downloads since large responses stream. The request covers
# the scanning peak; the limits are the launcher's (2 GiB, one core: the proxy runs its Python
# on one thread). The agent's are the launcher's defaults (4 GiB, no CPU cap).
EGRESS_RESOURCES: Obj = {"requests": {"cpu": "100m", "memory": "160Mi"},
                         "limits": {"cpu": "1", "memory": "2Gi"}}
AGENT_RESOURCES: Obj = {"requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"memory": "4Gi"}}
FIREWALL_RESOURCES: Obj = {"requests": {"cpu": "10m", "memory": "16Mi"},
                           "limits": {"cpu": "100m", "memory": "64Mi"}}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}"
                        r"[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")


class DeployError(Exception):
    """A render option that cannot make valid manifests (shown without a traceback)."""


@dataclass(frozen=True)
class Upstream:
    """The next-hop proxy, and how a NetworkPolicy finds its pods."""

    url: str
    port: int
    host: str
    selector: dict[str, str]


@dataclass(frozen=True)
class RenderOptions:
    """What `bottle k8s render` was asked for, checked (`check()`)."""

    policy_path: str
    name: str = "agent"
    namespace: str = "default"
    variant: Literal["sidecar", "gateway"] = "sidecar"
    upstream: str | None = None
    upstream_selector: str = DEFAULT_UPSTREAM_SELECTOR
    agent_image: str = DEFAULT_AGENT_IMAGE
    egress_image: str = DEFAULT_EGRESS_IMAGE
    firewall_image: str = DEFAULT_FIREWALL_IMAGE
    pod_firewall: bool = True
    dns_upstream: str = DEFAULT_DNS_UPSTREAM
    gateway_name: str = "bottle-gateway"
    gateway_ip: str = "10.96.0.53"
    # gateway: also render the Secrets with fresh random tokens (never for checked-in files)
    with_secrets: bool = False

    def check(self) -> None:
        for flag, value in (("--name", self.name), ("--namespace", self.namespace),
                            ("--gateway-name", self.gateway_name)):
            if not _DNS_LABEL.match(value) or len(value) > 50:
                raise DeployError(f"{flag} {value!r}: use lower-case letters, digits and '-', "
                                  "starting and ending with a letter or digit, at most 50 "
                                  "characters (it prefixes Kubernetes object names)")
        for flag, image in (("--agent-image", self.agent_image),
                            ("--egress-image", self.egress_image),
                            ("--firewall-image", self.firewall_image)):
            if not _IMAGE.match(image):
                raise DeployError(f"{flag} {image!r}: not an image reference")
        parse_selector(self.upstream_selector)
        self.upstream_info()
        dns_host_port(self.dns_upstream, "--dns-upstream")
        if self.variant == "gateway":
            dns_host_port(f"{self.gateway_ip}:53", "--gateway-ip")
        elif self.with_secrets:
            raise DeployError("--with-secrets: only the gateway variant has per-agent secrets")

    def upstream_info(self) -> Upstream | None:
        if self.upstream is None:
            return None
        parts = urlsplit(self.upstream)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "http" or not parts.hostname or not port:
            raise DeployError(f"--upstream {self.upstream!r}: expected http://HOST:PORT, e.g. "
                              "http://pipelock.NAMESPACE.svc.cluster.local:8888")
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise DeployError(f"--upstream {self.upstream!r}: give only scheme, host and port")
        return Upstream(f"http://{parts.hostname}:{port}", port, parts.hostname,
                        parse_selector(self.upstream_selector))


def dns_host_port(value: str, flag: str) -> tuple[str, int]:
    """An IPv4 address with an optional port: Kubernetes' `dnsConfig` takes addresses only."""
    host, _, port = value.partition(":")
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts) \
            or (port and (not port.isdigit() or not 0 < int(port) < 65536)):
        raise DeployError(f"{flag} {value!r}: expected an IPv4 address with an optional port "
                          "(the cluster DNS Service's ClusterIP, e.g. 10.96.0.10:53)")
    return host, int(port or 53)


def parse_selector(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(val):
            raise DeployError(f"--upstream-selector {value!r}: expected KEY=VALUE[,KEY=VALUE] "
                              "(the upstream proxy's pod labels)")
        out[key] = val
    return out


# -- building blocks ---------------------------------------------------------------------------

def labels(instance: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "bottle-egress", "app.kubernetes.io/instance": instance,
            "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "bottle"}


def meta(name: str, opts: RenderOptions, obj_labels: dict[str, str],
         annotations: dict[str, str] | None = None) -> Obj:
    out: Obj = {"name": name, "namespace": opts.namespace, "labels": dict(obj_labels)}
    if annotations:
        out["annotations"] = annotations
    return out


def metrics_annotations() -> dict[str, str]:
    """The conventional scrape annotations (Prometheus' kubernetes_sd relabelling examples)."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": METRICS_PATH}


def policy_configmap(opts: RenderOptions, policy_text: str, instance: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(f"{instance}-policy", opts, labels(instance, "policy")),
            "data": {POLICY_KEY: LiteralScalarString(policy_text)}}


def hardened(uid: int, read_only_root: bool = True) -> Obj:
    """A container that runs as `uid`, gains nothing and can change nothing it was not given."""
    return {"runAsUser": uid, "runAsGroup": uid, "runAsNonRoot": True,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": read_only_root,
            "capabilities": {"drop": ["ALL"]}}


def empty_dir(name: str, size: str, memory: bool = False) -> Obj:
    spec: Obj = {"sizeLimit": size}
    if memory:
        spec = {"medium": "Memory", **spec}
    return {"name": name, "emptyDir": spec}


def audit_volume_size(max_bytes: int, backups: int) -> str:
    """The policy's rotation budget (`audit.max_bytes` x (`backups` + 1)) plus 10%, in MiB."""
    mib = -(-max_bytes * (backups + 1) * 11 // 10 // 1024**2)
    return f"{max(mib, 1)}Mi"


def egress_args(opts: RenderOptions, listen_host: str, export: bool,
                upstream: Upstream | None, bottle_id: str) -> list[str]:
    args = ["egress", "run", "--listen", f"{listen_host}:{PROXY_PORT}",
            "--dns-listen", f"{listen_host}:{DNS_PORT}", "--dns-upstream", opts.dns_upstream,
            "--policy", f"{POLICY_DIR}/{POLICY_KEY}", "--bottle-id", bottle_id,
            "--state-dir", STATE_DIR, "--audit-log", AUDIT_LOG]
    if export:
        args += ["--export-dir", EXPORT_DIR]
    if upstream is not None:
        args += ["--upstream", upstream.url]
    return [*args, METRICS_FLAG, f"0.0.0.0:{METRICS_PORT}"]


def egress_probes() -> Obj:
    """Liveness and readiness on the operator listener. Startup: the CA bundle the agent reads
    exists (the proxy writes it once listening), which is what holds the agent back."""
    def http(path: str, period: int) -> Obj:
        return {"httpGet": {"path": path, "port": METRICS_PORT_NAME}, "periodSeconds": period,
                "timeoutSeconds": 2, "failureThreshold": 3}
    return {"startupProbe": {"exec": {"command": ["test", "-s", f"{EXPORT_DIR}/{BUNDLE_FILE}"]},
                             "periodSeconds": 1, "failureThreshold": 120},
            "livenessProbe": http(HEALTH_PATH, 10), "readinessProbe": http(READY_PATH, 5)}


def egress_container(opts: RenderOptions, args: list[str], mounts: list[Obj],
                     extra_ports: Sequence[Obj] = ()) -> Obj:
    return {"name": "egress", "image": opts.egress_image, "imagePullPolicy": "IfNotPresent",
            "args": args,
            "ports": [*extra_ports, {"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT,
                                     "protocol": "TCP"}],
            **egress_probes(),
            "resources": EGRESS_RESOURCES,
            "securityContext": hardened(EGRESS_UID),
            "volumeMounts": mounts}


def egress_mounts() -> list[Obj]:
    return [{"name": "policy", "mountPath": POLICY_DIR, "readOnly": True},
            {"name": "egress-state", "mountPath": STATE_VOLUME_PATH},
            {"name": "bottle-ca", "mountPath": EXPORT_DIR},
            {"name": "egress-tmp", "mountPath": "/tmp"},
            {"name": "audit", "mountPath": AUDIT_DIR}]


def egress_volumes(instance: str, audit_size: str) -> list[Obj]:
    return [{"name": "policy", "configMap": {"name": f"{instance}-policy", "defaultMode": 0o444}},
            # The CA's state: memory only, and mounted in the egress container alone.
            empty_dir("egress-state", "16Mi", memory=True),
            # Only the public files (certificate, bundle of ~0.2 MiB) go here.
            empty_dir("bottle-ca", "4Mi", memory=True),
            empty_dir("egress-tmp", "64Mi"),
            empty_dir("audit", audit_size)]


def agent_container(opts: RenderOptions, env: dict[str, str], mounts: list[Obj],
                    secret_env: Sequence[Obj] = ()) -> Obj:
    env_list: list[Obj] = [*secret_env, *({"name": k, "value": v} for k, v in env.items())]
    return {"name": "agent", "image": opts.agent_image, "imagePullPolicy": "IfNotPresent",
            "workingDir": WORKSPACE, "env": env_list,
            "resources": AGENT_RESOURCES, "securityContext": hardened(AGENT_UID),
            "volumeMounts": [{"name": "bottle-ca", "mountPath": AGENT_CA_DIR, "readOnly": True},
                             {"name": "workspace", "mountPath": WORKSPACE},
                             {"name": "agent-home", "mountPath": AGENT_HOME},
                             {"name": "agent-tmp", "mountPath": "/tmp"}, *mounts]}


def agent_volumes() -> list[Obj]:
    return [empty_dir("workspace", "10Gi"), empty_dir("agent-home", "1Gi"),
            empty_dir("agent-tmp", "1Gi")]


def agent_env(proxy_url: str, bottle_id: str) -> dict[str, str]:
    env = client_environment(proxy_url, Path(AGENT_CA_DIR) / BUNDLE_FILE,
                             Path(AGENT_CA_DIR) / CERT_FILE, bottle_id)
    return {"HOME": AGENT_HOME, **env}


def pod_security(sysctl_port: bool) -> Obj:
    out: Obj = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if sysctl_port:
        # The DNS guard binds port 53 as an unprivileged user (a "safe", pod-scoped sysctl:
        # Pod Security "restricted" allows it; no capability is added).
        out["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": str(DNS_PORT)}]
    return out


# -- output --------------------------------------------------------------------------------

@dataclass
class Rendered:
    """Objects grouped by the file they go to in a kustomize directory, in apply order."""

    files: dict[str, list[Obj]] = field(default_factory=dict)
    header: str = ""

    def objects(self) -> list[Obj]:
        return [obj for objs in self.files.values() for obj in objs]


def _yaml() -> YAML:
    y = YAML()
    y.default_flow_style = False
    y.width = 4096  # long strings (args, policy lines) stay on one line
    y.indent(mapping=2, sequence=4, offset=2)
    # Plain repeated blocks: kubectl and kustomize read anchors, people and diffs do better without.
    y.representer.ignore_aliases = lambda *_: True
    return y


def dump(objects: Sequence[Obj], header: str = "") -> str:
    out = io.StringIO()
    out.write(header)
    y = _yaml()
    for i, obj in enumerate(objects):
        if i:
            out.write("---\n")
        y.dump(obj, out)
    return out.getvalue()


def kustomization(files: Sequence[str]) -> Obj:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": list(files)}


def tree(rendered: Rendered) -> dict[str, str]:
    """File name -> text of the kustomize directory (`--output-dir`)."""
    out = {name: dump(objs, rendered.header) for name, objs in rendered.files.items()}
    out["kustomization.yaml"] = dump([kustomization(list(rendered.files))], rendered.header)
    return out


def write_tree(rendered: Rendered, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in tree(rendered).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
