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
#include "ember_fp_contract.h"
#include "ember_kernels.h"
#include "ember_conv_loops.h"
#include "ember_poly.h"
#include "ember_fixed_point.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,f16c")))
#define MR 8  // rows per tile: 2 panels × 8 rows = 16 of the 32 vector registers accumulate

// ------------------------------------------------------------ requantization
// gemmlowp SaturatingRoundingDoublingHighMul on 64-bit products p = a·b: gemmlowp nudges by ±2^30 and
// divides by 2^31 truncating toward zero, which for negative p is ceil((p + 1 − 2^30) / 2^31) =
// floor((p + 2^30) / 2^31), as for p ≥ 0 (the a = b = INT32_MIN saturation cannot occur, multipliers
// being in [2^30, 2^31)).

/// _mm512_mul_epi32 held to one vpmuldq. Clang lowers the intrinsic to a sign extension and a 64-bit
/// multiply, which with AVX-512DQ it emits as vpsllq + vpsraq + vpmullq: three instructions for one, and
/// vpmullq is three uops on Intel cores.
TARGET static inline __m512i mul_even_s32(__m512i a, __m512i b) {
  __m512i r;
  __asm__("vpmuldq %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
  return r;
}

/// The per-channel constants of ember_multiply_by_quantized_multiplier for 16 channels, derived from
/// the multipliers and shifts once per tile column (not per output vector). `mult` and `shift` are kept
/// as given for the single-rounding form; the rest serve the double rounding in one 64-bit step:
/// with p = (x << left)·M and right = max(−shift, 0), gemmlowp's SRDHM r = ⌊(p + 2^30) / 2^31⌋ (above)
/// followed by RoundingDivideByPOT(r, right) = ⌊(r + 2^(right−1) − [r < 0]) / 2^right⌋
/// (right ≥ 1; r itself for right = 0) is, the floors nesting, ⌊(p + 2^30 + (2^(right−1) − [r < 0])·2^31)
/// / 2^(31 + right)⌋, and r < 0 exactly when p < −2^30. |p| < 2^62 keeps the sum in 64 bits.
typedef struct {
  __m512i mult, shift, mult_odd, left;
  __m512i nudge_even, nudge_odd;  // 2^30 + 2^(30 + right) (2^30 alone for right = 0), 64-bit lanes
  __m512i total_even, total_odd;  // 31 + right
  __mmask8 rounds_even, rounds_odd;  // right ≥ 1: r < 0 takes 2^31 off
  __m512 fscale;      // is_float: ONNX Runtime's float requantization by these scales (the rest unread)
  int32_t is_float;
} requant16;

TARGET static inline requant16 requant16_make(__m512i mult, __m512i shift) {
  const __m512i zero = _mm512_setzero_si512(), low = _mm512_set1_epi64(0xFFFFFFFF);
  requant16 q;
  memset(&q, 0, sizeof q);  // not float (is_float 0)
  q.mult = mult;
  q.shift = shift;
  q.mult_odd = _mm512_srli_epi64(mult, 32);
  q.left = _mm512_max_epi32(shift, zero);
  const __m512i right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
  const __m512i right_even = _mm512_and_si512(right, low), right_odd = _mm512_srli_epi64(right, 32);
#define REQUANT16_HALF(HALF, R)                                                                        \
  {                                                                                                 \
    q.rounds_##HALF = _mm512_cmpgt_epi64_mask(R, zero);                                             \
    const __m512i half = _mm512_maskz_sllv_epi64(q.rounds_##HALF, _mm512_set1_epi64(1),              \
                                                 _mm512_add_epi64(R, _mm512_set1_epi64(30)));        \
    q.nudge_##HALF = _mm512_add_epi64(half, _mm512_set1_epi64(1LL << 30));                           \
    q.total_##HALF = _mm512_add_epi64(R, _mm512_set1_epi64(31));                                     \
  }
  REQUANT16_HALF(even, right_even)
  REQUANT16_HALF(odd, right_odd)
#undef REQUANT16_HALF
  return q;
}

TARGET static inline requant16 requant16_load(const int32_t *multiplier, const int32_t *shift) {
  return requant16_make(_mm512_loadu_si512(multiplier), _mm512_loadu_si512(shift));
}

/// Rounds to nearest even (explicitly, whatever MXCSR says) after clamping to ±2^30, as the reference's
/// ember_requantize_float / ember_quantize_float.
TARGET static inline __m512i round_float16(__m512 v) {
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-1073741824.0f)), _mm512_set1_ps(1073741824.0f));
  return _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/// ember_requantize_float, 16 lanes: acc · scale in float, rounded.
TARGET static inline __m512i requantize_float16(__m512i acc, __m512 scale) {
  return round_float16(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale));
}

/// A requant16 of ONNX Runtime's float requantization by `scale`.
TARGET static inline requant16 requant16_float(__m512 scale) {
  requant16 q;
  memset(&q, 0, sizeof q);
  q.fscale = scale;
  q.is_float = 1;
  return q;
}

/// Channels [c, c + 16) of per-channel constants: float scales when `scale` is not NULL, else the
/// fixed-point multipliers and shifts.
TARGET static inline requant16 requant16_channels(const int32_t *multiplier, const int32_t *shift, const float *scale,
                                                  int64_t c) {
  return scale ? requant16_float(_mm512_loadu_ps(scale + c)) : requant16_load(multiplier + c, shift + c);
}

/// ember_multiply_by_quantized_multiplier, 16 lanes: the product of x << left by the multiplier in even and
/// odd 64-bit halves, each rounded once (requant16), the low dwords interleaved back.
TARGET static inline __m512i mbqm_double_with(__m512i x, const requant16 *q) {
  const __m512i below = _mm512_set1_epi64(-(1LL << 30)), down = _mm512_set1_epi64(1LL << 31);
  x = _mm512_sllv_epi32(x, q->left);
  __m512i even = mul_even_s32(x, q->mult), odd = mul_even_s32(_mm512_srli_epi64(x, 32), q->mult_odd);
  const __mmask8 negative_even = _mm512_mask_cmplt_epi64_mask(q->rounds_even, even, below);  // r < 0
  const __mmask8 negative_odd = _mm512_mask_cmplt_epi64_mask(q->rounds_odd, odd, below);
  even = _mm512_add_epi64(even, q->nudge_even);
  odd = _mm512_add_epi64(odd, q->nudge_odd);
  even = _mm512_mask_sub_epi64(even, negative_even, even, down);
  odd = _mm512_mask_sub_epi64(odd, negative_odd, odd, down);
  even = _mm512_srav_epi64(even, q->total_even);
  odd = _mm512_srav_epi64(odd, q->total_odd);
  const __m512i interleave = _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
  return _mm512_permutex2var_epi32(even, interleave, odd);
}

/// 16 accumulators requantized as `q` says: float, or fixed point with double rounding.
TARGET static inline __m512i requantize16(__m512i x, const requant16 *q) {
  return q->is_float ? requantize_float16(x, q->fscale) : mbqm_double_with(x, q);
}

/// ember_multiply_by_quantized_multiplier_single_rounding, 16 lanes.
TARGET static inline __m512i mbqm_single(__m512i x, __m512i mult, __m512i shift) {
  shift = _mm512_min_epi32(_mm512_max_epi32(shift, _mm512_set1_epi32(-31)), _mm512_set1_epi32(30));
  const __m512i total = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
  const __m512i total_even = _mm512_and_si512(total, _mm512_set1_epi64(0xFFFFFFFF));
  const __m512i total_odd = _mm512_srli_epi64(total, 32);
  const __m512i one = _mm512_set1_epi64(1);
  __m512i even = mul_even_s32(x, mult);
  __m512i odd = mul_even_s32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(mult, 32));
  even = _mm512_srav_epi64(_mm512_add_epi64(even, _mm512_sllv_epi64(one, _mm512_sub_epi64(total_even, one))), total_even);
  odd = _mm512_srav_epi64(_mm512_add_epi64(odd, _mm512_sllv_epi64(one, _mm512_sub_epi64(total_odd, one))), total_odd);
  // Saturate to int32 as the reference does, then interleave even and odd lanes back.
  const __m512i e = _mm512_cvtepu32_epi64(_mm512_cvtsepi64_epi32(even));
  const __m512i o = _mm512_slli_epi64(_mm512_cvtepu32_epi64(_mm512_cvtsepi64_epi32(odd)), 32);
  return _mm512_or_si512(e, o);
}

/// Mask of the first `count` (1…16) lanes.
TARGET static inline __mmask16 lanes_mask(int32_t count) {
  return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

/// The 16 int8 values at `p` (those of mask m's lanes; the others 0) as int32.
TARGET static inline __m512i load16_s8(const int8_t *p, __mmask16 m) {
  return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p));
}

/// 16 int32 values clamped to [act_min, act_max] as int8 bytes. vpmovsdb saturates to [−128, 127], so only
/// a narrower activation range (ReLU6, or ReLU at a zero point above −128) costs a compare.
TARGET static inline __m128i clamp_pack_s8(__m512i r, int32_t act_min, int32_t act_max) {
  if (act_min > -128) r = _mm512_max_epi32(r, _mm512_set1_epi32(act_min));
  if (act_max < 127) r = _mm512_min_epi32(r, _mm512_set1_epi32(act_max));
  return _mm512_cvtsepi32_epi8(r);
}

/// Offsets, clamps and stores the first `count` of 16 requantized values as int8 (a masked store only for
/// fewer than 16).
TARGET static inline void store_s8(__m512i r, int32_t offset, int32_t act_min, int32_t act_max, int32_t count,
                                   int8_t *out) {
  const __m128i bytes = clamp_pack_s8(_mm512_add_epi32(r, _mm512_set1_epi32(offset)), act_min, act_max);
  if (count >= 16) _mm_storeu_si128((__m128i *)(void *)out, bytes);
  else _mm_mask_storeu_epi8(out, lanes_mask(count), bytes);
}

/// 16 accumulators requantized as an int8 GEMM's output stage says (single or double rounding, or
/// float), before the output offset.
TARGET static inline __m512i requantize_s8_gemm(__m512i acc, const ember_qs8_gemm *w, const requant16 *q) {
  return q->is_float || !w->single_rounding ? requantize16(acc, q) : mbqm_single(acc, q->mult, q->shift);
}

/// Stores 16 accumulators of channels [c, c + 16) at element `at` of the GEMM's output: requantized int8
/// with `q`, the channels' constants (single or double rounding, as the GEMM says), or for a
/// dynamic-range GEMM f32 acc·scale (+ bias), multiplied then added as the reference does (q unread).
TARGET static inline void store_acc(__m512i acc, const ember_qs8_gemm *w, const requant16 *q, int32_t c, int32_t count,
                                    void *out, int64_t at) {
  if (w->int32_output) {
    _mm512_mask_storeu_epi32((int32_t *)out + at, lanes_mask(count), acc);
    return;
  }
  if (!w->float_output) {
    store_s8(requantize_s8_gemm(acc, w, q), w->output_offset, w->act_min, w->act_max, count, (int8_t *)out + at);
    return;
  }
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(w->float_scale));
  if (w->float_bias) v = _mm512_add_ps(v, _mm512_loadu_ps(w->float_bias + c));
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(w->float_min)), _mm512_set1_ps(w->float_max));
  _mm512_mask_storeu_ps((float *)out + at, lanes_mask(count), v);
}

/// Four vectors of 16 requantized int32 values (a, b, c, d) offset, saturated and clamped as store_s8 does
/// each, and stored as int8: two signed packs to int16, the offset added there with saturation (an int16
/// past the int8 range stays past it), one pack to bytes and a dword permute back into order (each pack
/// works within 128-bit lanes) — 6 operations where four store_s8's down-conversions take 8 and their
/// offsets 4. The vectors are `per_row` (1, 2 or 4) to an output row, rows `stride` bytes apart from
/// `out`: one 64-byte store when the rows are adjacent, else one per row.
TARGET static inline void store_s8_x4(__m512i a, __m512i b, __m512i c, __m512i d, int32_t offset, int32_t act_min,
                                      int32_t act_max, int32_t per_row, int8_t *out, int64_t stride) {
  const __m512i offset16 = _mm512_set1_epi16((short)offset);
  const __m512i ab = _mm512_adds_epi16(_mm512_packs_epi32(a, b), offset16);
  const __m512i cd = _mm512_adds_epi16(_mm512_packs_epi32(c, d), offset16);
  // Lane k of the bytes holds dwords a_k, b_k, c_k, d_k (a_k = a's values 4k … 4k + 3): a 4 × 4 transpose.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  __m512i bytes = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(ab, cd));
  if (act_min > -128) bytes = _mm512_max_epi8(bytes, _mm512_set1_epi8((char)act_min));
  if (act_max < 127) bytes = _mm512_min_epi8(bytes, _mm512_set1_epi8((char)act_max));
  if (per_row == 4 || stride == 16 * per_row) {
    _mm512_storeu_si512(out, bytes);
  } else if (per_row == 2) {
    _mm256_storeu_si256((__m256i *)(void *)out, _mm512_castsi512_si256(bytes));
    _mm256_storeu_si256((__m256i *)(void *)(out + stride), _mm512_extracti64x4_epi64(bytes, 1));
  } else {
    _mm_storeu_si128((__m128i *)(void *)out, _mm512_castsi512_si128(bytes));
    _mm_storeu_si128((__m128i *)(void *)(out + stride), _mm512_extracti32x4_epi32(bytes, 1));
    _mm_storeu_si128((__m128i *)(void *)(out + 2 * stride), _mm512_extracti32x4_epi32(bytes, 2));
    _mm_storeu_si128((__m128i *)(void *)(out + 3 * stride), _mm512_extracti32x4_epi32(bytes, 3));
  }
}

// ------------------------------------------------------------ int8 GEMM tile
// The int8 tiles read unsigned input bytes (x ^ 0x80) as quads from an ember_run_source.

/// Whether an R × P tile's vectors come in whole groups of four for store_s8_x4: one row's (P 4), two
/// rows' (P 2) or four rows' (P 1). A compile-time constant, so the other tiles carry no packed store.
#define QS8_TILE_GROUPS(R, P) ((P) != 3 && ((R) * (P)) % 4 == 0)

/// Whether a tile of P panels from channel c0 stores its int8 output four vectors at a time: an int8
/// output stage and every panel full.
static inline int32_t qs8_tile_packs(const ember_qs8_gemm *w, int32_t panels, int32_t c0) {
  return !w->int32_output && !w->float_output && c0 + 16 * panels <= w->n;
}

