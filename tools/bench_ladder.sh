#!/usr/bin/env bash
# Packs every float MLPerf Tiny model in ../shared/corpus as a ladder of every
# rung kind and writes one report per model to bench-out/ladder/ (the tables
# in BENCHMARKS.md, "Ladder rungs"). Usage: bash tools/bench_ladder.sh [LADDER]
set -euo pipefail
cd "$(dirname "$0")/.."
ladder=${1:-fp32,fp16,int8,int4,int8-prune50,int8-2:4,fp32-ch25,int8-ch25}
corpus=../shared/corpus/mlperf-tiny
out=bench-out/ladder
mkdir -p "$out"
swift build -c release --product ember >&2
for m in ad01_fp32 kws_float32 resnet8_float vww96_float; do
  [ -f "$corpus/$m/model.tflite" ] || { echo "skip $m: not in $corpus" >&2; continue; }
  echo "== $m" >&2
  /usr/bin/time -f "$m: %e s, %M KB max RSS" .build/release/ember pack "$corpus/$m/model.tflite" -o "$out/$m.ember" \
    --ladder "$ladder" --calib "$corpus/$m/inputs" --targets /nonexistent --report "$out/$m.md" --report "$out/$m.json" >/dev/null
  ls -l "$corpus/$m/model.tflite" "$out/$m.ember" | awk '{print $5, $9}' >&2
  # Held out: calibrate (and bias-correct) on samples 00 and 01, measure on 02.
  rm -rf "$out/$m-calib" "$out/$m-eval"; mkdir -p "$out/$m-calib" "$out/$m-eval"
  cp "$corpus/$m/inputs"/0[01]_*.npy "$out/$m-calib/"; cp "$corpus/$m/inputs"/02_*.npy "$out/$m-eval/"
  .build/release/ember pack "$corpus/$m/model.tflite" -o "$out/$m-heldout.ember" --ladder "$ladder" \
    --calib "$out/$m-calib" --eval "$out/$m-eval" --targets /nonexistent --report "$out/$m-heldout.json" >/dev/null 2>&1
done
