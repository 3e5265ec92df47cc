#!/usr/bin/env bash
# Debian packages the end-to-end tests use: real clients, a real forward proxy standing in
# for pipelock, a Docker engine and debootstrap for the launcher's images; a C compiler for the
# compiled hostname scorer (scripts/setup.sh builds it). Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(curl git openssl squid nginx-light util-linux iproute2 procps ca-certificates docker.io debootstrap gcc libc6-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# squid's package starts a system instance on some machines; the tests run their own.
if command -v service >/dev/null 2>&1; then
  service squid stop >/dev/null 2>&1 || true
  service nginx stop >/dev/null 2>&1 || true
fi
