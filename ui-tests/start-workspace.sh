#!/usr/bin/env bash
# Starts a throw-away workspace for the UI tests: a fresh home and state dir each run.
# Jupyter gets Galata's in-page helper extension and exposes the app object, as Galata
# needs; authentication and XSRF stay on (unlike Galata's default test config).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf .run && mkdir -p .run/home .run/state .run/lab-workspaces
galata_dir=$(../.venv/bin/python -c 'import jupyterlab, pathlib; print(pathlib.Path(jupyterlab.__file__).parent / "galata")')
cat > .run/config.json <<JSON
{
  "jupyter": {
    "extra_args": [
      "--LabServerApp.extra_labextensions_path=$galata_dir",
      "--LabApp.expose_app_in_browser=True",
      "--LabApp.workspaces_dir=$PWD/.run/lab-workspaces"
    ]
  }
}
JSON
exec node ../sidecar/bin/gpu-workspace.js serve --config .run/config.json \
  --port "${UI_TEST_PORT:-8899}" --home .run/home --state-dir .run/state --token "${UI_TEST_TOKEN:-ui-test-token}"
