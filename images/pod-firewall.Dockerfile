# The pod firewall's image (`bottle k8s render`, sidecar layout): iptables and a shell, nothing
# else. Its one container runs once per pod, before the egress sidecar, as root with NET_ADMIN
# alone, and loads the rules the manifest carries (deploy/network.py).
#
#   docker build -f images/pod-firewall.Dockerfile -t bottle-pod-firewall .
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
LABEL io.bottle-egress.image=pod-firewall
CMD ["iptables-restore", "--version"]
