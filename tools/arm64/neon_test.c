// Randomized differential test of the NEON kernels against the scalar reference kernels, built
// with aarch64-linux-gnu-gcc and run under qemu-aarch64-static by tools/test-arm64.sh (Swift
// does not cross-compile here, so the kernels are checked in C). int8, the dynamic-range conv and
// the f32 elementwise ops must give the reference's exact bytes; f32 conv/FC/depthwise (FMA, other
// summation order) must agree within 1e-4 relative. Odd and prime sizes, batch 1–2, every stride,
// dilation and padding kind, saturating inputs, weights and requantization parameters.
#include "ember_kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) {  // SplitMix64
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static int32_t rand_int(int32_t lo, int32_t hi) { return lo + (int32_t)(next_u64() % (uint64_t)(hi - lo + 1)); }
static float rand_float(float scale) { return ((float)(next_u64() >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * scale; }
static void fill_s8(int8_t *v, int64_t n, int saturate) {
  for (int64_t i = 0; i < n; ++i) v[i] = saturate ? (int8_t)(saturate > 0 ? 127 : -128) : (int8_t)next_u64();
}
static void fill_f32(float *v, int64_t n, float scale) { for (int64_t i = 0; i < n; ++i) v[i] = rand_float(scale); }
static void *zalloc(int64_t bytes) { return calloc(1, (size_t)(bytes > 0 ? bytes : 1) + 64); }

static int failures = 0, checks = 0;
static void expect(int ok, const char *what, int trial) {
  ++checks;
  if (!ok && failures++ < 20) fprintf(stderr, "FAIL: %s, trial %d\n", what, trial);
}

static ember_conv_geometry random_geometry(int depthwise) {
  ember_conv_geometry g;
  memset(&g, 0, sizeof g);
  g.batch = rand_int(1, 2); g.in_h = rand_int(1, 9); g.in_w = rand_int(1, 9);
  g.in_c = depthwise ? rand_int(1, 70) : rand_int(1, 19);
  g.out_c = depthwise ? g.in_c : rand_int(1, 45);
  g.groups = depthwise ? g.in_c : 1;
  g.kernel_h = rand_int(1, 3); g.kernel_w = rand_int(1, 3);
  g.stride_h = rand_int(1, 2); g.stride_w = rand_int(1, 3);
  g.dilation_h = rand_int(1, 2); g.dilation_w = rand_int(1, 2);
  g.pad_top = rand_int(0, 1); g.pad_left = rand_int(0, 2);
  const int32_t span_h = (g.kernel_h - 1) * g.dilation_h + 1, span_w = (g.kernel_w - 1) * g.dilation_w + 1;
  const int32_t oh = (g.in_h + 2 * g.pad_top - span_h) / g.stride_h + 1;
  const int32_t ow = (g.in_w + 2 * g.pad_left - span_w) / g.stride_w + 1;
  g.out_h = oh > 1 ? oh : 1; g.out_w = ow > 1 ? ow : 1;
  return g;
}

/// Random per-channel requantization, some of it saturating (large multipliers, left shifts).
static void random_requant(int32_t n, int32_t *mult, int32_t *shift) {
  for (int32_t i = 0; i < n; ++i) {
    mult[i] = rand_int(1 << 30, INT32_MAX);
    shift[i] = rand_int(0, 9) == 0 ? rand_int(1, 4) : rand_int(-12, -5);
  }
}

/// Every other trial, per-channel float requantization scales (ONNX Runtime's form) padded with zeros to
/// `padded`; NULL otherwise (fixed point). The caller frees it.
static float *random_float_requant(int trial, int32_t n, int32_t padded) {
  if (trial % 2 == 0) return NULL;
  float *s = zalloc(4 * (int64_t)padded);
  for (int32_t i = 0; i < n; ++i) s[i] = rand_int(0, 15) == 0 ? 0.5f + fabsf(rand_float(2.5f)) : 1e-4f + fabsf(rand_float(0.05f));
  return s;
}

static int64_t in_count(const ember_conv_geometry *g) { return (int64_t)g->batch * g->in_h * g->in_w * g->in_c; }
static int64_t out_count(const ember_conv_geometry *g) { return (int64_t)g->batch * g->out_h * g->out_w * g->out_c; }

/// An int8 GEMM packed for NEON; the caller frees `owned`.
static ember_qs8_gemm pack_qs8(int32_t isa, int32_t k, int32_t n, const int8_t *w, const int32_t *bias,
                               const int32_t *mult, const int32_t *shift, int32_t zp, void **owned) {
  const int32_t np = ember_n_padded(isa, n);
  char *mem = zalloc(ember_qs8_packed_bytes(isa, k, n) + 3 * (int64_t)np * 4);
  int32_t *pb = (int32_t *)mem, *pm = pb + np, *ps = pm + np;
  void *packed = ps + np;
  ember_qs8_pack(isa, k, n, w, bias, mult, shift, zp, packed, pb, pm, ps);
  ember_qs8_gemm g;
  memset(&g, 0, sizeof g);
  g.k = k; g.k_padded = ember_qs8_k_padded(isa, k); g.n = n; g.n_padded = np;
  g.weights = packed; g.bias = pb; g.multiplier = pm; g.shift = ps; g.input_zero_point = zp;
  *owned = mem;
  return g;
}

/// ember_crc32_prefix (the ARMv8 CRC32 instructions) against the bit-at-a-time CRC-32, at odd offsets and
/// lengths; the prefix it leaves is finished bit by bit, as EmberFormat finishes it with its tables.
static void test_crc32(void) {
  uint8_t data[3000];
  for (int i = 0; i < 3000; ++i) data[i] = (uint8_t)(i * 131 + (i >> 3));
  for (int trial = 0; trial < 200; ++trial) {
    const int start = trial % 13, length = (trial * 37) % 2900;
    int64_t consumed = -1;
    uint32_t c = ember_crc32_prefix(0xFFFFFFFFu, data + start, length, &consumed);
    uint32_t want = 0xFFFFFFFFu;
    for (int i = 0; i < length; ++i) {
      want ^= data[start + i];
      for (int b = 0; b < 8; ++b) want = (want & 1) ? 0xEDB88320u ^ (want >> 1) : want >> 1;
      if (i + 1 == consumed) expect(c == want, "crc32 prefix", trial);
    }
    expect(consumed >= 0 && consumed <= length && (length < 64 || consumed > 0 || !(ember_cpu_features() & EMBER_CPU_CRC32)),
           "crc32 consumed", trial);
  }
}

/// An int8 activation range (as randomActivationRange in the Swift tests): the full one, a ReLU's, a
/// ReLU6's or any narrower one. The NEON stores saturate and clamp only to a narrower range.
static void random_activation_range(int trial, int32_t out_zp, int32_t *lo, int32_t *hi) {
  switch (trial % 4) {
  case 0: *lo = -128; *hi = 127; break;
  case 1: *lo = out_zp; *hi = 127; break;
  case 2: *lo = out_zp; *hi = out_zp + rand_int(20, 120); if (*hi > 127) *hi = 127; break;
  default: *lo = rand_int(-128, -10); *hi = rand_int(10, 127);
  }
}

static void test_conv_s8(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    ember_conv_geometry g = random_geometry(0);
    const int32_t k = g.kernel_h * g.kernel_w * g.in_c, n = g.out_c;
    int8_t *x = zalloc(in_count(&g)), *f = zalloc((int64_t)n * k);
    fill_s8(x, in_count(&g), trial % 5 == 0 ? (trial % 10 == 0 ? 1 : -1) : 0);
    fill_s8(f, (int64_t)n * k, trial % 5 == 0 ? -1 : 0);
    int32_t *bias = zalloc(4 * n), *mult = zalloc(4 * n), *shift = zalloc(4 * n);
    for (int32_t i = 0; i < n; ++i) bias[i] = rand_int(-5000, 5000);
    random_requant(n, mult, shift);
    const int32_t zp = rand_int(-128, 127), out_zp = rand_int(-128, 127);
    float *scales = random_float_requant(trial, n, ember_n_padded(isa, n));
    int32_t lo, hi;
    random_activation_range(trial, out_zp, &lo, &hi);
    ember_requant q = {-zp, out_zp, mult, shift, lo, hi, scales};
    int8_t *expected = zalloc(out_count(&g)), *got = zalloc(out_count(&g));
    const int32_t *b = trial % 3 == 0 ? NULL : bias;
    ember_conv2d_s8_ref(&g, x, f, b, &q, expected);
    void *owned;
    ember_qs8_gemm w = pack_qs8(isa, k, n, f, b, mult, shift, zp, &owned);
    w.output_offset = out_zp; w.act_min = q.act_min; w.act_max = q.act_max; w.requant_scale = scales;
    void *scratch = zalloc(ember_gemm_scratch_bytes(isa, k, 1));
    t->conv2d_s8(&g, x, &w, scratch, got);
    expect(memcmp(got, expected, (size_t)out_count(&g)) == 0, scales ? "conv2d_s8 float requantization" : "conv2d_s8", trial);
    free(x); free(f); free(bias); free(mult); free(shift); free(expected); free(got); free(owned); free(scratch); free(scales);
  }
}

static void test_fc_s8(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t rows = rand_int(1, 9), k = rand_int(1, 97), n = rand_int(1, 40);
    int8_t *x = zalloc((int64_t)rows * k), *w8 = zalloc((int64_t)n * k);
    fill_s8(x, (int64_t)rows * k, trial % 7 == 0 ? -1 : 0);
    fill_s8(w8, (int64_t)n * k, trial % 7 == 0 ? 1 : 0);
    int32_t *bias = zalloc(4 * n), *mult = zalloc(4 * n), *shift = zalloc(4 * n);
    for (int32_t i = 0; i < n; ++i) bias[i] = rand_int(-30000, 30000);
    random_requant(n, mult, shift);
    const int32_t zp = rand_int(-128, 127), out_zp = rand_int(-128, 127);
    float *scales = random_float_requant(trial, n, ember_n_padded(isa, n));
    ember_requant q = {-zp, out_zp, mult, shift, -128, 127, scales};
    int8_t *expected = zalloc((int64_t)rows * n), *got = zalloc((int64_t)rows * n);
    ember_fully_connected_s8_ref(rows, k, n, x, w8, bias, &q, expected);
    void *owned;
    ember_qs8_gemm w = pack_qs8(isa, k, n, w8, bias, mult, shift, zp, &owned);
    w.output_offset = out_zp; w.act_min = -128; w.act_max = 127; w.single_rounding = 1; w.requant_scale = scales;
    void *scratch = zalloc(ember_gemm_scratch_bytes(isa, k, 1));
    t->fully_connected_s8(rows, x, &w, scratch, got);
    expect(memcmp(got, expected, (size_t)((int64_t)rows * n)) == 0, "fully_connected_s8", trial);
    free(x); free(w8); free(bias); free(mult); free(shift); free(expected); free(got); free(owned); free(scratch); free(scales);
  }
}

