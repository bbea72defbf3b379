// AVX2 + FMA (+ F16C for fp16 weights) kernels: 8 output channels per vector.
//
// int8 GEMM: input patches are widened to int16 with the zero point already
// subtracted (padding taps are 0), weights are int16 pairs, and vpmaddwd
// forms exact 32-bit sums of two products (vpmaddubsw would saturate).
// Requantization is the reference's fixed-point arithmetic, 8 lanes at a
// time, so the bytes are the reference's. AVX2 has no arithmetic 64-bit
// shift: where only the low 32 bits of a shifted product are kept and the
// shift is at most 32 a logical shift gives the same bits; elsewhere the sign
// is folded in by hand.
#include "ember_fp_contract.h"
#include "ember_kernels.h"
#include "ember_conv_loops.h"
#include "ember_poly.h"
#include "ember_fixed_point.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define MR 4

// ------------------------------------------------------------ requantization
/// gemmlowp SaturatingRoundingDoublingHighMul from the 64-bit product p = a·b, in the low 32 bits of each
/// lane. gemmlowp nudges by ±2^30 and divides by 2^31 truncating toward zero; for negative p that is
/// ceil((p + 1 − 2^30) / 2^31) = floor((p + 2^30) / 2^31), as it is for p ≥ 0, so one add and one shift
/// give its bits (the a = b = INT32_MIN saturation cannot occur: multipliers are in [2^30, 2^31)).
TARGET static inline __m256i srdhm_from_product(__m256i p) {
  // Bits 31..62 of the sum: the same low 32 bits as an arithmetic shift.
  return _mm256_srli_epi64(_mm256_add_epi64(p, _mm256_set1_epi64x(1LL << 30)), 31);
}

/// The per-channel constants of ember_multiply_by_quantized_multiplier for 8 channels, derived from
/// the multipliers and shifts once (per tile column, not per output vector). `shift` is kept as given
/// for the single-rounding form.
typedef struct {
  __m256i mult, shift, mult_odd, left, right, mask, half;  // half = mask >> 1, RoundingDivideByPOT's threshold
  __m256 fscale;      // is_float: ONNX Runtime's float requantization by these scales (the rest unread)
  int32_t is_float;
} requant8;

TARGET static inline requant8 requant8_make(__m256i mult, __m256i shift) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  requant8 q;
  memset(&q, 0, sizeof q);  // not float (is_float 0)
  q.mult = mult;
  q.shift = shift;
  q.mult_odd = _mm256_srli_epi64(mult, 32);
  q.left = _mm256_max_epi32(shift, zero);
  q.right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  q.mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, q.right), one);
  q.half = _mm256_srai_epi32(q.mask, 1);
  return q;
}

TARGET static inline requant8 requant8_load(const int32_t *multiplier, const int32_t *shift) {
  return requant8_make(_mm256_loadu_si256((const __m256i *)multiplier), _mm256_loadu_si256((const __m256i *)shift));
}

/// A requant8 of ONNX Runtime's float requantization by `scale`.
TARGET static inline requant8 requant8_float(__m256 scale) {
  requant8 q;
  memset(&q, 0, sizeof q);
  q.fscale = scale;
  q.is_float = 1;
  return q;
}

/// Channels [c, c + 8) of per-channel constants: float scales when `scale` is not NULL, else the
/// fixed-point multipliers and shifts.
TARGET static inline requant8 requant8_channels(const int32_t *multiplier, const int32_t *shift, const float *scale,
                                                int64_t c) {
  return scale ? requant8_float(_mm256_loadu_ps(scale + c)) : requant8_load(multiplier + c, shift + c);
}

/// Rounds to nearest even (explicitly, whatever MXCSR says) after clamping to ±2^30.
TARGET static inline __m256i round_float8(__m256 v) {
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-1073741824.0f)), _mm256_set1_ps(1073741824.0f));
  return _mm256_cvttps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/// ember_requantize_float, 8 lanes.
TARGET static inline __m256i requantize_float8(__m256i acc, __m256 scale) {
  return round_float8(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale));
}

/// ember_multiply_by_quantized_multiplier, 8 lanes: SRDHM of x << left, then RoundingDivideByPOT by
/// right, whose threshold gains 1 for negative values (the sign bit, shifted down).
TARGET static inline __m256i mbqm_double_with(__m256i x, const requant8 *q) {
  x = _mm256_sllv_epi32(x, q->left);
  const __m256i even = srdhm_from_product(_mm256_mul_epi32(x, q->mult));
  const __m256i odd = srdhm_from_product(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult_odd));
  __m256i r = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i remainder = _mm256_and_si256(r, q->mask);
  const __m256i threshold = _mm256_add_epi32(q->half, _mm256_srli_epi32(r, 31));
  r = _mm256_srav_epi32(r, q->right);
  return _mm256_sub_epi32(r, _mm256_cmpgt_epi32(remainder, threshold));  // the compare's −1 adds one
}

/// 8 accumulators requantized as `q` says: float, or fixed point with double rounding.
TARGET static inline __m256i requantize8(__m256i x, const requant8 *q) {
  return q->is_float ? requantize_float8(x, q->fscale) : mbqm_double_with(x, q);
}

/// Arithmetic right shift of 64-bit lanes by per-lane counts.
TARGET static inline __m256i srav_epi64(__m256i v, __m256i count) {
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, sign), count), sign);
}

TARGET static inline __m256i saturate_i32(__m256i v) {
  const __m256i hi = _mm256_set1_epi64x(INT32_MAX), lo = _mm256_set1_epi64x(INT32_MIN);
  v = _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
  return _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
}

TARGET static inline __m256i mbqm_single(__m256i x, __m256i mult, __m256i shift) {
  shift = _mm256_min_epi32(_mm256_max_epi32(shift, _mm256_set1_epi32(-31)), _mm256_set1_epi32(30));
  const __m256i total = _mm256_sub_epi32(_mm256_set1_epi32(31), shift);
  const __m256i total_even = _mm256_and_si256(total, _mm256_set1_epi64x(0xFFFFFFFF));
  const __m256i total_odd = _mm256_srli_epi64(total, 32);
  const __m256i one = _mm256_set1_epi64x(1);
  __m256i even = _mm256_mul_epi32(x, mult);
  __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32));
  even = saturate_i32(srav_epi64(_mm256_add_epi64(even, _mm256_sllv_epi64(one, _mm256_sub_epi64(total_even, one))), total_even));
  odd = saturate_i32(srav_epi64(_mm256_add_epi64(odd, _mm256_sllv_epi64(one, _mm256_sub_epi64(total_odd, one))), total_odd));
  return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/// Lanes [0, count) set.
TARGET static inline __m256i tail_mask(int32_t count) {
  const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), index);
}

/// Offset, clamp and store the first `count` of 8 requantized values as int8.
TARGET static inline void store_s8(__m256i r, int32_t offset, int32_t act_min, int32_t act_max, int32_t count, int8_t *out) {
  r = _mm256_add_epi32(r, _mm256_set1_epi32(offset));
  // The packs saturate to [−128, 127]: only a narrower activation range needs its clamp.
  if (act_min > -128) r = _mm256_max_epi32(r, _mm256_set1_epi32(act_min));
  if (act_max < 127) r = _mm256_min_epi32(r, _mm256_set1_epi32(act_max));
  const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  const __m128i p8 = _mm_packs_epi16(p16, p16);
  if (count >= 8) { _mm_storel_epi64((__m128i *)out, p8); return; }
  int8_t tmp[16];
  _mm_storeu_si128((__m128i *)tmp, p8);
  memcpy(out, tmp, (size_t)count);
}

/// Four vectors of 8 requantized int32 values (a, b, c, d) offset, saturated and clamped as store_s8 does
/// each, and stored as int8: two signed packs to int16 with the offset added there with saturation, one
/// pack to bytes and a dword permute back into order — 6 operations where four store_s8's take 16. The
/// vectors are `per_row` (1, 2 or 4) to an output row, rows `stride` bytes apart from `out`: one 32-byte
/// store when the rows are adjacent, else one per row.
TARGET static inline void store_s8_x4(__m256i a, __m256i b, __m256i c, __m256i d, int32_t offset, int32_t act_min,
                                      int32_t act_max, int32_t per_row, int8_t *out, int64_t stride) {
  const __m256i offset16 = _mm256_set1_epi16((short)offset);
  const __m256i ab = _mm256_adds_epi16(_mm256_packs_epi32(a, b), offset16);
  const __m256i cd = _mm256_adds_epi16(_mm256_packs_epi32(c, d), offset16);
  // Lane k (of two) of the bytes holds dwords a_k, b_k, c_k, d_k (a_k = a's values 4k … 4k + 3).
  __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  if (act_min > -128) bytes = _mm256_max_epi8(bytes, _mm256_set1_epi8((char)act_min));
  if (act_max < 127) bytes = _mm256_min_epi8(bytes, _mm256_set1_epi8((char)act_max));
  if (per_row == 4 || stride == 8 * per_row) {
    _mm256_storeu_si256((__m256i *)(void *)out, bytes);
  } else if (per_row == 2) {
    _mm_storeu_si128((__m128i *)(void *)out, _mm256_castsi256_si128(bytes));
    _mm_storeu_si128((__m128i *)(void *)(out + stride), _mm256_extracti128_si256(bytes, 1));
  } else {
    const __m128i lo = _mm256_castsi256_si128(bytes), hi = _mm256_extracti128_si256(bytes, 1);
    _mm_storel_epi64((__m128i *)(void *)out, lo);
    _mm_storel_epi64((__m128i *)(void *)(out + stride), _mm_unpackhi_epi64(lo, lo));
    _mm_storel_epi64((__m128i *)(void *)(out + 2 * stride), hi);
    _mm_storel_epi64((__m128i *)(void *)(out + 3 * stride), _mm_unpackhi_epi64(hi, hi));
  }
}

/// 8 accumulators requantized as an int8 GEMM's output stage says (single or double rounding, or
/// float), before the output offset.
TARGET static inline __m256i requantize_s8_gemm(__m256i acc, const ember_qs8_gemm *w, const requant8 *q) {
  return q->is_float || !w->single_rounding ? requantize8(acc, q) : mbqm_single(acc, q->mult, q->shift);
}

/// Whether an R × P tile's vectors come in whole groups of four for store_s8_x4: of one row (P a multiple
/// of 4), two rows (P 2) or four rows (P 1). A compile-time constant, so the other tiles carry no packed store.
#define QS8_TILE_GROUPS(R, P) (((P) % 4 == 0 || (P) <= 2) && ((R) * (P)) % 4 == 0)

/// Whether a tile of P panels from channel c0 stores its int8 output four vectors at a time: an int8
/// output stage and every panel full.
static inline int32_t qs8_tile_packs(const ember_qs8_gemm *w, int32_t panels, int32_t c0) {
  return !w->int32_output && !w->float_output && c0 + 8 * panels <= w->n;
}

/// Requantizes 8 accumulators of channels [c, c + 8) (double rounding, or float by `scale` when it is not
/// NULL) and stores the first `count` as int8.
TARGET static inline void requant_store(__m256i acc, const int32_t *multiplier, const int32_t *shift, const float *scale,
                                        int64_t c, int32_t offset, int32_t act_min, int32_t act_max, int32_t count,
                                        int8_t *out) {
  const requant8 q = requant8_channels(multiplier, shift, scale, c);
  store_s8(requantize8(acc, &q), offset, act_min, act_max, count, out);
}

/// Stores 8 accumulators of channels [c, c + 8) at element `at` of the GEMM's output: requantized int8
/// with `q`, the channels' constants (single or double rounding, as the GEMM says), or for a
/// dynamic-range GEMM f32 acc·scale (+ bias), multiplied then added as the reference does (q unread).
TARGET static inline void store_acc(__m256i acc, const ember_qs8_gemm *w, const requant8 *q, int32_t c, int32_t count,
                                    void *out, int64_t at) {
  if (w->int32_output) {
    if (count >= 8) _mm256_storeu_si256((__m256i *)((int32_t *)out + at), acc);
    else _mm256_maskstore_epi32((int32_t *)out + at, tail_mask(count), acc);
    return;
  }
  if (!w->float_output) {
    store_s8(requantize_s8_gemm(acc, w, q), w->output_offset, w->act_min, w->act_max, count, (int8_t *)out + at);
    return;
  }
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(w->float_scale));
  if (w->float_bias) v = _mm256_add_ps(v, _mm256_loadu_ps(w->float_bias + c));
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(w->float_min)), _mm256_set1_ps(w->float_max));
  float *o = (float *)out + at;
  if (count >= 8) { _mm256_storeu_ps(o, v); return; }
  float tmp[8];
  _mm256_storeu_ps(tmp, v);
  memcpy(o, tmp, sizeof(float) * (size_t)count);
}

