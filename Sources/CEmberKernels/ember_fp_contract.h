// Included first by every file of CEmberKernels (private): the arithmetic is as written, each multiply and
// add rounded on its own unless an intrinsic fuses them. Clang's default (-ffp-contract=on) would fuse
// `o += x * w` into an FMA wherever the target always has one (AArch64), so the reference kernels' bits, which
// every optimized kernel reproduces, would depend on the compiler and the CPU. The pragma holds to the end
// of the including file. GCC ignores it (and warns): tools/test-arm64.sh passes -ffp-contract=off instead.
#ifndef EMBER_FP_CONTRACT_H
#define EMBER_FP_CONTRACT_H
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#endif