static void test_dw_s8(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    ember_conv_geometry g = random_geometry(1);
    const int32_t c = g.in_c, taps = g.kernel_h * g.kernel_w, cp = ember_n_padded(isa, c);
    int8_t *x = zalloc(in_count(&g)), *f = zalloc((int64_t)c * taps);
    fill_s8(x, in_count(&g), trial % 6 == 0 ? 1 : 0);
    fill_s8(f, (int64_t)c * taps, 0);
    int32_t *bias = zalloc(4 * c), *mult = zalloc(4 * c), *shift = zalloc(4 * c);
    for (int32_t i = 0; i < c; ++i) bias[i] = rand_int(-3000, 3000);
    random_requant(c, mult, shift);
    const int32_t zp = rand_int(-128, 127), out_zp = rand_int(-128, 127);
    float *scales = random_float_requant(trial, c, cp);
    ember_requant q = {-zp, out_zp, mult, shift, -120, 125, scales};
    int8_t *expected = zalloc(out_count(&g)), *got = zalloc(out_count(&g));
    ember_conv2d_s8_ref(&g, x, f, bias, &q, expected);
    int32_t *pw = zalloc(ember_dw_s8_weight_bytes(isa, &g)), *pb = zalloc(4 * cp);
    int32_t *pm = zalloc(4 * cp), *ps = zalloc(4 * cp);
    ember_dw_pack_s8(isa, &g, f, bias, mult, shift, zp, pw, pb, pm, ps);
    ember_qs8_dw d = {cp, pw, pb, pm, ps, zp, out_zp, -120, 125, scales, NULL};
    t->dwconv2d_s8(&g, x, &d, NULL, got);
    expect(memcmp(got, expected, (size_t)out_count(&g)) == 0, "dwconv2d_s8", trial);
    free(x); free(f); free(bias); free(mult); free(shift); free(expected); free(got); free(scales);
    free(pw); free(pb); free(pm); free(ps);
  }
}

static void test_add_s8(const ember_kernel_table *t) {
  int32_t linear_tries = 0, linear_plans = 0, linear_exceptions = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t n = rand_int(1, 300);
    int8_t *a = zalloc(n), *b = zalloc(n), *expected = zalloc(n), *got = zalloc(n);
    fill_s8(a, n, trial % 9 == 0 ? -1 : 0);
    fill_s8(b, n, trial % 9 == 0 ? 1 : 0);
    ember_add_s8_params p;
    memset(&p, 0, sizeof p);
    p.a_offset = rand_int(-127, 128); p.b_offset = rand_int(-127, 128); p.output_offset = rand_int(-128, 127);
    p.left_shift = 20;
    ember_quantize_multiplier(0.01 + 0.49 * (double)(next_u64() >> 11) / 9007199254740992.0, &p.a_multiplier, &p.a_shift);
    ember_quantize_multiplier(0.01 + 0.49 * (double)(next_u64() >> 11) / 9007199254740992.0, &p.b_multiplier, &p.b_shift);
    ember_quantize_multiplier(1e-6 + 1e-4 * (double)(next_u64() >> 11) / 9007199254740992.0, &p.output_multiplier,
                              &p.output_shift);
    p.act_min = rand_int(-128, 0); p.act_max = rand_int(0, 127);
    if (trial % 3 == 1) {  // ONNX Runtime's float form
      p.float_mode = 1;
      p.a_scale = 1e-3f + fabsf(rand_float(0.2f)); p.b_scale = 1e-3f + fabsf(rand_float(0.2f));
      p.output_scale = 1e-3f + fabsf(rand_float(0.2f));
    }
    ember_broadcast bc;  // same shape
    memset(&bc, 0, sizeof bc);
    bc.rank = 1; bc.shape[0] = n; bc.a_strides[0] = 1; bc.b_strides[0] = 1;
    for (int32_t subtract = 0; subtract < 2; ++subtract) {
      ember_add_s8_ref(&bc, a, b, &p, subtract, expected);
      t->add_s8(1, n, a, b, 0, &p, subtract, got);
      expect(memcmp(got, expected, (size_t)n) == 0, subtract ? "sub_s8" : "add_s8", trial);
    }
    // One per-channel vector (b's first `cols` values) over n / cols rows.
    const int32_t cols = n % 4 == 0 ? 4 : (n % 3 == 0 ? 3 : n), rows = n / cols;
    ember_broadcast pc;
    memset(&pc, 0, sizeof pc);
    pc.rank = 2; pc.shape[0] = rows; pc.shape[1] = cols;
    pc.a_strides[0] = cols; pc.a_strides[1] = 1; pc.b_strides[0] = 0; pc.b_strides[1] = 1;
    ember_add_s8_ref(&pc, a, b, &p, 0, expected);
    t->add_s8(rows, cols, a, b, 0, &p, 0, got);
    expect(memcmp(got, expected, (size_t)n) == 0, "add_s8 per channel", trial);
    // Mode 2, b − a: the reference's SUB with the operands and their parameters the other way round.
    ember_add_s8_params q = p;
    q.a_offset = p.b_offset; q.b_offset = p.a_offset; q.a_multiplier = p.b_multiplier; q.b_multiplier = p.a_multiplier;
    q.a_shift = p.b_shift; q.b_shift = p.a_shift; q.a_scale = p.b_scale; q.b_scale = p.a_scale;
    ember_broadcast rc;
    memset(&rc, 0, sizeof rc);
    rc.rank = 2; rc.shape[0] = rows; rc.shape[1] = cols;
    rc.a_strides[0] = 0; rc.a_strides[1] = 1; rc.b_strides[0] = cols; rc.b_strides[1] = 1;
    ember_add_s8_ref(&rc, b, a, &q, 1, expected);
    t->add_s8(rows, cols, a, b, 0, &p, 2, got);
    expect(memcmp(got, expected, (size_t)n) == 0, "sub_s8 reversed per channel", trial);
    // The linear form (ember_add_s8_linear_plan) of modes 0, 1 and 2 on the same operands, where it is set.
    if (!p.float_mode && trial % 3 == 0) {
      for (int32_t mode = 0; mode < 3; ++mode) {
        ember_add_s8_params l = p;
        ++linear_tries;
        if (!ember_add_s8_linear_plan(EMBER_ISA_NEON, &l, mode)) continue;
        ++linear_plans;
        linear_exceptions += l.lin_exceptions;
        if (mode == 2) {
          ember_add_s8_ref(&rc, b, a, &q, 1, expected);
          t->add_s8(rows, cols, a, b, 0, &l, 2, got);
          expect(memcmp(got, expected, (size_t)n) == 0, "sub_s8 reversed, linear form", trial);
        } else {
          ember_add_s8_ref(&bc, a, b, &p, mode, expected);
          t->add_s8(1, n, a, b, 0, &l, mode, got);
          expect(memcmp(got, expected, (size_t)n) == 0, mode ? "sub_s8, linear form" : "add_s8, linear form", trial);
        }
      }
    }
    if (!p.float_mode) {  // mode 3, SQUARED_DIFFERENCE's (a − b)², with its left shift of 7
      ember_add_s8_params s = p;
      s.left_shift = 7;
      ember_squared_difference_s8_ref(&pc, a, b, &s, expected);
      t->add_s8(rows, cols, a, b, 0, &s, 3, got);
      expect(memcmp(got, expected, (size_t)n) == 0, "squared_difference_s8 per channel", trial);
    }
    free(a); free(b); free(expected); free(got);
  }
  // The form holds for nearly every layer, some with exceptions (a plan re-runs the kernel with them, so an
  // exception the kernel mishandles shows as a layer left exact, not as wrong bytes).
  printf("int8 ADD/SUB linear form: %d of %d set, %d exceptions in all\n", linear_plans, linear_tries, linear_exceptions);
  expect(linear_plans * 10 >= linear_tries * 9, "add_s8 linear form set for 90 % of layers", 0);
  expect(linear_exceptions > 0, "add_s8 linear form exceptions exercised", 0);
}