// ------------------------------------------------------------ int8 GEMM tile
/// R rows of int16 values (x − zero point) read as pairs from an ember_run_source × P 8-channel panels,
/// both constants, so the accumulators stay in registers and no lane computes for a row or panel that
/// is not there (a one-row GEMV runs 8 panels: eight independent accumulator chains hide vpmaddwd's
/// latency). Row r's pairs start `col` + r·pixel bytes into each run.
#define DEFINE_QS8_TILE(R, P)                                                                         \
  TARGET static void qs8_tile_##R##_##P(const ember_run_source *src, int64_t col, const ember_qs8_gemm *w, \
                                        int32_t panel, void *out, int64_t out_at, int64_t out_stride) { \
    const int32_t pairs = w->k_padded / 2, c0 = panel * 8;                                            \
    const int16_t *b = (const int16_t *)w->weights + (int64_t)panel * pairs * 16;                     \
    const int64_t pixel = src->pixel;                                                                 \
    __m256i acc[R][P];                                                                                \
    for (int32_t j = 0; j < P; ++j) {                                                                 \
      const __m256i bias = _mm256_loadu_si256((const __m256i *)(w->bias + c0 + 8 * j));               \
      for (int32_t r = 0; r < R; ++r) acc[r][j] = bias;                                               \
    }                                                                                                 \
    for (int32_t t = 0; t < src->runs; ++t) {                                                         \
      const uint8_t *run = src->run[t] + col;                                                         \
      for (int32_t qq = 0; qq < src->length; ++qq, b += 16) {                                         \
        __m256i wv[P];                                                                                \
        for (int32_t j = 0; j < P; ++j) wv[j] = _mm256_loadu_si256((const __m256i *)(b + (int64_t)j * pairs * 16)); \
        for (int32_t r = 0; r < R; ++r) {                                                             \
          int32_t v;                                                                                  \
          memcpy(&v, run + r * pixel + 4 * qq, 4);                                                    \
          const __m256i x = _mm256_set1_epi32(v);                                                     \
          for (int32_t j = 0; j < P; ++j) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(x, wv[j])); \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    /* Unrolled: a loop here would index acc in memory (see the AVX-512 tiles). */                    \
    const int32_t packs = QS8_TILE_GROUPS(R, P) && qs8_tile_packs(w, P, c0);                          \
    _Pragma("GCC unroll 8") for (int32_t j = 0; j < P; ++j) {                                         \
      const int32_t c = c0 + 8 * j, count = w->n - c < 8 ? w->n - c : 8;                              \
      if (count <= 0) continue;                                                                       \
      requant8 q;  /* only an int8 output stage reads it (a hybrid GEMM has no multipliers) */        \
      if (!w->float_output) q = requant8_channels(w->multiplier, w->shift, w->requant_scale, c);      \
      else memset(&q, 0, sizeof q);                                                                   \
      if (packs) { /* requantized in place, stored below four vectors at a time */                    \
        _Pragma("GCC unroll 4") for (int32_t r = 0; r < R; ++r) acc[r][j] = requantize_s8_gemm(acc[r][j], w, &q); \
        continue;                                                                                     \
      }                                                                                               \
      _Pragma("GCC unroll 4") for (int32_t r = 0; r < R; ++r)                                         \
        store_acc(acc[r][j], w, &q, c, count, out, out_at + r * out_stride + c);                      \
    }                                                                                                 \
    /* In row-major (r, j) order, four vectors at a time: one row's (P 4, 8), two rows' (P 2), four (P 1). */ \
    if (packs) {                                                                                      \
      int8_t *o = (int8_t *)out + out_at + c0;                                                         \
      _Pragma("GCC unroll 8") for (int32_t i = 0; i < R * P; i += 4)                                 \
        store_s8_x4(acc[i / P][i % P], acc[(i + 1) / P][(i + 1) % P], acc[(i + 2) / P][(i + 2) % P],   \
                    acc[(i + 3) / P][(i + 3) % P], w->output_offset, w->act_min, w->act_max, P < 4 ? P : 4, \
                    o + (i / P) * out_stride + (P >= 4 ? (i % P) * 8 : 0), out_stride);               \
    }                                                                                                 \
  }
DEFINE_QS8_TILE(4, 1) DEFINE_QS8_TILE(4, 2) DEFINE_QS8_TILE(3, 1) DEFINE_QS8_TILE(3, 2) DEFINE_QS8_TILE(3, 3)
DEFINE_QS8_TILE(2, 1) DEFINE_QS8_TILE(2, 2) DEFINE_QS8_TILE(2, 3) DEFINE_QS8_TILE(2, 4)
DEFINE_QS8_TILE(1, 1) DEFINE_QS8_TILE(1, 2) DEFINE_QS8_TILE(1, 3) DEFINE_QS8_TILE(1, 4) DEFINE_QS8_TILE(1, 5)
DEFINE_QS8_TILE(1, 6) DEFINE_QS8_TILE(1, 7) DEFINE_QS8_TILE(1, 8)

/// Panels per tile for R rows: as many as the 16 registers hold next to the R·P accumulators.
#define PANELS_PER_TILE(R) ((R) == 4 ? 2 : (R) == 3 ? 3 : (R) == 2 ? 4 : 8)

typedef void (*qs8_tile_fn)(const ember_run_source *, int64_t, const ember_qs8_gemm *, int32_t, void *, int64_t, int64_t);
/// qs8_tiles[R][P]: the tile of R rows × P panels (NULL outside PANELS_PER_TILE).
static const qs8_tile_fn qs8_tiles[MR + 1][9] = {
  [4] = {NULL, qs8_tile_4_1, qs8_tile_4_2},
  [3] = {NULL, qs8_tile_3_1, qs8_tile_3_2, qs8_tile_3_3},
  [2] = {NULL, qs8_tile_2_1, qs8_tile_2_2, qs8_tile_2_3, qs8_tile_2_4},
  [1] = {NULL, qs8_tile_1_1, qs8_tile_1_2, qs8_tile_1_3, qs8_tile_1_4, qs8_tile_1_5, qs8_tile_1_6, qs8_tile_1_7,
         qs8_tile_1_8},
};

/// `rows` consecutive GEMM rows, the first reading `col` bytes into the source runs, × every panel of `w`,
/// in tiles of 4 or fewer rows and PANELS_PER_TILE panels.
TARGET static void qs8_rows(int32_t rows, const ember_run_source *src, int64_t col, const ember_qs8_gemm *w, void *out,
                            int64_t out_at, int64_t out_stride) {
  const int32_t panels = w->n_padded / 8;
  while (rows > 0) {
    const int32_t r = rows >= MR ? MR : rows, step = PANELS_PER_TILE(r);
    for (int32_t panel = 0; panel < panels; panel += step) {
      const int32_t live = panels - panel < step ? panels - panel : step;
      qs8_tiles[r][live](src, col, w, panel, out, out_at, out_stride);
    }
    col += r * src->pixel;
    out_at += r * out_stride;
    rows -= r;
  }
}

/// dst[0..n) = src − zero_point as int16, 16 or 8 at a time; a tail of a run of at least 8 is one more
/// vector ending at n (overlapping values already written with the same), so a short run (a tap row
/// of a few channels) is one or two vectors, not a scalar loop.
TARGET static inline void widen_i16(int16_t *dst, const int8_t *src, int32_t zero_point, int32_t n) {
  const __m256i zp = _mm256_set1_epi16((int16_t)zero_point);
#define WIDEN_16(at) _mm256_storeu_si256((__m256i *)(dst + (at)), _mm256_sub_epi16(                  \
    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + (at)))), zp))
#define WIDEN_8(at) _mm_storeu_si128((__m128i *)(dst + (at)), _mm_sub_epi16(                          \
    _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(src + (at)))), _mm256_castsi256_si128(zp)))
  if (n < 8) {
    for (int32_t i = 0; i < n; ++i) dst[i] = (int16_t)(src[i] - zero_point);
    return;
  }
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) WIDEN_16(i);
  const int32_t rest = n - i;  // 0…15
  if (rest > 8 && n >= 16) WIDEN_16(n - 16);
  else if (rest > 0) {
    if (rest > 8) WIDEN_8(i);
    WIDEN_8(n - 8);
  }
#undef WIDEN_16
#undef WIDEN_8
}

/// `rows` rows of k int8 inputs, `stride` apart, × w: each tile's rows widened to int16 (x − zero point)
/// and padded with zeros to k_padded in scratch (MR rows), then multiplied.
TARGET static void fc_qs8_strided(int64_t rows, const int8_t *input, int64_t stride, const ember_qs8_gemm *w,
                                  void *scratch, void *output) {
  int16_t *patches = (int16_t *)scratch;
  const uint8_t *row = (const uint8_t *)patches;
  const ember_run_source src = {&row, 1, w->k_padded / 2, (int64_t)w->k_padded * 2};
  const int32_t contiguous = w->k == w->k_padded && stride == w->k;  // a tile's rows are one run
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    if (contiguous) {
      widen_i16(patches, input + p * stride, w->input_zero_point, mr * w->k);
    } else {
      for (int32_t r = 0; r < mr; ++r) {
        int16_t *dst = patches + (int64_t)r * w->k_padded;
        widen_i16(dst, input + (p + r) * stride, w->input_zero_point, w->k);
        memset(dst + w->k, 0, sizeof(int16_t) * (size_t)(w->k_padded - w->k));
      }
    }
    qs8_rows(mr, &src, 0, w, output, p * w->n, w->n);
  }
}

/// Input row `iy` of image `n` as a window row of int16 (x − zero point), `width` pixels from column
/// −pad_left, 0 outside the image, then two zero values for the last run's pair padding.
TARGET static void fill_window_row_i16(int16_t *dst, const ember_conv_geometry *g, const int8_t *input, int32_t n,
                                       int32_t iy, int32_t width, int32_t zero_point) {
  const int64_t c = g->in_c, count = width * c;
  int32_t lo, hi;
  ember_window_inside(g, width, &lo, &hi);
  if (iy < 0 || iy >= g->in_h) lo = hi = width;
  memset(dst, 0, sizeof(int16_t) * (size_t)(lo * c));
  if (hi > lo) widen_i16(dst + lo * c, input + (((int64_t)n * g->in_h + iy) * g->in_w + (lo - g->pad_left)) * c,
                         zero_point, (int32_t)((hi - lo) * c));
  const int64_t end = (hi > lo ? hi : lo) * c;
  memset(dst + end, 0, sizeof(int16_t) * (size_t)(count - end + 2));
}

/// The int8 GEMM convolution behind both the int8 and the hybrid entry points (output int8 or f32).
/// Pointwise layers multiply the input rows (as a fully connected layer); others read every tap of an
/// output row from the window of its input rows (ember_window), widened to int16 once, in runs as
/// ember_conv_k_runs packs them.
TARGET static void conv2d_qs8(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                              void *output) {
  if (ember_conv_is_pointwise(g)) {
    fc_qs8_strided((int64_t)g->batch * g->out_h * g->out_w, input, g->in_c, w, scratch, output);
    return;
  }
  const ember_k_runs runs = ember_conv_k_runs(EMBER_ISA_AVX2, g);
  const int32_t width = ember_window_width(g);
  ember_window win = ember_window_start(g, 2, scratch);
  EMBER_WINDOW_CONV(g, &win, 2, w->k_padded / 2 / runs.runs,
                    fill_window_row_i16((int16_t *)(void *)dst, g, input, n, iy, width, w->input_zero_point),
                    qs8_rows(g->out_w, &src, 0, w, output, out_at * w->n, w->n));
}

TARGET static void ember_conv2d_s8_avx2(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                                 int8_t *output) {
  conv2d_qs8(g, input, w, scratch, output);
}

/// tensor_utils::SymmetricQuantizeFloats (as ember_conv2d_hybrid_ref), 8 lanes; returns the input scale.
TARGET static float quantize_symmetric(const float *x, int64_t count, int8_t *q) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 range_v = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) range_v = _mm256_max_ps(range_v, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
  float lanes[8];
  _mm256_storeu_ps(lanes, range_v);
  float range = 0.0f;
  for (int32_t l = 0; l < 8; ++l) range = lanes[l] > range ? lanes[l] : range;
  for (; i < count; ++i) range = fabsf(x[i]) > range ? fabsf(x[i]) : range;
  if (range == 0.0f) {
    memset(q, 0, (size_t)count);
    return 1.0f;
  }
  const float inv_s = 127.0f / range;
  const __m256 inv = _mm256_set1_ps(inv_s), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 top = _mm256_set1_ps(127.0f), zero = _mm256_setzero_ps();
  for (i = 0; i + 8 <= count; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), inv);
    // roundf: truncate |v|, add 1 when the dropped fraction (exact in f32) is at least one half.
    const __m256 a = _mm256_and_ps(v, abs_mask);
    __m256 r = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    r = _mm256_add_ps(r, _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(a, r), half, _CMP_GE_OQ), one));
    r = _mm256_min_ps(r, top);
    r = _mm256_blendv_ps(r, _mm256_sub_ps(zero, r), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    const __m256i n = _mm256_cvttps_epi32(r);
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
    _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(p16, p16));
  }
  for (; i < count; ++i) {
    const float r = roundf(x[i] * inv_s);
    q[i] = (int8_t)(r > 127.0f ? 127 : (r < -127.0f ? -127 : (int32_t)r));
  }
  return range / 127.0f;
}

TARGET static void ember_conv2d_hybrid_avx2(const ember_conv_geometry *g, const float *input, const ember_qs8_gemm *w,
                                     void *scratch, float *output) {
  EMBER_HYBRID_CONV_BODY(g, input, w, scratch, output, quantize_symmetric, conv2d_qs8);
}

TARGET static void fc_qs8(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch, void *output) {
  fc_qs8_strided(rows, input, w->k, w, scratch, output);
}

TARGET static void ember_fully_connected_s8_avx2(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                                          int8_t *output) {
  fc_qs8(rows, input, w, scratch, output);
}

TARGET static void ember_fully_connected_hybrid_avx2(int64_t rows, const float *input, const ember_qs8_gemm *w, void *scratch,
                                              float *output) {
  EMBER_HYBRID_FC_BODY(rows, input, w, scratch, output, quantize_symmetric, fc_qs8);
}

// ------------------------------------------------------------ int8 depthwise
/// Eight int8 channels widened to int32; a tail shorter than 8 is read through a copy.
TARGET static inline __m256i load8_s8(const int8_t *src, int32_t count) {
  if (count >= 8) return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)src));
  int8_t tmp[8] = {0};
  memcpy(tmp, src, (size_t)count);
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)tmp));
}

/// One pixel's V (1…4, constant) 8-channel vectors from c0 over every valid tap, then requantized.
#define DEFINE_DW_S8_BLOCK(V)                                                                        \
  TARGET static void dw_s8_block_##V(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_dw *w, \
                                     int32_t n, int32_t oy, int32_t ox, int32_t c0, int32_t last, int8_t *out) { \
    const __m256i zp = _mm256_set1_epi32(w->input_zero_point);                                    \
    __m256i acc[V];                                                                               \
    for (int32_t v = 0; v < V; ++v) acc[v] = _mm256_loadu_si256((const __m256i *)(w->bias + c0 + 8 * v)); \
    EMBER_FOR_EACH_VALID_TAP(g, n, oy, ox, int8_t, input, c0, {                                   \
      const int32_t *f = w->weights + (int64_t)tap * w->c_padded + c0;                            \
      for (int32_t v = 0; v < V; ++v) {                                                           \
        const __m256i x = _mm256_sub_epi32(load8_s8(src + 8 * v, v == V - 1 ? last : 8), zp);      \
        acc[v] = _mm256_add_epi32(acc[v], _mm256_mullo_epi32(x, _mm256_loadu_si256((const __m256i *)(f + 8 * v)))); \
      }                                                                                           \
    })                                                                                            \
    for (int32_t v = 0; v < V; ++v) {                                                             \
      const int32_t c = c0 + 8 * v;                                                               \
      requant_store(acc[v], w->multiplier, w->shift, w->requant_scale, c, w->output_offset, w->act_min,  \
                    w->act_max,                                                                   \
                    v == V - 1 ? last : 8, out + c);                                              \
    }                                                                                             \
  }
