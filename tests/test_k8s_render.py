"""`bottle k8s render`: every object valid for two Kubernetes minor versions (their OpenAPI
schemas, strict: unknown fields fail), the security invariants of both layouts, the checked-in
`deploy/kubernetes/` identical to the renderer's output, and clear CLI errors.

No cluster runs here: the schemas come from the `kubernetes-validate` package; what the API
server checks beyond its schemas (a native sidecar's `restartPolicy`, `dnsPolicy: None` with a
nameserver) is asserted below as invariants.
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from cli.deploy import render
from deploy.gateway import (
    CA_PORT,
    GATEWAY_LABEL,
    IDENTITIES_DIR,
    IDENTITIES_KEY,
    TOKEN_ENV,
    identities_secret,
    token_secret,
)
from deploy.kubernetes import (
    AGENT_CA_DIR,
    DNS_PORT,
    EGRESS_UID,
    EXPORT_DIR,
    HEALTH_PATH,
    METRICS_FLAG,
    METRICS_PATH,
    METRICS_PORT,
    PROXY_PORT,
    READY_PATH,
    STATE_DIR,
    STATE_VOLUME_PATH,
    RenderOptions,
    dump,
    tree,
)
from deploy.network import PRIVATE_V4
from egress.agent_identity import AgentIdentities, token_hash
from tests.support.yamlload import load_all

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = "policies/default.yaml"
PIPELOCK = "http://pipelock.default.svc.cluster.local:8888"
# The oldest minor with native sidecars on by default (beta since 1.29) and a recent one.
K8S_VERSIONS = ("1.30.0", "1.34.0")
# The checked-in directories and the options they were rendered with.
CHECKED_IN = {
    "sidecar": RenderOptions(DEFAULT_POLICY, upstream=PIPELOCK),
    "gateway": RenderOptions(DEFAULT_POLICY, variant="gateway", upstream=PIPELOCK),
}
VARIANTS = {
    **CHECKED_IN,
    "sidecar-direct-no-firewall": RenderOptions(DEFAULT_POLICY, pod_firewall=False),
    "gateway-direct": RenderOptions(DEFAULT_POLICY, variant="gateway", name="agent-b",
                                    namespace="agents"),
    "gateway-with-secrets": RenderOptions(DEFAULT_POLICY, variant="gateway", upstream=PIPELOCK,
                                          with_secrets=True),
}
Obj = dict[str, Any]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the policy path is relative, as in the checked-in headers


def printed(opts: RenderOptions) -> list[Obj]:
    """The objects as a reader of the YAML gets them (not the renderer's dicts)."""
    rendered = render(opts)
    return [d for d in load_all(dump(rendered.objects(), rendered.header)) if d]


def by_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def pod_specs(objs: list[Obj]) -> list[Obj]:
    specs = [o["spec"] for o in by_kind(objs, "Pod")]
    specs += [o["spec"]["template"]["spec"] for o in by_kind(objs, "Deployment")]
    return specs


def containers(spec: Obj) -> list[Obj]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(spec: Obj, name: str) -> Obj:
    return next(c for c in containers(spec) if c["name"] == name)


def agent_pod(objs: list[Obj]) -> Obj:
    return next(o for o in by_kind(objs, "Pod") if o["metadata"]["labels"][
        "app.kubernetes.io/component"] == "agent")


def selects(selector: Obj, pod_labels: dict[str, str]) -> bool:
    return all(pod_labels.get(k) == v for k, v in selector["matchLabels"].items())


def policy_for(objs: list[Obj], pod: Obj) -> list[Obj]:
    return [p for p in by_kind(objs, "NetworkPolicy")
            if p["metadata"]["namespace"] == pod["metadata"]["namespace"]
            and selects(p["spec"]["podSelector"], pod["metadata"]["labels"])]


# -- schemas ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_object_validates_against_the_kubernetes_schemas(variant: str, version: str):
    objs = printed(VARIANTS[variant])
    assert {o["kind"] for o in objs} >= {"ConfigMap", "Pod", "NetworkPolicy"}
    for obj in objs:
        # strict: a field the schema does not know (a typo, a field too new) fails
        kubernetes_validate.validate(obj, version, strict=True)


def test_schema_validation_would_catch_a_typo_and_a_too_old_cluster():
    pod = agent_pod(printed(VARIANTS["sidecar"]))
    kubernetes_validate.validate(pod, K8S_VERSIONS[0], strict=True)
    typo = copy.deepcopy(pod)
    typo["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSIONS[0], strict=True)
    # native sidecars (an init container's restartPolicy) do not exist before 1.28
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, "1.27.0", strict=True)


def test_checked_in_manifests_are_exactly_the_render_output():
    base = REPO / "deploy" / "kubernetes"
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == sorted(CHECKED_IN)
    for directory, opts in CHECKED_IN.items():
        want = tree(render(opts))
        have = {p.name: p.read_text(encoding="utf-8") for p in (base / directory).iterdir()}
        assert sorted(have) == sorted(want), directory
        for name, text in want.items():
            assert have[name] == text, (
                f"deploy/kubernetes/{directory}/{name} differs from the renderer's output; "
                f"regenerate with the command in its first line, plus --output-dir "
                f"deploy/kubernetes/{directory}")
        kustomization = load_all(have["kustomization.yaml"])[0]
        assert kustomization["resources"] == [n for n in want if n != "kustomization.yaml"]


# -- invariants: every layout ------------------------------------------------------------------

@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_pod_gets_a_token_host_access_or_a_privileged_container(variant: str):
    objs = printed(VARIANTS[variant])
    for spec in pod_specs(objs):
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        for key in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
            assert not spec.get(key), key
        assert not [v for v in spec["volumes"] if "hostPath" in v]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in containers(spec):
            sc = c["securityContext"]
            assert not sc.get("privileged"), c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            if c["name"] == "pod-firewall":
                assert sc["capabilities"]["add"] == ["NET_ADMIN"]
            else:
                assert "add" not in sc["capabilities"], c["name"]
                assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, c["name"]
            assert "limits" in c["resources"] and "memory" in c["resources"]["limits"], c["name"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_agent_container_is_hardened_and_not_the_egress_user(variant: str):
    pod = agent_pod(printed(VARIANTS[variant]))
    agent = container(pod["spec"], "agent")
    sc = agent["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] not in (0, EGRESS_UID)
    assert sc["runAsGroup"] not in (0, EGRESS_UID)
    assert sc == {**sc, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                  "capabilities": {"drop": ["ALL"]}}
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert env["SSL_CERT_FILE"] == f"{AGENT_CA_DIR}/ca-bundle.pem"
    assert env["NODE_EXTRA_CA_CERTS"] == f"{AGENT_CA_DIR}/bottle-ca.pem"
    assert env["HTTPS_PROXY"] == env["https_proxy"] == env["HTTP_PROXY"]
    ca_mount = next(m for m in agent["volumeMounts"] if m["mountPath"] == AGENT_CA_DIR)
    assert ca_mount["readOnly"] is True


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_ca_key_volume_is_in_memory_and_mounted_only_by_the_egress_container(variant: str):
    objs = printed(VARIANTS[variant])
    egress_pods = [s for s in pod_specs(objs)
                   if any(c["name"] == "egress" for c in containers(s))]
    assert egress_pods
    for spec in egress_pods:
        egress = container(spec, "egress")
        args = egress["args"]
        state = args[args.index("--state-dir") + 1]
        export = args[args.index("--export-dir") + 1]
        mounts = {m["mountPath"]: m["name"] for m in egress["volumeMounts"]}
        assert state.startswith(STATE_VOLUME_PATH + "/") and state == STATE_DIR
        state_volume = mounts[STATE_VOLUME_PATH]
        volume = next(v for v in spec["volumes"] if v["name"] == state_volume)
        assert volume["emptyDir"]["medium"] == "Memory"
        others = [c["name"] for c in containers(spec)
                  if c["name"] != "egress" and any(m["name"] == state_volume
                                                   for m in c.get("volumeMounts", []))]
        assert others == []
        # what the agent side shares is the export volume, and no other egress volume
        assert export == EXPORT_DIR
        egress_volumes = set(mounts.values())
        for c in containers(spec):
            if c["name"] == "egress":
                continue
            shared = {m["name"] for m in c.get("volumeMounts", [])} & egress_volumes
            assert shared <= {mounts[EXPORT_DIR]}, c["name"]
            for m in c.get("volumeMounts", []):
                if m["name"] == mounts[EXPORT_DIR]:
                    assert m.get("readOnly") is True, c["name"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_metrics_and_probes_follow_the_operator_listener_contract(variant: str):
    for spec in pod_specs(printed(VARIANTS[variant])):
        if not any(c["name"] == "egress" for c in containers(spec)):
            continue
        egress = container(spec, "egress")
        args = egress["args"]
        assert args[args.index(METRICS_FLAG) + 1] == f"0.0.0.0:{METRICS_PORT}"
        port = next(p for p in egress["ports"] if p["containerPort"] == METRICS_PORT)
        assert egress["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": port["name"]}
        assert egress["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": port["name"]}
        assert egress["startupProbe"]["exec"]["command"] == ["test", "-s", f"{EXPORT_DIR}/ca-bundle.pem"]
    for obj in printed(VARIANTS[variant]):
        if obj["kind"] not in ("Pod", "Deployment"):
            continue
        template = obj["spec"]["template"] if obj["kind"] == "Deployment" else obj
        annotations = template["metadata"].get("annotations", {})
        if any(c["name"] == "egress" for c in containers(template["spec"])):
            assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT),
                                   "prometheus.io/path": METRICS_PATH}


def test_rendered_egress_arguments_are_accepted_by_bottle_egress_run():
    """The arguments parse with the real `bottle egress run` parser. The operator listener's
    flag is the one exception while the proxy does not have it yet (issue 16 item 1): once it
    does, this test checks it too."""
    from cli.commands import build_parser

    def sub(p: Any, name: str) -> Any:
        action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        return action.choices[name]

    parser = build_parser()
    run = sub(sub(parser, "egress"), "run")
    known = {s for a in run._actions for s in a.option_strings}
    for variant, opts in VARIANTS.items():
        for spec in pod_specs(printed(opts)):
            if not any(c["name"] == "egress" for c in containers(spec)):
                continue
            args = list(container(spec, "egress")["args"])
            if METRICS_FLAG not in known:
                i = args.index(METRICS_FLAG)
                del args[i : i + 2]
            parsed = parser.parse_args(args)
            assert parsed.export_dir == EXPORT_DIR, variant
            assert parsed.listen.endswith(f":{PROXY_PORT}") and parsed.dns_listen.endswith(f":{DNS_PORT}")


# -- the sidecar layout ------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["sidecar", "sidecar-direct-no-firewall"])
def test_sidecar_starts_before_the_agent_and_is_the_pods_resolver(variant: str):
    pod = agent_pod(printed(VARIANTS[variant]))
    spec = pod["spec"]
    egress = spec["initContainers"][-1]
    assert egress["name"] == "egress" and egress["restartPolicy"] == "Always"
    assert [c["name"] for c in spec["containers"]] == ["agent"]
    args = egress["args"]
    assert args[args.index("--listen") + 1] == f"127.0.0.1:{PROXY_PORT}"
    assert args[args.index("--dns-listen") + 1] == f"127.0.0.1:{DNS_PORT}"
    assert spec["dnsPolicy"] == "None" and spec["dnsConfig"]["nameservers"] == ["127.0.0.1"]
    env = {e["name"]: e["value"] for e in container(spec, "agent")["env"]}
    assert env["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"
    # port 53 as an unprivileged user, by a safe sysctl instead of a capability
    assert spec["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": str(DNS_PORT)}]


def test_sidecar_network_policy_allows_only_dns_and_the_next_hop():
    objs = printed(VARIANTS["sidecar"])
    pod = agent_pod(objs)
    (policy,) = policy_for(objs, pod)
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"ports": [{"protocol": "TCP", "port": METRICS_PORT}]}]
    dns_rule, hop = spec["egress"]
    assert dns_rule["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert {p["port"] for p in dns_rule["ports"]} == {53}
    # with pipelock upstream: its pods on its port, and no address block at all
    assert hop == {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "pipelock"}}}],
                   "ports": [{"protocol": "TCP", "port": 8888}]}


