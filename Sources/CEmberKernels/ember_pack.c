// Weight packing for the optimized kernels (portable C, run once at prepare), and the table of
// each ISA's kernels.
// Layouts (ember_kernels.h, "Optimized kernels"):
//   EMBER_ISA_AVX512 int8: [n_padded/16][k_padded/4][16][4] int8, k_padded = ceil4(k), or for a
//                          convolution runs × ceil4(run length) (ember_conv_k_runs)
//   EMBER_ISA_NEON_DOTPROD int8: [n_padded/8][k_padded/4][8][4] int8
//   EMBER_ISA_AVX2, EMBER_ISA_NEON int8: [n_padded/8][k_padded/2][8][2] int16, k_padded = ceil2(k)
//   f32 (all):             [n_padded/NR][k][NR] float, NR = 16 (AVX-512) or 8 (AVX2, NEON)
//   depthwise:             [taps][c_padded] int32 (int8) or float (f32)
// Padding (channels beyond n, k beyond k) is zero, so it adds nothing.
#include "ember_fp_contract.h"
#include "ember_kernels.h"
#include "ember_conv_loops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int32_t ember_isa_lanes(int32_t isa) { return isa == EMBER_ISA_AVX512 ? 16 : 8; }

static int32_t round_up(int32_t x, int32_t m) { return (x + m - 1) / m * m; }

/// Bytes rounded up to a 64-byte line, so the next scratch region starts aligned.
static int64_t whole_lines(int64_t bytes) { return (bytes + 63) / 64 * 64; }

/// Whether the ISA's int8 GEMM multiplies quads of bytes (VNNI, sdot) rather than int16 pairs.
static int int8_quads(int32_t isa) { return isa == EMBER_ISA_AVX512 || isa == EMBER_ISA_NEON_DOTPROD; }

int32_t ember_qs8_k_padded(int32_t isa, int32_t k) { return round_up(k, int8_quads(isa) ? 4 : 2); }

int32_t ember_n_padded(int32_t isa, int32_t n) { return round_up(n, ember_isa_lanes(isa)); }

int64_t ember_qs8_packed_bytes(int32_t isa, int32_t k, int32_t n) {
  return ember_qs8_packed_bytes_runs(isa, (ember_k_runs){1, k}, n);
}

ember_k_runs ember_conv_k_runs(int32_t isa, const ember_conv_geometry *g) {
  const int32_t k = g->kernel_h * g->kernel_w * g->in_c;
  // The x86 int8 convolutions read runs from their window of input rows (pointwise layers go through
  // their fully connected path, one run); NEON gathers patches.
  if ((isa != EMBER_ISA_AVX512 && isa != EMBER_ISA_AVX2) || ember_conv_is_pointwise(g)) return (ember_k_runs){1, k};
  if (g->dilation_w == 1) return (ember_k_runs){g->kernel_h, g->kernel_w * g->in_c};
  return (ember_k_runs){g->kernel_h * g->kernel_w, g->in_c};
}

int32_t ember_qs8_k_padded_runs(int32_t isa, ember_k_runs r) {
  return r.runs * round_up(r.length, int8_quads(isa) ? 4 : 2);
}

int64_t ember_qs8_packed_bytes_runs(int32_t isa, ember_k_runs r, int32_t n) {
  const int64_t elems = (int64_t)ember_qs8_k_padded_runs(isa, r) * ember_n_padded(isa, n);
  return int8_quads(isa) ? elems : elems * 2;
}

void ember_qs8_pack(int32_t isa, int32_t k, int32_t n, const int8_t *weights, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int32_t input_zero_point,
                    void *packed, int32_t *bias_out, int32_t *mult_out, int32_t *shift_out) {
  ember_qs8_pack_runs(isa, (ember_k_runs){1, k}, n, weights, bias, multiplier, shift, input_zero_point, packed,
                      bias_out, mult_out, shift_out);
}