static void test_mul_s8(const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t rows = rand_int(1, 5), cols = rand_int(1, 70), per_channel = trial % 2, n = rows * cols;
    const int32_t nb = per_channel ? cols : n;
    int8_t *a = zalloc(n), *b = zalloc(nb), *expected = zalloc(n), *got = zalloc(n);
    fill_s8(a, n, trial % 9 == 0 ? -1 : 0);
    fill_s8(b, nb, trial % 9 == 0 ? -1 : 0);
    ember_mul_s8_params p;
    memset(&p, 0, sizeof p);
    p.a_offset = rand_int(-127, 128); p.b_offset = rand_int(-127, 128); p.output_offset = rand_int(-128, 127);
    ember_quantize_multiplier(1e-5 + 0.05 * (double)(next_u64() >> 11) / 9007199254740992.0, &p.output_multiplier,
                              &p.output_shift);
    p.act_min = rand_int(-128, 0); p.act_max = rand_int(0, 127);
    if (trial % 3 == 1) {  // ONNX Runtime's float form
      p.float_mode = 1;
      p.a_scale = 1e-3f + fabsf(rand_float(0.2f)); p.b_scale = 1e-3f + fabsf(rand_float(0.2f));
      p.output_scale = 1e-4f + fabsf(rand_float(0.05f));
    }
    ember_broadcast bc;
    memset(&bc, 0, sizeof bc);
    bc.rank = 2; bc.shape[0] = rows; bc.shape[1] = cols;
    bc.a_strides[0] = cols; bc.a_strides[1] = 1;
    bc.b_strides[0] = per_channel ? 0 : cols; bc.b_strides[1] = 1;
    ember_mul_s8_ref(&bc, a, b, &p, expected);
    t->mul_s8(rows, cols, a, b, per_channel ? 0 : cols, &p, got);
    expect(memcmp(got, expected, (size_t)n) == 0, "mul_s8", trial);
    free(a); free(b); free(expected); free(got);
  }
}

static void test_hybrid(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    ember_conv_geometry g = random_geometry(0);
    const int32_t k = g.kernel_h * g.kernel_w * g.in_c, n = g.out_c, np = ember_n_padded(isa, n);
    const int64_t per_batch = (int64_t)g.in_h * g.in_w * g.in_c;
    float *x = zalloc(4 * in_count(&g));
    fill_f32(x, in_count(&g), (float)rand_int(1, 1000) / 100.0f);
    if (trial % 6 == 0) memset(x, 0, (size_t)(4 * per_batch));  // an all-zero batch: scale 1
    if (trial % 6 == 1) {  // max |x| = 127: every m + 0.5 is an exact tie
      for (int64_t i = 0; i < in_count(&g); ++i) x[i] = (float)rand_int(-127, 126) + 0.5f;
      x[0] = 127.0f;
    }
    int8_t *f = zalloc((int64_t)n * k);
    fill_s8(f, (int64_t)n * k, trial % 7 == 0 ? -1 : 0);
    float *bias = zalloc(4 * np);
    fill_f32(bias, n, 3.0f);
    const float *b = trial % 3 == 0 ? NULL : bias;
    const float filter_scale = (float)rand_int(1, 500) / 10000.0f;
    const float lo = trial % 4 == 0 ? 0.0f : -INFINITY, hi = trial % 4 == 0 ? 6.0f : INFINITY;
    float *expected = zalloc(4 * out_count(&g)), *got = zalloc(4 * out_count(&g));
    int8_t *ref_scratch = zalloc(in_count(&g));
    ember_conv2d_hybrid_ref(&g, x, f, filter_scale, b, lo, hi, ref_scratch, expected);
    int32_t *zeros = zalloc(4 * n);
    void *owned;
    ember_qs8_gemm w = pack_qs8(isa, k, n, f, NULL, zeros, zeros, 0, &owned);
    w.act_min = -128; w.act_max = 127;
    w.float_output = 1; w.filter_scale = filter_scale; w.float_min = lo; w.float_max = hi; w.float_bias = b;
    void *scratch = zalloc(ember_hybrid_scratch_bytes(isa, per_batch, k));
    t->conv2d_hybrid(&g, x, &w, scratch, got);
    expect(memcmp(got, expected, (size_t)(4 * out_count(&g))) == 0, "conv2d_hybrid", trial);
    if (g.batch == 1 && g.out_h >= 2) {  // in two parts of rows, as the thread pool splits it
      float *split = zalloc(4 * out_count(&g));
      void *part_scratch = zalloc(ember_hybrid_conv_scratch_bytes(isa, &g));
      const int pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
                            g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
      for (int32_t part = 0, first = 0; part < 2; ++part) {
        ember_conv_geometry s = g;
        s.out_h = part == 0 ? g.out_h / 2 : g.out_h - g.out_h / 2;
        int64_t offset = 0;
        if (pointwise) { s.in_h = s.out_h; offset = (int64_t)first * g.in_w * g.in_c; }
        else s.pad_top = g.pad_top - first * g.stride_h;
        ember_conv2d_hybrid_part(isa, &s, per_batch, offset, x, &w, part_scratch, split + (int64_t)first * g.out_w * n);
        first += s.out_h;
      }
      expect(memcmp(split, got, (size_t)(4 * out_count(&g))) == 0, "conv2d_hybrid in two parts", trial);
      free(split); free(part_scratch);
    }
    free(x); free(f); free(bias); free(expected); free(got); free(ref_scratch); free(zeros); free(owned); free(scratch);
  }
}

static void test_hybrid_fc(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t rows = rand_int(1, 9), k = rand_int(1, 97), n = rand_int(1, 40), np = ember_n_padded(isa, n);
    float *x = zalloc(4 * (int64_t)rows * k);
    fill_f32(x, (int64_t)rows * k, (float)rand_int(1, 1000) / 100.0f);
    if (trial % 5 == 0) memset(x, 0, (size_t)(4 * k));  // an all-zero first row
    int8_t *w8 = zalloc((int64_t)n * k);
    fill_s8(w8, (int64_t)n * k, trial % 7 == 0 ? -1 : 0);
    float *bias = zalloc(4 * np);
    fill_f32(bias, n, 3.0f);
    const float *b = trial % 3 == 0 ? NULL : bias;
    const float filter_scale = (float)rand_int(1, 500) / 10000.0f;
    const float lo = trial % 4 == 0 ? 0.0f : -INFINITY, hi = trial % 4 == 0 ? 6.0f : INFINITY;
    float *expected = zalloc(4 * (int64_t)rows * n), *got = zalloc(4 * (int64_t)rows * n);
    int8_t *ref_scratch = zalloc(k);
    ember_fully_connected_hybrid_ref(rows, k, n, x, w8, filter_scale, b, lo, hi, ref_scratch, expected);
    int32_t *zeros = zalloc(4 * n);
    void *owned;
    ember_qs8_gemm w = pack_qs8(isa, k, n, w8, NULL, zeros, zeros, 0, &owned);
    w.act_min = -128; w.act_max = 127; w.single_rounding = 1;
    w.float_output = 1; w.filter_scale = filter_scale; w.float_min = lo; w.float_max = hi; w.float_bias = b;
    void *scratch = zalloc(ember_hybrid_scratch_bytes(isa, k, k));
    t->fully_connected_hybrid(rows, x, &w, scratch, got);
    expect(memcmp(got, expected, (size_t)(4 * (int64_t)rows * n)) == 0, "fully_connected_hybrid", trial);
    free(x); free(w8); free(bias); free(expected); free(got); free(ref_scratch); free(zeros); free(owned); free(scratch);
  }
}

