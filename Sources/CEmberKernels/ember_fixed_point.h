// Fixed-point identities the SIMD files share (private to CEmberKernels), each equal to the reference's
// gemmlowp arithmetic for every input it is used on.
#ifndef EMBER_FIXED_POINT_H
#define EMBER_FIXED_POINT_H

#include <stdint.h>

/// One operand of TFLite's int8 ADD/SUB recipe, MBQM(u · 2^left_shift, M, shift) with u = x + offset
/// (x the int8 code, |u| ≤ 255), as one floor in 32-bit arithmetic. With L = left_shift + max(shift, 0)
/// (the MBQM's own left shift folded in) and right = max(−shift, 0):
///   SRDHM(u·2^L, M) = r = floor((u·M + 2^(30−L)) / 2^(31−L))   (gemmlowp's nudge-and-truncate is this
///                                                                floor; the saturating case needs
///                                                                u·2^L = INT32_MIN, impossible here)
///   RoundingDivideByPOT(r, right) = floor((r + 2^(right−1) − [r < 0]) / 2^right)   (r itself for right = 0)
/// The floors nest, so the operand is floor((u·M + C_u) / 2^S) with S = 31 − L + right and
/// C_u = 2^(30−L) + (2^(right−1) − [u < 0])·2^(31−L) (the second term only for right ≥ 1; r < 0 exactly when
/// u < 0, since |u·M| ≥ 2^30 > 2^(30−L) for u ≠ 0). With M = M_hi·2^S + M_lo (0 ≤ M_lo < 2^S) it is
///   u·M_hi + floor((u·M_lo + C_u) / 2^S) = x·M_hi + offset·M_hi + ((x·M_lo + offset·M_lo + C_u) >> S),
/// two 32-bit products, a compare for the sign of u and a shift.
typedef struct {
  int32_t m_hi, m_lo, shift;   // M >> S, M & (2^S − 1), S
  int32_t high_bias;           // offset·M_hi
  int32_t low_bias;            // offset·M_lo + C_u for u ≥ 0
  int32_t negative_fix;        // C_u(u ≥ 0) − C_u(u < 0): 2^(31−L) for right ≥ 1, else 0
  int32_t below;               // −offset: u < 0 exactly when x < below
} ember_add_operand_plan;

/// Fills `plan` and returns 1 when the identity holds in int32 for every code x (1 ≤ L ≤ 30, |offset| ≤ 128
/// and no sum past 2^31, checked here in 64 bits for |u| = 255); 0 otherwise (use 64-bit products).
static inline int ember_add_operand_plan_make(int32_t left_shift, int32_t multiplier, int32_t shift, int32_t offset,
                                              ember_add_operand_plan *plan) {
  const int64_t l = (int64_t)left_shift + (shift > 0 ? shift : 0), right = shift > 0 ? 0 : -(int64_t)shift;
  const int64_t s = 31 - l + right;
  plan->m_hi = plan->m_lo = plan->shift = plan->high_bias = plan->low_bias = plan->negative_fix = plan->below = 0;
  if (l < 1 || l > 30 || right > 31 || s > 30 || multiplier < 0 || offset < -128 || offset > 128) return 0;
  const int64_t m_hi = (int64_t)multiplier >> s, m_lo = (int64_t)multiplier & (((int64_t)1 << s) - 1);
  const int64_t fix = right > 0 ? (int64_t)1 << (31 - l) : 0;
  const int64_t c_positive = ((int64_t)1 << (30 - l)) + (right > 0 ? ((int64_t)1 << (right - 1)) << (31 - l) : 0);
  const int64_t limit = ((int64_t)1 << 31) - 1;
  if (255 * m_hi + 256 > limit || 255 * m_lo + c_positive > limit) return 0;
  plan->m_hi = (int32_t)m_hi;
  plan->m_lo = (int32_t)m_lo;
  plan->shift = (int32_t)s;
  plan->high_bias = (int32_t)(offset * m_hi);
  plan->low_bias = (int32_t)(offset * m_lo + c_positive);
  plan->negative_fix = (int32_t)fix;
  plan->below = -offset;
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
