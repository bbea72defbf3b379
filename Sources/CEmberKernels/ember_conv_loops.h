// Loop shapes the optimized convolution kernels share (private to CEmberKernels).
#ifndef EMBER_CONV_LOOPS_H
#define EMBER_CONV_LOOPS_H

#include <string.h>

#include "ember_kernels.h"

/// Rows of the int8 softmax at most this deep take the lanes-of-rows kernels (one row a lane, every ISA); deeper
/// rows take the reference.
#define SOFTMAX_MAX_LANE_DEPTH 64

/// How many inputs ahead an f32 GEMM tile of several rows prefetches its panels' weight rows, and the prefetch
/// of `w`'s packed f32 or f16 weights at element `at` (both x86 paths). Weights that do not stay in cache
/// stream from memory (EfficientNet-B0 reads 16 MB an inference): this took its 192 → 1152 layer on 3 × 3
/// pixels from 59 to 48 µs and its 320 → 1280 head from 100 to 86 µs on AVX-512, and changed nothing on the
/// MLPerf models. One-row GEMVs stream fine without (ad01's and mobilenet's classifiers 3–15 % slower with).
#define EMBER_F32_PREFETCH_AHEAD 16
#define EMBER_PREFETCH_F32_GEMM_WEIGHTS(w, at)                                                                \
  __builtin_prefetch((w)->weights ? (const void *)((w)->weights + (at)) : (const void *)((w)->weights_f16 + (at)), 0, 3)

/// First and one-past-last kernel index k with 0 <= origin + k·dilation < size (empty when none).
static inline void ember_valid_taps(int32_t origin, int32_t dilation, int32_t size, int32_t kernel, int32_t *lo,
                                    int32_t *hi) {
  const int32_t top = size - 1 - origin;
  if (dilation == 1) {  // the common case, without divisions
    *lo = origin >= 0 ? 0 : -origin;
    *hi = top < 0 ? 0 : (top + 1 < kernel ? top + 1 : kernel);
    return;
  }
  *lo = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
  *hi = top < 0 ? 0 : (top / dilation + 1 < kernel ? top / dilation + 1 : kernel);
}

/// Runs BODY for every tap (ky, kx) of output position (oy, ox) that falls inside
/// the image, with `src` pointing at the input pixel (image `n`) plus `offset`.
/// The valid tap ranges are computed once, so the tap loop itself has no bounds tests.
#define EMBER_FOR_EACH_VALID_TAP(g, n, oy, ox, type, input, offset, BODY)                          \
  {                                                                                               \
    const int32_t iy0_ = (oy) * (g)->stride_h - (g)->pad_top, ix0_ = (ox) * (g)->stride_w - (g)->pad_left; \
    int32_t ky_lo_, ky_hi_, kx_lo_, kx_hi_;                                                       \
    ember_valid_taps(iy0_, (g)->dilation_h, (g)->in_h, (g)->kernel_h, &ky_lo_, &ky_hi_);          \
    ember_valid_taps(ix0_, (g)->dilation_w, (g)->in_w, (g)->kernel_w, &kx_lo_, &kx_hi_);          \
    for (int32_t ky = ky_lo_; ky < ky_hi_; ++ky) {                                                \
      const int32_t iy = iy0_ + ky * (g)->dilation_h;                                             \
      const int64_t row_ = (((int64_t)(n) * (g)->in_h + iy) * (g)->in_w + ix0_) * (g)->in_c + (offset); \
      for (int32_t kx = kx_lo_; kx < kx_hi_; ++kx) {                                              \
        const type *src = (input) + row_ + (int64_t)kx * (g)->dilation_w * (g)->in_c;             \
        const int32_t tap = ky * (g)->kernel_w + kx;                                              \
        BODY                                                                                      \
      }                                                                                           \
    }                                                                                             \
  }

/// Output columns [*lo, *hi) whose every tap column lies inside the image (the same for every row;
/// lo = hi = 0 when there are none). Depthwise kernels run these pixels of the rows
/// ember_interior_row accepts without bounds tests.
static inline void ember_interior_columns(const ember_conv_geometry *g, int32_t *lo, int32_t *hi) {
  const int32_t first = g->pad_left > 0 ? (g->pad_left + g->stride_w - 1) / g->stride_w : 0;
  const int32_t top = g->in_w - 1 + g->pad_left - (g->kernel_w - 1) * g->dilation_w;  // largest ox·stride
  const int32_t end = top < 0 ? 0 : (top / g->stride_w + 1 < g->out_w ? top / g->stride_w + 1 : g->out_w);
  *lo = first < end ? first : 0;
  *hi = first < end ? end : 0;
}

/// Whether every tap row of output row `oy` lies inside the image.
static inline int ember_interior_row(const ember_conv_geometry *g, int32_t oy) {
  const int32_t iy0 = oy * g->stride_h - g->pad_top;
  return iy0 >= 0 && iy0 + (g->kernel_h - 1) * g->dilation_h < g->in_h;
}

/// Runs BODY for every output pixel (n, oy, ox) with a tap outside the image — every pixel unless
/// `use_interior` — in batch, row, column order.
#define EMBER_FOR_EACH_BORDER_PIXEL(g, use_interior, BODY)                                           \
  do {                                                                                            \
    const int32_t interior_ = (use_interior);                                                     \
    int32_t lo_ = 0, hi_ = 0;                                                                     \
    if (interior_) ember_interior_columns(g, &lo_, &hi_);                                         \
    for (int32_t n = 0; n < (g)->batch; ++n)                                                      \
      for (int32_t oy = 0; oy < (g)->out_h; ++oy) {                                               \
        const int32_t inside_ = interior_ && ember_interior_row(g, oy);                           \
        const int32_t lo = inside_ ? lo_ : 0, hi = inside_ ? hi_ : 0;  /* hi = 0 when none */     \
        for (int32_t ox = 0; ox < lo; ++ox) { BODY }                                              \
        for (int32_t ox = hi; ox < (g)->out_w; ++ox) { BODY }                                     \
      }                                                                                           \
  } while (0)