/// R rows × P 16-channel panels, both constants, so the accumulators stay in registers and no lane
/// computes for a row or panel that is not there. Row r's input starts `col` + r·pixel bytes into each
/// run; a quad is one broadcast load (the input is already unsigned), one vpdpbusd per panel.
#define DEFINE_QS8_TILE(R, P)                                                                         \
  TARGET static void qs8_tile_##R##_##P(const ember_run_source *src, int64_t col, const ember_qs8_gemm *w, int32_t panel, \
                                        void *out, int64_t out_at, int64_t out_stride) {              \
    const int32_t quads = w->k_padded / 4, c0 = panel * 16;                                           \
    const int8_t *b = (const int8_t *)w->weights + (int64_t)panel * quads * 64;                       \
    const int64_t pixel = src->pixel;                                                                 \
    __m512i acc[R][P];                                                                                \
    for (int32_t j = 0; j < P; ++j) {                                                                 \
      const __m512i bias = _mm512_loadu_si512(w->bias + c0 + 16 * j);                                 \
      for (int32_t r = 0; r < R; ++r) acc[r][j] = bias;                                               \
    }                                                                                                 \
    for (int32_t t = 0; t < src->runs; ++t) {                                                         \
      const uint8_t *run = src->run[t] + col;                                                         \
      for (int32_t qq = 0; qq < src->length; ++qq, b += 64) {                                         \
        __m512i wv[P];                                                                                \
        for (int32_t j = 0; j < P; ++j) wv[j] = _mm512_loadu_si512(b + (int64_t)j * quads * 64);      \
        for (int32_t r = 0; r < R; ++r) {                                                             \
          int32_t v;                                                                                  \
          memcpy(&v, run + r * pixel + 4 * qq, 4);                                                    \
          const __m512i x = _mm512_set1_epi32(v);                                                     \
          for (int32_t j = 0; j < P; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], x, wv[j]);       \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    /* Unrolled: a loop here would index acc in memory, and clang would then store every          \
       accumulator to the stack at each step of the loops above. */                                   \
    const int32_t packs = QS8_TILE_GROUPS(R, P) && qs8_tile_packs(w, P, c0);                          \
    _Pragma("GCC unroll 4") for (int32_t j = 0; j < P; ++j) {                                         \
      const int32_t c = c0 + 16 * j, count = w->n - c < 16 ? w->n - c : 16;                           \
      if (count <= 0) continue;                                                                       \
      requant16 q;  /* only an int8 output stage reads it (a hybrid GEMM has no multipliers) */       \
      if (!w->float_output) q = requant16_channels(w->multiplier, w->shift, w->requant_scale, c);     \
      else memset(&q, 0, sizeof q);                                                                   \
      if (packs) { /* requantized in place, stored below four vectors at a time */                    \
        _Pragma("GCC unroll 8") for (int32_t r = 0; r < R; ++r) acc[r][j] = requantize_s8_gemm(acc[r][j], w, &q); \
        continue;                                                                                     \
      }                                                                                               \
      _Pragma("GCC unroll 8") for (int32_t r = 0; r < R; ++r)                                         \
        store_acc(acc[r][j], w, &q, c, count, out, out_at + r * out_stride + c);                      \
    }                                                                                                 \
    /* In row-major (r, j) order, four vectors at a time: one row's (P 4), two rows' (P 2), four (P 1). */ \
    if (packs) {                                                                                      \
      int8_t *o = (int8_t *)out + out_at + c0;                                                         \
      _Pragma("GCC unroll 8") for (int32_t i = 0; i < R * P; i += 4)                                 \
        store_s8_x4(acc[i / P][i % P], acc[(i + 1) / P][(i + 1) % P], acc[(i + 2) / P][(i + 2) % P],   \
                    acc[(i + 3) / P][(i + 3) % P], w->output_offset, w->act_min, w->act_max, P < 4 ? P : 4, \
                    o + (i / P) * out_stride, out_stride);                                            \
    }                                                                                                 \
  }
DEFINE_QS8_TILE(8, 1) DEFINE_QS8_TILE(8, 2)
DEFINE_QS8_TILE(4, 1) DEFINE_QS8_TILE(4, 2) DEFINE_QS8_TILE(4, 3) DEFINE_QS8_TILE(4, 4)
DEFINE_QS8_TILE(3, 1) DEFINE_QS8_TILE(3, 2) DEFINE_QS8_TILE(3, 3) DEFINE_QS8_TILE(3, 4)
DEFINE_QS8_TILE(2, 1) DEFINE_QS8_TILE(2, 2) DEFINE_QS8_TILE(2, 3) DEFINE_QS8_TILE(2, 4)
DEFINE_QS8_TILE(1, 1) DEFINE_QS8_TILE(1, 2) DEFINE_QS8_TILE(1, 3) DEFINE_QS8_TILE(1, 4)

/// Panels per tile for R rows: 8 rows × 2 panels or up to 4 rows × 4 panels of accumulators.
#define PANELS_PER_TILE(R) ((R) == 8 ? 2 : 4)

typedef void (*qs8_tile_fn)(const ember_run_source *, int64_t, const ember_qs8_gemm *, int32_t, void *, int64_t, int64_t);
/// qs8_tiles[R][P]: the tile of R rows × P panels (NULL outside PANELS_PER_TILE).
static const qs8_tile_fn qs8_tiles[MR + 1][5] = {
  [8] = {NULL, qs8_tile_8_1, qs8_tile_8_2},
  [4] = {NULL, qs8_tile_4_1, qs8_tile_4_2, qs8_tile_4_3, qs8_tile_4_4},
  [3] = {NULL, qs8_tile_3_1, qs8_tile_3_2, qs8_tile_3_3, qs8_tile_3_4},
  [2] = {NULL, qs8_tile_2_1, qs8_tile_2_2, qs8_tile_2_3, qs8_tile_2_4},
  [1] = {NULL, qs8_tile_1_1, qs8_tile_1_2, qs8_tile_1_3, qs8_tile_1_4},
};

/// Stores two rows' accumulators of channels [0, count) (count ≤ 8), row r's in the low half of z and row
/// r + 1's in the high half (`second` = 0: row r only), as store_acc does one row.
TARGET static inline void store_acc_pair(__m512i z, const ember_qs8_gemm *w, const requant16 *q, int32_t count,
                                         void *out, int64_t at, int64_t at_next, int32_t second) {
  const __mmask8 m = (__mmask8)((1u << count) - 1);
  if (w->int32_output) {
    _mm256_mask_storeu_epi32((int32_t *)out + at, m, _mm512_castsi512_si256(z));
    if (second) _mm256_mask_storeu_epi32((int32_t *)out + at_next, m, _mm512_extracti64x4_epi64(z, 1));
    return;
  }
  if (!w->float_output) {
    const __m512i r = _mm512_add_epi32(requantize_s8_gemm(z, w, q), _mm512_set1_epi32(w->output_offset));
    const __m128i bytes = clamp_pack_s8(r, w->act_min, w->act_max);
    _mm_mask_storeu_epi8((int8_t *)out + at, m, bytes);
    if (second) _mm_mask_storeu_epi8((int8_t *)out + at_next, m, _mm_srli_si128(bytes, 8));
    return;
  }
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(z), _mm512_set1_ps(w->float_scale));
  if (w->float_bias) {
    const __m512 b = _mm512_castps256_ps512(_mm256_loadu_ps(w->float_bias));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(b, b, 0x44));
  }
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(w->float_min)), _mm512_set1_ps(w->float_max));
  _mm256_mask_storeu_ps((float *)out + at, m, _mm512_castps512_ps256(v));
  if (second) _mm256_mask_storeu_ps((float *)out + at_next, m, _mm512_extractf32x8_ps(v, 1));
}

/// Layers of at most 8 output channels: R rows × the first 8 lanes of panel 0, in 256-bit registers
/// (twice the vpdpbusd of a half-empty 512-bit vector per cycle on cores that split 512-bit work, and
/// up to 16 rows of accumulators); two rows are requantized per 512-bit vector.
#define DEFINE_QS8_HALF_TILE(R)                                                                       \
  TARGET static void qs8_half_tile_##R(const ember_run_source *src, int64_t col, const ember_qs8_gemm *w, void *out, \
                                       int64_t out_at, int64_t out_stride) {                          \
    const int8_t *b = (const int8_t *)w->weights;                                                     \
    const int64_t pixel = src->pixel;                                                                 \
    __m256i acc[R];                                                                                   \
    const __m256i bias = _mm256_loadu_si256((const __m256i *)w->bias);                                \
    for (int32_t r = 0; r < R; ++r) acc[r] = bias;                                                    \
    for (int32_t t = 0; t < src->runs; ++t) {                                                         \
      const uint8_t *run = src->run[t] + col;                                                         \
      for (int32_t qq = 0; qq < src->length; ++qq, b += 64) {                                         \
        const __m256i wv = _mm256_loadu_si256((const __m256i *)b);                                    \
        for (int32_t r = 0; r < R; ++r) {                                                             \
          int32_t v;                                                                                  \
          memcpy(&v, run + r * pixel + 4 * qq, 4);                                                    \
          acc[r] = _mm256_dpbusd_epi32(acc[r], _mm256_set1_epi32(v), wv);                             \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    requant16 q;                                                                                      \
    if (!w->float_output && w->requant_scale) {                                                       \
      const __m512 f = _mm512_castps256_ps512(_mm256_loadu_ps(w->requant_scale));                     \
      q = requant16_float(_mm512_shuffle_f32x4(f, f, 0x44));                                          \
    } else if (!w->float_output) {                                                                    \
      const __m512i m = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w->multiplier));    \
      const __m512i sh = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w->shift));       \
      q = requant16_make(_mm512_shuffle_i64x2(m, m, 0x44), _mm512_shuffle_i64x2(sh, sh, 0x44));       \
    } else {                                                                                          \
      memset(&q, 0, sizeof q);                                                                        \
    }                                                                                                 \
    _Pragma("GCC unroll 8") for (int32_t r = 0; r < R; r += 2) {                                      \
      const __m256i next = r + 1 < R ? acc[r + 1] : _mm256_setzero_si256();                           \
      store_acc_pair(_mm512_inserti64x4(_mm512_castsi256_si512(acc[r]), next, 1), w, &q, w->n, out,   \
                     out_at + r * out_stride, out_at + (r + 1) * out_stride, r + 1 < R);              \
    }                                                                                                 \
  }
DEFINE_QS8_HALF_TILE(16) DEFINE_QS8_HALF_TILE(8) DEFINE_QS8_HALF_TILE(4) DEFINE_QS8_HALF_TILE(2)
DEFINE_QS8_HALF_TILE(1)

/// Covers `rows` GEMM rows with tiles: when `half` (at most 8 output channels), 8-lane tiles of 16, 8, 4, 2
/// or 1 rows (HALF(r)); otherwise R × P tiles of 8, 4 or fewer rows over every panel (TILE(r, panel,
/// live)). NEXT(r) moves the row source and output past r rows.
#define EMBER_ROW_TILES(rows, panels, half, HALF, TILE, NEXT)                                          \
  do {                                                                                             \
    while ((half) && rows > 0) {                                                                   \
      const int32_t r = rows >= 16 ? 16 : rows >= 8 ? 8 : rows >= 4 ? 4 : rows >= 2 ? 2 : 1;       \
      HALF;                                                                                        \
      NEXT;                                                                                        \
      rows -= r;                                                                                   \
    }                                                                                              \
    while (rows > 0) {                                                                             \
      const int32_t r = rows >= 8 ? 8 : rows >= 4 ? 4 : rows, step = PANELS_PER_TILE(r);           \
      for (int32_t panel = 0; panel < (panels); panel += step) {                                   \
        const int32_t live = (panels) - panel < step ? (panels) - panel : step;                    \
        TILE;                                                                                      \
      }                                                                                            \
      NEXT;                                                                                        \
      rows -= r;                                                                                   \
    }                                                                                              \
  } while (0)

typedef void (*qs8_half_tile_fn)(const ember_run_source *, int64_t, const ember_qs8_gemm *, void *, int64_t, int64_t);
static const qs8_half_tile_fn qs8_half_tiles[17] = {
  [16] = qs8_half_tile_16, [8] = qs8_half_tile_8, [4] = qs8_half_tile_4, [2] = qs8_half_tile_2, [1] = qs8_half_tile_1,
};

/// `rows` consecutive GEMM rows (pixels), the first reading `col` bytes into the source rows, × every
/// panel of `w`, in tiles of 8, 4 or fewer rows.
TARGET static void qs8_rows(int32_t rows, const ember_run_source *src, int64_t col, const ember_qs8_gemm *w, void *out,
                            int64_t out_at, int64_t out_stride) {
  EMBER_ROW_TILES(rows, w->n_padded / 16, w->n <= 8, qs8_half_tiles[r](src, col, w, out, out_at, out_stride),
                  qs8_tiles[r][live](src, col, w, panel, out, out_at, out_stride),
                  { col += r * src->pixel; out_at += r * out_stride; });
}

/// dst[0..n) = src ^ 0x80 (signed to unsigned bytes), 64 at a time.
TARGET static inline void copy_flip(uint8_t *dst, const int8_t *src, int64_t n) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (int64_t i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src + i), flip));
  }
}

/// dst[0..n) = value.
TARGET static inline void fill_u8(uint8_t *dst, uint8_t value, int64_t n) {
  const __m512i v = _mm512_set1_epi8((char)value);
  for (int64_t i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    _mm512_mask_storeu_epi8(dst + i, m, v);
  }
}

/// `rows` rows of k int8 inputs, `stride` apart, × w: each tile's rows flipped to unsigned bytes and
/// padded with zeros to k_padded in scratch (MR rows), then multiplied.
TARGET static void fc_qs8_strided(int64_t rows, const int8_t *input, int64_t stride, const ember_qs8_gemm *w,
                                  void *scratch, void *output) {
  uint8_t *patches = (uint8_t *)scratch;
  const uint8_t *row = patches;
  const ember_run_source src = {&row, 1, w->k_padded / 4, w->k_padded};
  const int32_t contiguous = w->k == w->k_padded && stride == w->k;  // a tile's rows are one run of bytes
  for (int64_t p = 0; p < rows; p += MR) {
    const int32_t mr = rows - p < MR ? (int32_t)(rows - p) : MR;
    if (contiguous) {
      copy_flip(patches, input + p * stride, (int64_t)mr * w->k);
    } else {
      for (int32_t r = 0; r < mr; ++r) {
        uint8_t *dst = patches + (int64_t)r * w->k_padded;
        copy_flip(dst, input + (p + r) * stride, w->k);
        fill_u8(dst + w->k, 0, w->k_padded - w->k);
      }
    }
    qs8_rows(mr, &src, 0, w, output, p * w->n, w->n);
  }
}

/// Input row `iy` of image `n` as a window row of `width` pixels from column −pad_left: unsigned bytes
/// (x ^ 0x80), `pad` (the zero point, flipped) outside the image, then 4 zero bytes for the last run's
/// quad padding (its weights are zero).
TARGET static void fill_window_row(uint8_t *dst, const ember_conv_geometry *g, const int8_t *input, int32_t n,
                                   int32_t iy, int32_t width, uint8_t pad) {
  const int64_t c = g->in_c, bytes = width * c;
  int32_t lo, hi;
  ember_window_inside(g, width, &lo, &hi);
  if (iy < 0 || iy >= g->in_h) {
    fill_u8(dst, pad, bytes);
  } else {
    fill_u8(dst, pad, lo * c);
    copy_flip(dst + lo * c, input + (((int64_t)n * g->in_h + iy) * g->in_w + (lo - g->pad_left)) * c, (hi - lo) * c);
    fill_u8(dst + hi * c, pad, bytes - hi * c);
  }
  memset(dst + bytes, 0, 4);
}

/// The int8 GEMM convolution behind both the int8 and the hybrid entry points (output int8 or f32).
/// Pointwise layers multiply the input rows (as a fully connected layer); others read every tap of an
/// output row from the window of its input rows (ember_window), in runs as ember_conv_k_runs packs.
TARGET static void conv2d_qs8(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                              void *scratch, void *output) {
  if (ember_conv_is_pointwise(g)) {
    fc_qs8_strided((int64_t)g->batch * g->out_h * g->out_w, input, g->in_c, w, scratch, output);
    return;
  }
  const ember_k_runs runs = ember_conv_k_runs(EMBER_ISA_AVX512, g);
  const int32_t width = ember_window_width(g);
  const uint8_t pad = (uint8_t)(w->input_zero_point + 128);
  ember_window win = ember_window_start(g, 1, scratch);
  EMBER_WINDOW_CONV(g, &win, 1, w->k_padded / 4 / runs.runs, fill_window_row(dst, g, input, n, iy, width, pad),
                    qs8_rows(g->out_w, &src, 0, w, output, out_at * w->n, w->n));
}

TARGET static void ember_conv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                                   void *scratch, int8_t *output) {
  conv2d_qs8(g, input, w, scratch, output);
}
/// tensor_utils::SymmetricQuantizeFloats (as ember_conv2d_hybrid_ref): q = round-half-away(x · 127/max|x|),
/// clamped to ±127. Returns the input scale, max|x| / 127 (1 when the input is all zeros).
TARGET static float quantize_symmetric(const float *x, int64_t count, int8_t *q) {
  __m512 range_v = _mm512_setzero_ps();
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
    range_v = _mm512_max_ps(range_v, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + i)));
  }
  const float range = _mm512_reduce_max_ps(range_v);
  if (range == 0.0f) {
    memset(q, 0, (size_t)count);
    return 1.0f;
  }
  const __m512 inv = _mm512_set1_ps(127.0f / range), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m512 top = _mm512_set1_ps(127.0f);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
    // roundf: truncate |v|, add 1 when the dropped fraction (exact in f32) is at least one half.
    const __m512 a = _mm512_abs_ps(v);
    __m512 r = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    r = _mm512_mask_add_ps(r, _mm512_cmp_ps_mask(_mm512_sub_ps(a, r), half, _CMP_GE_OQ), r, one);
    r = _mm512_min_ps(r, top);
    const __m512i n = _mm512_cvttps_epi32(r);
    const __m512i signed_n = _mm512_mask_sub_epi32(n, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ),
                                                   _mm512_setzero_si512(), n);
    _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(signed_n));
  }
  return range / 127.0f;
}

TARGET static void ember_conv2d_hybrid_avx512(const ember_conv_geometry *g, const float *input, const ember_qs8_gemm *w,
                                       void *scratch, float *output) {
  EMBER_HYBRID_CONV_BODY(g, input, w, scratch, output, quantize_symmetric, conv2d_qs8);
}

TARGET static void fc_qs8(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch, void *output) {
  fc_qs8_strided(rows, input, w->k, w, scratch, output);
}

TARGET static void ember_fully_connected_s8_avx512(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                                            int8_t *output) {
  fc_qs8(rows, input, w, scratch, output);
}

TARGET static void ember_fully_connected_hybrid_avx512(int64_t rows, const float *input, const ember_qs8_gemm *w, void *scratch,
                                                float *output) {
  EMBER_HYBRID_FC_BODY(rows, input, w, scratch, output, quantize_symmetric, fc_qs8);
}

// The f32 depthwise kernels (below) hold 3×3 weights in registers; both kinds run DW_GROUP pixels at a time.
#define DW_3X3_TAPS 9
#define DW_GROUP 4

// ------------------------------------------------------------ int8 depthwise
// Per output row and group of up to 64 channels, its taps gathered once into quads (ember_dw_slot_rows
// in ember_conv_loops.h), so one vpdpbusd adds four taps of 16 channels: with the quads' unsigned bytes,
// the packed weights (zero in the slots past the kernel) and the bias folded at pack time
// (ember_dw_pack_s8: bias − (128 + zp)·Σw), padding is the zero point and adds nothing, as the
// reference's skipped taps. No pixel runs a bounds test, so small images (a 6×6 layer has 20 border
// pixels of 36) run as fast as large ones.

