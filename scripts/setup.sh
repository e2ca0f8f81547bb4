#!/usr/bin/env bash
# Sets up everything the workspace needs on a fresh Debian 12 machine, and is
# cheap to run again: Debian packages, the Python virtual environment with
# JupyterLab, npm dependencies, the build, and the extension installed into
# the virtual environment. Set WITH_BROWSER=1 to also install Chromium (tests).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. Debian packages: restic (snapshots), util-linux's setpriv (no orphaned Jupyter), Chromium for UI tests.
want=()
command -v restic >/dev/null || want+=(restic)
command -v setpriv >/dev/null || want+=(util-linux)
if [ "${WITH_BROWSER:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then want+=(chromium); fi
if [ ${#want[@]} -gt 0 ]; then
  say "installing Debian packages: ${want[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${want[@]}"
fi

# 2. Python virtual environment with JupyterLab. It is made from the system's Python when there is
# one: Jupyter may run as the notebook user (jupyter.user), who must be able to run that Python, and
# an interpreter under root's home (pyenv) is not reachable for anyone else.
base_python=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then base_python=/usr/bin/python3; fi
base_real=$(readlink -f "$(command -v "$base_python")")
if [ -x .venv/bin/python ] && [ "$(cat .venv/.base-python 2>/dev/null)" != "$base_real" ]; then
  say "re-creating .venv from $base_real"
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment in .venv"
  "$base_python" -m venv .venv
  echo "$base_real" > .venv/.base-python
fi
req_stamp=".venv/.requirements.sha256"
req_hash=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ]; then
  say "installing JupyterLab into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  echo "$req_hash" > "$req_stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"

# 3. npm dependencies (the lock file decides; Playwright must not try to download a browser).
lock_stamp="node_modules/.package-lock.sha256"
lock_hash=$(cat package-lock.json package.json sidecar/package.json ui-tests/package.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_hash" ]; then
  say "installing npm dependencies"
  # `npm install`, not `npm ci`: the lock file pins every version, but npm ci refuses a lock that lacks
  # other platforms' optional rspack bindings, which this machine's registry does not serve.
  # Native modules (better-sqlite3, node-pty) compile against the Node headers Debian ships in /usr/include/node.
  [ -d /usr/include/node ] && export npm_config_nodedir=/usr
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$lock_stamp"
fi

# 4. Build: frontend library, sidecar, labextension; then install the Python package (it ships the labextension).
say "building"
npm run --silent build
.venv/bin/pip install -q --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall .
say "ready"