static void test_binary_f32(const ember_kernel_table *t) {
  const float specials[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-40f};
  for (int trial = 0; trial < 400; ++trial) {
    const int32_t rank = rand_int(1, 4);
    int32_t out[4], ad[4], bd[4];
    for (int32_t d = 0; d < rank; ++d) {
      out[d] = d == rank - 1 ? rand_int(1, 40) : rand_int(1, 5);
      ad[d] = (trial % 5 == 0 || rand_int(0, 2) == 0) ? 1 : out[d];
      bd[d] = rand_int(0, 2) == 0 ? 1 : out[d];
    }
    ember_broadcast bc;
    memset(&bc, 0, sizeof bc);
    bc.rank = rank;
    int64_t a_n = 1, b_n = 1, count = 1, as = 1, bs = 1;
    for (int32_t d = rank - 1; d >= 0; --d) {
      bc.shape[d] = out[d];
      bc.a_strides[d] = ad[d] == 1 && out[d] != 1 ? 0 : as;
      bc.b_strides[d] = bd[d] == 1 && out[d] != 1 ? 0 : bs;
      as *= ad[d]; bs *= bd[d]; count *= out[d];
    }
    a_n = as; b_n = bs;
    float *a = zalloc(4 * a_n), *b = zalloc(4 * b_n), *expected = zalloc(4 * count), *got = zalloc(4 * count);
    fill_f32(a, a_n, 4.0f);
    fill_f32(b, b_n, 4.0f);
    for (int64_t i = 0; i < a_n; ++i) if (rand_int(0, 15) == 0) a[i] = specials[rand_int(0, 5)];
    for (int64_t i = 0; i < b_n; ++i) if (rand_int(0, 15) == 0) b[i] = specials[rand_int(0, 5)];
    const ember_binary_op op = trial % 8 == 7 ? EMBER_BINARY_SQUARED_DIFFERENCE : (ember_binary_op)(trial % 8);  // ADD … PRELU
    const float lo = trial % 3 == 0 ? 0.0f : -INFINITY, hi = trial % 3 == 0 ? 6.0f : INFINITY;
    ember_binary_f32_ref(op, &bc, a, b, lo, hi, expected);
    t->binary_f32(op, &bc, a, b, lo, hi, got);
    expect(memcmp(got, expected, (size_t)(4 * count)) == 0, "binary_f32", trial);
    free(a); free(b); free(expected); free(got);
  }
}

/// matmul_f32 against ember_matmul_f32_ref bit for bit (whole 16- and 4-column tiles, the scalar columns,
/// 4-row and single-row tiles, signed zeros and infinities); then int8 MatMul through it
/// (ember_matmul_s8_via_f32) against ember_matmul_s8_ref, saturating operands included.
static void test_matmul(int32_t isa, const ember_kernel_table *t) {
  const float specials[] = {INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f};
  if (!t->matmul_f32) {
    expect(0, "matmul_f32 in the kernel table", 0);
    return;
  }
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t m = rand_int(1, 9), k = rand_int(1, 40), n = trial % 7 == 0 ? rand_int(33, 70) : rand_int(1, 37);
    float *a = zalloc(4 * (int64_t)m * k), *b = zalloc(4 * (int64_t)k * n);
    float *expected = zalloc(4 * (int64_t)m * n), *got = zalloc(4 * (int64_t)m * n);
    fill_f32(a, (int64_t)m * k, 3.0f);
    fill_f32(b, (int64_t)k * n, 3.0f);
    if (trial % 5 == 0)
      for (int64_t i = 0; i < (int64_t)k * n; ++i) if (rand_int(0, 20) == 0) b[i] = specials[rand_int(0, 4)];
    ember_matmul_f32_ref(m, k, n, a, b, expected);
    t->matmul_f32(m, k, n, a, b, got);
    expect(memcmp(got, expected, (size_t)(4 * (int64_t)m * n)) == 0, "matmul_f32", trial);
    free(a); free(b); free(expected); free(got);

    const int32_t k8 = trial % 10 == 0 ? EMBER_MATMUL_S8_F32_MAX_K : rand_int(1, 80);
    int8_t *a8 = zalloc((int64_t)m * k8), *b8 = zalloc((int64_t)k8 * n);
    int8_t *expected8 = zalloc((int64_t)m * n), *got8 = zalloc((int64_t)m * n);
    fill_s8(a8, (int64_t)m * k8, trial % 10 == 0 ? -1 : 0);
    fill_s8(b8, (int64_t)k8 * n, trial % 10 == 0 ? -1 : 0);
    ember_matmul_s8_params p = {rand_int(-127, 128), rand_int(-127, 128), rand_int(-128, 127), 0, 0};
    if (trial % 10 == 0) p.a_offset = p.b_offset = 128;  // (−128 + 128)… and the largest products, 255²
    p.output_multiplier = rand_int(1 << 30, INT32_MAX);
    p.output_shift = rand_int(-20, -8);
    void *scratch = zalloc(ember_matmul_s8_via_f32_scratch_bytes(m, k8, n));
    ember_matmul_s8_ref(m, k8, n, a8, b8, &p, expected8);
    ember_matmul_s8_via_f32(isa, m, k8, n, a8, b8, &p, scratch, got8);
    expect(memcmp(got8, expected8, (size_t)((int64_t)m * n)) == 0, "matmul_s8 via f32", trial);
    free(a8); free(b8); free(expected8); free(got8); free(scratch);
  }
}

static int close_enough(const float *got, const float *expected, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (fabsf(got[i] - expected[i]) > 1e-4f * (1.0f + fabsf(expected[i]))) return 0;
  return 1;
}

