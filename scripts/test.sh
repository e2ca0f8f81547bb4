#!/usr/bin/env bash
# Sets everything up (Chromium included), then runs every test suite: frontend
# unit tests, sidecar integration tests against a real Jupyter server, and the
# Galata UI tests in Debian's Chromium through the sidecar. Each runner's
# summary is printed; the exit code is non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
WITH_BROWSER=1 bash scripts/setup.sh || { echo "setup failed"; exit 1; }
export PATH="$PWD/.venv/bin:$PATH"

failed=()
run_suite() {
  local name=$1; shift
  printf '\n\033[1m=== %s ===\033[0m\n' "$name"
  if "$@"; then echo "--- $name: ok"; else echo "--- $name: FAILED"; failed+=("$name"); fi
}

run_suite "frontend unit tests" npm run --silent test:frontend
run_suite "sidecar integration tests" npm run --silent test:sidecar
run_suite "Python tests (workspace_utils, keep-awake; pytest)" .venv/bin/python -m pytest -q -p no:cacheprovider test/python
# Free ports for the UI tests' four workspaces, so a workspace already running here does not collide.
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export UI_TEST_PORT=${UI_TEST_PORT:-$(free_port)} UI_TEST_GPU_PORT=${UI_TEST_GPU_PORT:-$(free_port)} UI_TEST_IDLE_PORT=${UI_TEST_IDLE_PORT:-$(free_port)} UI_TEST_PROJECT_PORT=${UI_TEST_PROJECT_PORT:-$(free_port)}
run_suite "UI tests (Galata, Chromium)" npm run --silent test:ui

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED suites: ${failed[*]}"
  exit 1
fi
echo "All test suites passed."
