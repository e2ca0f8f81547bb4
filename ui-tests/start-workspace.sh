#!/usr/bin/env bash
# Starts a throw-away workspace for the UI tests: a fresh home and state dir each run.
#   bash start-workspace.sh           plain workspace (this machine: no GPU)
#                                     (both with an 8 MB home cap, so an upload can cross it)
#   bash start-workspace.sh gpu       a workspace whose nvidia-smi is the test stand-in
#                                     (one fake H100), with a tiny quota, short ticks and
#                                     an operator token (the tests grant used hours back)
#   bash start-workspace.sh idle      a workspace that stops after seconds of inactivity
#   bash start-workspace.sh project   a course project: Reset Data with an operator template,
#                                     Submit Project on (a required project.ipynb converted
#                                     to HTML, delivered into the exchange folder $run/exchange)
# Jupyter gets Galata's in-page helper extension and exposes the app object, as Galata
# needs; authentication and XSRF stay on (unlike Galata's default test config).
set -euo pipefail
cd "$(dirname "$0")"
variant=${1:-plain}
run=".run-$variant"
rm -rf "$run" && mkdir -p "$run/home" "$run/state" "$run/lab-workspaces"
galata_dir=$(../.venv/bin/python -c 'import jupyterlab, pathlib; print(pathlib.Path(jupyterlab.__file__).parent / "galata")')
gpu_config=''
if [ "$variant" = gpu ]; then
  mkdir -p "$run/fake-gpu"
  printf '0, GPU-fake-0000, NVIDIA H100 80GB HBM3, 81559, 2048, 0\n' > "$run/fake-gpu/devices.csv"
  export FAKE_GPU_STATE_DIR="$PWD/$run/fake-gpu"
  gpu_config=$(cat <<JSON
  ,"operator": { "token": "${UI_TEST_OPERATOR_TOKEN:-ui-test-operator-token}" }
  ,"gpu": {
    "nvidia_smi": "$(cd ../sidecar/test/fixtures/bin && pwd)/nvidia-smi",
    "tick_seconds": 1,
    "utilization_poll_seconds": 1,
    "exhaustion_grace_seconds": 3,
    "quota": { "hours": ${UI_TEST_GPU_HOURS:-0.025}, "period": "week", "warn_minutes": [1] }
  }
JSON
)
fi
idle_config=''
if [ "$variant" = idle ]; then
  idle_config=$(cat <<JSON
  ,"idle": { "timeout_minutes": ${UI_TEST_IDLE_MINUTES:-0.4}, "warning_minutes": ${UI_TEST_IDLE_WARNING_MINUTES:-0.2} },
  "keep_awake": { "heartbeat_seconds": 1 }
JSON
)
fi
project_config=''
if [ "$variant" = project ]; then
  mkdir -p "$run/exchange"
  # The operator's clean home: what a reset puts back.
  mkdir -p "$run/reset-template/notebooks"
  printf '# Welcome to the course\n\nStart with notebooks/lesson1.ipynb.\n' > "$run/reset-template/welcome.md"
  printf '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n' > "$run/reset-template/notebooks/lesson1.ipynb"
  project_config=$(cat <<JSON
  ,"snapshots": { "schedule_minutes": 0 },
  "reset": { "template_dir": "$PWD/$run/reset-template" },
  "submit": {
    "enabled": true,
    "required": ["project.ipynb"],
    "conversions": [{ "from": "project.ipynb", "to": "html" }],
    "destination": { "type": "directory", "path": "$PWD/$run/exchange" }
  }
JSON
)
fi
cat > "$run/config.json" <<JSON
{
  "home": { "cap_bytes": ${UI_TEST_HOME_CAP_BYTES:-8000000} },
  "jupyter": {
    "extra_args": [
      "--LabServerApp.extra_labextensions_path=$galata_dir",
      "--LabApp.expose_app_in_browser=True",
      "--LabApp.workspaces_dir=$PWD/$run/lab-workspaces"
    ]
  }$gpu_config$idle_config$project_config
}
JSON
# The token in the environment, not on the command line (which every user of the machine can read).
GPU_WORKSPACE_TOKEN="${UI_TEST_TOKEN:-ui-test-token}" exec node ../sidecar/bin/gpu-workspace.js serve --config "$run/config.json" \
  --port "${UI_TEST_PORT:-8899}" --home "$run/home" --state-dir "$run/state"
