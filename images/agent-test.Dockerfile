# A small agent image for tests and `bottle doctor` demos: curl, git, openssl, Python with
# requests. Any image works as a bottle's agent; this one only carries common clients.
# No file keeps a setuid or setgid bit (su, mount, passwd, ...): the agent runs unprivileged
# with no-new-privileges, so the bits could grant nothing, and an agent needs none of them.
ARG BASE=python:3.13-slim
FROM ${BASE}
RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      curl git openssl ca-certificates python3 python3-requests >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
LABEL io.bottle-egress.image=agent-test
CMD ["sleep", "infinity"]