/// Drives a depthwise kernel in two passes. First PIXEL runs for each output pixel (n, oy, ox) with a
/// tap outside the image (bounds-tested, all channels); then INTERIOR once per `lanes`-channel block
/// (`c0`, `count` of them), to run every pixel whose taps all lie inside (EMBER_FOR_EACH_INTERIOR_GROUP),
/// its per-block set-up paid once. Unless `use_interior`, every pixel goes through PIXEL.
#define EMBER_DEPTHWISE_ROWS(g, lanes, use_interior, PIXEL, INTERIOR)                                 \
  do {                                                                                            \
    EMBER_FOR_EACH_BORDER_PIXEL(g, use_interior, PIXEL);                                          \
    for (int32_t c0 = 0; (use_interior) && c0 < (g)->in_c; c0 += (lanes)) {                       \
      const int32_t count = (g)->in_c - c0 < (lanes) ? (g)->in_c - c0 : (lanes);                  \
      INTERIOR                                                                                    \
    }                                                                                             \
  } while (0)

/// Runs over every output pixel whose taps all lie inside the image, with `at` the element offset of its
/// first tap's channel `c0` in `input` and `out` at its channel c0 in `output`: GROUP for `group`
/// horizontally adjacent pixels at once (`at` and `out` at the first), ONE for each pixel left over at
/// a row's end.
#define EMBER_FOR_EACH_INTERIOR_GROUP(g, type, output, c0, group, GROUP, ONE)                          \
  {                                                                                               \
    int32_t lo_, hi_;                                                                             \
    ember_interior_columns(g, &lo_, &hi_);                                                        \
    for (int32_t n_ = 0; n_ < (g)->batch; ++n_)                                                   \
      for (int32_t oy_ = 0; oy_ < (g)->out_h; ++oy_) {                                            \
        if (!ember_interior_row(g, oy_)) continue;                                                \
        const int64_t row_ = ((int64_t)n_ * (g)->in_h + oy_ * (g)->stride_h - (g)->pad_top) * (g)->in_w - (g)->pad_left; \
        type *out_row_ = (output) + ((int64_t)n_ * (g)->out_h + oy_) * (g)->out_w * (g)->out_c + (c0); \
        int32_t ox_ = lo_;                                                                        \
        for (; ox_ + (group) <= hi_; ox_ += (group)) {                                            \
          const int64_t at = (row_ + (int64_t)ox_ * (g)->stride_w) * (g)->in_c + (c0);            \
          type *out = out_row_ + (int64_t)ox_ * (g)->out_c;                                       \
          (void)at; (void)out;  /* a GROUP may read neither */                                  \
          GROUP                                                                                   \
        }                                                                                         \
        for (; ox_ < hi_; ++ox_) {                                                                \
          const int64_t at = (row_ + (int64_t)ox_ * (g)->stride_w) * (g)->in_c + (c0);            \
          type *out = out_row_ + (int64_t)ox_ * (g)->out_c;                                       \
          ONE                                                                                     \
        }                                                                                         \
      }                                                                                           \
  }

/// Element offsets, from a pixel's first tap, of its kh·kw taps in (ky, kx) order (NHWC input).
static inline void ember_tap_offsets(const ember_conv_geometry *g, int64_t *offset) {
  for (int32_t ky = 0, t = 0; ky < g->kernel_h; ++ky)
    for (int32_t kx = 0; kx < g->kernel_w; ++kx, ++t)
      offset[t] = ((int64_t)ky * g->dilation_h * g->in_w + (int64_t)kx * g->dilation_w) * g->in_c;
}

/// Runs BODY for every output pixel (n, oy, ox) with `out` at its first channel.
#define EMBER_FOR_EACH_OUTPUT_PIXEL(g, type, output, BODY)                                          \
  for (int32_t n = 0; n < (g)->batch; ++n)                                                        \
    for (int32_t oy = 0; oy < (g)->out_h; ++oy)                                                   \
      for (int32_t ox = 0; ox < (g)->out_w; ++ox) {                                               \
        type *out = (output) + (((int64_t)n * (g)->out_h + oy) * (g)->out_w + ox) * (g)->out_c;  \
        BODY                                                                                      \
      }

/// Depthwise kernels keep up to 4 vectors of channels in registers across all taps of a pixel:
/// runs BLOCK(c0, vectors, last) over [0, c) in blocks of 4·lanes channels, `vectors` (1…4) the
/// block's vector count and `last` (1…lanes) the channels its final vector holds.
#define EMBER_FOR_EACH_CHANNEL_BLOCK(c, lanes, BLOCK)                                               \
  for (int32_t c0 = 0; c0 < (c); c0 += 4 * (lanes)) {                                             \
    const int32_t rest_ = (c) - c0 < 4 * (lanes) ? (c) - c0 : 4 * (lanes);                        \
    const int32_t vectors = (rest_ + (lanes) - 1) / (lanes), last = rest_ - ((vectors) - 1) * (lanes); \
    BLOCK                                                                                         \
  }

