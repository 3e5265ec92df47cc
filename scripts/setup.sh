#!/usr/bin/env bash
# Creates .venv with Python >= 3.12 and installs bottle-egress (and, with --test, the test
# tools) into it. Idempotent and fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
quiet=0
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]" ;;
    --quiet) quiet=1 ;;
    *) echo "usage: scripts/setup.sh [--test] [--quiet]" >&2; exit 2 ;;
  esac
done

ok_python() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
  local c
  for c in "${PYTHON:-}" python3 python3.13 python3.12; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && ok_python "$c" && { command -v "$c"; return 0; }
  done
  # pyenv-managed interpreters that are installed but not selected
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    [ -x "$c" ] && ok_python "$c" && { echo "$c"; return 0; }
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! ok_python .venv/bin/python; then
  py=$(find_python) || { echo "bottle-egress needs Python >= 3.12 (mitmproxy 12); install python3.12" >&2; exit 1; }
  rm -rf .venv
  "$py" -m venv .venv
fi

stamp=".venv/.bottle-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)$extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ "$quiet" = 1 ] || echo "installing bottle-egress$extras into .venv ..." >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".$extras" >.venv/install.log 2>&1 \
      || ! .venv/bin/python -c 'import egress, mitmproxy' >>.venv/install.log 2>&1; then
    tail -30 .venv/install.log >&2
    echo "installation failed (full log: .venv/install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