static void test_f32(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 200; ++trial) {
    ember_conv_geometry g = random_geometry(0);
    if (trial % 4 == 0) {  // pointwise, read in place
      g.kernel_h = g.kernel_w = g.stride_h = g.stride_w = 1;
      g.pad_top = g.pad_left = 0; g.out_h = g.in_h; g.out_w = g.in_w;
    }
    const int32_t k = g.kernel_h * g.kernel_w * g.in_c, n = g.out_c, np = ember_n_padded(isa, n);
    float *x = zalloc(4 * in_count(&g)), *f = zalloc(4 * (int64_t)n * k), *bias = zalloc(4 * n);
    fill_f32(x, in_count(&g), 1.0f); fill_f32(f, (int64_t)n * k, 1.0f); fill_f32(bias, n, 1.0f);
    float *expected = zalloc(4 * out_count(&g)), *got = zalloc(4 * out_count(&g));
    ember_conv2d_f32_ref(&g, x, f, bias, -2.0f, 2.5f, expected);
    float *packed = zalloc(4 * (int64_t)np * k), *pb = zalloc(4 * np);
    ember_f32_pack(isa, k, n, f, bias, packed, pb);
    ember_f32_gemm w = {k, n, np, packed, pb, -2.0f, 2.5f, NULL, 0, 0.0f};
    void *scratch = zalloc(ember_gemm_scratch_bytes(isa, k, 0));
    t->conv2d_f32(&g, x, &w, scratch, got);
    expect(close_enough(got, expected, out_count(&g)), "conv2d_f32", trial);
    {  // A fused activation: the bits of the conv, then the unary kernel over its output.
      float *fused = zalloc(4 * out_count(&g));
      ember_f32_gemm wf = w;
      wf.post_unary = (trial % 2 ? EMBER_UNARY_SILU : EMBER_UNARY_HARD_SWISH) + 1;
      t->conv2d_f32(&g, x, &wf, scratch, fused);
      t->unary_f32((ember_unary_op)(wf.post_unary - 1), 0.0f, out_count(&g), got, got);
      expect(memcmp(fused, got, (size_t)(4 * out_count(&g))) == 0, "conv2d_f32 with a fused activation", trial);
      free(fused);
    }
    {  // The same with fp16 weights kept as halves: the reference on the halves' values.
      uint16_t *halves = zalloc(2 * (int64_t)n * k), *packed16 = zalloc(2 * (int64_t)np * k);
      float *rounded = zalloc(4 * (int64_t)n * k);
      ember_f32_to_f16((int64_t)n * k, f, halves);
      ember_f16_to_f32((int64_t)n * k, halves, rounded);
      ember_conv2d_f32_ref(&g, x, rounded, bias, -2.0f, 2.5f, expected);
      ember_f16_pack(isa, k, n, halves, packed16);
      ember_f32_gemm w16 = {k, n, np, NULL, pb, -2.0f, 2.5f, packed16, 0, 0.0f};
      t->conv2d_f32(&g, x, &w16, scratch, got);
      expect(close_enough(got, expected, out_count(&g)), "conv2d_f32 with f16 weights", trial);
      free(halves); free(packed16); free(rounded);
    }
    const int32_t rows = g.batch * 3;
    float *fx = zalloc(4 * (int64_t)rows * k), *fe = zalloc(4 * (int64_t)rows * n), *fg = zalloc(4 * (int64_t)rows * n);
    fill_f32(fx, (int64_t)rows * k, 1.0f);
    ember_fully_connected_f32_ref(rows, k, n, fx, f, bias, -2.0f, 2.5f, fe);
    t->fully_connected_f32(rows, fx, &w, fg);
    expect(close_enough(fg, fe, (int64_t)rows * n), "fully_connected_f32", trial);
    {
      float *fused = zalloc(4 * (int64_t)rows * n);
      ember_f32_gemm wf = w;
      wf.post_unary = EMBER_UNARY_SIGMOID + 1;
      t->fully_connected_f32(rows, fx, &wf, fused);
      t->unary_f32(EMBER_UNARY_SIGMOID, 0.0f, (int64_t)rows * n, fg, fg);
      expect(memcmp(fused, fg, (size_t)(4 * (int64_t)rows * n)) == 0, "fully_connected_f32 with a fused activation", trial);
      free(fused);
    }
    free(x); free(f); free(bias); free(expected); free(got); free(packed); free(pb); free(scratch);
    free(fx); free(fe); free(fg);

    ember_conv_geometry d = random_geometry(1);
    const int32_t c = d.in_c, taps = d.kernel_h * d.kernel_w, cp = ember_n_padded(isa, c);
    float *dx = zalloc(4 * in_count(&d)), *df = zalloc(4 * (int64_t)c * taps), *db = zalloc(4 * c);
    fill_f32(dx, in_count(&d), 1.0f); fill_f32(df, (int64_t)c * taps, 1.0f); fill_f32(db, c, 1.0f);
    float *de = zalloc(4 * out_count(&d)), *dg = zalloc(4 * out_count(&d));
    ember_conv2d_f32_ref(&d, dx, df, db, -1.5f, 1.5f, de);
    float *pw = zalloc(4 * (int64_t)taps * cp), *pdb = zalloc(4 * cp);
    ember_dw_pack_f32(isa, taps, c, df, db, pw, pdb);
    ember_f32_dw dw = {cp, pw, pdb, -1.5f, 1.5f, NULL, 0, 0.0f, NULL};
    t->dwconv2d_f32(&d, dx, &dw, NULL, dg);
    expect(close_enough(dg, de, out_count(&d)), "dwconv2d_f32", trial);
    {
      float *fused = zalloc(4 * out_count(&d));
      ember_f32_dw dwf = dw;
      dwf.post_unary = EMBER_UNARY_SILU + 1;
      t->dwconv2d_f32(&d, dx, &dwf, NULL, fused);
      t->unary_f32(EMBER_UNARY_SILU, 0.0f, out_count(&d), dg, dg);
      expect(memcmp(fused, dg, (size_t)(4 * out_count(&d))) == 0, "dwconv2d_f32 with a fused activation", trial);
      free(fused);
    }
    {
      uint16_t *halves = zalloc(2 * (int64_t)c * taps), *pw16 = zalloc(2 * (int64_t)taps * cp);
      float *rounded = zalloc(4 * (int64_t)c * taps);
      ember_f32_to_f16((int64_t)c * taps, df, halves);
      ember_f16_to_f32((int64_t)c * taps, halves, rounded);
      ember_conv2d_f32_ref(&d, dx, rounded, db, -1.5f, 1.5f, de);
      ember_dw_pack_f16(isa, taps, c, halves, pw16);
      ember_f32_dw dw16 = {cp, NULL, pdb, -1.5f, 1.5f, pw16, 0, 0.0f, NULL};
      t->dwconv2d_f32(&d, dx, &dw16, NULL, dg);
      expect(close_enough(dg, de, out_count(&d)), "dwconv2d_f32 with f16 weights", trial);
      free(halves); free(pw16); free(rounded);
    }
    free(dx); free(df); free(db); free(de); free(dg); free(pw); free(pdb);
  }
}

/// Winograd F(2×2, 3×3) against the direct reference: odd channel counts, images down to 1×1, padding 0–2 on
/// each side, batch 1–2, a clamp; the error allowed is 1e-5 of Σ|x·w| + |bias| per output (the transforms'
/// rounding; a wrong tap or tile is off by O(1) of it); the scratch's end is checked untouched.
static void test_winograd(int32_t isa, const ember_kernel_table *t) {
  for (int trial = 0; trial < 120; ++trial) {
    ember_conv_geometry g = {0};
    g.batch = rand_int(1, 2); g.in_c = rand_int(1, 20); g.out_c = rand_int(1, 20);
    g.in_h = rand_int(1, 11); g.in_w = rand_int(1, 11);
    g.kernel_h = g.kernel_w = 3; g.stride_h = g.stride_w = g.dilation_h = g.dilation_w = g.groups = 1;
    g.pad_top = rand_int(0, 2); g.pad_left = rand_int(0, 2);
    g.out_h = g.in_h + g.pad_top + rand_int(0, 2) - 2; g.out_w = g.in_w + g.pad_left + rand_int(0, 2) - 2;
    if (g.out_h < 1 || g.out_w < 1) continue;
    const int32_t k = 9 * g.in_c, n = g.out_c, np = ember_n_padded(isa, n);
    const int64_t outs = out_count(&g);
    float *x = zalloc(4 * in_count(&g)), *f = zalloc(4 * (int64_t)n * k), *bias = zalloc(4 * n);
    fill_f32(x, in_count(&g), 1.0f); fill_f32(f, (int64_t)n * k, 1.0f); fill_f32(bias, n, 1.0f);
    float *ax = zalloc(4 * in_count(&g)), *af = zalloc(4 * (int64_t)n * k), *ab = zalloc(4 * n);
    for (int64_t i = 0; i < in_count(&g); ++i) ax[i] = fabsf(x[i]);
    for (int64_t i = 0; i < (int64_t)n * k; ++i) af[i] = fabsf(f[i]);
    for (int32_t i = 0; i < n; ++i) ab[i] = fabsf(bias[i]);
    float *expected = zalloc(4 * outs), *magnitude = zalloc(4 * outs), *got = zalloc(4 * outs);
    const float lo = trial % 3 == 0 ? -2.0f : -INFINITY, hi = trial % 3 == 0 ? 2.5f : INFINITY;
    ember_conv2d_f32_ref(&g, x, f, bias, lo, hi, expected);
    ember_conv2d_f32_ref(&g, ax, af, ab, 0.0f, INFINITY, magnitude);
    float *packed = zalloc(4 * ember_winograd_f32_packed_floats(isa, g.in_c, n));
    float *pb = zalloc(4 * np), *zeros = zalloc(4 * np);
    ember_winograd_f32 w;
    ember_winograd_f32_pack(isa, g.in_c, n, f, bias, packed, pb);
    ember_winograd_f32_describe(isa, g.in_c, n, packed, pb, zeros, lo, hi, &w);
    const int64_t scratch_bytes = ember_winograd_scratch_bytes(isa, &g);
    uint8_t *scratch = zalloc(scratch_bytes + 64);
    memset(scratch + scratch_bytes, 0xA5, 64);
    t->conv2d_winograd_f32(&g, x, &w, scratch, got);
    int ok = 1;
    for (int64_t i = 0; i < outs; ++i)
      if (!(fabsf(got[i] - expected[i]) <= 1e-5f * magnitude[i])) ok = 0;
    expect(ok, "conv2d_winograd_f32", trial);
    int intact = 1;
    for (int i = 0; i < 64; ++i) intact &= scratch[scratch_bytes + i] == 0xA5;
    expect(intact, "conv2d_winograd_f32 stays in its scratch", trial);
    free(x); free(f); free(bias); free(ax); free(af); free(ab); free(expected); free(magnitude); free(got);
    free(packed); free(pb); free(zeros); free(scratch);
  }
}

