#!/usr/bin/env bash
# Pack and run every built TFLite zoo entry with Ember, compare with the LiteRT
# reference-kernel outputs, and write docs/TFLITE_ZOO.md.
#   bash tools/zoo/check.sh [--ember PATH] [--only NAME[,NAME]] [--flavours F[,F]] [--work DIR]
# Build the zoo first: python3 tools/zoo/make_tflite_zoo.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="$here/.venv/bin/python"
if [ ! -x "$py" ]; then
  echo "check.sh: $here/.venv is missing; run python3 tools/zoo/make_tflite_zoo.py first (it creates it)" >&2
  exit 1
fi
cd "$here/../.."
exec "$py" "$here/check.py" "$@"