void ember_qs8_pack_runs(int32_t isa, ember_k_runs r, int32_t n, const int8_t *weights, const int32_t *bias,
                         const int32_t *multiplier, const int32_t *shift, int32_t input_zero_point, void *packed,
                         int32_t *bias_out, int32_t *mult_out, int32_t *shift_out) {
  const int32_t k = r.runs * r.length, kp = ember_qs8_k_padded_runs(isa, r), np = ember_n_padded(isa, n);
  const int32_t lanes = ember_isa_lanes(isa), run_padded = kp / (r.runs > 0 ? r.runs : 1);
  memset(packed, 0, (size_t)ember_qs8_packed_bytes_runs(isa, r, n));
  const int32_t quads = int8_quads(isa);
  int8_t *bytes = (int8_t *)packed;
  int16_t *pairs = (int16_t *)packed;
  // No division per weight (a 100k-weight layer packed in well under a millisecond): the panel and lane
  // once per output channel, each weight's place among the padded runs from the run and the tap in it.
  for (int32_t o = 0; o < np; ++o) {
    int32_t sum = 0;
    const int64_t panel = o / lanes, lane = o % lanes;
    for (int32_t j = 0; o < n && j < r.runs; ++j) {
      const int8_t *run = weights + (int64_t)o * k + (int64_t)j * r.length;
      for (int32_t t = 0; t < r.length; ++t) {
        const int8_t w = run[t];
        const int64_t at = (int64_t)j * run_padded + t;  // its place among the padded runs
        sum += w;
        if (quads) bytes[((panel * (kp / 4) + (at >> 2)) * lanes + lane) * 4 + (at & 3)] = w;
        else pairs[((panel * (kp / 2) + (at >> 1)) * lanes + lane) * 2 + (at & 1)] = w;
      }
    }
    const int32_t b = (o < n && bias) ? bias[o] : 0;
    // AVX-512 multiplies unsigned input bytes x + 128: (x - zp)·w = (x + 128)·w − (128 + zp)·w.
    // sdot multiplies the raw signed bytes: (x - zp)·w = x·w − zp·w. The int16 paths subtract zp first.
    const int32_t folded = isa == EMBER_ISA_AVX512 ? 128 + input_zero_point
                           : isa == EMBER_ISA_NEON_DOTPROD ? input_zero_point : 0;
    bias_out[o] = (int32_t)((uint32_t)b - (uint32_t)(folded * sum));
    mult_out[o] = o < n ? multiplier[o] : 0;
    shift_out[o] = o < n ? shift[o] : 0;
  }
}

void ember_f32_pack(int32_t isa, int32_t k, int32_t n, const float *weights, const float *bias,
                    float *packed, float *bias_out) {
  const int32_t np = ember_n_padded(isa, n), lanes = ember_isa_lanes(isa);
  for (int32_t o = 0; o < np; ++o) {
    const int64_t panel = o / lanes, lane = o % lanes;
    for (int32_t i = 0; i < k; ++i)
      packed[(panel * k + i) * lanes + lane] = o < n ? weights[(int64_t)o * k + i] : 0.0f;
    bias_out[o] = (o < n && bias) ? bias[o] : 0.0f;
  }
}

int32_t ember_dw_s8_slot_taps(int32_t isa) { return isa == EMBER_ISA_AVX512 ? 4 : 0; }

/// The packed kernel height and width: slots run along the tap rows, or along the one row of a kernel
/// one tap high (taps × 1); kernels without slots keep the kernel's.
void ember_dw_s8_packed_kernel(int32_t isa, const ember_conv_geometry *g, int32_t *kh, int32_t *kw) {
  const ember_conv_geometry run = ember_dw_run_geometry(g);
  const int along = ember_dw_s8_slot_taps(isa) > 0 && ember_dw_slots_along_row(&run);
  *kh = along ? g->kernel_h * g->kernel_w : g->kernel_h;
  *kw = along ? 1 : g->kernel_w;
}

int64_t ember_dw_s8_weight_bytes(int32_t isa, const ember_conv_geometry *g) {
  const int64_t cp = ember_n_padded(isa, g->in_c);
  const int32_t taps = ember_dw_s8_slot_taps(isa);
  int32_t kh, kw;
  ember_dw_s8_packed_kernel(isa, g, &kh, &kw);
  // Quads are 4 bytes per channel and slot; int32 weights 4 per tap.
  if (taps > 0) return cp * ((kh + taps - 1) / taps) * kw * 4;
  return cp * kh * kw * (int64_t)sizeof(int32_t);
}