DEFINE_DW_S8_BLOCK(1) DEFINE_DW_S8_BLOCK(2) DEFINE_DW_S8_BLOCK(3) DEFINE_DW_S8_BLOCK(4)

// Only 3×3 depthwise layers run their interior pixels apart (DW_INTERIOR_TAPS taps): their nine weight
// vectors stay in registers. Other kernels (1-D ones like strww's 3×1 … 15×1 among them) measured slower that way
// (one vector per pass over the taps rather than up to four), so they keep the per-pixel blocks.
#define DW_INTERIOR_TAPS 9

/// Channels [c0, c0 + count) (count 1…8) of every 3×3 output pixel whose taps, at `offset`
/// (ember_tap_offsets), are all inside the image: the bias less zp·Σw once per call, then per pixel one
/// widening load, multiply and add per tap. With stride and dilation 1, DW_GROUP adjacent pixels at a
/// time: each tap row's DW_GROUP + 2 inputs are widened once and serve up to three of them (the
/// weights then come from memory: the 16 registers hold the inputs and accumulators).
#define DW_GROUP 4
TARGET static void dw_s8_interior_3x3(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_dw *w,
                                      const int64_t *offset, int32_t c0, int32_t count, int8_t *output) {
  __m256i wv[DW_INTERIOR_TAPS];
  __m256i weight_sum = _mm256_setzero_si256();
  for (int32_t t = 0; t < DW_INTERIOR_TAPS; ++t) {
    wv[t] = _mm256_loadu_si256((const __m256i *)(w->weights + (int64_t)t * w->c_padded + c0));
    weight_sum = _mm256_add_epi32(weight_sum, wv[t]);
  }
  const __m256i folded = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(w->bias + c0)),
                                          _mm256_mullo_epi32(weight_sum, _mm256_set1_epi32(w->input_zero_point)));
  const requant8 q = requant8_channels(w->multiplier, w->shift, w->requant_scale, c0);
  const int32_t c = g->in_c, group = g->stride_w == 1 && g->dilation_w == 1 ? DW_GROUP : 1 << 30;
  const int32_t *f = w->weights + c0;
  const int64_t cp = w->c_padded;
  EMBER_FOR_EACH_INTERIOR_GROUP(g, int8_t, output, c0, group, {
    __m256i acc[DW_GROUP];
    for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = folded;
    for (int32_t ky = 0; ky < 3; ++ky) {
      const int8_t *row = input + at + offset[3 * ky];
      __m256i x[DW_GROUP + 2];
      for (int32_t i = 0; i < DW_GROUP + 2; ++i) x[i] = load8_s8(row + (int64_t)i * c, count);
      for (int32_t kx = 0; kx < 3; ++kx) {
        const __m256i wk = _mm256_loadu_si256((const __m256i *)(f + (3 * ky + kx) * cp));
        for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = _mm256_add_epi32(acc[j], _mm256_mullo_epi32(x[j + kx], wk));
      }
    }
    if (count == 8 && DW_GROUP == 4) {  // four pixels' 8 channels, c apart: one packed store
      store_s8_x4(requantize8(acc[0], &q), requantize8(acc[1], &q), requantize8(acc[2], &q), requantize8(acc[3], &q),
                  w->output_offset, w->act_min, w->act_max, 1, out, c);
    } else {
      for (int32_t j = 0; j < DW_GROUP; ++j)
        store_s8(requantize8(acc[j], &q), w->output_offset, w->act_min, w->act_max, count, out + (int64_t)j * c);
    }
  }, {
    __m256i acc = folded;
    for (int32_t t = 0; t < DW_INTERIOR_TAPS; ++t)
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(load8_s8(input + at + offset[t], count), wv[t]));
    store_s8(requantize8(acc, &q), w->output_offset, w->act_min, w->act_max, count, out);
  })
}

/// The depthwise entry point of KIND (s8, f32): the pixel (n, oy, ox) over all channels by the
/// bounds-tested blocks dw_KIND_block_V, and 3×3 interior pixels by dw_KIND_interior_3x3.
#define DEFINE_DW_ENTRY(KIND, T, W)                                                                    \
  TARGET static void dw_##KIND##_pixel(const ember_conv_geometry *g, const T *input, const W *w, int32_t n, \
                                       int32_t oy, int32_t ox, T *output) {                           \
    T *out = output + (((int64_t)n * g->out_h + oy) * g->out_w + ox) * g->out_c;                      \
    EMBER_FOR_EACH_CHANNEL_BLOCK(g->in_c, 8, {                                                        \
      EMBER_CALL_CHANNEL_BLOCK(vectors, dw_##KIND##_block, g, input, w, n, oy, ox, c0, last, out);    \
    })                                                                                                \
  }                                                                                                   \
  TARGET static void ember_dwconv2d_##KIND##_avx2(const ember_conv_geometry *g, const T *input, const W *w, \
                                                  void *scratch, T *output) {                         \
    (void)scratch;                                                                                    \
    const int32_t three_by_three = g->kernel_h == 3 && g->kernel_w == 3;                              \
    int64_t offset[DW_INTERIOR_TAPS];  /* the interior pixels' tap offsets, once per call */          \
    if (three_by_three) ember_tap_offsets(g, offset);                                                 \
    EMBER_DEPTHWISE_ROWS(g, 8, three_by_three, dw_##KIND##_pixel(g, input, w, n, oy, ox, output);,    \
                         dw_##KIND##_interior_3x3(g, input, w, offset, c0, count, output););          \
  }
DEFINE_DW_ENTRY(s8, int8_t, ember_qs8_dw)

// ------------------------------------------------------------ float-mode int8 add / sub / mul
/// 8 int8 codes at p (the first n) dequantized: (x + offset) · scale in float.
TARGET static inline __m256 dequantize8(const int8_t *p, int32_t n, __m256i offset, __m256 scale) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(load8_s8(p, n), offset)), scale);
}

/// ADD/SUB/MUL in ONNX Runtime's float arithmetic (float_mode), as the reference: the dequantized operands
/// combined in float, divided by the output scale, rounded to nearest even. `op`: 0 add, 1 sub, 2 mul.
TARGET static void float_binary_s8_row_avx2(int64_t count, const int8_t *a, const int8_t *b, int32_t a_offset,
                                            int32_t b_offset, float a_scale, float b_scale, float output_scale,
                                            int32_t output_offset, int32_t act_min, int32_t act_max, int32_t op,
                                            int8_t *out) {
  const __m256i ao = _mm256_set1_epi32(a_offset), bo = _mm256_set1_epi32(b_offset);
  const __m256 as = _mm256_set1_ps(a_scale), bs = _mm256_set1_ps(b_scale), os = _mm256_set1_ps(output_scale);
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const __m256 x = dequantize8(a + i, n, ao, as), y = dequantize8(b + i, n, bo, bs);
    const __m256 v = op == 0 ? _mm256_add_ps(x, y) : op == 1 ? _mm256_sub_ps(x, y) : op == 3 ? _mm256_sub_ps(y, x)
                                                                                     : _mm256_mul_ps(x, y);
    store_s8(round_float8(_mm256_div_ps(v, os)), output_offset, act_min, act_max, n, out + i);
  }
}

// ------------------------------------------------------------ int8 mul
/// TFLite int8 MUL, ember_mul_s8_ref's arithmetic, 8 lanes (see ember_kernel_table.mul_s8).
TARGET static void ember_mul_s8_avx2(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                                     const ember_mul_s8_params *p, int8_t *out) {
  const __m256i ao = _mm256_set1_epi32(p->a_offset), bo = _mm256_set1_epi32(p->b_offset);
  if (p->float_mode) {
    for (int64_t r = 0; r < rows; ++r)
      float_binary_s8_row_avx2(cols, a + r * cols, b + r * b_row_stride, p->a_offset, p->b_offset, p->a_scale,
                               p->b_scale, p->output_scale, p->output_offset, p->act_min, p->act_max, 2, out + r * cols);
    return;
  }
  const requant8 q = requant8_make(_mm256_set1_epi32(p->output_multiplier), _mm256_set1_epi32(p->output_shift));
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t *ar = a + r * cols, *br = b + r * b_row_stride;
    for (int64_t i = 0; i < cols; i += 8) {
      const int32_t n = cols - i < 8 ? (int32_t)(cols - i) : 8;
      const __m256i x = _mm256_add_epi32(load8_s8(ar + i, n), ao), y = _mm256_add_epi32(load8_s8(br + i, n), bo);
      store_s8(mbqm_double_with(_mm256_mullo_epi32(x, y), &q), p->output_offset, p->act_min, p->act_max, n,
               out + r * cols + i);
    }
  }
}

// ------------------------------------------------------------ int8 add / sub
/// One operand of TFLite's int8 ADD recipe in 32-bit lanes (ember_add_operand_plan), constants once per call.
typedef struct {
  __m256i m_hi, m_lo, high_bias, low_bias, negative_fix, below;
  __m128i shift;
} add_operand8;

TARGET static inline add_operand8 add_operand8_make(const ember_add_operand_plan *plan) {
  add_operand8 o;
  o.m_hi = _mm256_set1_epi32(plan->m_hi);
  o.m_lo = _mm256_set1_epi32(plan->m_lo);
  o.high_bias = _mm256_set1_epi32(plan->high_bias);
  o.low_bias = _mm256_set1_epi32(plan->low_bias);
  o.negative_fix = _mm256_set1_epi32(plan->negative_fix);
  o.below = _mm256_set1_epi32(plan->below);
  o.shift = _mm_cvtsi32_si128(plan->shift);
  return o;
}

/// The operand of 8 int8 codes x (as int32): x·M_hi + offset·M_hi + ((x·M_lo + offset·M_lo + C_u) >> S),
/// C_u lower by negative_fix where u = x + offset < 0 (ember_add_operand_plan).
TARGET static inline __m256i add_operand8_apply(__m256i x, const add_operand8 *o) {
  const __m256i high = _mm256_add_epi32(_mm256_mullo_epi32(x, o->m_hi), o->high_bias);
  __m256i low = _mm256_add_epi32(_mm256_mullo_epi32(x, o->m_lo), o->low_bias);
  low = _mm256_sub_epi32(low, _mm256_and_si256(_mm256_cmpgt_epi32(o->below, x), o->negative_fix));
  return _mm256_add_epi32(high, _mm256_sra_epi32(low, o->shift));
}

/// The linear form of an int8 ADD/SUB (ember_add_s8_linear_plan): (a·lin_a + b·lin_b + lin_c) >> lin_shift,
/// saturated to int8 and clamped; the form has the exact recipe's bytes for every pair of codes.
TARGET static void add_s8_linear_row_avx2(int64_t count, const int8_t *a, const int8_t *b,
                                          const ember_add_s8_params *p, int8_t *out) {
  const __m256i ka = _mm256_set1_epi32(p->lin_a), kb = _mm256_set1_epi32(p->lin_b), kc = _mm256_set1_epi32(p->lin_c);
  const __m128i shift = _mm_cvtsi32_si128(p->lin_shift);
  const int32_t act_min = p->act_min, act_max = p->act_max, exceptions = p->lin_exceptions;
  int32_t pairs[EMBER_ADD_LINEAR_EXCEPTIONS], values[EMBER_ADD_LINEAR_EXCEPTIONS];
  memcpy(pairs, p->lin_pairs, sizeof pairs);
  memcpy(values, p->lin_values, sizeof values);
  const __m256i low_byte = _mm256_set1_epi32(255);
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const __m256i x = load8_s8(a + i, n), y = load8_s8(b + i, n);
    __m256i v = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(x, ka), kc), _mm256_mullo_epi32(y, kb));
    v = _mm256_sra_epi32(v, shift);
    if (exceptions) {  // the pairs the form gets wrong, by their key (a & 255) << 8 | (b & 255)
      const __m256i key = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(x, low_byte), 8),
                                          _mm256_and_si256(y, low_byte));
      for (int32_t e = 0; e < exceptions; ++e)
        v = _mm256_blendv_epi8(v, _mm256_set1_epi32(values[e]), _mm256_cmpeq_epi32(key, _mm256_set1_epi32(pairs[e])));
    }
    store_s8(v, 0, act_min, act_max, n, out + i);
  }
}

/// TFLite int8 ADD (SUB) of two tensors of the same shape: ember_add_s8_ref's arithmetic, 8 lanes. The
/// operands in 32-bit lanes where ember_add_operand_plan allows (TFLite's left shift of 20 does), else
/// with 64-bit products.
TARGET static void add_s8_row_avx2(int64_t count, const int8_t *a, const int8_t *b, const ember_add_s8_params *p,
                                   int32_t subtract, int8_t *out) {
  if (p->float_mode) {
    float_binary_s8_row_avx2(count, a, b, p->a_offset, p->b_offset, p->a_scale, p->b_scale, p->output_scale,
                             p->output_offset, p->act_min, p->act_max, subtract == 2 ? 3 : subtract ? 1 : 0, out);
    return;
  }
  if (p->linear && subtract != 3) {
    add_s8_linear_row_avx2(count, a, b, p, out);
    return;
  }
  ember_add_operand_plan plan_a, plan_b;
  const int32_t narrow = ember_add_operand_plan_make(p->left_shift, p->a_multiplier, p->a_shift, p->a_offset, &plan_a) &
                         ember_add_operand_plan_make(p->left_shift, p->b_multiplier, p->b_shift, p->b_offset, &plan_b);
  const add_operand8 oa = add_operand8_make(&plan_a), ob = add_operand8_make(&plan_b);
  const __m256i ao = _mm256_set1_epi32(p->a_offset), bo = _mm256_set1_epi32(p->b_offset);
  const requant8 qa = requant8_make(_mm256_set1_epi32(p->a_multiplier), _mm256_set1_epi32(p->a_shift));
  const requant8 qb = requant8_make(_mm256_set1_epi32(p->b_multiplier), _mm256_set1_epi32(p->b_shift));
  const requant8 qo = requant8_make(_mm256_set1_epi32(p->output_multiplier), _mm256_set1_epi32(p->output_shift));
  const __m128i left = _mm_cvtsi32_si128(p->left_shift);
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const __m256i x = load8_s8(a + i, n), y = load8_s8(b + i, n);
    __m256i xa, yb;
    if (narrow) {
      xa = add_operand8_apply(x, &oa);
      yb = add_operand8_apply(y, &ob);
    } else {
      xa = mbqm_double_with(_mm256_sll_epi32(_mm256_add_epi32(x, ao), left), &qa);
      yb = mbqm_double_with(_mm256_sll_epi32(_mm256_add_epi32(y, bo), left), &qb);
    }
    __m256i raw = subtract == 2 ? _mm256_sub_epi32(yb, xa) : subtract ? _mm256_sub_epi32(xa, yb) : _mm256_add_epi32(xa, yb);
    if (subtract == 3) raw = _mm256_mullo_epi32(raw, raw);  // SQUARED_DIFFERENCE (wrapping, as the reference)
    const __m256i r = mbqm_double_with(raw, &qo);
    store_s8(r, p->output_offset, p->act_min, p->act_max, n, out + i);
  }
}

