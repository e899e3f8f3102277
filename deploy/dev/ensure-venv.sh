#!/usr/bin/env bash
# Usage: ensure-venv.sh VENV — make sure VENV exists and that other users can run it.
#
# A root manager runs each task as its job folder's owner, never as root (README "Trust
# model"), so runners and tasks must be able to run the venv's interpreter as another user.
# As root that rules out an interpreter under /root (0700): use Debian's /usr/bin/python3,
# and give other users traverse (x, not read) permission on the folders above the checkout.
set -euo pipefail
venv="$1"
say() { echo "ensure-venv: $*" >&2; }

python="${PYTHON:-python3}"
if [ "$(id -u)" = 0 ] && [ -z "${PYTHON:-}" ] && /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
  python=/usr/bin/python3
fi
want="$(dirname "$(readlink -f "$(command -v "$python")")")"
have="$(sed -n 's/^home = //p' "$venv/pyvenv.cfg" 2>/dev/null || true)"
if [ ! -x "$venv/bin/python" ] || [ "$(readlink -f "$have" 2>/dev/null)" != "$want" ]; then
  [ -d "$venv" ] && say "recreating $venv with $python (it was made from ${have:-another interpreter})"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

if [ "$(id -u)" = 0 ]; then
  # Every folder from / down to the checkout must let others through.
  dir="$(readlink -f "$venv")"
  while [ "$dir" != "/" ]; do
    dir="$(dirname "$dir")"
    if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$dir" 2>/dev/null; then
      say "giving other users traverse permission (o+x) on $dir, so tasks run as their job's owner can reach the venv"
      chmod o+x "$dir"
    fi
  done
fi
