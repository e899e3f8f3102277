#!/usr/bin/env bash
# Make sure Apache Airflow 3 and its Docker provider are installed in their own venv for
# `make bench-airflow` (bench/airflow_side_by_side.py), apart from the project's venv so that
# the provider never enters requirements.lock. Pinned by deploy/airflow/constraints-3.3.2.txt,
# from PyPI. Idempotent; prints the venv's folder.
set -euo pipefail
say() { echo "ensure-bench-airflow: $*" >&2; }
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${AIR_EXECUTOR_BENCH_AIRFLOW:-${XDG_CACHE_HOME:-$HOME/.cache}/air-executor/bench-airflow}"
WANT=(apache-airflow==3.3.2 apache-airflow-providers-docker==4.6.1)

if [ -x "$VENV/bin/airflow" ] && "$VENV/bin/python" -c 'import airflow.providers.docker' 2>/dev/null; then
  echo "$VENV"
  exit 0
fi
say "installing ${WANT[*]} into $VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -c "$REPO/deploy/airflow/constraints-3.3.2.txt" \
  "${WANT[@]}" >"$VENV/install.log" 2>&1 || { tail -20 "$VENV/install.log" >&2; exit 1; }
echo "$VENV"
