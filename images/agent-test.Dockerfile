# A small agent image for tests and `bottle doctor` demos: curl, git, openssl, Python with
# requests. Any image works as a bottle's agent; this one only carries common clients.
ARG BASE=python:3.13-slim
FROM ${BASE}
RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      curl git openssl ca-certificates python3 python3-requests >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
LABEL io.bottle-egress.image=agent-test
CMD ["sleep", "infinity"]