TARGET static void ember_add_s8_avx2(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                                     const ember_add_s8_params *p, int32_t subtract, int8_t *out) {
  for (int64_t r = 0; r < rows; ++r) add_s8_row_avx2(cols, a + r * cols, b + r * b_row_stride, p, subtract, out + r * cols);
}

// ------------------------------------------------------------------- f32
/// Stores the first `count` (1…8) lanes of v. A whole vector is a plain store: AMD cores run
/// vmaskmovps stores in microcode, ~10× the time of a store (measured here: 7.1 ns against 0.66 ns).
TARGET static inline void store_ps(float *dst, __m256 v, int32_t count) {
  if (count >= 8) _mm256_storeu_ps(dst, v);
  else _mm256_maskstore_ps(dst, tail_mask(count), v);
}

/// R rows of floats from an ember_run_source × P 8-channel panels, both constants, as the int8 tiles.
/// KIND f32 reads f32 weights; KIND f16 reads IEEE-half weights (an fp16 rung's, kept at half the
/// bytes) and widens each panel row as it is loaded (F16C).
#define DEFINE_F32_TILE(KIND, LOAD_WEIGHTS, R, P)                                                     \
  TARGET static void KIND##_tile_##R##_##P(const ember_run_source *src, int64_t col, const ember_f32_gemm *w, \
                                           int32_t panel, float *out, int64_t out_stride) {          \
    const int32_t k = w->k, c0 = panel * 8;                                                           \
    const int64_t pixel = src->pixel;                                                                 \
    __m256 acc[R][P];                                                                                 \
    for (int32_t j = 0; j < P; ++j) {                                                                 \
      const __m256 bias = _mm256_loadu_ps(w->bias + c0 + 8 * j);                                      \
      for (int32_t r = 0; r < R; ++r) acc[r][j] = bias;                                               \
    }                                                                                                 \
    int64_t kk = (int64_t)panel * k * 8;  /* the weights of input kk of panel `panel` */              \
    for (int32_t t = 0; t < src->runs; ++t) {                                                         \
      const uint8_t *run = src->run[t] + col;                                                         \
      for (int32_t i = 0; i < src->length; ++i, kk += 8) {                                            \
        __m256 wv[P];                                                                                 \
        for (int32_t j = 0; j < P; ++j) wv[j] = LOAD_WEIGHTS(kk + (int64_t)j * k * 8);                \
        if (R > 1 && (i & 1) == 0)  /* a line holds two panel rows (EMBER_PREFETCH_F32_GEMM_WEIGHTS) */ \
          for (int32_t j = 0; j < P; ++j)                                                             \
            EMBER_PREFETCH_F32_GEMM_WEIGHTS(w, kk + (int64_t)j * k * 8 + 8 * EMBER_F32_PREFETCH_AHEAD);  \
        for (int32_t r = 0; r < R; ++r) {                                                             \
          const __m256 x = _mm256_set1_ps(((const float *)(run + r * pixel))[i]);                     \
          for (int32_t j = 0; j < P; ++j) acc[r][j] = _mm256_fmadd_ps(x, wv[j], acc[r][j]);           \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    const __m256 lo = _mm256_set1_ps(w->act_min), hi = _mm256_set1_ps(w->act_max);                    \
    _Pragma("GCC unroll 8") for (int32_t j = 0; j < P; ++j) {                                         \
      const int32_t c = c0 + 8 * j, count = w->n - c < 8 ? w->n - c : 8;                              \
      if (count <= 0) continue;                                                                       \
      _Pragma("GCC unroll 4") for (int32_t r = 0; r < R; ++r)                                         \
        store_ps(out + r * out_stride + c, _mm256_min_ps(_mm256_max_ps(acc[r][j], lo), hi), count);   \
    }                                                                                                 \
  }
#define LOAD_F32_WEIGHTS(at) _mm256_loadu_ps(w->weights + (at))
#define LOAD_F16_WEIGHTS(at) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w->weights_f16 + (at))))
#define DEFINE_F32_TILES(KIND, LOAD)                                                                   \
  DEFINE_F32_TILE(KIND, LOAD, 4, 1) DEFINE_F32_TILE(KIND, LOAD, 4, 2) DEFINE_F32_TILE(KIND, LOAD, 3, 1)   \
  DEFINE_F32_TILE(KIND, LOAD, 3, 2) DEFINE_F32_TILE(KIND, LOAD, 3, 3) DEFINE_F32_TILE(KIND, LOAD, 2, 1)   \
  DEFINE_F32_TILE(KIND, LOAD, 2, 2) DEFINE_F32_TILE(KIND, LOAD, 2, 3) DEFINE_F32_TILE(KIND, LOAD, 2, 4)   \
  DEFINE_F32_TILE(KIND, LOAD, 1, 1) DEFINE_F32_TILE(KIND, LOAD, 1, 2) DEFINE_F32_TILE(KIND, LOAD, 1, 3)   \
  DEFINE_F32_TILE(KIND, LOAD, 1, 4) DEFINE_F32_TILE(KIND, LOAD, 1, 5) DEFINE_F32_TILE(KIND, LOAD, 1, 6)   \
  DEFINE_F32_TILE(KIND, LOAD, 1, 7) DEFINE_F32_TILE(KIND, LOAD, 1, 8)                                    \
  static const f32_tile_fn KIND##_tiles[MR + 1][9] = {                                                  \
    [4] = {NULL, KIND##_tile_4_1, KIND##_tile_4_2},                                                     \
    [3] = {NULL, KIND##_tile_3_1, KIND##_tile_3_2, KIND##_tile_3_3},                                    \
    [2] = {NULL, KIND##_tile_2_1, KIND##_tile_2_2, KIND##_tile_2_3, KIND##_tile_2_4},                   \
    [1] = {NULL, KIND##_tile_1_1, KIND##_tile_1_2, KIND##_tile_1_3, KIND##_tile_1_4, KIND##_tile_1_5,    \
           KIND##_tile_1_6, KIND##_tile_1_7, KIND##_tile_1_8},                                          \
  };
typedef void (*f32_tile_fn)(const ember_run_source *, int64_t, const ember_f32_gemm *, int32_t, float *, int64_t);
DEFINE_F32_TILES(f32, LOAD_F32_WEIGHTS)
DEFINE_F32_TILES(f16, LOAD_F16_WEIGHTS)

/// `rows` consecutive GEMM rows, the first reading `col` bytes into the source runs, × every panel of
/// `w`, whichever its weights' type, in tiles of 4 or fewer rows.
TARGET static void f32_rows(int32_t rows, const ember_run_source *src, int64_t col, const ember_f32_gemm *w, float *out,
                            int64_t out_stride) {
  const f32_tile_fn(*tiles)[9] = w->weights_f16 ? f16_tiles : f32_tiles;
  const int32_t panels = w->n_padded / 8;
  while (rows > 0) {
    const int32_t r = rows >= MR ? MR : rows, step = PANELS_PER_TILE(r);
    for (int32_t panel = 0; panel < panels; panel += step) {
      const int32_t live = panels - panel < step ? panels - panel : step;
      tiles[r][live](src, col, w, panel, out, out_stride);
    }
    col += r * src->pixel;
    out += r * out_stride;
    rows -= r;
  }
}

TARGET static int32_t ember_unary_f32_avx2(ember_unary_op op, float alpha, int64_t count, const float *in, float *out);

/// A fused activation (post_unary) over `count` outputs just written, in place.
TARGET static inline void post_unary_avx2(int32_t post, float alpha, int64_t count, float *out) {
  if (post) (void)ember_unary_f32_avx2((ember_unary_op)(post - 1), alpha, count, out, out);
}

/// `rows` rows of w->k floats, `a_stride` apart, × w into rows `out_stride` apart.
TARGET static void f32_gemm_strided(int32_t rows, const float *a, int64_t a_stride, const ember_f32_gemm *w, float *out,
                                    int64_t out_stride) {
  const uint8_t *row = (const uint8_t *)a;
  const ember_run_source src = {&row, 1, w->k, a_stride * 4};
  f32_rows(rows, &src, 0, w, out, out_stride);
}

/// `rows` rows of k floats, `stride` apart, × w, read in place; with a fused activation, 64 rows at a
/// time, each chunk's activation applied while it is in cache.
TARGET static void fc_f32_strided(int64_t rows, const float *input, int64_t stride, const ember_f32_gemm *w,
                                  float *output) {
  const int64_t chunk = w->post_unary ? 64 : 1 << 20;  // a row count always fits an int32
  for (int64_t p = 0; p < rows; p += chunk) {
    const int32_t r = rows - p < chunk ? (int32_t)(rows - p) : (int32_t)chunk;
    f32_gemm_strided(r, input + p * stride, stride, w, output + p * w->n, w->n);
    post_unary_avx2(w->post_unary, w->post_alpha, (int64_t)r * w->n, output + p * w->n);
  }
}

/// Pointwise layers multiply the input rows in place; others read every tap of an output row from its
/// window of input rows (as AVX-512's), a run per tap row or per tap when dilated.
TARGET static void ember_conv2d_f32_avx2(const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w,
                                         void *scratch, float *output) {
  if (ember_conv_is_pointwise(g)) {
    fc_f32_strided((int64_t)g->batch * g->out_h * g->out_w, input, g->in_c, w, output);
    return;
  }
  if (ember_conv_f32_weight_stationary(g, w->n_padded)) {
    const f32_tile_fn(*tiles)[9] = w->weights_f16 ? f16_tiles : f32_tiles;
    EMBER_WEIGHT_STATIONARY_CONV(g, input, scratch, output, w->n_padded / 8, w->n, MR,
                                 tiles[r][live](&src, col, w, panel, out, w->n));
    post_unary_avx2(w->post_unary, w->post_alpha, (int64_t)g->batch * g->out_h * g->out_w * w->n, output);
    return;
  }
  const int32_t width = ember_window_width(g), length = g->dilation_w == 1 ? g->kernel_w * g->in_c : g->in_c;
  ember_window win = ember_window_start(g, 4, scratch);
  EMBER_WINDOW_CONV(g, &win, 4, length, ember_fill_window_row_f32((float *)(void *)dst, g, input, n, iy, width), {
    f32_rows(g->out_w, &src, 0, w, output + out_at * w->n, w->n);
    post_unary_avx2(w->post_unary, w->post_alpha, (int64_t)g->out_w * w->n, output + out_at * w->n);
  });
}

TARGET static void ember_fully_connected_f32_avx2(int64_t rows, const float *input, const ember_f32_gemm *w, float *output) {
  fc_f32_strided(rows, input, w->k, w, output);
}

// ------------------------------------------------------------------- INT4 block-32 fully connected
/// As Q4_BLOCKS_AVX512, the 32 nibbles of a block as two 8-lane halves of each kind.
#define Q4_BLOCKS_AVX2(U, w, xs, out)                                                                \
  do {                                                                                              \
    __m256 acc_[U];                                                                                 \
    for (int32_t u = 0; u < (U); ++u) acc_[u] = _mm256_setzero_ps();                                \
    for (int32_t b = 0; b < blocks; ++b) {                                                          \
      const float *x_ = (xs) + 32 * b;                                                              \
      const __m256 xe0 = _mm256_loadu_ps(x_), xe1 = _mm256_loadu_ps(x_ + 8);                        \
      const __m256 xo0 = _mm256_loadu_ps(x_ + 16), xo1 = _mm256_loadu_ps(x_ + 24);                  \
      for (int32_t u = 0; u < (U); ++u) {                                                           \
        const uint8_t *blk = (w) + u * row_bytes + 18 * (int64_t)b;                                 \
        const __m256i t0 = _mm256_xor_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(blk + 2))), flip); \
        const __m256i t1 = _mm256_xor_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(blk + 10))), flip); \
        const __m256 lo0 = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(t0, nibble), magic)), offset); \
        const __m256 lo1 = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(t1, nibble), magic)), offset); \
        const __m256 hi0 = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(_mm256_srli_epi32(t0, 4), magic)), offset); \
        const __m256 hi1 = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_or_si256(_mm256_srli_epi32(t1, 4), magic)), offset); \
        __m256 dot = _mm256_fmadd_ps(xe1, lo1, _mm256_mul_ps(xe0, lo0));                            \
        dot = _mm256_fmadd_ps(xo1, hi1, _mm256_fmadd_ps(xo0, hi0, dot));                            \
        uint16_t half_;                                                                             \
        memcpy(&half_, blk, 2);                                                                     \
        acc_[u] = _mm256_fmadd_ps(dot, _mm256_set1_ps(_cvtsh_ss(half_)), acc_[u]);                  \
      }                                                                                             \
    }                                                                                               \
    for (int32_t u = 0; u < (U); ++u) {                                                             \
      const __m128 h_ = _mm_add_ps(_mm256_castps256_ps128(acc_[u]), _mm256_extractf128_ps(acc_[u], 1)); \
      const __m128 q_ = _mm_add_ps(h_, _mm_movehl_ps(h_, h_));                                      \
      const float v = _mm_cvtss_f32(_mm_add_ss(q_, _mm_movehdup_ps(q_))) + (bias ? bias[o + u] : 0.0f); \
      (out)[u] = v < act_min ? act_min : v > act_max ? act_max : v;                                 \
    }                                                                                               \
  } while (0)

TARGET static void fully_connected_q4b32_avx2(int64_t rows, int32_t in_features, int32_t out_features,
                                              const float *input, const uint8_t *weights, const float *bias,
                                              float act_min, float act_max, void *scratch, float *output) {
  const int32_t blocks = in_features / 32;
  const __m256i flip = _mm256_set1_epi32(0x88), nibble = _mm256_set1_epi32(0xF), magic = _mm256_set1_epi32(0x4B000000);
  const __m256 offset = _mm256_set1_ps(8388616.0f);  // 2^23 + 8
  EMBER_Q4_ROWS(rows, in_features, out_features, input, weights, scratch, output, Q4_BLOCKS_AVX2);
}

