#!/usr/bin/env bash
# Usage: wheelhouse.sh OUTDIR REQ...   REQ: a local project folder (./shared, './shared[dashboard]'),
# a spec ('docker>=7') or pip options (-c requirements.lock)
# Fills OUTDIR with wheels for REQ and all their dependencies, for CPython 3.11 on linux x86_64,
# so a Dockerfile FROM the local base image can `pip install --no-index --find-links OUTDIR ...`.
# Why: containers here cannot reach PyPI (a TLS-intercepting proxy whose CA they do not trust),
# while the host's pip can. The host's interpreter must itself be 3.11/x86_64 (pip wheel builds
# and picks wheels for the running interpreter); choose another with WHEELHOUSE_PYTHON=python3.11.
# Idempotent: wheels already in OUTDIR are reused; local projects are rebuilt every time.
set -euo pipefail

say() { echo "wheelhouse: $*" >&2; }
[ $# -ge 2 ] || { say "usage: $0 OUTDIR REQ..."; exit 2; }
PY="${WHEELHOUSE_PYTHON:-python3}"
"$PY" -c 'import sys, platform; sys.exit(sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64")' \
  || { say "$PY is not CPython 3.11 on x86_64; set WHEELHOUSE_PYTHON"; exit 1; }

OUT="$(mkdir -p "$1" && cd "$1" && pwd)"; shift
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
reqs=()
for r in "$@"; do
  extras=""
  if [[ "$r" == *"["*"]" && -d "${r%%\[*}" ]]; then extras="[${r#*\[}"; r="${r%%\[*}"; fi
  if [ -d "$r" ]; then
    # Build local projects from a clean copy: setuptools writes build/ and *.egg-info into the
    # source tree, and a stale build/lib could leak removed modules into the wheel.
    d="$TMP/src$(( ${#reqs[@]} ))"; mkdir "$d"
    tar -C "$r" -c --exclude-vcs --exclude=.venv --exclude=__pycache__ --exclude='*.egg-info' \
      --anchored --exclude=./build --exclude=./dist . | tar -C "$d" -x
    reqs+=("$d$extras")
  else
    reqs+=("$r")
  fi
done

"$PY" -m pip wheel -q --wheel-dir "$OUT" --find-links "$OUT" "${reqs[@]}"
say "$(find "$OUT" -maxdepth 1 -name '*.whl' | wc -l) wheels in $OUT"
