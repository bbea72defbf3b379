#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine (Swift 6.x already installed) for Ember:
# installs libzstd-dev (and pkg-config) with apt-get — through sudo only when
# not root — then, unless --deps-only is given, builds Ember in release mode and
# runs `ember demo`.
#
#   bash tools/bootstrap.sh              # install what is missing, run the demo
#   bash tools/bootstrap.sh --deps-only  # only install what is missing
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/include/zstd.h ] || need+=(libzstd-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -ne 0 ] && as_root=(sudo)
  echo "bootstrap: installing ${need[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" != "--deps-only" ]; then
  swift run -c release ember demo --output demo-out
fi