void ember_dw_pack_s8(int32_t isa, const ember_conv_geometry *g, const int8_t *filter, const int32_t *bias,
                      const int32_t *multiplier, const int32_t *shift, int32_t input_zero_point, void *packed,
                      int32_t *bias_out, int32_t *mult_out, int32_t *shift_out) {
  int32_t kernel_h, kernel_w;
  ember_dw_s8_packed_kernel(isa, g, &kernel_h, &kernel_w);
  const int32_t channels = g->in_c, cp = ember_n_padded(isa, channels), taps = kernel_h * kernel_w;
  const int32_t per = ember_dw_s8_slot_taps(isa), rows = per > 0 ? (kernel_h + per - 1) / per : 0;
  // The quads' inputs are x ^ 0x80 (unsigned for vpdpbusd): the bias takes that zero point times Σw off.
  const uint32_t folded_zero_point = (uint32_t)(128 + input_zero_point);
  for (int32_t c = 0; c < cp; ++c) {
    // Ember's depthwise filter is [c][kh][kw][1].
    const int8_t *f = filter + (int64_t)c * taps;
    uint32_t sum = 0;  // Σw, for the folded bias (wrapping as the kernel's int32 sums do)
    if (per > 0) {
      // [c_padded/16][rows][kw][16][4] int8 quads.
      int8_t *quads = (int8_t *)packed + (int64_t)c / 16 * rows * kernel_w * 64 + c % 16 * 4;
      for (int32_t r = 0; r < rows; ++r)
        for (int32_t kx = 0; kx < kernel_w; ++kx)
          for (int32_t i = 0; i < 4; ++i) {
            const int32_t ky = 4 * r + i;
            quads[(r * kernel_w + kx) * 64 + i] = c < channels && ky < kernel_h ? f[ky * kernel_w + kx] : 0;
          }
    } else {
      for (int32_t t = 0; t < taps; ++t) ((int32_t *)packed)[(int64_t)t * cp + c] = c < channels ? f[t] : 0;
    }
    for (int32_t t = 0; c < channels && t < taps; ++t) sum += (uint32_t)(int32_t)f[t];
    const uint32_t b = (c < channels && bias) ? (uint32_t)bias[c] : 0;
    bias_out[c] = per > 0 ? (int32_t)(b - folded_zero_point * sum) : (int32_t)b;
    mult_out[c] = c < channels ? multiplier[c] : 0;
    shift_out[c] = c < channels ? shift[c] : 0;
  }
}

void ember_dw_pack_f32(int32_t isa, int32_t taps, int32_t channels, const float *filter, const float *bias,
                       float *packed, float *bias_out) {
  const int32_t cp = ember_n_padded(isa, channels);
  for (int32_t c = 0; c < cp; ++c) {
    for (int32_t t = 0; t < taps; ++t) packed[(int64_t)t * cp + c] = c < channels ? filter[(int64_t)c * taps + t] : 0.0f;
    bias_out[c] = (c < channels && bias) ? bias[c] : 0.0f;
  }
}

// The GEMM kernels gather MR rows at a time: 8 on AVX-512, 4 on AVX2 (MR in their files).
int64_t ember_gemm_scratch_bytes(int32_t isa, int32_t k, int32_t is_int8) {
  const int64_t rows = isa == EMBER_ISA_AVX512 ? 8 : 4;
  if (!is_int8) return rows * k * (int64_t)sizeof(float);
  return rows * ember_qs8_k_padded(isa, k) * (int8_quads(isa) ? 1 : 2);
}

int64_t ember_hybrid_scratch_bytes(int32_t isa, int64_t input_per_batch, int32_t k) {
  return whole_lines(input_per_batch) + ember_gemm_scratch_bytes(isa, k, 1);
}

int64_t ember_conv_scratch_bytes(int32_t isa, const ember_conv_geometry *g, int32_t is_int8) {
  if (ember_conv_is_pointwise(g)) return ember_gemm_scratch_bytes(isa, g->kernel_h * g->kernel_w * g->in_c, is_int8);
  // x86 windows: AVX-512 int8 as unsigned bytes, AVX2 int8 as int16, f32 as it is.
  if ((isa == EMBER_ISA_AVX512 || isa == EMBER_ISA_AVX2) && !is_int8 &&
      ember_conv_f32_big_weights(g, ember_n_padded(isa, g->out_c))) {
    // A thread's row slice may take the weight-stationary path where the whole layer's patches are too
    // many for it: room for up to 1 MiB of patches (a slice's patches are at most the layer's).
    const int64_t window = ember_window_bytes(g, 4), patches = ember_patches_bytes(g);
    const int64_t room = patches < (1 << 20) ? patches : (1 << 20);
    return window > room ? window : room;
  }
  if (isa == EMBER_ISA_AVX512) return ember_window_bytes(g, is_int8 ? 1 : 4);
  if (isa == EMBER_ISA_AVX2) return ember_window_bytes(g, is_int8 ? 2 : 4);
  return ember_gemm_scratch_bytes(isa, g->kernel_h * g->kernel_w * g->in_c, is_int8);
}