def test_direct_egress_excludes_private_addresses_and_follows_the_policys_ports(tmp_path: Path):
    objs = printed(VARIANTS["sidecar-direct-no-firewall"])
    (policy,) = policy_for(objs, agent_pod(objs))
    hop = policy["spec"]["egress"][1]
    assert hop["ports"] == [{"protocol": "TCP", "port": 80}, {"protocol": "TCP", "port": 443}]
    v4 = hop["to"][0]["ipBlock"]
    for address in ("169.254.169.254", "10.96.0.1", "192.168.1.1", "127.0.0.1"):
        assert any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in v4["except"])
    assert set(v4["except"]) == set(PRIVATE_V4)
    custom = tmp_path / "ports.yaml"
    custom.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [a.example]\n"
                      "      ports: [8443, \"9000-9100\"]\n    - hosts: [b.example]\n")
    objs = printed(RenderOptions(str(custom), pod_firewall=False))
    (policy,) = policy_for(objs, agent_pod(objs))
    assert policy["spec"]["egress"][1]["ports"] == [
        {"protocol": "TCP", "port": 80}, {"protocol": "TCP", "port": 443},
        {"protocol": "TCP", "port": 8443}, {"protocol": "TCP", "port": 9000, "endPort": 9100}]
    custom.write_text("version: 1\nhosts:\n  allow:\n    - hosts: [a.example]\n      ports: ['*']\n")
    objs = printed(RenderOptions(str(custom), pod_firewall=False))
    (policy,) = policy_for(objs, agent_pod(objs))
    assert "ports" not in policy["spec"]["egress"][1]
    # no allow rule: no way out but DNS (an empty `ports` list would mean every port)
    custom.write_text("version: 1\n")
    objs = printed(RenderOptions(str(custom), pod_firewall=False))
    (policy,) = policy_for(objs, agent_pod(objs))
    assert len(policy["spec"]["egress"]) == 1 and policy["spec"]["egress"][0]["ports"][0]["port"] == 53


