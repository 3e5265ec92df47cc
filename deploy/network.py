"""Who may talk to whom: NetworkPolicies and the pod firewall.

A NetworkPolicy selects pods, not containers: in the sidecar layout the agent shares its pod's
network namespace with the egress container, so whatever the policy lets the egress reach (the
upstream proxy, or public addresses on the policy's ports, and the cluster DNS) the agent could
reach directly too. The pod firewall closes that: an init container loads netfilter rules into
the pod's namespace that let packets leave it only from sockets of the egress user (and over
loopback, where the proxy and the DNS guard listen). The agent, another uid without any
capability, can neither send around the proxy nor change the rules. docs/kubernetes.md has the
whole argument, and what each layout guarantees without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruamel.yaml.scalarstring import LiteralScalarString

from deploy.kubernetes import (
    CLUSTER_DNS_LABELS,
    CLUSTER_DNS_NAMESPACE,
    DNS_PORT,
    EGRESS_UID,
    FIREWALL_RESOURCES,
    METRICS_PORT,
    Obj,
    RenderOptions,
    Upstream,
    labels,
    meta,
)

# Addresses the egress never needs to reach directly: private, shared, link-local (the cloud
# metadata service), loopback and multicast. The proxy refuses them too (hosts.allow_private);
# this is the same line drawn in the network.
PRIVATE_V4 = ["10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
              "192.168.0.0/16", "224.0.0.0/4"]
PRIVATE_V6 = ["fc00::/7", "fe80::/10", "ff00::/8", "::1/128"]


def policy_ports(allow_ports: Sequence[Sequence[int | str]]) -> list[Obj] | None:
    """NetworkPolicy ports for the destination ports the policy's allow rules name (each rule
    defaults to 80 and 443). None: some rule allows every port (`"*"`)."""
    singles: set[int] = set()
    ranges: set[tuple[int, int]] = set()
    for ports in allow_ports:
        for port in ports:
            if port == "*":
                return None
            if isinstance(port, int):
                singles.add(port)
            else:
                low, _, high = str(port).partition("-")
                ranges.add((int(low), int(high)))
    out: list[Obj] = [{"protocol": "TCP", "port": p} for p in sorted(singles)]
    out += [{"protocol": "TCP", "port": lo, "endPort": hi} for lo, hi in sorted(ranges)]
    return out


def cluster_dns_rule() -> Obj:
    return {"to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": CLUSTER_DNS_NAMESPACE}},
                    "podSelector": {"matchLabels": dict(CLUSTER_DNS_LABELS)}}],
            "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]}


def egress_rules(upstream: Upstream | None, ports: list[Obj] | None) -> list[Obj]:
    """Where an egress container may connect: the cluster DNS (for the guard's forwarding),
    and the upstream proxy's pods (same namespace), or public addresses on the policy's ports
    (none when the policy allows nothing: an empty `ports` list would mean every port)."""
    rules = [cluster_dns_rule()]
    if upstream is not None:
        rules.append({"to": [{"podSelector": {"matchLabels": dict(upstream.selector)}}],
                      "ports": [{"protocol": "TCP", "port": upstream.port}]})
    elif ports != []:
        rules.append(public_rule(ports))
    return rules


def public_rule(ports: list[Obj] | None) -> Obj:
    rule: Obj = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_V4}},
                        {"ipBlock": {"cidr": "::/0", "except": PRIVATE_V6}}]}
    if ports is not None:
        rule["ports"] = ports
    return rule


def metrics_ingress() -> Obj:
    """Scrapes of the operator port from any pod (kubelet probes are always let through)."""
    return {"ports": [{"protocol": "TCP", "port": METRICS_PORT}]}


def network_policy(name: str, opts: RenderOptions, instance: str, component: str,
                   selector: dict[str, str], ingress: list[Obj], egress: list[Obj]) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(name, opts, labels(instance, "network-policy")),
            "spec": {"podSelector": {"matchLabels": selector},
                     "policyTypes": ["Ingress", "Egress"],
                     "ingress": ingress, "egress": egress}}


def sidecar_pod_policy(opts: RenderOptions, upstream: Upstream | None,
                       ports: list[Obj] | None, selector: dict[str, str]) -> Obj:
    """The agent pod (agent and egress sidecar together): DNS to the cluster resolver for the
    guard, the next hop, and nothing else; in: only the metrics port."""
    return network_policy(opts.name, opts, opts.name, "agent", selector, [metrics_ingress()],
                          egress_rules(upstream, ports))


# -- the pod firewall --------------------------------------------------------------------------

# IPv6 finds its neighbours with ICMPv6 the kernel sends itself (no socket, no owner): without
# these nobody, the egress included, reaches anything over IPv6. An unprivileged process cannot
# send these types (ping sockets send echo requests only).
NEIGHBOUR_DISCOVERY = [f"-A OUTPUT -p ipv6-icmp --icmpv6-type {t} -j ACCEPT"
                       for t in ("router-solicitation", "neighbour-solicitation",
                                 "neighbour-advertisement")]


def firewall_rules(reject_tcp: str, reject_other: str, extra: Sequence[str] = ()) -> str:
    """An iptables-restore input for the filter table of the pod's network namespace."""
    return "\n".join([
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        # Replies on connections someone else opened (kubelet probes, metrics scrapes: their
        # SYN-ACK has no owning socket yet). A new connection or datagram is never ESTABLISHED.
        "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        *extra,
        # The proxy and the DNS guard listen on loopback; the pod's own address routes here too.
        "-A OUTPUT -o lo -j ACCEPT",
        f"-A OUTPUT -m owner --uid-owner {EGRESS_UID} -j ACCEPT",
        # Everyone else: refused at once (a clear error for the agent, not a hang).
        f"-A OUTPUT -p tcp -j REJECT --reject-with {reject_tcp}",
        f"-A OUTPUT -j REJECT --reject-with {reject_other}",
        "COMMIT",
        "",
    ])


def firewall_script() -> str:
    """The init container's shell script: load the rules for IPv4, and for IPv6 where the pod
    has it (without IPv6 in the namespace there is nothing to leak through)."""
    v4 = firewall_rules("tcp-reset", "icmp-port-unreachable")
    v6 = firewall_rules("tcp-reset", "icmp6-port-unreachable", NEIGHBOUR_DISCOVERY)
    return (f"set -eu\niptables-restore <<'RULES'\n{v4}RULES\n"
            f"if [ -e /proc/net/if_inet6 ]; then\nip6tables-restore <<'RULES'\n{v6}RULES\nfi\n"
            f"echo 'pod firewall: only uid {EGRESS_UID} may leave the pod'\n")


def firewall_container(opts: RenderOptions) -> Obj:
    """Runs once before the sidecar. Root with NET_ADMIN alone (the only capability netfilter
    changes need), no privilege escalation, read-only root; `/run` for iptables' lock file."""
    security: dict[str, Any] = {
        "runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False,
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}
    return {"name": "pod-firewall", "image": opts.firewall_image, "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/sh", "-c", LiteralScalarString(firewall_script())],
            "resources": FIREWALL_RESOURCES, "securityContext": security,
            "volumeMounts": [{"name": "firewall-run", "mountPath": "/run"}]}