void ember_conv2d_hybrid_part(int32_t isa, const ember_conv_geometry *part, int64_t image, int64_t offset,
                              const float *input, const ember_qs8_gemm *w, void *scratch, float *output) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  if (!t || !t->hybrid_quantize) return;
  int8_t *quantized = (int8_t *)scratch;
  void *gemm_scratch = quantized + whole_lines(image);
  const int64_t out_per_batch = (int64_t)part->out_h * part->out_w * w->n;
  ember_conv_geometry one = *part;
  one.batch = 1;
  ember_qs8_gemm batch_w = *w;
  for (int32_t n = 0; n < part->batch; ++n) {
    batch_w.float_scale = t->hybrid_quantize(input + n * image, image, quantized) * w->filter_scale;
    t->conv2d_s8(&one, quantized + offset, &batch_w, gemm_scratch, (int8_t *)(void *)(output + n * out_per_batch));
  }
}

/// For every tap of input row iy of a transposed conv that lands inside the output: ADD with `at`, the
/// output pixel's first element (in one image), and `from`, the tap's products in the row's GEMM output
/// (in_w pixels × taps_c, column (tap, oc)).
#define TRANSPOSE_CONV_ADD_ROW(g, iy, taps_c, out_c, ADD)                                            \
  for (int32_t ky = 0; ky < (g)->kernel_h; ++ky) {                                                  \
    const int32_t oy = (iy) * (g)->stride_h - (g)->pad_top + ky;                                    \
    if (oy < 0 || oy >= (g)->out_h) continue;                                                       \
    for (int32_t ix = 0; ix < (g)->in_w; ++ix)                                                      \
      for (int32_t kx = 0; kx < (g)->kernel_w; ++kx) {                                              \
        const int32_t ox = ix * (g)->stride_w - (g)->pad_left + kx;                                 \
        if (ox < 0 || ox >= (g)->out_w) continue;                                                   \
        const int64_t at = ((int64_t)oy * (g)->out_w + ox) * (out_c);                               \
        const int64_t from = (int64_t)ix * (taps_c) + ((int64_t)ky * (g)->kernel_w + kx) * (out_c); \
        ADD                                                                                         \
      }                                                                                             \
  }

int64_t ember_transpose_conv2d_s8_scratch_bytes(int32_t isa, const ember_conv_geometry *g, const ember_qs8_gemm *w) {
  const int64_t sums = (int64_t)g->out_h * g->out_w * g->out_c * 4, row = (int64_t)g->in_w * w->n * 4;
  return whole_lines(sums) + whole_lines(row) + ember_gemm_scratch_bytes(isa, w->k, 1);
}

void ember_transpose_conv2d_s8(int32_t isa, const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                               const int32_t *bias, const ember_requant *rq, void *scratch, int8_t *output) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  if (!t || !t->requantize_s32 || !t->fully_connected_s8) return;
  const int64_t pixels = (int64_t)g->out_h * g->out_w, out_c = g->out_c, taps_c = w->n;
  uint32_t *sums = (uint32_t *)scratch;  // unsigned: the reference's int32 sums wrap
  int32_t *row = (int32_t *)((uint8_t *)scratch + whole_lines(pixels * out_c * 4));
  void *gemm_scratch = (uint8_t *)row + whole_lines((int64_t)g->in_w * taps_c * 4);
  for (int32_t n = 0; n < g->batch; ++n) {
    memset(sums, 0, (size_t)(pixels * out_c) * 4);
    for (int32_t iy = 0; iy < g->in_h; ++iy) {
      const int8_t *x = input + (((int64_t)n * g->in_h + iy) * g->in_w) * g->in_c;
      t->fully_connected_s8(g->in_w, x, w, gemm_scratch, (int8_t *)(void *)row);
      TRANSPOSE_CONV_ADD_ROW(g, iy, taps_c, out_c, {
        uint32_t *acc = sums + at;
        const int32_t *products = row + from;
        for (int64_t c = 0; c < out_c; ++c) acc[c] += (uint32_t)products[c];
      });
    }
    t->requantize_s32(pixels, g->out_c, (const int32_t *)sums, bias, rq, output + (int64_t)n * pixels * out_c);
  }
}

