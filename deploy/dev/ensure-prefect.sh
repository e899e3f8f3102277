#!/usr/bin/env bash
# Make sure Prefect 3 and this checkout's library are installed for the Prefect tests
# (tests/prefect) in their own venv, .venv-prefect: Prefect's pins clash with Airflow's, so it
# cannot share the project's venv. Prefect comes from PyPI; the library is installed editable,
# so the tests run this checkout. Idempotent; prints the venv's folder.
set -euo pipefail
say() { echo "ensure-prefect: $*" >&2; }
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$REPO/.venv-prefect"
PREFECT="prefect==3.9.1"
STAMP="$VENV/.installed-$(cat "$REPO/shared/pyproject.toml" | sha1sum | cut -c1-12)"

if [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
  echo "$VENV"
  exit 0
fi
say "installing $PREFECT and ./shared[prefect] into $VENV"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "$PREFECT" -e "$REPO/shared[prefect]" >"$VENV/install.log" 2>&1 \
  || { tail -20 "$VENV/install.log" >&2; exit 1; }
touch "$STAMP"
echo "$VENV"
