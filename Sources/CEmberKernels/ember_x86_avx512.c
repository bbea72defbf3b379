// AVX-512 kernels (F + BW + VNNI): 16 output channels per vector.
//
// int8 GEMM: the input is made unsigned (x ^ 0x80 = x + 128) so vpdpbusd can
// multiply it by the signed weights four bytes at a time; the 128 + zero point
// this adds is taken out of the bias at pack time (ember_qs8_pack). Padding
// taps hold zero point + 128, which the same correction cancels exactly.
// Integer sums do not depend on order, and the requantization below is the
// reference's fixed-point arithmetic lane by lane, so the bytes are the
// reference's. f32 kernels use FMA and may differ from the reference in the
// last bits (summation order).
#include "ember_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define MR 4

// ------------------------------------------------------------ requantization
// gemmlowp SaturatingRoundingDoublingHighMul on 64-bit products: nudge, then
// divide by 2^31 truncating toward zero (the low 32 bits are the result).
TARGET static inline __m512i srdhm_from_product(__m512i p) {
  const __m512i zero = _mm512_setzero_si512();
  const __mmask8 negative = _mm512_cmplt_epi64_mask(p, zero);
  p = _mm512_add_epi64(p, _mm512_mask_blend_epi64(negative, _mm512_set1_epi64(1LL << 30), _mm512_set1_epi64(1 - (1LL << 30))));
  p = _mm512_mask_add_epi64(p, _mm512_cmplt_epi64_mask(p, zero), p, _mm512_set1_epi64((1LL << 31) - 1));
  return _mm512_srai_epi64(p, 31);
}

/// ember_multiply_by_quantized_multiplier, 16 lanes.
TARGET static inline __m512i mbqm_double(__m512i x, __m512i mult, __m512i shift) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  const __m512i left = _mm512_max_epi32(shift, zero), right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
  x = _mm512_sllv_epi32(x, left);
  const __m512i even = srdhm_from_product(_mm512_mul_epi32(x, mult));
  const __m512i odd = srdhm_from_product(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32)));
  __m512i r = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  // RoundingDivideByPOT(r, right).
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
  const __m512i remainder = _mm512_and_si512(r, mask);
  __m512i threshold = _mm512_srai_epi32(mask, 1);
  threshold = _mm512_mask_add_epi32(threshold, _mm512_cmplt_epi32_mask(r, zero), threshold, one);
  r = _mm512_srav_epi32(r, right);
  return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(remainder, threshold), r, one);
}

/// ember_multiply_by_quantized_multiplier_single_rounding, 16 lanes.
TARGET static inline __m512i mbqm_single(__m512i x, __m512i mult, __m512i shift) {
  shift = _mm512_min_epi32(_mm512_max_epi32(shift, _mm512_set1_epi32(-31)), _mm512_set1_epi32(30));
  const __m512i total = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
  const __m512i total_even = _mm512_and_si512(total, _mm512_set1_epi64(0xFFFFFFFF));
  const __m512i total_odd = _mm512_srli_epi64(total, 32);
  const __m512i one = _mm512_set1_epi64(1);
  __m512i even = _mm512_mul_epi32(x, mult);
  __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32));
  even = _mm512_srav_epi64(_mm512_add_epi64(even, _mm512_sllv_epi64(one, _mm512_sub_epi64(total_even, one))), total_even);
  odd = _mm512_srav_epi64(_mm512_add_epi64(odd, _mm512_sllv_epi64(one, _mm512_sub_epi64(total_odd, one))), total_odd);
  // Saturate to int32 as the reference does, then interleave even and odd lanes back.
  const __m512i e = _mm512_cvtepu32_epi64(_mm512_cvtsepi64_epi32(even));
  const __m512i o = _mm512_slli_epi64(_mm512_cvtepu32_epi64(_mm512_cvtsepi64_epi32(odd)), 32);
  return _mm512_or_si512(e, o);
}

