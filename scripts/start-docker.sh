#!/usr/bin/env bash
# Makes a Docker engine reachable: uses a running one, else starts dockerd (root).
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd not installed (apt-get install docker.io)" >&2; exit 1
fi
nohup dockerd >/tmp/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not come up; see /tmp/dockerd.log" >&2
tail -20 /tmp/dockerd.log >&2
exit 1
