#!/usr/bin/env bash
# Runs every ONNX node conformance case of ../shared/corpus/onnx-node and writes docs/ONNX_CONFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
EMBER_ONNX_REPORT="$PWD/docs/ONNX_CONFORMANCE.md" swift test --filter ONNXConformanceTests