def test_pod_firewall_runs_first_and_lets_only_the_egress_user_leave_the_pod():
    spec = agent_pod(printed(VARIANTS["sidecar"]))["spec"]
    firewall = spec["initContainers"][0]
    assert firewall["name"] == "pod-firewall" and "restartPolicy" not in firewall
    script = firewall["command"][2]
    for family in ("iptables-restore", "ip6tables-restore"):
        assert family in script
    assert ":OUTPUT DROP" in script
    accepts = [line for line in script.splitlines() if line.startswith("-A OUTPUT") and "ACCEPT" in line]
    base = ["-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A OUTPUT -o lo -j ACCEPT", f"-A OUTPUT -m owner --uid-owner {EGRESS_UID} -j ACCEPT"]
    ndp = [f"-A OUTPUT -p ipv6-icmp --icmpv6-type {t} -j ACCEPT"
           for t in ("router-solicitation", "neighbour-solicitation", "neighbour-advertisement")]
    assert accepts == [*base, base[0], *ndp, *base[1:]]
    assert container(spec, "egress")["securityContext"]["runAsUser"] == EGRESS_UID
    assert not [c for c in spec["initContainers"] if c["name"] == "pod-firewall"
                and c.get("restartPolicy")]


# Pod Security Standards, "restricted" profile (the checks a namespace labelled
# pod-security.kubernetes.io/enforce=restricted applies).
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range"}