/// Runs the body (the variadic argument) once per innermost row of a broadcast: `oi`, `ai`, `bi` are the row's first output,
/// a and b elements; the row holds `inner` outputs, a and b advancing by `a_step` / `b_step` (0 or 1).
#define EMBER_FOR_EACH_BROADCAST_ROW(bc, ...)                                                      \
  do {                                                                                            \
    const int32_t last_ = (bc)->rank - 1;                                                         \
    const int64_t inner = last_ >= 0 ? (bc)->shape[last_] : 1;                                    \
    const int64_t a_step = last_ >= 0 ? (bc)->a_strides[last_] : 0, b_step = last_ >= 0 ? (bc)->b_strides[last_] : 0; \
    int64_t rows_ = 1;                                                                            \
    for (int32_t d_ = 0; d_ < last_; ++d_) rows_ *= (bc)->shape[d_];                              \
    int32_t idx_[EMBER_MAX_RANK] = {0};                                                           \
    int64_t ai = 0, bi = 0;                                                                       \
    for (int64_t row_ = 0; row_ < rows_; ++row_) {                                                \
      const int64_t oi = row_ * inner;                                                            \
      __VA_ARGS__                                                                                 \
      for (int32_t d_ = last_ - 1; d_ >= 0; --d_) {                                               \
        ++idx_[d_];                                                                               \
        ai += (bc)->a_strides[d_];                                                                \
        bi += (bc)->b_strides[d_];                                                                \
        if (idx_[d_] < (bc)->shape[d_]) break;                                                    \
        ai -= (bc)->a_strides[d_] * (bc)->shape[d_];                                              \
        bi -= (bc)->b_strides[d_] * (bc)->shape[d_];                                              \
        idx_[d_] = 0;                                                                             \
      }                                                                                           \
    }                                                                                             \
  } while (0)

/// Calls NAME_4, NAME_3, NAME_2 or NAME_1 (the block functions of 4…1 vectors) for `vectors`.
#define EMBER_CALL_CHANNEL_BLOCK(vectors, NAME, ...)                                               \
  switch (vectors) {                                                                              \
  case 4: NAME##_4(__VA_ARGS__); break;                                                           \
  case 3: NAME##_3(__VA_ARGS__); break;                                                           \
  case 2: NAME##_2(__VA_ARGS__); break;                                                           \
  default: NAME##_1(__VA_ARGS__); break;                                                          \
  }

