#!/usr/bin/env bash
# Usage: build-images.sh [TARGET...]   — builds air-executor-TARGET:latest for each TARGET
# (default: runner manager airflow dashboard; the airflow image holds Apache Airflow 3.3.2 and the
# provider, the dashboard image the web dashboard). Versions come from requirements.lock.
# The one place that decides how images are built here:
#  - a registry answers: the Dockerfile's defaults (public python image, pip from PyPI);
#  - none answers (this project's CI machines): a local Debian base image and a wheelhouse
#    prepared on the host, passed as BASE_IMAGE and PIP_INSTALL_ARGS. The same settings are
#    written to deploy/.build.env so `docker compose` builds the same way (Makefile compose-*).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "build-images: $*" >&2; }

targets="${*:-runner manager airflow dashboard}"
for target in $targets; do
  case "$target" in runner|manager|airflow|dashboard) ;; *) say "unknown target $target"; exit 2 ;; esac
done
AIRFLOW_SPEC="apache-airflow==3.3.2"
AIRFLOW_CONSTRAINTS=deploy/airflow/constraints-3.3.2.txt

# Airflow and its ~130 dependencies, pinned by $AIRFLOW_CONSTRAINTS. Resolving them against PyPI
# takes a while, so first ask pip, offline, whether the wheelhouse already holds them all.
airflow_wheels() {
  if "${WHEELHOUSE_PYTHON:-python3}" -m pip install -q --dry-run --ignore-installed --no-index --find-links deploy/wheels \
      -c "$AIRFLOW_CONSTRAINTS" "$AIRFLOW_SPEC" >/dev/null 2>&1; then
    say "wheelhouse already holds $AIRFLOW_SPEC and its dependencies"
  else
    say "adding $AIRFLOW_SPEC and its dependencies to the wheelhouse"
    deploy/docker/wheelhouse.sh deploy/wheels -c "$AIRFLOW_CONSTRAINTS" "$AIRFLOW_SPEC"
  fi
}

deploy/docker/ensure-engine.sh >/dev/null
public_base="python:3.11-slim"
if docker image inspect "$public_base" >/dev/null 2>&1 || timeout 60 docker pull -q "$public_base" >/dev/null 2>&1; then
  say "registry reachable: building from $public_base with packages from PyPI"
  base="$public_base"; pip_args=""
else
  say "no registry: building from a local Debian base image and a host wheelhouse"
  base="air-executor/base:bookworm"
  deploy/docker/build-base-image.sh "$base" >/dev/null
  deploy/docker/wheelhouse.sh deploy/wheels -c requirements.lock './shared[dashboard]' ./runner './manager[docker]' \
    supervisor setuptools wheel
  if [[ " $targets " == *" airflow "* ]]; then airflow_wheels; fi
  pip_args="--no-index --find-links /wheels"
fi
printf 'AIR_EXECUTOR_BASE_IMAGE="%s"\nAIR_EXECUTOR_PIP_ARGS="%s"\n' "$base" "$pip_args" > deploy/.build.env

for target in $targets; do
  say "building air-executor-$target:latest"
  docker build -q --target "$target" --build-arg BASE_IMAGE="$base" --build-arg PIP_INSTALL_ARGS="$pip_args" \
    -t "air-executor-$target:latest" . >/dev/null
done
# Rebuilds leave the previous images untagged: remove those of this project only.
docker image prune -f --filter label=air-executor.image >/dev/null
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^air-executor-' >&2