def restricted_violations(spec: Obj) -> list[str]:
    out = []
    pod_sc = spec.get("securityContext", {})
    for v in spec["volumes"]:
        kind = next(k for k in v if k != "name")
        if kind not in RESTRICTED_VOLUMES:
            out.append(f"volume {v['name']}: {kind}")
    for s in pod_sc.get("sysctls", []):
        if s["name"] not in SAFE_SYSCTLS:
            out.append(f"sysctl {s['name']}")
    for c in containers(spec):
        sc = c.get("securityContext", {})
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            out.append(f"{c['name']}: runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            out.append(f"{c['name']}: runAsUser 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{c['name']}: allowPrivilegeEscalation")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{c['name']}: capabilities.add")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            out.append(f"{c['name']}: capabilities.drop")
        if (sc.get("seccompProfile") or pod_sc.get("seccompProfile", {})).get("type") not in (
                "RuntimeDefault", "Localhost"):
            out.append(f"{c['name']}: seccomp")
    return out


def test_only_the_pod_firewall_needs_more_than_pod_security_restricted():
    for variant in ("sidecar-direct-no-firewall", "gateway", "gateway-direct"):
        for spec in pod_specs(printed(VARIANTS[variant])):
            assert restricted_violations(spec) == [], variant
    spec = agent_pod(printed(VARIANTS["sidecar"]))["spec"]
    assert restricted_violations(spec) == ["pod-firewall: runAsNonRoot", "pod-firewall: runAsUser 0",
                                           "pod-firewall: capabilities.add"]