/// Requantizes 16 accumulators of channels [c, c + 16) and stores the first `count` as int8.
TARGET static inline void requant_store(__m512i acc, const ember_qs8_gemm *w, int32_t c, int32_t count, int8_t *out) {
  const __m512i mult = _mm512_loadu_si512(w->multiplier + c), shift = _mm512_loadu_si512(w->shift + c);
  __m512i r = w->single_rounding ? mbqm_single(acc, mult, shift) : mbqm_double(acc, mult, shift);
  r = _mm512_add_epi32(r, _mm512_set1_epi32(w->output_offset));
  r = _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(w->act_min)), _mm512_set1_epi32(w->act_max));
  const __mmask16 m = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
  _mm_mask_storeu_epi8(out, m, _mm512_cvtepi32_epi8(r));
}

// ------------------------------------------------------------ int8 GEMM tile
/// MR rows of unsigned patches (each k_padded bytes) × one or two 16-channel panels.
TARGET static void qs8_tile(int32_t rows, const uint8_t *a, const ember_qs8_gemm *w, int32_t panel,
                            int8_t *out, int64_t out_stride) {
  const int32_t kp = w->k_padded, quads = kp / 4, c0 = panel * 16;
  const int32_t two = (panel + 1) * 16 < w->n_padded;
  const int8_t *b0 = (const int8_t *)w->weights + (int64_t)panel * quads * 64;
  const int8_t *b1 = b0 + (int64_t)quads * 64;
  const uint8_t *a0 = a, *a1 = a + (rows > 1 ? kp : 0), *a2 = a + (rows > 2 ? 2 * kp : 0), *a3 = a + (rows > 3 ? 3 * kp : 0);
  const __m512i bias0 = _mm512_loadu_si512(w->bias + c0);
  const __m512i bias1 = two ? _mm512_loadu_si512(w->bias + c0 + 16) : bias0;
  __m512i c00 = bias0, c10 = bias0, c20 = bias0, c30 = bias0;
  __m512i c01 = bias1, c11 = bias1, c21 = bias1, c31 = bias1;
  if (two) {
    for (int32_t q = 0; q < quads; ++q) {
      const __m512i w0 = _mm512_loadu_si512(b0 + q * 64), w1 = _mm512_loadu_si512(b1 + q * 64);
      __m512i x;
      int32_t v;
      memcpy(&v, a0 + 4 * q, 4); x = _mm512_set1_epi32(v); c00 = _mm512_dpbusd_epi32(c00, x, w0); c01 = _mm512_dpbusd_epi32(c01, x, w1);
      memcpy(&v, a1 + 4 * q, 4); x = _mm512_set1_epi32(v); c10 = _mm512_dpbusd_epi32(c10, x, w0); c11 = _mm512_dpbusd_epi32(c11, x, w1);
      memcpy(&v, a2 + 4 * q, 4); x = _mm512_set1_epi32(v); c20 = _mm512_dpbusd_epi32(c20, x, w0); c21 = _mm512_dpbusd_epi32(c21, x, w1);
      memcpy(&v, a3 + 4 * q, 4); x = _mm512_set1_epi32(v); c30 = _mm512_dpbusd_epi32(c30, x, w0); c31 = _mm512_dpbusd_epi32(c31, x, w1);
    }
  } else {
    for (int32_t q = 0; q < quads; ++q) {
      const __m512i w0 = _mm512_loadu_si512(b0 + q * 64);
      int32_t v;
      memcpy(&v, a0 + 4 * q, 4); c00 = _mm512_dpbusd_epi32(c00, _mm512_set1_epi32(v), w0);
      memcpy(&v, a1 + 4 * q, 4); c10 = _mm512_dpbusd_epi32(c10, _mm512_set1_epi32(v), w0);
      memcpy(&v, a2 + 4 * q, 4); c20 = _mm512_dpbusd_epi32(c20, _mm512_set1_epi32(v), w0);
      memcpy(&v, a3 + 4 * q, 4); c30 = _mm512_dpbusd_epi32(c30, _mm512_set1_epi32(v), w0);
    }
  }
  const int32_t n0 = w->n - c0 < 16 ? w->n - c0 : 16, n1 = w->n - c0 - 16 < 16 ? w->n - c0 - 16 : 16;
  const __m512i acc0[MR] = {c00, c10, c20, c30}, acc1[MR] = {c01, c11, c21, c31};
  for (int32_t r = 0; r < rows; ++r) {
    requant_store(acc0[r], w, c0, n0, out + r * out_stride + c0);
    if (two && n1 > 0) requant_store(acc1[r], w, c0 + 16, n1, out + r * out_stride + c0 + 16);
  }
}