/// The INT4 block-32 fully connected kernel against the reference: 1–4 rows, 1–7 blocks, 1–21 outputs, every
/// byte of nibbles, bias or none, a clamp; error within 1e-5 of Σ|x·w·scale| + |bias| per output.
static void test_q4(const ember_kernel_table *t) {
  for (int trial = 0; trial < 120; ++trial) {
    const int32_t rows = rand_int(1, 4), blocks = rand_int(1, 7), out_f = rand_int(1, 21), in_f = 32 * blocks;
    float *x = zalloc(4 * (int64_t)rows * in_f), *bias = trial % 3 == 0 ? NULL : zalloc(4 * out_f);
    fill_f32(x, (int64_t)rows * in_f, 2.0f);
    if (bias) fill_f32(bias, out_f, 1.0f);
    uint8_t *w = zalloc((int64_t)out_f * blocks * 18);
    float *scale = zalloc(4 * (int64_t)out_f * blocks);
    for (int64_t i = 0; i < (int64_t)out_f * blocks; ++i) {
      uint16_t h;
      float s = rand_float(trial % 5 == 0 ? 40.0f : 0.05f);
      ember_f32_to_f16(1, &s, &h);
      ember_f16_to_f32(1, &h, scale + i);
      w[i * 18] = (uint8_t)(h & 0xFF);
      w[i * 18 + 1] = (uint8_t)(h >> 8);
      for (int j = 0; j < 16; ++j) w[i * 18 + 2 + j] = (uint8_t)next_u64();
    }
    const float lo = trial % 4 == 0 ? -1.0f : -INFINITY, hi = trial % 4 == 0 ? 1.5f : INFINITY;
    float *expected = zalloc(4 * (int64_t)rows * out_f), *got = zalloc(4 * (int64_t)rows * out_f);
    float *scratch = zalloc(4 * (int64_t)in_f);
    ember_fully_connected_f32_q4b32_ref(rows, in_f, out_f, x, w, bias, lo, hi, expected);
    t->fully_connected_q4b32(rows, in_f, out_f, x, w, bias, lo, hi, scratch, got);
    int ok = 1;
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t o = 0; o < out_f; ++o) {
        float magnitude = bias ? fabsf(bias[o]) : 0.0f;
        for (int32_t b = 0; b < blocks; ++b)
          for (int j = 0; j < 16; ++j) {
            const int byte = w[((int64_t)o * blocks + b) * 18 + 2 + j];
            const int low = ((byte & 0xF) ^ 8) - 8, high = ((byte >> 4) ^ 8) - 8;
            const float *xr = x + (int64_t)r * in_f + 32 * b + 2 * j;
            magnitude += fabsf(scale[o * blocks + b]) * (fabsf(xr[0] * (float)low) + fabsf(xr[1] * (float)high));
          }
        const int64_t i = (int64_t)r * out_f + o;
        if (!(fabsf(got[i] - expected[i]) <= 1e-5f * magnitude)) ok = 0;
      }
    expect(ok, "fully_connected_q4b32", trial);
    free(x); free(bias); free(w); free(scale); free(expected); free(got); free(scratch);
  }
}

/// The int8 lookup, f32 → int8 quantize (both roundings) and int8 mean (both requantizations) against the
/// reference byte for byte: odd lengths, every code, ties, ±inf and NaN, zero points outside int8.
static void test_lookup_quantize_mean(const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t n = rand_int(1, 300);
    int8_t *codes = zalloc(n), *table = zalloc(256), *expected = zalloc(n), *got = zalloc(n);
    fill_s8(codes, n, 0);
    fill_s8(table, 256, 0);
    if (trial == 0) for (int32_t i = 0; i < n; ++i) codes[i] = (int8_t)(i - 128);
    ember_lookup_s8(n, codes, table, expected);
    t->lookup_s8(n, codes, table, got);
    expect(memcmp(got, expected, (size_t)n) == 0, "lookup_s8", trial);

    float *x = zalloc(4 * (int64_t)n);
    const float scale = trial % 7 == 0 ? 1.0f : 0.001f + fabsf(rand_float(2.0f));
    const int32_t zp = rand_int(-140, 140);
    const float specials[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-40f, 3e38f};
    for (int32_t i = 0; i < n; ++i) {
      switch (rand_int(0, 7)) {
        case 0: x[i] = specials[rand_int(0, 6)]; break;
        case 1: x[i] = ((float)rand_int(-300, 300) + 0.5f) * scale; break;  // a tie after the division, mostly
        default: x[i] = rand_float(200.0f * scale);
      }
    }
    for (int32_t even = 0; even < 2; ++even) {
      if (even) ember_quantize_f32_s8_even_ref(n, x, scale, zp, expected);
      else ember_quantize_f32_s8_ref(n, x, scale, zp, expected);
      t->quantize_f32_s8(n, x, scale, zp, even, got);
      expect(memcmp(got, expected, (size_t)n) == 0, even ? "quantize_f32_s8 ties to even" : "quantize_f32_s8", trial);
    }
    free(codes); free(table); free(expected); free(got); free(x);

    // Mean over H and W of [outer][h][w][c] (global average pool).
    const int32_t outer = rand_int(1, 2), h = rand_int(1, 6), w = rand_int(1, 6), c = rand_int(1, 40);
    const int64_t count = (int64_t)outer * h * w * c;
    int8_t *xs = zalloc(count), *me = zalloc((int64_t)outer * c), *mg = zalloc((int64_t)outer * c);
    fill_s8(xs, count, trial % 9 == 0 ? 1 : 0);
    int32_t *scratch = zalloc(4 * (int64_t)outer * c);
    ember_reduce r;
    memset(&r, 0, sizeof r);
    r.rank = 4; r.shape[0] = outer; r.shape[1] = h; r.shape[2] = w; r.shape[3] = c; r.axis_mask = 0x6;
    const int32_t zi = rand_int(-128, 127), zo = rand_int(-128, 127);
    int32_t m, sh;
    ember_quantize_multiplier((0.001 + fabs((double)rand_float(0.5f))) / (h * w), &m, &sh);
    const float fs = (0.0001f + fabsf(rand_float(0.2f))) / (float)(h * w);
    ember_mean_s8_ref(&r, xs, zi, m, sh, zo, scratch, me);
    t->mean_s8(outer, (int64_t)h * w, c, xs, zi, m, sh, 0, zo, mg);
    expect(memcmp(mg, me, (size_t)(outer * c)) == 0, "mean_s8", trial);
    ember_mean_s8_float_ref(&r, xs, zi, fs, zo, scratch, me);
    t->mean_s8(outer, (int64_t)h * w, c, xs, zi, m, sh, fs, zo, mg);
    expect(memcmp(mg, me, (size_t)(outer * c)) == 0, "mean_s8 float requantization", trial);
    // The f32 mean over the same axes, bit for bit (infinities and NaN among the values now and then).
    float *xf = zalloc(4 * count), *fe = zalloc(4 * (int64_t)outer * c), *fg = zalloc(4 * (int64_t)outer * c);
    fill_f32(xf, count, 10.0f);
    if (trial % 11 == 0) xf[rand_int(0, (int32_t)count - 1)] = trial % 22 == 0 ? INFINITY : NAN;
    ember_mean_f32_ref(&r, xf, fe);
    t->mean_f32(outer, (int64_t)h * w, c, xf, fg);
    expect(memcmp(fg, fe, (size_t)(4 * outer * c)) == 0, "mean_f32", trial);
    free(xs); free(me); free(mg); free(scratch); free(xf); free(fe); free(fg);
  }
}

/// softmax_s8 against ember_softmax_s8_ref (as the Swift test): a few classes, rows up to the lanes kernel's
/// depth and past it, partial groups of rows, constant rows, alternating extremes, and one maximum per row.
static void test_softmax_s8(const ember_kernel_table *t) {
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t depth = trial % 10 == 0 ? rand_int(65, 80) : trial % 10 == 1 ? rand_int(13, 64) : rand_int(1, 12);
    const int32_t rows = rand_int(1, 70);
    const int64_t count = (int64_t)rows * depth;
    int8_t *x = zalloc(count), *expected = zalloc(count), *got = zalloc(count);
    fill_s8(x, count, 0);
    if (trial % 7 == 0) memset(x, rand_int(-128, 127), (size_t)count);
    if (trial % 7 == 1) for (int64_t i = 0; i < count; ++i) x[i] = i % 2 == 0 ? -128 : 127;
    if (trial % 7 == 2) for (int32_t r = 0; r < rows; ++r) x[(int64_t)r * depth + rand_int(0, depth - 1)] = 127;
    // PreprocessSoftmaxScaling as the preparer does it (5 integer bits).
    const double scale = 0.01 + 0.49 * fabs((double)rand_float(1.0f)), beta = 0.5 + 1.5 * fabs((double)rand_float(1.0f));
    double real = beta * scale * (double)(1 << 26);
    if (real > (double)INT32_MAX) real = (double)INT32_MAX;
    int32_t m, shift;
    ember_quantize_multiplier(real, &m, &shift);
    if (shift < 0 || shift > 30) { free(x); free(expected); free(got); continue; }
    const int32_t diff_min = -(int32_t)floor(31.0 * (double)(1 << 26) / (double)(1 << shift));
    int32_t table[256];
    ember_softmax_s8_exp_table(m, shift, diff_min, table);
    ember_softmax_s8_ref(rows, depth, table, x, expected);
    t->softmax_s8(rows, depth, table, x, got);
    expect(memcmp(got, expected, (size_t)count) == 0, "softmax_s8", trial);
    free(x); free(expected); free(got);
  }
}