int64_t ember_transpose_conv2d_f32_scratch_bytes(const ember_conv_geometry *g, const ember_f32_gemm *w) {
  return whole_lines((int64_t)g->in_w * w->n * 4);
}

void ember_transpose_conv2d_f32(int32_t isa, const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w,
                                const float *bias, float act_min, float act_max, void *scratch, float *output) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  if (!t || !t->fully_connected_f32) return;
  const int64_t pixels = (int64_t)g->out_h * g->out_w, out_c = g->out_c, taps_c = w->n;
  float *row = (float *)scratch;
  for (int32_t n = 0; n < g->batch; ++n) {
    float *out = output + (int64_t)n * pixels * out_c;
    memset(out, 0, sizeof(float) * (size_t)(pixels * out_c));
    for (int32_t iy = 0; iy < g->in_h; ++iy) {
      t->fully_connected_f32(g->in_w, input + (((int64_t)n * g->in_h + iy) * g->in_w) * g->in_c, w, row);
      TRANSPOSE_CONV_ADD_ROW(g, iy, taps_c, out_c, {
        float *acc = out + at;
        const float *products = row + from;
        for (int64_t c = 0; c < out_c; ++c) acc[c] += products[c];
      });
    }
    for (int64_t i = 0; i < pixels * out_c; ++i) {
      const float v = out[i] + (bias ? bias[i % out_c] : 0.0f);
      out[i] = v < act_min ? act_min : (v > act_max ? act_max : v);
    }
  }
}

int64_t ember_dwconv_scratch_bytes(int32_t isa, const ember_conv_geometry *g, int32_t is_int8) {
  // The x86 f32 depthwise kernels read their taps from a window of input rows, the AVX-512 int8 one from
  // quad rows (ember_conv_loops.h); AVX2's int8 and NEON run border pixels apart and need none.
  const int32_t taps = ember_dw_s8_slot_taps(isa);
  if (taps > 0 && is_int8) {
    const ember_conv_geometry run = ember_dw_run_geometry(g);
    return ember_dw_plain_row_bytes(&run, taps) + ember_dw_slot_rows(&run, taps) * ember_dw_slot_row_bytes(&run);
  }
  return (isa == EMBER_ISA_AVX512 || isa == EMBER_ISA_AVX2) && !is_int8 ? ember_window_bytes(g, 4) : 0;
}

int64_t ember_hybrid_conv_scratch_bytes(int32_t isa, const ember_conv_geometry *g) {
  const int64_t per_batch = (int64_t)g->in_h * g->in_w * g->in_c;
  return whole_lines(per_batch) + ember_conv_scratch_bytes(isa, g, 1);
}

#if defined(__x86_64__)
extern const ember_kernel_table ember_avx512_kernels, ember_avx2_kernels;
#endif
#if defined(__aarch64__)
extern const ember_kernel_table ember_neon_kernels, ember_neon_dotprod_kernels;
#endif

const ember_kernel_table *ember_kernel_table_for(int32_t isa) {
  switch (isa) {
#if defined(__x86_64__)
  case EMBER_ISA_AVX512: return &ember_avx512_kernels;
  case EMBER_ISA_AVX2: return &ember_avx2_kernels;
#endif
#if defined(__aarch64__)
  case EMBER_ISA_NEON: return &ember_neon_kernels;
  case EMBER_ISA_NEON_DOTPROD: return &ember_neon_dotprod_kernels;
#endif
  default: return NULL;
  }
}

int64_t ember_matmul_s8_via_f32_scratch_bytes(int32_t m, int32_t k, int32_t n) {
  return 4 * ((int64_t)m * k + (int64_t)k * n + (int64_t)m * n);
}

void ember_matmul_s8_via_f32(int32_t isa, int32_t m, int32_t k, int32_t n, const int8_t *a, const int8_t *b,
                             const ember_matmul_s8_params *p, void *scratch, int8_t *out) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  float *fa = (float *)scratch, *fb = fa + (int64_t)m * k, *fc = fb + (int64_t)k * n;
  for (int64_t i = 0; i < (int64_t)m * k; ++i) fa[i] = (float)((int32_t)a[i] + p->a_offset);
  for (int64_t i = 0; i < (int64_t)k * n; ++i) fb[i] = (float)((int32_t)b[i] + p->b_offset);
  if (t && t->matmul_f32) t->matmul_f32(m, k, n, fa, fb, fc);
  else ember_matmul_f32_ref(m, k, n, fa, fb, fc);
  for (int64_t i = 0; i < (int64_t)m * n; ++i) {
    const int32_t v = ember_multiply_by_quantized_multiplier((int32_t)fc[i], p->output_multiplier, p->output_shift) +
                      p->output_offset;
    out[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
  }
}

