#!/usr/bin/env bash
# `make demo`: the main job on the embedded default (a local base folder, the
# subprocess launcher, no Docker). Starts a manager unless one already runs,
# submits the demo job, shows progress, prints the results, stops the manager
# it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
AE=.venv/bin/air-executor
export AIR_EXECUTOR_BASE_PATH="${AIR_EXECUTOR_BASE_PATH:-.air-executor}"
export AIR_EXECUTOR_LAUNCHER="${AIR_EXECUTOR_LAUNCHER:-subprocess}"

started=""
if ! "$AE" status --json >/dev/null 2>&1 || ! "$AE" status | grep -q "Manager: running"; then
  "$AE" start
  started=yes
fi
stop_manager() { if [ -n "$started" ]; then "$AE" stop; fi; }
trap stop_manager EXIT

job="demo-$(date +%Y%m%d-%H%M%S)"
"$AE" submit deploy/demo/job.yaml --name "$job" --wait --timeout 120
"$AE" results --job "$job"
