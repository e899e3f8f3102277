#!/usr/bin/env bash
# Usage: build-base-image.sh [TAG]   (default TAG: air-executor/base:bookworm)
# Builds a local Debian bookworm base image with Python 3.11, venv and pip.
# Why: no container registry is reachable here, so `FROM python:...` cannot be pulled; we
# debootstrap a minimal rootfs from the Debian mirror apt already uses and `docker import` it.
# Python 3.11 matches the host's, so wheels built on the host (wheelhouse.sh) install in it.
# Idempotent: does nothing when the image already exists.
set -euo pipefail

TAG="${1:-air-executor/base:bookworm}"
SUITE=bookworm
# tini installs fine with --variant=minbase (it has no dependencies beyond libc); images may use
# ENTRYPOINT ["/usr/bin/tini", "--"] to reap zombies.
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,tini

say() { echo "build-base-image: $*" >&2; }

"$(dirname "$0")/ensure-engine.sh" || { say "no Docker engine (run ensure-engine.sh)"; exit 1; }
if docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG already exists"; exit 0
fi

# The mirror apt already uses for "$SUITE" (the only Debian host reachable), from one-line
# (deb [opts] URI suite comps) and deb822 (.sources: Types/URIs/Suites/Enabled) apt sources.
find_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v s="$SUITE" '$1 == "deb" { i = 2
      if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) == s) print $i }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v s="$SUITE" 'BEGIN { RS = "" } {
      t = u = su = ""; en = "yes"; n = split($0, L, "\n")
      for (j = 1; j <= n; j++) { l = L[j]; if (l ~ /^[ \t]*#/) continue
        k = tolower(l); sub(/:.*/, "", k); v = l; sub(/^[^:]*:[ \t]*/, "", v)
        if (k == "types") t = v; else if (k == "uris") u = v
        else if (k == "suites") su = v; else if (k == "enabled") en = tolower(v) }
      if (en != "no" && (" " t " ") ~ / deb / && (" " su " ") ~ (" " s " ")) { split(u, U, " "); print U[1] } }' "$f"
  done
}
MIRROR="${BASE_IMAGE_MIRROR:-$(find_mirror | sed -n 1p)}"
[ -n "$MIRROR" ] || { say "no apt source for $SUITE found; set BASE_IMAGE_MIRROR"; exit 1; }

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq debootstrap >/dev/null
fi

ROOTFS="$(mktemp -d /var/tmp/air-executor-rootfs.XXXXXX)"
cleanup() {
  # debootstrap may leave /proc or /sys mounted in the rootfs if it fails: unmount before removing,
  # and never let rm cross into another filesystem.
  grep -o " $ROOTFS/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

say "debootstrap $SUITE from $MIRROR (about 40 s)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -n 20 "$ROOTFS.log" >&2; say "debootstrap failed; log: $ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$TAG" >/dev/null

version="$(docker run --rm "$TAG" python3 --version)"
case "$version" in
  "Python 3.11."*) say "built $TAG ($version)" ;;
  *) docker image rm "$TAG" >/dev/null; say "expected Python 3.11 in $TAG, got: $version"; exit 1 ;;
esac
