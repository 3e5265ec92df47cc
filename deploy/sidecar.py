"""The sidecar layout: one agent pod that carries its own egress chain.

    pod (one network namespace; resolver 127.0.0.1 = the DNS guard)
      init  pod-firewall   root + NET_ADMIN, runs once: only uid 10001 may send off the pod
      init  egress         native sidecar (restartPolicy: Always): bottle egress run on
                           127.0.0.1:8080 and :53, a fresh CA at every start (key in memory,
                           state on an in-memory emptyDir only it mounts); once listening it
                           writes the public bundle to the `bottle-ca` emptyDir, and its
                           startup probe (that file exists) holds the agent back until then
      main  agent          uid 1000, no capability, read-only root, proxy and trust variables
                           pointing at 127.0.0.1:8080 and the read-only `bottle-ca` mount

The kubelet starts regular containers only after every init container before them completed
and every native sidecar's startup probe succeeded, and stops sidecars after them.
"""

from __future__ import annotations

from deploy.kubernetes import (
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
    empty_dir,
    labels,
    meta,
    metrics_annotations,
    pod_security,
    policy_configmap,
)
from deploy.network import firewall_container, sidecar_pod_policy


def render_sidecar(opts: RenderOptions, policy_text: str, audit_size: str,
                   ports: list[Obj] | None) -> Rendered:
    upstream = opts.upstream_info()
    pod_labels = labels(opts.name, "agent")
    egress = egress_container(opts, egress_args(opts, "127.0.0.1", True, upstream, opts.name),
                              egress_mounts())
    egress["restartPolicy"] = "Always"  # a native sidecar
    init = [firewall_container(opts)] if opts.pod_firewall else []
    volumes = egress_volumes(opts.name, audit_size) + agent_volumes()
    if opts.pod_firewall:
        volumes.append(empty_dir("firewall-run", "1Mi", memory=True))
    pod: Obj = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta(opts.name, opts, pod_labels, metrics_annotations()),
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            # The DNS guard on loopback is the pod's only resolver (it forwards what the policy
            # allows to --dns-upstream, the cluster DNS). No search domains: names are asked
            # as written, and nothing cluster-internal resolves for the agent.
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"], "options": [{"name": "ndots", "value": "1"}]},
            "securityContext": pod_security(sysctl_port=True),
            "initContainers": [*init, egress],
            "containers": [agent_container(opts, agent_env(f"http://127.0.0.1:{PROXY_PORT}",
                                                           opts.name), [])],
            "volumes": volumes,
        },
    }
    return Rendered({
        "policy.yaml": [policy_configmap(opts, policy_text, opts.name)],
        "pod.yaml": [pod],
        "networkpolicy.yaml": [sidecar_pod_policy(opts, upstream, ports, pod_labels)],
    })
