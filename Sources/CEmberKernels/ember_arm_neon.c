// ARM NEON kernels (AArch64 Advanced SIMD, part of every ARMv8-A core, so no target attribute is
// needed): 8 output channels per panel, held as two 4-lane registers.
//
// int8 GEMM: the AVX2 packing (ember_pack.c) — patches widened to int16 with the zero point
// subtracted (padding taps are 0), weights as int16 pairs, which vld2q_s16 splits into the even
// and the odd k — and exact 32-bit multiply-accumulates (vmlal_s16). Requantization is gemmlowp's:
// vqrdmulhq_s32 is SaturatingRoundingDoublingHighMul exactly (gemmlowp's own NEON definition), and
// RoundingDivideByPOT is vrshlq_s32 after subtracting 1 from negative values (vrshl rounds half
// up; gemmlowp and TFLite's NEON code round half away from zero this way), so the bytes are the
// reference's. The dynamic-range conv quantizes with vcvtaq_s32_f32 (round half away from zero,
// roundf's rule) and stores acc·scale + bias multiplied then added: the reference's bits. The f32
// elementwise ops select with compares (not vmaxq/vminq, which turn NaN around differently), so
// they are the reference's bits too; f32 conv/FC/depthwise use FMA and may differ in the last bits.
#include "ember_fp_contract.h"
#include "ember_kernels.h"
#include "ember_conv_loops.h"
#include "ember_poly.h"
#include "ember_fixed_point.h"

#if defined(__aarch64__)
#include <arm_acle.h>
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define MR 4  // rows per GEMM tile (ember_gemm_scratch_bytes gathers 4 rows for every non-AVX-512 path)

// ------------------------------------------------------------ requantization
/// ember_multiply_by_quantized_multiplier, 4 lanes.
static inline int32x4_t mbqm_double(int32x4_t x, int32x4_t mult, int32x4_t shift) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t left = vmaxq_s32(shift, zero), right = vminq_s32(shift, zero);  // right <= 0
  x = vshlq_s32(x, left);  // wraps as the reference's uint32 multiply does
  int32x4_t r = vqrdmulhq_s32(x, mult);
  const int32x4_t fixup = vshrq_n_s32(vandq_s32(r, right), 31);  // -1 where r < 0 and there is a shift
  return vrshlq_s32(vqaddq_s32(r, fixup), right);
}

/// ember_multiply_by_quantized_multiplier_single_rounding, 4 lanes: (x·m + 2^(t−1)) >> t with
/// t = 31 − shift, which is exactly vrshlq_s64 by −t, then saturated to int32.
static inline int32x4_t mbqm_single(int32x4_t x, int32x4_t mult, int32x4_t shift) {
  shift = vminq_s32(vmaxq_s32(shift, vdupq_n_s32(-31)), vdupq_n_s32(30));
  const int32x4_t neg_total = vsubq_s32(shift, vdupq_n_s32(31));
  const int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(mult)), vmovl_s32(vget_low_s32(neg_total)));
  const int64x2_t hi = vrshlq_s64(vmull_high_s32(x, mult), vmovl_high_s32(neg_total));
  return vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi));
}

/// Stores the first `count` (1…8) bytes of v.
static inline void store_s8(int8_t *out, int8x8_t v, int32_t count) {
  if (count >= 8) { vst1_s8(out, v); return; }
  int8_t tmp[8];
  vst1_s8(tmp, v);
  memcpy(out, tmp, (size_t)count);
}

/// Rounds to nearest even (FCVTNS) after clamping to ±2^30, as ember_requantize_float / ember_quantize_float.
static inline int32x4_t round_float4(float32x4_t v) {
  v = vminq_f32(vmaxq_f32(v, vdupq_n_f32(-1073741824.0f)), vdupq_n_f32(1073741824.0f));
  return vcvtnq_s32_f32(v);
}

/// 8 requantized values (two registers) offset and narrowed to int8, clamped to [act_min, act_max]. The
/// narrowing saturates to [−128, 127], so the activation range clamps the 8 bytes, and only when narrower
/// (ReLU6, or ReLU at a zero point above −128).
static inline int8x8_t offset_clamp8(int32x4_t r0, int32x4_t r1, int32_t offset, int32_t act_min, int32_t act_max) {
  const int32x4_t off = vdupq_n_s32(offset);
  int8x8_t v = vqmovn_s16(vcombine_s16(vqmovn_s32(vaddq_s32(r0, off)), vqmovn_s32(vaddq_s32(r1, off))));
  if (act_min > -128) v = vmax_s8(v, vdup_n_s8((int8_t)act_min));
  if (act_max < 127) v = vmin_s8(v, vdup_n_s8((int8_t)act_max));
  return v;
}

/// Offsets, clamps and stores the first `count` of 8 requantized values.
static inline void offset_store8(int32x4_t r0, int32x4_t r1, int32_t offset, int32_t act_min, int32_t act_max,
                                 int32_t count, int8_t *out) {
  store_s8(out, offset_clamp8(r0, r1, offset, act_min, act_max), count);
}

/// Requantizes 8 accumulators (two registers) of channels [c, c + 8) and stores the first `count`: by the
/// float scales when `scale` is not NULL (ONNX Runtime's requantization), else fixed point.
static inline void requant_store8(int32x4_t a0, int32x4_t a1, const int32_t *multiplier, const int32_t *shift,
                                  const float *scale, int32_t single, int32_t offset, int32_t act_min, int32_t act_max,
                                  int32_t count, int8_t *out) {
  if (scale) {
    offset_store8(round_float4(vmulq_f32(vcvtq_f32_s32(a0), vld1q_f32(scale))),
                  round_float4(vmulq_f32(vcvtq_f32_s32(a1), vld1q_f32(scale + 4))), offset, act_min, act_max, count, out);
    return;
  }
  const int32x4_t m0 = vld1q_s32(multiplier), m1 = vld1q_s32(multiplier + 4);
  const int32x4_t s0 = vld1q_s32(shift), s1 = vld1q_s32(shift + 4);
  int32x4_t r0 = single ? mbqm_single(a0, m0, s0) : mbqm_double(a0, m0, s0);
  int32x4_t r1 = single ? mbqm_single(a1, m1, s1) : mbqm_double(a1, m1, s1);
  offset_store8(r0, r1, offset, act_min, act_max, count, out);
}

/// ADD/SUB/MUL in ONNX Runtime's float arithmetic (float_mode) over `count` elements: the dequantized
/// operands combined in float, divided by the output scale, rounded to nearest even. `op`: 0 add, 1 sub, 2 mul.
static void float_binary_s8_row_neon(int64_t count, const int8_t *a, const int8_t *b, int32_t a_offset, int32_t b_offset,
                                     float a_scale, float b_scale, float output_scale, int32_t output_offset,
                                     int32_t act_min, int32_t act_max, int32_t op, int8_t *out) {
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    int8_t xa[8] = {0}, xb[8] = {0};
    memcpy(xa, a + i, (size_t)n);
    memcpy(xb, b + i, (size_t)n);
    const int16x8_t x = vmovl_s8(vld1_s8(xa)), y = vmovl_s8(vld1_s8(xb));
    int32x4_t r[2];
    for (int32_t h = 0; h < 2; ++h) {
      const int32x4_t xs = vaddq_s32(h ? vmovl_high_s16(x) : vmovl_s16(vget_low_s16(x)), vdupq_n_s32(a_offset));
      const int32x4_t ys = vaddq_s32(h ? vmovl_high_s16(y) : vmovl_s16(vget_low_s16(y)), vdupq_n_s32(b_offset));
      const float32x4_t fx = vmulq_f32(vcvtq_f32_s32(xs), vdupq_n_f32(a_scale));
      const float32x4_t fy = vmulq_f32(vcvtq_f32_s32(ys), vdupq_n_f32(b_scale));
      const float32x4_t v = op == 0 ? vaddq_f32(fx, fy) : op == 1 ? vsubq_f32(fx, fy) : op == 3 ? vsubq_f32(fy, fx)
                                                                                          : vmulq_f32(fx, fy);
      r[h] = round_float4(vdivq_f32(v, vdupq_n_f32(output_scale)));
    }
    offset_store8(r[0], r[1], output_offset, act_min, act_max, n, out + i);
  }
}

/// The reference's clamp_f (v < lo ? lo : v > hi ? hi : v), NaN kept.
static inline float32x4_t clamp_exact(float32x4_t v, float32x4_t lo, float32x4_t hi) {
  v = vbslq_f32(vcltq_f32(v, lo), lo, v);
  return vbslq_f32(vcgtq_f32(v, hi), hi, v);
}

/// Stores the first `count` (1…4) floats of v.
static inline void store_f32(float *out, float32x4_t v, int32_t count) {
  if (count >= 4) { vst1q_f32(out, v); return; }
  float tmp[4];
  vst1q_f32(tmp, v);
  memcpy(out, tmp, sizeof(float) * (size_t)count);
}

/// Loads `count` (1…4) floats, zeros after them.
static inline float32x4_t load_f32(const float *src, int32_t count) {
  if (count >= 4) return vld1q_f32(src);
  float tmp[4] = {0, 0, 0, 0};
  memcpy(tmp, src, sizeof(float) * (size_t)count);
  return vld1q_f32(tmp);
}

/// Stores 8 accumulators of channels [c, c + 8) at element `at` of the GEMM's output: requantized
/// int8, or for a dynamic-range GEMM f32 acc·scale (+ bias), multiplied then added as the reference does.
static inline void store_acc(int32x4_t a0, int32x4_t a1, const ember_qs8_gemm *w, int32_t c, int32_t count, void *out,
                             int64_t at) {
  if (!w->float_output) {
    requant_store8(a0, a1, w->multiplier + c, w->shift + c, w->requant_scale ? w->requant_scale + c : NULL,
                   w->single_rounding, w->output_offset, w->act_min, w->act_max, count, (int8_t *)out + at);
    return;
  }
  const float32x4_t scale = vdupq_n_f32(w->float_scale);
  const float32x4_t lo = vdupq_n_f32(w->float_min), hi = vdupq_n_f32(w->float_max);
  float32x4_t v0 = vmulq_f32(vcvtq_f32_s32(a0), scale), v1 = vmulq_f32(vcvtq_f32_s32(a1), scale);
  if (w->float_bias) {
    v0 = vaddq_f32(v0, vld1q_f32(w->float_bias + c));
    v1 = vaddq_f32(v1, vld1q_f32(w->float_bias + c + 4));
  }
  float *o = (float *)out + at;
  store_f32(o, clamp_exact(v0, lo, hi), count);
  if (count > 4) store_f32(o + 4, clamp_exact(v1, lo, hi), count - 4);
}

// ------------------------------------------------------------ int8 GEMM tile
/// `rows` (1…4) rows of int16 patches (each k_padded values) × one or two 8-channel panels.
static void qs8_tile(int32_t rows, const int16_t *a, const ember_qs8_gemm *w, int32_t panel, void *out, int64_t out_at,
                     int64_t out_stride) {
  const int32_t kp = w->k_padded, pairs = kp / 2, c0 = panel * 8;
  const int32_t two = (panel + 1) * 8 < w->n_padded;
  const int16_t *b0 = (const int16_t *)w->weights + (int64_t)panel * pairs * 16, *b1 = b0 + (int64_t)pairs * 16;
  const int16_t *ar[MR];
  for (int32_t r = 0; r < MR; ++r) ar[r] = a + (int64_t)(r < rows ? r : 0) * kp;
  int32x4_t acc[MR][4];  // [row][panel 0 lo, panel 0 hi, panel 1 lo, panel 1 hi]
  for (int32_t j = 0; j < 4; ++j) {
    const int32_t c = c0 + 4 * j;
    const int32x4_t bias = (j < 2 || two) ? vld1q_s32(w->bias + c) : vdupq_n_s32(0);
    for (int32_t r = 0; r < MR; ++r) acc[r][j] = bias;
  }
  for (int32_t q = 0; q < pairs; ++q) {
    const int16x8x2_t w0 = vld2q_s16(b0 + q * 16);             // even k, odd k of 8 channels
    const int16x8x2_t w1 = two ? vld2q_s16(b1 + q * 16) : w0;
    for (int32_t r = 0; r < MR; ++r) {
      const int16_t x0 = ar[r][2 * q], x1 = ar[r][2 * q + 1];
      acc[r][0] = vmlal_n_s16(acc[r][0], vget_low_s16(w0.val[0]), x0);
      acc[r][1] = vmlal_high_n_s16(acc[r][1], w0.val[0], x0);
      acc[r][0] = vmlal_n_s16(acc[r][0], vget_low_s16(w0.val[1]), x1);
      acc[r][1] = vmlal_high_n_s16(acc[r][1], w0.val[1], x1);
      acc[r][2] = vmlal_n_s16(acc[r][2], vget_low_s16(w1.val[0]), x0);
      acc[r][3] = vmlal_high_n_s16(acc[r][3], w1.val[0], x0);
      acc[r][2] = vmlal_n_s16(acc[r][2], vget_low_s16(w1.val[1]), x1);
      acc[r][3] = vmlal_high_n_s16(acc[r][3], w1.val[1], x1);
    }
  }
  const int32_t n0 = w->n - c0 < 8 ? w->n - c0 : 8, n1 = w->n - c0 - 8 < 8 ? w->n - c0 - 8 : 8;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = out_at + r * out_stride + c0;
    store_acc(acc[r][0], acc[r][1], w, c0, n0, out, at);
    if (two && n1 > 0) store_acc(acc[r][2], acc[r][3], w, c0 + 8, n1, out, at + 8);
  }
}

