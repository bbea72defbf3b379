#!/usr/bin/env bash
# Cross-compiles the C kernels (every file of CEmberKernels) and tools/arm64/neon_test.c for
# AArch64 with aarch64-linux-gnu-gcc and runs the NEON differential test under
# qemu-aarch64-static, once on a plain ARMv8-A CPU model and once on one with dotprod and i8mm.
#
#     bash tools/test-arm64.sh            # installs gcc-aarch64-linux-gnu and qemu-user-static if missing
#
# -ffp-contract=off: GCC would otherwise fuse the reference's separate multiply and add into
# FMAs, which the bit-exact checks of the dynamic-range conv must not see.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  echo "test-arm64: installing gcc-aarch64-linux-gnu and qemu-user-static"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
         $SUDO apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user-static >/dev/null; }; then
    echo "SKIP: test-arm64: could not install the AArch64 cross compiler and qemu; NEON kernels NOT tested" >&2
    exit 0
  fi
fi
out="${TMPDIR:-/tmp}/ember-neon-test-$$"
trap 'rm -f "$out"' EXIT
aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Werror -Wno-unused-function -ffp-contract=off -static \
  -I Sources/CEmberKernels/include -I Sources/CEmberKernels \
  Sources/CEmberKernels/*.c tools/arm64/neon_test.c -lm -o "$out"
# The reference kernels as SwiftPM builds them on an ARM machine (clang, FP contraction on by default) must
# hold no fused multiply-add: the kernels reproduce their separately rounded products and sums
# (Sources/CEmberKernels/ember_fp_contract.h).
if command -v clang >/dev/null && command -v llvm-objdump >/dev/null; then
  clang --target=aarch64-linux-gnu -O2 -c -I Sources/CEmberKernels/include -I Sources/CEmberKernels \
    Sources/CEmberKernels/ember_reference.c -o "$out.o"
  fused=$(llvm-objdump -d "$out.o" | grep -cE '\sf(n?madd|n?msub|mla|mls)\s' || true)
  rm -f "$out.o"
  if [ "$fused" != 0 ]; then
    echo "FAIL: clang fused $fused multiply-adds in the AArch64 reference kernels" >&2
    exit 1
  fi
  echo "test-arm64: the reference kernels under clang for AArch64 hold no fused multiply-add"
else
  echo "SKIP: test-arm64: no clang and llvm-objdump; the reference kernels' FP contraction NOT checked"
fi
# Every entry of the NEON tables that a Swift kernel family reads (simd("family") { $0.field }) needs its
# implementation name, `family_neon`, in KernelImplementation (Sources/EmberKernels/Kernels.swift): without
# it simd() finds no name and on ARM the family runs the scalar reference, silently.
neon_fields=$(sed -n '/define NEON_SHARED_ENTRIES/,/^$/p;/ember_neon_kernels = {/,/};/p' \
  Sources/CEmberKernels/ember_arm_neon.c | grep -oE '^\s+\.[a-z0-9_]+ = ' | tr -d ' .=' | sort -u)
missing=""
while read -r family field; do
  if grep -qx "$field" <<<"$neon_fields" && ! grep -q "\"${family}_neon\"" Sources/EmberKernels/Kernels.swift; then
    missing="$missing ${family}_neon"
  fi
done < <(grep -ohE 'simd(IfAny)?\("[a-z0-9_]+"(, *\{|\) *\{) ?\$0\.[a-z0-9_]+' Sources/EmberKernels/*.swift |
         sed -E 's/simd(IfAny)?\("([a-z0-9_]+)".*\$0\.([a-z0-9_]+)/\2 \3/' | sort -u)
if [ -n "$missing" ]; then
  echo "FAIL: NEON kernels without an implementation name in KernelImplementation:$missing" >&2
  exit 1
fi
echo "test-arm64: every NEON table entry the Swift kernels read has its implementation name"
for cpu in cortex-a72 max; do
  echo "test-arm64: qemu-aarch64-static -cpu $cpu"
  qemu-aarch64-static -cpu "$cpu" "$out"
done