// ------------------------------------------------------------------- f32 Winograd F(2×2, 3×3)
#define WG_TARGET TARGET
#define WG_ISA EMBER_ISA_AVX2
#define WG_VEC __m256
#define WG_LANES 8
#define WG_LOAD(p) _mm256_loadu_ps(p)
#define WG_STORE(p, v) _mm256_storeu_ps(p, v)
#define WG_LOADN(p, n) _mm256_maskload_ps(p, tail_mask(n))
#define WG_STOREN(p, v, n) store_ps(p, v, n)
#define WG_ADD _mm256_add_ps
#define WG_SUB _mm256_sub_ps
#define WG_CLAMP(v, lo, hi) _mm256_min_ps(_mm256_max_ps(v, lo), hi)
#define WG_SET1 _mm256_set1_ps
#define WG_ZERO _mm256_setzero_ps
#define WG_GEMM f32_gemm_strided
#define WG_FUNCTION ember_conv2d_winograd_f32_avx2
#include "ember_winograd.h"

/// Tap t's weights for channels [c0, c0 + 8), as floats.
TARGET static inline __m256 dw_f32_weight(const ember_f32_dw *w, int32_t t, int32_t c0) {
  const int64_t at = (int64_t)t * w->c_padded + c0;
  return w->weights_f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w->weights_f16 + at)))
                        : _mm256_loadu_ps(w->weights + at);
}

/// Channels [c0, c0 + count) of output row `out` (pixel 0, channel 0) of an f32 depthwise layer from its
/// window rows `rows` (from window column 0; ember_fill_window_row_f32), with the block's weights `wk`
/// (one vector per tap, widened from f16 if need be; NULL for kernels of more than DW_MAX_TAPS taps,
/// whose weights are read at each tap): the bias, then the taps in (ky, kx) order. Reads
/// run past `count` channels into the next pixel or the row's slack (those lanes are not stored), so
/// every load is a whole vector. A 3×3 kernel at stride 1 runs DW_GROUP pixels at a time, each tap
/// row's inputs loaded once for up to three of them; other kernels DW_GROUP pixels at a time too.
TARGET static void dw_f32_row(const ember_conv_geometry *g, const ember_f32_dw *w, const uint8_t *const *rows,
                              const __m256 *wk, int32_t c0, int32_t count, float *out) {
  const __m256 bias = _mm256_loadu_ps(w->bias + c0);
  const __m256 lo = _mm256_set1_ps(w->act_min), hi = _mm256_set1_ps(w->act_max);
  const int64_t c = g->in_c, pixel = (int64_t)g->stride_w * c, tap = (int64_t)g->dilation_w * c;
#define DW_F32_ROW(ky) ((const float *)(const void *)rows[ky] + c0)
  int32_t ox = 0;
  const int32_t three_by_three = g->kernel_h == 3 && g->kernel_w == 3 && wk;
  if (three_by_three && g->stride_w == 1 && g->dilation_w == 1)
    for (; ox + DW_GROUP <= g->out_w; ox += DW_GROUP) {
      __m256 acc[DW_GROUP];
      for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = bias;
      for (int32_t ky = 0; ky < 3; ++ky) {
        const float *row = DW_F32_ROW(ky) + ox * c;
        __m256 x[DW_GROUP + 2];
        for (int32_t i = 0; i < DW_GROUP + 2; ++i) x[i] = _mm256_loadu_ps(row + i * c);
        for (int32_t kx = 0; kx < 3; ++kx)
          for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = _mm256_fmadd_ps(x[j + kx], wk[3 * ky + kx], acc[j]);
      }
      for (int32_t j = 0; j < DW_GROUP; ++j)
        store_ps(out + (ox + j) * c + c0, _mm256_min_ps(_mm256_max_ps(acc[j], lo), hi), count);
    }
  if (!(three_by_three && g->stride_w == 1 && g->dilation_w == 1))
    // Other kernels, strides and dilations: DW_GROUP independent FMA chains (one chain per pixel is bound
    // by the FMA's latency), each tap's weights read once for them, each pixel's taps in (ky, kx) order.
    // A last group of DW_GROUP − 1 pixels runs as a whole group, its extra lane repeating its last pixel.
    for (; g->out_w - ox >= DW_GROUP - 1; ox += DW_GROUP) {
      const int32_t live = g->out_w - ox < DW_GROUP ? g->out_w - ox : DW_GROUP;
      int64_t at[DW_GROUP];
      for (int32_t j = 0; j < DW_GROUP; ++j) at[j] = (j < live ? j : live - 1) * pixel;
      __m256 acc[DW_GROUP];
      for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = bias;
      for (int32_t ky = 0, t = 0; ky < g->kernel_h; ++ky)
        for (int32_t kx = 0; kx < g->kernel_w; ++kx, ++t) {
          const __m256 wv = wk ? wk[t] : dw_f32_weight(w, t, c0);
          const float *p = DW_F32_ROW(ky) + ox * pixel + kx * tap;
          for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(p + at[j]), wv, acc[j]);
        }
      for (int32_t j = 0; j < live; ++j)
        store_ps(out + (ox + j) * c + c0, _mm256_min_ps(_mm256_max_ps(acc[j], lo), hi), count);
    }
  if (three_by_three) {  // the nine weights in registers
    __m256 w9[DW_INTERIOR_TAPS];
    for (int32_t t = 0; t < DW_INTERIOR_TAPS; ++t) w9[t] = wk[t];
    for (; ox < g->out_w; ++ox) {
      __m256 acc = bias;
      for (int32_t ky = 0; ky < 3; ++ky)
        for (int32_t kx = 0; kx < 3; ++kx)
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(DW_F32_ROW(ky) + ox * pixel + kx * tap), w9[3 * ky + kx], acc);
      store_ps(out + ox * c + c0, _mm256_min_ps(_mm256_max_ps(acc, lo), hi), count);
    }
  }
  for (; ox < g->out_w; ++ox) {
    __m256 acc = bias;
    for (int32_t ky = 0, t = 0; ky < g->kernel_h; ++ky)
      for (int32_t kx = 0; kx < g->kernel_w; ++kx, ++t)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(DW_F32_ROW(ky) + ox * pixel + kx * tap),
                              wk ? wk[t] : dw_f32_weight(w, t, c0), acc);
    store_ps(out + ox * c + c0, _mm256_min_ps(_mm256_max_ps(acc, lo), hi), count);
  }
#undef DW_F32_ROW
}

EMBER_DEFINE_FILL_WINDOW_ROW_F32_DW(f32_gemm_strided, post_unary_avx2)

/// f32 depthwise layers read their taps from the window of input rows (no border pass), per output row
/// and 8-channel block, the block's weights widened once per row (for up to DW_MAX_TAPS taps).
#define DW_MAX_TAPS 64
TARGET static void ember_dwconv2d_f32_avx2(const ember_conv_geometry *g, const float *input, const ember_f32_dw *w,
                                           void *scratch, float *output) {
  const int32_t c = g->in_c, width = ember_window_width(g), taps = g->kernel_h * g->kernel_w;
  ember_window win = ember_window_start(g, 4, scratch);
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
      EMBER_WINDOW_ROWS(g, &win, n, oy, fill_window_row_f32_dw((float *)(void *)dst, g, w, input, n, iy, width));
      float *out = output + ((int64_t)n * g->out_h + oy) * g->out_w * c;
      for (int32_t c0 = 0; c0 < c; c0 += 8) {
        __m256 wk[DW_MAX_TAPS];  // the block's weights as floats, once per row and block
        for (int32_t t = 0; t < taps && taps <= DW_MAX_TAPS; ++t) wk[t] = dw_f32_weight(w, t, c0);
        dw_f32_row(g, w, win.row, taps <= DW_MAX_TAPS ? wk : NULL, c0, c - c0 < 8 ? c - c0 : 8, out);
      }
      post_unary_avx2(w->post_unary, w->post_alpha, (int64_t)g->out_w * c, out);
    }
}


// ------------------------------------------------------------ f32 elementwise
/// ember_binary_f32_ref, 8 lanes per step along each innermost row (an operand whose row is one
/// broadcast value is splatted). max/min give the reference's (x > y ? x : y) and (x < y ? x : y),
/// and the clamp keeps NaN as the reference's does, so the results are the reference's bits.
#define BINARY_F32_ROWS(EXPR)                                                                       \
  EMBER_FOR_EACH_BROADCAST_ROW(bc, {                                                               \
    if (inner == 0) break;                                                                        \
    const __m256 a_splat = _mm256_set1_ps(a[ai]), b_splat = _mm256_set1_ps(b[bi]);                                    \
    for (int64_t i = 0; i < inner; i += 8) {                                                     \
      const __m256i m = tail_mask(inner - i < 8 ? (int32_t)(inner - i) : 8);                                                          \
      const __m256 x = a_step ? _mm256_maskload_ps(a + ai + i, m) : a_splat;                                     \
      const __m256 y = b_step ? _mm256_maskload_ps(b + bi + i, m) : b_splat;                                     \
      const __m256 r = EXPR;                                                                         \
      store_ps(out + oi + i, _mm256_min_ps(hi_v, _mm256_max_ps(lo_v, r)), inner - i < 8 ? (int32_t)(inner - i) : 8);  \
    }                                                                                            \
  })

TARGET static void ember_binary_f32_avx2(ember_binary_op op, const ember_broadcast *bc, const float *a, const float *b,
                                   float act_min, float act_max, float *out) {
  const __m256 lo_v = _mm256_set1_ps(act_min), hi_v = _mm256_set1_ps(act_max);
  switch (op) {
  case EMBER_BINARY_ADD: BINARY_F32_ROWS(_mm256_add_ps(x, y)); break;
  case EMBER_BINARY_SUB: BINARY_F32_ROWS(_mm256_sub_ps(x, y)); break;
  case EMBER_BINARY_MUL: BINARY_F32_ROWS(_mm256_mul_ps(x, y)); break;
  case EMBER_BINARY_DIV: BINARY_F32_ROWS(_mm256_div_ps(x, y)); break;
  case EMBER_BINARY_MAX: BINARY_F32_ROWS(_mm256_max_ps(x, y)); break;
  case EMBER_BINARY_MIN: BINARY_F32_ROWS(_mm256_min_ps(x, y)); break;
  case EMBER_BINARY_PRELU:
    BINARY_F32_ROWS(_mm256_blendv_ps(_mm256_mul_ps(x, y), x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ)));
    break;
  case EMBER_BINARY_SQUARED_DIFFERENCE:
    BINARY_F32_ROWS(_mm256_mul_ps(_mm256_sub_ps(x, y), _mm256_sub_ps(x, y)));
    break;
  default: ember_binary_f32_ref(op, bc, a, b, act_min, act_max, out); break;  // the reference-only functions
  }
}

// ------------------------------------------------------------ int32 sums to int8
/// ember_kernel_table.requantize_s32: each pixel's channels 8 at a time, double rounding.
TARGET static void ember_requantize_s32_avx2(int64_t pixels, int32_t channels, const int32_t *acc, const int32_t *bias,
                                             const ember_requant *rq, int8_t *out) {
  for (int64_t p = 0; p < pixels; ++p)
    for (int32_t c = 0; c < channels; c += 8) {
      const int32_t count = channels - c < 8 ? channels - c : 8;
      const __m256i m = tail_mask(count);
      __m256i v = _mm256_maskload_epi32(acc + p * channels + c, m);
      if (bias) v = _mm256_add_epi32(v, _mm256_maskload_epi32(bias + c, m));
      const requant8 q = requant8_make(_mm256_maskload_epi32(rq->multiplier + c, m),
                                       _mm256_maskload_epi32(rq->shift + c, m));
      store_s8(mbqm_double_with(v, &q), rq->output_offset, rq->act_min, rq->act_max, count, out + p * channels + c);
    }
}

// ------------------------------------------------------------ int8 bilinear resize
/// ember_resize_bilinear_s8_ref's bytes, channels 8 at a time: per output pixel the four weights
/// wy·wx in scalar, then Σ x·w in int32 (exact, see ember_interpolation_values_integer) and the
/// reference's rounding, (|v| + 2^19) >> 20 with v's sign (its division truncates toward zero).
TARGET static void ember_resize_bilinear_s8_avx2(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                                 int32_t out_h, int32_t out_w, int32_t align_corners,
                                                 int32_t half_pixel_centers, const int8_t *in, int8_t *out) {
  const int32_t hs = ember_resize_scale_10(in_h, out_h, align_corners);
  const int32_t ws = ember_resize_scale_10(in_w, out_w, align_corners);
  const __m256i half = _mm256_set1_epi32(1 << 19);
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t y = 0; y < out_h; ++y) {
      const ember_bilinear_axis ay = ember_bilinear_axis_at(y, hs, half_pixel_centers, in_h);
      const int32_t wy0 = ay.w_lower, wy1 = ay.w_upper;
      const int8_t *row0 = in + ((int64_t)n * in_h + ay.lower) * in_w * channels;
      const int8_t *row1 = in + ((int64_t)n * in_h + ay.upper) * in_w * channels;
      for (int32_t x = 0; x < out_w; ++x) {
        const ember_bilinear_axis ax = ember_bilinear_axis_at(x, ws, half_pixel_centers, in_w);
        const int32_t wx0 = ax.w_lower, wx1 = ax.w_upper, x0 = ax.lower, x1 = ax.upper;
        const __m256i w00 = _mm256_set1_epi32(wy0 * wx0), w10 = _mm256_set1_epi32(wy1 * wx0);
        const __m256i w01 = _mm256_set1_epi32(wy0 * wx1), w11 = _mm256_set1_epi32(wy1 * wx1);
        const int8_t *p00 = row0 + (int64_t)x0 * channels, *p01 = row0 + (int64_t)x1 * channels;
        const int8_t *p10 = row1 + (int64_t)x0 * channels, *p11 = row1 + (int64_t)x1 * channels;
        int8_t *o = out + (((int64_t)n * out_h + y) * out_w + x) * channels;
        for (int32_t c = 0; c < channels; c += 8) {
          const int32_t count = channels - c < 8 ? channels - c : 8;
          __m256i v = _mm256_mullo_epi32(load8_s8(p00 + c, count), w00);
          v = _mm256_add_epi32(v, _mm256_mullo_epi32(load8_s8(p10 + c, count), w10));
          v = _mm256_add_epi32(v, _mm256_mullo_epi32(load8_s8(p01 + c, count), w01));
          v = _mm256_add_epi32(v, _mm256_mullo_epi32(load8_s8(p11 + c, count), w11));
          const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_abs_epi32(v), half), 20);
          store_s8(_mm256_sign_epi32(r, v), 0, -128, 127, count, o + c);
        }
      }
    }
}