/// The quads of 64 bytes of four streams (a, b, e, f): byte k of each, flipped to unsigned, at dst[4k …
/// 4k + 3]. Lane j of q0 … q3 holds bytes 16j … 16j + 15 four at a time; a 4×4 transpose of the 128-bit
/// lanes puts each 16 bytes' quads in one vector.
TARGET static inline void dw_s8_quad64(uint8_t *dst, __m512i a, __m512i b, __m512i e, __m512i f) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
  const __m512i ef_lo = _mm512_unpacklo_epi8(e, f), ef_hi = _mm512_unpackhi_epi8(e, f);
  const __m512i q0 = _mm512_unpacklo_epi16(ab_lo, ef_lo), q1 = _mm512_unpackhi_epi16(ab_lo, ef_lo);
  const __m512i q2 = _mm512_unpacklo_epi16(ab_hi, ef_hi), q3 = _mm512_unpackhi_epi16(ab_hi, ef_hi);
  const __m512i t0 = _mm512_shuffle_i64x2(q0, q1, 0x44), t1 = _mm512_shuffle_i64x2(q0, q1, 0xEE);
  const __m512i t2 = _mm512_shuffle_i64x2(q2, q3, 0x44), t3 = _mm512_shuffle_i64x2(q2, q3, 0xEE);
  _mm512_storeu_si512(dst, _mm512_xor_si512(_mm512_shuffle_i64x2(t0, t2, 0x88), flip));
  _mm512_storeu_si512(dst + 64, _mm512_xor_si512(_mm512_shuffle_i64x2(t0, t2, 0xDD), flip));
  _mm512_storeu_si512(dst + 128, _mm512_xor_si512(_mm512_shuffle_i64x2(t1, t3, 0x88), flip));
  _mm512_storeu_si512(dst + 192, _mm512_xor_si512(_mm512_shuffle_i64x2(t1, t3, 0xDD), flip));
}

/// The quads of `columns` columns of channels [0, count) of four streams of rows of c channels, at
/// 4·ember_dw_channel_group bytes per column. When the group is all c channels the columns are one stream
/// of bytes, 64 at a time (a last partial step spills up to 252 bytes past the end); else each column is
/// one step of 256 bytes, the last group's (count < 64) read masked.
TARGET static void dw_s8_gather(uint8_t *dst, const int8_t *const *src, int64_t columns, int64_t c, int32_t count) {
  if (count == c) {
    const int64_t bytes = columns * c;
    for (int64_t k = 0; k < bytes; k += 64, dst += 256) {
      const __mmask64 m = bytes - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (bytes - k)) - 1);
      dw_s8_quad64(dst, _mm512_maskz_loadu_epi8(m, src[0] + k), _mm512_maskz_loadu_epi8(m, src[1] + k),
                   _mm512_maskz_loadu_epi8(m, src[2] + k), _mm512_maskz_loadu_epi8(m, src[3] + k));
    }
    return;
  }
  const __mmask64 m = count >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
  for (int64_t j = 0, at = 0; j < columns; ++j, at += c, dst += 256)
    dw_s8_quad64(dst, _mm512_maskz_loadu_epi8(m, src[0] + at), _mm512_maskz_loadu_epi8(m, src[1] + at),
                 _mm512_maskz_loadu_epi8(m, src[2] + at), _mm512_maskz_loadu_epi8(m, src[3] + at));
}

/// Quad row r of output row oy of image n, across tap rows, for the group of `count` channels from g0:
/// per window column (from input column −pad_left) and channel, the bytes of tap rows 4r … 4r + 3
/// (`plain`, in_w·in_c zero points, for a row outside the image or past the kernel); the padding's
/// quads are fill bytes, written after the image's.
TARGET static void dw_s8_fill_tap_rows(uint8_t *dst, const ember_conv_geometry *g, const int8_t *input,
                                       const int8_t *plain, int32_t n, int32_t oy, int32_t r, int32_t width,
                                       int32_t g0, int32_t count, uint8_t pad) {
  const int64_t c = g->in_c, column = (int64_t)ember_dw_channel_group(g) * 4;
  int32_t lo, hi;
  ember_window_inside(g, width, &lo, &hi);
  const int8_t *row[4];
  for (int32_t i = 0; i < 4; ++i) {
    const int32_t ky = 4 * r + i, iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
    row[i] = (ky < g->kernel_h && iy >= 0 && iy < g->in_h ? input + ((int64_t)n * g->in_h + iy) * g->in_w * c
                                                           : plain) + (lo - g->pad_left) * c + g0;
  }
  dw_s8_gather(dst + lo * column, row, hi - lo, c, count);
  fill_u8(dst, pad, lo * column);
  fill_u8(dst + hi * column, pad, (width - hi) * column);
}

/// `plain` = input row oy·stride_h − pad_top of image n from column −pad_left, `columns` wide, zero
/// points outside the image (a kernel one tap high reads its quads from it).
TARGET static void dw_s8_plain_row(int8_t *plain, const ember_conv_geometry *g, const int8_t *input, int32_t n,
                                   int32_t oy, int32_t columns, int8_t zero_point) {
  const int64_t c = g->in_c;
  const int32_t iy = oy * g->stride_h - g->pad_top;
  int32_t lo, hi;
  ember_window_inside(g, columns, &lo, &hi);
  if (iy < 0 || iy >= g->in_h) lo = hi = columns;
  fill_u8((uint8_t *)plain, (uint8_t)zero_point, lo * c);
  if (hi > lo) memcpy(plain + lo * c, input + (((int64_t)n * g->in_h + iy) * g->in_w + lo - g->pad_left) * c,
                      (size_t)((hi - lo) * c));
  fill_u8((uint8_t *)plain + hi * c, (uint8_t)zero_point, (columns - hi) * c);
}

/// The quad rows of a kernel one tap high, from its plain row, for the group of `count` channels from
/// g0: quad row r at window column j holds the bytes at columns j + (4r + i)·dilation_w, i = 0 … 3 —
/// for the columns where an output pixel starts (a layer with one output pixel gathers one column, not
/// the kernel's width).
TARGET static void dw_s8_fill_along_row(uint8_t *quads, int64_t row_bytes, int32_t rows, const ember_conv_geometry *g,
                                        const int8_t *plain, int32_t g0, int32_t count) {
  const int64_t c = g->in_c, d = g->dilation_w, starts = (int64_t)(g->out_w - 1) * g->stride_w + 1;
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t *at[4];
    for (int32_t i = 0; i < 4; ++i) at[i] = plain + (4 * r + i) * d * c + g0;
    dw_s8_gather(quads + r * row_bytes, at, starts, c, count);
  }
}

/// Channels [c0, c0 + count) of an output row from its quad rows (`rows` of them, `row_bytes` apart,
/// `column` bytes per window column, channel c0 at `base`): DW_GROUP pixels at a time, each weight vector
/// loaded once for them and a chain per pixel. ROWS and KW are the quad rows and the quads per row (the
/// kernel width across tap rows, 1 along a row), constants in the 3×3 variant (its loops unrolled, its
/// accumulators and weights in registers).
#define DEFINE_DW_S8_ROW(NAME, ROWS, KW)                                                             \
  TARGET static void NAME(const ember_conv_geometry *g, const ember_qs8_dw *w, const uint8_t *base,    \
                          int64_t column, int64_t row_bytes, int32_t rows, int32_t kw, int32_t c0,      \
                          int32_t count, int8_t *out) {                                             \
    (void)rows; (void)kw;                                                                           \
    const int64_t pixel = g->stride_w * column, tap = g->dilation_w * column;                       \
    const int8_t *wq = (const int8_t *)w->slots + (int64_t)c0 / 16 * (ROWS) * (KW) * 64;                            \
    const __m512i bias = _mm512_loadu_si512(w->bias + c0);                                          \
    const requant16 q = requant16_channels(w->multiplier, w->shift, w->requant_scale, c0);          \
    int32_t ox = 0;                                                                                 \
    for (; ox + DW_GROUP <= g->out_w; ox += DW_GROUP) {                                             \
      __m512i acc[DW_GROUP];                                                                        \
      for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = bias;                                         \
      for (int32_t r = 0; r < (ROWS); ++r)                                                          \
        for (int32_t kx = 0; kx < (KW); ++kx) {                                                     \
          const __m512i wv = _mm512_loadu_si512(wq + (r * (KW) + kx) * 64);                         \
          const uint8_t *p = base + r * row_bytes + ox * pixel + kx * tap;                          \
          for (int32_t j = 0; j < DW_GROUP; ++j)                                                    \
            acc[j] = _mm512_dpbusd_epi32(acc[j], _mm512_loadu_si512(p + j * pixel), wv);            \
        }                                                                                           \
      if (count == 16 && DW_GROUP == 4) { /* four pixels' 16 channels, in_c apart */                  \
        store_s8_x4(requantize16(acc[0], &q), requantize16(acc[1], &q), requantize16(acc[2], &q),    \
                    requantize16(acc[3], &q), w->output_offset, w->act_min, w->act_max, 1,          \
                    out + ox * g->in_c, g->in_c);                                                   \
        continue;                                                                                   \
      }                                                                                             \
      for (int32_t j = 0; j < DW_GROUP; ++j)                                                        \
        store_s8(requantize16(acc[j], &q), w->output_offset, w->act_min, w->act_max, count,         \
                 out + (ox + j) * g->in_c);                                                         \
    }                                                                                               \
    for (; ox < g->out_w; ++ox) {                                                                   \
      __m512i acc = bias;                                                                           \
      for (int32_t r = 0; r < (ROWS); ++r)                                                          \
        for (int32_t kx = 0; kx < (KW); ++kx)                                                       \
          acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(base + r * row_bytes + ox * pixel + kx * tap), \
                                    _mm512_loadu_si512(wq + (r * (KW) + kx) * 64));                 \
      store_s8(requantize16(acc, &q), w->output_offset, w->act_min, w->act_max, count, out + ox * g->in_c); \
    }                                                                                               \
  }
DEFINE_DW_S8_ROW(dw_s8_row_3x3, 1, 3)
DEFINE_DW_S8_ROW(dw_s8_row, rows, kw)

/// An output row of an 8-channel layer, two adjacent pixels per vector (channels 0–7 of the left one in
/// the low lanes): their quads are one 64-byte load at stride 1, else two of 32. The weights, bias and
/// requantization constants are the 8 channels' twice over.
TARGET static void dw_s8_row_pairs(const ember_conv_geometry *g, const ember_qs8_dw *w, const uint8_t *quads,
                                   int64_t row_bytes, int32_t rows, int32_t kw, int8_t *out) {
#define TWICE(p) _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
  const int64_t pixel = (int64_t)g->stride_w * 32, tap = (int64_t)g->dilation_w * 32;
  const __m512i bias = TWICE(w->bias);
  const requant16 q = w->requant_scale ? requant16_float(_mm512_castsi512_ps(TWICE(w->requant_scale)))
                                       : requant16_make(TWICE(w->multiplier), TWICE(w->shift));
  // The pair of pixels from ox (the second only when `pair`) accumulated.
#define DW_PAIR(ox, pair, acc)                                                                        \
  do {                                                                                              \
    acc = bias;                                                                                     \
    for (int32_t r = 0; r < rows; ++r)                                                              \
      for (int32_t kx = 0; kx < kw; ++kx) {                                                         \
        const uint8_t *p = quads + r * row_bytes + (ox) * pixel + kx * tap;                         \
        const __m512i x = pixel == 32 || !(pair) ? _mm512_loadu_si512(p)                            \
            : _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),    \
                                 _mm256_loadu_si256((const __m256i *)(p + pixel)), 1);              \
        acc = _mm512_dpbusd_epi32(acc, x, TWICE((const int8_t *)w->slots + (r * kw + kx) * 64));    \
      }                                                                                             \
  } while (0)
  int32_t ox = 0;
  for (; ox + 8 <= g->out_w; ox += 8) {  // eight pixels: 64 adjacent output bytes, one packed store
    __m512i a, b, c, d;
    DW_PAIR(ox, 1, a);
    DW_PAIR(ox + 2, 1, b);
    DW_PAIR(ox + 4, 1, c);
    DW_PAIR(ox + 6, 1, d);
    store_s8_x4(requantize16(a, &q), requantize16(b, &q), requantize16(c, &q), requantize16(d, &q), w->output_offset,
                w->act_min, w->act_max, 4, out + ox * 8, 64);
  }
  for (; ox < g->out_w; ox += 2) {
    const int32_t pair = ox + 1 < g->out_w;
    __m512i acc;
    DW_PAIR(ox, pair, acc);
    store_s8(requantize16(acc, &q), w->output_offset, w->act_min, w->act_max, pair ? 16 : 8, out + ox * 8);
  }
#undef DW_PAIR
#undef TWICE
}

/// Scratch (ember_dwconv_scratch_bytes): the plain row (ember_dw_plain_row_bytes), then the quad rows of
/// the output row and channel group being computed.
TARGET static void ember_dwconv2d_s8_avx512(const ember_conv_geometry *geometry, const int8_t *input,
                                            const ember_qs8_dw *w, void *scratch, int8_t *output) {
  const ember_conv_geometry run = ember_dw_run_geometry(geometry), *g = &run;
  const int32_t c = g->in_c, width = ember_window_width(g), rows = ember_dw_slot_rows(g, 4);
  const int32_t along = ember_dw_slots_along_row(g), kw = along ? 1 : g->kernel_w;
  const int32_t group = ember_dw_channel_group(g), three_by_three = !along && g->kernel_h == 3 && g->kernel_w == 3;
  const int64_t row_bytes = ember_dw_slot_row_bytes(g);
  int8_t *plain = (int8_t *)scratch;
  uint8_t *quads = (uint8_t *)scratch + ember_dw_plain_row_bytes(g, 4);
  if (!along) fill_u8((uint8_t *)plain, (uint8_t)w->input_zero_point, (int64_t)g->in_w * c);
  const uint8_t pad = (uint8_t)(w->input_zero_point + 128);
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
      int8_t *out = output + ((int64_t)n * g->out_h + oy) * g->out_w * c;
      if (along) dw_s8_plain_row(plain, g, input, n, oy, width + 4 * rows * g->dilation_w, (int8_t)w->input_zero_point);
      for (int32_t g0 = 0; g0 < c; g0 += group) {
        const int32_t count = c - g0 < group ? c - g0 : group;
        if (along) dw_s8_fill_along_row(quads, row_bytes, rows, g, plain, g0, count);
        else
          for (int32_t r = 0; r < rows; ++r)
            dw_s8_fill_tap_rows(quads + r * row_bytes, g, input, plain, n, oy, r, width, g0, count, pad);
        if (c == 8) {
          dw_s8_row_pairs(g, w, quads, row_bytes, rows, kw, out);
          continue;
        }
        for (int32_t c0 = g0; c0 < g0 + count; c0 += 16) {
          const int32_t lanes = g0 + count - c0 < 16 ? g0 + count - c0 : 16;
          const uint8_t *base = quads + (int64_t)(c0 - g0) * 4;
          if (three_by_three) dw_s8_row_3x3(g, w, base, (int64_t)group * 4, row_bytes, rows, kw, c0, lanes, out + c0);
          else dw_s8_row(g, w, base, (int64_t)group * 4, row_bytes, rows, kw, c0, lanes, out + c0);
        }
      }
    }
}

// ------------------------------------------------------------ int8 add / sub
/// One operand of TFLite's int8 ADD recipe, MBQM((x + offset) · 2^left_shift, M, shift), in 32-bit lanes
/// (ember_add_operand_plan says when that is exact); the plan's constants broadcast once per call.
typedef struct {
  __m512i m_hi, m_lo, high_bias, low_bias, negative_fix, below;
  __m128i shift;
} add_operand16;

TARGET static inline add_operand16 add_operand16_make(const ember_add_operand_plan *plan) {
  add_operand16 o;
  o.m_hi = _mm512_set1_epi32(plan->m_hi);
  o.m_lo = _mm512_set1_epi32(plan->m_lo);
  o.high_bias = _mm512_set1_epi32(plan->high_bias);
  o.low_bias = _mm512_set1_epi32(plan->low_bias);
  o.negative_fix = _mm512_set1_epi32(plan->negative_fix);
  o.below = _mm512_set1_epi32(plan->below);
  o.shift = _mm_cvtsi32_si128(plan->shift);
  return o;
}

/// The operand of 16 int8 codes x (as int32): x·M_hi + offset·M_hi + ((x·M_lo + offset·M_lo + C_u) >> S),
/// C_u lower by negative_fix where u = x + offset < 0 (ember_add_operand_plan).
TARGET static inline __m512i add_operand16_apply(__m512i x, const add_operand16 *o) {
  const __m512i high = _mm512_add_epi32(_mm512_mullo_epi32(x, o->m_hi), o->high_bias);
  __m512i low = _mm512_add_epi32(_mm512_mullo_epi32(x, o->m_lo), o->low_bias);
  low = _mm512_mask_sub_epi32(low, _mm512_cmplt_epi32_mask(x, o->below), low, o->negative_fix);
  return _mm512_add_epi32(high, _mm512_sra_epi32(low, o->shift));
}

