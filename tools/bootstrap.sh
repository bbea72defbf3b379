#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine (Swift 6.x already installed) for Ember:
# installs libzstd-dev, libsodium-dev (and pkg-config, curl) with apt-get — through sudo only when
# not root — then, unless --deps-only is given, builds Ember in release mode,
# packs the bundled int8 keyword-spotting model (MLPerf Tiny, Apache-2.0) and
# runs it on a real recorded input, printing the top classes.
#
#   bash tools/bootstrap.sh              # install what is missing, run the demo
#   bash tools/bootstrap.sh --deps-only  # only install what is missing
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/include/zstd.h ] || need+=(libzstd-dev)
[ -f /usr/include/sodium.h ] || need+=(libsodium-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# The emberd tests drive the daemon with curl.
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -ne 0 ] && as_root=(sudo)
  echo "bootstrap: installing ${need[*]}" >&2
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--deps-only" ]; then
  # The test suite drives emberd with the unchanged KServe/Triton client when this venv has it
  # (Tests/EmberCLITests/EmberdTests.swift); without network the test is skipped, visibly.
  venv=tools/.venv-triton
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tritonclient.http" 2>/dev/null; then
    echo "bootstrap: installing tritonclient[http] into $venv (for the emberd client test)" >&2
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "tritonclient[http]" numpy; } >/dev/null 2>&1; then
      echo "SKIP: bootstrap: could not install tritonclient[http]; the emberd Triton-client test will be skipped" >&2
    fi
  fi
else
  swift build -c release --product ember
  kws=Tests/Fixtures/mlperf-tiny/kws_int8
  mkdir -p demo-out
  .build/release/ember pack "$kws/model.tflite" -o demo-out/kws_int8.ember
  .build/release/ember run demo-out/kws_int8.ember --input "input_1=$kws/inputs/00_0.npy" \
    --top 3 --labels "$kws/labels.txt"
fi