// ------------------------------------------------------------ table lookup
/// ember_lookup_s8 with vpshufb: sixteen 16-entry shuffles, each over the codes moved down 16 more, whose
/// XOR telescopes to the entry (XNNPACK's x8-lut scheme). vpshufb gives 0 where the index's top bit is set,
/// so a shuffle only contributes while the moved code lies in [0, 127]: wrapping steps for the first half
/// of the table, saturating ones after (codes that went negative stay out). The tables are prepared XORs
/// of neighbouring 16-byte rows.
TARGET static void ember_lookup_s8_avx2(int64_t count, const int8_t *in, const int8_t *table, int8_t *out) {
  __m256i rows[16], tables[16];
  for (int32_t j = 0; j < 16; ++j)
    rows[j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(table + 16 * j)));
  tables[0] = rows[0];
  for (int32_t j = 1; j < 16; ++j) {
    tables[j] = _mm256_xor_si256(rows[j - 1], rows[j]);
    if (j >= 8) tables[j] = _mm256_xor_si256(tables[j], tables[j - 8]);
  }
  const __m256i step = _mm256_set1_epi8(16), flip = _mm256_set1_epi8((char)0x80);
  for (int64_t i = 0; i < count; i += 32) {
    const int64_t n = count - i < 32 ? count - i : 32;
    int8_t buffer[32] = {0};
    if (n < 32) memcpy(buffer, in + i, (size_t)n);
    __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(n < 32 ? buffer : in + i)), flip);
    __m256i y = _mm256_shuffle_epi8(tables[0], x);
    for (int32_t j = 1; j < 9; ++j) {
      x = _mm256_sub_epi8(x, step);
      y = _mm256_xor_si256(y, _mm256_shuffle_epi8(tables[j], x));
    }
    for (int32_t j = 9; j < 16; ++j) {
      x = _mm256_subs_epi8(x, step);
      y = _mm256_xor_si256(y, _mm256_shuffle_epi8(tables[j], x));
    }
    if (n == 32) _mm256_storeu_si256((__m256i *)(out + i), y);
    else { _mm256_storeu_si256((__m256i *)buffer, y); memcpy(out + i, buffer, (size_t)n); }
  }
}

// ------------------------------------------------------------ mean over the middle axes
/// The int8 mean of ember_kernel_table.mean_s8, 32 channels (four vectors) per pass over the rows. The
/// sum of x − zp is Σx − reduced·zp in wrapping int32 arithmetic, as the reference's int32 sum wraps.
TARGET static void ember_mean_s8_avx2(int64_t outer, int64_t reduced, int64_t inner, const int8_t *in,
                                      int32_t input_zero_point, int32_t multiplier, int32_t shift,
                                      float float_scale,
                                      int32_t output_zero_point, int8_t *out) {
  const requant8 q = float_scale > 0 ? requant8_float(_mm256_set1_ps(float_scale))
                                      : requant8_make(_mm256_set1_epi32(multiplier), _mm256_set1_epi32(shift));
  const __m256i fold = _mm256_set1_epi32(ember_wrapped_offset_sum(reduced, input_zero_point));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c0 = 0; c0 < inner; c0 += 32) {
      const int32_t rest = inner - c0 < 32 ? (int32_t)(inner - c0) : 32;
      __m256i acc[4] = {fold, fold, fold, fold};
      for (int64_t r = 0; r < reduced; ++r) {
        const int8_t *x = in + (o * reduced + r) * inner + c0;
        for (int32_t v = 0; v * 8 < rest; ++v)
          acc[v] = _mm256_add_epi32(acc[v], load8_s8(x + 8 * v, rest - 8 * v < 8 ? rest - 8 * v : 8));
      }
      for (int32_t v = 0; v * 8 < rest; ++v)
        store_s8(requantize8(acc[v], &q), output_zero_point, -128, 127, rest - 8 * v < 8 ? rest - 8 * v : 8,
                 out + o * inner + c0 + 8 * v);
    }
}

/// The f32 mean of ember_kernel_table.mean_f32: per lane the rows in order from 0.0, then one division.
TARGET static void ember_mean_f32_avx2(int64_t outer, int64_t reduced, int64_t inner, const float *in, float *out) {
  const __m256 count = _mm256_set1_ps((float)reduced);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c0 = 0; c0 < inner; c0 += 8) {
      const int32_t n = inner - c0 < 8 ? (int32_t)(inner - c0) : 8;
      const __m256i mask = tail_mask(n);
      __m256 acc = _mm256_setzero_ps();
      for (int64_t r = 0; r < reduced; ++r)
        acc = _mm256_add_ps(acc, _mm256_maskload_ps(in + (o * reduced + r) * inner + c0, mask));
      store_ps(out + o * inner + c0, reduced > 0 ? _mm256_div_ps(acc, count) : acc, n);
    }
}

// ------------------------------------------------------------ int8 softmax
/// gemmlowp fixed point, 8 lanes, with the reference's (scalar) bits (as the AVX-512 file's). Saturating
/// RoundingDoublingHighMul of lanes a·b: floor((a·b + 2^30) / 2^31) from the even and odd 64-bit products
/// (srdhm_from_product), INT32_MIN·INT32_MIN saturated.
TARGET static inline __m256i srdhm_lanes(__m256i a, __m256i b) {
  const __m256i min = _mm256_set1_epi32(INT32_MIN);
  const __m256i even = srdhm_from_product(_mm256_mul_epi32(a, b));
  const __m256i odd = srdhm_from_product(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)));
  const __m256i r = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  const __m256i saturated = _mm256_and_si256(_mm256_cmpeq_epi32(a, min), _mm256_cmpeq_epi32(b, min));
  return _mm256_blendv_epi8(r, _mm256_set1_epi32(INT32_MAX), saturated);
}

/// ember_rounding_divide_by_pot with a per-lane exponent in [0, 31].
TARGET static inline __m256i rdbp_lanes(__m256i x, __m256i exponent) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, exponent), one);
  const __m256i remainder = _mm256_and_si256(x, mask);
  const __m256i threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_srai_epi32(x, 31));  // +1 for x < 0
  const __m256i shifted = _mm256_srav_epi32(x, exponent);
  return _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(remainder, threshold));  // −(−1) where remainder > threshold
}

/// gemmlowp SaturatingRoundingMultiplyByPOT<e> for e = 1 or 2: a saturating left shift.
TARGET static inline __m256i saturating_shift_left_lanes(__m256i x, int e) {
  const __m256i threshold = _mm256_set1_epi32((int32_t)((1u << (31 - e)) - 1));
  __m256i r = _mm256_sll_epi32(x, _mm_cvtsi32_si128(e));
  r = _mm256_blendv_epi8(r, _mm256_set1_epi32(INT32_MAX), _mm256_cmpgt_epi32(x, threshold));
  return _mm256_blendv_epi8(r, _mm256_set1_epi32(INT32_MIN),
                            _mm256_cmpgt_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), threshold), x));
}

/// gemmlowp one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson), Q0.31 lanes. RoundingHalfSum(a, INT32_MAX)
/// is (a + 2^31) / 2 as an unsigned shift, −1 for a = INT32_MIN.
TARGET static inline __m256i one_over_one_plus_x_lanes(__m256i a) {
  const __m256i min = _mm256_set1_epi32(INT32_MIN);
  __m256i half = _mm256_srli_epi32(_mm256_xor_si256(a, min), 1);
  half = _mm256_blendv_epi8(half, _mm256_set1_epi32(-1), _mm256_cmpeq_epi32(a, min));
  __m256i x = _mm256_add_epi32(_mm256_set1_epi32(1515870810), srdhm_lanes(half, _mm256_set1_epi32(-1010580540)));
  for (int i = 0; i < 3; ++i) {
    const __m256i one_minus = _mm256_sub_epi32(_mm256_set1_epi32(1 << 29), srdhm_lanes(half, x));
    x = _mm256_add_epi32(x, saturating_shift_left_lanes(srdhm_lanes(x, one_minus), 2));
  }
  return saturating_shift_left_lanes(x, 1);
}

/// 31 − floor(log2 v) for v > 0 (clz), exact through doubles: the exponent field of (double)v.
TARGET static inline __m256i clz_positive_lanes(__m256i v) {
  const __m256d lo = _mm256_cvtepi32_pd(_mm256_castsi256_si128(v)), hi = _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1));
  const __m256i elo = _mm256_srli_epi64(_mm256_castpd_si256(lo), 52), ehi = _mm256_srli_epi64(_mm256_castpd_si256(hi), 52);
  // The low dwords of the four 64-bit lanes of each half, in order.
  const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m256i packed = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(elo, order),
                                                   _mm256_permutevar8x32_epi32(ehi, order), 0x20);
  return _mm256_sub_epi32(_mm256_set1_epi32(31 + 1023), packed);
}

/// ember_softmax_s8_ref 8 rows at a time, one row a lane, as the AVX-512 kernel (softmax_s8 there).
TARGET static void ember_softmax_s8_avx2(int64_t rows, int32_t depth, const int32_t *exp_table, const int8_t *in,
                                         int8_t *out) {
  int64_t r = 0;
  if (depth <= SOFTMAX_MAX_LANE_DEPTH) {
    int8_t codes[SOFTMAX_MAX_LANE_DEPTH][8], results[SOFTMAX_MAX_LANE_DEPTH][8];
    int32_t exps[SOFTMAX_MAX_LANE_DEPTH][8];
    const __m256i zero = _mm256_setzero_si256(), twelve = _mm256_set1_epi32(12);
    for (; r + 8 <= rows; r += 8) {
      const int8_t *x = in + r * depth;
      for (int32_t i = 0; i < 8; ++i)
        for (int32_t c = 0; c < depth; ++c) codes[c][i] = x[(int64_t)i * depth + c];
      __m256i max = _mm256_set1_epi32(-128);
      for (int32_t c = 0; c < depth; ++c)
        max = _mm256_max_epi32(max, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)codes[c])));
      __m256i sum = zero;
      for (int32_t c = 0; c < depth; ++c) {
        const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)codes[c]));
        const __m256i e = _mm256_i32gather_epi32(exp_table, _mm256_sub_epi32(max, v), 4);
        _mm256_storeu_si256((__m256i *)exps[c], e);
        sum = _mm256_add_epi32(sum, rdbp_lanes(e, twelve));
      }
      const __m256i positive = _mm256_cmpgt_epi32(sum, zero);
      const __m256i headroom = _mm256_blendv_epi8(_mm256_set1_epi32(31), clz_positive_lanes(sum), positive);
      const __m256i shifted = _mm256_xor_si256(_mm256_sllv_epi32(sum, headroom), _mm256_set1_epi32(INT32_MIN));
      const __m256i scale = one_over_one_plus_x_lanes(shifted);
      const __m256i exponent = _mm256_sub_epi32(_mm256_set1_epi32(12 + 31 - 8), headroom);
      const __m256i in_range = _mm256_andnot_si256(_mm256_cmpgt_epi32(zero, exponent),
                                                   _mm256_cmpgt_epi32(_mm256_set1_epi32(32), exponent));
      const __m256i safe = _mm256_min_epi32(_mm256_max_epi32(exponent, zero), _mm256_set1_epi32(31));
      for (int32_t c = 0; c < depth; ++c) {
        const __m256i e = _mm256_loadu_si256((const __m256i *)exps[c]);
        __m256i y = _mm256_and_si256(in_range, rdbp_lanes(srdhm_lanes(scale, e), safe));
        y = _mm256_min_epi32(_mm256_max_epi32(_mm256_sub_epi32(y, _mm256_set1_epi32(128)), _mm256_set1_epi32(-128)),
                             _mm256_set1_epi32(127));
        y = _mm256_blendv_epi8(y, _mm256_set1_epi32(-128), _mm256_cmpeq_epi32(e, zero));
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
        _mm_storel_epi64((__m128i *)results[c], _mm_packs_epi16(w, w));
      }
      int8_t *y = out + r * depth;
      for (int32_t i = 0; i < 8; ++i)
        for (int32_t c = 0; c < depth; ++c) y[(int64_t)i * depth + c] = results[c][i];
    }
  }
  if (r < rows) ember_softmax_s8_ref(rows - r, depth, exp_table, in + r * depth, out + r * depth);
}

// ------------------------------------------------------------ max pooling
/// ember_max_pool_s8_ref / ember_max_pool_f32_ref (their bits), 32 channels a vector: the window's
/// running maximum from −128 (−inf), then the activation clamp. The f32 maximum keeps its running value
/// when a tap is NaN, as the reference's `v > acc` does.
TARGET static void ember_max_pool_s8_avx2(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                                          int32_t act_max, int8_t *out) {
  const __m256i lo = _mm256_set1_epi8((char)act_min), hi = _mm256_set1_epi8((char)act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    for (int32_t c0 = 0; c0 < g->channels; c0 += 32) {
      const int32_t count = g->channels - c0 < 32 ? g->channels - c0 : 32;
      __m256i acc = _mm256_set1_epi8(-128);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x) {
          const int8_t *p = in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0;
          int8_t tail[32] = {0};
          if (count < 32) memcpy(tail, p, (size_t)count);
          acc = _mm256_max_epi8(acc, _mm256_loadu_si256((const __m256i *)(count < 32 ? tail : p)));
        }
      acc = _mm256_min_epi8(_mm256_max_epi8(acc, lo), hi);
      if (count == 32) { _mm256_storeu_si256((__m256i *)(out + obase + c0), acc); continue; }
      int8_t tail[32];
      _mm256_storeu_si256((__m256i *)tail, acc);
      memcpy(out + obase + c0, tail, (size_t)count);
    }
  })
}