/// The patch of output pixel `pixel` as unsigned bytes (x + 128), `pad` where a tap falls outside.
TARGET static void gather_u8(const ember_conv_geometry *g, const int8_t *input, int64_t pixel, uint8_t pad,
                             uint8_t *dst, int32_t k_padded) {
  const int64_t per_image = (int64_t)g->out_h * g->out_w;
  const int32_t n = (int32_t)(pixel / per_image), rest = (int32_t)(pixel % per_image);
  const int32_t oy = rest / g->out_w, ox = rest % g->out_w, c = g->in_c;
  int32_t k = 0;
  for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
    const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
    for (int32_t kx = 0; kx < g->kernel_w; ++kx, k += c) {
      const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
      if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) { memset(dst + k, pad, (size_t)c); continue; }
      const int8_t *src = input + (((int64_t)n * g->in_h + iy) * g->in_w + ix) * c;
      for (int32_t i = 0; i < c; ++i) dst[k + i] = (uint8_t)src[i] ^ 0x80u;
    }
  }
  memset(dst + k, 0, (size_t)(k_padded - k));
}

TARGET void ember_conv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                                   void *scratch, int8_t *output) {
  uint8_t *patches = (uint8_t *)scratch;
  const uint8_t pad = (uint8_t)(w->input_zero_point + 128);
  const int64_t pixels = (int64_t)g->batch * g->out_h * g->out_w;
  const int32_t panels = w->n_padded / 16;
  for (int64_t p = 0; p < pixels; p += MR) {
    const int32_t rows = pixels - p < MR ? (int32_t)(pixels - p) : MR;
    for (int32_t r = 0; r < rows; ++r) gather_u8(g, input, p + r, pad, patches + (int64_t)r * w->k_padded, w->k_padded);
    for (int32_t panel = 0; panel < panels; panel += 2) qs8_tile(rows, patches, w, panel, output + p * w->n, w->n);
  }
}

TARGET void ember_fully_connected_s8_avx512(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                                            int8_t *output) {
  uint8_t *patches = (uint8_t *)scratch;
  const int32_t panels = w->n_padded / 16;
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    for (int32_t r = 0; r < mr; ++r) {
      const int8_t *src = input + (p + r) * w->k;
      uint8_t *dst = patches + (int64_t)r * w->k_padded;
      for (int32_t i = 0; i < w->k; ++i) dst[i] = (uint8_t)src[i] ^ 0x80u;
      memset(dst + w->k, 0, (size_t)(w->k_padded - w->k));
    }
    for (int32_t panel = 0; panel < panels; panel += 2) qs8_tile(mr, patches, w, panel, output + p * w->n, w->n);
  }
}

// ------------------------------------------------------------ int8 depthwise
TARGET void ember_dwconv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_dw *w, int8_t *output) {
  const int32_t c = g->in_c, cp = w->c_padded;
  const __m512i zp = _mm512_set1_epi32(w->input_zero_point);
  ember_qs8_gemm rq = {0};
  rq.multiplier = w->multiplier; rq.shift = w->shift;
  rq.output_offset = w->output_offset; rq.act_min = w->act_min; rq.act_max = w->act_max;
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy)
      for (int32_t ox = 0; ox < g->out_w; ++ox) {
        int8_t *out = output + (((int64_t)n * g->out_h + oy) * g->out_w + ox) * c;
        for (int32_t c0 = 0; c0 < c; c0 += 16) {
          const int32_t count = c - c0 < 16 ? c - c0 : 16;
          const __mmask16 m = count == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
          __m512i acc = _mm512_loadu_si512(w->bias + c0);
          for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
            const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
              const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
              if (ix < 0 || ix >= g->in_w) continue;
              const int8_t *src = input + (((int64_t)n * g->in_h + iy) * g->in_w + ix) * c + c0;
              const __m512i x = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, src)), zp);
              const __m512i f = _mm512_loadu_si512(w->weights + (int64_t)(ky * g->kernel_w + kx) * cp + c0);
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(x, f));
            }
          }
          requant_store(acc, &rq, c0, count, out + c0);
        }
      }
}

