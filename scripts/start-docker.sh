#!/usr/bin/env bash
# Makes a Docker engine reachable: uses a running one, else starts dockerd (root).
# Idempotent: a second run finds the engine up; a dockerd that died and left its pid file
# behind is restarted instead of refusing to start.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd not installed (apt-get install docker.io)" >&2; exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "no Docker engine reachable and starting dockerd needs root: sudo $0" >&2; exit 1
fi
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  rm -f "$pidfile"  # left by a dockerd that is gone
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  nohup dockerd >/tmp/dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker engine $(docker version --format '{{.Server.Version}}') ready" >&2
    exit 0
  fi
  sleep 1
done
echo "dockerd did not come up; see /tmp/dockerd.log" >&2
tail -20 /tmp/dockerd.log >&2
exit 1