# -- the gateway layout ------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["gateway", "gateway-direct"])
def test_gateway_agent_pod_can_reach_the_gateway_and_nothing_else(variant: str):
    opts = VARIANTS[variant]
    objs = printed(opts)
    pod = agent_pod(objs)
    spec = pod["spec"]
    assert [c["name"] for c in containers(spec)] == ["fetch-ca", "agent"]  # no sidecar, no egress
    (deployment,) = by_kind(objs, "Deployment")
    (service,) = by_kind(objs, "Service")
    gw_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == gw_labels == deployment["spec"]["selector"]["matchLabels"]
    gw_ip = service["spec"]["clusterIP"]
    assert spec["dnsPolicy"] == "None" and spec["dnsConfig"]["nameservers"] == [gw_ip]
    env = {e["name"]: e.get("value") for e in container(spec, "agent")["env"]}
    assert env["HTTPS_PROXY"] == f"http://{opts.name}:$({TOKEN_ENV})@{gw_ip}:{PROXY_PORT}"
    (policy,) = policy_for(objs, pod)
    assert policy["spec"]["ingress"] == []
    (rule,) = policy["spec"]["egress"]
    (peer,) = rule["to"]
    assert set(peer) == {"podSelector"} and selects(peer["podSelector"], gw_labels)
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [
        ("TCP", DNS_PORT), ("TCP", PROXY_PORT), ("TCP", CA_PORT), ("UDP", DNS_PORT)]
    # and the gateway lets in only its agents (and metrics scrapes)
    (gw_policy,) = [p for p in by_kind(objs, "NetworkPolicy") if selects(p["spec"]["podSelector"], gw_labels)]
    from_agents, metrics = gw_policy["spec"]["ingress"]
    assert from_agents["from"] == [{"podSelector": {"matchLabels": {GATEWAY_LABEL: opts.gateway_name}}}]
    assert pod["metadata"]["labels"][GATEWAY_LABEL] == opts.gateway_name
    assert metrics == {"ports": [{"protocol": "TCP", "port": METRICS_PORT}]}