// ------------------------------------------------------------------- f32
/// MR rows (each `row_stride` floats apart) × one or two 16-channel panels.
TARGET static void f32_tile(int32_t rows, const float *a, int64_t row_stride, const ember_f32_gemm *w, int32_t panel,
                            float *out, int64_t out_stride) {
  const int32_t k = w->k, c0 = panel * 16;
  const int32_t two = (panel + 1) * 16 < w->n_padded;
  const float *b0 = w->weights + (int64_t)panel * k * 16, *b1 = b0 + (int64_t)k * 16;
  const float *a0 = a, *a1 = a + (rows > 1 ? row_stride : 0), *a2 = a + (rows > 2 ? 2 * row_stride : 0);
  const float *a3 = a + (rows > 3 ? 3 * row_stride : 0);
  const __m512 bias0 = _mm512_loadu_ps(w->bias + c0), bias1 = two ? _mm512_loadu_ps(w->bias + c0 + 16) : bias0;
  __m512 c00 = bias0, c10 = bias0, c20 = bias0, c30 = bias0, c01 = bias1, c11 = bias1, c21 = bias1, c31 = bias1;
  if (two) {
    for (int32_t i = 0; i < k; ++i) {
      const __m512 w0 = _mm512_loadu_ps(b0 + i * 16), w1 = _mm512_loadu_ps(b1 + i * 16);
      __m512 x = _mm512_set1_ps(a0[i]); c00 = _mm512_fmadd_ps(x, w0, c00); c01 = _mm512_fmadd_ps(x, w1, c01);
      x = _mm512_set1_ps(a1[i]); c10 = _mm512_fmadd_ps(x, w0, c10); c11 = _mm512_fmadd_ps(x, w1, c11);
      x = _mm512_set1_ps(a2[i]); c20 = _mm512_fmadd_ps(x, w0, c20); c21 = _mm512_fmadd_ps(x, w1, c21);
      x = _mm512_set1_ps(a3[i]); c30 = _mm512_fmadd_ps(x, w0, c30); c31 = _mm512_fmadd_ps(x, w1, c31);
    }
  } else {
    for (int32_t i = 0; i < k; ++i) {
      const __m512 w0 = _mm512_loadu_ps(b0 + i * 16);
      c00 = _mm512_fmadd_ps(_mm512_set1_ps(a0[i]), w0, c00);
      c10 = _mm512_fmadd_ps(_mm512_set1_ps(a1[i]), w0, c10);
      c20 = _mm512_fmadd_ps(_mm512_set1_ps(a2[i]), w0, c20);
      c30 = _mm512_fmadd_ps(_mm512_set1_ps(a3[i]), w0, c30);
    }
  }
  const __m512 lo = _mm512_set1_ps(w->act_min), hi = _mm512_set1_ps(w->act_max);
  const int32_t n0 = w->n - c0 < 16 ? w->n - c0 : 16, n1 = w->n - c0 - 16 < 16 ? w->n - c0 - 16 : 16;
  const __mmask16 m0 = n0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n0) - 1);
  const __mmask16 m1 = n1 >= 16 ? (__mmask16)0xFFFF : (__mmask16)(n1 > 0 ? (1u << n1) - 1 : 0);
  const __m512 acc0[MR] = {c00, c10, c20, c30}, acc1[MR] = {c01, c11, c21, c31};
  for (int32_t r = 0; r < rows; ++r) {
    _mm512_mask_storeu_ps(out + r * out_stride + c0, m0, _mm512_min_ps(_mm512_max_ps(acc0[r], lo), hi));
    if (two && n1 > 0) _mm512_mask_storeu_ps(out + r * out_stride + c0 + 16, m1, _mm512_min_ps(_mm512_max_ps(acc1[r], lo), hi));
  }
}