/// Pairs of codes for ember_add_s8_linear_plan, 16 rows of 256 at a time: rows r0 … r0 + 15 of every pair
/// (a = r − 128 across row r, b = −128 … 127 in every row: `b_row` at row stride 0) through `t`'s add_s8
/// with `p`, into `out`.
enum { ADD_PLAN_ROWS = 16 };
static void add_s8_pair_rows(const ember_kernel_table *t, const ember_add_s8_params *p, int32_t mode, int32_t r0,
                             int8_t *a_rows, const int8_t *b_row, int8_t *out) {
  for (int32_t r = 0; r < ADD_PLAN_ROWS; ++r) memset(a_rows + 256 * r, r0 + r - 128, 256);
  t->add_s8(ADD_PLAN_ROWS, 256, a_rows, b_row, 0, p, mode, out);
}

int32_t ember_add_s8_linear_plan(int32_t isa, ember_add_s8_params *p, int32_t mode) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  p->linear = 0;
  p->lin_exceptions = 0;
  if (!t || !t->add_s8 || p->float_mode || mode < 0 || mode > 2) return 0;
  // The real map of TFLite's recipe: each operand (x + offset)·2^left·M_x·2^shift_x / 2^31, their sum (or
  // difference) times M_o·2^shift_o / 2^31, plus the output offset.
  const double out_scale = ldexp((double)p->output_multiplier, p->output_shift - 31);
  double alpha = ldexp((double)p->a_multiplier, p->left_shift + p->a_shift - 31) * out_scale;
  double beta = ldexp((double)p->b_multiplier, p->left_shift + p->b_shift - 31) * out_scale;
  if (mode == 1) beta = -beta;
  if (mode == 2) alpha = -alpha;
  const double k = alpha * p->a_offset + beta * p->b_offset + p->output_offset;
  const double bound = 128.0 * (fabs(alpha) + fabs(beta)) + fabs(k) + 1.0;
  if (!(bound > 0.0) || !isfinite(bound)) return 0;
  int32_t shift = (int32_t)floor(log2(((double)(1 << 30)) / bound));
  if (shift > 30) shift = 30;
  if (shift < 8) return 0;  // too coarse to be exact anywhere it matters
  const int64_t a = llround(ldexp(alpha, shift)), b = llround(ldexp(beta, shift));
  const int64_t c = llround(ldexp(k, shift)) + ((int64_t)1 << (shift - 1));
  if (128 * (llabs(a) + llabs(b)) + llabs(c) + 2 >= ((int64_t)1 << 31)) return 0;
  // Every pair (add_s8_pair_rows). The exact bytes are kept (64 KiB); a form's are compared as they come.
  int8_t *exact = malloc(65536);
  if (!exact) return 0;
  int8_t a_rows[ADD_PLAN_ROWS * 256], b_row[256], fast[ADD_PLAN_ROWS * 256];
  for (int32_t i = 0; i < 256; ++i) b_row[i] = (int8_t)(i - 128);
  for (int32_t r0 = 0; r0 < 256; r0 += ADD_PLAN_ROWS) add_s8_pair_rows(t, p, mode, r0, a_rows, b_row, exact + 256 * r0);
  // Half up; TFLite rounds half away from zero, which a constant one lower or higher may match when half up
  // misses more pairs than the exceptions hold.
  const int64_t candidates[3] = {c, c - 1, c + 1};
  ember_add_s8_params best = *p;
  int32_t best_misses = EMBER_ADD_LINEAR_EXCEPTIONS + 1;
  for (int32_t i = 0; i < 3 && best_misses > EMBER_ADD_LINEAR_EXCEPTIONS; ++i) {
    ember_add_s8_params q = *p;
    q.linear = 1; q.lin_a = (int32_t)a; q.lin_b = (int32_t)b; q.lin_c = (int32_t)candidates[i]; q.lin_shift = shift;
    q.lin_exceptions = 0;
    int32_t misses = 0;
    for (int32_t r0 = 0; r0 < 256 && misses <= EMBER_ADD_LINEAR_EXCEPTIONS; r0 += ADD_PLAN_ROWS) {
      add_s8_pair_rows(t, &q, mode, r0, a_rows, b_row, fast);
      if (memcmp(fast, exact + 256 * r0, sizeof fast) == 0) continue;
      for (int32_t j = 0; j < ADD_PLAN_ROWS * 256; ++j) {
        if (fast[j] == exact[256 * r0 + j]) continue;
        if (misses < EMBER_ADD_LINEAR_EXCEPTIONS) {  // a = r0 + j / 256 − 128, b = j % 256 − 128, keyed by their bytes
          q.lin_pairs[misses] = (((r0 + j / 256 - 128) & 255) << 8) | ((j % 256 - 128) & 255);
          q.lin_values[misses] = exact[256 * r0 + j];
        }
        ++misses;
      }
    }
    if (misses < best_misses) {
      best_misses = misses;
      best = q;
      best.lin_exceptions = misses;
    }
  }
  int32_t same = best_misses <= EMBER_ADD_LINEAR_EXCEPTIONS;
  // The form with its exceptions, once more, where it has any (without, it was just compared whole).
  for (int32_t r0 = 0; same && best_misses > 0 && r0 < 256; r0 += ADD_PLAN_ROWS) {
    add_s8_pair_rows(t, &best, mode, r0, a_rows, b_row, fast);
    same = memcmp(fast, exact + 256 * r0, sizeof fast) == 0;
  }
  free(exact);
  if (same) *p = best;
  return same;
}

