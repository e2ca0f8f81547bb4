#!/usr/bin/env bash
# Sets everything up, then starts the workspace: JupyterLab behind the sidecar,
# on the embedded defaults. Extra arguments go to `gpu-workspace serve`.
#   PORT (8888), WORKSPACE_HOME (./workspace-home), STATE_DIR (./.state)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec npx --no-install gpu-workspace serve \
  --port "${PORT:-8888}" \
  --home "${WORKSPACE_HOME:-$PWD/workspace-home}" \
  --state-dir "${STATE_DIR:-$PWD/.state}" \
  "$@"
