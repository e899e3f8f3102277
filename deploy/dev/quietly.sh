#!/usr/bin/env bash
# Usage: quietly.sh LOG COMMAND [ARGS]...   — run COMMAND with its output appended to LOG;
# print nothing if it succeeds, and the end of LOG if it fails (with COMMAND's exit code).
# `make install` runs pip through this: a successful install says nothing, a failed one says why.
set -uo pipefail
log="$1"; shift
mkdir -p "$(dirname "$log")"
echo "\$ $*" >>"$log"
"$@" >>"$log" 2>&1
code=$?
if [ "$code" -ne 0 ]; then
  echo "error: '$*' failed (exit $code); the end of $log:" >&2
  tail -n 40 "$log" >&2
fi
exit "$code"
