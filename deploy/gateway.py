"""The gateway layout: one egress Deployment per namespace, agent pods without a sidecar.

    agent pod ──(NetworkPolicy: the gateway's pods only)──► Service <gateway> (fixed ClusterIP)
      resolver = the gateway's DNS guard                       │ proxy :8080
      HTTPS_PROXY = http://<agent>:<token>@<gateway IP>:8080   │ DNS guard :53
      (token: Secret <agent>-proxy-token)                      │ public CA files :8081
      trust: the bundle an init container fetched              ▼
                              gateway pod: bottle egress run --agent-identities (the token
                              hashes: Secret <gateway>-agent-identities); each upstream CONNECT
                              carries X-Pipelock-Agent: <agent>, the audit log `agent`
                                                               ▼
                                           upstream (pipelock) or public addresses

Here the agent pod's NetworkPolicy alone keeps it from going around the proxy: no container in
that pod has any other way out. The price: every agent of the namespace trusts the same CA and
shares one policy, and a restarted gateway has a new CA the running agents must fetch again.
Each agent proves its name with its own token (`egress.agent_identity`): the gateway holds only
SHA-256 hashes. The Secrets are the operator's to create (docs/kubernetes.md); `--with-secrets`
renders them with fresh random tokens, for a first deployment (never check that output in).
"""

from __future__ import annotations

import secrets

from ruamel.yaml.scalarstring import LiteralScalarString

from deploy.kubernetes import (
    AGENT_CA_DIR,
    AGENT_UID,
    BUNDLE_FILE,
    CERT_FILE,
    DNS_PORT,
    EGRESS_UID,
    EXPORT_DIR,
    METRICS_PORT,
    METRICS_PORT_NAME,
    PROXY_PORT,
    Obj,
    Rendered,
    RenderOptions,
    agent_container,
    agent_env,
    agent_volumes,
    egress_args,
    egress_container,
    egress_mounts,
    egress_volumes,
    hardened,
    labels,
    meta,
    metrics_annotations,
    pod_security,
    policy_configmap,
)
from deploy.network import egress_rules, metrics_ingress, network_policy

CA_PORT = 8081
GATEWAY_LABEL = "bottle-egress/gateway"
IDENTITIES_DIR = "/etc/bottle/identities"
IDENTITIES_KEY = "identities"
TOKEN_KEY = "token"
TOKEN_ENV = "BOTTLE_PROXY_TOKEN"
SMALL: Obj = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}

FETCH_CA = """\
import os, sys, time, urllib.request
base, out = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 300
for name in sys.argv[3:]:
    while True:
        try:
            data = urllib.request.urlopen(base + name, timeout=5).read()
            if b"-----BEGIN CERTIFICATE-----" in data:
                break
            err = "no certificate in the answer"
        except OSError as e:
            err = str(e)
        if time.monotonic() > deadline:
            sys.exit(f"fetch-ca: {base}{name}: {err}")
        time.sleep(2)
    with open(f"{out}/{name}.tmp", "wb") as f:
        f.write(data)
    os.replace(f"{out}/{name}.tmp", f"{out}/{name}")
print("fetch-ca: bottle CA fetched from", base)
"""


def _port(name: str, port: int, protocol: str = "TCP") -> Obj:
    return {"name": name, "port": port, "targetPort": port, "protocol": protocol}


def identities_secret(gateway: str) -> str:
    """The gateway's Secret: `NAME sha256:HEX` lines, one per agent (hashes only)."""
    return f"{gateway}-agent-identities"


def token_secret(agent: str) -> str:
    """An agent's Secret: its proxy token, read only by that agent's pod."""
    return f"{agent}-proxy-token"


def generated_secrets(opts: RenderOptions) -> list[Obj]:
    """`--with-secrets`: a fresh token for the agent, and the gateway's identities with its
    hash. Hex, so that it goes into a proxy URL as it is."""
    from egress.agent_identity import token_hash

    token = secrets.token_hex(32)
    agent = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": meta(token_secret(opts.name), opts, labels(opts.name, "agent")),
             "stringData": {TOKEN_KEY: token}}
    identities = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": meta(identities_secret(opts.gateway_name), opts,
                                   labels(opts.gateway_name, "gateway")),
                  "stringData": {IDENTITIES_KEY: f"{opts.name} {token_hash(token)}\n"}}
    return [identities, agent]


def gateway_ports() -> list[Obj]:
    return [{"protocol": "TCP", "port": PROXY_PORT}, {"protocol": "UDP", "port": DNS_PORT},
            {"protocol": "TCP", "port": DNS_PORT}, {"protocol": "TCP", "port": CA_PORT}]


