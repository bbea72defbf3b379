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
for cpu in cortex-a72 max; do
  echo "test-arm64: qemu-aarch64-static -cpu $cpu"
  qemu-aarch64-static -cpu "$cpu" "$out"
done