/// Whether a convolution is 1×1, stride 1, unpadded: its input rows are its patches, read in place.
static inline int ember_conv_is_pointwise(const ember_conv_geometry *g) {
  return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
         g->pad_left == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

// ------------------------------------------------------------------------ input-row window
// A convolution kernel that reads its taps from a window rather than gathering patches keeps, for the
// output row it computes, the kernel_h input rows that row's taps touch, each copied (and converted
// as the kernel needs) ember_window_width pixels wide from input column −pad_left, padding included.
// Every tap of every pixel of the row is then a read at a fixed offset, with no bounds test. Rows
// live in kernel_h slots, input row iy in slot ⌊(iy + pad_top) / dilation_h⌋ mod kernel_h (the rows
// of one output row get different slots), so a row the next output row reads too — all but one at
// stride 1 — is not copied again.

/// Pixels of a window row: every column a tap of the output row can touch.
static inline int32_t ember_window_width(const ember_conv_geometry *g) {
  return (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
}

/// Bytes of a slot: the row of `elem`-byte values, then at least 64 bytes a kernel may read past its
/// end (its runs are padded to whole quads or vectors; the weights there are zero).
static inline int64_t ember_window_row_bytes(const ember_conv_geometry *g, int32_t elem) {
  return ((int64_t)ember_window_width(g) * g->in_c * elem + 64 + 63) / 64 * 64;
}

static inline int64_t ember_window_header_bytes(const ember_conv_geometry *g) {
  const int64_t words = (int64_t)g->kernel_h * 2 + (int64_t)g->kernel_h * g->kernel_w;
  return (words * 8 + 63) / 64 * 64;
}

/// Scratch of a window of slots of `row_bytes`: a key per slot, a row pointer per tap row, a pointer per
/// tap, then the slots.
static inline int64_t ember_window_bytes_rows(const ember_conv_geometry *g, int64_t row_bytes) {
  return ember_window_header_bytes(g) + g->kernel_h * row_bytes;
}

/// The same for rows of the input as it is (`elem`-byte values).
static inline int64_t ember_window_bytes(const ember_conv_geometry *g, int32_t elem) {
  return ember_window_bytes_rows(g, ember_window_row_bytes(g, elem));
}

// An int8 depthwise kernel can add several taps of a channel per instruction — four int8 taps per
// vpdpbusd on AVX-512 (quads) — from input gathered per output row into slots of that many taps (t), 4
// bytes per channel: of successive tap rows (taps ky = t·r … t·r + t − 1 in slot row r), or for a kernel
// one tap high, of successive taps along the row. An image one pixel wide under a kernel one tap wide (a
// 1-D convolution over H, as keyword spotters have) runs transposed, as one row: its NHWC bytes are the
// same. (AVX2's vpmaddwd on int16 pairs measured no faster on kws_int8 and vww96_int8, whose depthwise
// layers are bound by the exact requantization there, for 2× the scratch; AVX2 keeps per-tap weights.)

/// The geometry the slotted int8 depthwise kernels run: `g`, or transposed when one pixel wide.
static inline ember_conv_geometry ember_dw_run_geometry(const ember_conv_geometry *g) {
  ember_conv_geometry t = *g;
  if (g->in_w == 1 && g->out_w == 1 && g->kernel_w == 1 && g->pad_left == 0 && g->kernel_h > 1) {
    t.in_h = 1; t.in_w = g->in_h; t.out_h = 1; t.out_w = g->out_h;
    t.kernel_h = 1; t.kernel_w = g->kernel_h; t.stride_h = 1; t.stride_w = g->stride_h;
    t.dilation_h = 1; t.dilation_w = g->dilation_h; t.pad_top = 0; t.pad_left = g->pad_top;
  }
  return t;
}

/// Whether the slots of run geometry `g` lie along the row (a kernel one tap high).
static inline int ember_dw_slots_along_row(const ember_conv_geometry *g) { return g->kernel_h == 1; }

/// Slot rows per output row of run geometry `g`, slots of `taps` taps.
static inline int32_t ember_dw_slot_rows(const ember_conv_geometry *g, int32_t taps) {
  return ((ember_dw_slots_along_row(g) ? g->kernel_w : g->kernel_h) + taps - 1) / taps;
}

/// Channels gathered at a time: all of them up to 64 (their columns one stream of bytes), else 64, so
/// that the slots of a wide layer take 256 bytes per column, not 4·in_c.
static inline int32_t ember_dw_channel_group(const ember_conv_geometry *g) { return g->in_c <= 64 ? g->in_c : 64; }

/// Bytes of a slot row: 4 per channel of a group and column (every window column across tap rows; along
/// a row, those where an output pixel starts), then at least 256 that the gather's last step may write
/// and a vector load read past its end (lanes whose weights are zero).
static inline int64_t ember_dw_slot_row_bytes(const ember_conv_geometry *g) {
  const int64_t columns = ember_dw_slots_along_row(g) ? (int64_t)(g->out_w - 1) * g->stride_w + 1 : ember_window_width(g);
  return (columns * ember_dw_channel_group(g) * 4 + 256 + 63) / 64 * 64;
}

/// Bytes of the row the slots read besides the input: zero points for tap rows outside the image, or
/// along a row the input row padded, as wide as the last slot reads.
static inline int64_t ember_dw_plain_row_bytes(const ember_conv_geometry *g, int32_t taps) {
  const int64_t columns = ember_dw_slots_along_row(g)
      ? ember_window_width(g) + (int64_t)taps * ember_dw_slot_rows(g, taps) * g->dilation_w : g->in_w;
  return (columns * g->in_c + 63) / 64 * 64;
}

typedef struct {
  int64_t *key;          // per slot: image << 32 | input row held; −1 when it holds none
  const uint8_t **row;   // per tap row ky: the slot holding it for the current output row
  const uint8_t **tap;   // per tap: room for the kernel's own pointers (kernel_h·kernel_w)
  uint8_t *slots;
  int64_t row_bytes;
} ember_window;

/// An empty window of slots of `row_bytes` in `scratch` (ember_window_bytes_rows, 64-byte aligned).
static inline ember_window ember_window_start_rows(const ember_conv_geometry *g, int64_t row_bytes, void *scratch) {
  ember_window w;
  w.key = (int64_t *)scratch;
  w.row = (const uint8_t **)(void *)(w.key + g->kernel_h);
  w.tap = w.row + g->kernel_h;
  w.slots = (uint8_t *)scratch + ember_window_header_bytes(g);
  w.row_bytes = row_bytes;
  for (int32_t s = 0; s < g->kernel_h; ++s) w.key[s] = -1;
  return w;
}

/// An empty window of input rows as they are (ember_window_bytes).
static inline ember_window ember_window_start(const ember_conv_geometry *g, int32_t elem, void *scratch) {
  return ember_window_start_rows(g, ember_window_row_bytes(g, elem), scratch);
}

/// Points win->row[ky] at the input rows output row `oy` of image `n` reads, running FILL with `dst`
/// (the slot) and `iy` (the input row, possibly outside the image) for each row the window lacks.
/// Tap row ky's slot is ⌊(oy·stride_h + ky·dilation_h) / dilation_h⌋ mod kernel_h = (⌊oy·stride_h /
/// dilation_h⌋ + ky) mod kernel_h: one division per output row (none undilated), not two per tap row.
#define EMBER_WINDOW_ROWS(g, win, n, oy, FILL)                                                       \
  do {                                                                                             \
  const int32_t top_ = (oy) * (g)->stride_h;  /* iy + pad_top of tap row 0, >= 0 */                  \
  int32_t slot_ = ((g)->dilation_h == 1 ? top_ : top_ / (g)->dilation_h) % (g)->kernel_h;           \
  for (int32_t ky_ = 0; ky_ < (g)->kernel_h; ++ky_, slot_ = slot_ + 1 == (g)->kernel_h ? 0 : slot_ + 1) { \
    const int32_t iy = top_ + ky_ * (g)->dilation_h - (g)->pad_top;                                  \
    const int64_t key_ = (int64_t)(n) << 32 | (uint32_t)iy;                                          \
    uint8_t *dst = (win)->slots + slot_ * (win)->row_bytes;                                         \
    if ((win)->key[slot_] != key_) {                                                               \
      FILL;                                                                                        \
      (win)->key[slot_] = key_;                                                                    \
    }                                                                                              \
    (win)->row[ky_] = dst;                                                                         \
  }                                                                                                \
  } while (0)

/// Where a GEMM tile's rows read their inputs, in the packed weights' k order: `runs` runs of `length`
/// units (int8 quads, int16 pairs or floats: the kernel's), run t of tile row r starting `col` + r·pixel
/// bytes after run[t] — a convolution's tap rows (or taps) in its window, or a fully connected layer's
/// rows (one run).
typedef struct {
  const uint8_t *const *run;
  int32_t runs, length;
  int64_t pixel;
} ember_run_source;

/// Runs a convolution through its window `win` of input rows of `elem`-byte values, `length` units per
/// run (ember_conv_k_runs: a tap row of kernel_w·in_c values, or a tap of in_c with dilation_w > 1):
/// per output row of each image, FILL (with dst, n, iy) fills the rows the window lacks, a dilated
/// kernel's tap pointers follow, and ROWS runs with `src` (an ember_run_source) and `out_at`, the
/// row's first output pixel.
#define EMBER_WINDOW_CONV(g, win, elem, length, FILL, ROWS)                                          \
  do {                                                                                            \
    const int32_t per_row_ = (g)->dilation_w == 1 ? 1 : (g)->kernel_w;                            \
    const int64_t tap_bytes_ = (int64_t)(g)->dilation_w * (g)->in_c * (elem);                     \
    const ember_run_source src = {per_row_ == 1 ? (win)->row : (win)->tap, (g)->kernel_h * per_row_, (length), \
                                  (int64_t)(g)->stride_w * (g)->in_c * (elem)};                    \
    for (int32_t n = 0; n < (g)->batch; ++n)                                                      \
      for (int32_t oy = 0; oy < (g)->out_h; ++oy) {                                               \
        EMBER_WINDOW_ROWS(g, win, n, oy, FILL);                                                   \
        for (int32_t t_ = 0; per_row_ > 1 && t_ < src.runs; ++t_)                                 \
          (win)->tap[t_] = (win)->row[t_ / per_row_] + (int64_t)(t_ % per_row_) * tap_bytes_;     \
        const int64_t out_at = ((int64_t)n * (g)->out_h + oy) * (g)->out_w;                       \
        ROWS;                                                                                     \
      }                                                                                           \
  } while (0)

/// The columns [*lo, *hi) of a window row that lie inside the image (lo = hi when none); column j is
/// input column j − pad_left.
static inline void ember_window_inside(const ember_conv_geometry *g, int32_t width, int32_t *lo, int32_t *hi) {
  *lo = g->pad_left > 0 ? (g->pad_left < width ? g->pad_left : width) : 0;
  const int32_t end = g->pad_left + g->in_w;
  *hi = end < width ? end : width;
  if (*hi < *lo) *hi = *lo;
}

/// Input row `iy` of image `n` (floats) as a window row of `width` pixels from column −pad_left, 0.0
/// outside the image (portable: the f32 kernels of every ISA that windows).
static inline void ember_fill_window_row_f32(float *dst, const ember_conv_geometry *g, const float *input, int32_t n,
                                             int32_t iy, int32_t width) {
  const int64_t c = g->in_c, count = width * c;
  int32_t lo, hi;
  ember_window_inside(g, width, &lo, &hi);
  if (iy < 0 || iy >= g->in_h) lo = hi = width;  // all padding
  for (int64_t i = 0; i < lo * c; ++i) dst[i] = 0.0f;
  if (hi > lo) memcpy(dst + lo * c, input + (((int64_t)n * g->in_h + iy) * g->in_w + (lo - g->pad_left)) * c,
                      sizeof(float) * (size_t)((hi - lo) * c));
  for (int64_t i = (hi > lo ? hi : lo) * c; i < count; ++i) dst[i] = 0.0f;
}

/// The pixels of an f32 bilinear resize (ember_resize_bilinear_f32_ref's) as the SIMD kernels visit them:
/// columns 64 at a time with their axis values (ember_resize_bilinear_f32_axis) computed once for every
/// row — with few channels they cost more than the interpolation — then per output pixel BODY with
/// dy, dx (the fractions), p00, p10, p01, p11 (the four source pixels: rows y0/y1, columns x0/x1) and
/// o (the output pixel); BODY is the variadic tail, so its commas need no parentheses.
#define EMBER_BILINEAR_F32_PIXELS(batch, in_h, in_w, channels, out_h, out_w, align_corners, half_pixel, in, out, ...) \
  do {                                                                                                 \
    float dxs_[64];                                                                                    \
    int32_t x0s_[64], x1s_[64];                                                                        \
    for (int32_t xc_ = 0; xc_ < (out_w); xc_ += 64) {                                                  \
      const int32_t columns_ = (out_w) - xc_ < 64 ? (out_w) - xc_ : 64;                                \
      for (int32_t j_ = 0; j_ < columns_; ++j_)                                                        \
        ember_resize_bilinear_f32_axis(xc_ + j_, in_w, out_w, align_corners, half_pixel, &dxs_[j_], &x0s_[j_], &x1s_[j_]); \
      for (int32_t n_ = 0; n_ < (batch); ++n_)                                                         \
        for (int32_t y_ = 0; y_ < (out_h); ++y_) {                                                     \
          float dy;                                                                                    \
          int32_t y0_, y1_;                                                                            \
          ember_resize_bilinear_f32_axis(y_, in_h, out_h, align_corners, half_pixel, &dy, &y0_, &y1_); \
          const float *row0_ = (in) + ((int64_t)n_ * (in_h) + y0_) * (in_w) * (channels);              \
          const float *row1_ = (in) + ((int64_t)n_ * (in_h) + y1_) * (in_w) * (channels);              \
          for (int32_t x_ = xc_; x_ < xc_ + columns_; ++x_) {                                          \
            const float dx = dxs_[x_ - xc_];                                                           \
            const float *p00 = row0_ + (int64_t)x0s_[x_ - xc_] * (channels);                           \
            const float *p10 = row1_ + (int64_t)x0s_[x_ - xc_] * (channels);                           \
            const float *p01 = row0_ + (int64_t)x1s_[x_ - xc_] * (channels);                           \
            const float *p11 = row1_ + (int64_t)x1s_[x_ - xc_] * (channels);                           \
            float *o = (out) + (((int64_t)n_ * (out_h) + y_) * (out_w) + x_) * (channels);             \
            __VA_ARGS__                                                                                \
          }                                                                                            \
        }                                                                                              \
    }                                                                                                  \
  } while (0)

/// Defines fill_window_row_f32_dw for an ISA file (TARGET, its f32_gemm_strided as GEMM and its
/// post_unary_<isa> as POST): input row iy of image n as a depthwise window row — the stored input's,
/// or with w->expand the pointwise layer's output computed here from its input row (the GEMM and the
/// activation, as that layer's kernel runs them) — 0.0 outside the image.
#define EMBER_DEFINE_FILL_WINDOW_ROW_F32_DW(GEMM, POST)                                                 \
  TARGET static void fill_window_row_f32_dw(float *dst, const ember_conv_geometry *g, const ember_f32_dw *w, \
                                            const float *input, int32_t n, int32_t iy, int32_t width) { \
    if (!w->expand) {                                                                                   \
      ember_fill_window_row_f32(dst, g, input, n, iy, width);                                           \
      return;                                                                                           \
    }                                                                                                   \
    const int64_t c = g->in_c, k = w->expand->k;                                                        \
    int32_t lo, hi;                                                                                     \
    ember_window_inside(g, width, &lo, &hi);                                                            \
    if (iy < 0 || iy >= g->in_h) lo = hi = width;                                                       \
    memset(dst, 0, sizeof(float) * (size_t)(lo * c));                                                  \
    if (hi > lo) {                                                                                      \
      float *out = dst + lo * c;                                                                        \
      GEMM(hi - lo, input + (((int64_t)n * g->in_h + iy) * g->in_w + lo - g->pad_left) * k, k, w->expand, out, c); \
      POST(w->expand->post_unary, w->expand->post_alpha, (int64_t)(hi - lo) * c, out);                  \
    }                                                                                                   \
    memset(dst + hi * c, 0, sizeof(float) * (size_t)((width - hi) * c));                                \
  }

/// One row of an INT4 block-32 layer's inputs regrouped per block of 32: the 16 even inputs (those the
/// blocks' low nibbles multiply), then the 16 odd ones, so that a vector of nibbles meets a vector of inputs.
static inline void ember_q4_regroup(const float *x, int32_t in_features, float *dst) {
  for (int32_t b = 0; b + 32 <= in_features; b += 32)
    for (int32_t j = 0; j < 16; ++j) {
      dst[b + j] = x[b + 2 * j];
      dst[b + 16 + j] = x[b + 2 * j + 1];
    }
}

/// The INT4 GEMV loop every ISA shares: per row the inputs regrouped into `scratch`, then U (4, then 1 for
/// the rest) outputs at a time; BLOCKS(U, w, xs, out) accumulates and stores outputs [o, o + U) from their
/// weight rows at w (row_bytes apart).
#define EMBER_Q4_ROWS(rows, in_features, out_features, input, weights, scratch, output, BLOCKS)            \
  do {                                                                                                  \
    const int64_t row_bytes = (int64_t)((in_features) / 32) * 18;                                     \
    float *xs = (float *)(scratch);                                                                   \
    for (int64_t r_ = 0; r_ < (rows); ++r_) {                                                         \
      ember_q4_regroup((input) + r_ * (in_features), in_features, xs);                               \
      float *out = (output) + r_ * (out_features);                                                    \
      int32_t o = 0;                                                                                  \
      for (; o + 4 <= (out_features); o += 4) BLOCKS(4, (weights) + o * row_bytes, xs, out + o);      \
      for (; o < (out_features); ++o) BLOCKS(1, (weights) + o * row_bytes, xs, out + o);              \
    }                                                                                                 \
  } while (0)

/// An output pixel: image, row and column. Kernels walk pixels in batch × out_h × out_w order
/// with ember_pixel_next rather than dividing a flat index per pixel (four divisions per pixel
/// cost as much as a small layer's arithmetic).
typedef struct {
  int32_t n, oy, ox;
} ember_pixel;

static inline void ember_pixel_next(const ember_conv_geometry *g, ember_pixel *p) {
  if (++p->ox < g->out_w) return;
  p->ox = 0;
  if (++p->oy < g->out_h) return;
  p->oy = 0;
  ++p->n;
}

/// Runs over the kh·kw taps of output pixel `px`'s (an ember_pixel) patch in (ky, kx) order. Inside the body
/// `t` is the tap index; INSIDE runs with `at` = the element offset of the tap's first channel in
/// `input`, OUTSIDE when the tap falls in the padding.
#define EMBER_FOR_EACH_PATCH_TAP(g, px, INSIDE, OUTSIDE)                                               \
  do {                                                                                             \
    const int32_t tap_n_ = (px).n, tap_oy_ = (px).oy, tap_ox_ = (px).ox;                           \
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

/// dst[0..n) = src[0..n) for floats; short runs (a tap of a few channels) by a plain loop, since a
/// libc memcpy call per tap costs more than the copy.
static inline void ember_copy_floats(float *dst, const float *src, int32_t n) {
  if (n > 32) {
    memcpy(dst, src, sizeof(float) * (size_t)n);
    return;
  }
  for (int32_t i = 0; i < n; ++i) dst[i] = src[i];
}

/// Whether output pixel px's whole patch lies inside the image with dilation_w 1, so that it can be read
/// in place: kernel_h runs of kernel_w·in_c elements, ember_patch_run_stride(g) apart, the first at
/// element *at of the input.
static inline int ember_patch_in_place(const ember_conv_geometry *g, ember_pixel px, int64_t *at) {
  const int32_t iy0 = px.oy * g->stride_h - g->pad_top, ix0 = px.ox * g->stride_w - g->pad_left;
  *at = (((int64_t)px.n * g->in_h + iy0) * g->in_w + ix0) * g->in_c;
  return g->dilation_w == 1 && iy0 >= 0 && ix0 >= 0 && ix0 + g->kernel_w <= g->in_w &&
         iy0 + (g->kernel_h - 1) * g->dilation_h < g->in_h;
}

static inline int64_t ember_patch_run_stride(const ember_conv_geometry *g) {
  return (int64_t)g->dilation_h * g->in_w * g->in_c;
}

/// Runs over output pixel `px`'s patch in (ky, kx) order as runs: INSIDE with `k` (the run's first
/// patch element), `at` (its first input element) and `len` (elements) for input that is inside the
/// image — a row of taps wholly inside (dilation 1) is one run — and OUTSIDE with `k` and `len` for a
/// tap in the padding. Leaves `k` (declared by the caller) at the patch's length.
#define EMBER_FOR_EACH_PATCH_RUN(g, px, k, INSIDE, OUTSIDE)                                           \
  do {                                                                                             \
    const int32_t c_ = (g)->in_c, ix0_ = (px).ox * (g)->stride_w - (g)->pad_left;                  \
    const int32_t iy0_ = (px).oy * (g)->stride_h - (g)->pad_top;                                   \
    const int32_t row_inside_ = (g)->dilation_w == 1 && ix0_ >= 0 && ix0_ + (g)->kernel_w - 1 < (g)->in_w; \
    k = 0;                                                                                         \
    int64_t first_;                                                                                \
    const int32_t all_inside_ = ember_patch_in_place(g, px, &first_);                              \
    if (all_inside_) {  /* most pixels: kernel_h runs, without per-row tests */                    \
      const int32_t len = (g)->kernel_w * c_;                                                      \
      const int64_t step_ = ember_patch_run_stride(g);                                             \
      int64_t at = first_;                                                                         \
      for (int32_t ky_ = 0; ky_ < (g)->kernel_h; ++ky_, at += step_, k += len) { INSIDE; }         \
    }                                                                                              \
    for (int32_t ky_ = 0; !all_inside_ && ky_ < (g)->kernel_h; ++ky_) {                            \
      const int32_t iy_ = iy0_ + ky_ * (g)->dilation_h;                                            \
      const int32_t iy_inside_ = iy_ >= 0 && iy_ < (g)->in_h;                                      \
      const int64_t row_ = ((int64_t)(px).n * (g)->in_h + iy_) * (g)->in_w;                        \
      if (row_inside_ && iy_inside_) {                                                             \
        const int64_t at = (row_ + ix0_) * c_;                                                     \
        const int32_t len = (g)->kernel_w * c_;                                                    \
        INSIDE;                                                                                    \
        k += len;                                                                                  \
        continue;                                                                                  \
      }                                                                                            \
      for (int32_t kx_ = 0; kx_ < (g)->kernel_w; ++kx_, k += c_) {                                 \
        const int32_t ix_ = ix0_ + kx_ * (g)->dilation_w, len = c_;                                \
        const int64_t at = (row_ + ix_) * c_;                                                      \
        if (!iy_inside_ || ix_ < 0 || ix_ >= (g)->in_w) { OUTSIDE; }                               \
        else { INSIDE; }                                                                           \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/// The patch of output pixel `px` as kh·kw·in_c floats, zeros where a tap falls outside the image.
static inline void ember_gather_f32(const ember_conv_geometry *g, const float *input, ember_pixel px, float *dst) {
  int64_t k;
  EMBER_FOR_EACH_PATCH_RUN(g, px, k, ember_copy_floats(dst + k, input + at, len),
                           memset(dst + k, 0, sizeof(float) * (size_t)len));
  (void)k;
}

/// f32 convolutions whose packed weights pass 1 MiB and whose patches fit 1 MiB run weight-stationary on
/// x86 (ResNet-18's 7×7 layers: 9.4 MB of weights for 49 pixels): every pixel's patch gathered once into
/// scratch, then each pair of weight panels — which then stays in L2 — runs over all the pixels in
/// 8-row tiles that cross output rows. Per output row, the window path streamed all the weights again
/// for tiles of the row's 7 pixels (4 + 3 rows: a weight load per 4 FMAs).
static inline int64_t ember_patches_bytes(const ember_conv_geometry *g) {
  return (int64_t)g->batch * g->out_h * g->out_w * g->kernel_h * g->kernel_w * g->in_c * 4;
}
static inline int ember_conv_f32_big_weights(const ember_conv_geometry *g, int32_t n_padded) {
  return !ember_conv_is_pointwise(g) && (int64_t)g->kernel_h * g->kernel_w * g->in_c * n_padded * 4 > (1 << 20);
}
static inline int ember_conv_f32_weight_stationary(const ember_conv_geometry *g, int32_t n_padded) {
  return ember_conv_f32_big_weights(g, n_padded) && ember_patches_bytes(g) <= (1 << 20);
}

/// The weight-stationary loops: the patches gathered into `scratch`, then per pair of panels (`panels`)
/// all pixels in tiles of MAX_ROWS, 4 or fewer rows; TILE(r, live, panel, col, out) runs r pixels from
/// byte `col` of the patch rows (an ember_run_source `src`) into `out` (row stride `n`).
#define EMBER_WEIGHT_STATIONARY_CONV(g, input, scratch, output, panels, n, MAX_ROWS, TILE)              \
  do {                                                                                              \
    const int32_t k_ = (g)->kernel_h * (g)->kernel_w * (g)->in_c;                                  \
    const int64_t pixels_ = (int64_t)(g)->batch * (g)->out_h * (g)->out_w;                         \
    float *patches_ = (float *)(scratch);                                                           \
    ember_pixel px_ = {0, 0, 0};                                                                    \
    for (int64_t p_ = 0; p_ < pixels_; ++p_, ember_pixel_next(g, &px_))                             \
      ember_gather_f32(g, input, px_, patches_ + p_ * k_);                                          \
    const uint8_t *row_ = (const uint8_t *)patches_;                                                \
    const ember_run_source src = {&row_, 1, k_, (int64_t)k_ * 4};                                   \
    for (int32_t panel = 0; panel < (panels); panel += 2) {                                         \
      const int32_t live = (panels) - panel < 2 ? (panels) - panel : 2;                             \
      for (int64_t p_ = 0; p_ < pixels_;) {                                                         \
        const int32_t r = pixels_ - p_ >= (MAX_ROWS) ? (MAX_ROWS) : pixels_ - p_ >= 4 ? 4 : (int32_t)(pixels_ - p_); \
        const int64_t col = p_ * k_ * 4;                                                            \
        float *out = (output) + p_ * (n);                                                           \
        TILE;                                                                                       \
        p_ += r;                                                                                    \
      }                                                                                             \
    }                                                                                               \
  } while (0)

/// The dynamic-range convolution of an ISA file, per batch: QUANTIZE(x, count, q) quantizes one batch
/// of input into the front of scratch and returns its scale; CONV(g, q, w, scratch, out) is the file's
/// int8 GEMM convolution, here with f32 output at scale input_scale × filter_scale.
#define EMBER_HYBRID_CONV_BODY(g, input, w, scratch, output, QUANTIZE, CONV)                          \
  do {                                                                                             \
    const int64_t in_per_batch_ = (int64_t)(g)->in_h * (g)->in_w * (g)->in_c;                      \
    const int64_t out_per_batch_ = (int64_t)(g)->out_h * (g)->out_w * (w)->n;                      \
    int8_t *quantized_ = (int8_t *)(scratch);                                                      \
    void *gemm_scratch_ = quantized_ + (in_per_batch_ + 63) / 64 * 64;                             \
    ember_conv_geometry one_ = *(g);                                                               \
    one_.batch = 1;                                                                                \
    ember_qs8_gemm batch_w_ = *(w);                                                                \
    for (int32_t n_ = 0; n_ < (g)->batch; ++n_) {                                                  \
      const float input_scale_ = QUANTIZE((input) + n_ * in_per_batch_, in_per_batch_, quantized_); \
      batch_w_.float_scale = input_scale_ * (w)->filter_scale;                                     \
      CONV(&one_, quantized_, &batch_w_, gemm_scratch_, (output) + n_ * out_per_batch_);           \
    }                                                                                              \
  } while (0)

/// The dynamic-range fully connected of an ISA file, row by row: QUANTIZE quantizes one row into the
/// front of scratch and returns its scale; FC(rows, q, w, scratch, out) is the file's int8 GEMM FC.
#define EMBER_HYBRID_FC_BODY(rows, input, w, scratch, output, QUANTIZE, FC)                           \
  do {                                                                                             \
    int8_t *quantized_ = (int8_t *)(scratch);                                                      \
    void *gemm_scratch_ = quantized_ + ((int64_t)(w)->k + 63) / 64 * 64;                           \
    ember_qs8_gemm row_w_ = *(w);                                                                  \
    for (int64_t r_ = 0; r_ < (rows); ++r_) {                                                      \
      const float input_scale_ = QUANTIZE((input) + r_ * (w)->k, (w)->k, quantized_);              \
      row_w_.float_scale = input_scale_ * (w)->filter_scale;                                       \
      FC(1, quantized_, &row_w_, gemm_scratch_, (output) + r_ * (w)->n);                           \
    }                                                                                              \
  } while (0)

/// Every output pixel of a pooling layer (ember_pool_geometry) with its window clipped to the image,
/// as ember_max_pool_*_ref visits them: n, oy, ox, input rows [ys, ye) and columns [xs, xe), and
/// obase, the output pixel's first element. The body is the macro's last argument(s).
#define EMBER_FOR_EACH_POOL_WINDOW(g, ...)                                                           \
  for (int32_t n = 0; n < (g)->batch; ++n)                                                         \
    for (int32_t oy = 0; oy < (g)->out_h; ++oy)                                                    \
      for (int32_t ox = 0; ox < (g)->out_w; ++ox) {                                                \
        const int32_t y0 = oy * (g)->stride_h - (g)->pad_top, x0 = ox * (g)->stride_w - (g)->pad_left; \
        const int32_t ys = y0 < 0 ? 0 : y0, xs = x0 < 0 ? 0 : x0;                                  \
        const int32_t ye = y0 + (g)->kernel_h > (g)->in_h ? (g)->in_h : y0 + (g)->kernel_h;        \
        const int32_t xe = x0 + (g)->kernel_w > (g)->in_w ? (g)->in_w : x0 + (g)->kernel_w;        \
        const int64_t obase = (((int64_t)n * (g)->out_h + oy) * (g)->out_w + ox) * (g)->channels;  \
        __VA_ARGS__                                                                                \
      }

#endif