/// The first n (≤ 16) int8 codes at p as int32 lanes (the rest 0): a plain load when n is 16, else masked.
TARGET static inline __m512i codes16(const int8_t *p, int32_t n) {
  return _mm512_cvtepi8_epi32(n == 16 ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(lanes_mask(n), p));
}

/// 16 int8 codes at p (the first n; n < 16 under a mask) dequantized: (x + offset) · scale in float.
TARGET static inline __m512 dequantize16(const int8_t *p, int32_t n, __m512i offset, __m512 scale) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(codes16(p, n), offset)), scale);
}

/// ember_quantize_float, 16 lanes: v / scale (a division, as the reference), rounded.
TARGET static inline __m512i quantize_float16(__m512 v, __m512 scale) { return round_float16(_mm512_div_ps(v, scale)); }

/// ADD/SUB/MUL in ONNX Runtime's float arithmetic (float_mode), ember_add_s8_ref's / ember_mul_s8_ref's: the
/// dequantized operands combined in float, quantized by the output scale. `op`: 0 add, 1 a − b, 2 mul, 3 b − a.
TARGET static void float_binary_s8_row_avx512(int64_t count, const int8_t *a, const int8_t *b, int32_t a_offset,
                                              int32_t b_offset, float a_scale, float b_scale, float output_scale,
                                              int32_t output_offset, int32_t act_min, int32_t act_max, int32_t op,
                                              int8_t *out) {
  const __m512i ao = _mm512_set1_epi32(a_offset), bo = _mm512_set1_epi32(b_offset);
  const __m512 as = _mm512_set1_ps(a_scale), bs = _mm512_set1_ps(b_scale), os = _mm512_set1_ps(output_scale);
  for (int64_t i = 0; i < count; i += 16) {
    const int32_t n = count - i < 16 ? (int32_t)(count - i) : 16;
    const __m512 x = dequantize16(a + i, n, ao, as), y = dequantize16(b + i, n, bo, bs);
    const __m512 v = op == 0 ? _mm512_add_ps(x, y) : op == 1 ? _mm512_sub_ps(x, y) : op == 3 ? _mm512_sub_ps(y, x)
                                                                                     : _mm512_mul_ps(x, y);
    store_s8(quantize_float16(v, os), output_offset, act_min, act_max, n, out + i);
  }
}

/// The linear form of an int8 ADD/SUB (ember_add_s8_linear_plan): (a·lin_a + b·lin_b + lin_c) >> lin_shift,
/// saturated to int8 and clamped; the form has the exact recipe's bytes for every pair of codes.
TARGET static void add_s8_linear_row_avx512(int64_t count, const int8_t *a, const int8_t *b,
                                            const ember_add_s8_params *p, int8_t *out) {
  const __m512i ka = _mm512_set1_epi32(p->lin_a), kb = _mm512_set1_epi32(p->lin_b), kc = _mm512_set1_epi32(p->lin_c);
  const __m128i shift = _mm_cvtsi32_si128(p->lin_shift);
  const int32_t act_min = p->act_min, act_max = p->act_max, exceptions = p->lin_exceptions;
  int32_t pairs[EMBER_ADD_LINEAR_EXCEPTIONS], values[EMBER_ADD_LINEAR_EXCEPTIONS];
  memcpy(pairs, p->lin_pairs, sizeof pairs);
  memcpy(values, p->lin_values, sizeof values);
  const __m512i low_byte = _mm512_set1_epi32(255);
  for (int64_t i = 0; i < count; i += 16) {
    const int32_t n = count - i < 16 ? (int32_t)(count - i) : 16;
    const __m512i x = codes16(a + i, n), y = codes16(b + i, n);
    __m512i v = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(x, ka), kc), _mm512_mullo_epi32(y, kb));
    v = _mm512_sra_epi32(v, shift);
    if (exceptions) {  // the pairs the form gets wrong, by their key (a & 255) << 8 | (b & 255)
      const __m512i key = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(x, low_byte), 8),
                                          _mm512_and_si512(y, low_byte));
      for (int32_t e = 0; e < exceptions; ++e)
        v = _mm512_mask_mov_epi32(v, _mm512_cmpeq_epi32_mask(key, _mm512_set1_epi32(pairs[e])),
                                  _mm512_set1_epi32(values[e]));
    }
    store_s8(v, 0, act_min, act_max, n, out + i);
  }
}

/// The constants of an int8 ADD row (add_s8_row_avx512).
typedef struct {
  add_operand16 oa, ob;           // the operands in 32-bit lanes (narrow)
  requant16 qa, qb, qo;           // the operands with 64-bit products (not narrow), and the output
  __m512i ao, bo;
  __m128i left;
  int32_t offset, act_min, act_max;
} add_s8_constants;

/// The vectors of an int8 ADD row. Inlined with `narrow` a constant, so that each loop holds only its own
/// constants in registers (with both, the 64-bit form's spilled into the 32-bit one's loop).
TARGET static inline __attribute__((always_inline)) void add_s8_vectors(int64_t count, const int8_t *a, const int8_t *b,
                                                                        const add_s8_constants *k, int32_t narrow,
                                                                        int32_t subtract, int8_t *out) {
  // Whole vectors with plain loads, then the tail under a mask.
  for (int64_t i = 0; i < count; i += 16) {
    const int32_t n = count - i < 16 ? (int32_t)(count - i) : 16;
    const __m512i x = codes16(a + i, n), y = codes16(b + i, n);
    __m512i xa, yb;
    if (narrow) {
      xa = add_operand16_apply(x, &k->oa);
      yb = add_operand16_apply(y, &k->ob);
    } else {
      xa = mbqm_double_with(_mm512_sll_epi32(_mm512_add_epi32(x, k->ao), k->left), &k->qa);
      yb = mbqm_double_with(_mm512_sll_epi32(_mm512_add_epi32(y, k->bo), k->left), &k->qb);
    }
    __m512i raw = subtract == 2 ? _mm512_sub_epi32(yb, xa) : subtract ? _mm512_sub_epi32(xa, yb) : _mm512_add_epi32(xa, yb);
    if (subtract == 3) raw = _mm512_mullo_epi32(raw, raw);  // SQUARED_DIFFERENCE (wrapping, as the reference)
    store_s8(mbqm_double_with(raw, &k->qo), k->offset, k->act_min, k->act_max, n, out + i);
  }
}

/// TFLite int8 ADD (SUB) of two tensors of the same shape: ember_add_s8_ref's arithmetic, 16 lanes. The
/// operands in 32-bit lanes where ember_add_operand_plan allows (TFLite's left shift of 20 does), else
/// with 64-bit products.
TARGET static void add_s8_row_avx512(int64_t count, const int8_t *a, const int8_t *b, const ember_add_s8_params *p,
                                     int32_t subtract, int8_t *out) {
  if (p->float_mode) {
    float_binary_s8_row_avx512(count, a, b, p->a_offset, p->b_offset, p->a_scale, p->b_scale, p->output_scale,
                               p->output_offset, p->act_min, p->act_max, subtract == 2 ? 3 : subtract ? 1 : 0, out);
    return;
  }
  if (p->linear && subtract != 3) {
    add_s8_linear_row_avx512(count, a, b, p, out);
    return;
  }
  ember_add_operand_plan plan_a, plan_b;
  const int32_t narrow = ember_add_operand_plan_make(p->left_shift, p->a_multiplier, p->a_shift, p->a_offset, &plan_a) &
                         ember_add_operand_plan_make(p->left_shift, p->b_multiplier, p->b_shift, p->b_offset, &plan_b);
  add_s8_constants k;
  k.oa = add_operand16_make(&plan_a);
  k.ob = add_operand16_make(&plan_b);
  k.qa = requant16_make(_mm512_set1_epi32(p->a_multiplier), _mm512_set1_epi32(p->a_shift));
  k.qb = requant16_make(_mm512_set1_epi32(p->b_multiplier), _mm512_set1_epi32(p->b_shift));
  k.qo = requant16_make(_mm512_set1_epi32(p->output_multiplier), _mm512_set1_epi32(p->output_shift));
  k.ao = _mm512_set1_epi32(p->a_offset);
  k.bo = _mm512_set1_epi32(p->b_offset);
  k.left = _mm_cvtsi32_si128(p->left_shift);
  // Read once: the stores may alias p as far as the compiler knows, so it would reload them per vector.
  k.offset = p->output_offset;
  k.act_min = p->act_min;
  k.act_max = p->act_max;
  if (narrow) add_s8_vectors(count, a, b, &k, 1, subtract, out);
  else add_s8_vectors(count, a, b, &k, 0, subtract, out);
}

/// TFLite int8 MUL, ember_mul_s8_ref's arithmetic, 16 lanes (see ember_kernel_table.mul_s8).
TARGET static void ember_mul_s8_avx512(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                                       const ember_mul_s8_params *p, int8_t *out) {
  const __m512i ao = _mm512_set1_epi32(p->a_offset), bo = _mm512_set1_epi32(p->b_offset);
  if (p->float_mode) {
    for (int64_t r = 0; r < rows; ++r)
      float_binary_s8_row_avx512(cols, a + r * cols, b + r * b_row_stride, p->a_offset, p->b_offset, p->a_scale,
                                 p->b_scale, p->output_scale, p->output_offset, p->act_min, p->act_max, 2,
                                 out + r * cols);
    return;
  }
  const requant16 q = requant16_make(_mm512_set1_epi32(p->output_multiplier), _mm512_set1_epi32(p->output_shift));
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t *ar = a + r * cols, *br = b + r * b_row_stride;
    for (int64_t i = 0; i < cols; i += 16) {
      const int32_t n = cols - i < 16 ? (int32_t)(cols - i) : 16;
      const __mmask16 m = lanes_mask(n);
      const __m128i xs = n == 16 ? _mm_loadu_si128((const __m128i *)(ar + i)) : _mm_maskz_loadu_epi8(m, ar + i);
      const __m128i ys = n == 16 ? _mm_loadu_si128((const __m128i *)(br + i)) : _mm_maskz_loadu_epi8(m, br + i);
      const __m512i x = _mm512_add_epi32(_mm512_cvtepi8_epi32(xs), ao);
      const __m512i y = _mm512_add_epi32(_mm512_cvtepi8_epi32(ys), bo);
      store_s8(mbqm_double_with(_mm512_mullo_epi32(x, y), &q), p->output_offset, p->act_min, p->act_max, n,
               out + r * cols + i);
    }
  }
}

TARGET static void ember_add_s8_avx512(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                                       const ember_add_s8_params *p, int32_t subtract, int8_t *out) {
  for (int64_t r = 0; r < rows; ++r) add_s8_row_avx512(cols, a + r * cols, b + r * b_row_stride, p, subtract, out + r * cols);
}

// ------------------------------------------------------------------- f32
// The float tiles read floats from an ember_run_source.

/// R rows × P 16-channel panels (both constants). KIND f32 reads f32 weights; KIND f16 reads IEEE-half
/// weights (an fp16 rung's, kept at half the bytes) and widens each panel row as it is loaded.
#define DEFINE_F32_TILE(KIND, LOAD_WEIGHTS, R, P)                                                   \
  TARGET static void KIND##_tile_##R##_##P(const ember_run_source *src, int64_t col, const ember_f32_gemm *w, int32_t panel, \
                                           float *out, int64_t out_stride) {                        \
    const int32_t k = w->k, c0 = panel * 16;                                                        \
    const int64_t pixel = src->pixel;                                                               \
    __m512 acc[R][P];                                                                               \
    for (int32_t j = 0; j < P; ++j) {                                                               \
      const __m512 bias = _mm512_loadu_ps(w->bias + c0 + 16 * j);                                   \
      _Pragma("GCC unroll 16") for (int32_t r = 0; r < R; ++r) acc[r][j] = bias;                    \
    }                                                                                               \
    int64_t kk = (int64_t)panel * k * 16;  /* the weights of input kk of panel `panel` */           \
    for (int32_t t = 0; t < src->runs; ++t) {                                                       \
      const uint8_t *run = src->run[t] + col;                                                       \
      for (int32_t i = 0; i < src->length; ++i, kk += 16) {                                         \
        __m512 wv[P];                                                                               \
        for (int32_t j = 0; j < P; ++j) wv[j] = LOAD_WEIGHTS(kk + (int64_t)j * k * 16);             \
        if (R > 1)  /* EMBER_PREFETCH_F32_GEMM_WEIGHTS */                                             \
          for (int32_t j = 0; j < P; ++j)                                                           \
            EMBER_PREFETCH_F32_GEMM_WEIGHTS(w, kk + (int64_t)j * k * 16 + 16 * EMBER_F32_PREFETCH_AHEAD); \
        /* Unrolled (up to 14 rows), so that acc stays in registers. */                              \
        _Pragma("GCC unroll 16") for (int32_t r = 0; r < R; ++r) {                                  \
          const __m512 x = _mm512_set1_ps(((const float *)(run + r * pixel))[i]);                   \
          for (int32_t j = 0; j < P; ++j) acc[r][j] = _mm512_fmadd_ps(x, wv[j], acc[r][j]);         \
        }                                                                                           \
      }                                                                                             \
    }                                                                                               \
    const __m512 lo = _mm512_set1_ps(w->act_min), hi = _mm512_set1_ps(w->act_max);                 \
    /* Unrolled, so that acc stays in registers (see DEFINE_QS8_TILE). */                            \
    _Pragma("GCC unroll 4") for (int32_t j = 0; j < P; ++j) {                                       \
      const int32_t c = c0 + 16 * j, count = w->n - c < 16 ? w->n - c : 16;                         \
      if (count <= 0) continue;                                                                     \
      _Pragma("GCC unroll 16") for (int32_t r = 0; r < R; ++r)                                      \
        _mm512_mask_storeu_ps(out + r * out_stride + c, lanes_mask(count), _mm512_min_ps(_mm512_max_ps(acc[r][j], lo), hi)); \
    }                                                                                               \
  }
