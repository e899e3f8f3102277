#!/usr/bin/env bash
# Usage: deploy/dashboard/vendor-js.sh — re-make the dashboard's vendored browser libraries.
# `npm ci` installs exactly what package-lock.json pins (uPlot for charts, dagre for the task
# graph's layout), and their built files are copied into the package's static/vendor/ folder,
# where the app serves them: no CDN at run time (CI hosts are often offline). The copies are
# committed, so installing Air-Executor or building its images never needs npm; run this only
# to change a version (edit package.json, `npm install --package-lock-only`, then this).
set -euo pipefail
cd "$(dirname "$0")"
out=../../shared/air_executor/dashboard/static/vendor
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
mkdir -p "$out"
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$out/"
cp node_modules/@dagrejs/dagre/dist/dagre.min.js "$out/"
cp node_modules/uplot/LICENSE "$out/uPlot.LICENSE"
cp node_modules/@dagrejs/dagre/LICENSE "$out/dagre.LICENSE"
rm -rf node_modules
echo "vendor-js: $(cd "$out" && ls | tr '\n' ' ')" >&2
