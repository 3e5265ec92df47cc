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

say() { echo "bottle-egress setup: $*" >&2; }

if [ ! -x .venv/bin/python ] || ! ok_python .venv/bin/python; then
  py=$(find_python) || { echo "bottle-egress needs Python >= 3.12 (mitmproxy 12); install python3.12" >&2; exit 1; }
  # progress goes to stderr always (--quiet included): the first run takes a while
  say "creating .venv with $("$py" -c 'import sys; print(sys.version.split()[0])') (first run only) ..."
  rm -rf .venv
  "$py" -m venv .venv
fi

# One marker for both installs: line 1 the pyproject.toml hash, line 2 the extras installed.
# An install with the test extra also satisfies a plain one, so `./bottle` after
# `./scripts/test` reinstalls nothing.
stamp=".venv/.bottle-installed"
hash="$(sha256sum pyproject.toml | cut -c1-16)"
have_hash="$(sed -n 1p "$stamp" 2>/dev/null || true)"
have_extras="$(sed -n 2p "$stamp" 2>/dev/null || true)"
if [ "$have_hash" != "$hash" ] || { [ -n "$extras" ] && [ "$have_extras" != "$extras" ]; }; then
  # keep the extras already installed when pyproject.toml changed
  [ "$have_hash" != "$hash" ] && [ -z "$extras" ] && extras="$have_extras"
  say "installing bottle-egress$extras into .venv (a minute on the first run; log: .venv/install.log) ..."
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  # always with the `native` extra (mypyc and setuptools: the compiled hostname scorer below)
  case "$extras" in "[test]") spec=".[test,native]" ;; *) spec=".[native]" ;; esac
  if ! .venv/bin/python -m pip install --disable-pip-version-check -e "$spec" >.venv/install.log 2>&1 \
      || ! .venv/bin/python -c 'import egress, mitmproxy' >>.venv/install.log 2>&1; then
    tail -30 .venv/install.log >&2
    echo "installation failed (full log: .venv/install.log)" >&2
    exit 1
  fi
  printf '%s\n%s\n' "$hash" "$extras" > "$stamp"
  [ "$quiet" = 1 ] || say "done"
fi

# The hostname scorer compiled to C by mypyc (egress/scan/hostnames/native.py): built once per
# change of its sources (a minute), a no-op (~50 ms) when up to date. Without a C compiler it
# says so in one line and the pure Python runs: the same scores, slower.
native=(.venv/bin/python egress/scan/hostnames/native.py build)
[ "$quiet" = 1 ] && native+=(--quiet)
"${native[@]}"