TARGET static void gather_f32(const ember_conv_geometry *g, const float *input, int64_t pixel, float *dst) {
  const int64_t per_image = (int64_t)g->out_h * g->out_w;
  const int32_t n = (int32_t)(pixel / per_image), rest = (int32_t)(pixel % per_image);
  const int32_t oy = rest / g->out_w, ox = rest % g->out_w, c = g->in_c;
  int32_t k = 0;
  for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
    const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
    for (int32_t kx = 0; kx < g->kernel_w; ++kx, k += c) {
      const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
      if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) { memset(dst + k, 0, sizeof(float) * (size_t)c); continue; }
      memcpy(dst + k, input + (((int64_t)n * g->in_h + iy) * g->in_w + ix) * c, sizeof(float) * (size_t)c);
    }
  }
}

TARGET void ember_conv2d_f32_avx512(const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w,
                                    void *scratch, float *output) {
  float *patches = (float *)scratch;
  const int64_t pixels = (int64_t)g->batch * g->out_h * g->out_w;
  const int32_t panels = w->n_padded / 16;
  // A 1×1, stride-1, unpadded convolution reads its input rows in place.
  const int32_t pointwise = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                            g->pad_top == 0 && g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
  for (int64_t p = 0; p < pixels; p += MR) {
    const int32_t rows = pixels - p < MR ? (int32_t)(pixels - p) : MR;
    const float *a = input + p * w->k;
    if (!pointwise) {
      for (int32_t r = 0; r < rows; ++r) gather_f32(g, input, p + r, patches + (int64_t)r * w->k);
      a = patches;
    }
    for (int32_t panel = 0; panel < panels; panel += 2) f32_tile(rows, a, w->k, w, panel, output + p * w->n, w->n);
  }
}

TARGET void ember_fully_connected_f32_avx512(int64_t rows, const float *input, const ember_f32_gemm *w, float *output) {
  const int32_t panels = w->n_padded / 16;
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    for (int32_t panel = 0; panel < panels; panel += 2) f32_tile(mr, input + p * w->k, w->k, w, panel, output + p * w->n, w->n);
  }
}

TARGET void ember_dwconv2d_f32_avx512(const ember_conv_geometry *g, const float *input, const ember_f32_dw *w, float *output) {
  const int32_t c = g->in_c, cp = w->c_padded;
  const __m512 lo = _mm512_set1_ps(w->act_min), hi = _mm512_set1_ps(w->act_max);
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy)
      for (int32_t ox = 0; ox < g->out_w; ++ox) {
        float *out = output + (((int64_t)n * g->out_h + oy) * g->out_w + ox) * c;
        for (int32_t c0 = 0; c0 < c; c0 += 16) {
          const int32_t count = c - c0 < 16 ? c - c0 : 16;
          const __mmask16 m = count == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
          __m512 acc = _mm512_loadu_ps(w->bias + c0);
          for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
            const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
              const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
              if (ix < 0 || ix >= g->in_w) continue;
              const float *src = input + (((int64_t)n * g->in_h + iy) * g->in_w + ix) * c + c0;
              acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, src), _mm512_loadu_ps(w->weights + (int64_t)(ky * g->kernel_w + kx) * cp + c0), acc);
            }
          }
          _mm512_mask_storeu_ps(out + c0, m, _mm512_min_ps(_mm512_max_ps(acc, lo), hi));
        }
      }
}

#else  // not x86-64: never dispatched (ember_cpu_features reports no AVX-512).
void ember_conv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *i, const ember_qs8_gemm *w, void *s, int8_t *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_fully_connected_s8_avx512(int64_t r, const int8_t *i, const ember_qs8_gemm *w, void *s, int8_t *o) {
  (void)r; (void)i; (void)w; (void)s; (void)o;
}
void ember_dwconv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *i, const ember_qs8_dw *w, int8_t *o) {
  (void)g; (void)i; (void)w; (void)o;
}
void ember_conv2d_f32_avx512(const ember_conv_geometry *g, const float *i, const ember_f32_gemm *w, void *s, float *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_fully_connected_f32_avx512(int64_t r, const float *i, const ember_f32_gemm *w, float *o) {
  (void)r; (void)i; (void)w; (void)o;
}
void ember_dwconv2d_f32_avx512(const ember_conv_geometry *g, const float *i, const ember_f32_dw *w, float *o) {
  (void)g; (void)i; (void)w; (void)o;
}
#endif
