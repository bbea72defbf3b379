#!/usr/bin/env bash
# Pack and run every built ONNX zoo entry with Ember, compare with ONNX Runtime's outputs,
# and write docs/ONNX_ZOO.md.
#   bash tools/zoo/check_onnx.sh [--ember PATH] [--only NAME[,NAME]] [--flavours F[,F]] [--work DIR]
# Build the zoo first: python3 tools/zoo/make_onnx_zoo.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="$here/.venv-onnx-zoo/bin/python"
if [ ! -x "$py" ]; then
  echo "check_onnx.sh: $here/.venv-onnx-zoo is missing; run python3 tools/zoo/make_onnx_zoo.py first (it creates it)" >&2
  exit 1
fi
cd "$here/../.."
exec "$py" "$here/check_onnx.py" "$@"