#define LOAD_F32_WEIGHTS(at) _mm512_loadu_ps(w->weights + (at))
#define LOAD_F16_WEIGHTS(at) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w->weights_f16 + (at))))
#define DEFINE_F32_TILES(KIND, LOAD)                                                                 \
  DEFINE_F32_TILE(KIND, LOAD, 8, 1) DEFINE_F32_TILE(KIND, LOAD, 8, 2)                               \
  DEFINE_F32_TILE(KIND, LOAD, 4, 1) DEFINE_F32_TILE(KIND, LOAD, 4, 2) DEFINE_F32_TILE(KIND, LOAD, 4, 3) \
  DEFINE_F32_TILE(KIND, LOAD, 4, 4) DEFINE_F32_TILE(KIND, LOAD, 3, 1) DEFINE_F32_TILE(KIND, LOAD, 3, 2) \
  DEFINE_F32_TILE(KIND, LOAD, 3, 3) DEFINE_F32_TILE(KIND, LOAD, 3, 4) DEFINE_F32_TILE(KIND, LOAD, 2, 1) \
  DEFINE_F32_TILE(KIND, LOAD, 2, 2) DEFINE_F32_TILE(KIND, LOAD, 2, 3) DEFINE_F32_TILE(KIND, LOAD, 2, 4) \
  DEFINE_F32_TILE(KIND, LOAD, 1, 1) DEFINE_F32_TILE(KIND, LOAD, 1, 2) DEFINE_F32_TILE(KIND, LOAD, 1, 3) \
  DEFINE_F32_TILE(KIND, LOAD, 1, 4)                                                                  \
  static const f32_tile_fn KIND##_tiles[MR + 1][5] = {                                               \
    [8] = {NULL, KIND##_tile_8_1, KIND##_tile_8_2},                                                  \
    [4] = {NULL, KIND##_tile_4_1, KIND##_tile_4_2, KIND##_tile_4_3, KIND##_tile_4_4},                \
    [3] = {NULL, KIND##_tile_3_1, KIND##_tile_3_2, KIND##_tile_3_3, KIND##_tile_3_4},                \
    [2] = {NULL, KIND##_tile_2_1, KIND##_tile_2_2, KIND##_tile_2_3, KIND##_tile_2_4},                \
    [1] = {NULL, KIND##_tile_1_1, KIND##_tile_1_2, KIND##_tile_1_3, KIND##_tile_1_4},                \
  };
typedef void (*f32_tile_fn)(const ember_run_source *, int64_t, const ember_f32_gemm *, int32_t, float *, int64_t);
DEFINE_F32_TILES(f32, LOAD_F32_WEIGHTS)
DEFINE_F32_TILES(f16, LOAD_F16_WEIGHTS)

/// Short GEMMs (5–7 or 9–14 rows: a row of a small image, or a pointwise layer on one) run as one tile of all
/// their rows, so the weights stream through once instead of in 8 + 4 + … passes. Wide layers on small
/// images are bound by that stream: EfficientNet-B0's 192 → 1152 layers on 3 × 3 pixels read 884 KB a pass.
/// Panels per tile keep R × P accumulators, P weights and a broadcast within the 32 registers.
#define F32_TALL_PANELS(R) ((R) <= 6 ? 4 : (R) == 7 ? 3 : 2)
#define DEFINE_F32_TALL_TILES(KIND, LOAD)                                                            \
  DEFINE_F32_TILE(KIND, LOAD, 5, 3) DEFINE_F32_TILE(KIND, LOAD, 5, 4) DEFINE_F32_TILE(KIND, LOAD, 6, 1) \
  DEFINE_F32_TILE(KIND, LOAD, 6, 2) DEFINE_F32_TILE(KIND, LOAD, 6, 3) DEFINE_F32_TILE(KIND, LOAD, 6, 4) \
  DEFINE_F32_TILE(KIND, LOAD, 5, 1) DEFINE_F32_TILE(KIND, LOAD, 5, 2) DEFINE_F32_TILE(KIND, LOAD, 7, 1) \
  DEFINE_F32_TILE(KIND, LOAD, 7, 2) DEFINE_F32_TILE(KIND, LOAD, 7, 3) DEFINE_F32_TILE(KIND, LOAD, 9, 1) \
  DEFINE_F32_TILE(KIND, LOAD, 9, 2) DEFINE_F32_TILE(KIND, LOAD, 10, 1) DEFINE_F32_TILE(KIND, LOAD, 10, 2) \
  DEFINE_F32_TILE(KIND, LOAD, 11, 1) DEFINE_F32_TILE(KIND, LOAD, 11, 2) DEFINE_F32_TILE(KIND, LOAD, 12, 1) \
  DEFINE_F32_TILE(KIND, LOAD, 12, 2) DEFINE_F32_TILE(KIND, LOAD, 13, 1) DEFINE_F32_TILE(KIND, LOAD, 13, 2) \
  DEFINE_F32_TILE(KIND, LOAD, 14, 1) DEFINE_F32_TILE(KIND, LOAD, 14, 2)                               \
  static const f32_tile_fn KIND##_tall_tiles[15][5] = {                                              \
    [5] = {NULL, KIND##_tile_5_1, KIND##_tile_5_2, KIND##_tile_5_3, KIND##_tile_5_4},                \
    [6] = {NULL, KIND##_tile_6_1, KIND##_tile_6_2, KIND##_tile_6_3, KIND##_tile_6_4},                \
    [7] = {NULL, KIND##_tile_7_1, KIND##_tile_7_2, KIND##_tile_7_3},                                 \
    [9] = {NULL, KIND##_tile_9_1, KIND##_tile_9_2},   [10] = {NULL, KIND##_tile_10_1, KIND##_tile_10_2}, \
    [11] = {NULL, KIND##_tile_11_1, KIND##_tile_11_2}, [12] = {NULL, KIND##_tile_12_1, KIND##_tile_12_2}, \
    [13] = {NULL, KIND##_tile_13_1, KIND##_tile_13_2}, [14] = {NULL, KIND##_tile_14_1, KIND##_tile_14_2}, \
  };
DEFINE_F32_TALL_TILES(f32, LOAD_F32_WEIGHTS)
DEFINE_F32_TALL_TILES(f16, LOAD_F16_WEIGHTS)

/// Layers of at most 8 output channels: R rows × the first 8 lanes of panel 0 in 256-bit registers (two
/// 256-bit FMAs per cycle where one 512-bit one issues; up to 16 rows of accumulators).
#define DEFINE_F32_HALF_TILE(KIND, LOAD_HALF, R)                                                     \
  TARGET static void KIND##_half_tile_##R(const ember_run_source *src, int64_t col, const ember_f32_gemm *w, float *out, \
                                          int64_t out_stride) {                                     \
    const int64_t pixel = src->pixel;                                                               \
    __m256 acc[R];                                                                                  \
    const __m256 bias = _mm256_loadu_ps(w->bias);                                                   \
    for (int32_t r = 0; r < R; ++r) acc[r] = bias;                                                  \
    int64_t kk = 0;                                                                                 \
    for (int32_t t = 0; t < src->runs; ++t) {                                                       \
      const uint8_t *run = src->run[t] + col;                                                       \
      for (int32_t i = 0; i < src->length; ++i, kk += 16) {                                         \
        const __m256 wv = LOAD_HALF(kk);                                                            \
        for (int32_t r = 0; r < R; ++r)                                                             \
          acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(((const float *)(run + r * pixel))[i]), wv, acc[r]); \
      }                                                                                             \
    }                                                                                               \
    const __m256 lo = _mm256_set1_ps(w->act_min), hi = _mm256_set1_ps(w->act_max);                 \
    const __mmask8 m = (__mmask8)((1u << w->n) - 1);                                                \
    _Pragma("GCC unroll 16") for (int32_t r = 0; r < R; ++r)                                        \
      _mm256_mask_storeu_ps(out + r * out_stride, m, _mm256_min_ps(_mm256_max_ps(acc[r], lo), hi));  \
  }
#define LOAD_F32_HALF(at) _mm256_loadu_ps(w->weights + (at))
#define LOAD_F16_HALF(at) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w->weights_f16 + (at))))
#define DEFINE_F32_HALF_TILES(KIND, LOAD)                                                            \
  DEFINE_F32_HALF_TILE(KIND, LOAD, 16) DEFINE_F32_HALF_TILE(KIND, LOAD, 8) DEFINE_F32_HALF_TILE(KIND, LOAD, 4) \
  DEFINE_F32_HALF_TILE(KIND, LOAD, 2) DEFINE_F32_HALF_TILE(KIND, LOAD, 1)                          \
  static const f32_half_tile_fn KIND##_half_tiles[17] = {                                            \
    [16] = KIND##_half_tile_16, [8] = KIND##_half_tile_8, [4] = KIND##_half_tile_4, [2] = KIND##_half_tile_2, \
    [1] = KIND##_half_tile_1,                                                                        \
  };
typedef void (*f32_half_tile_fn)(const ember_run_source *, int64_t, const ember_f32_gemm *, float *, int64_t);
DEFINE_F32_HALF_TILES(f32, LOAD_F32_HALF)
DEFINE_F32_HALF_TILES(f16, LOAD_F16_HALF)

/// `rows` consecutive GEMM rows, the first reading `col` bytes into the source runs, × every panel of
/// `w` (whichever its weights' type), in tiles of 8, 4 or fewer rows.
TARGET static void f32_rows(int32_t rows, const ember_run_source *src, int64_t col, const ember_f32_gemm *w, float *out,
                            int64_t out_stride) {
  const f32_tile_fn(*tiles)[5] = w->weights_f16 ? f16_tiles : f32_tiles;
  const f32_half_tile_fn *half = w->weights_f16 ? f16_half_tiles : f32_half_tiles;
  if (w->n > 8 && ((rows >= 5 && rows <= 7) || (rows >= 9 && rows <= 14))) {
    const f32_tile_fn(*tall)[5] = w->weights_f16 ? f16_tall_tiles : f32_tall_tiles;
    const int32_t panels = w->n_padded / 16, step = F32_TALL_PANELS(rows);
    for (int32_t panel = 0; panel < panels; panel += step)
      tall[rows][panels - panel < step ? panels - panel : step](src, col, w, panel, out, out_stride);
    return;
  }
  EMBER_ROW_TILES(rows, w->n_padded / 16, w->n <= 8, half[r](src, col, w, out, out_stride),
                  tiles[r][live](src, col, w, panel, out, out_stride), { col += r * src->pixel; out += r * out_stride; });
}

TARGET static int32_t ember_unary_f32_avx512(ember_unary_op op, float alpha, int64_t count, const float *in, float *out);

/// A fused activation (post_unary) over `count` outputs just written, in place.
TARGET static inline void post_unary_avx512(int32_t post, float alpha, int64_t count, float *out) {
  if (post) (void)ember_unary_f32_avx512((ember_unary_op)(post - 1), alpha, count, out, out);
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
    post_unary_avx512(w->post_unary, w->post_alpha, (int64_t)r * w->n, output + p * w->n);
  }
}


/// Pointwise layers multiply the input rows in place; others read every tap of an output row from its
/// window of input rows, a run per tap row (kernel_w·in_c floats) or per tap when dilated.
TARGET static void ember_conv2d_f32_avx512(const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w,
                                           void *scratch, float *output) {
  if (ember_conv_is_pointwise(g)) {
    fc_f32_strided((int64_t)g->batch * g->out_h * g->out_w, input, g->in_c, w, output);
    return;
  }
  if (ember_conv_f32_weight_stationary(g, w->n_padded)) {
    const f32_tile_fn(*tiles)[5] = w->weights_f16 ? f16_tiles : f32_tiles;
    EMBER_WEIGHT_STATIONARY_CONV(g, input, scratch, output, w->n_padded / 16, w->n, 8,
                                 tiles[r][live](&src, col, w, panel, out, w->n));
    post_unary_avx512(w->post_unary, w->post_alpha, (int64_t)g->batch * g->out_h * g->out_w * w->n, output);
    return;
  }
  const int32_t width = ember_window_width(g), length = g->dilation_w == 1 ? g->kernel_w * g->in_c : g->in_c;
  ember_window win = ember_window_start(g, 4, scratch);
  EMBER_WINDOW_CONV(g, &win, 4, length, ember_fill_window_row_f32((float *)(void *)dst, g, input, n, iy, width), {
    f32_rows(g->out_w, &src, 0, w, output + out_at * w->n, w->n);
    post_unary_avx512(w->post_unary, w->post_alpha, (int64_t)g->out_w * w->n, output + out_at * w->n);
  });
}

TARGET static void ember_fully_connected_f32_avx512(int64_t rows, const float *input, const ember_f32_gemm *w, float *output) {
  fc_f32_strided(rows, input, w->k, w, output);
}

// ------------------------------------------------------------------- INT4 block-32 fully connected
/// U outputs' dot products over every block: per block the 16 bytes of nibbles (XOR 0x88 flips each
/// nibble's sign bit, so n ^ 8 is 0…15) made floats by the exponent trick, one multiply and one FMA
/// against the regrouped inputs, then scaled by the block's half into the output's accumulator.
#define Q4_BLOCKS_AVX512(U, w, xs, out)                                                              \
  do {                                                                                              \
    __m512 acc_[U];                                                                                 \
    for (int32_t u = 0; u < (U); ++u) acc_[u] = _mm512_setzero_ps();                               \
    for (int32_t b = 0; b < blocks; ++b) {                                                          \
      const __m512 xe = _mm512_loadu_ps((xs) + 32 * b), xo = _mm512_loadu_ps((xs) + 32 * b + 16);   \
      for (int32_t u = 0; u < (U); ++u) {                                                           \
        const uint8_t *blk = (w) + u * row_bytes + 18 * (int64_t)b;                                 \
        const __m512i t = _mm512_xor_si512(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 2))), flip); \
        const __m512 lo = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_ternarylogic_epi32(t, nibble, magic, 0xEA)), offset); \
        const __m512 hi = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_or_si512(_mm512_srli_epi32(t, 4), magic)), offset); \
        uint16_t half_;                                                                             \
        memcpy(&half_, blk, 2);                                                                     \
        const __m512 scale_ = _mm512_cvtph_ps(_mm256_set1_epi16((short)half_));  /* no scalar round trip */ \
        acc_[u] = _mm512_fmadd_ps(_mm512_fmadd_ps(xo, hi, _mm512_mul_ps(xe, lo)), scale_, acc_[u]);  \
      }                                                                                             \
    }                                                                                               \
    for (int32_t u = 0; u < (U); ++u) {                                                             \
      const float v = _mm512_reduce_add_ps(acc_[u]) + (bias ? bias[o + u] : 0.0f);                 \
      (out)[u] = v < act_min ? act_min : v > act_max ? act_max : v;                                 \
    }                                                                                               \
  } while (0)

TARGET static void fully_connected_q4b32_avx512(int64_t rows, int32_t in_features, int32_t out_features,
                                                const float *input, const uint8_t *weights, const float *bias,
                                                float act_min, float act_max, void *scratch, float *output) {
  const int32_t blocks = in_features / 32;
  const __m512i flip = _mm512_set1_epi32(0x88), nibble = _mm512_set1_epi32(0xF), magic = _mm512_set1_epi32(0x4B000000);
  const __m512 offset = _mm512_set1_ps(8388616.0f);  // 2^23 + 8
  EMBER_Q4_ROWS(rows, in_features, out_features, input, weights, scratch, output, Q4_BLOCKS_AVX512);
}

// ------------------------------------------------------------------- f32 Winograd F(2×2, 3×3)
#define WG_TARGET TARGET
#define WG_ISA EMBER_ISA_AVX512
#define WG_VEC __m512
#define WG_LANES 16
#define WG_LOAD(p) _mm512_loadu_ps(p)
#define WG_STORE(p, v) _mm512_storeu_ps(p, v)
#define WG_LOADN(p, n) _mm512_maskz_loadu_ps(lanes_mask(n), p)
#define WG_STOREN(p, v, n) _mm512_mask_storeu_ps(p, lanes_mask(n), v)
#define WG_ADD _mm512_add_ps
#define WG_SUB _mm512_sub_ps
#define WG_CLAMP(v, lo, hi) _mm512_min_ps(_mm512_max_ps(v, lo), hi)
#define WG_SET1 _mm512_set1_ps
#define WG_ZERO _mm512_setzero_ps
#define WG_GEMM f32_gemm_strided
#define WG_FUNCTION ember_conv2d_winograd_f32_avx512
#include "ember_winograd.h"

// ------------------------------------------------------------------- f32 depthwise
// Taps read from the window of input rows (0.0 as padding, which adds nothing),
// per output row and 16-channel block, 3×3 weights in registers and, with stride 1, DW_GROUP adjacent
// pixels sharing each tap row's loads; 8-channel 3×3 layers two pixels per vector.

/// 16 floats of f32 or f16 weights at element `at`.
TARGET static inline __m512 dw_f32_weights(const ember_f32_dw *w, int64_t at) {
  return w->weights_f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w->weights_f16 + at)))
                        : _mm512_loadu_ps(w->weights + at);
}

TARGET static void dw_f32_row_3x3(const ember_conv_geometry *g, const ember_f32_dw *w, const float *const *rows,
                                  int32_t c0, int32_t count, float *out) {
  __m512 wv[DW_3X3_TAPS];
  for (int32_t t = 0; t < DW_3X3_TAPS; ++t) wv[t] = dw_f32_weights(w, (int64_t)t * w->c_padded + c0);
  const __m512 bias = _mm512_loadu_ps(w->bias + c0);
  const __m512 lo = _mm512_set1_ps(w->act_min), hi = _mm512_set1_ps(w->act_max);
  const __mmask16 m = lanes_mask(count);
  const int64_t c = g->in_c, pixel = g->stride_w * c, tap = g->dilation_w * c;
  int32_t ox = 0;
  if (g->stride_w == 1 && g->dilation_w == 1)
    for (; ox + DW_GROUP <= g->out_w; ox += DW_GROUP) {
      __m512 acc[DW_GROUP];
      for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = bias;
      for (int32_t ky = 0; ky < 3; ++ky) {
        const float *row = rows[ky] + c0 + ox * c;
        __m512 x[DW_GROUP + 2];
        for (int32_t i = 0; i < DW_GROUP + 2; ++i) x[i] = _mm512_maskz_loadu_ps(m, row + i * c);
        for (int32_t j = 0; j < DW_GROUP; ++j)
          for (int32_t kx = 0; kx < 3; ++kx) acc[j] = _mm512_fmadd_ps(x[j + kx], wv[3 * ky + kx], acc[j]);
      }
      for (int32_t j = 0; j < DW_GROUP; ++j)
        _mm512_mask_storeu_ps(out + (ox + j) * c, m, _mm512_min_ps(_mm512_max_ps(acc[j], lo), hi));
    }
  for (; ox < g->out_w; ++ox) {  // one chain per tap row: a single chain of 9 FMAs is latency-bound
    __m512 acc[3] = {bias, _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int32_t ky = 0; ky < 3; ++ky)
      for (int32_t kx = 0; kx < 3; ++kx)
        acc[ky] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, rows[ky] + c0 + ox * pixel + kx * tap), wv[3 * ky + kx], acc[ky]);
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), acc[2]);
    _mm512_mask_storeu_ps(out + ox * c, m, _mm512_min_ps(_mm512_max_ps(sum, lo), hi));
  }
}