/// dst[0..n) = src − zero_point as int16, 8 at a time (a shorter tail element by element).
static inline void widen_i16(int16_t *dst, const int8_t *src, int32_t zero_point, int32_t n) {
  const int16x8_t zp = vdupq_n_s16((int16_t)zero_point);
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) vst1q_s16(dst + i, vsubq_s16(vmovl_s8(vld1_s8(src + i)), zp));
  for (; i < n; ++i) dst[i] = (int16_t)(src[i] - zero_point);
}

/// The patch of output pixel `px` as int16 (x − zero point), 0 where a tap falls outside, then 0 up to
/// k_padded.
static void gather_i16(const ember_conv_geometry *g, const int8_t *input, ember_pixel px, int32_t zero_point,
                       int16_t *dst, int32_t k_padded) {
  int32_t k;
  EMBER_FOR_EACH_PATCH_RUN(g, px, k, widen_i16(dst + k, input + at, zero_point, len),
                           memset(dst + k, 0, sizeof(int16_t) * (size_t)len));
  memset(dst + k, 0, sizeof(int16_t) * (size_t)(k_padded - k));
}

/// The int8 GEMM convolution behind both the int8 and the hybrid entry points (output int8 or f32).
static void conv2d_qs8(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                       void *output) {
  int16_t *patches = (int16_t *)scratch;
  const int64_t pixels = (int64_t)g->batch * g->out_h * g->out_w;
  const int32_t panels = w->n_padded / 8;
  ember_pixel px = {0, 0, 0};
  for (int64_t p = 0; p < pixels; p += MR) {
    const int32_t rows = pixels - p < MR ? (int32_t)(pixels - p) : MR;
    for (int32_t r = 0; r < rows; ++r, ember_pixel_next(g, &px))
      gather_i16(g, input, px, w->input_zero_point, patches + (int64_t)r * w->k_padded, w->k_padded);
    for (int32_t panel = 0; panel < panels; panel += 2) qs8_tile(rows, patches, w, panel, output, p * w->n, w->n);
  }
}

static void conv2d_s8_neon(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                           int8_t *output) {
  conv2d_qs8(g, input, w, scratch, output);
}

static void fc_qs8_neon(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch, void *output) {
  int16_t *patches = (int16_t *)scratch;
  const int32_t panels = w->n_padded / 8;
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    for (int32_t r = 0; r < mr; ++r) {
      int16_t *dst = patches + (int64_t)r * w->k_padded;
      widen_i16(dst, input + (p + r) * w->k, w->input_zero_point, w->k);
      memset(dst + w->k, 0, sizeof(int16_t) * (size_t)(w->k_padded - w->k));
    }
    for (int32_t panel = 0; panel < panels; panel += 2) qs8_tile(mr, patches, w, panel, output, p * w->n, w->n);
  }
}

static void fully_connected_s8_neon(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch, int8_t *output) {
  fc_qs8_neon(rows, input, w, scratch, output);
}

// ------------------------------------------------------------ dynamic range
/// tensor_utils::SymmetricQuantizeFloats (as ember_conv2d_hybrid_ref), 4 lanes; returns the input scale.
static float quantize_symmetric(const float *x, int64_t count, int8_t *q) {
  float32x4_t range_v = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) range_v = vmaxq_f32(range_v, vabsq_f32(vld1q_f32(x + i)));
  float range = vmaxvq_f32(range_v);
  for (; i < count; ++i) range = fabsf(x[i]) > range ? fabsf(x[i]) : range;
  if (range == 0.0f) {
    memset(q, 0, (size_t)count);
    return 1.0f;
  }
  const float inv_s = 127.0f / range;
  const float32x4_t inv = vdupq_n_f32(inv_s);
  const int32x4_t top = vdupq_n_s32(127), bottom = vdupq_n_s32(-127);
  for (i = 0; i + 8 <= count; i += 8) {
    // vcvtaq rounds half away from zero, as roundf does.
    const int32x4_t n0 = vminq_s32(vmaxq_s32(vcvtaq_s32_f32(vmulq_f32(vld1q_f32(x + i), inv)), bottom), top);
    const int32x4_t n1 = vminq_s32(vmaxq_s32(vcvtaq_s32_f32(vmulq_f32(vld1q_f32(x + i + 4), inv)), bottom), top);
    vst1_s8(q + i, vqmovn_s16(vcombine_s16(vqmovn_s32(n0), vqmovn_s32(n1))));
  }
  for (; i < count; ++i) {
    const float r = roundf(x[i] * inv_s);
    q[i] = (int8_t)(r > 127.0f ? 127 : (r < -127.0f ? -127 : (int32_t)r));
  }
  return range / 127.0f;
}

static void conv2d_hybrid_neon(const ember_conv_geometry *g, const float *input, const ember_qs8_gemm *w, void *scratch,
                               float *output) {
  EMBER_HYBRID_CONV_BODY(g, input, w, scratch, output, quantize_symmetric, conv2d_qs8);
}

// ------------------------------------------------------------ int8 depthwise
/// Eight int8 channels minus the zero point as int16; a tail shorter than 8 is read through a copy.
static inline int16x8_t load8_minus(const int8_t *src, int32_t count, int16x8_t zp) {
  if (count >= 8) return vsubq_s16(vmovl_s8(vld1_s8(src)), zp);
  int8_t tmp[8] = {0};
  memcpy(tmp, src, (size_t)count);
  return vsubq_s16(vmovl_s8(vld1_s8(tmp)), zp);
}

/// One pixel's V (1…4, constant) 8-channel groups from c0 over every valid tap, then requantized.
#define DEFINE_DW_S8_BLOCK(V)                                                                        \
  static void dw_s8_block_##V(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_dw *w, int32_t n, \
                              int32_t oy, int32_t ox, int32_t c0, int32_t last, int8_t *out) {     \
    const int16x8_t zp = vdupq_n_s16((int16_t)w->input_zero_point);                               \
    int32x4_t acc[V][2];                                                                          \
    for (int32_t v = 0; v < V; ++v) {                                                             \
      acc[v][0] = vld1q_s32(w->bias + c0 + 8 * v);                                                \
      acc[v][1] = vld1q_s32(w->bias + c0 + 8 * v + 4);                                            \
    }                                                                                             \
    EMBER_FOR_EACH_VALID_TAP(g, n, oy, ox, int8_t, input, c0, {                                   \
      const int32_t *f = w->weights + (int64_t)tap * w->c_padded + c0;                            \
      for (int32_t v = 0; v < V; ++v) {                                                           \
        const int16x8_t x = load8_minus(src + 8 * v, v == V - 1 ? last : 8, zp);                  \
        acc[v][0] = vmlaq_s32(acc[v][0], vmovl_s16(vget_low_s16(x)), vld1q_s32(f + 8 * v));       \
        acc[v][1] = vmlaq_s32(acc[v][1], vmovl_high_s16(x), vld1q_s32(f + 8 * v + 4));            \
      }                                                                                           \
    })                                                                                            \
    for (int32_t v = 0; v < V; ++v) {                                                             \
      const int32_t c = c0 + 8 * v;                                                               \
      requant_store8(acc[v][0], acc[v][1], w->multiplier + c, w->shift + c,                        \
                     w->requant_scale ? w->requant_scale + c : NULL, 0, w->output_offset, w->act_min, \
                     w->act_max, v == V - 1 ? last : 8, out + c);                                 \
    }                                                                                             \
  }
DEFINE_DW_S8_BLOCK(1) DEFINE_DW_S8_BLOCK(2) DEFINE_DW_S8_BLOCK(3) DEFINE_DW_S8_BLOCK(4)

static void dwconv2d_s8_neon(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_dw *w, void *scratch,
                             int8_t *output) {
  (void)scratch;
  EMBER_FOR_EACH_OUTPUT_PIXEL(g, int8_t, output, {
    EMBER_FOR_EACH_CHANNEL_BLOCK(g->in_c, 8, {
      EMBER_CALL_CHANNEL_BLOCK(vectors, dw_s8_block, g, input, w, n, oy, ox, c0, last, out);
    })
  })
}

// ------------------------------------------------------------ int8 mul
/// TFLite int8 MUL, ember_mul_s8_ref's arithmetic, 8 lanes (see ember_kernel_table.mul_s8).
static void mul_s8_neon(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                        const ember_mul_s8_params *p, int8_t *out) {
  if (p->float_mode) {
    for (int64_t r = 0; r < rows; ++r)
      float_binary_s8_row_neon(cols, a + r * cols, b + r * b_row_stride, p->a_offset, p->b_offset, p->a_scale, p->b_scale,
                               p->output_scale, p->output_offset, p->act_min, p->act_max, 2, out + r * cols);
    return;
  }
  const int32x4_t ao = vdupq_n_s32(p->a_offset), bo = vdupq_n_s32(p->b_offset);
  int32_t om[8], os[8];
  for (int k = 0; k < 8; ++k) { om[k] = p->output_multiplier; os[k] = p->output_shift; }
  const int16x8_t zero = vdupq_n_s16(0);
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t *ar = a + r * cols, *br = b + r * b_row_stride;
    for (int64_t i = 0; i < cols; i += 8) {
      const int32_t n = cols - i < 8 ? (int32_t)(cols - i) : 8;
      const int16x8_t x = load8_minus(ar + i, n, zero), y = load8_minus(br + i, n, zero);
      int32x4_t v[2];
      for (int32_t h = 0; h < 2; ++h) {
        const int32x4_t xs = vaddq_s32(h ? vmovl_high_s16(x) : vmovl_s16(vget_low_s16(x)), ao);
        const int32x4_t ys = vaddq_s32(h ? vmovl_high_s16(y) : vmovl_s16(vget_low_s16(y)), bo);
        v[h] = vmulq_s32(xs, ys);
      }
      requant_store8(v[0], v[1], om, os, NULL, 0, p->output_offset, p->act_min, p->act_max, n, out + r * cols + i);
    }
  }
}

