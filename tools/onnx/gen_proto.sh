#!/usr/bin/env bash
# Regenerates Sources/EmberImport/ONNX/onnx.pb.swift from tools/onnx/onnx.proto (onnx 1.23.2, Apache-2.0).
# Needs protoc (apt: protobuf-compiler) and builds protoc-gen-swift from the resolved swift-protobuf once
# (slow; CI never runs this — the generated file is committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift package resolve
swift build -c release --product protoc-gen-swift --package-path .build/checkouts/swift-protobuf --scratch-path .build/protoc-gen-swift
cd tools/onnx
protoc --plugin=../../.build/protoc-gen-swift/release/protoc-gen-swift --swift_out=../../Sources/EmberImport/ONNX \
  --swift_opt=Visibility=Internal onnx.proto