/// Any kernel, stride and dilation: DW_GROUP pixels at a time, each tap's weights loaded once for all of
/// them and DW_GROUP independent FMA chains (one chain per pixel is bound by the FMA's latency: a 5×5
/// layer ran at a fifth of the FMA's rate), each pixel's taps in the same order as alone.
TARGET static void dw_f32_row_any(const ember_conv_geometry *g, const ember_f32_dw *w, const float *const *rows,
                                  int32_t c0, int32_t count, float *out) {
  const __m512 bias = _mm512_loadu_ps(w->bias + c0);
  const __m512 lo = _mm512_set1_ps(w->act_min), hi = _mm512_set1_ps(w->act_max);
  const __mmask16 m = lanes_mask(count);
  const int64_t c = g->in_c, pixel = g->stride_w * c, tap = g->dilation_w * c;
  int32_t ox = 0;
  // A last group of DW_GROUP − 1 pixels runs as a whole group too, its extra lane repeating its last
  // pixel (not stored): three pixels alone would be three latency-bound pairs of chains.
  for (; g->out_w - ox >= DW_GROUP - 1; ox += DW_GROUP) {
    const int32_t live = g->out_w - ox < DW_GROUP ? g->out_w - ox : DW_GROUP;
    int64_t at[DW_GROUP];
    for (int32_t j = 0; j < DW_GROUP; ++j) at[j] = (j < live ? j : live - 1) * pixel;
    __m512 acc[DW_GROUP];
    for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = bias;
    int64_t f = c0;
    for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
      const float *p = rows[ky] + c0 + ox * pixel;
      for (int32_t kx = 0; kx < g->kernel_w; ++kx, p += tap, f += w->c_padded) {
        const __m512 wv = dw_f32_weights(w, f);
        for (int32_t j = 0; j < DW_GROUP; ++j) acc[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + at[j]), wv, acc[j]);
      }
    }
    for (int32_t j = 0; j < live; ++j)
      _mm512_mask_storeu_ps(out + (ox + j) * c, m, _mm512_min_ps(_mm512_max_ps(acc[j], lo), hi));
  }
  for (; ox < g->out_w; ++ox) {
    // Even and odd tap rows on two chains (one chain of 25 FMAs is latency-bound), in named registers:
    // accumulators indexed at run time would live on the stack.
    __m512 even = bias, odd = _mm512_setzero_ps();
    int32_t ky = 0;
    for (; ky + 2 <= g->kernel_h; ky += 2) {
      const float *p = rows[ky] + c0 + ox * pixel, *q = rows[ky + 1] + c0 + ox * pixel;
      const int64_t f = c0 + (int64_t)ky * g->kernel_w * w->c_padded;
      for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
        even = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + kx * tap), dw_f32_weights(w, f + kx * w->c_padded), even);
        odd = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + kx * tap),
                              dw_f32_weights(w, f + (int64_t)(g->kernel_w + kx) * w->c_padded), odd);
      }
    }
    if (ky < g->kernel_h) {
      const float *p = rows[ky] + c0 + ox * pixel;
      const int64_t f = c0 + (int64_t)ky * g->kernel_w * w->c_padded;
      for (int32_t kx = 0; kx < g->kernel_w; ++kx)
        even = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p + kx * tap), dw_f32_weights(w, f + kx * w->c_padded), even);
    }
    _mm512_mask_storeu_ps(out + ox * c, m, _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(even, odd), lo), hi));
  }
}

/// An output row of an 8-channel 3×3 layer, two adjacent pixels per vector (see dw_s8_row_pairs).
TARGET static void dw_f32_row_pairs(const ember_conv_geometry *g, const ember_f32_dw *w, const float *const *rows,
                                    float *out) {
  __m512 wv[DW_3X3_TAPS];
  for (int32_t t = 0; t < DW_3X3_TAPS; ++t) {
    const __m512 v = dw_f32_weights(w, (int64_t)t * w->c_padded);
    wv[t] = _mm512_shuffle_f32x4(v, v, 0x44);  // channels 0–7 in both halves
  }
  const __m512 b = _mm512_loadu_ps(w->bias), bias = _mm512_shuffle_f32x4(b, b, 0x44);
  const __m512 lo = _mm512_set1_ps(w->act_min), hi = _mm512_set1_ps(w->act_max);
  const int64_t pixel = (int64_t)g->stride_w * 8, tap = (int64_t)g->dilation_w * 8;
  for (int32_t ox = 0; ox < g->out_w; ox += 2) {
    const __mmask16 m = ox + 1 < g->out_w ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
    __m512 acc = bias;
    for (int32_t ky = 0; ky < 3; ++ky)
      for (int32_t kx = 0; kx < 3; ++kx) {
        const float *p = rows[ky] + ox * pixel + kx * tap;
        const __m512 x = pixel == 8 ? _mm512_maskz_loadu_ps(m, p)
                                    : _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)),
                                                         _mm256_maskz_loadu_ps((__mmask8)(m >> 8), p + pixel), 1);
        acc = _mm512_fmadd_ps(x, wv[3 * ky + kx], acc);
      }
    _mm512_mask_storeu_ps(out + ox * 8, m, _mm512_min_ps(_mm512_max_ps(acc, lo), hi));
  }
}

EMBER_DEFINE_FILL_WINDOW_ROW_F32_DW(f32_gemm_strided, post_unary_avx512)

TARGET static void ember_dwconv2d_f32_avx512(const ember_conv_geometry *g, const float *input, const ember_f32_dw *w,
                                             void *scratch, float *output) {
  const int32_t c = g->in_c, width = ember_window_width(g), three_by_three = g->kernel_h == 3 && g->kernel_w == 3;
  ember_window win = ember_window_start(g, 4, scratch);
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
      EMBER_WINDOW_ROWS(g, &win, n, oy, fill_window_row_f32_dw((float *)(void *)dst, g, w, input, n, iy, width));
      const float *const *rows = (const float *const *)win.row;
      float *out = output + ((int64_t)n * g->out_h + oy) * g->out_w * c;
      if (three_by_three && c == 8) {
        dw_f32_row_pairs(g, w, rows, out);
      } else {
        for (int32_t c0 = 0; c0 < c; c0 += 16) {
          const int32_t count = c - c0 < 16 ? c - c0 : 16;
          // 3×3 with stride and dilation 1: weights in registers, shared tap-row loads; else grouped pixels.
          if (three_by_three && g->stride_w == 1 && g->dilation_w == 1) dw_f32_row_3x3(g, w, rows, c0, count, out + c0);
          else dw_f32_row_any(g, w, rows, c0, count, out + c0);
        }
      }
      post_unary_avx512(w->post_unary, w->post_alpha, (int64_t)g->out_w * c, out);
    }
}


// ------------------------------------------------------------ f32 elementwise
/// ember_binary_f32_ref, 16 lanes per step along each innermost row (an operand whose row is one
/// broadcast value is splatted). max/min give the reference's (x > y ? x : y) and (x < y ? x : y),
/// and the clamp keeps NaN as the reference's does, so the results are the reference's bits.
#define BINARY_F32_ROWS(EXPR)                                                                       \
  EMBER_FOR_EACH_BROADCAST_ROW(bc, {                                                               \
    if (inner == 0) break;                                                                        \
    const __m512 a_splat = _mm512_set1_ps(a[ai]), b_splat = _mm512_set1_ps(b[bi]);                                    \
    for (int64_t i = 0; i < inner; i += 16) {                                                     \
      const __mmask16 m = lanes_mask(inner - i < 16 ? (int32_t)(inner - i) : 16);                                                          \
      const __m512 x = a_step ? _mm512_maskz_loadu_ps(m, a + ai + i) : a_splat;                                     \
      const __m512 y = b_step ? _mm512_maskz_loadu_ps(m, b + bi + i) : b_splat;                                     \
      const __m512 r = EXPR;                                                                         \
      _mm512_mask_storeu_ps(out + oi + i, m, _mm512_min_ps(hi_v, _mm512_max_ps(lo_v, r)));                                                        \
    }                                                                                            \
  })

TARGET static void ember_binary_f32_avx512(ember_binary_op op, const ember_broadcast *bc, const float *a, const float *b,
                                   float act_min, float act_max, float *out) {
  const __m512 lo_v = _mm512_set1_ps(act_min), hi_v = _mm512_set1_ps(act_max);
  switch (op) {
  case EMBER_BINARY_ADD: BINARY_F32_ROWS(_mm512_add_ps(x, y)); break;
  case EMBER_BINARY_SUB: BINARY_F32_ROWS(_mm512_sub_ps(x, y)); break;
  case EMBER_BINARY_MUL: BINARY_F32_ROWS(_mm512_mul_ps(x, y)); break;
  case EMBER_BINARY_DIV: BINARY_F32_ROWS(_mm512_div_ps(x, y)); break;
  case EMBER_BINARY_MAX: BINARY_F32_ROWS(_mm512_max_ps(x, y)); break;
  case EMBER_BINARY_MIN: BINARY_F32_ROWS(_mm512_min_ps(x, y)); break;
  case EMBER_BINARY_PRELU:
    BINARY_F32_ROWS(_mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ), _mm512_mul_ps(x, y), x));
    break;
  case EMBER_BINARY_SQUARED_DIFFERENCE:
    BINARY_F32_ROWS(_mm512_mul_ps(_mm512_sub_ps(x, y), _mm512_sub_ps(x, y)));
    break;
  default: ember_binary_f32_ref(op, bc, a, b, act_min, act_max, out); break;  // the reference-only functions
  }
}

// ------------------------------------------------------------ int32 sums to int8
/// ember_kernel_table.requantize_s32: each pixel's channels 16 at a time, double rounding.
TARGET static void ember_requantize_s32_avx512(int64_t pixels, int32_t channels, const int32_t *acc, const int32_t *bias,
                                               const ember_requant *rq, int8_t *out) {
  for (int64_t p = 0; p < pixels; ++p)
    for (int32_t c = 0; c < channels; c += 16) {
      const int32_t count = channels - c < 16 ? channels - c : 16;
      const __mmask16 m = lanes_mask(count);
      __m512i v = _mm512_maskz_loadu_epi32(m, acc + p * channels + c);
      if (bias) v = _mm512_add_epi32(v, _mm512_maskz_loadu_epi32(m, bias + c));
      const requant16 q = requant16_make(_mm512_maskz_loadu_epi32(m, rq->multiplier + c),
                                         _mm512_maskz_loadu_epi32(m, rq->shift + c));
      store_s8(mbqm_double_with(v, &q), rq->output_offset, rq->act_min, rq->act_max, count, out + p * channels + c);
    }
}

// ------------------------------------------------------------ int8 bilinear resize
/// ember_resize_bilinear_s8_ref's bytes, channels 16 at a time: per output pixel the four weights
/// wy·wx in scalar, then Σ x·w in int32 (exact, see ember_interpolation_values_integer) and the
/// reference's rounding, (|v| + 2^19) >> 20 with v's sign (its division truncates toward zero).
TARGET static void ember_resize_bilinear_s8_avx512(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                                   int32_t out_h, int32_t out_w, int32_t align_corners,
                                                   int32_t half_pixel_centers, const int8_t *in, int8_t *out) {
  const int32_t hs = ember_resize_scale_10(in_h, out_h, align_corners);
  const int32_t ws = ember_resize_scale_10(in_w, out_w, align_corners);
  const __m512i half = _mm512_set1_epi32(1 << 19);
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t y = 0; y < out_h; ++y) {
      const ember_bilinear_axis ay = ember_bilinear_axis_at(y, hs, half_pixel_centers, in_h);
      const int32_t wy0 = ay.w_lower, wy1 = ay.w_upper;
      const int8_t *row0 = in + ((int64_t)n * in_h + ay.lower) * in_w * channels;
      const int8_t *row1 = in + ((int64_t)n * in_h + ay.upper) * in_w * channels;
      for (int32_t x = 0; x < out_w; ++x) {
        const ember_bilinear_axis ax = ember_bilinear_axis_at(x, ws, half_pixel_centers, in_w);
        const int32_t wx0 = ax.w_lower, wx1 = ax.w_upper, x0 = ax.lower, x1 = ax.upper;
        const __m512i w00 = _mm512_set1_epi32(wy0 * wx0), w10 = _mm512_set1_epi32(wy1 * wx0);
        const __m512i w01 = _mm512_set1_epi32(wy0 * wx1), w11 = _mm512_set1_epi32(wy1 * wx1);
        const int8_t *p00 = row0 + (int64_t)x0 * channels, *p01 = row0 + (int64_t)x1 * channels;
        const int8_t *p10 = row1 + (int64_t)x0 * channels, *p11 = row1 + (int64_t)x1 * channels;
        int8_t *o = out + (((int64_t)n * out_h + y) * out_w + x) * channels;
        for (int32_t c = 0; c < channels; c += 16) {
          const __mmask16 m = lanes_mask(channels - c < 16 ? channels - c : 16);
          __m512i v = _mm512_mullo_epi32(load16_s8(p00 + c, m), w00);
          v = _mm512_add_epi32(v, _mm512_mullo_epi32(load16_s8(p10 + c, m), w10));
          v = _mm512_add_epi32(v, _mm512_mullo_epi32(load16_s8(p01 + c, m), w01));
          v = _mm512_add_epi32(v, _mm512_mullo_epi32(load16_s8(p11 + c, m), w11));
          __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_abs_epi32(v), half), 20);
          r = _mm512_mask_sub_epi32(r, _mm512_cmplt_epi32_mask(v, _mm512_setzero_si512()), _mm512_setzero_si512(), r);
          _mm_mask_storeu_epi8(o + c, m, _mm512_cvtepi32_epi8(r));
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
TARGET static void ember_lookup_s8_avx512(int64_t count, const int8_t *in, const int8_t *table, int8_t *out) {
  __m512i rows[16], tables[16];
  for (int32_t j = 0; j < 16; ++j) rows[j] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(table + 16 * j)));
  tables[0] = rows[0];
  for (int32_t j = 1; j < 16; ++j) {
    tables[j] = _mm512_xor_si512(rows[j - 1], rows[j]);
    if (j >= 8) tables[j] = _mm512_xor_si512(tables[j], tables[j - 8]);
  }
  const __m512i step = _mm512_set1_epi8(16), flip = _mm512_set1_epi8((char)0x80);
  for (int64_t i = 0; i < count; i += 64) {
    const __mmask64 m = count - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (count - i)) - 1);
    __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, in + i), flip);
    __m512i y = _mm512_shuffle_epi8(tables[0], x);
    for (int32_t j = 1; j < 9; ++j) {
      x = _mm512_sub_epi8(x, step);
      y = _mm512_xor_si512(y, _mm512_shuffle_epi8(tables[j], x));
    }
    for (int32_t j = 9; j < 16; ++j) {
      x = _mm512_subs_epi8(x, step);
      y = _mm512_xor_si512(y, _mm512_shuffle_epi8(tables[j], x));
    }
    _mm512_mask_storeu_epi8(out + i, m, y);
  }
}

// ------------------------------------------------------------ mean over the middle axes
/// The int8 mean of ember_kernel_table.mean_s8, 64 channels (four vectors) per pass over the rows. The
/// sum of x − zp is Σx − reduced·zp in wrapping int32 arithmetic, as the reference's int32 sum wraps.
TARGET static void ember_mean_s8_avx512(int64_t outer, int64_t reduced, int64_t inner, const int8_t *in,
                                        int32_t input_zero_point, int32_t multiplier, int32_t shift,
                                        float float_scale,
                                        int32_t output_zero_point, int8_t *out) {
  const requant16 q = float_scale > 0 ? requant16_float(_mm512_set1_ps(float_scale))
                                      : requant16_make(_mm512_set1_epi32(multiplier), _mm512_set1_epi32(shift));
  const __m512i fold = _mm512_set1_epi32(ember_wrapped_offset_sum(reduced, input_zero_point));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c0 = 0; c0 < inner; c0 += 64) {
      const int64_t rest = inner - c0 < 64 ? inner - c0 : 64;
      __mmask16 m[4];
      for (int32_t v = 0; v < 4; ++v)
        m[v] = rest <= 16 * v ? 0 : lanes_mask(rest - 16 * v < 16 ? (int32_t)(rest - 16 * v) : 16);
      __m512i acc[4] = {fold, fold, fold, fold};
      for (int64_t r = 0; r < reduced; ++r) {
        const int8_t *x = in + (o * reduced + r) * inner + c0;
        for (int32_t v = 0; v < 4; ++v)
          acc[v] = _mm512_add_epi32(acc[v], load16_s8(x + 16 * v, m[v]));
      }
      for (int32_t v = 0; v * 16 < rest; ++v)
        store_s8(requantize16(acc[v], &q), output_zero_point, -128, 127,
                 (int32_t)(rest - 16 * v < 16 ? rest - 16 * v : 16),
                 out + o * inner + c0 + 16 * v);
    }
}

/// The f32 mean of ember_kernel_table.mean_f32: per lane the rows in order from 0.0, then one division.
TARGET static void ember_mean_f32_avx512(int64_t outer, int64_t reduced, int64_t inner, const float *in, float *out) {
  const __m512 count = _mm512_set1_ps((float)reduced);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c0 = 0; c0 < inner; c0 += 16) {
      const __mmask16 m = lanes_mask(inner - c0 < 16 ? (int32_t)(inner - c0) : 16);
      __m512 acc = _mm512_setzero_ps();
      for (int64_t r = 0; r < reduced; ++r) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, in + (o * reduced + r) * inner + c0));
      _mm512_mask_storeu_ps(out + o * inner + c0, m, reduced > 0 ? _mm512_div_ps(acc, count) : acc);
    }
}

// ------------------------------------------------------------ int8 softmax
/// gemmlowp fixed point, 16 lanes, with the reference's (scalar) bits. SaturatingRoundingDoublingHighMul
/// of lanes a·b as floor((a·b + 2^30) / 2^31), equal to its nudge-and-truncate for every product, with
/// INT32_MIN·INT32_MIN saturated.
TARGET static inline __m512i srdhm_lanes(__m512i a, __m512i b) {
  const __m512i round = _mm512_set1_epi64(1LL << 30), min = _mm512_set1_epi32(INT32_MIN);
  const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(mul_even_s32(a, b), round), 31);
  const __m512i odd =
      _mm512_srai_epi64(_mm512_add_epi64(mul_even_s32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32)), round), 31);
  const __m512i interleave = _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
  const __m512i r = _mm512_permutex2var_epi32(even, interleave, odd);
  const __mmask16 saturated = _mm512_cmpeq_epi32_mask(a, min) & _mm512_cmpeq_epi32_mask(b, min);
  return _mm512_mask_mov_epi32(r, saturated, _mm512_set1_epi32(INT32_MAX));
}