def test_gateway_runs_one_replica_and_publishes_only_the_public_ca_files():
    objs = printed(VARIANTS["gateway"])
    (deployment,) = by_kind(objs, "Deployment")
    spec = deployment["spec"]
    # each egress process makes its own CA: two replicas would be two CAs behind one Service
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    args = container(pod, "egress")["args"]
    assert args[args.index("--listen") + 1] == f"0.0.0.0:{PROXY_PORT}"
    publisher = container(pod, "ca-publisher")
    assert publisher["command"][-5:] == ["--directory", EXPORT_DIR, "--bind", "0.0.0.0", str(CA_PORT)]
    assert publisher["volumeMounts"] == [{"name": "bottle-ca", "mountPath": EXPORT_DIR, "readOnly": True}]


def _secret_refs(obj: Any) -> set[str]:
    """Names of the Secrets an object (or any part of it) refers to."""
    found: set[str] = set()
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("secretKeyRef", "secret") and isinstance(value, dict):
                found.add(str(value.get("name") or value.get("secretName")))
            found |= _secret_refs(value)
    elif isinstance(obj, list):
        for value in obj:
            found |= _secret_refs(value)
    return found


@pytest.mark.parametrize("variant", ["gateway", "gateway-direct", "gateway-with-secrets"])
def test_gateway_agents_prove_their_name_and_the_egress_holds_only_hashes(variant: str):
    opts = VARIANTS[variant]
    objs = printed(opts)
    pod = agent_pod(objs)
    agent = container(pod["spec"], "agent")
    names = [e["name"] for e in agent["env"]]
    # the token comes from the agent's own Secret, defined before the proxy URLs that use it
    token_env = agent["env"][names.index(TOKEN_ENV)]
    assert token_env["valueFrom"] == {"secretKeyRef": {"name": token_secret(opts.name), "key": "token"}}
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        assert names.index(TOKEN_ENV) < names.index(var)
        value = agent["env"][names.index(var)]["value"]
        assert value == f"http://{opts.name}:$({TOKEN_ENV})@{opts.gateway_ip}:{PROXY_PORT}"
    assert _secret_refs(pod) == {token_secret(opts.name)}
    # the gateway reads the identities Secret (hashes), never an agent's token Secret
    (deployment,) = by_kind(objs, "Deployment")
    gw = deployment["spec"]["template"]["spec"]
    assert _secret_refs(deployment) == {identities_secret(opts.gateway_name)}
    args = container(gw, "egress")["args"]
    assert args[args.index("--agent-identities") + 1] == f"{IDENTITIES_DIR}/{IDENTITIES_KEY}"
    mount = next(m for m in container(gw, "egress")["volumeMounts"] if m["mountPath"] == IDENTITIES_DIR)
    assert mount["readOnly"] is True
    assert not any(m["name"] == mount["name"] for m in container(gw, "ca-publisher")["volumeMounts"])
    # no ConfigMap or other non-Secret object names a token; no Secret unless asked for
    secrets = by_kind(objs, "Secret")
    assert len(secrets) == (2 if opts.with_secrets else 0)
    for obj in objs:
        if obj["kind"] != "Secret":
            assert "stringData" not in obj and "token:" not in str(obj.get("data", ""))


def test_rendered_secrets_carry_the_token_to_the_agent_only_and_its_hash_to_the_gateway(
        tmp_path: Path):
    opts = VARIANTS["gateway-with-secrets"]
    objs = printed(opts)
    by_name = {s["metadata"]["name"]: s for s in by_kind(objs, "Secret")}
    token = by_name[token_secret(opts.name)]["stringData"]["token"]
    assert len(token) == 64 and int(token, 16) >= 0  # 32 random bytes, hex: URL-safe
    identities = by_name[identities_secret(opts.gateway_name)]["stringData"][IDENTITIES_KEY]
    assert identities == f"{opts.name} {token_hash(token)}\n"
    # the token is in the agent's Secret and nowhere else in the output
    others = [o for o in objs if o is not by_name[token_secret(opts.name)]]
    assert token not in dump(others)
    # what the gateway loads authenticates what the agent's proxy URL sends
    path = tmp_path / "identities"
    path.write_text(identities)
    import base64
    basic = base64.b64encode(f"{opts.name}:{token}".encode()).decode()
    assert AgentIdentities.load(path).authenticate(f"Basic {basic}") == opts.name
    # fresh tokens on every render: the output is a first deployment's, never a fixture
    again = {s["metadata"]["name"]: s for s in by_kind(printed(opts), "Secret")}
    assert again[token_secret(opts.name)]["stringData"]["token"] != token


