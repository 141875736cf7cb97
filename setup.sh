#!/usr/bin/env bash
# Creates (or refreshes) fairgate's virtual environment with the pinned TFX 1.16 stack.
#
#   bash setup.sh            # venv at ./.venv (or $FAIRGATE_VENV)
#   bash setup.sh --test     # also Debian's chromium, for the report's browser test
#
# Idempotent: when requirements.lock, the extra pins, pyproject.toml and this script are unchanged
# since the last successful run, it only checks the stamp and exits (seconds).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${FAIRGATE_VENV:-$here/.venv}"
stamp="$venv/.fairgate-stamp"

log() { printf '[fairgate setup] %s\n' "$*" >&2; }

find_python310() {
  local candidate
  for candidate in "${FAIRGATE_PYTHON:-}" "$(command -v python3.10 || true)"; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  local roots=()
  if command -v pyenv >/dev/null 2>&1; then roots+=("$(pyenv root)"); fi
  roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
  for root in "${roots[@]}"; do
    for candidate in "$root"/versions/3.10*/bin/python; do
      if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
  done
  return 1
}

install_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "ERROR: the tests need Chromium (headless) and apt-get is not available; install"
    log "chromium with your package manager, then run this again."
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  log "installing Debian's chromium for the report's browser test (about 30 s)"
  $sudo apt-get install -y -qq chromium >/dev/null 2>&1 || {
    $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq chromium >/dev/null; }
  log "chromium: $(chromium --version 2>/dev/null || echo 'not found')"
}

case "${1:-}" in
  --test) install_chromium ;;
  "") ;;
  *) log "ERROR: unknown option '$1' (usage: bash setup.sh [--test])"; exit 2 ;;
esac

want="$(cat "$here/requirements.lock" "$here/requirements-nodeps.txt" "$here/pyproject.toml" "$here/setup.sh" "$here/deploy/install_stack.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  log "environment up to date: $venv"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  if ! py="$(find_python310)"; then
    log "ERROR: fairgate needs Python 3.10 (TFX 1.16 supports Python >=3.9,<3.11)."
    log "Install it, e.g. 'pyenv install 3.10.13' or your distribution's python3.10 package,"
    log "or point FAIRGATE_PYTHON at a 3.10 interpreter, then run this again."
    exit 1
  fi
  log "creating $venv with $py"
  "$py" -m venv "$venv"
fi

start=$(date +%s)
log "installing the pinned stack (a fresh install takes a few minutes)"
# One install script for this venv and the project image (deploy/Dockerfile).
bash "$here/deploy/install_stack.sh" "$venv/bin/python" all
echo "$want" > "$stamp"
log "ready in $(( $(date +%s) - start ))s: $venv"
