#!/usr/bin/env bash
# Usage: build-images.sh   — builds air-executor-runner:latest and air-executor-manager:latest.
# The one place that decides how images are built here:
#  - a registry answers: the Dockerfile's defaults (public python image, pip from PyPI);
#  - none answers (this project's CI machines): a local Debian base image and a wheelhouse
#    prepared on the host, passed as BASE_IMAGE and PIP_INSTALL_ARGS. The same settings are
#    written to deploy/.build.env so `docker compose` builds the same way (Makefile compose-*).
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "build-images: $*" >&2; }

deploy/docker/ensure-engine.sh >/dev/null
public_base="python:3.11-slim"
if docker image inspect "$public_base" >/dev/null 2>&1 || timeout 60 docker pull -q "$public_base" >/dev/null 2>&1; then
  say "registry reachable: building from $public_base with packages from PyPI"
  base="$public_base"; pip_args=""
else
  say "no registry: building from a local Debian base image and a host wheelhouse"
  base="air-executor/base:bookworm"
  deploy/docker/build-base-image.sh "$base" >/dev/null
  deploy/docker/wheelhouse.sh deploy/wheels ./shared ./runner './manager[docker]' supervisor setuptools wheel
  pip_args="--no-index --find-links /wheels"
fi
printf 'AIR_EXECUTOR_BASE_IMAGE="%s"\nAIR_EXECUTOR_PIP_ARGS="%s"\n' "$base" "$pip_args" > deploy/.build.env

for target in runner manager; do
  say "building air-executor-$target:latest"
  docker build -q --target "$target" --build-arg BASE_IMAGE="$base" --build-arg PIP_INSTALL_ARGS="$pip_args" \
    -t "air-executor-$target:latest" . >/dev/null
done
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^air-executor-' >&2