// ------------------------------------------------------------ int8 add / sub
/// The linear form of an int8 ADD/SUB (ember_add_s8_linear_plan): (a·lin_a + b·lin_b + lin_c) >> lin_shift,
/// saturated to int8 and clamped; the form has the exact recipe's bytes for every pair of codes.
static void add_s8_linear_row_neon(int64_t count, const int8_t *a, const int8_t *b, const ember_add_s8_params *p,
                                   int8_t *out) {
  const int32x4_t kc = vdupq_n_s32(p->lin_c), shift = vdupq_n_s32(-p->lin_shift);
  const int32_t lin_a = p->lin_a, lin_b = p->lin_b, act_min = p->act_min, act_max = p->act_max;
  const int32_t exceptions = p->lin_exceptions;
  int32_t pairs[EMBER_ADD_LINEAR_EXCEPTIONS], values[EMBER_ADD_LINEAR_EXCEPTIONS];
  memcpy(pairs, p->lin_pairs, sizeof pairs);
  memcpy(values, p->lin_values, sizeof values);
  const int16x8_t zero = vdupq_n_s16(0);
  const uint16x8_t low_byte = vdupq_n_u16(255);
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const int16x8_t x = load8_minus(a + i, n, zero), y = load8_minus(b + i, n, zero);
    int32x4_t r[2];
    for (int32_t h = 0; h < 2; ++h) {
      int32x4_t v = vmlaq_n_s32(kc, h ? vmovl_high_s16(x) : vmovl_s16(vget_low_s16(x)), lin_a);
      v = vmlaq_n_s32(v, h ? vmovl_high_s16(y) : vmovl_s16(vget_low_s16(y)), lin_b);
      r[h] = vshlq_s32(v, shift);  // arithmetic shift right by lin_shift
    }
    int8x8_t bytes = offset_clamp8(r[0], r[1], 0, act_min, act_max);
    if (exceptions) {  // the pairs the form gets wrong, by their key (a & 255) << 8 | (b & 255)
      const uint16x8_t key = vorrq_u16(vshlq_n_u16(vandq_u16(vreinterpretq_u16_s16(x), low_byte), 8),
                                       vandq_u16(vreinterpretq_u16_s16(y), low_byte));
      for (int32_t e = 0; e < exceptions; ++e)
        bytes = vbsl_s8(vmovn_u16(vceqq_u16(key, vdupq_n_u16((uint16_t)pairs[e]))), vdup_n_s8((int8_t)values[e]), bytes);
    }
    store_s8(out + i, bytes, n);
  }
}

static void add_s8_row_neon(int64_t count, const int8_t *a, const int8_t *b, const ember_add_s8_params *p,
                            int32_t subtract, int8_t *out) {
  if (p->float_mode) {
    float_binary_s8_row_neon(count, a, b, p->a_offset, p->b_offset, p->a_scale, p->b_scale, p->output_scale,
                             p->output_offset, p->act_min, p->act_max, subtract == 2 ? 3 : subtract ? 1 : 0, out);
    return;
  }
  if (p->linear && subtract != 3) {
    add_s8_linear_row_neon(count, a, b, p, out);
    return;
  }
  const int32x4_t ao = vdupq_n_s32(p->a_offset), bo = vdupq_n_s32(p->b_offset);
  const int32x4_t am = vdupq_n_s32(p->a_multiplier), as = vdupq_n_s32(p->a_shift);
  const int32x4_t bm = vdupq_n_s32(p->b_multiplier), bs = vdupq_n_s32(p->b_shift);
  const int32x4_t left = vdupq_n_s32(p->left_shift);
  int32_t om[8], os[8];
  for (int k = 0; k < 8; ++k) { om[k] = p->output_multiplier; os[k] = p->output_shift; }
  const int16x8_t zero = vdupq_n_s16(0);
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const int16x8_t x = load8_minus(a + i, n, zero), y = load8_minus(b + i, n, zero);
    int32x4_t r[2];
    for (int32_t h = 0; h < 2; ++h) {
      const int32x4_t xs = vshlq_s32(vaddq_s32(h ? vmovl_high_s16(x) : vmovl_s16(vget_low_s16(x)), ao), left);
      const int32x4_t ys = vshlq_s32(vaddq_s32(h ? vmovl_high_s16(y) : vmovl_s16(vget_low_s16(y)), bo), left);
      const int32x4_t xa = mbqm_double(xs, am, as), yb = mbqm_double(ys, bm, bs);
      r[h] = subtract == 2 ? vsubq_s32(yb, xa) : subtract ? vsubq_s32(xa, yb) : vaddq_s32(xa, yb);
      if (subtract == 3) r[h] = vmulq_s32(r[h], r[h]);  // SQUARED_DIFFERENCE (wrapping, as the reference)
    }
    requant_store8(r[0], r[1], om, os, NULL, 0, p->output_offset, p->act_min, p->act_max, n, out + i);
  }
}

static void add_s8_neon(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                        const ember_add_s8_params *p, int32_t subtract, int8_t *out) {
  for (int64_t r = 0; r < rows; ++r) add_s8_row_neon(cols, a + r * cols, b + r * b_row_stride, p, subtract, out + r * cols);
}

// ------------------------------------------------------------------- f32
/// `rows` (1…4) rows (each `row_stride` floats apart) × one or two 8-channel panels.
/// KIND f32 reads f32 weights; KIND f16 reads IEEE-half weights (an fp16 rung's) and widens them as loaded.
#define DEFINE_F32_TILE(KIND, LOAD_WEIGHTS)                                                                           \
static void KIND##_tile(int32_t rows, const float *a, int64_t row_stride, const ember_f32_gemm *w, int32_t panel,      \
                     float *out, int64_t out_stride) {                                                                 \
  const int32_t k = w->k, c0 = panel * 8;                                                                              \
  const int32_t two = (panel + 1) * 8 < w->n_padded;                                                                   \
  const int64_t b0 = (int64_t)panel * k * 8, b1 = b0 + (int64_t)k * 8;  /* the two panels' offsets */                  \
  const float *ar[MR];                                                                                                 \
  for (int32_t r = 0; r < MR; ++r) ar[r] = a + (r < rows ? r : 0) * row_stride;                                        \
  float32x4_t acc[MR][4];                                                                                              \
  for (int32_t j = 0; j < 4; ++j) {                                                                                    \
    const float32x4_t bias = (j < 2 || two) ? vld1q_f32(w->bias + c0 + 4 * j) : vdupq_n_f32(0.0f);                     \
    for (int32_t r = 0; r < MR; ++r) acc[r][j] = bias;                                                                 \
  }                                                                                                                    \
  for (int32_t i = 0; i < k; ++i) {                                                                                    \
    const float32x4_t w00 = LOAD_WEIGHTS(b0 + i * 8), w01 = LOAD_WEIGHTS(b0 + i * 8 + 4);                              \
    const float32x4_t w10 = two ? LOAD_WEIGHTS(b1 + i * 8) : w00, w11 = two ? LOAD_WEIGHTS(b1 + i * 8 + 4) : w01;      \
    for (int32_t r = 0; r < MR; ++r) {                                                                                 \
      const float x = ar[r][i];                                                                                        \
      acc[r][0] = vfmaq_n_f32(acc[r][0], w00, x);                                                                      \
      acc[r][1] = vfmaq_n_f32(acc[r][1], w01, x);                                                                      \
      acc[r][2] = vfmaq_n_f32(acc[r][2], w10, x);                                                                      \
      acc[r][3] = vfmaq_n_f32(acc[r][3], w11, x);                                                                      \
    }                                                                                                                  \
  }                                                                                                                    \
  const float32x4_t lo = vdupq_n_f32(w->act_min), hi = vdupq_n_f32(w->act_max);                                        \
  const int32_t n0 = w->n - c0 < 8 ? w->n - c0 : 8, n1 = w->n - c0 - 8 < 8 ? w->n - c0 - 8 : 8;                        \
  for (int32_t r = 0; r < rows; ++r) {                                                                                 \
    float *o = out + r * out_stride + c0;                                                                              \
    store_f32(o, clamp_exact(acc[r][0], lo, hi), n0);                                                                  \
    if (n0 > 4) store_f32(o + 4, clamp_exact(acc[r][1], lo, hi), n0 - 4);                                              \
    if (two && n1 > 0) {                                                                                               \
      store_f32(o + 8, clamp_exact(acc[r][2], lo, hi), n1);                                                            \
      if (n1 > 4) store_f32(o + 12, clamp_exact(acc[r][3], lo, hi), n1 - 4);                                           \
    }                                                                                                                  \
  }                                                                                                                    \
}
#define LOAD_F32_WEIGHTS(at) vld1q_f32(w->weights + (at))
#define LOAD_F16_WEIGHTS(at) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w->weights_f16 + (at))))
DEFINE_F32_TILE(f32, LOAD_F32_WEIGHTS)
DEFINE_F32_TILE(f16, LOAD_F16_WEIGHTS)

/// One tile of `w`, whichever its weights' type.
static inline void gemm_tile(int32_t rows, const float *a, int64_t row_stride, const ember_f32_gemm *w, int32_t panel,
                             float *out, int64_t out_stride) {
  if (w->weights_f16) f16_tile(rows, a, row_stride, w, panel, out, out_stride);
  else f32_tile(rows, a, row_stride, w, panel, out, out_stride);
}

static int32_t unary_f32_neon(ember_unary_op op, float alpha, int64_t count, const float *in, float *out);

/// A fused activation (post_unary) over `count` outputs just written, in place.
static inline void post_unary_neon(int32_t post, float alpha, int64_t count, float *out) {
  if (post) (void)unary_f32_neon((ember_unary_op)(post - 1), alpha, count, out, out);
}

static void conv2d_f32_neon(const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w, void *scratch,
                            float *output) {
  float *patches = (float *)scratch;
  const int64_t pixels = (int64_t)g->batch * g->out_h * g->out_w;
  const int32_t panels = w->n_padded / 8;
  const int32_t pointwise = ember_conv_is_pointwise(g);
  ember_pixel px = {0, 0, 0};
  for (int64_t p = 0; p < pixels; p += MR) {
    const int32_t rows = pixels - p < MR ? (int32_t)(pixels - p) : MR;
    const float *a = input + p * w->k;
    if (!pointwise) {
      for (int32_t r = 0; r < rows; ++r, ember_pixel_next(g, &px)) ember_gather_f32(g, input, px, patches + (int64_t)r * w->k);
      a = patches;
    }
    for (int32_t panel = 0; panel < panels; panel += 2) gemm_tile(rows, a, w->k, w, panel, output + p * w->n, w->n);
    post_unary_neon(w->post_unary, w->post_alpha, (int64_t)rows * w->n, output + p * w->n);
  }
}

static void fully_connected_f32_neon(int64_t rows, const float *input, const ember_f32_gemm *w, float *output) {
  const int32_t panels = w->n_padded / 8;
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    for (int32_t panel = 0; panel < panels; panel += 2) gemm_tile(mr, input + p * w->k, w->k, w, panel, output + p * w->n, w->n);
    post_unary_neon(w->post_unary, w->post_alpha, (int64_t)mr * w->n, output + p * w->n);
  }
}

// ------------------------------------------------------------------- INT4 block-32 fully connected
/// As Q4_BLOCKS_AVX512: a block's 16 bytes XOR 0x88, the nibbles less 8 as signed bytes, widened to four
/// 4-lane groups of each kind, eight FMAs against the regrouped inputs, then scaled by the block's half.
#define Q4_BLOCKS_NEON(U, w, xs, out)                                                                \
  do {                                                                                              \
    float32x4_t acc_[U];                                                                            \
    for (int32_t u = 0; u < (U); ++u) acc_[u] = vdupq_n_f32(0.0f);                                  \
    for (int32_t b = 0; b < blocks; ++b) {                                                          \
      const float *x_ = (xs) + 32 * b;                                                              \
      for (int32_t u = 0; u < (U); ++u) {                                                           \
        const uint8_t *blk = (w) + u * row_bytes + 18 * (int64_t)b;                                 \
        const uint8x16_t t = veorq_u8(vld1q_u8(blk + 2), vdupq_n_u8(0x88));                         \
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(t, vdupq_n_u8(0xF))), vdupq_n_s8(8)); \
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(t, 4)), vdupq_n_s8(8));        \
        float32x4_t dot = vdupq_n_f32(0.0f);                                                        \
        const int16x8_t l16[2] = {vmovl_s8(vget_low_s8(lo)), vmovl_s8(vget_high_s8(lo))};           \
        const int16x8_t h16[2] = {vmovl_s8(vget_low_s8(hi)), vmovl_s8(vget_high_s8(hi))};           \
        for (int32_t q = 0; q < 4; ++q) {                                                           \
          const int16x4_t lq = q & 1 ? vget_high_s16(l16[q >> 1]) : vget_low_s16(l16[q >> 1]);      \
          const int16x4_t hq = q & 1 ? vget_high_s16(h16[q >> 1]) : vget_low_s16(h16[q >> 1]);      \
          dot = vfmaq_f32(dot, vld1q_f32(x_ + 4 * q), vcvtq_f32_s32(vmovl_s16(lq)));                \
          dot = vfmaq_f32(dot, vld1q_f32(x_ + 16 + 4 * q), vcvtq_f32_s32(vmovl_s16(hq)));           \
        }                                                                                           \
        uint16_t half_;                                                                             \
        memcpy(&half_, blk, 2);                                                                     \
        const float scale_ = vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(half_))), 0); \
        acc_[u] = vfmaq_n_f32(acc_[u], dot, scale_);                                                \
      }                                                                                             \
    }                                                                                               \
    for (int32_t u = 0; u < (U); ++u) {                                                             \
      const float v = vaddvq_f32(acc_[u]) + (bias ? bias[o + u] : 0.0f);                            \
      (out)[u] = v < act_min ? act_min : v > act_max ? act_max : v;                                 \
    }                                                                                               \
  } while (0)