TARGET static void ember_max_pool_f32_avx2(const ember_pool_geometry *g, const float *in, float act_min, float act_max,
                                           float *out) {
  const __m256 lo = _mm256_set1_ps(act_min), hi = _mm256_set1_ps(act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    for (int32_t c0 = 0; c0 < g->channels; c0 += 8) {
      const int32_t count = g->channels - c0 < 8 ? g->channels - c0 : 8;
      const __m256i m = tail_mask(count);
      __m256 acc = _mm256_set1_ps(-INFINITY);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x) {
          const float *p = in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0;
          acc = _mm256_max_ps(count == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m), acc);
        }
      store_ps(out + obase + c0, _mm256_min_ps(hi, _mm256_max_ps(lo, acc)), count);
    }
  })
}

/// As ember_avg_pool_s8_avx512: the rounding division exact in double.
TARGET static void ember_avg_pool_s8_avx2(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                                          int32_t act_max, int8_t *out) {
  const __m256i zero = _mm256_setzero_si256();
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0), k = count > 0 ? count : 1;
    const __m256i half = _mm256_set1_epi32(k / 2);
    const __m256d kd = _mm256_set1_pd((double)k);
    for (int32_t c0 = 0; c0 < g->channels; c0 += 8) {
      const int32_t lanes = g->channels - c0 < 8 ? g->channels - c0 : 8;
      __m256i acc = zero;
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x)
          acc = _mm256_add_epi32(acc, load8_s8(in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0, lanes));
      const __m256i positive = _mm256_cmpgt_epi32(acc, zero);
      const __m256i num = _mm256_blendv_epi8(_mm256_sub_epi32(acc, half), _mm256_add_epi32(acc, half), positive);
      const __m128i q0 = _mm256_cvttpd_epi32(_mm256_div_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(num)), kd));
      const __m128i q1 = _mm256_cvttpd_epi32(_mm256_div_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(num, 1)), kd));
      store_s8(_mm256_set_m128i(q1, q0), 0, act_min, act_max, lanes, out + obase + c0);
    }
  })
}

TARGET static void ember_avg_pool_f32_avx2(const ember_pool_geometry *g, const float *in, float act_min, float act_max,
                                           float *out) {
  const __m256 lo = _mm256_set1_ps(act_min), hi = _mm256_set1_ps(act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0);
    const __m256 k = _mm256_set1_ps((float)count);
    for (int32_t c0 = 0; c0 < g->channels; c0 += 8) {
      const int32_t lanes = g->channels - c0 < 8 ? g->channels - c0 : 8;
      __m256 acc = _mm256_setzero_ps();
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x) {
          const float *p = in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0;
          acc = _mm256_add_ps(acc, lanes == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail_mask(lanes)));
        }
      const __m256 mean = count > 0 ? _mm256_div_ps(acc, k) : _mm256_setzero_ps();
      store_ps(out + obase + c0, _mm256_min_ps(hi, _mm256_max_ps(lo, mean)), lanes);
    }
  })
}

// ------------------------------------------------------------ f32 bilinear resize
/// `count` (≤ 8) floats at p, the rest 0.
TARGET static inline __m256 load_tail_ps(const float *p, int32_t count) {
  return count >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail_mask(count));
}

/// ember_resize_bilinear_f32_ref's bits: its axis values (ember_resize_bilinear_f32_axis) and per channel
/// p00·(1 − dy)·(1 − dx) + p10·dy·(1 − dx) + p01·(1 − dy)·dx + p11·dy·dx, each product and sum rounded
/// in its order, 8 channels at a time.
TARGET static void ember_resize_bilinear_f32_avx2(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                                int32_t out_h, int32_t out_w, int32_t align_corners,
                                                int32_t half_pixel_centers, const float *in, float *out) {
  EMBER_BILINEAR_F32_PIXELS(batch, in_h, in_w, channels, out_h, out_w, align_corners, half_pixel_centers, in, out, {
    const __m256 vy = _mm256_set1_ps(dy), uy = _mm256_set1_ps(1 - dy), vx = _mm256_set1_ps(dx), ux = _mm256_set1_ps(1 - dx);
    for (int32_t c = 0; c < channels; c += 8) {
      const int32_t n8 = channels - c < 8 ? channels - c : 8;
      __m256 r = _mm256_mul_ps(_mm256_mul_ps(load_tail_ps(p00 + c, n8), uy), ux);
      r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(load_tail_ps(p10 + c, n8), vy), ux));
      r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(load_tail_ps(p01 + c, n8), uy), vx));
      r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_mul_ps(load_tail_ps(p11 + c, n8), vy), vx));
      store_ps(o + c, r, n8);
    }
  });
}

// ------------------------------------------------------------ f32 matmul
/// ember_kernel_table.matmul_f32: ember_matmul_f32_ref's bits — per output, x·b products added from
/// 0 in k order, each product and sum rounded apart (no FMA) — with 4 rows × 16 columns of outputs held in
/// registers across k (the reference adds into memory at every step).
#define DEFINE_MATMUL_F32_TILE(R)                                                                    \
  TARGET static void matmul_f32_tile_##R(int32_t k, int32_t n, const float *a, const float *b, int32_t j, \
                                         float *out) {                                                  \
    const int32_t n0 = n - j < 8 ? n - j : 8, n1 = n - j > 8 ? (n - j - 8 < 8 ? n - j - 8 : 8) : 0;     \
    const __m256i m0 = tail_mask(n0), m1 = tail_mask(n1);                                              \
    __m256 acc[R][2];                                                                                   \
    for (int32_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                        \
    for (int32_t p = 0; p < k; ++p) {                                                                   \
      const float *row = b + (int64_t)p * n + j;                                                        \
      const __m256 b0 = n0 == 8 ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, m0);                   \
      const __m256 b1 = n1 == 8 ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, m1);           \
      for (int32_t r = 0; r < R; ++r) {                                                                 \
        const __m256 x = _mm256_set1_ps(a[(int64_t)r * k + p]);                                         \
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_mul_ps(x, b0));                                     \
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_mul_ps(x, b1));                                     \
      }                                                                                                 \
    }                                                                                                   \
    _Pragma("GCC unroll 4") for (int32_t r = 0; r < R; ++r) {                                           \
      store_ps(out + (int64_t)r * n + j, acc[r][0], n0);                                                \
      if (n1 > 0) store_ps(out + (int64_t)r * n + j + 8, acc[r][1], n1);                                \
    }                                                                                                   \
  }
DEFINE_MATMUL_F32_TILE(4) DEFINE_MATMUL_F32_TILE(1)

TARGET static void ember_matmul_f32_avx2(int32_t m, int32_t k, int32_t n, const float *a, const float *b, float *out) {
  int32_t i = 0;
  for (; i + 4 <= m; i += 4)
    for (int32_t j = 0; j < n; j += 16) matmul_f32_tile_4(k, n, a + (int64_t)i * k, b, j, out + (int64_t)i * n);
  for (; i < m; ++i)
    for (int32_t j = 0; j < n; j += 16) matmul_f32_tile_1(k, n, a + (int64_t)i * k, b, j, out + (int64_t)i * n);
}

// ------------------------------------------------------------ f32 unary
/// ember_kernel_table.unary_f32: the piecewise-linear activations, hard-swish, abs, neg, square, sqrt,
/// rsqrt, reciprocal, floor, ceil and round with the reference's operations in its order (max/min
/// operands placed so that NaN and −0 come out as the reference's comparisons give them): its bits;
/// e^x (Cephes' expf polynomial after a two-part ln 2 reduction, the 1 added last), ln x and erf x within
/// 2 ulp of the reference's libm, sigmoid as 1 / (1 + e^−x) and tanh (below) within 4.
TARGET static inline __m256 exp_ps_avx2(__m256 z) {
  // NaN stays NaN (max/min return their second operand when one is NaN). 2^n is applied in two
  // halves, each a normal number, so e^z overflows to inf and underflows gradually as it should.
  z = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), z));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), z);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));  // one rounding of the 1
  const __m256i k = _mm256_cvtps_epi32(n);  // NaN lanes give INT_MIN: p is NaN there anyway
  const __m256i half = _mm256_srai_epi32(k, 1), rest = _mm256_sub_epi32(k, half);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  const __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, a), b);
}

/// tanh as Cephes' tanhf: x + x³·P(x²) for |x| < 0.625, else ±(1 − 2 / (e^2|x| + 1)) with the sign of
/// x (NaN stays NaN, ±inf gives ±1, −0 stays −0); within 4 ulp of the reference's libm.
TARGET static inline __m256 tanh_ps_avx2(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x), z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 e = exp_ps_avx2(_mm256_add_ps(ax, ax));
  const __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  const __m256 r = _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  return _mm256_or_ps(_mm256_andnot_ps(sign, r), _mm256_and_ps(x, sign));  // x's sign (−0 too)
}

/// ln x as Cephes' logf (see log_ps_avx512): x = m·2^e, m in [√½, √2), from the float's bits (a denormal
/// scaled by 2^23 first); within 2 ulp of the reference's libm. 0 gives −inf, a negative x or NaN NaN,
/// +inf +inf.
TARGET static inline __m256 log_ps_avx2(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
  const __m256i bits = _mm256_castps_si256(_mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), tiny));
  const __m256i biased = _mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xFF));
  __m256 e = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(biased, _mm256_set1_epi32(126))),
                           _mm256_and_ps(tiny, _mm256_set1_ps(23.0f)));   // x = m·2^e, m in [0.5, 1)
  const __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                                       _mm256_set1_epi32(0x3F000000)));
  const __m256 low = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(low, one));
  const __m256 f = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(low, m)), one);  // m < √½: 2m − 1, else m − 1
  const __m256 z = _mm256_mul_ps(f, f);
  __m256 p = _mm256_set1_ps(ember_logf_p[0]);
  for (int i = 1; i < 9; ++i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(ember_logf_p[i]));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(f, z), p);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
  __m256 r = _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(f, y));
  r = _mm256_blendv_ps(r, _mm256_set1_ps(-INFINITY), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
  r = _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
  return _mm256_blendv_ps(r, _mm256_set1_ps(NAN), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NGE_UQ));  // x < 0 or NaN
}

/// erf x as erf_ps_avx512 (Cephes' erff); within 2 ulp of the reference's libm.
TARGET static inline __m256 erf_ps_avx2(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 a = _mm256_andnot_ps(sign, x), z = _mm256_mul_ps(x, x);
  __m256 ps = _mm256_set1_ps(ember_erff_t[0]);
  for (int i = 1; i < 7; ++i) ps = _mm256_fmadd_ps(ps, z, _mm256_set1_ps(ember_erff_t[i]));
  const __m256 small = _mm256_mul_ps(x, ps);
  const __m256 q = _mm256_div_ps(one, a), y = _mm256_mul_ps(q, q);
  __m256 pp = _mm256_set1_ps(ember_erfcf_p[0]), pr = _mm256_set1_ps(ember_erfcf_r[0]);
  for (int i = 1; i < 9; ++i) pp = _mm256_fmadd_ps(pp, y, _mm256_set1_ps(ember_erfcf_p[i]));
  for (int i = 1; i < 8; ++i) pr = _mm256_fmadd_ps(pr, y, _mm256_set1_ps(ember_erfcf_r[i]));
  const __m256 p = _mm256_blendv_ps(pr, pp, _mm256_cmp_ps(a, _mm256_set1_ps(2.0f), _CMP_LT_OQ));
  const __m256 erfc = _mm256_mul_ps(_mm256_mul_ps(exp_ps_avx2(_mm256_xor_ps(z, sign)), q), p);
  const __m256 large = _mm256_or_ps(_mm256_sub_ps(one, erfc), _mm256_and_ps(x, sign));
  return _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, one, _CMP_LT_OQ));
}

TARGET static int32_t ember_unary_f32_avx2(ember_unary_op op, float alpha, int64_t count, const float *in, float *out) {
  switch (op) {
    case EMBER_UNARY_RELU: case EMBER_UNARY_RELU6: case EMBER_UNARY_RELU_N1_TO_1: case EMBER_UNARY_LEAKY_RELU:
    case EMBER_UNARY_HARD_SWISH: case EMBER_UNARY_ABS: case EMBER_UNARY_NEG: case EMBER_UNARY_SQUARE:
    case EMBER_UNARY_SIGMOID: case EMBER_UNARY_TANH: case EMBER_UNARY_SILU: case EMBER_UNARY_SQRT:
    case EMBER_UNARY_RSQRT: case EMBER_UNARY_RECIPROCAL: case EMBER_UNARY_FLOOR: case EMBER_UNARY_CEIL:
    case EMBER_UNARY_ROUND: case EMBER_UNARY_EXP: case EMBER_UNARY_LOG: case EMBER_UNARY_ERF:
    case EMBER_UNARY_GELU: break;
    default: return 0;
  }
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), three = _mm256_set1_ps(3.0f);
  const __m256 six = _mm256_set1_ps(6.0f), slope = _mm256_set1_ps(alpha), sign = _mm256_set1_ps(-0.0f);
  // The logistic ops (EfficientNet's SiLUs) in a loop of their own, two vectors a step, so that their long
  // dependent chains overlap (as the AVX-512 path).
  if (op == EMBER_UNARY_SIGMOID || op == EMBER_UNARY_SILU) {
    const int silu = op == EMBER_UNARY_SILU;
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
      const __m256 a = _mm256_loadu_ps(in + i), b = _mm256_loadu_ps(in + i + 8);
      const __m256 sa = _mm256_div_ps(one, _mm256_add_ps(one, exp_ps_avx2(_mm256_xor_ps(a, sign))));
      const __m256 sb = _mm256_div_ps(one, _mm256_add_ps(one, exp_ps_avx2(_mm256_xor_ps(b, sign))));
      _mm256_storeu_ps(out + i, silu ? _mm256_mul_ps(a, sa) : sa);
      _mm256_storeu_ps(out + i + 8, silu ? _mm256_mul_ps(b, sb) : sb);
    }
    for (; i < count; i += 8) {
      const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
      const __m256 x = n == 8 ? _mm256_loadu_ps(in + i) : _mm256_maskload_ps(in + i, tail_mask(n));
      const __m256 sx = _mm256_div_ps(one, _mm256_add_ps(one, exp_ps_avx2(_mm256_xor_ps(x, sign))));
      store_ps(out + i, silu ? _mm256_mul_ps(x, sx) : sx, n);
    }
    return 1;
  }
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const __m256 x = n == 8 ? _mm256_loadu_ps(in + i) : _mm256_maskload_ps(in + i, tail_mask(n));
    __m256 r;
    switch (op) {
      case EMBER_UNARY_RELU: r = _mm256_max_ps(x, zero); break;
      case EMBER_UNARY_RELU6: r = _mm256_min_ps(six, _mm256_max_ps(zero, x)); break;
      case EMBER_UNARY_RELU_N1_TO_1: r = _mm256_min_ps(one, _mm256_max_ps(_mm256_set1_ps(-1.0f), x)); break;
      case EMBER_UNARY_LEAKY_RELU:
        r = _mm256_blendv_ps(_mm256_mul_ps(slope, x), x, _mm256_cmp_ps(x, zero, _CMP_GE_OQ));
        break;
      case EMBER_UNARY_HARD_SWISH:
        r = _mm256_div_ps(_mm256_mul_ps(x, _mm256_min_ps(six, _mm256_max_ps(zero, _mm256_add_ps(x, three)))), six);
        break;
      case EMBER_UNARY_ABS: r = _mm256_andnot_ps(sign, x); break;
      case EMBER_UNARY_NEG: r = _mm256_xor_ps(x, sign); break;
      case EMBER_UNARY_SQUARE: r = _mm256_mul_ps(x, x); break;
      case EMBER_UNARY_TANH: r = tanh_ps_avx2(x); break;
      case EMBER_UNARY_SQRT: r = _mm256_sqrt_ps(x); break;
      case EMBER_UNARY_RSQRT: r = _mm256_div_ps(one, _mm256_sqrt_ps(x)); break;
      case EMBER_UNARY_RECIPROCAL: r = _mm256_div_ps(one, x); break;
      case EMBER_UNARY_FLOOR: r = _mm256_round_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); break;
      case EMBER_UNARY_CEIL: r = _mm256_round_ps(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); break;
      case EMBER_UNARY_ROUND: r = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); break;
      case EMBER_UNARY_EXP: r = exp_ps_avx2(x); break;
      case EMBER_UNARY_LOG: r = log_ps_avx2(x); break;
      case EMBER_UNARY_ERF: r = erf_ps_avx2(x); break;
      case EMBER_UNARY_GELU:  // the reference's order: (0.5·x)·(1 + erf(x·√½))
        r = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, erf_ps_avx2(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)))));
        break;
      default: r = x; break;  // the logistic ops are above
    }
    store_ps(out + i, r, n);
  }
  return 1;
}

