# The bottle's egress container: the same `bottle egress run` as on the host.
#
#   docker build -f images/egress.Dockerfile -t bottle-egress .        # online, python:3.13-slim
#   bottle image build --offline                                        # debootstrap base + wheelhouse
#
# BASE needs python3 >= 3.12 (mitmproxy 12). WHEELHOUSE, a directory inside the build
# context holding every wheel (this project's included), makes the build offline: nothing is
# fetched from a package index, so it works where the container cannot reach or verify one.
ARG BASE=python:3.13-slim

FROM ${BASE} AS build
ARG WHEELHOUSE=
LABEL io.bottle-egress.build-stage=bottle-egress
COPY . /src
# The venv has no pip of its own: the build stage's pip (or the wheelhouse's pip wheel, run
# straight from the .whl file) installs into it, so the final image carries no installer.
RUN set -eu; \
    python3 -m venv --without-pip /opt/bottle; \
    if [ -n "$WHEELHOUSE" ]; then \
      pip_whl=$(ls /src/"$WHEELHOUSE"/pip-*.whl | head -n1); \
      python3 "$pip_whl/pip" --python /opt/bottle/bin/python install --no-index --no-compile \
        --disable-pip-version-check --find-links /src/"$WHEELHOUSE" /src; \
    else \
      python3 -m pip --python /opt/bottle/bin/python install --no-compile \
        --disable-pip-version-check /src; \
    fi; \
    /opt/bottle/bin/python -m compileall -q /opt/bottle/lib; \
    BOTTLE_EGRESS_CACHE=off /opt/bottle/bin/python -c 'import cli.commands, mitmproxy'

FROM ${BASE}
COPY --from=build /opt/bottle /opt/bottle
# The built-in default policy, where egress.policy looks for it outside a source checkout.
COPY policies/default.yaml /usr/share/bottle-egress/policies/default.yaml
# The DLP rule databases, compiled once here instead of at every start of every bottle
# (seconds of CPU each). Loaded only after their hash checks out; recompiled in memory when missing,
# damaged or built for another CPU. No user cache at run time: $HOME is the CA's tmpfs.
ENV BOTTLE_EGRESS_CACHE=off
RUN set -eu; \
    /opt/bottle/bin/bottle egress precompile --cache-dir /usr/share/bottle-egress/cache \
      --policy /usr/share/bottle-egress/policies/default.yaml; \
    chmod -R a+rX,go-w /usr/share/bottle-egress/cache
# An unprivileged user; /run/bottle (the CA's tmpfs) and /export (the public CA files'
# volume) belong to it, as do /etc/bottle (policy) and /var/lib/bottle (flow recordings).
# The launcher mounts the first two; the image only prepares their owners.
# No setuid or setgid file either: nothing in this container ever changes user.
RUN set -eu; \
    mkdir -p /run/bottle /export /etc/bottle /var/lib/bottle; \
    chown 10001:10001 /run/bottle /export /etc/bottle /var/lib/bottle; \
    chmod 0700 /run/bottle; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
# MALLOC_ARENA_MAX: the proxy runs Python code on one thread (the GIL), so glibc's extra
# per-thread arenas (DNS lookups run in executor threads) only add resident memory.
# PYDANTIC_DISABLE_PLUGINS: no third-party code joins the policy models (and no scan of
# every installed package's entry points at start).
ENV PATH=/opt/bottle/bin:$PATH HOME=/run/bottle PYTHONDONTWRITEBYTECODE=1 MALLOC_ARENA_MAX=2 \
    PYDANTIC_DISABLE_PLUGINS=__all__
USER 10001:10001
LABEL io.bottle-egress.image=egress
ENTRYPOINT ["/opt/bottle/bin/bottle"]
CMD ["egress", "run", "--listen", "0.0.0.0:8080"]