static void fully_connected_q4b32_neon(int64_t rows, int32_t in_features, int32_t out_features, const float *input,
                                       const uint8_t *weights, const float *bias, float act_min, float act_max,
                                       void *scratch, float *output) {
  const int32_t blocks = in_features / 32;
  EMBER_Q4_ROWS(rows, in_features, out_features, input, weights, scratch, output, Q4_BLOCKS_NEON);
}

// ------------------------------------------------------------------- f32 Winograd F(2×2, 3×3)
/// `rows` rows of w->k floats, `a_stride` apart, × w into rows `out_stride` apart.
static void f32_gemm_strided(int32_t rows, const float *a, int64_t a_stride, const ember_f32_gemm *w, float *out,
                             int64_t out_stride) {
  const int32_t panels = w->n_padded / 8;
  for (int32_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? rows - p : MR;
    for (int32_t panel = 0; panel < panels; panel += 2)
      gemm_tile(mr, a + p * a_stride, a_stride, w, panel, out + p * out_stride, out_stride);
  }
}
#define WG_TARGET
#define WG_ISA EMBER_ISA_NEON
#define WG_VEC float32x4_t
#define WG_LANES 4
#define WG_LOAD(p) vld1q_f32(p)
#define WG_STORE(p, v) vst1q_f32(p, v)
#define WG_LOADN(p, n) load_f32(p, n)
#define WG_STOREN(p, v, n) store_f32(p, v, n)
#define WG_ADD vaddq_f32
#define WG_SUB vsubq_f32
#define WG_CLAMP(v, lo, hi) clamp_exact(v, lo, hi)
#define WG_SET1 vdupq_n_f32
#define WG_ZERO() vdupq_n_f32(0.0f)
#define WG_GEMM f32_gemm_strided
#define WG_FUNCTION conv2d_winograd_f32_neon
#include "ember_winograd.h"

/// One pixel's V (1…4, constant) 4-channel vectors from c0 over every valid tap, then clamped.
#define DEFINE_DW_F32_BLOCK(V)                                                                       \
  static void dw_f32_block_##V(const ember_conv_geometry *g, const float *input, const ember_f32_dw *w, int32_t n, \
                               int32_t oy, int32_t ox, int32_t c0, int32_t last, float *out) {     \
    float32x4_t acc[V];                                                                           \
    for (int32_t v = 0; v < V; ++v) acc[v] = vld1q_f32(w->bias + c0 + 4 * v);                     \
    EMBER_FOR_EACH_VALID_TAP(g, n, oy, ox, float, input, c0, {                                    \
      const int64_t at = (int64_t)tap * w->c_padded + c0;                                         \
      for (int32_t v = 0; v < V; ++v) {                                                           \
        const float32x4_t fv = w->weights_f16                                                     \
            ? vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w->weights_f16 + at + 4 * v)))            \
            : vld1q_f32(w->weights + at + 4 * v);                                                  \
        acc[v] = vfmaq_f32(acc[v], load_f32(src + 4 * v, v == V - 1 ? last : 4), fv);             \
      }                                                                                           \
    })                                                                                            \
    const float32x4_t lo = vdupq_n_f32(w->act_min), hi = vdupq_n_f32(w->act_max);                \
    for (int32_t v = 0; v < V; ++v) store_f32(out + c0 + 4 * v, clamp_exact(acc[v], lo, hi), v == V - 1 ? last : 4); \
  }
DEFINE_DW_F32_BLOCK(1) DEFINE_DW_F32_BLOCK(2) DEFINE_DW_F32_BLOCK(3) DEFINE_DW_F32_BLOCK(4)

static void dwconv2d_f32_neon(const ember_conv_geometry *g, const float *input, const ember_f32_dw *w, void *scratch,
                              float *output) {
  (void)scratch;
  EMBER_FOR_EACH_OUTPUT_PIXEL(g, float, output, {
    EMBER_FOR_EACH_CHANNEL_BLOCK(g->in_c, 4, {
      EMBER_CALL_CHANNEL_BLOCK(vectors, dw_f32_block, g, input, w, n, oy, ox, c0, last, out);
    })
    post_unary_neon(w->post_unary, w->post_alpha, g->in_c, out);
  })
}

// ------------------------------------------------------------ f32 elementwise
/// ember_binary_f32_ref, 4 lanes along each innermost row, a tail shorter than 4 element by element
/// with the same operations. max/min and the clamp select with compares: the reference's bits.
#define BINARY_F32_ROWS(EXPR, SCALAR)                                                               \
  EMBER_FOR_EACH_BROADCAST_ROW(bc, {                                                              \
    if (inner == 0) break;                                                                        \
    const float32x4_t a_splat = vdupq_n_f32(a[ai]), b_splat = vdupq_n_f32(b[bi]);                \
    int64_t i = 0;                                                                                \
    for (; i + 4 <= inner; i += 4) {                                                              \
      const float32x4_t x = a_step ? vld1q_f32(a + ai + i) : a_splat;                             \
      const float32x4_t y = b_step ? vld1q_f32(b + bi + i) : b_splat;                             \
      vst1q_f32(out + oi + i, clamp_exact(EXPR, lo_v, hi_v));                                     \
    }                                                                                             \
    for (; i < inner; ++i) {                                                                      \
      const float x = a[ai + (a_step ? i : 0)], y = b[bi + (b_step ? i : 0)];                      \
      const float r = SCALAR;                                                                     \
      out[oi + i] = r < act_min ? act_min : (r > act_max ? act_max : r);                          \
    }                                                                                             \
  })

static void binary_f32_neon(ember_binary_op op, const ember_broadcast *bc, const float *a, const float *b,
                            float act_min, float act_max, float *out) {
  const float32x4_t lo_v = vdupq_n_f32(act_min), hi_v = vdupq_n_f32(act_max);
  switch (op) {
  case EMBER_BINARY_ADD: BINARY_F32_ROWS(vaddq_f32(x, y), x + y); break;
  case EMBER_BINARY_SUB: BINARY_F32_ROWS(vsubq_f32(x, y), x - y); break;
  case EMBER_BINARY_MUL: BINARY_F32_ROWS(vmulq_f32(x, y), x * y); break;
  case EMBER_BINARY_DIV: BINARY_F32_ROWS(vdivq_f32(x, y), x / y); break;
  case EMBER_BINARY_MAX: BINARY_F32_ROWS(vbslq_f32(vcgtq_f32(x, y), x, y), x > y ? x : y); break;
  case EMBER_BINARY_MIN: BINARY_F32_ROWS(vbslq_f32(vcltq_f32(x, y), x, y), x < y ? x : y); break;
  case EMBER_BINARY_PRELU:
    BINARY_F32_ROWS(vbslq_f32(vcgeq_f32(x, vdupq_n_f32(0.0f)), x, vmulq_f32(x, y)), x >= 0.0f ? x : x * y);
    break;
  case EMBER_BINARY_SQUARED_DIFFERENCE:
    BINARY_F32_ROWS(vmulq_f32(vsubq_f32(x, y), vsubq_f32(x, y)), (x - y) * (x - y));
    break;
  default: ember_binary_f32_ref(op, bc, a, b, act_min, act_max, out); break;  // the reference-only functions
  }
}

// ------------------------------------------------------------------- f32 matmul
/// ember_kernel_table.matmul_f32: ember_matmul_f32_ref's bits — per output, x·b products added from 0 in
/// k order, each product and sum rounded apart (vmulq then vaddq, never fused: ember_fp_contract.h) — with
/// R rows × 4C columns of outputs held in registers across k (the reference adds into memory at every step).
/// `b` and `out` start at the tile's first column.
#define DEFINE_MATMUL_F32_TILE(R, C)                                                                 \
  static void matmul_f32_tile_##R##x##C(int32_t k, int32_t n, const float *a, const float *b, float *out) { \
    float32x4_t acc[R][C];                                                                          \
    for (int32_t r = 0; r < R; ++r)                                                                 \
      for (int32_t c = 0; c < C; ++c) acc[r][c] = vdupq_n_f32(0.0f);                                \
    for (int32_t p = 0; p < k; ++p) {                                                               \
      const float *row = b + (int64_t)p * n;                                                        \
      float32x4_t bv[C];                                                                            \
      for (int32_t c = 0; c < C; ++c) bv[c] = vld1q_f32(row + 4 * c);                               \
      for (int32_t r = 0; r < R; ++r) {                                                             \
        const float32x4_t x = vdupq_n_f32(a[(int64_t)r * k + p]);                                   \
        for (int32_t c = 0; c < C; ++c) acc[r][c] = vaddq_f32(acc[r][c], vmulq_f32(x, bv[c]));      \
      }                                                                                             \
    }                                                                                               \
    for (int32_t r = 0; r < R; ++r)                                                                 \
      for (int32_t c = 0; c < C; ++c) vst1q_f32(out + (int64_t)r * n + 4 * c, acc[r][c]);          \
  }
DEFINE_MATMUL_F32_TILE(4, 4) DEFINE_MATMUL_F32_TILE(4, 1) DEFINE_MATMUL_F32_TILE(1, 4) DEFINE_MATMUL_F32_TILE(1, 1)

/// Rows in tiles of 4 (then 1); columns 16, then 4 at a time; the last n % 4 columns in scalar, in the
/// reference's order.
static void matmul_f32_neon(int32_t m, int32_t k, int32_t n, const float *a, const float *b, float *out) {
  const int32_t n16 = n / 16 * 16, n4 = n / 4 * 4;
  for (int32_t i = 0; i < m;) {
    const int32_t rows = m - i >= 4 ? 4 : 1;
    const float *ai = a + (int64_t)i * k;
    float *oi = out + (int64_t)i * n;
    for (int32_t j = 0; j < n16; j += 16)
      (rows == 4 ? matmul_f32_tile_4x4 : matmul_f32_tile_1x4)(k, n, ai, b + j, oi + j);
    for (int32_t j = n16; j < n4; j += 4)
      (rows == 4 ? matmul_f32_tile_4x1 : matmul_f32_tile_1x1)(k, n, ai, b + j, oi + j);
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t j = n4; j < n; ++j) {
        float sum = 0.0f;
        for (int32_t p = 0; p < k; ++p) sum += ai[(int64_t)r * k + p] * b[(int64_t)p * n + j];
        oi[(int64_t)r * n + j] = sum;
      }
    i += rows;
  }
}

// ------------------------------------------------------------------ CRC-32 (ARMv8 CRC32 instructions)
#if defined(__clang__)
#define CRC_TARGET __attribute__((target("crc")))
#else
#define CRC_TARGET __attribute__((target("arch=armv8-a+crc")))
#endif

/// CRC32X is the reflected IEEE polynomial on 8 bytes: the register update, no inversions.
CRC_TARGET uint32_t ember_crc32_armv8(uint32_t crc, const uint8_t *p, int64_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    crc = __crc32d(crc, v);
  }
  return crc;
}

// ------------------------------------------------- int8 GEMM with the dot product (ARMv8.2 dotprod)
// sdot multiplies four signed bytes of the input by four of the weights per lane, so the patch is
// the raw int8 input (padding taps hold the zero point) and (x − zp)·w = x·w − zp·Σw, the last
// term folded into the bias at pack time (ember_qs8_pack, EMBER_ISA_NEON_DOTPROD). Weights are
// [n_padded/8][k_padded/4][8][4]: per quad, two registers of four channels' four bytes.
#if defined(__clang__)
#define DOTPROD __attribute__((target("dotprod")))
#else
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