/// requantize_s32 (the int8 transposed conv's output stage) against the reference's MBQM per element,
/// saturating sums and left shifts included; resize_bilinear_s8 against its reference.
static void test_requantize_resize_s8(const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    const int32_t pixels = rand_int(1, 9), channels = rand_int(1, 37);
    const int64_t count = (int64_t)pixels * channels;
    int32_t *acc = zalloc(4 * count), *bias = zalloc(4 * (int64_t)channels);
    int32_t *mult = zalloc(4 * (int64_t)channels), *shift = zalloc(4 * (int64_t)channels);
    for (int64_t i = 0; i < count; ++i) acc[i] = trial % 8 == 0 ? (rand_int(0, 1) ? INT32_MAX : INT32_MIN) : rand_int(-200000, 200000);
    for (int32_t i = 0; i < channels; ++i) bias[i] = rand_int(-5000, 5000);
    random_requant(channels, mult, shift);
    int32_t lo, hi;
    const int32_t out_zp = rand_int(-128, 127);
    random_activation_range(trial, out_zp, &lo, &hi);
    const ember_requant rq = {0, out_zp, mult, shift, lo, hi, NULL};
    const int32_t *b = trial % 3 == 0 ? NULL : bias;
    int8_t *expected = zalloc(count), *got = zalloc(count);
    for (int64_t i = 0; i < count; ++i) {
      const int32_t ch = (int32_t)(i % channels);
      const int32_t sum = (int32_t)((uint32_t)acc[i] + (uint32_t)(b ? b[ch] : 0));  // wrapping, as the kernels
      const int32_t v = ember_multiply_by_quantized_multiplier(sum, mult[ch], shift[ch]) + out_zp;
      expected[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
    t->requantize_s32(pixels, channels, acc, b, &rq, got);
    expect(memcmp(got, expected, (size_t)count) == 0, "requantize_s32", trial);
    free(acc); free(bias); free(mult); free(shift); free(expected); free(got);

    const int32_t batch = rand_int(1, 2), in_h = rand_int(1, 7), in_w = rand_int(1, 7), c = rand_int(1, 20);
    const int32_t out_h = rand_int(1, 12), out_w = rand_int(1, 12);
    const int32_t align = trial % 3 == 1, half_pixel = trial % 3 == 2;
    const int64_t in_n = (int64_t)batch * in_h * in_w * c, out_n = (int64_t)batch * out_h * out_w * c;
    int8_t *x = zalloc(in_n), *re = zalloc(out_n), *rg = zalloc(out_n);
    fill_s8(x, in_n, trial % 10 == 0 ? (trial % 20 == 0 ? 1 : -1) : 0);
    ember_resize_bilinear_s8_ref(batch, in_h, in_w, c, out_h, out_w, align, half_pixel, x, re);
    t->resize_bilinear_s8(batch, in_h, in_w, c, out_h, out_w, align, half_pixel, x, rg);
    expect(memcmp(rg, re, (size_t)out_n) == 0, "resize_bilinear_s8", trial);
    free(x); free(re); free(rg);
  }
}

/// The f32 unary kernel against the reference: the piecewise-linear ops, hard-swish, abs, neg, square, sqrt,
/// rsqrt, reciprocal, floor, ceil and round bit for bit (any NaN for a NaN), e^x, ln x and erf x within 2 ulp,
/// sigmoid and tanh within 4 ulp and silu within 5 (or 1e-38 near 0), over random values, infinities, NaN,
/// ±0, denormals and e^x's edges, and a dense sweep across tanh's seam at 0.625.
static void test_unary_f32(const ember_kernel_table *t) {
  const ember_unary_op exact[] = {EMBER_UNARY_RELU, EMBER_UNARY_RELU6, EMBER_UNARY_RELU_N1_TO_1, EMBER_UNARY_LEAKY_RELU,
                                  EMBER_UNARY_HARD_SWISH, EMBER_UNARY_ABS, EMBER_UNARY_NEG, EMBER_UNARY_SQUARE,
                                  EMBER_UNARY_SQRT, EMBER_UNARY_RSQRT, EMBER_UNARY_RECIPROCAL, EMBER_UNARY_FLOOR,
                                  EMBER_UNARY_CEIL, EMBER_UNARY_ROUND};
  const ember_unary_op approximate[] = {EMBER_UNARY_SIGMOID, EMBER_UNARY_TANH, EMBER_UNARY_SILU, EMBER_UNARY_EXP,
                                        EMBER_UNARY_LOG, EMBER_UNARY_ERF, EMBER_UNARY_GELU};
  enum { EXACT = 14, OPS = 21 };
  const float specials[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-40f, -1e-40f, 88.5f, -88.5f, 89.0f, -89.0f,
                            103.9f, -103.9f, 104.0f, -104.0f, 1e30f, -1e30f, -3.0f, 3.0f, 6.0f, -6.0f, 0.625f, -0.625f};
  for (int trial = 0; trial < 120; ++trial) {
    const int32_t n = trial == 0 ? 2401 : rand_int(1, 100);
    float *x = zalloc(4 * (int64_t)n), *expected = zalloc(4 * (int64_t)n), *got = zalloc(4 * (int64_t)n + 4);
    for (int32_t i = 0; i < n; ++i) {
      x[i] = trial == 0 ? (float)(i - 1200) / 1000.0f : rand_float(trial % 2 ? 30.0f : 8.0f);
      if (trial > 0 && rand_int(0, 5) == 0) x[i] = specials[rand_int(0, 22)];
    }
    for (int k = 0; k < OPS; ++k) {
      const ember_unary_op op = k < EXACT ? exact[k] : approximate[k - EXACT];
      const float alpha = 0.01f + fabsf(rand_float(0.3f));
      if (op == EMBER_UNARY_LOG && trial % 2)  // ln x of positive values too, denormals every third trial
        for (int32_t i = 0; i < n; ++i) x[i] = isnan(x[i]) ? x[i] : fabsf(x[i]) * (trial % 3 == 0 ? 1e-39f : 1.0f);
      ember_unary_f32_ref(op, alpha, n, x, expected);
      got[n] = 7.0f;
      expect(t->unary_f32(op, alpha, n, x, got) == 1, "unary_f32 handles the op", trial);
      expect(got[n] == 7.0f, "unary_f32 wrote past the end", trial);
      const int64_t allowed = op == EMBER_UNARY_SILU ? 5 : op == EMBER_UNARY_EXP || op == EMBER_UNARY_LOG || op == EMBER_UNARY_ERF ? 2 : 4;
      int ok = 1;
      for (int32_t i = 0; i < n && ok; ++i) {
        if (isnan(got[i]) || isnan(expected[i])) { ok = isnan(got[i]) && isnan(expected[i]); continue; }
        int32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &expected[i], 4);
        const int64_t ulps = a > b ? (int64_t)a - b : (int64_t)b - a;
        if (op == EMBER_UNARY_GELU)  // erf's 2 ulp near −1 are all of 1 + erf for x ≪ 0, as in the reference's
          ok = a == b || fabsf(got[i] - expected[i]) <= fmaxf(1.0f, fabsf(x[i])) * 0x1p-21f;
        else
          ok = k < EXACT ? a == b : (a == b || ulps <= allowed || (allowed == 4 && fabsf(got[i] - expected[i]) <= 1e-38f));
      }
      expect(ok, k < EXACT ? "unary_f32 exact op" : "unary_f32 sigmoid/tanh/silu/exp/log/erf/gelu", trial * 32 + k);
    }
    free(x); free(expected); free(got);
  }
  expect(t->unary_f32(EMBER_UNARY_SIN, 0, 0, NULL, NULL) == 0, "unary_f32 leaves sin to the reference", 0);
}