// The ISA versions (ember_x86_avx2.c, ember_arm_neon.c): `length` a multiple of 16 and at least 64
// (PCLMULQDQ), a multiple of 8 (ARMv8 CRC32).
#if defined(__x86_64__)
uint32_t ember_crc32_pclmul(uint32_t crc, const uint8_t *data, int64_t length);
#endif
#if defined(__aarch64__)
uint32_t ember_crc32_armv8(uint32_t crc, const uint8_t *data, int64_t length);
#endif

uint32_t ember_crc32_prefix(uint32_t crc, const uint8_t *data, int64_t length, int64_t *consumed) {
  *consumed = 0;
#if defined(__x86_64__)
  if (length >= 64 && (ember_cpu_features() & EMBER_CPU_PCLMUL)) {
    *consumed = length / 16 * 16;
    return ember_crc32_pclmul(crc, data, *consumed);
  }
#elif defined(__aarch64__)
  if (length >= 64 && (ember_cpu_features() & EMBER_CPU_CRC32)) {
    *consumed = length / 8 * 8;
    return ember_crc32_armv8(crc, data, *consumed);
  }
#endif
  (void)data;
  (void)length;
  return crc;
}

int64_t ember_probe_mac(int32_t isa, int32_t is_int8, int64_t iterations) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  if (t && t->probe_mac) return t->probe_mac(is_int8, iterations);
  // The scalar path: eight chains of plain multiply-adds, kept in registers and not vectorized.
  int32_t acc[8] = {0};
  float facc[8] = {0};
  for (int64_t i = 0; i < iterations; ++i)
    for (int32_t j = 0; j < 8; ++j) {
      if (is_int8) {
        acc[j] += 3 * (j + 1);
        __asm__ volatile("" : "+r"(acc[j]));
      } else {
        facc[j] += 0.5f * (float)j;
        __asm__ volatile("" : "+m"(facc[j]));
      }
    }
  return iterations * 8;
}

uint64_t ember_probe_read(int32_t isa, const void *buffer, int64_t bytes) {
  const ember_kernel_table *t = ember_kernel_table_for(isa);
  if (t && t->probe_read) return t->probe_read(buffer, bytes);
  const uint64_t *words = (const uint64_t *)buffer;
  uint64_t sum[4] = {0, 0, 0, 0};
  const int64_t n = bytes / 8;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    sum[0] += words[i];
    sum[1] += words[i + 1];
    sum[2] += words[i + 2];
    sum[3] += words[i + 3];
  }
  for (; i < n; ++i) sum[0] += words[i];
  return sum[0] + sum[1] + sum[2] + sum[3];
}

void ember_f16_pack(int32_t isa, int32_t k, int32_t n, const uint16_t *weights, uint16_t *packed) {
  const int32_t np = ember_n_padded(isa, n), lanes = ember_isa_lanes(isa);
  for (int32_t o = 0; o < np; ++o) {
    const int64_t panel = o / lanes, lane = o % lanes;
    for (int32_t i = 0; i < k; ++i) packed[(panel * k + i) * lanes + lane] = o < n ? weights[(int64_t)o * k + i] : 0;
  }
}