/// `rows` (1…4) int8 patch rows (each k_padded bytes) × one or two 8-channel panels.
DOTPROD static void qs8_tile_dot(int32_t rows, const int8_t *a, const ember_qs8_gemm *w, int32_t panel, void *out,
                                 int64_t out_at, int64_t out_stride) {
  const int32_t kp = w->k_padded, quads = kp / 4, c0 = panel * 8;
  const int32_t two = (panel + 1) * 8 < w->n_padded;
  const int8_t *b0 = (const int8_t *)w->weights + (int64_t)panel * quads * 32, *b1 = b0 + (int64_t)quads * 32;
  const int8_t *ar[MR];
  for (int32_t r = 0; r < MR; ++r) ar[r] = a + (int64_t)(r < rows ? r : 0) * kp;
  int32x4_t acc[MR][4];
  for (int32_t j = 0; j < 4; ++j) {
    const int32x4_t bias = (j < 2 || two) ? vld1q_s32(w->bias + c0 + 4 * j) : vdupq_n_s32(0);
    for (int32_t r = 0; r < MR; ++r) acc[r][j] = bias;
  }
  for (int32_t q = 0; q < quads; ++q) {
    const int8x16_t w00 = vld1q_s8(b0 + q * 32), w01 = vld1q_s8(b0 + q * 32 + 16);
    const int8x16_t w10 = two ? vld1q_s8(b1 + q * 32) : w00, w11 = two ? vld1q_s8(b1 + q * 32 + 16) : w01;
    for (int32_t r = 0; r < MR; ++r) {
      int32_t v;
      memcpy(&v, ar[r] + 4 * q, 4);
      const int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(v));
      acc[r][0] = vdotq_s32(acc[r][0], w00, x);
      acc[r][1] = vdotq_s32(acc[r][1], w01, x);
      acc[r][2] = vdotq_s32(acc[r][2], w10, x);
      acc[r][3] = vdotq_s32(acc[r][3], w11, x);
    }
  }
  const int32_t n0 = w->n - c0 < 8 ? w->n - c0 : 8, n1 = w->n - c0 - 8 < 8 ? w->n - c0 - 8 : 8;
  for (int32_t r = 0; r < rows; ++r) {
    const int64_t at = out_at + r * out_stride + c0;
    store_acc(acc[r][0], acc[r][1], w, c0, n0, out, at);
    if (two && n1 > 0) store_acc(acc[r][2], acc[r][3], w, c0 + 8, n1, out, at + 8);
  }
}

/// The patch of output pixel `px` as raw int8, the zero point where a tap falls outside, then 0 up to
/// k_padded.
static void gather_s8(const ember_conv_geometry *g, const int8_t *input, ember_pixel px, int32_t zero_point, int8_t *dst,
                      int32_t k_padded) {
  int32_t k;
  EMBER_FOR_EACH_PATCH_RUN(g, px, k, memcpy(dst + k, input + at, (size_t)len), memset(dst + k, zero_point, (size_t)len));
  memset(dst + k, 0, (size_t)(k_padded - k));
}

DOTPROD static void conv2d_qs8_dot(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                                   void *scratch, void *output) {
  int8_t *patches = (int8_t *)scratch;
  const int64_t pixels = (int64_t)g->batch * g->out_h * g->out_w;
  const int32_t panels = w->n_padded / 8;
  ember_pixel px = {0, 0, 0};
  for (int64_t p = 0; p < pixels; p += MR) {
    const int32_t rows = pixels - p < MR ? (int32_t)(pixels - p) : MR;
    for (int32_t r = 0; r < rows; ++r, ember_pixel_next(g, &px))
      gather_s8(g, input, px, w->input_zero_point, patches + (int64_t)r * w->k_padded, w->k_padded);
    for (int32_t panel = 0; panel < panels; panel += 2) qs8_tile_dot(rows, patches, w, panel, output, p * w->n, w->n);
  }
}

DOTPROD static void conv2d_s8_dot(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                                  void *scratch, int8_t *output) {
  conv2d_qs8_dot(g, input, w, scratch, output);
}

DOTPROD static void fc_qs8_dot(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch, void *output) {
  int8_t *patches = (int8_t *)scratch;
  const int32_t panels = w->n_padded / 8;
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    for (int32_t r = 0; r < mr; ++r) {
      int8_t *dst = patches + (int64_t)r * w->k_padded;
      memcpy(dst, input + (p + r) * w->k, (size_t)w->k);
      memset(dst + w->k, 0, (size_t)(w->k_padded - w->k));
    }
    for (int32_t panel = 0; panel < panels; panel += 2) qs8_tile_dot(mr, patches, w, panel, output, p * w->n, w->n);
  }
}

DOTPROD static void fully_connected_s8_dot(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch, int8_t *output) {
  fc_qs8_dot(rows, input, w, scratch, output);
}

DOTPROD static void conv2d_hybrid_dot(const ember_conv_geometry *g, const float *input, const ember_qs8_gemm *w,
                                      void *scratch, float *output) {
  EMBER_HYBRID_CONV_BODY(g, input, w, scratch, output, quantize_symmetric, conv2d_qs8_dot);
}

static void fully_connected_hybrid_neon(int64_t rows, const float *input, const ember_qs8_gemm *w, void *scratch,
                                        float *output) {
  EMBER_HYBRID_FC_BODY(rows, input, w, scratch, output, quantize_symmetric, fc_qs8_neon);
}

// ------------------------------------------------------------ roofline probes
/// Eight chains of the int8 GEMM's widening multiply-add (smlal: 4 MACs) or of f32 FMAs (4 MACs).
static int64_t probe_mac_neon(int32_t is_int8, int64_t iterations) {
  if (is_int8) {
    int32x4_t acc[8];
    int16x4_t a = vdup_n_s16(3);
    const int16x4_t b = vdup_n_s16(2);
    for (int32_t j = 0; j < 8; ++j) acc[j] = vdupq_n_s32(0);
    for (int64_t i = 0; i < iterations; ++i)
      for (int32_t j = 0; j < 8; ++j) {
        __asm__ volatile("" : "+w"(a));  // so that the product is not hoisted out of the loop
        acc[j] = vmlal_s16(acc[j], a, b);
        __asm__ volatile("" : "+w"(acc[j]));
      }
    int32x4_t sum = acc[0];
    for (int32_t j = 1; j < 8; ++j) sum = vaddq_s32(sum, acc[j]);
    __asm__ volatile("" : : "w"(sum));
    return iterations * 8 * 4;
  }
  float32x4_t acc[8];
  const float32x4_t a = vdupq_n_f32(1.0f), b = vdupq_n_f32(0.5f);
  for (int32_t j = 0; j < 8; ++j) acc[j] = vdupq_n_f32(0.0f);
  for (int64_t i = 0; i < iterations; ++i)
    for (int32_t j = 0; j < 8; ++j) {
      acc[j] = vfmaq_f32(acc[j], a, b);
      __asm__ volatile("" : "+w"(acc[j]));
    }
  float32x4_t sum = acc[0];
  for (int32_t j = 1; j < 8; ++j) sum = vaddq_f32(sum, acc[j]);
  __asm__ volatile("" : : "w"(sum));
  return iterations * 8 * 4;
}

// ------------------------------------------------------------ f32 unary
/// e^z for 4 lanes as the x86 kernels compute it (Cephes' expf polynomial after a two-part ln 2
/// reduction, 2^n applied in two halves so that e^z overflows and underflows as it should); NaN stays NaN.
static inline float32x4_t exp_f32x4(float32x4_t z) {
  z = vminq_f32(vdupq_n_f32(89.0f), vmaxq_f32(vdupq_n_f32(-104.0f), z));
  const float32x4_t n = vrndnq_f32(vmulq_f32(z, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(z, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vaddq_f32(vfmaq_f32(r, vmulq_f32(p, r), r), vdupq_n_f32(1.0f));  // one rounding of the 1
  const int32x4_t k = vcvtnq_s32_f32(n), half = vshrq_n_s32(k, 1), rest = vsubq_s32(k, half);
  const float32x4_t a = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(half, vdupq_n_s32(127)), 23));
  const float32x4_t b = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(rest, vdupq_n_s32(127)), 23));
  return vmulq_f32(vmulq_f32(p, a), b);
}

static inline float32x4_t sigmoid_f32x4(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  return vdivq_f32(one, vaddq_f32(one, exp_f32x4(vnegq_f32(x))));
}

/// tanh as Cephes' tanhf (the x86 kernels' formula): x + x³·P(x²) below |x| 0.625, else
/// 1 − 2 / (e^2|x| + 1), with x's sign.
static inline float32x4_t tanh_f32x4(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f), ax = vabsq_f32(x), z = vmulq_f32(x, x);
  float32x4_t p = vdupq_n_f32(-5.70498872745e-3f);
  p = vfmaq_f32(vdupq_n_f32(2.06390887954e-2f), p, z);
  p = vfmaq_f32(vdupq_n_f32(-5.37397155531e-2f), p, z);
  p = vfmaq_f32(vdupq_n_f32(1.33314422036e-1f), p, z);
  p = vfmaq_f32(vdupq_n_f32(-3.33332819422e-1f), p, z);
  const float32x4_t small = vfmaq_f32(x, vmulq_f32(p, z), x);
  const float32x4_t e = exp_f32x4(vaddq_f32(ax, ax));
  const float32x4_t large = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, one)));
  const float32x4_t r = vbslq_f32(vcltq_f32(ax, vdupq_n_f32(0.625f)), small, large);
  return vbslq_f32(vdupq_n_u32(0x80000000u), x, r);  // x's sign bit (−0 too), the rest r's
}

/// ln x as the x86 kernels compute it (Cephes' logf): x = m·2^e, m in [√½, √2), from the float's bits (a
/// denormal scaled by 2^23 first); 0 gives −inf, a negative x or NaN NaN, +inf +inf.
static inline float32x4_t log_f32x4(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  const uint32x4_t tiny = vcltq_f32(x, vdupq_n_f32(1.17549435e-38f));
  const int32x4_t bits = vreinterpretq_s32_f32(vbslq_f32(tiny, vmulq_f32(x, vdupq_n_f32(8388608.0f)), x));
  const int32x4_t biased = vandq_s32(vshrq_n_s32(bits, 23), vdupq_n_s32(0xFF));
  float32x4_t e = vsubq_f32(vcvtq_f32_s32(vsubq_s32(biased, vdupq_n_s32(126))),
                            vbslq_f32(tiny, vdupq_n_f32(23.0f), vdupq_n_f32(0.0f)));  // x = m·2^e, m in [0.5, 1)
  const float32x4_t m = vreinterpretq_f32_s32(vorrq_s32(vandq_s32(bits, vdupq_n_s32(0x007FFFFF)), vdupq_n_s32(0x3F000000)));
  const uint32x4_t low = vcltq_f32(m, vdupq_n_f32(0.707106781186547524f));
  e = vbslq_f32(low, vsubq_f32(e, one), e);
  const float32x4_t f = vsubq_f32(vbslq_f32(low, vaddq_f32(m, m), m), one);  // m < √½: 2m − 1, else m − 1
  const float32x4_t z = vmulq_f32(f, f);
  float32x4_t p = vdupq_n_f32(ember_logf_p[0]);
  for (int i = 1; i < 9; ++i) p = vfmaq_f32(vdupq_n_f32(ember_logf_p[i]), p, f);
  float32x4_t y = vmulq_f32(vmulq_f32(f, z), p);
  y = vfmaq_f32(y, e, vdupq_n_f32(-2.12194440e-4f));
  y = vfmsq_f32(y, vdupq_n_f32(0.5f), z);
  float32x4_t r = vfmaq_f32(vaddq_f32(f, y), e, vdupq_n_f32(0.693359375f));
  r = vbslq_f32(vceqq_f32(x, vdupq_n_f32(0.0f)), vdupq_n_f32(-INFINITY), r);
  r = vbslq_f32(vceqq_f32(x, vdupq_n_f32(INFINITY)), x, r);
  return vbslq_f32(vcgeq_f32(x, vdupq_n_f32(0.0f)), r, vdupq_n_f32(NAN));  // x < 0 or NaN: NaN
}