def render_gateway(opts: RenderOptions, policy_text: str, audit_size: str,
                   ports: list[Obj] | None) -> Rendered:
    gw = opts.gateway_name
    upstream = opts.upstream_info()
    gw_labels = labels(gw, "gateway")
    args = [*egress_args(opts, "0.0.0.0", True, upstream, gw),
            "--agent-identities", f"{IDENTITIES_DIR}/{IDENTITIES_KEY}"]
    egress = egress_container(
        opts, args, [*egress_mounts(),
                     {"name": "agent-identities", "mountPath": IDENTITIES_DIR, "readOnly": True}],
        extra_ports=[{"name": "proxy", "containerPort": PROXY_PORT, "protocol": "TCP"},
                     {"name": "dns-udp", "containerPort": DNS_PORT, "protocol": "UDP"},
                     {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"}])
    # The public CA files, for agent pods' init containers (the key never leaves `egress`).
    publisher = {"name": "ca-publisher", "image": opts.egress_image, "imagePullPolicy": "IfNotPresent",
                 "command": ["/opt/bottle/bin/python", "-m", "http.server", "--directory", EXPORT_DIR,
                             "--bind", "0.0.0.0", str(CA_PORT)],
                 "ports": [{"name": "ca", "containerPort": CA_PORT, "protocol": "TCP"}],
                 "resources": SMALL, "securityContext": hardened(EGRESS_UID),
                 "volumeMounts": [{"name": "bottle-ca", "mountPath": EXPORT_DIR, "readOnly": True}]}
    security = pod_security(sysctl_port=True)
    deployment: Obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta(gw, opts, gw_labels),
        "spec": {
            # One replica: each egress process makes its own CA, and agents trust one of them.
            "replicas": 1, "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": gw_labels},
            "template": {
                "metadata": {"labels": gw_labels, "annotations": metrics_annotations()},
                "spec": {"automountServiceAccountToken": False, "enableServiceLinks": False,
                         "securityContext": security,
                         "containers": [egress, publisher],
                         "volumes": [*egress_volumes(gw, audit_size), {
                             "name": "agent-identities",
                             "secret": {"secretName": identities_secret(gw), "defaultMode": 0o444}}]}}}}
    service: Obj = {
        "apiVersion": "v1", "kind": "Service", "metadata": meta(gw, opts, gw_labels),
        "spec": {"clusterIP": opts.gateway_ip, "selector": gw_labels,
                 "ports": [_port("proxy", PROXY_PORT), _port("dns-udp", DNS_PORT, "UDP"),
                           _port("dns-tcp", DNS_PORT), _port("ca", CA_PORT),
                           _port(METRICS_PORT_NAME, METRICS_PORT)]}}
    from_agents = {"from": [{"podSelector": {"matchLabels": {GATEWAY_LABEL: gw}}}],
                   "ports": gateway_ports()}
    gw_policy = network_policy(gw, opts, gw, "gateway", gw_labels,
                               [from_agents, metrics_ingress()],
                               egress_rules(upstream, ports))
    files = {
        "policy.yaml": [policy_configmap(opts, policy_text, gw)],
        "gateway.yaml": [deployment, service, gw_policy],
        "agent.yaml": agent_objects(opts),
    }
    if opts.with_secrets:
        files = {"secrets.yaml": generated_secrets(opts), **files}
    return Rendered(files)


def agent_objects(opts: RenderOptions) -> list[Obj]:
    """One agent pod of the gateway, and the NetworkPolicy that confines it to the gateway."""
    gw_ip = opts.gateway_ip
    pod_labels = {**labels(opts.name, "agent"), GATEWAY_LABEL: opts.gateway_name}
    # Kubernetes expands $(VAR) in a value from a variable defined before it: the token
    # comes from the agent's Secret into the proxy URL, and is in no manifest.
    env = agent_env(f"http://{opts.name}:$({TOKEN_ENV})@{gw_ip}:{PROXY_PORT}", opts.name)
    token_env = {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {
        "name": token_secret(opts.name), "key": TOKEN_KEY}}}
    fetch = {"name": "fetch-ca", "image": opts.egress_image, "imagePullPolicy": "IfNotPresent",
             "command": ["/opt/bottle/bin/python", "-c", LiteralScalarString(FETCH_CA), f"http://{gw_ip}:{CA_PORT}/",
                         AGENT_CA_DIR, CERT_FILE, BUNDLE_FILE],
             "resources": SMALL, "securityContext": hardened(AGENT_UID),
             "volumeMounts": [{"name": "bottle-ca", "mountPath": AGENT_CA_DIR}]}
    pod: Obj = {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta(opts.name, opts, pod_labels),
        "spec": {"automountServiceAccountToken": False, "enableServiceLinks": False,
                 "dnsPolicy": "None",
                 "dnsConfig": {"nameservers": [gw_ip], "options": [{"name": "ndots", "value": "1"}]},
                 "securityContext": pod_security(sysctl_port=False),
                 "initContainers": [fetch],
                 "containers": [agent_container(opts, env, [], [token_env])],
                 "volumes": [{"name": "bottle-ca", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}},
                             *agent_volumes()]}}
    confine = network_policy(opts.name, opts, opts.name, "agent", pod_labels, [], [
        {"to": [{"podSelector": {"matchLabels": labels(opts.gateway_name, "gateway")}}],
         "ports": gateway_ports()}])
    return [pod, confine]
