# Debian's squid, standing in for pipelock as the next-hop forward proxy in tests.
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends squid >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY images/squid-test.conf /etc/squid/squid.conf
LABEL io.bottle-egress.image=squid-test
ENTRYPOINT ["squid", "-N", "-f", "/etc/squid/squid.conf"]