/// erf x as the x86 kernels compute it (Cephes' erff): x·T(x²) below |x| 1, else ±(1 − e^−x²·P(1/x²)/|x|).
static inline float32x4_t erf_f32x4(float32x4_t x) {
  const float32x4_t one = vdupq_n_f32(1.0f), a = vabsq_f32(x), z = vmulq_f32(x, x);
  float32x4_t ps = vdupq_n_f32(ember_erff_t[0]);
  for (int i = 1; i < 7; ++i) ps = vfmaq_f32(vdupq_n_f32(ember_erff_t[i]), ps, z);
  const float32x4_t small = vmulq_f32(x, ps);
  const float32x4_t q = vdivq_f32(one, a), y = vmulq_f32(q, q);
  float32x4_t pp = vdupq_n_f32(ember_erfcf_p[0]), pr = vdupq_n_f32(ember_erfcf_r[0]);
  for (int i = 1; i < 9; ++i) pp = vfmaq_f32(vdupq_n_f32(ember_erfcf_p[i]), pp, y);
  for (int i = 1; i < 8; ++i) pr = vfmaq_f32(vdupq_n_f32(ember_erfcf_r[i]), pr, y);
  const float32x4_t p = vbslq_f32(vcltq_f32(a, vdupq_n_f32(2.0f)), pp, pr);
  const float32x4_t erfc = vmulq_f32(vmulq_f32(exp_f32x4(vnegq_f32(z)), q), p);
  const float32x4_t large = vbslq_f32(vdupq_n_u32(0x80000000u), x, vsubq_f32(one, erfc));  // x's sign
  return vbslq_f32(vcltq_f32(a, one), small, large);
}

/// ember_kernel_table.unary_f32: the piecewise-linear activations, hard-swish, abs, neg, square, sqrt,
/// rsqrt, reciprocal, floor, ceil and round with the reference's operations and comparisons (its bits,
/// NaN and −0 included); e^x, ln x and erf x within 2 ulp of the reference's libm, sigmoid, tanh and silu
/// a few.
/// Other ops: 0, the reference serves them.
static int32_t unary_f32_neon(ember_unary_op op, float alpha, int64_t count, const float *in, float *out) {
  switch (op) {
    case EMBER_UNARY_RELU: case EMBER_UNARY_RELU6: case EMBER_UNARY_RELU_N1_TO_1: case EMBER_UNARY_LEAKY_RELU:
    case EMBER_UNARY_HARD_SWISH: case EMBER_UNARY_ABS: case EMBER_UNARY_NEG: case EMBER_UNARY_SQUARE:
    case EMBER_UNARY_SIGMOID: case EMBER_UNARY_TANH: case EMBER_UNARY_SILU: case EMBER_UNARY_SQRT:
    case EMBER_UNARY_RSQRT: case EMBER_UNARY_RECIPROCAL: case EMBER_UNARY_FLOOR: case EMBER_UNARY_CEIL:
    case EMBER_UNARY_ROUND: case EMBER_UNARY_EXP: case EMBER_UNARY_LOG: case EMBER_UNARY_ERF:
    case EMBER_UNARY_GELU: break;
    default: return 0;
  }
  const float32x4_t zero = vdupq_n_f32(0.0f), one = vdupq_n_f32(1.0f), six = vdupq_n_f32(6.0f);
  // The logistic ops (EfficientNet's SiLUs) in a loop of their own, two vectors a step, so that their long
  // dependent chains overlap (as the x86 paths).
  if (op == EMBER_UNARY_SIGMOID || op == EMBER_UNARY_SILU) {
    const int silu = op == EMBER_UNARY_SILU;
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
      const float32x4_t a = vld1q_f32(in + i), b = vld1q_f32(in + i + 4);
      const float32x4_t sa = sigmoid_f32x4(a), sb = sigmoid_f32x4(b);
      vst1q_f32(out + i, silu ? vmulq_f32(a, sa) : sa);
      vst1q_f32(out + i + 4, silu ? vmulq_f32(b, sb) : sb);
    }
    for (; i < count; i += 4) {
      const int32_t n = count - i < 4 ? (int32_t)(count - i) : 4;
      const float32x4_t x = load_f32(in + i, n), sx = sigmoid_f32x4(x);
      store_f32(out + i, silu ? vmulq_f32(x, sx) : sx, n);
    }
    return 1;
  }
  for (int64_t i = 0; i < count; i += 4) {
    const int32_t n = count - i < 4 ? (int32_t)(count - i) : 4;
    const float32x4_t x = load_f32(in + i, n);
    float32x4_t r;
    switch (op) {
      case EMBER_UNARY_RELU: r = vbslq_f32(vcgtq_f32(x, zero), x, zero); break;
      case EMBER_UNARY_RELU6: r = clamp_exact(x, zero, six); break;
      case EMBER_UNARY_RELU_N1_TO_1: r = clamp_exact(x, vdupq_n_f32(-1.0f), one); break;
      case EMBER_UNARY_LEAKY_RELU: r = vbslq_f32(vcgeq_f32(x, zero), x, vmulq_f32(vdupq_n_f32(alpha), x)); break;
      case EMBER_UNARY_HARD_SWISH:
        r = vdivq_f32(vmulq_f32(x, clamp_exact(vaddq_f32(x, vdupq_n_f32(3.0f)), zero, six)), six);
        break;
      case EMBER_UNARY_ABS: r = vabsq_f32(x); break;
      case EMBER_UNARY_NEG: r = vnegq_f32(x); break;
      case EMBER_UNARY_SQUARE: r = vmulq_f32(x, x); break;
      case EMBER_UNARY_TANH: r = tanh_f32x4(x); break;
      case EMBER_UNARY_SQRT: r = vsqrtq_f32(x); break;
      case EMBER_UNARY_RSQRT: r = vdivq_f32(one, vsqrtq_f32(x)); break;
      case EMBER_UNARY_RECIPROCAL: r = vdivq_f32(one, x); break;
      case EMBER_UNARY_FLOOR: r = vrndmq_f32(x); break;
      case EMBER_UNARY_CEIL: r = vrndpq_f32(x); break;
      case EMBER_UNARY_ROUND: r = vrndnq_f32(x); break;
      case EMBER_UNARY_EXP: r = exp_f32x4(x); break;
      case EMBER_UNARY_LOG: r = log_f32x4(x); break;
      case EMBER_UNARY_ERF: r = erf_f32x4(x); break;
      case EMBER_UNARY_GELU:  // the reference's order: (0.5·x)·(1 + erf(x·√½))
        r = vmulq_f32(vmulq_f32(vdupq_n_f32(0.5f), x), vaddq_f32(one, erf_f32x4(vmulq_f32(x, vdupq_n_f32(0.70710678118654752f)))));
        break;
      default: r = x; break;  // the logistic ops are above
    }
    store_f32(out + i, r, n);
  }
  return 1;
}

/// ember_max_pool_s8_ref, 16 channels a vector: the largest code of each window's valid pixels, clamped.
static void max_pool_s8_neon(const ember_pool_geometry *g, const int8_t *in, int32_t act_min, int32_t act_max,
                             int8_t *out) {
  const int8x16_t lo = vdupq_n_s8((int8_t)act_min), hi = vdupq_n_s8((int8_t)act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    for (int32_t c0 = 0; c0 < g->channels; c0 += 16) {
      const int32_t count = g->channels - c0 < 16 ? g->channels - c0 : 16;
      int8x16_t acc = vdupq_n_s8(-128);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x) {
          const int8_t *p = in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0;
          int8_t tail[16] = {0};
          if (count < 16) memcpy(tail, p, (size_t)count);
          acc = vmaxq_s8(acc, vld1q_s8(count < 16 ? tail : p));
        }
      acc = vminq_s8(vmaxq_s8(acc, lo), hi);
      if (count == 16) { vst1q_s8(out + obase + c0, acc); continue; }
      int8_t tail[16];
      vst1q_s8(tail, acc);
      memcpy(out + obase + c0, tail, (size_t)count);
    }
  })
}

/// ember_max_pool_f32_ref's bits (the reference's comparison and clamp, NaN and all), 4 channels a vector.
static void max_pool_f32_neon(const ember_pool_geometry *g, const float *in, float act_min, float act_max, float *out) {
  const float32x4_t lo = vdupq_n_f32(act_min), hi = vdupq_n_f32(act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    for (int32_t c0 = 0; c0 < g->channels; c0 += 4) {
      const int32_t count = g->channels - c0 < 4 ? g->channels - c0 : 4;
      float32x4_t acc = vdupq_n_f32(-INFINITY);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x) {
          const float32x4_t v = load_f32(in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0, count);
          acc = vbslq_f32(vcgtq_f32(v, acc), v, acc);  // v > acc ? v : acc
        }
      store_f32(out + obase + c0, clamp_exact(acc, lo, hi), count);
    }
  })
}

/// ember_avg_pool_f32_ref's bits: each channel summed in the reference's order, divided by the count.
static void avg_pool_f32_neon(const ember_pool_geometry *g, const float *in, float act_min, float act_max, float *out) {
  const float32x4_t lo = vdupq_n_f32(act_min), hi = vdupq_n_f32(act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0);
    for (int32_t c0 = 0; c0 < g->channels; c0 += 4) {
      const int32_t lanes = g->channels - c0 < 4 ? g->channels - c0 : 4;
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x)
          acc = vaddq_f32(acc, load_f32(in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0, lanes));
      const float32x4_t mean = count > 0 ? vdivq_f32(acc, vdupq_n_f32((float)count)) : vdupq_n_f32(0.0f);
      store_f32(out + obase + c0, clamp_exact(mean, lo, hi), lanes);
    }
  })
}

/// ember_avg_pool_s8_ref's bytes: int32 sums, the rounding division (sum ± count/2, truncated) exact in
/// double (the quotient is an average of int8 values), 4 channels a step.
static void avg_pool_s8_neon(const ember_pool_geometry *g, const int8_t *in, int32_t act_min, int32_t act_max,
                             int8_t *out) {
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0), k = count > 0 ? count : 1;
    const float64x2_t kd = vdupq_n_f64((double)k);
    for (int32_t c0 = 0; c0 < g->channels; c0 += 4) {
      const int32_t lanes = g->channels - c0 < 4 ? g->channels - c0 : 4;
      int32x4_t acc = vdupq_n_s32(0);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x) {
          const int8_t *p = in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0;
          int32_t v[4] = {0, 0, 0, 0};
          for (int32_t i = 0; i < lanes; ++i) v[i] = p[i];
          acc = vaddq_s32(acc, vld1q_s32(v));
        }
      const int32x4_t half = vdupq_n_s32(k / 2);
      const int32x4_t num = vbslq_s32(vcgtq_s32(acc, vdupq_n_s32(0)), vaddq_s32(acc, half), vsubq_s32(acc, half));
      const float64x2_t q0 = vdivq_f64(vcvtq_f64_s64(vmovl_s32(vget_low_s32(num))), kd);
      const float64x2_t q1 = vdivq_f64(vcvtq_f64_s64(vmovl_s32(vget_high_s32(num))), kd);
      int32x4_t q = vcombine_s32(vmovn_s64(vcvtq_s64_f64(q0)), vmovn_s64(vcvtq_s64_f64(q1)));  // truncated
      q = vminq_s32(vmaxq_s32(q, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
      int32_t r[4];
      vst1q_s32(r, q);
      for (int32_t i = 0; i < lanes; ++i) out[obase + c0 + i] = (int8_t)r[i];
    }
  })
}

// ------------------------------------------------------------ f32 softmax, layer norm, bilinear resize
static void softmax_f32_neon(int64_t rows, int32_t size, float beta, const float *in, float *out) {
  const float32x4_t b = vdupq_n_f32(beta);
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * size;
    float *y = out + r * size;
    float max = x[0];
    for (int32_t i = 1; i < size; ++i) max = x[i] > max ? x[i] : max;
    const float32x4_t mx = vdupq_n_f32(max);
    float32x4_t sv = vdupq_n_f32(0.0f);
    for (int32_t i = 0; i < size; i += 4) {
      const int32_t lanes = size - i < 4 ? size - i : 4;
      float32x4_t e = exp_f32x4(vmulq_f32(b, vsubq_f32(load_f32(x + i, lanes), mx)));
      if (lanes < 4) {  // lanes past the row add nothing
        const uint32_t keep[4] = {0xFFFFFFFFu, lanes > 1 ? 0xFFFFFFFFu : 0, lanes > 2 ? 0xFFFFFFFFu : 0, 0};
        e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(e), vld1q_u32(keep)));
      }
      sv = vaddq_f32(sv, e);
      store_f32(y + i, e, lanes);
    }
    const float32x4_t sum = vdupq_n_f32(vaddvq_f32(sv));
    for (int32_t i = 0; i < size; i += 4) {
      const int32_t lanes = size - i < 4 ? size - i : 4;
      store_f32(y + i, vdivq_f32(load_f32(y + i, lanes), sum), lanes);
    }
  }
}

