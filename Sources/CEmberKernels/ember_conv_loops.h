// Loop shapes the optimized convolution kernels share (private to CEmberKernels).
#ifndef EMBER_CONV_LOOPS_H
#define EMBER_CONV_LOOPS_H

#include <string.h>

#include "ember_kernels.h"

/// Runs BODY for every tap (ky, kx) of output position (oy, ox) that falls inside
/// the image, with `src` pointing at the input pixel (image `n`) plus `offset`.
#define EMBER_FOR_EACH_VALID_TAP(g, n, oy, ox, type, input, offset, BODY)                          \
  for (int32_t ky = 0; ky < (g)->kernel_h; ++ky) {                                                \
    const int32_t iy = (oy) * (g)->stride_h - (g)->pad_top + ky * (g)->dilation_h;               \
    if (iy < 0 || iy >= (g)->in_h) continue;                                                      \
    for (int32_t kx = 0; kx < (g)->kernel_w; ++kx) {                                              \
      const int32_t ix = (ox) * (g)->stride_w - (g)->pad_left + kx * (g)->dilation_w;            \
      if (ix < 0 || ix >= (g)->in_w) continue;                                                    \
      const type *src = (input) + (((int64_t)(n) * (g)->in_h + iy) * (g)->in_w + ix) * (g)->in_c + (offset); \
      const int32_t tap = ky * (g)->kernel_w + kx;                                                \
      BODY                                                                                        \
    }                                                                                             \
  }

/// Runs BODY for every output pixel (n, oy, ox) with `out` at its first channel.
#define EMBER_FOR_EACH_OUTPUT_PIXEL(g, type, output, BODY)                                          \
  for (int32_t n = 0; n < (g)->batch; ++n)                                                        \
    for (int32_t oy = 0; oy < (g)->out_h; ++oy)                                                   \
      for (int32_t ox = 0; ox < (g)->out_w; ++ox) {                                               \
        type *out = (output) + (((int64_t)n * (g)->out_h + oy) * (g)->out_w + ox) * (g)->out_c;  \
        BODY                                                                                      \
      }

/// Whether a convolution is 1×1, stride 1, unpadded: its input rows are its patches, read in place.
static inline int ember_conv_is_pointwise(const ember_conv_geometry *g) {
  return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
         g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

/// Image, row and column of output pixel `pixel` (batch × out_h × out_w order).
static inline void ember_pixel_position(const ember_conv_geometry *g, int64_t pixel, int32_t *n, int32_t *oy, int32_t *ox) {
  const int64_t per_image = (int64_t)g->out_h * g->out_w;
  const int32_t rest = (int32_t)(pixel % per_image);
  *n = (int32_t)(pixel / per_image);
  *oy = rest / g->out_w;
  *ox = rest % g->out_w;
}

/// Runs over the kh·kw taps of output pixel `pixel`'s patch in (ky, kx) order. Inside the body
/// `t` is the tap index; INSIDE runs with `at` = the element offset of the tap's first channel in
/// `input`, OUTSIDE when the tap falls in the padding.
#define EMBER_FOR_EACH_PATCH_TAP(g, pixel, INSIDE, OUTSIDE)                                            \
  do {                                                                                             \
    int32_t tap_n_, tap_oy_, tap_ox_;                                                              \
    ember_pixel_position((g), (pixel), &tap_n_, &tap_oy_, &tap_ox_);                               \
    for (int32_t ky_ = 0, t = 0; ky_ < (g)->kernel_h; ++ky_) {                                     \
      const int32_t iy_ = tap_oy_ * (g)->stride_h - (g)->pad_top + ky_ * (g)->dilation_h;          \
      for (int32_t kx_ = 0; kx_ < (g)->kernel_w; ++kx_, ++t) {                                     \
        const int32_t ix_ = tap_ox_ * (g)->stride_w - (g)->pad_left + kx_ * (g)->dilation_w;       \
        if (iy_ < 0 || iy_ >= (g)->in_h || ix_ < 0 || ix_ >= (g)->in_w) {                          \
          OUTSIDE;                                                                                 \
        } else {                                                                                   \
          const int64_t at = (((int64_t)tap_n_ * (g)->in_h + iy_) * (g)->in_w + ix_) * (g)->in_c;  \
          INSIDE;                                                                                  \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/// The patch of output pixel `pixel` (batch × out_h × out_w order) as
/// kh·kw·in_c floats, zeros where a tap falls outside the image.
static inline void ember_gather_f32(const ember_conv_geometry *g, const float *input, int64_t pixel, float *dst) {
  const size_t bytes = sizeof(float) * (size_t)g->in_c;
  EMBER_FOR_EACH_PATCH_TAP(g, pixel, memcpy(dst + (int64_t)t * g->in_c, input + at, bytes),
                           memset(dst + (int64_t)t * g->in_c, 0, bytes));
}

#endif
