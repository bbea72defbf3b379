#!/usr/bin/env bash
# Fuzzes one untrusted-input reader with libFuzzer + AddressSanitizer.
#
#   bash tools/fuzz.sh TARGET SECONDS [libFuzzer flags…]
#
# TARGET: package (load + prepare + run every variant of an .ember file),
# tflite (import + prepare), npy, config (envelope / device profile), trace.
# Builds Sources/EmberFuzz with -sanitize=fuzzer,address into .build-fuzz,
# seeds fuzz/TARGET/corpus from the committed fixtures (packages are packed
# from them with the normal build), runs for SECONDS, and leaves findings in
# fuzz/TARGET/findings. A finding replays without sanitizers with
#   swift run ember-fuzz TARGET fuzz/TARGET/findings/crash-…
# and becomes a regression test (Tests/EmberFormatTests/FuzzRegressionTests.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz.sh package|tflite|npy|config|trace SECONDS}
seconds=${2:?usage: tools/fuzz.sh TARGET SECONDS}
shift 2
case "$target" in package|tflite|npy|config|trace) ;; *) echo "fuzz.sh: unknown target '$target'" >&2; exit 2 ;; esac

dir=fuzz/$target
mkdir -p "$dir/corpus" "$dir/findings"
seed() { cp "$1" "$dir/corpus/seed-$(basename "$(dirname "$1")")-$(basename "$1")"; }
case "$target" in
  package)
    swift build --product ember >&2
    ember=.build/debug/ember
    tmp=$(mktemp -d)
    "$ember" demo --output "$tmp/demo" >/dev/null
    cp "$tmp/demo/demo.ember" "$dir/corpus/seed-demo.ember"
    "$ember" pack Tests/Fixtures/mlperf-tiny/kws_int8/model.tflite -o "$dir/corpus/seed-kws.ember" >/dev/null
    f=Tests/Fixtures/mlperf-tiny/resnet8_float
    "$ember" pack $f/model.tflite -o "$dir/corpus/seed-r8-ladder.ember" --ladder fp16,int8-prune50 --calib $f/inputs \
      --targets targets >/dev/null
    rm -rf "$tmp" ;;
  tflite) for m in Tests/Fixtures/mlperf-tiny/*/model.tflite; do seed "$m"; done ;;
  npy) for n in Tests/Fixtures/mlperf-tiny/*/inputs/00_0.npy Tests/Fixtures/mlperf-tiny/*/outputs_ref/00_0.npy; do
         cp "$n" "$dir/corpus/seed-$(echo "$n" | tr / _)"; done ;;
  config) for t in targets/*.toml targets/envelopes/*.toml; do seed "$t"; done ;;
  trace) for t in targets/traces/*.csv; do head -c 20000 "$t" > "$dir/corpus/seed-$(basename "$t")"; done ;;
esac

swift build -c release --product ember-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld \
  -Xcc -fsanitize=fuzzer-no-link,address >&2
bin=.build-fuzz/release/ember-fuzz

# Swift's own crash reporter is slow and redundant under ASan.
export SWIFT_BACKTRACE=enable=no EMBER_FUZZ_TARGET=$target
exec "$bin" "$dir/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$dir/findings/" -print_final_stats=1 "$@"