static void layer_norm_f32_neon(int64_t rows, int32_t cols, float epsilon, const float *in, const float *gamma,
                                const float *beta, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * cols;
    float *y = out + r * cols;
    float64x2_t s = vdupq_n_f64(0.0);
    int32_t c = 0;
    for (; c + 2 <= cols; c += 2) s = vaddq_f64(s, vcvt_f64_f32(vld1_f32(x + c)));
    double sum = vaddvq_f64(s);
    for (; c < cols; ++c) sum += x[c];
    const double mean = sum / cols;
    const float64x2_t mv = vdupq_n_f64(mean);
    float64x2_t v = vdupq_n_f64(0.0);
    for (c = 0; c + 2 <= cols; c += 2) {
      const float64x2_t d = vsubq_f64(vcvt_f64_f32(vld1_f32(x + c)), mv);
      v = vaddq_f64(v, vmulq_f64(d, d));
    }
    double var = vaddvq_f64(v);
    for (; c < cols; ++c) var += (x[c] - mean) * (x[c] - mean);
    const float inv = 1.0f / sqrtf((float)(var / cols) + epsilon);
    const float32x2_t iv = vdup_n_f32(inv);
    for (c = 0; c + 2 <= cols; c += 2) {
      float32x2_t o = vmul_f32(vcvt_f32_f64(vsubq_f64(vcvt_f64_f32(vld1_f32(x + c)), mv)), iv);
      if (gamma) o = vmul_f32(o, vld1_f32(gamma + c));
      if (beta) o = vadd_f32(o, vld1_f32(beta + c));
      vst1_f32(y + c, o);
    }
    for (; c < cols; ++c) {
      float o = ((float)(x[c] - mean)) * inv;
      if (gamma) o *= gamma[c];
      if (beta) o += beta[c];
      y[c] = o;
    }
  }
}

/// ember_resize_bilinear_f32_ref's bits: its four products and three sums per channel in order.
static void resize_bilinear_f32_neon(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels, int32_t out_h,
                                     int32_t out_w, int32_t align_corners, int32_t half_pixel_centers, const float *in,
                                     float *out) {
  EMBER_BILINEAR_F32_PIXELS(batch, in_h, in_w, channels, out_h, out_w, align_corners, half_pixel_centers, in, out, {
    const float32x4_t vy = vdupq_n_f32(dy), uy = vdupq_n_f32(1 - dy), vx = vdupq_n_f32(dx), ux = vdupq_n_f32(1 - dx);
    for (int32_t c = 0; c < channels; c += 4) {
      const int32_t lanes = channels - c < 4 ? channels - c : 4;
      float32x4_t r = vmulq_f32(vmulq_f32(load_f32(p00 + c, lanes), uy), ux);
      r = vaddq_f32(r, vmulq_f32(vmulq_f32(load_f32(p10 + c, lanes), vy), ux));
      r = vaddq_f32(r, vmulq_f32(vmulq_f32(load_f32(p01 + c, lanes), uy), vx));
      r = vaddq_f32(r, vmulq_f32(vmulq_f32(load_f32(p11 + c, lanes), vy), vx));
      store_f32(o + c, r, lanes);
    }
  });
}

// ------------------------------------------------------------ int8 lookup, quantize, mean
/// ember_lookup_s8: the 256-entry table in four 64-byte parts, TBL for the first and TBX (which keeps
/// the lanes whose index is out of its part's range) for the others, on the codes moved up by 128.
static void lookup_s8_neon(int64_t count, const int8_t *in, const int8_t *table, int8_t *out) {
  const uint8_t *t = (const uint8_t *)table;
  const uint8x16x4_t t0 = vld1q_u8_x4(t), t1 = vld1q_u8_x4(t + 64), t2 = vld1q_u8_x4(t + 128), t3 = vld1q_u8_x4(t + 192);
  const uint8x16_t flip = vdupq_n_u8(0x80), step = vdupq_n_u8(64);
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const uint8x16_t index = veorq_u8(vld1q_u8((const uint8_t *)in + i), flip);  // code + 128
    uint8x16_t r = vqtbl4q_u8(t0, index);
    r = vqtbx4q_u8(r, t1, vsubq_u8(index, step));
    r = vqtbx4q_u8(r, t2, vsubq_u8(index, vaddq_u8(step, step)));
    r = vqtbx4q_u8(r, t3, vsubq_u8(index, vdupq_n_u8(192)));
    vst1q_u8((uint8_t *)out + i, r);
  }
  for (; i < count; ++i) out[i] = table[(uint8_t)((int32_t)in[i] + 128)];
}

/// ember_quantize_f32_s8_ref (half_even 0: FRINTA, ties away from zero) or ember_quantize_f32_s8_even_ref
/// (FRINTN): x / scale (a division, as the references), clamped to the codes in float, NaN → the zero point.
static void quantize_f32_s8_neon(int64_t count, const float *in, float scale, int32_t zero_point, int32_t half_even,
                                 int8_t *out) {
  const float32x4_t s = vdupq_n_f32(scale);
  const float32x4_t lo = vdupq_n_f32((float)(-128 - zero_point)), hi = vdupq_n_f32((float)(127 - zero_point));
  const int32x4_t zp = vdupq_n_s32(zero_point);
  const int32x4_t nan_code = vdupq_n_s32(zero_point < -128 ? -128 : (zero_point > 127 ? 127 : zero_point));
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    float x[8] = {0};
    memcpy(x, in + i, sizeof(float) * (size_t)n);
    int32x4_t q[2];
    for (int32_t h = 0; h < 2; ++h) {
      const float32x4_t v = vdivq_f32(vld1q_f32(x + 4 * h), s);
      const float32x4_t r = half_even ? vrndnq_f32(v) : vrndaq_f32(v);
      const int32x4_t code = vaddq_s32(vcvtq_s32_f32(vminq_f32(vmaxq_f32(r, lo), hi)), zp);
      q[h] = vbslq_s32(vceqq_f32(v, v), code, nan_code);  // NaN lanes: the zero point's code
    }
    int8_t bytes[8];
    vst1_s8(bytes, vqmovn_s16(vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]))));
    memcpy(out + i, bytes, (size_t)n);
  }
}

/// ember_kernel_table.mean_s8: per 8 channels the int32 sum of x − zp over the reduced rows (wrapping, as
/// the reference's), requantized by the multiplier and shift, or by float_scale when it is > 0.
static void mean_s8_neon(int64_t outer, int64_t reduced, int64_t inner, const int8_t *in, int32_t input_zero_point,
                         int32_t multiplier, int32_t shift, float float_scale, int32_t output_zero_point, int8_t *out) {
  int32_t m[8], sh[8];
  float scales[8];
  for (int k = 0; k < 8; ++k) { m[k] = multiplier; sh[k] = shift; scales[k] = float_scale; }
  const int32x4_t fold = vdupq_n_s32(ember_wrapped_offset_sum(reduced, input_zero_point));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c0 = 0; c0 < inner; c0 += 8) {
      const int32_t n = inner - c0 < 8 ? (int32_t)(inner - c0) : 8;
      int32x4_t a0 = fold, a1 = fold;
      for (int64_t r = 0; r < reduced; ++r) {
        const int8_t *x = in + (o * reduced + r) * inner + c0;
        int8_t tmp[8] = {0};
        const int8x8_t v = n == 8 ? vld1_s8(x) : (memcpy(tmp, x, (size_t)n), vld1_s8(tmp));
        const int16x8_t wide = vmovl_s8(v);
        a0 = vaddw_s16(a0, vget_low_s16(wide));
        a1 = vaddw_high_s16(a1, wide);
      }
      requant_store8(a0, a1, m, sh, float_scale > 0 ? scales : NULL, 0, output_zero_point, -128, 127, n,
                     out + o * inner + c0);
    }
}

// ------------------------------------------------------------ int8 softmax
/// gemmlowp's fixed point in 4 lanes with the reference's bits. vqrdmulhq_s32 is its
/// SaturatingRoundingDoublingHighMul exactly: (2ab + 2^31) >> 32 = floor((ab + 2^30) / 2^31), which equals
/// gemmlowp's nudge-and-truncate for every product, and both saturate INT32_MIN·INT32_MIN to INT32_MAX.

/// ember_rounding_divide_by_pot with a per-lane exponent in [0, 31].
static inline int32x4_t rdbp_lanes(int32x4_t x, int32x4_t exponent) {
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t mask = vsubq_s32(vshlq_s32(one, exponent), one);
  const int32x4_t remainder = vandq_s32(x, mask);
  const int32x4_t threshold = vaddq_s32(vshrq_n_s32(mask, 1), vandq_s32(vreinterpretq_s32_u32(vcltzq_s32(x)), one));
  const int32x4_t shifted = vshlq_s32(x, vnegq_s32(exponent));  // arithmetic shift right by exponent
  return vaddq_s32(shifted, vandq_s32(vreinterpretq_s32_u32(vcgtq_s32(remainder, threshold)), one));
}

/// gemmlowp one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson), Q0.31 lanes. RoundingHalfSum(a, INT32_MAX)
/// is (a + 2^31) / 2 as an unsigned shift, −1 for a = INT32_MIN; SaturatingRoundingMultiplyByPOT<e> is
/// vqshlq_n_s32 (a saturating left shift).
static inline int32x4_t one_over_one_plus_x_lanes(int32x4_t a) {
  const int32x4_t min = vdupq_n_s32(INT32_MIN);
  int32x4_t half = vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(veorq_s32(a, min)), 1));
  half = vbslq_s32(vceqq_s32(a, min), vdupq_n_s32(-1), half);
  int32x4_t x = vaddq_s32(vdupq_n_s32(1515870810), vqrdmulhq_s32(half, vdupq_n_s32(-1010580540)));
  for (int i = 0; i < 3; ++i) {
    const int32x4_t one_minus = vsubq_s32(vdupq_n_s32(1 << 29), vqrdmulhq_s32(half, x));
    x = vaddq_s32(x, vqshlq_n_s32(vqrdmulhq_s32(x, one_minus), 2));
  }
  return vqshlq_n_s32(x, 1);
}

/// ember_softmax_s8_ref 4 rows at a time, one row a lane (segmentation heads: a softmax over a few classes
/// at every pixel), as the AVX-512 kernel: the row maxima and the table reads in scalar (NEON has no gather),
/// Σ exp, the reciprocal and the outputs in lanes. Rows past the last whole group, and deeper rows, take the
/// reference.
static void softmax_s8_neon(int64_t rows, int32_t depth, const int32_t *exp_table, const int8_t *in, int8_t *out) {
  int64_t r = 0;
  if (depth <= SOFTMAX_MAX_LANE_DEPTH) {
    int32_t exps[SOFTMAX_MAX_LANE_DEPTH][4];
    const int32x4_t zero = vdupq_n_s32(0), twelve = vdupq_n_s32(12);
    for (; r + 4 <= rows; r += 4) {
      const int8_t *x = in + r * depth;
      int32_t max[4];
      for (int32_t i = 0; i < 4; ++i) {
        int32_t m = -128;
        for (int32_t c = 0; c < depth; ++c) m = x[(int64_t)i * depth + c] > m ? x[(int64_t)i * depth + c] : m;
        max[i] = m;
      }
      int32x4_t sum = zero;
      for (int32_t c = 0; c < depth; ++c) {
        for (int32_t i = 0; i < 4; ++i) exps[c][i] = exp_table[max[i] - x[(int64_t)i * depth + c]];
        sum = vaddq_s32(sum, rdbp_lanes(vld1q_s32(exps[c]), twelve));  // wraps, as the reference's sum
      }
      // headroom + 1 = clz(sum) for sum > 0, else 31 (GetReciprocal with 12 integer bits).
      const int32x4_t headroom = vbslq_s32(vcgtzq_s32(sum), vclzq_s32(sum), vdupq_n_s32(31));
      const int32x4_t shifted = veorq_s32(vshlq_s32(sum, headroom), vdupq_n_s32(INT32_MIN));
      const int32x4_t scale = one_over_one_plus_x_lanes(shifted);
      const int32x4_t exponent = vsubq_s32(vdupq_n_s32(12 + 31 - 8), headroom);
      const uint32x4_t in_range = vandq_u32(vcgezq_s32(exponent), vcleq_s32(exponent, vdupq_n_s32(31)));
      const int32x4_t safe = vminq_s32(vmaxq_s32(exponent, zero), vdupq_n_s32(31));
      int8_t *y = out + r * depth;
      for (int32_t c = 0; c < depth; ++c) {
        const int32x4_t e = vld1q_s32(exps[c]);
        int32x4_t v = vandq_s32(vreinterpretq_s32_u32(in_range), rdbp_lanes(vqrdmulhq_s32(scale, e), safe));
        v = vminq_s32(vmaxq_s32(vsubq_s32(v, vdupq_n_s32(128)), vdupq_n_s32(-128)), vdupq_n_s32(127));
        v = vbslq_s32(vceqzq_s32(e), vdupq_n_s32(-128), v);
        y[c] = (int8_t)vgetq_lane_s32(v, 0);
        y[depth + c] = (int8_t)vgetq_lane_s32(v, 1);
        y[2 * depth + c] = (int8_t)vgetq_lane_s32(v, 2);
        y[3 * depth + c] = (int8_t)vgetq_lane_s32(v, 3);
      }
    }
  }
  if (r < rows) ember_softmax_s8_ref(rows - r, depth, exp_table, in + r * depth, out + r * depth);
}