void ember_dw_pack_f16(int32_t isa, int32_t taps, int32_t channels, const uint16_t *filter, uint16_t *packed) {
  const int32_t cp = ember_n_padded(isa, channels);
  for (int32_t c = 0; c < cp; ++c)
    for (int32_t t = 0; t < taps; ++t) packed[(int64_t)t * cp + c] = c < channels ? filter[(int64_t)c * taps + t] : 0;
}

// ------------------------------------------------------------------ Winograd F(2×2, 3×3)
int64_t ember_winograd_f32_packed_floats(int32_t isa, int32_t in_c, int32_t out_c) {
  return 16 * (int64_t)ember_n_padded(isa, out_c) * in_c;
}

void ember_winograd_f32_pack(int32_t isa, int32_t in_c, int32_t out_c, const float *filter, const float *bias,
                             float *packed, float *bias_out) {
  const int32_t np = ember_n_padded(isa, out_c), lanes = ember_isa_lanes(isa);
  const int64_t point_floats = (int64_t)np * in_c;
  for (int32_t o = 0; o < np; ++o) {
    const int64_t panel = o / lanes, lane = o % lanes;
    for (int32_t i = 0; i < in_c; ++i) {
      double u[16] = {0};
      if (o < out_c) {
        // G g Gᵀ with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], in double, rounded once.
        double g[9], t[12];
        for (int32_t k = 0; k < 9; ++k) g[k] = filter[((int64_t)o * 9 + k) * in_c + i];
        for (int32_t x = 0; x < 3; ++x) {
          t[x] = g[x];
          t[3 + x] = 0.5 * (g[x] + g[3 + x] + g[6 + x]);
          t[6 + x] = 0.5 * (g[x] - g[3 + x] + g[6 + x]);
          t[9 + x] = g[6 + x];
        }
        for (int32_t y = 0; y < 4; ++y) {
          const double *r = t + 3 * y;
          u[4 * y] = r[0];
          u[4 * y + 1] = 0.5 * (r[0] + r[1] + r[2]);
          u[4 * y + 2] = 0.5 * (r[0] - r[1] + r[2]);
          u[4 * y + 3] = r[2];
        }
      }
      for (int32_t xi = 0; xi < 16; ++xi) packed[xi * point_floats + (panel * in_c + i) * lanes + lane] = (float)u[xi];
    }
    bias_out[o] = (o < out_c && bias) ? bias[o] : 0.0f;
  }
}

void ember_winograd_f32_describe(int32_t isa, int32_t in_c, int32_t out_c, const float *packed, const float *bias,
                                 const float *zero_bias, float act_min, float act_max, ember_winograd_f32 *w) {
  const int32_t np = ember_n_padded(isa, out_c);
  const int64_t point_floats = (int64_t)np * in_c;
  for (int32_t xi = 0; xi < 16; ++xi)
    w->point[xi] =
        (ember_f32_gemm){in_c, out_c, np, packed + xi * point_floats, zero_bias, -INFINITY, INFINITY, NULL, 0, 0.0f};
  w->bias = bias;
  w->act_min = act_min;
  w->act_max = act_max;
}

int32_t ember_winograd_tile_block(int32_t isa, const ember_conv_geometry *g) {
  // 32 tiles keep the GEMMs' rows long enough (four 8-row tiles) and the scratch small: on resnet8 and
  // ResNet-18 blocks of 16 to 256 tiles ran within noise of each other, and the arena grows with the
  // block. Layers of many channels take fewer, so that a block stays within 1 MiB.
  const int64_t tiles = (int64_t)g->batch * ((g->out_h + 1) / 2) * ((g->out_w + 1) / 2);
  const int64_t per_tile = 16 * 4 * ((int64_t)ember_n_padded(isa, g->in_c) + ember_n_padded(isa, g->out_c));
  int64_t block = (1024 * 1024 / per_tile) / 8 * 8;
  if (block > 32) block = 32;
  if (block < 8) block = 8;
  if (block > tiles) block = tiles;
  return (int32_t)block;
}

int64_t ember_winograd_scratch_bytes(int32_t isa, const ember_conv_geometry *g) {
  const int64_t block = ember_winograd_tile_block(isa, g);
  return 16 * 4 * (block * ((int64_t)ember_n_padded(isa, g->in_c) + ember_n_padded(isa, g->out_c)) +
                   2 * EMBER_WINOGRAD_POINT_PAD);
}