// ------------------------------------------------------------ f32 softmax and layer norm
/// Lanes summed pairwise (the same order every call).
TARGET static inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

TARGET static inline double hsum_pd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

TARGET static void ember_softmax_f32_avx2(int64_t rows, int32_t size, float beta, const float *in, float *out) {
  const __m256 b = _mm256_set1_ps(beta);
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * size;
    float *y = out + r * size;
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int32_t i = 0;
    for (; i + 8 <= size; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float max = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    for (; i < size; ++i) max = x[i] > max ? x[i] : max;
    const __m256 mx = _mm256_set1_ps(max);
    __m256 sv = _mm256_setzero_ps();
    for (i = 0; i < size; i += 8) {
      const int32_t n = size - i < 8 ? size - i : 8;
      const __m256 v = n == 8 ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, tail_mask(n));
      const __m256 e = _mm256_and_ps(exp_ps_avx2(_mm256_mul_ps(b, _mm256_sub_ps(v, mx))),
                                     _mm256_castsi256_ps(tail_mask(n)));
      sv = _mm256_add_ps(sv, e);
      store_ps(y + i, e, n);
    }
    const __m256 sum = _mm256_set1_ps(hsum_ps(sv));
    for (i = 0; i < size; i += 8) {
      const int32_t n = size - i < 8 ? size - i : 8;
      const __m256 v = n == 8 ? _mm256_loadu_ps(y + i) : _mm256_maskload_ps(y + i, tail_mask(n));
      store_ps(y + i, _mm256_div_ps(v, sum), n);
    }
  }
}

TARGET static void ember_layer_norm_f32_avx2(int64_t rows, int32_t cols, float epsilon, const float *in,
                                             const float *gamma, const float *beta, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * cols;
    float *y = out + r * cols;
    __m256d s = _mm256_setzero_pd();
    int32_t c = 0;
    for (; c + 4 <= cols; c += 4) s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_loadu_ps(x + c)));
    double sum = hsum_pd(s);
    for (; c < cols; ++c) sum += x[c];
    const double mean = sum / cols;
    const __m256d mv = _mm256_set1_pd(mean);
    __m256d v = _mm256_setzero_pd();
    for (c = 0; c + 4 <= cols; c += 4) {
      const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + c)), mv);
      v = _mm256_add_pd(v, _mm256_mul_pd(d, d));
    }
    double var = hsum_pd(v);
    for (; c < cols; ++c) var += (x[c] - mean) * (x[c] - mean);
    const float inv = 1.0f / sqrtf((float)(var / cols) + epsilon);
    const __m128 iv = _mm_set1_ps(inv);
    for (c = 0; c + 4 <= cols; c += 4) {
      __m128 o = _mm_mul_ps(_mm256_cvtpd_ps(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + c)), mv)), iv);
      if (gamma) o = _mm_mul_ps(o, _mm_loadu_ps(gamma + c));
      if (beta) o = _mm_add_ps(o, _mm_loadu_ps(beta + c));
      _mm_storeu_ps(y + c, o);
    }
    for (; c < cols; ++c) {
      float o = ((float)(x[c] - mean)) * inv;
      if (gamma) o *= gamma[c];
      if (beta) o += beta[c];
      y[c] = o;
    }
  }
}

// ------------------------------------------------------------ f32 → int8 quantize
/// ember_quantize_f32_s8_ref's bytes, as the AVX-512 kernel computes them (division, half away from
/// zero, float clamp, NaN → the zero point), 8 values at a time.
TARGET static void ember_quantize_f32_s8_avx2(int64_t count, const float *in, float scale, int32_t zero_point,
                                              int32_t half_even, int8_t *out) {
  const __m256 s = _mm256_set1_ps(scale), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 lo = _mm256_set1_ps((float)(-128 - zero_point)), hi = _mm256_set1_ps((float)(127 - zero_point));
  const int32_t nan_code = zero_point < -128 ? -128 : (zero_point > 127 ? 127 : zero_point);
  for (int64_t i = 0; i < count; i += 8) {
    const int32_t n = count - i < 8 ? (int32_t)(count - i) : 8;
    const __m256 x = n == 8 ? _mm256_loadu_ps(in + i) : _mm256_maskload_ps(in + i, tail_mask(n));
    const __m256 v = _mm256_div_ps(x, s);
    __m256 r;
    if (half_even) {
      r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
      const __m256 a = _mm256_andnot_ps(sign, v);
      r = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      r = _mm256_add_ps(r, _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(a, r), half, _CMP_GE_OQ), one));
      r = _mm256_or_ps(r, _mm256_and_ps(v, sign));
    }
    const __m256 c = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
    // NaN lanes: the zero point's code; store_s8 adds the zero point to the others and clamps.
    const __m256i code = _mm256_blendv_epi8(_mm256_cvttps_epi32(c), _mm256_set1_epi32(nan_code - zero_point),
                                            _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    store_s8(code, zero_point, -128, 127, n, out + i);
  }
}

// ------------------------------------------------------------ roofline probe
/// Six chains of vpmaddwd + vpaddd (16 MACs, the int8 GEMM's pair; six, so that chains and operands fit
/// the 16 registers) or eight of 256-bit FMAs (8 MACs).
TARGET static int64_t probe_mac_avx2(int32_t is_int8, int64_t iterations) {
  if (is_int8) {
    __m256i acc[6], a[6];
    const __m256i b = _mm256_set1_epi16(2);
    for (int32_t j = 0; j < 6; ++j) acc[j] = _mm256_setzero_si256(), a[j] = _mm256_set1_epi16((int16_t)(j + 1));
    for (int64_t i = 0; i < iterations; ++i)
      for (int32_t j = 0; j < 6; ++j) {
        __asm__ volatile("" : "+x"(a[j]));  // so that the product is not hoisted out of the loop
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(a[j], b));
        __asm__ volatile("" : "+x"(acc[j]));
      }
    __m256i sum = acc[0];
    for (int32_t j = 1; j < 6; ++j) sum = _mm256_add_epi32(sum, acc[j]);
    __asm__ volatile("" : : "x"(sum));
    return iterations * 6 * 16;
  }
  __m256 acc[8];
  const __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(0.5f);
  for (int32_t j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < iterations; ++i)
    for (int32_t j = 0; j < 8; ++j) {
      acc[j] = _mm256_fmadd_ps(a, b, acc[j]);
      __asm__ volatile("" : "+x"(acc[j]));
    }
  __m256 sum = acc[0];
  for (int32_t j = 1; j < 8; ++j) sum = _mm256_add_ps(sum, acc[j]);
  __asm__ volatile("" : : "x"(sum));
  return iterations * 8 * 8;
}

/// Four streams, one per quarter of the buffer (one sequential stream reads ~25 % slower here: the
/// kernels' weight panels are several streams), 32-byte loads, then the tail words. The AVX-512 path's
/// probe too (not static for that).
TARGET uint64_t ember_probe_read_avx2(const void *buffer, int64_t bytes) {
  const uint8_t *p = (const uint8_t *)buffer;
  const int64_t quarter = bytes / 4 / 64 * 64;
  __m256i sum[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int64_t i = 0; i < quarter; i += 64)
    for (int32_t j = 0; j < 4; ++j) {
      const uint8_t *at = p + j * quarter + i;
      sum[j] = _mm256_add_epi64(sum[j], _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(const void *)at),
                                                         _mm256_loadu_si256((const __m256i *)(const void *)(at + 32))));
    }
  uint64_t lanes[4];
  _mm256_storeu_si256((__m256i *)(void *)lanes,
                      _mm256_add_epi64(_mm256_add_epi64(sum[0], sum[1]), _mm256_add_epi64(sum[2], sum[3])));
  uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (int64_t i = 4 * quarter; i + 8 <= bytes; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    total += w;
  }
  return total;
}

// ------------------------------------------------------------------ CRC-32 by carry-less multiplies
// Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" for the reflected IEEE polynomial
// (the constants of Linux's crc32-pclmul): four 128-bit lanes fold 64 bytes a step by x^(512±64) mod P,
// one lane 16 bytes by x^(128±64), then 128 → 64 → 32 bits and a Barrett reduction. Every CPU with AVX2
// has PCLMULQDQ; it is checked on its own (EMBER_CPU_PCLMUL).
#define CLMUL __attribute__((target("pclmul,sse4.1")))

CLMUL static inline __m128i crc_fold(__m128i x, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

CLMUL uint32_t ember_crc32_pclmul(uint32_t crc, const uint8_t *p, int64_t n) {
  const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);  // x^(512+32) and x^(512-32) mod P, reflected
  const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);  // x^(128+32), x^(128-32)
  const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);                // x^64
  const __m128i barrett = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);  // μ = x^64 / P, and P, reflected
  const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
  __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int32_t)crc));
  __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16)), x2 = _mm_loadu_si128((const __m128i *)(p + 32));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x0 = _mm_xor_si128(crc_fold(x0, k1k2), _mm_loadu_si128((const __m128i *)p));
    x1 = _mm_xor_si128(crc_fold(x1, k1k2), _mm_loadu_si128((const __m128i *)(p + 16)));
    x2 = _mm_xor_si128(crc_fold(x2, k1k2), _mm_loadu_si128((const __m128i *)(p + 32)));
    x3 = _mm_xor_si128(crc_fold(x3, k1k2), _mm_loadu_si128((const __m128i *)(p + 48)));
  }
  x0 = _mm_xor_si128(crc_fold(x0, k3k4), x1);
  x0 = _mm_xor_si128(crc_fold(x0, k3k4), x2);
  x0 = _mm_xor_si128(crc_fold(x0, k3k4), x3);
  for (; n >= 16; p += 16, n -= 16) x0 = _mm_xor_si128(crc_fold(x0, k3k4), _mm_loadu_si128((const __m128i *)p));
  // 128 → 64 bits (the low half times x^(128-32)... as Linux's fold_64), then 64 → 32.
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), _mm_clmulepi64_si128(x0, k3k4, 0x10));
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 4), _mm_clmulepi64_si128(_mm_and_si128(x0, low32), k5, 0x00));
  // Barrett: T1 = (R mod x^32)·μ, T2 = (T1 mod x^32)·P, CRC = (R ^ T2) / x^32.
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x0, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x0, t), 1);
}

const ember_kernel_table ember_avx2_kernels = {
  .conv2d_s8 = ember_conv2d_s8_avx2,
  .fully_connected_s8 = ember_fully_connected_s8_avx2,
  .dwconv2d_s8 = ember_dwconv2d_s8_avx2,
  .conv2d_hybrid = ember_conv2d_hybrid_avx2,
  .fully_connected_hybrid = ember_fully_connected_hybrid_avx2,
  .conv2d_f32 = ember_conv2d_f32_avx2,
  .fully_connected_f32 = ember_fully_connected_f32_avx2,
  .conv2d_winograd_f32 = ember_conv2d_winograd_f32_avx2,
  .fully_connected_q4b32 = fully_connected_q4b32_avx2,
  .dwconv2d_f32 = ember_dwconv2d_f32_avx2,
  .add_s8 = ember_add_s8_avx2,
  .mul_s8 = ember_mul_s8_avx2,
  .binary_f32 = ember_binary_f32_avx2,
  .probe_mac = probe_mac_avx2,
  .probe_read = ember_probe_read_avx2,
  .hybrid_quantize = quantize_symmetric,
  .mean_s8 = ember_mean_s8_avx2,
  .mean_f32 = ember_mean_f32_avx2,
  .lookup_s8 = ember_lookup_s8_avx2,
  .requantize_s32 = ember_requantize_s32_avx2,
  .resize_bilinear_s8 = ember_resize_bilinear_s8_avx2,
  .unary_f32 = ember_unary_f32_avx2,
  .quantize_f32_s8 = ember_quantize_f32_s8_avx2,
  .matmul_f32 = ember_matmul_f32_avx2,
  .max_pool_s8 = ember_max_pool_s8_avx2,
  .max_pool_f32 = ember_max_pool_f32_avx2,
  .avg_pool_s8 = ember_avg_pool_s8_avx2,
  .avg_pool_f32 = ember_avg_pool_f32_avx2,
  .softmax_f32 = ember_softmax_f32_avx2,
  .softmax_s8 = ember_softmax_s8_avx2,
  .resize_bilinear_f32 = ember_resize_bilinear_f32_avx2,
  .layer_norm_f32 = ember_layer_norm_f32_avx2,
};

#endif