/// The first `count` (≤ 8) int8 values at p, widened to int32 in two registers.
static inline void load8_s8_s32(const int8_t *p, int32_t count, int32x4_t *lo, int32x4_t *hi) {
  int8_t tmp[8] = {0};
  const int16x8_t wide = vmovl_s8(count == 8 ? vld1_s8(p) : (memcpy(tmp, p, (size_t)count), vld1_s8(tmp)));
  *lo = vmovl_s16(vget_low_s16(wide));
  *hi = vmovl_high_s16(wide);
}

/// The f32 mean of ember_kernel_table.mean_f32: per lane the rows in order from 0.0, then one division.
static void mean_f32_neon(int64_t outer, int64_t reduced, int64_t inner, const float *in, float *out) {
  const float32x4_t count = vdupq_n_f32((float)reduced);
  for (int64_t o = 0; o < outer; ++o) {
    int64_t c = 0;
    for (; c + 4 <= inner; c += 4) {
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (int64_t r = 0; r < reduced; ++r) acc = vaddq_f32(acc, vld1q_f32(in + (o * reduced + r) * inner + c));
      vst1q_f32(out + o * inner + c, reduced > 0 ? vdivq_f32(acc, count) : acc);
    }
    for (; c < inner; ++c) {
      float acc = 0.0f;
      for (int64_t r = 0; r < reduced; ++r) acc += in[(o * reduced + r) * inner + c];
      out[o * inner + c] = reduced > 0 ? acc / (float)reduced : acc;
    }
  }
}

/// ember_kernel_table.requantize_s32: each pixel's channels 8 at a time, double rounding.
static void requantize_s32_neon(int64_t pixels, int32_t channels, const int32_t *acc, const int32_t *bias,
                                const ember_requant *rq, int8_t *out) {
  for (int64_t p = 0; p < pixels; ++p)
    for (int32_t c = 0; c < channels; c += 8) {
      const int32_t count = channels - c < 8 ? channels - c : 8;
      int32_t a[8] = {0}, m[8] = {0}, s[8] = {0};
      memcpy(a, acc + p * channels + c, 4 * (size_t)count);
      memcpy(m, rq->multiplier + c, 4 * (size_t)count);
      memcpy(s, rq->shift + c, 4 * (size_t)count);
      int32x4_t a0 = vld1q_s32(a), a1 = vld1q_s32(a + 4);
      if (bias) {
        int32_t b[8] = {0};
        memcpy(b, bias + c, 4 * (size_t)count);
        a0 = vaddq_s32(a0, vld1q_s32(b));
        a1 = vaddq_s32(a1, vld1q_s32(b + 4));
      }
      requant_store8(a0, a1, m, s, NULL, 0, rq->output_offset, rq->act_min, rq->act_max, count,
                     out + p * channels + c);
    }
}

/// ember_resize_bilinear_s8_ref's bytes, channels 8 at a time: per output pixel the four weights wy·wx in
/// scalar, then Σ x·w in int32 (exact, see ember_interpolation_values_integer) and the reference's
/// rounding, (|v| + 2^19) >> 20 with v's sign (its division truncates toward zero).
static void resize_bilinear_s8_neon(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels, int32_t out_h,
                                    int32_t out_w, int32_t align_corners, int32_t half_pixel_centers, const int8_t *in,
                                    int8_t *out) {
  const int32_t hs = ember_resize_scale_10(in_h, out_h, align_corners);
  const int32_t ws = ember_resize_scale_10(in_w, out_w, align_corners);
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t y = 0; y < out_h; ++y) {
      const ember_bilinear_axis ay = ember_bilinear_axis_at(y, hs, half_pixel_centers, in_h);
      const int8_t *row0 = in + ((int64_t)n * in_h + ay.lower) * in_w * channels;
      const int8_t *row1 = in + ((int64_t)n * in_h + ay.upper) * in_w * channels;
      for (int32_t x = 0; x < out_w; ++x) {
        const ember_bilinear_axis ax = ember_bilinear_axis_at(x, ws, half_pixel_centers, in_w);
        const int32_t w00 = ay.w_lower * ax.w_lower, w10 = ay.w_upper * ax.w_lower;
        const int32_t w01 = ay.w_lower * ax.w_upper, w11 = ay.w_upper * ax.w_upper;
        const int8_t *p00 = row0 + (int64_t)ax.lower * channels, *p01 = row0 + (int64_t)ax.upper * channels;
        const int8_t *p10 = row1 + (int64_t)ax.lower * channels, *p11 = row1 + (int64_t)ax.upper * channels;
        int8_t *o = out + (((int64_t)n * out_h + y) * out_w + x) * channels;
        for (int32_t c = 0; c < channels; c += 8) {
          const int32_t count = channels - c < 8 ? channels - c : 8;
          int32x4_t v[2] = {vdupq_n_s32(0), vdupq_n_s32(0)}, lo, hi;
          load8_s8_s32(p00 + c, count, &lo, &hi);
          v[0] = vmlaq_n_s32(v[0], lo, w00); v[1] = vmlaq_n_s32(v[1], hi, w00);
          load8_s8_s32(p10 + c, count, &lo, &hi);
          v[0] = vmlaq_n_s32(v[0], lo, w10); v[1] = vmlaq_n_s32(v[1], hi, w10);
          load8_s8_s32(p01 + c, count, &lo, &hi);
          v[0] = vmlaq_n_s32(v[0], lo, w01); v[1] = vmlaq_n_s32(v[1], hi, w01);
          load8_s8_s32(p11 + c, count, &lo, &hi);
          v[0] = vmlaq_n_s32(v[0], lo, w11); v[1] = vmlaq_n_s32(v[1], hi, w11);
          int32x4_t r[2];
          for (int32_t h = 0; h < 2; ++h) {
            const int32x4_t mag = vreinterpretq_s32_u32(
                vshrq_n_u32(vreinterpretq_u32_s32(vaddq_s32(vabsq_s32(v[h]), vdupq_n_s32(1 << 19))), 20));
            r[h] = vbslq_s32(vcltzq_s32(v[h]), vnegq_s32(mag), mag);
          }
          store_s8(o + c, vqmovn_s16(vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]))), count);
        }
      }
    }
}

/// Four streams, one per quarter of the buffer (as the x86 probes), 16-byte loads, then the tail.
static uint64_t probe_read_neon(const void *buffer, int64_t bytes) {
  const uint8_t *p = (const uint8_t *)buffer;
  const int64_t quarter = bytes / 4 / 64 * 64;
  uint64x2_t sum[4] = {vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0)};
  for (int64_t i = 0; i < quarter; i += 16)
    for (int32_t j = 0; j < 4; ++j) sum[j] = vaddq_u64(sum[j], vreinterpretq_u64_u8(vld1q_u8(p + j * quarter + i)));
  uint64_t total = vaddvq_u64(vaddq_u64(vaddq_u64(sum[0], sum[1]), vaddq_u64(sum[2], sum[3])));
  for (int64_t i = 4 * quarter; i + 8 <= bytes; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    total += w;
  }
  return total;
}

/// The entries both NEON tables share; they differ in the int8 GEMM kernels (sdot or int16 products).
#define NEON_SHARED_ENTRIES                            \
  .dwconv2d_s8 = dwconv2d_s8_neon,                     \
  .conv2d_f32 = conv2d_f32_neon,                       \
  .fully_connected_f32 = fully_connected_f32_neon,     \
  .conv2d_winograd_f32 = conv2d_winograd_f32_neon,     \
  .fully_connected_q4b32 = fully_connected_q4b32_neon, \
  .dwconv2d_f32 = dwconv2d_f32_neon,                   \
  .add_s8 = add_s8_neon,                               \
  .mul_s8 = mul_s8_neon,                               \
  .binary_f32 = binary_f32_neon,                       \
  .matmul_f32 = matmul_f32_neon,                       \
  .probe_read = probe_read_neon,                       \
  .hybrid_quantize = quantize_symmetric,               \
  .lookup_s8 = lookup_s8_neon,                         \
  .unary_f32 = unary_f32_neon,                         \
  .max_pool_s8 = max_pool_s8_neon,                     \
  .max_pool_f32 = max_pool_f32_neon,                   \
  .avg_pool_s8 = avg_pool_s8_neon,                     \
  .avg_pool_f32 = avg_pool_f32_neon,                   \
  .softmax_f32 = softmax_f32_neon,                     \
  .layer_norm_f32 = layer_norm_f32_neon,               \
  .resize_bilinear_f32 = resize_bilinear_f32_neon,     \
  .quantize_f32_s8 = quantize_f32_s8_neon,             \
  .mean_s8 = mean_s8_neon,                             \
  .mean_f32 = mean_f32_neon,                           \
  .requantize_s32 = requantize_s32_neon,               \
  .resize_bilinear_s8 = resize_bilinear_s8_neon,       \
  .softmax_s8 = softmax_s8_neon,

const ember_kernel_table ember_neon_kernels = {
  .conv2d_s8 = conv2d_s8_neon,
  .fully_connected_s8 = fully_connected_s8_neon,
  .conv2d_hybrid = conv2d_hybrid_neon,
  .fully_connected_hybrid = fully_connected_hybrid_neon,
  .probe_mac = probe_mac_neon,
  NEON_SHARED_ENTRIES
};

/// Eight chains of sdot (16 MACs) for int8; NEON's FMAs for f32.
DOTPROD static int64_t probe_mac_dot(int32_t is_int8, int64_t iterations) {
  if (!is_int8) return probe_mac_neon(0, iterations);
  int32x4_t acc[8];
  const int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(2);
  for (int32_t j = 0; j < 8; ++j) acc[j] = vdupq_n_s32(0);
  for (int64_t i = 0; i < iterations; ++i)
    for (int32_t j = 0; j < 8; ++j) {
      acc[j] = vdotq_s32(acc[j], a, b);
      __asm__ volatile("" : "+w"(acc[j]));
    }
  int32x4_t sum = acc[0];
  for (int32_t j = 1; j < 8; ++j) sum = vaddq_s32(sum, acc[j]);
  __asm__ volatile("" : : "w"(sum));
  return iterations * 8 * 16;
}

DOTPROD static void fully_connected_hybrid_dot(int64_t rows, const float *input, const ember_qs8_gemm *w, void *scratch,
                                               float *output) {
  EMBER_HYBRID_FC_BODY(rows, input, w, scratch, output, quantize_symmetric, fc_qs8_dot);
}

/// The NEON path on a CPU with the dot product: sdot for the int8 GEMMs, NEON's kernels otherwise.
const ember_kernel_table ember_neon_dotprod_kernels = {
  .conv2d_s8 = conv2d_s8_dot,
  .fully_connected_s8 = fully_connected_s8_dot,
  .conv2d_hybrid = conv2d_hybrid_dot,
  .fully_connected_hybrid = fully_connected_hybrid_dot,
  .probe_mac = probe_mac_dot,
  NEON_SHARED_ENTRIES
};

#endif