/// int8 max and average pooling against the reference byte for byte, and the f32 ones bit for bit: odd
/// channel counts, windows past the border (padding excluded), strides, and clamps.
static void test_max_pool_s8(const ember_kernel_table *t) {
  for (int trial = 0; trial < 300; ++trial) {
    ember_pool_geometry g;
    memset(&g, 0, sizeof g);
    g.batch = rand_int(1, 2); g.in_h = rand_int(1, 9); g.in_w = rand_int(1, 9); g.channels = rand_int(1, 40);
    g.kernel_h = rand_int(1, 3); g.kernel_w = rand_int(1, 3); g.stride_h = rand_int(1, 2); g.stride_w = rand_int(1, 2);
    g.pad_top = rand_int(0, g.kernel_h - 1); g.pad_left = rand_int(0, g.kernel_w - 1);
    g.out_h = (g.in_h + 2 * g.pad_top - g.kernel_h) / g.stride_h + 1;
    g.out_w = (g.in_w + 2 * g.pad_left - g.kernel_w) / g.stride_w + 1;
    if (g.out_h < 1 || g.out_w < 1) continue;
    const int64_t in_n = (int64_t)g.batch * g.in_h * g.in_w * g.channels;
    const int64_t out_n = (int64_t)g.batch * g.out_h * g.out_w * g.channels;
    int8_t *x = zalloc(in_n), *expected = zalloc(out_n), *got = zalloc(out_n);
    fill_s8(x, in_n, trial % 9 == 0 ? -1 : 0);
    const int32_t lo = trial % 3 == 0 ? rand_int(-128, 0) : -128, hi = trial % 3 == 0 ? rand_int(0, 127) : 127;
    ember_max_pool_s8_ref(&g, x, lo, hi, expected);
    t->max_pool_s8(&g, x, lo, hi, got);
    expect(memcmp(got, expected, (size_t)out_n) == 0, "max_pool_s8", trial);
    ember_avg_pool_s8_ref(&g, x, lo, hi, expected);
    t->avg_pool_s8(&g, x, lo, hi, got);
    expect(memcmp(got, expected, (size_t)out_n) == 0, "avg_pool_s8", trial);
    // The f32 pools bit for bit on the same windows (values with infinities; the clamp or none).
    float *xf = zalloc(4 * in_n), *ef = zalloc(4 * out_n), *gf = zalloc(4 * out_n);
    for (int64_t i = 0; i < in_n; ++i) xf[i] = rand_int(0, 40) == 0 ? (i % 2 ? INFINITY : -INFINITY) : rand_float(5.0f);
    const float flo = trial % 3 == 0 ? 0.0f : -INFINITY, fhi = trial % 3 == 0 ? 6.0f : INFINITY;
    ember_max_pool_f32_ref(&g, xf, flo, fhi, ef);
    t->max_pool_f32(&g, xf, flo, fhi, gf);
    expect(memcmp(gf, ef, (size_t)(4 * out_n)) == 0, "max_pool_f32", trial);
    ember_avg_pool_f32_ref(&g, xf, flo, fhi, ef);
    t->avg_pool_f32(&g, xf, flo, fhi, gf);
    int same = 1;
    for (int64_t i = 0; i < out_n; ++i) same &= (isnan(gf[i]) && isnan(ef[i])) || memcmp(&gf[i], &ef[i], 4) == 0;
    expect(same, "avg_pool_f32", trial);
    free(x); free(expected); free(got); free(xf); free(ef); free(gf);
  }
}

/// f32 softmax over the last axis and layer norm within 1e-5 of the reference (sums in lanes), every tail
/// length; the f32 bilinear resize bit for bit in every mode.
static void test_softmax_norm_resize_f32(const ember_kernel_table *t) {
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t rows = rand_int(1, 4), size = trial < 40 ? trial + 1 : rand_int(1, 200);
    const int64_t n = (int64_t)rows * size;
    float *x = zalloc(4 * n), *e = zalloc(4 * n), *got = zalloc(4 * n), *gamma = zalloc(4 * size), *beta = zalloc(4 * size);
    for (int64_t i = 0; i < n; ++i) x[i] = rand_float(trial % 2 ? 30.0f : 4.0f) + (trial % 3 == 0 ? 100.0f : 0.0f);
    for (int32_t i = 0; i < size; ++i) { gamma[i] = rand_float(2.0f); beta[i] = rand_float(2.0f); }
    ember_softmax_f32_ref(rows, size, 1, 1.5f, x, e);
    t->softmax_f32(rows, size, 1.5f, x, got);
    int ok = 1;
    for (int64_t i = 0; i < n; ++i) ok &= fabsf(got[i] - e[i]) <= 1e-5f * fabsf(e[i]) + 1e-7f;
    expect(ok, "softmax_f32", trial);
    const float *g = trial % 4 ? gamma : NULL, *b = trial % 5 ? beta : NULL;
    ember_layer_norm_f32_ref(rows, size, 1e-5f, x, g, b, e);
    t->layer_norm_f32(rows, size, 1e-5f, x, g, b, got);
    ok = 1;
    for (int64_t i = 0; i < n; ++i) ok &= fabsf(got[i] - e[i]) <= 1e-5f * fmaxf(fabsf(e[i]), 1e-3f);
    expect(ok, "layer_norm_f32", trial);
    free(x); free(e); free(got); free(gamma); free(beta);

    const int32_t batch = rand_int(1, 2), ih = rand_int(1, 9), iw = rand_int(1, 9), c = rand_int(1, 40);
    const int32_t oh = rand_int(1, 20), ow = rand_int(1, 20), mode = trial % 3;
    const int64_t in_n = (int64_t)batch * ih * iw * c, out_n = (int64_t)batch * oh * ow * c;
    float *ri = zalloc(4 * in_n), *re = zalloc(4 * out_n), *rg = zalloc(4 * out_n);
    for (int64_t i = 0; i < in_n; ++i) ri[i] = rand_float(10.0f);
    ember_resize_bilinear_f32_ref(batch, ih, iw, c, oh, ow, mode == 1, mode == 2, ri, re);
    t->resize_bilinear_f32(batch, ih, iw, c, oh, ow, mode == 1, mode == 2, ri, rg);
    expect(memcmp(rg, re, (size_t)(4 * out_n)) == 0, "resize_bilinear_f32", trial);
    free(ri); free(re); free(rg);
  }
}

int main(void) {
  const uint32_t features = ember_cpu_features();
  const ember_kernel_table *t = ember_kernel_table_for(EMBER_ISA_NEON);
  if (!(features & EMBER_CPU_NEON) || !t) {
    fprintf(stderr, "FAIL: no NEON kernel table (features 0x%x)\n", features);
    return 1;
  }
  printf("NEON kernels (CPU: neon%s%s)\n", features & EMBER_CPU_DOTPROD ? " dotprod" : "",
         features & EMBER_CPU_I8MM ? " i8mm" : "");
  test_conv_s8(EMBER_ISA_NEON, t);
  test_fc_s8(EMBER_ISA_NEON, t);
  test_dw_s8(EMBER_ISA_NEON, t);
  test_add_s8(t);
  test_mul_s8(t);
  test_hybrid(EMBER_ISA_NEON, t);
  test_hybrid_fc(EMBER_ISA_NEON, t);
  test_binary_f32(t);
  test_matmul(EMBER_ISA_NEON, t);
  test_lookup_quantize_mean(t);
  test_requantize_resize_s8(t);
  test_softmax_s8(t);
  test_unary_f32(t);
  test_softmax_norm_resize_f32(t);
  test_max_pool_s8(t);
  test_f32(EMBER_ISA_NEON, t);
  test_winograd(EMBER_ISA_NEON, t);
  test_q4(t);
  test_crc32();
  printf("CRC-32: %s\n", features & EMBER_CPU_CRC32 ? "ARMv8 CRC32 instructions" : "SKIP: no CRC32 instructions (tables only)");
  // The roofline probes count their work: iterations × 8 chains × MACs per instruction.
  expect(ember_probe_mac(EMBER_ISA_NEON, 1, 10) == 10 * 8 * 4, "probe_mac int8", 0);
  expect(ember_probe_mac(EMBER_ISA_NEON, 0, 10) == 10 * 8 * 4, "probe_mac f32", 0);
  if (features & EMBER_CPU_DOTPROD) {
    const ember_kernel_table *d = ember_kernel_table_for(EMBER_ISA_NEON_DOTPROD);
    if (!d) { fprintf(stderr, "FAIL: no dotprod kernel table\n"); return 1; }
    printf("NEON dotprod int8 GEMM kernels\n");
    test_conv_s8(EMBER_ISA_NEON_DOTPROD, d);
    test_fc_s8(EMBER_ISA_NEON_DOTPROD, d);
    test_hybrid(EMBER_ISA_NEON_DOTPROD, d);
    test_hybrid_fc(EMBER_ISA_NEON_DOTPROD, d);
    expect(ember_probe_mac(EMBER_ISA_NEON_DOTPROD, 1, 10) == 10 * 8 * 16, "probe_mac sdot", 0);
  } else {
    printf("SKIP: this CPU model has no dotprod; the sdot kernels were not run\n");
  }
  printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