/// ember_rounding_divide_by_pot with a per-lane exponent in [0, 31].
TARGET static inline __m512i rdbp_lanes(__m512i x, __m512i exponent) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, exponent), one);
  const __m512i remainder = _mm512_and_si512(x, mask);
  __m512i threshold = _mm512_srai_epi32(mask, 1);
  threshold = _mm512_mask_add_epi32(threshold, _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()), threshold, one);
  const __m512i shifted = _mm512_srav_epi32(x, exponent);
  return _mm512_mask_add_epi32(shifted, _mm512_cmpgt_epi32_mask(remainder, threshold), shifted, one);
}

/// gemmlowp SaturatingRoundingMultiplyByPOT<e> for e = 1 or 2: a saturating left shift.
TARGET static inline __m512i saturating_shift_left_lanes(__m512i x, int e) {
  const __m512i threshold = _mm512_set1_epi32((int32_t)((1u << (31 - e)) - 1));
  __m512i r = _mm512_sllv_epi32(x, _mm512_set1_epi32(e));
  r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epi32_mask(x, threshold), _mm512_set1_epi32(INT32_MAX));
  return _mm512_mask_mov_epi32(r, _mm512_cmplt_epi32_mask(x, _mm512_sub_epi32(_mm512_setzero_si512(), threshold)),
                               _mm512_set1_epi32(INT32_MIN));
}

/// gemmlowp one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson), Q0.31 lanes. RoundingHalfSum(a, INT32_MAX)
/// is (a + 2^31) / 2 as an unsigned shift, −1 for a = INT32_MIN.
TARGET static inline __m512i one_over_one_plus_x_lanes(__m512i a) {
  const __m512i min = _mm512_set1_epi32(INT32_MIN);
  __m512i half = _mm512_srli_epi32(_mm512_xor_si512(a, min), 1);
  half = _mm512_mask_mov_epi32(half, _mm512_cmpeq_epi32_mask(a, min), _mm512_set1_epi32(-1));
  __m512i x = _mm512_add_epi32(_mm512_set1_epi32(1515870810), srdhm_lanes(half, _mm512_set1_epi32(-1010580540)));
  for (int i = 0; i < 3; ++i) {
    const __m512i one_minus = _mm512_sub_epi32(_mm512_set1_epi32(1 << 29), srdhm_lanes(half, x));
    x = _mm512_add_epi32(x, saturating_shift_left_lanes(srdhm_lanes(x, one_minus), 2));
  }
  return saturating_shift_left_lanes(x, 1);
}

/// ember_softmax_s8_ref 16 rows at a time, one row a lane (segmentation heads: a softmax over a few
/// classes at every pixel): the rows' codes moved into lane order, max, Σ exp, the reciprocal and the
/// outputs in lanes, moved back. Rows past the last whole group, and deeper rows, take the reference.
TARGET static void ember_softmax_s8_avx512(int64_t rows, int32_t depth, const int32_t *exp_table, const int8_t *in,
                                           int8_t *out) {
  int64_t r = 0;
  if (depth <= SOFTMAX_MAX_LANE_DEPTH) {
    int8_t codes[SOFTMAX_MAX_LANE_DEPTH][16], results[SOFTMAX_MAX_LANE_DEPTH][16];
    int32_t exps[SOFTMAX_MAX_LANE_DEPTH][16];
    const __m512i zero = _mm512_setzero_si512();
    for (; r + 16 <= rows; r += 16) {
      const int8_t *x = in + r * depth;
      for (int32_t i = 0; i < 16; ++i)
        for (int32_t c = 0; c < depth; ++c) codes[c][i] = x[(int64_t)i * depth + c];
      __m512i max = _mm512_set1_epi32(-128);
      for (int32_t c = 0; c < depth; ++c)
        max = _mm512_max_epi32(max, _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)codes[c])));
      __m512i sum = zero;
      const __m512i twelve = _mm512_set1_epi32(12);
      for (int32_t c = 0; c < depth; ++c) {
        const __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)codes[c]));
        const __m512i e = _mm512_i32gather_epi32(_mm512_sub_epi32(max, v), exp_table, 4);
        _mm512_storeu_si512(exps[c], e);
        sum = _mm512_add_epi32(sum, rdbp_lanes(e, twelve));
      }
      // headroom + 1 = clz(sum) for sum > 0 (31 − floor(log2 sum), exact through doubles), else 31.
      const __m512d lo = _mm512_cvtepi32_pd(_mm512_castsi512_si256(sum));
      const __m512d hi = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(sum, 1));
      const __m512i log2 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(_mm512_getexp_pd(lo))),
                                              _mm512_cvtpd_epi32(_mm512_getexp_pd(hi)), 1);
      const __m512i headroom = _mm512_mask_sub_epi32(_mm512_set1_epi32(31), _mm512_cmpgt_epi32_mask(sum, zero),
                                                     _mm512_set1_epi32(31), log2);
      const __m512i shifted = _mm512_xor_si512(_mm512_sllv_epi32(sum, headroom), _mm512_set1_epi32(INT32_MIN));
      const __m512i scale = one_over_one_plus_x_lanes(shifted);
      const __m512i exponent = _mm512_sub_epi32(_mm512_set1_epi32(12 + 31 - 8), headroom);
      const __mmask16 in_range = _mm512_cmpge_epi32_mask(exponent, zero) &
                                 _mm512_cmple_epi32_mask(exponent, _mm512_set1_epi32(31));
      const __m512i safe = _mm512_min_epi32(_mm512_max_epi32(exponent, zero), _mm512_set1_epi32(31));
      for (int32_t c = 0; c < depth; ++c) {
        const __m512i e = _mm512_loadu_si512(exps[c]);
        __m512i y = _mm512_maskz_mov_epi32(in_range, rdbp_lanes(srdhm_lanes(scale, e), safe));
        y = _mm512_min_epi32(_mm512_max_epi32(_mm512_sub_epi32(y, _mm512_set1_epi32(128)), _mm512_set1_epi32(-128)),
                             _mm512_set1_epi32(127));
        y = _mm512_mask_mov_epi32(y, _mm512_cmpeq_epi32_mask(e, zero), _mm512_set1_epi32(-128));
        _mm_storeu_si128((__m128i *)results[c], _mm512_cvtepi32_epi8(y));
      }
      int8_t *y = out + r * depth;
      for (int32_t i = 0; i < 16; ++i)
        for (int32_t c = 0; c < depth; ++c) y[(int64_t)i * depth + c] = results[c][i];
    }
  }
  if (r < rows) ember_softmax_s8_ref(rows - r, depth, exp_table, in + r * depth, out + r * depth);
}

// ------------------------------------------------------------ max pooling
/// ember_max_pool_s8_ref / ember_max_pool_f32_ref (their bits), 64 channels a vector: the window's
/// running maximum from −128 (−inf), then the activation clamp. The f32 maximum keeps its running value
/// when a tap is NaN, as the reference's `v > acc` does.
TARGET static void ember_max_pool_s8_avx512(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                                            int32_t act_max, int8_t *out) {
  const __m512i lo = _mm512_set1_epi8((char)act_min), hi = _mm512_set1_epi8((char)act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    for (int32_t c0 = 0; c0 < g->channels; c0 += 64) {
      const int32_t rest = g->channels - c0;
      const __mmask64 m = rest >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rest) - 1);
      __m512i acc = _mm512_set1_epi8(-128);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x)
          acc = _mm512_max_epi8(acc, _mm512_maskz_loadu_epi8(m, in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0));
      _mm512_mask_storeu_epi8(out + obase + c0, m, _mm512_min_epi8(_mm512_max_epi8(acc, lo), hi));
    }
  })
}

TARGET static void ember_max_pool_f32_avx512(const ember_pool_geometry *g, const float *in, float act_min, float act_max,
                                             float *out) {
  const __m512 lo = _mm512_set1_ps(act_min), hi = _mm512_set1_ps(act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    for (int32_t c0 = 0; c0 < g->channels; c0 += 16) {
      const __mmask16 m = lanes_mask(g->channels - c0 < 16 ? g->channels - c0 : 16);
      __m512 acc = _mm512_set1_ps(-INFINITY);
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x)
          acc = _mm512_max_ps(_mm512_maskz_loadu_ps(m, in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0), acc);
      _mm512_mask_storeu_ps(out + obase + c0, m, _mm512_min_ps(hi, _mm512_max_ps(lo, acc)));
    }
  })
}

/// The window's count is at most in_h·in_w, so |sum ± count/2| / count (an average of int8 values) is
/// within 129 and a double quotient truncates exactly as the reference's int32 division.
TARGET static void ember_avg_pool_s8_avx512(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                                            int32_t act_max, int8_t *out) {
  const __m512i lo = _mm512_set1_epi32(act_min), hi = _mm512_set1_epi32(act_max), zero = _mm512_setzero_si512();
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0), k = count > 0 ? count : 1;
    const __m512i half = _mm512_set1_epi32(k / 2);
    const __m512d kd = _mm512_set1_pd((double)k);
    for (int32_t c0 = 0; c0 < g->channels; c0 += 16) {
      const __mmask16 m = lanes_mask(g->channels - c0 < 16 ? g->channels - c0 : 16);
      __m512i acc = zero;
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x)
          acc = _mm512_add_epi32(acc, load16_s8(in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0, m));
      const __m512i num = _mm512_mask_sub_epi32(_mm512_add_epi32(acc, half), _mm512_cmple_epi32_mask(acc, zero), acc, half);
      const __m256i q0 = _mm512_cvttpd_epi32(_mm512_div_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(num)), kd));
      const __m256i q1 = _mm512_cvttpd_epi32(_mm512_div_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(num, 1)), kd));
      const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
      _mm_mask_storeu_epi8(out + obase + c0, m, _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi)));
    }
  })
}

TARGET static void ember_avg_pool_f32_avx512(const ember_pool_geometry *g, const float *in, float act_min, float act_max,
                                             float *out) {
  const __m512 lo = _mm512_set1_ps(act_min), hi = _mm512_set1_ps(act_max);
  EMBER_FOR_EACH_POOL_WINDOW(g, {
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0);
    const __m512 k = _mm512_set1_ps((float)count);
    for (int32_t c0 = 0; c0 < g->channels; c0 += 16) {
      const __mmask16 m = lanes_mask(g->channels - c0 < 16 ? g->channels - c0 : 16);
      __m512 acc = _mm512_setzero_ps();
      for (int32_t y = ys; y < ye; ++y)
        for (int32_t x = xs; x < xe; ++x)
          acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, in + (((int64_t)n * g->in_h + y) * g->in_w + x) * g->channels + c0));
      const __m512 mean = count > 0 ? _mm512_div_ps(acc, k) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(out + obase + c0, m, _mm512_min_ps(hi, _mm512_max_ps(lo, mean)));
    }
  })
}

// ------------------------------------------------------------ f32 bilinear resize
/// ember_resize_bilinear_f32_ref's bits: its axis values (ember_resize_bilinear_f32_axis) and per channel
/// p00·(1 − dy)·(1 − dx) + p10·dy·(1 − dx) + p01·(1 − dy)·dx + p11·dy·dx, each product and sum rounded
/// in its order, 16 channels at a time.
TARGET static void ember_resize_bilinear_f32_avx512(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                                  int32_t out_h, int32_t out_w, int32_t align_corners,
                                                  int32_t half_pixel_centers, const float *in, float *out) {
  EMBER_BILINEAR_F32_PIXELS(batch, in_h, in_w, channels, out_h, out_w, align_corners, half_pixel_centers, in, out, {
    const __m512 vy = _mm512_set1_ps(dy), uy = _mm512_set1_ps(1 - dy), vx = _mm512_set1_ps(dx), ux = _mm512_set1_ps(1 - dx);
    for (int32_t c = 0; c < channels; c += 16) {
      const __mmask16 m = lanes_mask(channels - c < 16 ? channels - c : 16);
      __m512 r = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p00 + c), uy), ux);
      r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p10 + c), vy), ux));
      r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p01 + c), uy), vx));
      r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p11 + c), vy), vx));
      _mm512_mask_storeu_ps(o + c, m, r);
    }
  });
}

// ------------------------------------------------------------ f32 matmul
/// ember_kernel_table.matmul_f32: ember_matmul_f32_ref's bits — per output, x·b products added from
/// 0 in k order, each product and sum rounded apart (no FMA) — with 4 rows × 32 columns of outputs held in
/// registers across k (the reference adds into memory at every step).
#define DEFINE_MATMUL_F32_TILE(R)                                                                    \
  TARGET static void matmul_f32_tile_##R(int32_t k, int32_t n, const float *a, const float *b, int32_t j, \
                                         float *out) {                                                  \
    const __mmask16 m0 = lanes_mask(n - j < 16 ? n - j : 16);                                          \
    const __mmask16 m1 = n - j > 16 ? lanes_mask(n - j - 16 < 16 ? n - j - 16 : 16) : 0;               \
    __m512 acc[R][2];                                                                                   \
    for (int32_t r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                        \
    for (int32_t p = 0; p < k; ++p) {                                                                   \
      const float *row = b + (int64_t)p * n + j;                                                        \
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, row), b1 = _mm512_maskz_loadu_ps(m1, row + 16);     \
      for (int32_t r = 0; r < R; ++r) {                                                                 \
        const __m512 x = _mm512_set1_ps(a[(int64_t)r * k + p]);                                         \
        acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_mul_ps(x, b0));                                     \
        acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_mul_ps(x, b1));                                     \
      }                                                                                                 \
    }                                                                                                   \
    _Pragma("GCC unroll 4") for (int32_t r = 0; r < R; ++r) {                                           \
      _mm512_mask_storeu_ps(out + (int64_t)r * n + j, m0, acc[r][0]);                                   \
      _mm512_mask_storeu_ps(out + (int64_t)r * n + j + 16, m1, acc[r][1]);                              \
    }                                                                                                   \
  }
DEFINE_MATMUL_F32_TILE(4) DEFINE_MATMUL_F32_TILE(1)

TARGET static void ember_matmul_f32_avx512(int32_t m, int32_t k, int32_t n, const float *a, const float *b, float *out) {
  int32_t i = 0;
  for (; i + 4 <= m; i += 4)
    for (int32_t j = 0; j < n; j += 32) matmul_f32_tile_4(k, n, a + (int64_t)i * k, b, j, out + (int64_t)i * n);
  for (; i < m; ++i)
    for (int32_t j = 0; j < n; j += 32) matmul_f32_tile_1(k, n, a + (int64_t)i * k, b, j, out + (int64_t)i * n);
}

// ------------------------------------------------------------ f32 unary
/// ember_kernel_table.unary_f32: the piecewise-linear activations, hard-swish, abs, neg, square, sqrt,
/// rsqrt, reciprocal, floor, ceil and round with the reference's operations in its order (max/min
/// operands placed so that NaN and −0 come out as the reference's comparisons give them): its bits;
/// e^x (Cephes' expf polynomial after a two-part ln 2 reduction, the 1 added last), ln x and erf x
/// (below) within 2 ulp of the reference's libm, sigmoid as 1 / (1 + e^−x) and tanh within 4.
TARGET static inline __m512 exp_ps_avx512(__m512 z) {
  // NaN stays NaN (max/min return their second operand when one is NaN); beyond ±the range e^z is
  // 0 or inf, which scalef gives from the clamped argument's exponent.
  z = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), z));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), z);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));  // one rounding of the 1
  return _mm512_scalef_ps(p, n);
}

/// The logistic function as XNNPACK's f32 sigmoid (rr2-p5-scalef-div): e = e^z of z = −|x| (never above 1,
/// so no overflow to guard) by a two-constant range reduction and a degree-5 polynomial, scaled by 2^n;
/// e / (1 + e), mirrored to 1 − that for x > 0. Within 4 ulp of the reference's 1 / (1 + expf(−x)) (the
/// unary test), and about a fifth fewer instructions than through exp_ps_avx512 (SiLU is EfficientNet's
/// most frequent op). Below z = −88.7228317 the reference's expf(−x) overflows and its sigmoid is 0: so is
/// this one there (which also covers −inf); NaN stays NaN.
TARGET static inline __m512 sigmoid_ps_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 z = _mm512_or_ps(x, _mm512_set1_ps(-0.0f));
  const __mmask16 finite = _mm512_cmp_ps_mask(z, _mm512_set1_ps(-0x1.62e42ep+6f), _CMP_NLT_UQ);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 t = _mm512_fmadd_ps(n, _mm512_set1_ps(-0x1.62E430p-1f), z);
  t = _mm512_fmadd_ps(n, _mm512_set1_ps(0x1.05C610p-29f), t);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0F9F9Cp-7f), t, _mm512_set1_ps(0x1.573A1Ap-5f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0x1.555A80p-3f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0x1.FFFDC6p-2f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0x1.FFFFF6p-1f));
  p = _mm512_fmadd_ps(p, t, one);
  const __m512 e = _mm512_scalef_ps(p, n);
  const __m512 f = _mm512_maskz_div_ps(finite, e, _mm512_add_ps(e, one));
  return _mm512_mask_sub_ps(f, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), one, f);
}