def test_checked_in_manifests_hold_no_secret():
    for path in (REPO / "deploy" / "kubernetes").rglob("*.yaml"):
        docs = [d for d in load_all(path.read_text()) if d]
        assert not [d for d in docs if d["kind"] == "Secret"], path
        assert "stringData" not in path.read_text(), path


# -- the command line ----------------------------------------------------------------------------

def bottle(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_prints_valid_yaml_and_writes_a_kustomize_directory(tmp_path: Path):
    out = bottle("k8s", "render", "--policy", DEFAULT_POLICY, "--upstream", PIPELOCK)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"# Generated by: bottle k8s render --policy {DEFAULT_POLICY} "
                                 f"--upstream {PIPELOCK}\n")
    docs = [d for d in load_all(out.stdout) if d]
    assert [d["kind"] for d in docs] == ["ConfigMap", "Pod", "NetworkPolicy"]
    assert docs[0]["data"]["policy.yaml"] == (REPO / DEFAULT_POLICY).read_text()
    out = bottle("k8s", "render", "--policy", DEFAULT_POLICY, "--upstream", PIPELOCK,
                 "--output-dir", str(tmp_path / "k"))
    assert out.returncode == 0, out.stderr
    for path in (REPO / "deploy" / "kubernetes" / "sidecar").iterdir():
        assert (tmp_path / "k" / path.name).read_text() == path.read_text()


def test_cli_does_not_import_the_proxy_engine():
    code = ("import sys, io, contextlib; from cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['k8s', 'render', '--policy', '{DEFAULT_POLICY}']) == 0\n"
            "print(sorted(m for m in sys.modules if m.startswith('mitmproxy')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("policy", "args", "expected"), [
    ("version: 1\nhosts:\n  allow:\n    - hosts: [a.example]\n      ports: [70000]\n", [],
     ["bad.yaml:5", "hosts.allow[0].ports[0]"]),
    ("version: 1\nmode: enforce\nhosts: [\n", [], ["bad.yaml:"]),
    ("version: 1\nhosts:\n  allow:\n    - hosts: [api.github.com]\n"
     "credentials:\n  - name: gh\n    host: api.github.com\n"
     "    header: 'Authorization: Bearer {secret}'\n    source: {env: GH_TOKEN}\n"
     "    placeholder: {env: GITHUB_TOKEN}\n", [], ["bad.yaml:5", "credentials", "not supported"]),
    (None, [], ["missing.yaml", "file not found"]),
    ("version: 1\n", ["--name", "Agent_1"], ["--name 'Agent_1'", "lower-case"]),
    ("version: 1\n", ["--upstream", "pipelock:8888"], ["--upstream 'pipelock:8888'", "http://HOST:PORT"]),
    ("version: 1\n", ["--dns-upstream", "kube-dns"], ["--dns-upstream 'kube-dns'", "IPv4"]),
    ("version: 1\n", ["--upstream-selector", "app"], ["--upstream-selector 'app'", "KEY=VALUE"]),
    ("version: 1\n", ["--with-secrets"], ["--with-secrets", "only the gateway"]),
])
def test_cli_user_errors_are_one_clear_message(tmp_path: Path, policy: str | None, args: list[str],
                                               expected: list[str]):
    path = tmp_path / ("bad.yaml" if policy is not None else "missing.yaml")
    if policy is not None:
        path.write_text(policy)
    out = bottle("k8s", "render", "--policy", str(path), *args)
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert "Traceback" not in out.stderr
    for text in expected:
        assert text in out.stderr, out.stderr
