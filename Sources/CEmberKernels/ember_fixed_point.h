// Fixed-point identities the SIMD files share (private to CEmberKernels), each equal to the reference's
// gemmlowp arithmetic for every input it is used on.
#ifndef EMBER_FIXED_POINT_H
#define EMBER_FIXED_POINT_H

#include <stdint.h>

/// One operand of TFLite's int8 ADD/SUB recipe, MBQM(u · 2^left_shift, M, shift) with u = x + offset
/// (|u| ≤ 255), in 32-bit arithmetic. With L = left_shift + max(shift, 0) (the MBQM's own left shift
/// folded in) and M = M_hi·2^16 + M_lo (0 ≤ M_lo < 2^16):
///   SRDHM(u·2^L, M) = floor((u·M·2^L + 2^30) / 2^31)
///                   = u·M_hi·2^(L−15) + floor((u·M_lo + 2^(30−L)) / 2^(31−L)),
/// the first term being whole when L ≥ 15 (gemmlowp's nudge-and-truncate equals the floor form; the
/// saturating case needs u·2^L = INT32_MIN, impossible here). For L ≤ 22 neither |u·M_hi|·2^(L−15) <
/// 2^30 nor |u·M_lo| < 2^24 overflows. RoundingDivideByPOT(r, right), right = max(−shift, 0), rounds
/// half away from zero: (r + 2^(right−1) − [r < 0]) >> right for right ≥ 1, r for right = 0; with
/// |r| ≤ 255·2^22 < 2^30 the sum cannot overflow.
typedef struct {
  int32_t m_hi, m_lo, nudge;            // M >> 16, M & 0xFFFF, 2^(30 − L)
  int32_t hi_shift, lo_shift, right;    // L − 15, 31 − L, max(−shift, 0)
  int32_t round, negative;              // 2^(right − 1) and −1 when right ≥ 1; 0 and 0 when right = 0
} ember_add_operand_plan;

/// Fills `plan` and returns 1 when the identity holds (15 ≤ L ≤ 22, |offset| ≤ 128 so that |u| ≤ 255);
/// 0 otherwise (use 64-bit products).
static inline int ember_add_operand_plan_make(int32_t left_shift, int32_t multiplier, int32_t shift, int32_t offset,
                                              ember_add_operand_plan *plan) {
  const int32_t l = left_shift + (shift > 0 ? shift : 0);
  plan->m_hi = multiplier >> 16;  // arithmetic: M = M_hi·2^16 + M_lo for any int32 M
  plan->m_lo = multiplier & 0xFFFF;
  plan->right = shift > 0 ? 0 : -shift;
  if (l < 15 || l > 22 || plan->right > 31 || offset < -128 || offset > 128) {
    plan->nudge = 0; plan->hi_shift = 0; plan->lo_shift = 0; plan->right = 0; plan->round = 0; plan->negative = 0;
    return 0;
  }
  plan->nudge = (int32_t)1 << (30 - l);
  plan->hi_shift = l - 15;
  plan->lo_shift = 31 - l;
  plan->round = plan->right > 0 ? (int32_t)(1u << (plan->right - 1)) : 0;
  plan->negative = plan->right > 0 ? -1 : 0;
  return 1;
}

/// −n·zero_point in wrapping int32 arithmetic: the start of a sum of n values of x − zero_point that
/// adds the raw x (the reference's int32 sum wraps the same way).
static inline int32_t ember_wrapped_offset_sum(int64_t n, int32_t zero_point) {
  return (int32_t)(uint32_t)((uint64_t)0 - (uint64_t)n * (uint64_t)(int64_t)zero_point);
}

/// TFLite's integer bilinear resize (ResizeBilinearInteger): the input step per output pixel in 1/1024ths.
static inline int32_t ember_resize_scale_10(int32_t in_size, int32_t out_size, int32_t align_corners) {
  if (align_corners && out_size > 1) return ((1 << 10) * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
  return ((1 << 10) * in_size + out_size / 2) / out_size;
}

/// Output pixel `value`'s source position in 1/1024ths and the two input pixels around it (ComputeInterpolation
/// ValuesInteger). With |position − 1024·lower| ≤ 1024 + 512 per axis, the four weights' products and a
/// pixel sum Σ x·wy·wx stay below 2^31 in magnitude: int32 arithmetic is exact.
static inline void ember_interpolation_values_integer(int32_t value, int32_t scale_10, int32_t half_pixel_centers,
                                                      int32_t input_size, int32_t *scaled, int32_t *lower,
                                                      int32_t *upper) {
  *scaled = half_pixel_centers ? value * scale_10 + scale_10 / 2 - (1 << 9) : value * scale_10;
  const int32_t lo = *scaled / (1 << 10);  // C division truncates toward zero, as TFLite's does
  *lower = lo > 0 ? lo : 0;
  const int32_t hi = (*scaled + (1 << 10) - 1) / (1 << 10);
  *upper = hi < input_size - 1 ? hi : input_size - 1;
}

/// One axis of a bilinear output pixel: its two input positions and their weights in 1024ths (the
/// upper one's is position − 1024·lower; it may be negative at a half-pixel edge, where both are 0).
typedef struct {
  int32_t lower, upper, w_lower, w_upper;
} ember_bilinear_axis;

static inline ember_bilinear_axis ember_bilinear_axis_at(int32_t value, int32_t scale_10, int32_t half_pixel_centers,
                                                         int32_t input_size) {
  int32_t scaled, lower, upper;
  ember_interpolation_values_integer(value, scale_10, half_pixel_centers, input_size, &scaled, &lower, &upper);
  const int32_t w_upper = scaled - (1 << 10) * lower;
  return (ember_bilinear_axis){lower, upper, (1 << 10) - w_upper, w_upper};
}

#endif