/// tanh as Cephes' tanhf: x + x³·P(x²) for |x| < 0.625, else ±(1 − 2 / (e^2|x| + 1)) with the sign of
/// x (NaN stays NaN, ±inf gives ±1, −0 stays −0); within 4 ulp of the reference's libm.
TARGET static inline __m512 tanh_ps_avx512(__m512 x) {
  const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f);
  const __m512 ax = _mm512_andnot_ps(sign, x), z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  const __m512 e = exp_ps_avx512(_mm512_add_ps(ax, ax));
  const __m512 large = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  const __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ), large, small);
  return _mm512_or_ps(_mm512_andnot_ps(sign, r), _mm512_and_ps(x, sign));  // x's sign (−0 too)
}

/// ln x as Cephes' logf: x = m·2^e with m in [√½, √2), ln(1 + f) = f − f²/2 + f³·P(f) for f = m − 1, plus
/// e·ln 2 in two parts; within 2 ulp of the reference's libm. 0 gives −inf, a negative x or NaN NaN, +inf
/// +inf; denormals are exact inputs (getexp and getmant read them).
TARGET static inline __m512 log_ps_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 e = _mm512_add_ps(_mm512_getexp_ps(x), one);                     // x = m·2^e, m in [0.5, 1)
  __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_zero);
  const __mmask16 low = _mm512_cmp_ps_mask(m, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm512_mask_sub_ps(e, low, e, one);
  const __m512 f = _mm512_sub_ps(_mm512_mask_add_ps(m, low, m, m), one);   // m < √½: 2m − 1, else m − 1
  const __m512 z = _mm512_mul_ps(f, f);
  __m512 p = _mm512_set1_ps(ember_logf_p[0]);
  for (int i = 1; i < 9; ++i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(ember_logf_p[i]));
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(f, z), p);
  y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
  y = _mm512_fnmadd_ps(_mm512_set1_ps(0.5f), z, y);
  __m512 r = _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
  r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ), r, _mm512_set1_ps(-INFINITY));
  r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ), r, x);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGE_UQ), r, _mm512_set1_ps(NAN));  // x < 0 or NaN
}

/// erf x as Cephes' erff: x·T(x²) below |x| 1, else ±(1 − erfc|x|), erfc a = e^−a²·P(1/a²)/a (R from 2 on);
/// within 2 ulp of the reference's libm (NaN stays NaN, ±inf gives ±1).
TARGET static inline __m512 erf_ps_avx512(__m512 x) {
  const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f);
  const __m512 a = _mm512_andnot_ps(sign, x), z = _mm512_mul_ps(x, x);
  __m512 ps = _mm512_set1_ps(ember_erff_t[0]);
  for (int i = 1; i < 7; ++i) ps = _mm512_fmadd_ps(ps, z, _mm512_set1_ps(ember_erff_t[i]));
  const __m512 small = _mm512_mul_ps(x, ps);
  const __m512 q = _mm512_div_ps(one, a), y = _mm512_mul_ps(q, q);
  __m512 pp = _mm512_set1_ps(ember_erfcf_p[0]), pr = _mm512_set1_ps(ember_erfcf_r[0]);
  for (int i = 1; i < 9; ++i) pp = _mm512_fmadd_ps(pp, y, _mm512_set1_ps(ember_erfcf_p[i]));
  for (int i = 1; i < 8; ++i) pr = _mm512_fmadd_ps(pr, y, _mm512_set1_ps(ember_erfcf_r[i]));
  const __m512 p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(2.0f), _CMP_LT_OQ), pr, pp);
  const __m512 erfc = _mm512_mul_ps(_mm512_mul_ps(exp_ps_avx512(_mm512_xor_ps(z, sign)), q), p);
  const __m512 large = _mm512_or_ps(_mm512_sub_ps(one, erfc), _mm512_and_ps(x, sign));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, one, _CMP_LT_OQ), large, small);
}

TARGET static int32_t ember_unary_f32_avx512(ember_unary_op op, float alpha, int64_t count, const float *in, float *out) {
  switch (op) {
    case EMBER_UNARY_RELU: case EMBER_UNARY_RELU6: case EMBER_UNARY_RELU_N1_TO_1: case EMBER_UNARY_LEAKY_RELU:
    case EMBER_UNARY_HARD_SWISH: case EMBER_UNARY_ABS: case EMBER_UNARY_NEG: case EMBER_UNARY_SQUARE:
    case EMBER_UNARY_SIGMOID: case EMBER_UNARY_TANH: case EMBER_UNARY_SILU: case EMBER_UNARY_SQRT:
    case EMBER_UNARY_RSQRT: case EMBER_UNARY_RECIPROCAL: case EMBER_UNARY_FLOOR: case EMBER_UNARY_CEIL:
    case EMBER_UNARY_ROUND: case EMBER_UNARY_EXP: case EMBER_UNARY_LOG: case EMBER_UNARY_ERF:
    case EMBER_UNARY_GELU: break;
    default: return 0;
  }
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), three = _mm512_set1_ps(3.0f);
  const __m512 six = _mm512_set1_ps(6.0f), slope = _mm512_set1_ps(alpha), sign = _mm512_set1_ps(-0.0f);
  // The logistic ops (EfficientNet's SiLUs) in a loop of their own, two vectors a step: their long
  // dependent chains then overlap (12 % faster than through the switch below).
  if (op == EMBER_UNARY_SIGMOID || op == EMBER_UNARY_SILU) {
    const int silu = op == EMBER_UNARY_SILU;
    int64_t i = 0;
    for (; i + 32 <= count; i += 32) {
      const __m512 a = _mm512_loadu_ps(in + i), b = _mm512_loadu_ps(in + i + 16);
      const __m512 sa = sigmoid_ps_avx512(a), sb = sigmoid_ps_avx512(b);
      _mm512_storeu_ps(out + i, silu ? _mm512_mul_ps(a, sa) : sa);
      _mm512_storeu_ps(out + i + 16, silu ? _mm512_mul_ps(b, sb) : sb);
    }
    for (; i < count; i += 16) {
      const __mmask16 m = lanes_mask(count - i < 16 ? (int32_t)(count - i) : 16);
      const __m512 x = _mm512_maskz_loadu_ps(m, in + i), sx = sigmoid_ps_avx512(x);
      _mm512_mask_storeu_ps(out + i, m, silu ? _mm512_mul_ps(x, sx) : sx);
    }
    return 1;
  }
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = lanes_mask(count - i < 16 ? (int32_t)(count - i) : 16);
    const __m512 x = _mm512_maskz_loadu_ps(m, in + i);
    __m512 r;
    switch (op) {
      case EMBER_UNARY_RELU: r = _mm512_max_ps(x, zero); break;
      case EMBER_UNARY_RELU6: r = _mm512_min_ps(six, _mm512_max_ps(zero, x)); break;
      case EMBER_UNARY_RELU_N1_TO_1: r = _mm512_min_ps(one, _mm512_max_ps(_mm512_set1_ps(-1.0f), x)); break;
      case EMBER_UNARY_LEAKY_RELU:
        r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero, _CMP_GE_OQ), _mm512_mul_ps(slope, x), x);
        break;
      case EMBER_UNARY_HARD_SWISH:
        r = _mm512_div_ps(_mm512_mul_ps(x, _mm512_min_ps(six, _mm512_max_ps(zero, _mm512_add_ps(x, three)))), six);
        break;
      case EMBER_UNARY_ABS: r = _mm512_andnot_ps(sign, x); break;
      case EMBER_UNARY_NEG: r = _mm512_xor_ps(x, sign); break;
      case EMBER_UNARY_SQUARE: r = _mm512_mul_ps(x, x); break;
      case EMBER_UNARY_TANH: r = tanh_ps_avx512(x); break;
      case EMBER_UNARY_SQRT: r = _mm512_sqrt_ps(x); break;
      case EMBER_UNARY_RSQRT: r = _mm512_div_ps(one, _mm512_sqrt_ps(x)); break;
      case EMBER_UNARY_RECIPROCAL: r = _mm512_div_ps(one, x); break;
      case EMBER_UNARY_FLOOR: r = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); break;
      case EMBER_UNARY_CEIL: r = _mm512_roundscale_ps(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); break;
      case EMBER_UNARY_ROUND: r = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); break;
      case EMBER_UNARY_EXP: r = exp_ps_avx512(x); break;
      case EMBER_UNARY_LOG: r = log_ps_avx512(x); break;
      case EMBER_UNARY_ERF: r = erf_ps_avx512(x); break;
      case EMBER_UNARY_GELU:  // the reference's order: (0.5·x)·(1 + erf(x·√½))
        r = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(one, erf_ps_avx512(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
        break;
      default: r = x; break;  // the logistic ops are above
    }
    _mm512_mask_storeu_ps(out + i, m, r);
  }
  return 1;
}

// ------------------------------------------------------------ f32 softmax and layer norm
TARGET static void ember_softmax_f32_avx512(int64_t rows, int32_t size, float beta, const float *in, float *out) {
  const __m512 b = _mm512_set1_ps(beta);
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * size;
    float *y = out + r * size;
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int32_t i = 0; i < size; i += 16) {
      const __mmask16 m = lanes_mask(size - i < 16 ? size - i : 16);
      mv = _mm512_mask_max_ps(mv, m, mv, _mm512_maskz_loadu_ps(m, x + i));
    }
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
    __m512 sv = _mm512_setzero_ps();
    for (int32_t i = 0; i < size; i += 16) {
      const __mmask16 m = lanes_mask(size - i < 16 ? size - i : 16);
      const __m512 e = exp_ps_avx512(_mm512_mul_ps(b, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max)));
      sv = _mm512_mask_add_ps(sv, m, sv, e);
      _mm512_mask_storeu_ps(y + i, m, e);
    }
    const __m512 sum = _mm512_set1_ps(_mm512_reduce_add_ps(sv));
    for (int32_t i = 0; i < size; i += 16) {
      const __mmask16 m = lanes_mask(size - i < 16 ? size - i : 16);
      _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(_mm512_maskz_loadu_ps(m, y + i), sum));
    }
  }
}

TARGET static void ember_layer_norm_f32_avx512(int64_t rows, int32_t cols, float epsilon, const float *in,
                                               const float *gamma, const float *beta, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * cols;
    float *y = out + r * cols;
    __m512d s = _mm512_setzero_pd();
    for (int32_t c = 0; c < cols; c += 8) {
      const __mmask8 m = (__mmask8)lanes_mask(cols - c < 8 ? cols - c : 8);
      s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + c)));
    }
    const double mean = _mm512_reduce_add_pd(s) / cols;
    const __m512d mv = _mm512_set1_pd(mean);
    __m512d v = _mm512_setzero_pd();
    for (int32_t c = 0; c < cols; c += 8) {
      const __mmask8 m = (__mmask8)lanes_mask(cols - c < 8 ? cols - c : 8);
      const __m512d d = _mm512_maskz_sub_pd(m, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + c)), mv);
      v = _mm512_add_pd(v, _mm512_mul_pd(d, d));
    }
    const float inv = 1.0f / sqrtf((float)(_mm512_reduce_add_pd(v) / cols) + epsilon);
    const __m256 iv = _mm256_set1_ps(inv);
    for (int32_t c = 0; c < cols; c += 8) {
      const __mmask8 m = (__mmask8)lanes_mask(cols - c < 8 ? cols - c : 8);
      __m256 o = _mm256_mul_ps(_mm512_cvtpd_ps(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + c)), mv)), iv);
      if (gamma) o = _mm256_mul_ps(o, _mm256_maskz_loadu_ps(m, gamma + c));
      if (beta) o = _mm256_add_ps(o, _mm256_maskz_loadu_ps(m, beta + c));
      _mm256_mask_storeu_ps(y + c, m, o);
    }
  }
}

// ------------------------------------------------------------ f32 → int8 quantize
/// ember_quantize_f32_s8_ref's bytes: x / scale (a division, as the reference), rounded half away from
/// zero (truncate |v|, add 1 when the dropped fraction, exact in f32, is at least one half), clamped
/// in float to the codes' range less the zero point, then offset; NaN gives the zero point.
TARGET static void ember_quantize_f32_s8_avx512(int64_t count, const float *in, float scale, int32_t zero_point,
                                                int32_t half_even, int8_t *out) {
  const __m512 s = _mm512_set1_ps(scale), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512 lo = _mm512_set1_ps((float)(-128 - zero_point)), hi = _mm512_set1_ps((float)(127 - zero_point));
  const __m512i zp = _mm512_set1_epi32(zero_point);
  const __m512i nan_code = _mm512_set1_epi32(zero_point < -128 ? -128 : (zero_point > 127 ? 127 : zero_point));
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = lanes_mask(count - i < 16 ? (int32_t)(count - i) : 16);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, in + i), s);
    __m512 r;
    if (half_even) {
      r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
      const __m512 a = _mm512_andnot_ps(sign, v);
      r = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      r = _mm512_mask_add_ps(r, _mm512_cmp_ps_mask(_mm512_sub_ps(a, r), half, _CMP_GE_OQ), r, one);
      r = _mm512_or_ps(r, _mm512_and_ps(v, sign));
    }
    const __m512 c = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
    __m512i n = _mm512_add_epi32(_mm512_cvttps_epi32(c), zp);
    n = _mm512_mask_mov_epi32(n, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), nan_code);
    _mm_mask_storeu_epi8(out + i, m, _mm512_cvtsepi32_epi8(n));
  }
}

// ------------------------------------------------------------ roofline probe
/// Eight chains of vpdpbusd (64 MACs each) or of 512-bit FMAs (16 MACs).
TARGET static int64_t probe_mac_avx512(int32_t is_int8, int64_t iterations) {
  if (is_int8) {
    __m512i acc[8];
    const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
    for (int32_t j = 0; j < 8; ++j) acc[j] = _mm512_setzero_si512();
    for (int64_t i = 0; i < iterations; ++i)
      for (int32_t j = 0; j < 8; ++j) {
        acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
        __asm__ volatile("" : "+v"(acc[j]));
      }
    int32_t sink = 0;
    for (int32_t j = 0; j < 8; ++j) sink += _mm512_reduce_add_epi32(acc[j]);
    __asm__ volatile("" : : "r"(sink));
    return iterations * 8 * 64;
  }
  __m512 acc[8];
  const __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(0.5f);
  for (int32_t j = 0; j < 8; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < iterations; ++i)
    for (int32_t j = 0; j < 8; ++j) {
      acc[j] = _mm512_fmadd_ps(a, b, acc[j]);
      __asm__ volatile("" : "+v"(acc[j]));
    }
  float sink = 0;
  for (int32_t j = 0; j < 8; ++j) sink += _mm512_reduce_add_ps(acc[j]);
  __asm__ volatile("" : : "x"(sink));
  return iterations * 8 * 16;
}

/// The read probe is AVX2's (ember_x86_avx2.c): 256-bit loads, which in this process read 28–29 GB/s
/// where 512-bit ones read 22–25 (the memory side is the same). Every CPU with this path has AVX2.
uint64_t ember_probe_read_avx2(const void *buffer, int64_t bytes);


const ember_kernel_table ember_avx512_kernels = {
  .conv2d_s8 = ember_conv2d_s8_avx512,
  .fully_connected_s8 = ember_fully_connected_s8_avx512,
  .dwconv2d_s8 = ember_dwconv2d_s8_avx512,
  .conv2d_hybrid = ember_conv2d_hybrid_avx512,
  .fully_connected_hybrid = ember_fully_connected_hybrid_avx512,
  .conv2d_f32 = ember_conv2d_f32_avx512,
  .fully_connected_f32 = ember_fully_connected_f32_avx512,
  .conv2d_winograd_f32 = ember_conv2d_winograd_f32_avx512,
  .fully_connected_q4b32 = fully_connected_q4b32_avx512,
  .dwconv2d_f32 = ember_dwconv2d_f32_avx512,
  .add_s8 = ember_add_s8_avx512,
  .mul_s8 = ember_mul_s8_avx512,
  .binary_f32 = ember_binary_f32_avx512,
  .probe_mac = probe_mac_avx512,
  .probe_read = ember_probe_read_avx2,
  .hybrid_quantize = quantize_symmetric,
  .mean_s8 = ember_mean_s8_avx512,
  .mean_f32 = ember_mean_f32_avx512,
  .lookup_s8 = ember_lookup_s8_avx512,
  .requantize_s32 = ember_requantize_s32_avx512,
  .resize_bilinear_s8 = ember_resize_bilinear_s8_avx512,
  .unary_f32 = ember_unary_f32_avx512,
  .quantize_f32_s8 = ember_quantize_f32_s8_avx512,
  .matmul_f32 = ember_matmul_f32_avx512,
  .max_pool_s8 = ember_max_pool_s8_avx512,
  .max_pool_f32 = ember_max_pool_f32_avx512,
  .softmax_s8 = ember_softmax_s8_avx512,
  .avg_pool_s8 = ember_avg_pool_s8_avx512,
  .avg_pool_f32 = ember_avg_pool_f32_avx512,
  .softmax_f32 = ember_softmax_f32_avx512,
  .resize_bilinear_f32 = ember_resize_bilinear_f32_avx512,
  .layer_norm_f32 = ember_layer_norm_f32_avx512,
};

#endif
