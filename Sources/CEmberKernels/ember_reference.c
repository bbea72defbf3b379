// Scalar reference kernels (see include/ember_kernels.h). Plain C11 loops: the
// arithmetic every optimized kernel must reproduce. Int8 follows TensorFlow
// Lite's reference kernels bit for bit (gemmlowp fixed point, double rounding).
#include "ember_fp_contract.h"
#include "ember_kernels.h"
#include "ember_fixed_point.h"
#include "ember_conv_loops.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define EMBER_X86 1
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

// ---------------------------------------------------------------- CPU features
static uint32_t detect_cpu_features(void) {
  uint32_t f = 0;
#if EMBER_X86 && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) f |= EMBER_CPU_SSE42;
  if (__builtin_cpu_supports("avx2")) f |= EMBER_CPU_AVX2;
  if (__builtin_cpu_supports("fma")) f |= EMBER_CPU_FMA;
  if (__builtin_cpu_supports("f16c")) f |= EMBER_CPU_F16C;
  if (__builtin_cpu_supports("avx512f")) f |= EMBER_CPU_AVX512F;
  if (__builtin_cpu_supports("avx512bw")) f |= EMBER_CPU_AVX512BW;
  if (__builtin_cpu_supports("avx512vnni")) f |= EMBER_CPU_AVX512VNNI;
  if (__builtin_cpu_supports("pclmul")) f |= EMBER_CPU_PCLMUL;
#elif defined(__aarch64__) && defined(__linux__)
  unsigned long hw = getauxval(AT_HWCAP);
  f |= EMBER_CPU_NEON;  // mandatory on AArch64
#ifdef HWCAP_ASIMDDP
  if (hw & HWCAP_ASIMDDP) f |= EMBER_CPU_DOTPROD;
#endif
#ifdef HWCAP_CRC32
  if (hw & HWCAP_CRC32) f |= EMBER_CPU_CRC32;
#endif
#if defined(AT_HWCAP2) && defined(HWCAP2_I8MM)
  if (getauxval(AT_HWCAP2) & HWCAP2_I8MM) f |= EMBER_CPU_I8MM;
#endif
  (void)hw;
#endif
  return f;
}

uint32_t ember_cpu_features(void) {
  // Benign race: every thread computes the same value.
  static volatile uint32_t cached = 0;
  static volatile int ready = 0;
  if (!ready) {
    cached = detect_cpu_features();
    ready = 1;
  }
  return cached;
}

// ------------------------------------------------------------- fixed point
int32_t ember_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));  // C division truncates toward zero, as gemmlowp's
}

int32_t ember_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);  // arithmetic shift on every target compiler
}

int32_t ember_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  // TFLite multiplies by (1 << left); wrap like two's complement instead of UB.
  const int32_t shifted = (int32_t)((uint32_t)x * ((uint32_t)1 << left));
  return ember_rounding_divide_by_pot(ember_saturating_rounding_doubling_high_mul(shifted, multiplier), right);
}

int32_t ember_multiply_by_quantized_multiplier_single_rounding(int32_t x, int32_t multiplier, int32_t shift) {
  if (shift > 30) shift = 30;
  if (shift < -31) shift = -31;
  const int32_t total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  const int64_t result = ((int64_t)x * (int64_t)multiplier + round) >> total_shift;  // arithmetic shift
  return (int32_t)(result > INT32_MAX ? INT32_MAX : (result < INT32_MIN ? INT32_MIN : result));
}

static inline int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/// Clamped to ±2^30 first (the int8 clamp follows), NaN to 0; nearbyintf rounds to nearest even in the
/// default rounding mode, as MLAS's cvtps / vcvtnq do.
static int32_t round_float_s32(float v) {
  if (!(v == v)) return 0;
  v = v < -1073741824.0f ? -1073741824.0f : (v > 1073741824.0f ? 1073741824.0f : v);
  return (int32_t)nearbyintf(v);
}

int32_t ember_requantize_float(int32_t acc, float scale) { return round_float_s32((float)acc * scale); }

int32_t ember_quantize_float(float v, float scale) { return round_float_s32(v / scale); }

/// An int8 conv / FC accumulator requantized as `q` says (fixed point with `single` or double rounding, or
/// float), offset by the output zero point and clamped.
static inline int8_t requant_output(int32_t acc, const ember_requant *q, int32_t channel, int32_t single) {
  int32_t v;
  if (q->scale) v = ember_requantize_float(acc, q->scale[channel]);
  else if (single) v = ember_multiply_by_quantized_multiplier_single_rounding(acc, q->multiplier[channel], q->shift[channel]);
  else v = ember_multiply_by_quantized_multiplier(acc, q->multiplier[channel], q->shift[channel]);
  return (int8_t)clamp_i32(v + q->output_offset, q->act_min, q->act_max);
}

void ember_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift) {
  if (real == 0.0 || !isfinite(real)) {
    *multiplier = 0;
    *shift = 0;
    return;
  }
  int exponent = 0;
  const double q = frexp(real, &exponent);
  int64_t q_fixed = (int64_t)llround(q * (double)(1ll << 31));
  if (q_fixed == (1ll << 31)) {
    q_fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) {
    exponent = 0;
    q_fixed = 0;
  }
  if (exponent > 30) {  // TFLite would overflow here; saturate instead.
    exponent = 30;
    q_fixed = INT32_MAX;
  }
  *multiplier = (int32_t)q_fixed;
  *shift = exponent;
}

static inline float clamp_f(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ------------------------------------------------------------------ Conv 2D
void ember_conv2d_f32_ref(const ember_conv_geometry *g, const float *input, const float *filter,
                          const float *bias, float act_min, float act_max, float *output) {
  const int32_t ic_per_group = g->in_c / g->groups, oc_per_group = g->out_c / g->groups;
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy)
      for (int32_t ox = 0; ox < g->out_w; ++ox)
        for (int32_t oc = 0; oc < g->out_c; ++oc) {
          const int32_t group = oc / oc_per_group;
          float acc = 0.0f;  // the bias is added last, as TFLite's reference kernels add it
          for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
            const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
            if (iy < 0 || iy >= g->in_h) continue;
            for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
              const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
              if (ix < 0 || ix >= g->in_w) continue;
              const float *in = input + (((int64_t)n * g->in_h + iy) * g->in_w + ix) * g->in_c + (int64_t)group * ic_per_group;
              const float *f = filter + (((int64_t)oc * g->kernel_h + ky) * g->kernel_w + kx) * ic_per_group;
              for (int32_t ic = 0; ic < ic_per_group; ++ic) acc += in[ic] * f[ic];
            }
          }
          output[(((int64_t)n * g->out_h + oy) * g->out_w + ox) * g->out_c + oc] =
              clamp_f(acc + (bias ? bias[oc] : 0.0f), act_min, act_max);
        }
}

// Sum over the valid taps of one output position of (input + input_offset) * filter,
// in int32: the integer core of the int8 and hybrid convolutions.
static inline int32_t conv_s8_accumulate(const ember_conv_geometry *g, const int8_t *batch_input,
                                         const int8_t *filter, int32_t input_offset,
                                         int32_t oy, int32_t ox, int32_t oc) {
  const int32_t ic_per_group = g->in_c / g->groups, oc_per_group = g->out_c / g->groups;
  const int32_t group = oc / oc_per_group;
  int32_t acc = 0;
  for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
    const int32_t iy = oy * g->stride_h - g->pad_top + ky * g->dilation_h;
    if (iy < 0 || iy >= g->in_h) continue;
    for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
      const int32_t ix = ox * g->stride_w - g->pad_left + kx * g->dilation_w;
      if (ix < 0 || ix >= g->in_w) continue;
      const int8_t *in = batch_input + ((int64_t)iy * g->in_w + ix) * g->in_c + (int64_t)group * ic_per_group;
      const int8_t *f = filter + (((int64_t)oc * g->kernel_h + ky) * g->kernel_w + kx) * ic_per_group;
      for (int32_t ic = 0; ic < ic_per_group; ++ic) acc += ((int32_t)in[ic] + input_offset) * (int32_t)f[ic];
    }
  }
  return acc;
}

void ember_conv2d_s8_ref(const ember_conv_geometry *g, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const ember_requant *q, int8_t *output) {
  const int64_t per_batch = (int64_t)g->in_h * g->in_w * g->in_c;
  for (int32_t n = 0; n < g->batch; ++n)
    for (int32_t oy = 0; oy < g->out_h; ++oy)
      for (int32_t ox = 0; ox < g->out_w; ++ox)
        for (int32_t oc = 0; oc < g->out_c; ++oc) {
          int32_t acc = conv_s8_accumulate(g, input + n * per_batch, filter, q->input_offset, oy, ox, oc);
          if (bias) acc += bias[oc];
          output[(((int64_t)n * g->out_h + oy) * g->out_w + ox) * g->out_c + oc] = requant_output(acc, q, oc, 0);
        }
}

// tensor_utils::SymmetricQuantizeFloats: q = round-half-away(x · 127/max|x|), clamped to ±127;
// returns the scale max|x| / 127 (1 when every x is 0, all q then 0).
static float symmetric_quantize(const float *x, int64_t count, int8_t *q) {
  float lo = count > 0 ? x[0] : 0.0f, hi = lo;
  for (int64_t i = 1; i < count; ++i) { lo = x[i] < lo ? x[i] : lo; hi = x[i] > hi ? x[i] : hi; }
  const float range = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
  if (range == 0.0f) {
    memset(q, 0, (size_t)count);
    return 1.0f;
  }
  const float inv = 127.0f / range;
  for (int64_t i = 0; i < count; ++i) {
    const float r = roundf(x[i] * inv);
    q[i] = (int8_t)(r > 127.0f ? 127 : (r < -127.0f ? -127 : (int32_t)r));
  }
  return range / 127.0f;
}

void ember_conv2d_hybrid_ref(const ember_conv_geometry *g, const float *input, const int8_t *filter,
                             float filter_scale, const float *bias, float act_min, float act_max,
                             int8_t *scratch, float *output) {
  const int64_t per_batch = (int64_t)g->in_h * g->in_w * g->in_c;
  for (int32_t n = 0; n < g->batch; ++n) {
    const int8_t *q = scratch + n * per_batch;
    const float scale = symmetric_quantize(input + n * per_batch, per_batch, scratch + n * per_batch);
    const float out_scale = scale * filter_scale;
    for (int32_t oy = 0; oy < g->out_h; ++oy)
      for (int32_t ox = 0; ox < g->out_w; ++ox)
        for (int32_t oc = 0; oc < g->out_c; ++oc) {
          const int32_t acc = conv_s8_accumulate(g, q, filter, 0, oy, ox, oc);
          float v = (float)acc * out_scale;
          if (bias) v += bias[oc];
          output[(((int64_t)n * g->out_h + oy) * g->out_w + ox) * g->out_c + oc] = clamp_f(v, act_min, act_max);
        }
  }
}

// LiteRT's PortableAsymmetricQuantizeFloats: the zero point that errs less of the two candidates,
// nudged into [-128, 127]; values rounded half away from zero after adding it in float.
static void asymmetric_quantize(const float *x, int64_t count, int8_t *q, float *scale_out, int32_t *offset_out) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < count; ++i) { lo = x[i] < lo ? x[i] : lo; hi = x[i] > hi ? x[i] : hi; }
  const double rmin = lo, rmax = hi;
  if (rmin == rmax) {
    memset(q, 0, (size_t)count);
    *scale_out = 1.0f;
    *offset_out = 0;
    return;
  }
  const double scale = (rmax - rmin) / 255.0;
  const double zp_from_min = -128.0 - rmin / scale, zp_from_max = 127.0 - rmax / scale;
  const double err_min = 128.0 + fabs(rmin / scale), err_max = 127.0 + fabs(rmax / scale);
  const double zp = err_min < err_max ? zp_from_min : zp_from_max;
  const int32_t nudged = zp <= -128.0 ? -128 : (zp >= 127.0 ? 127 : (int32_t)round(zp));
  *scale_out = (float)scale;
  *offset_out = nudged;
  // round(x · inv) + zp, rounding before the zero point is added: LiteRT's outputs (resnet50, densenet121
  // dynamic_int8, and a probe model) follow this where round(zp + x · inv) in f32 differs: a sum such as
  // −128 + 45.4999962 rounds to the tie −82.5, then away from zero to −83, where LiteRT has −128 + 45.
  const float inv = 1.0f / *scale_out;
  for (int64_t i = 0; i < count; ++i) {
    const int32_t v = (int32_t)roundf(x[i] * inv) + nudged;
    q[i] = (int8_t)clamp_i32(v, -128, 127);
  }
}

void ember_conv2d_hybrid_per_channel_ref(const ember_conv_geometry *g, const float *input, const int8_t *filter,
                                         const float *channel_scale, const float *bias, float act_min,
                                         float act_max, int8_t *scratch, float *output) {
  const int64_t per_batch = (int64_t)g->in_h * g->in_w * g->in_c;
  const int depthwise = g->groups > 1 && g->groups == g->in_c;
  for (int32_t n = 0; n < g->batch; ++n) {
    int8_t *q = scratch + n * per_batch;
    float scale;
    int32_t offset;
    asymmetric_quantize(input + n * per_batch, per_batch, q, &scale, &offset);
    for (int32_t oy = 0; oy < g->out_h; ++oy)
      for (int32_t ox = 0; ox < g->out_w; ++ox)
        for (int32_t oc = 0; oc < g->out_c; ++oc) {
          const int32_t acc = conv_s8_accumulate(g, q, filter, -offset, oy, ox, oc);
          // The two LiteRT kernels multiply in different orders; each is kept.
          float v = depthwise ? (float)acc * (channel_scale[oc] * scale) : (float)acc * channel_scale[oc] * scale;
          if (bias) v += bias[oc];
          output[(((int64_t)n * g->out_h + oy) * g->out_w + ox) * g->out_c + oc] = clamp_f(v, act_min, act_max);
        }
  }
}

// ---------------------------------------------------------- Fully connected
void ember_fully_connected_hybrid_per_channel_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                                  const float *input, const int8_t *weights,
                                                  const float *channel_scale, int32_t asymmetric,
                                                  const float *bias, float act_min, float act_max,
                                                  int8_t *scratch, float *output) {
  for (int64_t r = 0; r < rows; ++r) {
    float row_scale;
    int32_t offset = 0;
    if (asymmetric) asymmetric_quantize(input + r * in_features, in_features, scratch, &row_scale, &offset);
    else row_scale = symmetric_quantize(input + r * in_features, in_features, scratch);
    for (int32_t o = 0; o < out_features; ++o) {
      const int8_t *w = weights + (int64_t)o * in_features;
      int32_t acc = 0, row_sum = 0;
      for (int32_t i = 0; i < in_features; ++i) { acc += (int32_t)scratch[i] * (int32_t)w[i]; row_sum += w[i]; }
      acc -= row_sum * offset;
      const float v = (bias ? bias[o] : 0.0f) + (float)acc * (row_scale * channel_scale[o]);
      output[r * out_features + o] = clamp_f(v, act_min, act_max);
    }
  }
}

void ember_fully_connected_f32_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                   const float *input, const float *weights, const float *bias,
                                   float act_min, float act_max, float *output) {
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t o = 0; o < out_features; ++o) {
      float acc = 0.0f;
      const float *x = input + r * in_features, *w = weights + (int64_t)o * in_features;
      for (int32_t i = 0; i < in_features; ++i) acc += x[i] * w[i];
      output[r * out_features + o] = clamp_f(acc + (bias ? bias[o] : 0.0f), act_min, act_max);
    }
}

void ember_fully_connected_hybrid_ref(int64_t rows, int32_t in_features, int32_t out_features, const float *input,
                                      const int8_t *weights, float filter_scale, const float *bias, float act_min,
                                      float act_max, int8_t *scratch, float *output) {
  for (int64_t r = 0; r < rows; ++r) {
    const float out_scale = symmetric_quantize(input + r * in_features, in_features, scratch) * filter_scale;
    for (int32_t o = 0; o < out_features; ++o) {
      const int8_t *w = weights + (int64_t)o * in_features;
      int32_t acc = 0;
      for (int32_t i = 0; i < in_features; ++i) acc += (int32_t)scratch[i] * (int32_t)w[i];
      float v = (float)acc * out_scale;
      if (bias) v += bias[o];
      output[r * out_features + o] = clamp_f(v, act_min, act_max);
    }
  }
}

void ember_fully_connected_s8_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                  const int8_t *input, const int8_t *weights, const int32_t *bias,
                                  const ember_requant *q, int8_t *output) {
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t o = 0; o < out_features; ++o) {
      int32_t acc = 0;
      const int8_t *x = input + r * in_features, *w = weights + (int64_t)o * in_features;
      for (int32_t i = 0; i < in_features; ++i) acc += ((int32_t)x[i] + q->input_offset) * (int32_t)w[i];
      if (bias) acc += bias[o];
      output[r * out_features + o] = requant_output(acc, q, o, 1);
    }
}

static float half_to_float(uint16_t h);

void ember_fully_connected_f32_q4b32_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                         const float *input, const uint8_t *weights,
                                         const float *bias, float act_min, float act_max,
                                         float *output) {
  const int32_t blocks = in_features / 32;
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t o = 0; o < out_features; ++o) {
      float acc = bias ? bias[o] : 0.0f;
      const float *x = input + r * in_features;
      const uint8_t *row = weights + (int64_t)o * blocks * 18;
      for (int32_t b = 0; b < blocks; ++b) {
        const uint8_t *blk = row + (int64_t)b * 18;
        const float scale = half_to_float((uint16_t)(blk[0] | (blk[1] << 8)));
        float dot = 0.0f;
        for (int32_t j = 0; j < 16; ++j) {
          const int32_t lo = (int32_t)(blk[2 + j] & 0x0F) - ((blk[2 + j] & 0x08) ? 16 : 0);
          const int32_t hi = (int32_t)(blk[2 + j] >> 4) - ((blk[2 + j] & 0x80) ? 16 : 0);
          dot += x[b * 32 + 2 * j] * (float)lo + x[b * 32 + 2 * j + 1] * (float)hi;
        }
        acc += dot * scale;
      }
      output[r * out_features + o] = clamp_f(acc, act_min, act_max);
    }
}

// Row by row, p outer and j inner: each out[i][j] still adds its k terms in order from 0, and the
// inner loop runs along contiguous rows of b and out.
void ember_matmul_f32_ref(int32_t m, int32_t k, int32_t n, const float *a, const float *b, float *out) {
  for (int32_t i = 0; i < m; ++i) {
    float *o = out + (int64_t)i * n;
    for (int32_t j = 0; j < n; ++j) o[j] = 0.0f;
    for (int32_t p = 0; p < k; ++p) {
      const float x = a[(int64_t)i * k + p];
      const float *row = b + (int64_t)p * n;
      for (int32_t j = 0; j < n; ++j) o[j] += x * row[j];
    }
  }
}

void ember_matmul_s8_ref(int32_t m, int32_t k, int32_t n, const int8_t *a, const int8_t *b,
                         const ember_matmul_s8_params *p, int8_t *out) {
  for (int32_t i = 0; i < m; ++i)
    for (int32_t j = 0; j < n; ++j) {
      int32_t acc = 0;
      for (int32_t t = 0; t < k; ++t)
        acc += ((int32_t)a[(int64_t)i * k + t] + p->a_offset) * ((int32_t)b[(int64_t)t * n + j] + p->b_offset);
      const int32_t v = ember_multiply_by_quantized_multiplier(acc, p->output_multiplier, p->output_shift) + p->output_offset;
      out[(int64_t)i * n + j] = (int8_t)clamp_i32(v, -128, 127);
    }
}

// ------------------------------------------------------------- Elementwise
// Walks the output in order; calls body(out_index, a_index, b_index).
#define EMBER_BROADCAST_LOOP(bc, ...)                                                 \
  do {                                                                              \
    int64_t total_ = 1;                                                             \
    for (int32_t d_ = 0; d_ < (bc)->rank; ++d_) total_ *= (bc)->shape[d_];          \
    int32_t idx_[EMBER_MAX_RANK] = {0};                                             \
    int64_t ai = 0, bi = 0;                                                         \
    for (int64_t oi = 0; oi < total_; ++oi) {                                       \
      __VA_ARGS__;                                                                  \
      for (int32_t d_ = (bc)->rank - 1; d_ >= 0; --d_) {                            \
        ++idx_[d_];                                                                 \
        ai += (bc)->a_strides[d_];                                                  \
        bi += (bc)->b_strides[d_];                                                  \
        if (idx_[d_] < (bc)->shape[d_]) break;                                      \
        ai -= (bc)->a_strides[d_] * (bc)->shape[d_];                                \
        bi -= (bc)->b_strides[d_] * (bc)->shape[d_];                                \
        idx_[d_] = 0;                                                               \
      }                                                                             \
    }                                                                               \
  } while (0)

void ember_binary_f32_ref(ember_binary_op op, const ember_broadcast *bc, const float *a,
                          const float *b, float act_min, float act_max, float *out) {
  EMBER_BROADCAST_LOOP(bc, {
    const float x = a[ai], y = b[bi];
    float r;
    switch (op) {
      case EMBER_BINARY_ADD: r = x + y; break;
      case EMBER_BINARY_SUB: r = x - y; break;
      case EMBER_BINARY_MUL: r = x * y; break;
      case EMBER_BINARY_MAX: r = x > y ? x : y; break;
      case EMBER_BINARY_MIN: r = x < y ? x : y; break;
      case EMBER_BINARY_PRELU: r = x >= 0.0f ? x : x * y; break;
      case EMBER_BINARY_POW: r = powf(x, y); break;
      case EMBER_BINARY_SQUARED_DIFFERENCE: r = (x - y) * (x - y); break;
      case EMBER_BINARY_FLOOR_DIV: r = floorf(x / y); break;
      case EMBER_BINARY_FLOOR_MOD: {
        r = fmodf(x, y);
        if (r != 0.0f && ((y < 0.0f) != (r < 0.0f))) r += y;
        break;
      }
      default: r = x / y; break;
    }
    out[oi] = clamp_f(r, act_min, act_max);
  });
}

// The cases signed and unsigned integer arithmetic share: wrapping through U, min and max.
#define EMBER_INT_WRAPPING_CASES(T, U)                                                          \
        case EMBER_BINARY_ADD: r = (T)((U)x + (U)y); break;                                   \
        case EMBER_BINARY_SUB: r = (T)((U)x - (U)y); break;                                   \
        case EMBER_BINARY_MUL: r = (T)((U)x * (U)y); break;                                   \
        case EMBER_BINARY_MAX: r = x > y ? x : y; break;                                      \
        case EMBER_BINARY_MIN: r = x < y ? x : y; break;                                      \
        case EMBER_BINARY_SQUARED_DIFFERENCE: {                                               \
          const U d = (U)x - (U)y;                                                            \
          r = (T)(d * d);                                                                     \
          break;                                                                              \
        }

// r = x^y for y ≥ 0 by squaring, wrapping through U.
#define EMBER_INT_POW(T, U)                                                                     \
  do {                                                                                        \
    U base = (U)x, acc = 1;                                                                   \
    for (T e = y; e > 0; e >>= 1) {                                                           \
      if (e & 1) acc *= base;                                                                 \
      base *= base;                                                                           \
    }                                                                                         \
    r = (T)acc;                                                                               \
  } while (0)

// The cases only signed integers have: PRELU's negative side, negative exponents, and floor division
// and modulo toward −∞ with MIN / −1 wrapping (C would trap on it and on a zero divisor).
#define EMBER_SIGNED_CASES(T, U, TMIN)                                                          \
        case EMBER_BINARY_PRELU: r = x >= 0 ? x : (T)((U)x * (U)y); break;                    \
        case EMBER_BINARY_POW: {                                                              \
          if (y < 0) {                                                                        \
            r = x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;                                \
          } else {                                                                            \
            EMBER_INT_POW(T, U);                                                              \
          }                                                                                   \
          break;                                                                              \
        }                                                                                     \
        default: {                                                                            \
          if (y == 0) { r = 0; break; }                                                       \
          if (x == TMIN && y == -1) { r = (op == EMBER_BINARY_FLOOR_MOD) ? 0 : TMIN; break; } \
          T q = x / y, m = x % y;                                                             \
          if (op == EMBER_BINARY_FLOOR_DIV) {                                                 \
            r = (m != 0 && ((m < 0) != (y < 0))) ? q - 1 : q;                                 \
          } else if (op == EMBER_BINARY_FLOOR_MOD) {                                          \
            r = (m != 0 && ((m < 0) != (y < 0))) ? m + y : m;                                 \
          } else {                                                                            \
            r = q;                                                                            \
          }                                                                                   \
          break;                                                                              \
        }

// Unsigned: nothing is negative, floor division and modulo are plain division and remainder, a zero
// divisor gives 0. (No comparison with 0 or −1 here: GCC's -Wtype-limits rejects them.)
#define EMBER_UNSIGNED_CASES(T, U, TMIN)                                                        \
        case EMBER_BINARY_PRELU: r = x; break;                                                \
        case EMBER_BINARY_POW: EMBER_INT_POW(T, U); break;                                    \
        default:                                                                              \
          r = y == 0 ? 0 : op == EMBER_BINARY_FLOOR_MOD ? (T)(x % y) : (T)(x / y);            \
          break;

// Integer arithmetic through the unsigned type U (no undefined overflow; U is at least 32 bits, so
// 16-bit products cannot overflow an int): the shared wrapping cases, then CASES for the signedness.
#define EMBER_INT_BINARY(T, U, TMIN, CASES)                                                     \
  do {                                                                                        \
    const T *x_ = (const T *)a;                                                               \
    const T *y_ = (const T *)b;                                                               \
    T *o_ = (T *)out;                                                                         \
    EMBER_BROADCAST_LOOP(bc, {                                                                \
      const T x = x_[ai], y = y_[bi];                                                         \
      T r;                                                                                    \
      switch (op) {                                                                           \
        EMBER_INT_WRAPPING_CASES(T, U)                                                        \
        CASES(T, U, TMIN)                                                                     \
      }                                                                                       \
      o_[oi] = r;                                                                             \
    });                                                                                       \
  } while (0)

void ember_binary_int_ref(ember_binary_op op, ember_dtype dtype, const ember_broadcast *bc, const void *a,
                          const void *b, void *out) {
  switch (dtype) {
    case EMBER_DTYPE_I64: EMBER_INT_BINARY(int64_t, uint64_t, INT64_MIN, EMBER_SIGNED_CASES); break;
    case EMBER_DTYPE_I16: EMBER_INT_BINARY(int16_t, uint32_t, INT16_MIN, EMBER_SIGNED_CASES); break;
    case EMBER_DTYPE_U16: EMBER_INT_BINARY(uint16_t, uint32_t, 0, EMBER_UNSIGNED_CASES); break;
    case EMBER_DTYPE_U32: EMBER_INT_BINARY(uint32_t, uint32_t, 0, EMBER_UNSIGNED_CASES); break;
    case EMBER_DTYPE_U64: EMBER_INT_BINARY(uint64_t, uint64_t, 0, EMBER_UNSIGNED_CASES); break;
    default: EMBER_INT_BINARY(int32_t, uint32_t, INT32_MIN, EMBER_SIGNED_CASES); break;
  }
}

#define EMBER_CUMSUM_TYPED(T, ACC_T)                                                    \
  do {                                                                                \
    const T *x_ = (const T *)in;                                                      \
    T *o_ = (T *)out;                                                                 \
    for (int64_t o = 0; o < outer; ++o) {                                             \
      for (int64_t i = 0; i < inner; ++i) {                                           \
        ACC_T acc = 0;                                                                \
        for (int32_t k = 0; k < axis_size; ++k) {                                     \
          const int32_t j = reverse ? axis_size - 1 - k : k;                          \
          const int64_t at = (o * axis_size + j) * inner + i;                         \
          if (exclusive) { o_[at] = (T)acc; acc += (ACC_T)x_[at]; }                   \
          else { acc += (ACC_T)x_[at]; o_[at] = (T)acc; }                             \
        }                                                                             \
      }                                                                               \
    }                                                                                 \
  } while (0)

void ember_cumsum_ref(ember_dtype dtype, int64_t outer, int32_t axis_size, int64_t inner, int32_t exclusive,
                      int32_t reverse, const void *in, void *out) {
  switch (dtype) {
    case EMBER_DTYPE_I32: EMBER_CUMSUM_TYPED(int32_t, uint32_t); break;
    case EMBER_DTYPE_I64: EMBER_CUMSUM_TYPED(int64_t, uint64_t); break;
    default: EMBER_CUMSUM_TYPED(float, float); break;
  }
}

#define EMBER_TOPK_TYPED(T)                                                                   \
  do {                                                                                      \
    const T *x_ = (const T *)in;                                                            \
    for (int64_t o = 0; o < outer; ++o) {                                                   \
      for (int64_t i = 0; i < inner; ++i) {                                                 \
        memset(taken, 0, (size_t)axis_size);                                                \
        for (int32_t r = 0; r < k; ++r) {                                                   \
          int32_t best = -1;                                                                \
          for (int32_t j = 0; j < axis_size; ++j) {                                         \
            if (taken[j]) continue;                                                         \
            const T v = x_[(o * axis_size + j) * inner + i];                                \
            if (best < 0) { best = j; continue; }                                           \
            const T b = x_[(o * axis_size + best) * inner + i];                             \
            if (v != v) continue;                          /* NaN never beats */            \
            if (b != b || (largest ? v > b : v < b)) best = j; /* ties keep the lower index */ \
          }                                                                                 \
          taken[best] = 1;                                                                  \
          const int64_t at = (o * k + r) * inner + i;                                       \
          if (out_indices) ((int64_t *)out)[at] = best;                                     \
          else ((T *)out)[at] = x_[(o * axis_size + best) * inner + i];                     \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  } while (0)

void ember_topk_ref(ember_dtype dtype, int64_t outer, int32_t axis_size, int64_t inner, int32_t k, int32_t largest,
                    int32_t out_indices, const void *in, uint8_t *taken, void *out) {
  if (k <= 0 || axis_size <= 0) return;
  switch (dtype) {
    case EMBER_DTYPE_I32: EMBER_TOPK_TYPED(int32_t); break;
    case EMBER_DTYPE_I64: EMBER_TOPK_TYPED(int64_t); break;
    case EMBER_DTYPE_I16: EMBER_TOPK_TYPED(int16_t); break;
    case EMBER_DTYPE_U16: EMBER_TOPK_TYPED(uint16_t); break;
    case EMBER_DTYPE_U32: EMBER_TOPK_TYPED(uint32_t); break;
    case EMBER_DTYPE_U64: EMBER_TOPK_TYPED(uint64_t); break;
    default: EMBER_TOPK_TYPED(float); break;
  }
}

// One operand of TFLite's two-input int8 recipe (ADD, SUB, SQUARED_DIFFERENCE): the code plus its offset,
// shifted left by left_shift, rescaled to twice the larger input scale.
static inline int32_t add_s8_operand(int8_t v, int32_t offset, int32_t left_shift, int32_t multiplier, int32_t shift) {
  return ember_multiply_by_quantized_multiplier(((int32_t)v + offset) * (1 << left_shift), multiplier, shift);
}

/// An int8 code as ONNX's DequantizeLinear gives it: (code − zero point) · scale in float (`offset` is
/// minus the zero point).
static inline float dequantized(int8_t code, int32_t offset, float scale) { return (float)((int32_t)code + offset) * scale; }

void ember_add_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                      const ember_add_s8_params *p, int32_t subtract, int8_t *out) {
  if (p->float_mode) {
    EMBER_BROADCAST_LOOP(bc, {
      const float x = dequantized(a[ai], p->a_offset, p->a_scale), y = dequantized(b[bi], p->b_offset, p->b_scale);
      const int32_t o = ember_quantize_float(subtract ? x - y : x + y, p->output_scale) + p->output_offset;
      out[oi] = (int8_t)clamp_i32(o, p->act_min, p->act_max);
    });
    return;
  }
  EMBER_BROADCAST_LOOP(bc, {
    const int32_t xa = add_s8_operand(a[ai], p->a_offset, p->left_shift, p->a_multiplier, p->a_shift);
    const int32_t xb = add_s8_operand(b[bi], p->b_offset, p->left_shift, p->b_multiplier, p->b_shift);
    const int32_t raw = subtract ? xa - xb : xa + xb;
    const int32_t o = ember_multiply_by_quantized_multiplier(raw, p->output_multiplier, p->output_shift) + p->output_offset;
    out[oi] = (int8_t)clamp_i32(o, p->act_min, p->act_max);
  });
}

void ember_mul_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                      const ember_mul_s8_params *p, int8_t *out) {
  if (p->float_mode) {
    EMBER_BROADCAST_LOOP(bc, {
      const float x = dequantized(a[ai], p->a_offset, p->a_scale), y = dequantized(b[bi], p->b_offset, p->b_scale);
      out[oi] = (int8_t)clamp_i32(ember_quantize_float(x * y, p->output_scale) + p->output_offset, p->act_min, p->act_max);
    });
    return;
  }
  EMBER_BROADCAST_LOOP(bc, {
    const int32_t prod = ((int32_t)a[ai] + p->a_offset) * ((int32_t)b[bi] + p->b_offset);
    const int32_t o = ember_multiply_by_quantized_multiplier(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    out[oi] = (int8_t)clamp_i32(o, p->act_min, p->act_max);
  });
}

void ember_prelu_s8_ref(const ember_broadcast *bc, const int8_t *x, const int8_t *alpha,
                        const ember_prelu_s8_params *p, int8_t *out) {
  EMBER_BROADCAST_LOOP(bc, {
    const int32_t v = p->input_offset + x[ai];
    const int32_t o = v >= 0 ? ember_multiply_by_quantized_multiplier(v, p->multiplier_1, p->shift_1)
                             : ember_multiply_by_quantized_multiplier(v * (p->alpha_offset + alpha[bi]), p->multiplier_2, p->shift_2);
    out[oi] = (int8_t)clamp_i32(o + p->output_offset, -128, 127);
  });
}

void ember_prelu_s8_tables(int64_t rows, int32_t channels, int32_t table_count, const int8_t *x, const int8_t *tables,
                           int8_t *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t *xr = x + r * channels;
    int8_t *yr = out + r * channels;
    if (table_count == 1) {
      for (int32_t c = 0; c < channels; ++c) yr[c] = tables[(uint8_t)(xr[c] ^ 0x80)];
    } else {
      for (int32_t c = 0; c < channels; ++c) yr[c] = tables[(int64_t)c * 256 + (uint8_t)(xr[c] ^ 0x80)];
    }
  }
}

void ember_prelu_s8_pair_table(int64_t count, const int8_t *x, const int8_t *alpha, const int8_t *table, int8_t *out) {
  for (int64_t i = 0; i < count; ++i)
    out[i] = table[(int64_t)(uint8_t)(alpha[i] ^ 0x80) << 8 | (uint8_t)(x[i] ^ 0x80)];
}

void ember_minmax_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                         int32_t maximum, int8_t *out) {
  EMBER_BROADCAST_LOOP(bc, {
    const int8_t x = a[ai], y = b[bi];
    out[oi] = maximum ? (x > y ? x : y) : (x < y ? x : y);
  });
}

void ember_unary_f32_ref(ember_unary_op op, float alpha, int64_t count, const float *in, float *out) {
  for (int64_t i = 0; i < count; ++i) {
    const float x = in[i];
    float r;
    switch (op) {
      case EMBER_UNARY_RELU: r = x > 0.0f ? x : 0.0f; break;
      case EMBER_UNARY_RELU6: r = clamp_f(x, 0.0f, 6.0f); break;
      case EMBER_UNARY_RELU_N1_TO_1: r = clamp_f(x, -1.0f, 1.0f); break;
      case EMBER_UNARY_LEAKY_RELU: r = x >= 0.0f ? x : alpha * x; break;
      case EMBER_UNARY_SIGMOID: r = 1.0f / (1.0f + expf(-x)); break;
      case EMBER_UNARY_SILU: { const float s = 1.0f / (1.0f + expf(-x)); r = x * s; break; }
      case EMBER_UNARY_TANH: r = tanhf(x); break;
      case EMBER_UNARY_HARD_SWISH: r = x * clamp_f(x + 3.0f, 0.0f, 6.0f) / 6.0f; break;
      case EMBER_UNARY_GELU: r = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); break;
      case EMBER_UNARY_ABS: r = fabsf(x); break;
      case EMBER_UNARY_NEG: r = -x; break;
      case EMBER_UNARY_SQRT: r = sqrtf(x); break;
      case EMBER_UNARY_RSQRT: r = 1.0f / sqrtf(x); break;
      case EMBER_UNARY_EXP: r = expf(x); break;
      case EMBER_UNARY_LOG: r = logf(x); break;
      case EMBER_UNARY_FLOOR: r = floorf(x); break;
      case EMBER_UNARY_CEIL: r = ceilf(x); break;
      case EMBER_UNARY_ROUND: r = nearbyintf(x); break;  // the default rounding mode: half to even
      case EMBER_UNARY_SQUARE: r = x * x; break;
      case EMBER_UNARY_ELU: r = x < 0.0f ? expm1f(x) : x; break;
      case EMBER_UNARY_SIN: r = sinf(x); break;
      case EMBER_UNARY_COS: r = cosf(x); break;
      case EMBER_UNARY_SIGN: r = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); break;
      case EMBER_UNARY_ERF: r = erff(x); break;
      case EMBER_UNARY_RECIPROCAL: r = 1.0f / x; break;
      case EMBER_UNARY_SOFTPLUS: r = x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x)); break;
      case EMBER_UNARY_GELU_TANH:
        r = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        break;
      default: r = x; break;
    }
    out[i] = r;
  }
}

void ember_lookup_s8(int64_t count, const int8_t *in, const int8_t *table, int8_t *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = table[(uint8_t)((int32_t)in[i] + 128)];
}

void ember_softmax_f32_ref(int64_t outer, int32_t axis_size, int64_t inner, float beta,
                           const float *in, float *out) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float *x = in + o * axis_size * inner + i;
      float *y = out + o * axis_size * inner + i;
      float max = x[0];
      for (int32_t k = 1; k < axis_size; ++k) max = x[k * inner] > max ? x[k * inner] : max;
      float sum = 0.0f;
      for (int32_t k = 0; k < axis_size; ++k) {
        y[k * inner] = expf(beta * (x[k * inner] - max));
        sum += y[k * inner];
      }
      for (int32_t k = 0; k < axis_size; ++k) y[k * inner] /= sum;
    }
}

void ember_layer_norm_f32_ref(int64_t rows, int32_t cols, float epsilon, const float *in,
                              const float *gamma, const float *beta, float *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = in + r * cols;
    float *y = out + r * cols;
    double mean = 0.0, var = 0.0;
    for (int32_t c = 0; c < cols; ++c) mean += x[c];
    mean /= cols;
    for (int32_t c = 0; c < cols; ++c) var += (x[c] - mean) * (x[c] - mean);
    var /= cols;
    const float inv = 1.0f / sqrtf((float)var + epsilon);
    for (int32_t c = 0; c < cols; ++c) {
      float v = ((float)(x[c] - mean)) * inv;
      if (gamma) v *= gamma[c];
      if (beta) v += beta[c];
      y[c] = v;
    }
  }
}

// ----------------------------------------------------------------- Pooling
// Pools run taps outer and channels inner (contiguous), 256 channels at a time; each output still
// folds its taps in the same order (rows, then columns), so float sums round as before.
#define EMBER_POOL_CHANNELS(g, T, INIT, STEP, FINISH)                                             \
  EMBER_FOR_EACH_POOL_WINDOW(g, {                                                                 \
    const int32_t count = (ye > ys ? ye - ys : 0) * (xe > xs ? xe - xs : 0);                      \
    (void)count; /* the max pools do not need it */                                              \
    for (int32_t c0 = 0; c0 < (g)->channels; c0 += 256) {                                         \
      const int32_t cn = (g)->channels - c0 < 256 ? (g)->channels - c0 : 256;                    \
      T acc[256];                                                                                 \
      for (int32_t c = 0; c < cn; ++c) acc[c] = (INIT);                                           \
      for (int32_t y = ys; y < ye; ++y)                                                           \
        for (int32_t x = xs; x < xe; ++x) {                                                       \
          const int64_t at = (((int64_t)n * (g)->in_h + y) * (g)->in_w + x) * (g)->channels + c0; \
          for (int32_t c = 0; c < cn; ++c) { const T v = in[at + c]; STEP; }                      \
        }                                                                                         \
      for (int32_t c = 0; c < cn; ++c) { FINISH; }                                                \
    }                                                                                             \
  })

void ember_avg_pool_f32_ref(const ember_pool_geometry *g, const float *in, float act_min,
                            float act_max, float *out) {
  EMBER_POOL_CHANNELS(g, float, 0.0f, acc[c] += v,
                      out[obase + c0 + c] = clamp_f(count > 0 ? acc[c] / (float)count : 0.0f, act_min, act_max))
}

void ember_max_pool_f32_ref(const ember_pool_geometry *g, const float *in, float act_min,
                            float act_max, float *out) {
  EMBER_POOL_CHANNELS(g, float, -INFINITY, acc[c] = v > acc[c] ? v : acc[c],
                      out[obase + c0 + c] = clamp_f(acc[c], act_min, act_max))
}

void ember_avg_pool_s8_ref(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                           int32_t act_max, int8_t *out) {
  EMBER_POOL_CHANNELS(g, int32_t, 0, acc[c] += v, {
    const int32_t k = count > 0 ? count : 1;
    const int32_t a = acc[c] > 0 ? (acc[c] + k / 2) / k : (acc[c] - k / 2) / k;
    out[obase + c0 + c] = (int8_t)clamp_i32(a, act_min, act_max);
  })
}

void ember_max_pool_s8_ref(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                           int32_t act_max, int8_t *out) {
  EMBER_POOL_CHANNELS(g, int32_t, -128, acc[c] = v > acc[c] ? v : acc[c],
                      out[obase + c0 + c] = (int8_t)clamp_i32(acc[c], act_min, act_max))
}

// -------------------------------------------------------------------- Resize
static inline float resize_scale(int32_t in, int32_t out, int32_t align_corners) {
  return (align_corners && out > 1) ? (float)(in - 1) / (float)(out - 1) : (float)in / (float)out;
}

static inline int32_t nearest_source(int32_t o, int32_t in, float scale, int32_t align_corners, int32_t half_pixel) {
  const float offset = half_pixel ? 0.5f : 0.0f;
  int32_t v = align_corners ? (int32_t)roundf(((float)o + offset) * scale) : (int32_t)floorf(((float)o + offset) * scale);
  if (v > in - 1) v = in - 1;
  if (half_pixel && v < 0) v = 0;
  return v;
}

void ember_resize_nearest_ref(int32_t elem_size, int32_t batch, int32_t in_h, int32_t in_w,
                              int32_t channels, int32_t out_h, int32_t out_w, int32_t align_corners,
                              int32_t half_pixel_centers, const void *in, void *out) {
  const float sh = resize_scale(in_h, out_h, align_corners), sw = resize_scale(in_w, out_w, align_corners);
  const int64_t row = (int64_t)channels * elem_size;
  const char *src = (const char *)in;
  char *dst = (char *)out;
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t y = 0, previous = -1; y < out_h; ++y) {
      const int32_t iy = nearest_source(y, in_h, sh, align_corners, half_pixel_centers);
      char *out_row = dst + ((int64_t)n * out_h + y) * out_w * row;
      if (iy == previous) {  // an upsampled row repeats the one above: one copy of it
        memcpy(out_row, out_row - out_w * row, (size_t)(out_w * row));
        continue;
      }
      previous = iy;
      for (int32_t x = 0; x < out_w; ++x) {
        const int32_t ix = nearest_source(x, in_w, sw, align_corners, half_pixel_centers);
        memcpy(out_row + x * row, src + (((int64_t)n * in_h + iy) * in_w + ix) * row, (size_t)row);
      }
    }
}

static inline void interpolation_values(int32_t o, float scale, int32_t half_pixel, int32_t in,
                                        float *scaled, int32_t *lo, int32_t *hi) {
  *scaled = half_pixel ? ((float)o + 0.5f) * scale - 0.5f : (float)o * scale;
  const int32_t f = (int32_t)floorf(*scaled), c = (int32_t)ceilf(*scaled);
  *lo = f > 0 ? f : 0;
  *hi = c < in - 1 ? c : in - 1;
}

void ember_resize_bilinear_f32_axis(int32_t o, int32_t in, int32_t out, int32_t align_corners, int32_t half_pixel_centers,
                                    float *fraction, int32_t *lo, int32_t *hi) {
  float scaled;
  interpolation_values(o, resize_scale(in, out, align_corners), half_pixel_centers, in, &scaled, lo, hi);
  *fraction = scaled - (float)*lo;
}

void ember_resize_bilinear_f32_ref(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                   int32_t out_h, int32_t out_w, int32_t align_corners,
                                   int32_t half_pixel_centers, const float *in, float *out) {
  const float sh = resize_scale(in_h, out_h, align_corners), sw = resize_scale(in_w, out_w, align_corners);
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t y = 0; y < out_h; ++y) {
      float fy; int32_t y0, y1;
      interpolation_values(y, sh, half_pixel_centers, in_h, &fy, &y0, &y1);
      for (int32_t x = 0; x < out_w; ++x) {
        float fx; int32_t x0, x1;
        interpolation_values(x, sw, half_pixel_centers, in_w, &fx, &x0, &x1);
        const float dy = fy - (float)y0, dx = fx - (float)x0;
        const float *p00 = in + (((int64_t)n * in_h + y0) * in_w + x0) * channels;
        const float *p10 = in + (((int64_t)n * in_h + y1) * in_w + x0) * channels;
        const float *p01 = in + (((int64_t)n * in_h + y0) * in_w + x1) * channels;
        const float *p11 = in + (((int64_t)n * in_h + y1) * in_w + x1) * channels;
        float *o = out + (((int64_t)n * out_h + y) * out_w + x) * channels;
        for (int32_t c = 0; c < channels; ++c)
          o[c] = p00[c] * (1 - dy) * (1 - dx) + p10[c] * dy * (1 - dx) + p01[c] * (1 - dy) * dx + p11[c] * dy * dx;
      }
    }
}

// -------------------------------------------------------------- Reductions
// Output index of every input element; reduced dims contribute nothing.
#define EMBER_REDUCE_LOOP(r, ...)                                                      \
  do {                                                                               \
    int64_t out_stride_[EMBER_MAX_RANK];                                             \
    int64_t s_ = 1, total_ = 1;                                                      \
    for (int32_t d_ = (r)->rank - 1; d_ >= 0; --d_) {                                \
      const int reduced_ = ((r)->axis_mask >> d_) & 1u;                              \
      out_stride_[d_] = reduced_ ? 0 : s_;                                           \
      if (!reduced_) s_ *= (r)->shape[d_];                                           \
      total_ *= (r)->shape[d_];                                                      \
    }                                                                                \
    int32_t idx_[EMBER_MAX_RANK] = {0};                                              \
    int64_t oi = 0;                                                                  \
    for (int64_t ii = 0; ii < total_; ++ii) {                                        \
      __VA_ARGS__;                                                                   \
      for (int32_t d_ = (r)->rank - 1; d_ >= 0; --d_) {                              \
        ++idx_[d_];                                                                  \
        oi += out_stride_[d_];                                                       \
        if (idx_[d_] < (r)->shape[d_]) break;                                        \
        oi -= out_stride_[d_] * (r)->shape[d_];                                      \
        idx_[d_] = 0;                                                                \
      }                                                                              \
    }                                                                                \
  } while (0)

static void reduce_counts(const ember_reduce *r, int64_t *out_count, int64_t *reduced) {
  int64_t o = 1, k = 1;
  for (int32_t d = 0; d < r->rank; ++d) {
    if ((r->axis_mask >> d) & 1u) k *= r->shape[d]; else o *= r->shape[d];
  }
  *out_count = o;
  *reduced = k;
}

// Whether the reduced axes are exactly the trailing ones: then every output is the sum of one
// contiguous run, visited in the same order as EMBER_REDUCE_LOOP visits it.
static int reduces_trailing_axes(const ember_reduce *r) {
  int32_t d = r->rank - 1;
  while (d >= 0 && ((r->axis_mask >> d) & 1u)) --d;
  for (; d >= 0; --d) if ((r->axis_mask >> d) & 1u) return 0;
  return r->axis_mask != 0;
}

void ember_mean_f32_ref(const ember_reduce *r, const float *in, float *out) {
  int64_t n_out, n_red;
  reduce_counts(r, &n_out, &n_red);
  for (int64_t i = 0; i < n_out; ++i) out[i] = 0.0f;
  if (reduces_trailing_axes(r)) {
    for (int64_t o = 0; o < n_out; ++o) {
      float acc = 0.0f;
      for (int64_t k = 0; k < n_red; ++k) acc += in[o * n_red + k];
      out[o] = acc;
    }
  } else {
    EMBER_REDUCE_LOOP(r, { out[oi] += in[ii]; });
  }
  if (n_red > 0)
    for (int64_t i = 0; i < n_out; ++i) out[i] /= (float)n_red;
}

/// The int32 sums of x − input_zero_point over the reduced axes into scratch (one per output); returns
/// how many outputs there are.
static int64_t mean_s8_sums(const ember_reduce *r, const int8_t *in, int32_t input_zero_point, int32_t *scratch) {
  int64_t n_out, n_red;
  reduce_counts(r, &n_out, &n_red);
  // Trailing axes (a layer norm's mean over the last one): each sum is one contiguous run. Integer sums do
  // not depend on order, so this is the loop below's result, several times faster.
  int32_t trailing = 1;
  for (int32_t d = 0, seen = 0; d < r->rank; ++d) {
    const int32_t reduced = (r->axis_mask >> d) & 1;
    if (seen && !reduced) trailing = 0;
    seen |= reduced;
  }
  if (trailing) {
    for (int64_t i = 0; i < n_out; ++i) {
      const int8_t *x = in + i * n_red;
      int32_t sum = 0;
      for (int64_t t = 0; t < n_red; ++t) sum += x[t];
      scratch[i] = (int32_t)((uint32_t)sum - (uint32_t)input_zero_point * (uint32_t)n_red);
    }
    return n_out;
  }
  for (int64_t i = 0; i < n_out; ++i) scratch[i] = 0;
  EMBER_REDUCE_LOOP(r, { scratch[oi] += (int32_t)in[ii] - input_zero_point; });
  return n_out;
}

void ember_mean_s8_ref(const ember_reduce *r, const int8_t *in, int32_t input_zero_point,
                       int32_t multiplier, int32_t shift, int32_t output_zero_point,
                       int32_t *scratch, int8_t *out) {
  const int64_t n_out = mean_s8_sums(r, in, input_zero_point, scratch);
  for (int64_t i = 0; i < n_out; ++i) {
    const int32_t v = ember_multiply_by_quantized_multiplier(scratch[i], multiplier, shift) + output_zero_point;
    out[i] = (int8_t)clamp_i32(v, -128, 127);
  }
}

void ember_mean_s8_float_ref(const ember_reduce *r, const int8_t *in, int32_t input_zero_point, float scale,
                             int32_t output_zero_point, int32_t *scratch, int8_t *out) {
  const int64_t n_out = mean_s8_sums(r, in, input_zero_point, scratch);
  for (int64_t i = 0; i < n_out; ++i)
    out[i] = (int8_t)clamp_i32(ember_requantize_float(scratch[i], scale) + output_zero_point, -128, 127);
}

// Generic reductions: TFLite's reference Reduce visits the input in order and folds each
// element into its output, as this loop does, so float sums round the same way.
#define EMBER_REDUCE_TYPED(T, lowest, highest)                                            \
  do {                                                                                  \
    const T *x_ = (const T *)in;                                                        \
    T *y_ = (T *)out;                                                                   \
    const T init_ = op == EMBER_REDUCE_SUM ? (T)0 : op == EMBER_REDUCE_PROD ? (T)1       \
                    : op == EMBER_REDUCE_MAX ? (lowest) : (highest);                    \
    for (int64_t i_ = 0; i_ < n_out; ++i_) y_[i_] = init_;                              \
    switch (op) {                                                                       \
      case EMBER_REDUCE_SUM: EMBER_REDUCE_LOOP(r, { y_[oi] += x_[ii]; }); break;        \
      case EMBER_REDUCE_PROD: EMBER_REDUCE_LOOP(r, { y_[oi] *= x_[ii]; }); break;       \
      case EMBER_REDUCE_MAX: EMBER_REDUCE_LOOP(r, { if (x_[ii] > y_[oi]) y_[oi] = x_[ii]; }); break; \
      default: EMBER_REDUCE_LOOP(r, { if (x_[ii] < y_[oi]) y_[oi] = x_[ii]; }); break;  \
    }                                                                                   \
  } while (0)

void ember_reduce_ref(const ember_reduce *r, ember_reduce_op op, ember_dtype dtype, const void *in, void *out) {
  int64_t n_out, n_red;
  reduce_counts(r, &n_out, &n_red);
  switch (dtype) {
    case EMBER_DTYPE_I32: EMBER_REDUCE_TYPED(int32_t, INT32_MIN, INT32_MAX); break;
    case EMBER_DTYPE_I64: EMBER_REDUCE_TYPED(int64_t, INT64_MIN, INT64_MAX); break;
    case EMBER_DTYPE_I16: EMBER_REDUCE_TYPED(int16_t, INT16_MIN, INT16_MAX); break;
    case EMBER_DTYPE_U16: EMBER_REDUCE_TYPED(uint16_t, 0, UINT16_MAX); break;
    case EMBER_DTYPE_U32: EMBER_REDUCE_TYPED(uint32_t, 0, UINT32_MAX); break;
    case EMBER_DTYPE_U64: EMBER_REDUCE_TYPED(uint64_t, 0, UINT64_MAX); break;
    default: EMBER_REDUCE_TYPED(float, -INFINITY, INFINITY); break;
  }
}

#define EMBER_ARG_REDUCE_TYPED(T)                                                        \
  do {                                                                                  \
    const T *x_ = (const T *)in;                                                        \
    for (int64_t o_ = 0; o_ < outer; ++o_)                                              \
      for (int64_t j_ = 0; j_ < inner; ++j_) {                                          \
        const T *row_ = x_ + o_ * axis_size * inner + j_;                               \
        int32_t best_ = 0;                                                              \
        for (int32_t k_ = 1; k_ < axis_size; ++k_) {                                    \
          const T v_ = row_[k_ * inner], b_ = row_[best_ * inner];                      \
          if (largest ? (v_ > b_ || b_ != b_) : (v_ < b_ || b_ != b_)) {                \
            if (v_ == v_) best_ = k_;                                                   \
          }                                                                             \
        }                                                                               \
        const int64_t at_ = o_ * inner + j_;                                            \
        if (out_i64) ((int64_t *)out)[at_] = best_; else ((int32_t *)out)[at_] = best_; \
      }                                                                                 \
  } while (0)

void ember_arg_reduce_ref(ember_dtype dtype, int64_t outer, int32_t axis_size, int64_t inner, int32_t largest,
                          const void *in, int32_t out_i64, void *out) {
  switch (dtype) {
    case EMBER_DTYPE_I8: EMBER_ARG_REDUCE_TYPED(int8_t); break;
    case EMBER_DTYPE_U8: EMBER_ARG_REDUCE_TYPED(uint8_t); break;
    case EMBER_DTYPE_I32: EMBER_ARG_REDUCE_TYPED(int32_t); break;
    case EMBER_DTYPE_I64: EMBER_ARG_REDUCE_TYPED(int64_t); break;
    case EMBER_DTYPE_I16: EMBER_ARG_REDUCE_TYPED(int16_t); break;
    case EMBER_DTYPE_U16: EMBER_ARG_REDUCE_TYPED(uint16_t); break;
    case EMBER_DTYPE_U32: EMBER_ARG_REDUCE_TYPED(uint32_t); break;
    case EMBER_DTYPE_U64: EMBER_ARG_REDUCE_TYPED(uint64_t); break;
    default: EMBER_ARG_REDUCE_TYPED(float); break;
  }
}

// ------------------------------------------------------ int8 softmax and resize (TFLite reference)
static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
#define SRDHM ember_saturating_rounding_doubling_high_mul

// gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0: a saturating left shift.
static inline int32_t saturating_shift_left(int32_t x, int e) {
  const int32_t threshold = (int32_t)((1u << (31 - e)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}

// exp(x) for x in [-1/4, 0), Q0.31 in and out.
static int32_t exp_on_interval_minus_quarter_to_0(int32_t a) {
  const int32_t constant_term = 1895147668, one_third = 715827883;
  const int32_t x = wrap_add(a, 1 << 28);
  const int32_t x2 = SRDHM(x, x), x3 = SRDHM(x2, x), x4 = SRDHM(x2, x2);
  const int32_t x4_over_4 = ember_rounding_divide_by_pot(x4, 2);
  const int32_t poly = ember_rounding_divide_by_pot(wrap_add(SRDHM(wrap_add(x4_over_4, x3), one_third), x2), 1);
  return wrap_add(constant_term, SRDHM(constant_term, wrap_add(x, poly)));
}

// gemmlowp exp_on_negative_values for a Q5.26 input; Q0.31 result.
static int32_t exp_on_negative_values_q5(int32_t a) {
  enum { kFractionalBits = 26, kIntegerBits = 5 };
  const int32_t one_quarter = 1 << (kFractionalBits - 2);
  const int32_t a_mod_quarter_minus_quarter = wrap_sub(a & (one_quarter - 1), one_quarter);
  int32_t result = exp_on_interval_minus_quarter_to_0(saturating_shift_left(a_mod_quarter_minus_quarter, kIntegerBits));
  const int32_t remainder = wrap_sub(a_mod_quarter_minus_quarter, a);
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  for (int e = -2; e <= 4; ++e)
    if (remainder & (1 << (kFractionalBits + e))) result = SRDHM(result, multipliers[e + 2]);
  return a == 0 ? INT32_MAX : result;
}

static inline int32_t rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

// gemmlowp one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson), Q0.31.
static int32_t one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
  const int32_t c48_17 = 1515870810, cneg32_17 = -1010580540, one_q2 = 1 << 29;
  int32_t x = wrap_add(c48_17, SRDHM(half_denominator, cneg32_17));
  for (int i = 0; i < 3; ++i) {
    const int32_t one_minus = wrap_sub(one_q2, SRDHM(half_denominator, x));
    x = wrap_add(x, saturating_shift_left(SRDHM(x, one_minus), 2));
  }
  return saturating_shift_left(x, 1);
}

static inline int16_t srdhm16(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) return INT16_MAX;
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return (int16_t)((ab + nudge) / (1 << 15));
}
static inline int16_t saturating_doubling_high_mul16(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) return INT16_MAX;
  return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}
static inline int16_t saturating_left_shift16(int16_t v, int amount) {
  const int32_t r = (int32_t)v * (1 << amount);
  return (int16_t)(r < INT16_MIN ? INT16_MIN : (r > INT16_MAX ? INT16_MAX : r));
}
static inline int16_t rounding_divide_by_pot16(int16_t x, int exponent) {
  const int32_t mask = (1 << exponent) - 1, remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

void ember_hard_swish_s8_ref(int64_t count, const int8_t *in, const ember_hard_swish_s8_params *p, int8_t *out) {
  for (int64_t i = 0; i < count; ++i) {
    const int16_t input_value = (int16_t)(in[i] - p->input_zero_point);
    const int16_t hires = (int16_t)(input_value * (1 << 7));
    const int16_t preshift_output = srdhm16(hires, p->output_multiplier_fixedpoint_int16);
    int16_t reluish = hires;
    if (p->reluish_multiplier_exponent > 0) reluish = saturating_left_shift16(reluish, p->reluish_multiplier_exponent - 1);
    reluish = srdhm16(reluish, p->reluish_multiplier_fixedpoint_int16);
    if (p->reluish_multiplier_exponent > 0) reluish = saturating_left_shift16(reluish, 1);
    if (p->reluish_multiplier_exponent < 0) reluish = rounding_divide_by_pot16(reluish, -p->reluish_multiplier_exponent);
    reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);
    const int16_t preshift = saturating_doubling_high_mul16(reluish, preshift_output);
    int32_t v = rounding_divide_by_pot16(preshift, -p->output_multiplier_exponent) + p->output_zero_point;
    out[i] = (int8_t)clamp_i32(v, -128, 127);
  }
}

void ember_softmax_s8_exp_table(int32_t input_multiplier, int32_t input_left_shift, int32_t diff_min,
                                int32_t *exp_table) {
  for (int32_t d = 0; d < 256; ++d) {
    const int32_t diff = -d;
    exp_table[d] = diff >= diff_min
        ? exp_on_negative_values_q5(SRDHM(diff * (1 << input_left_shift), input_multiplier)) : 0;
  }
}

// A difference below diff_min has table entry 0; a real exp is never 0 (exp(0) is INT32_MAX and the
// smallest the barrel shifter reaches stays positive), so 0 marks "skipped" as TFLite's branch does.
void ember_softmax_s8_ref(int64_t rows, int32_t depth, const int32_t *exp_table, const int8_t *in, int8_t *out) {
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t *x = in + r * depth;
    int8_t *y = out + r * depth;
    int32_t max_in_row = -128;
    for (int32_t c = 0; c < depth; ++c) max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
    int32_t sum_of_exps = 0;  // Q12.19
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t e = exp_table[max_in_row - x[c]];
      if (e != 0) sum_of_exps = wrap_add(sum_of_exps, ember_rounding_divide_by_pot(e, 12));
    }
    // TFLite GetReciprocal(sum, 12 integer bits).
    const int headroom_plus_one = sum_of_exps > 0 ? __builtin_clz((uint32_t)sum_of_exps) : 31;
    const int num_bits_over_unit = 12 - headroom_plus_one;
    const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
    const int32_t shifted_scale = one_over_one_plus_x(shifted_sum_minus_one);
    const int exponent = num_bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t e = exp_table[max_in_row - x[c]];
      if (e != 0) {
        const int32_t unsat = exponent >= 0 && exponent <= 31
            ? ember_rounding_divide_by_pot(SRDHM(shifted_scale, e), exponent) : 0;
        y[c] = (int8_t)clamp_i32(unsat - 128, -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
}

void ember_resize_bilinear_s8_ref(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                  int32_t out_h, int32_t out_w, int32_t align_corners,
                                  int32_t half_pixel_centers, const int8_t *in, int8_t *out) {
  const int32_t hs = ember_resize_scale_10(in_h, out_h, align_corners);
  const int32_t ws = ember_resize_scale_10(in_w, out_w, align_corners);
  for (int32_t n = 0; n < batch; ++n)
    for (int32_t y = 0; y < out_h; ++y) {
      int32_t iy, y0, y1;
      ember_interpolation_values_integer(y, hs, half_pixel_centers, in_h, &iy, &y0, &y1);
      for (int32_t x = 0; x < out_w; ++x) {
        int32_t ix, x0, x1;
        ember_interpolation_values_integer(x, ws, half_pixel_centers, in_w, &ix, &x0, &x1);
        const int64_t wy1 = iy - (1 << 10) * y0, wy0 = (1 << 10) - wy1;
        const int64_t wx1 = ix - (1 << 10) * x0, wx0 = (1 << 10) - wx1;
        const int8_t *p00 = in + (((int64_t)n * in_h + y0) * in_w + x0) * channels;
        const int8_t *p10 = in + (((int64_t)n * in_h + y1) * in_w + x0) * channels;
        const int8_t *p01 = in + (((int64_t)n * in_h + y0) * in_w + x1) * channels;
        const int8_t *p11 = in + (((int64_t)n * in_h + y1) * in_w + x1) * channels;
        int8_t *o = out + (((int64_t)n * out_h + y) * out_w + x) * channels;
        for (int32_t c = 0; c < channels; ++c) {
          const int64_t v = p00[c] * wy0 * wx0 + p10[c] * wy1 * wx0 + p01[c] * wy0 * wx1 + p11[c] * wy1 * wx1;
          const int64_t round = v > 0 ? (1 << 19) : -(1 << 19);
          o[c] = (int8_t)((v + round) / (1 << 20));
        }
      }
    }
}
#undef SRDHM

// ------------------------------------------------------ Comparison, logic, select, cast
#define EMBER_COMPARE_TYPED(T)                                                           \
  do {                                                                                  \
    const T *x_ = (const T *)a, *y_ = (const T *)b;                                     \
    switch (op) {                                                                       \
      case EMBER_COMPARE_LESS: EMBER_BROADCAST_LOOP(bc, { out[oi] = x_[ai] < y_[bi]; }); break; \
      case EMBER_COMPARE_LESS_EQUAL: EMBER_BROADCAST_LOOP(bc, { out[oi] = x_[ai] <= y_[bi]; }); break; \
      case EMBER_COMPARE_GREATER: EMBER_BROADCAST_LOOP(bc, { out[oi] = x_[ai] > y_[bi]; }); break; \
      case EMBER_COMPARE_GREATER_EQUAL: EMBER_BROADCAST_LOOP(bc, { out[oi] = x_[ai] >= y_[bi]; }); break; \
      case EMBER_COMPARE_EQUAL: EMBER_BROADCAST_LOOP(bc, { out[oi] = x_[ai] == y_[bi]; }); break; \
      default: EMBER_BROADCAST_LOOP(bc, { out[oi] = x_[ai] != y_[bi]; }); break;        \
    }                                                                                   \
  } while (0)

void ember_compare_ref(ember_compare_op op, ember_dtype dtype, const ember_broadcast *bc, const void *a,
                       const void *b, uint8_t *out) {
  switch (dtype) {
    case EMBER_DTYPE_I32: EMBER_COMPARE_TYPED(int32_t); break;
    case EMBER_DTYPE_I64: EMBER_COMPARE_TYPED(int64_t); break;
    case EMBER_DTYPE_I8: EMBER_COMPARE_TYPED(int8_t); break;
    case EMBER_DTYPE_U8: case EMBER_DTYPE_BOOL: EMBER_COMPARE_TYPED(uint8_t); break;
    case EMBER_DTYPE_I16: EMBER_COMPARE_TYPED(int16_t); break;
    case EMBER_DTYPE_U16: EMBER_COMPARE_TYPED(uint16_t); break;
    case EMBER_DTYPE_U32: EMBER_COMPARE_TYPED(uint32_t); break;
    case EMBER_DTYPE_U64: EMBER_COMPARE_TYPED(uint64_t); break;
    default: EMBER_COMPARE_TYPED(float); break;
  }
}

void ember_logical_ref(ember_logical_op op, const ember_broadcast *bc, const uint8_t *a, const uint8_t *b,
                       uint8_t *out) {
  EMBER_BROADCAST_LOOP(bc, {
    const int x = a[ai] != 0, y = b[bi] != 0;
    out[oi] = (uint8_t)(op == EMBER_LOGICAL_AND ? (x && y) : op == EMBER_LOGICAL_OR ? (x || y) : (x != y));
  });
}

void ember_logical_not_ref(int64_t count, const uint8_t *in, uint8_t *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = in[i] == 0;
}

// Float to integer: truncate toward zero, saturate at the type's range, NaN to 0 (C leaves
// out-of-range conversions undefined, so they are clamped first).
static inline int64_t float_to_int(double v, double lo, double hi) {
  if (v != v) return 0;
  if (v <= lo) return (int64_t)lo;
  if (v >= hi) return (int64_t)hi;
  return (int64_t)v;
}

static inline double load_as_double(ember_dtype t, const void *p, int64_t i) {
  switch (t) {
    case EMBER_DTYPE_I32: return (double)((const int32_t *)p)[i];
    case EMBER_DTYPE_I64: return (double)((const int64_t *)p)[i];
    case EMBER_DTYPE_I8: return (double)((const int8_t *)p)[i];
    case EMBER_DTYPE_U8: case EMBER_DTYPE_BOOL: return (double)((const uint8_t *)p)[i];
    case EMBER_DTYPE_I16: return (double)((const int16_t *)p)[i];
    case EMBER_DTYPE_U16: return (double)((const uint16_t *)p)[i];
    case EMBER_DTYPE_U32: return (double)((const uint32_t *)p)[i];
    case EMBER_DTYPE_U64: return (double)((const uint64_t *)p)[i];
    default: return (double)((const float *)p)[i];
  }
}

static inline int64_t load_as_int(ember_dtype t, const void *p, int64_t i) {
  switch (t) {
    case EMBER_DTYPE_I32: return ((const int32_t *)p)[i];
    case EMBER_DTYPE_I64: return ((const int64_t *)p)[i];
    case EMBER_DTYPE_I8: return ((const int8_t *)p)[i];
    case EMBER_DTYPE_U8: case EMBER_DTYPE_BOOL: return ((const uint8_t *)p)[i];
    case EMBER_DTYPE_I16: return ((const int16_t *)p)[i];
    case EMBER_DTYPE_U16: return ((const uint16_t *)p)[i];
    case EMBER_DTYPE_U32: return ((const uint32_t *)p)[i];
    case EMBER_DTYPE_U64: return (int64_t)((const uint64_t *)p)[i];  // wraps above INT64_MAX; narrowing keeps the low bits
    default: return float_to_int((double)((const float *)p)[i], -9223372036854775808.0, 9223372036854774784.0);
  }
}

void ember_cast_ref(ember_dtype from, ember_dtype to, int64_t count, const void *in, void *out) {
  const int from_float = from == EMBER_DTYPE_F32;
  for (int64_t i = 0; i < count; ++i) {
    switch (to) {
      case EMBER_DTYPE_F32:
        // 64-bit integers round once to f32 (through double they could round twice).
        ((float *)out)[i] = from == EMBER_DTYPE_I64 ? (float)((const int64_t *)in)[i]
                            : from == EMBER_DTYPE_U64 ? (float)((const uint64_t *)in)[i] : (float)load_as_double(from, in, i);
        break;
      case EMBER_DTYPE_BOOL: ((uint8_t *)out)[i] = load_as_double(from, in, i) != 0.0; break;
      case EMBER_DTYPE_I32: {
        const int64_t v = from_float ? float_to_int(load_as_double(from, in, i), -2147483648.0, 2147483647.0)
                                     : load_as_int(from, in, i);
        ((int32_t *)out)[i] = (int32_t)v;  // integer narrowing wraps, as static_cast does
        break;
      }
      case EMBER_DTYPE_I64: ((int64_t *)out)[i] = load_as_int(from, in, i); break;
      case EMBER_DTYPE_U64: {
        const double v = load_as_double(from, in, i);
        ((uint64_t *)out)[i] = from_float ? (v != v || v <= 0.0 ? 0 : v >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)v)
                                          : (uint64_t)load_as_int(from, in, i);
        break;
      }
      case EMBER_DTYPE_I16: case EMBER_DTYPE_U16: case EMBER_DTYPE_U32: {
        const double lo = to == EMBER_DTYPE_I16 ? -32768.0 : 0.0;
        const double hi = to == EMBER_DTYPE_I16 ? 32767.0 : to == EMBER_DTYPE_U16 ? 65535.0 : 4294967295.0;
        const int64_t v = from_float ? float_to_int(load_as_double(from, in, i), lo, hi) : load_as_int(from, in, i);
        if (to == EMBER_DTYPE_I16) ((int16_t *)out)[i] = (int16_t)v;
        else if (to == EMBER_DTYPE_U16) ((uint16_t *)out)[i] = (uint16_t)v;
        else ((uint32_t *)out)[i] = (uint32_t)v;
        break;
      }
      case EMBER_DTYPE_I8: {
        const int64_t v = from_float ? float_to_int(load_as_double(from, in, i), -128.0, 127.0) : load_as_int(from, in, i);
        ((int8_t *)out)[i] = (int8_t)v;
        break;
      }
      default: {
        const int64_t v = from_float ? float_to_int(load_as_double(from, in, i), 0.0, 255.0) : load_as_int(from, in, i);
        ((uint8_t *)out)[i] = (uint8_t)v;
        break;
      }
    }
  }
}

void ember_select_ref(int32_t elem_size, const ember_broadcast3 *bc, const uint8_t *cond, const void *x,
                      const void *y, void *out) {
  int64_t total = 1;
  for (int32_t d = 0; d < bc->rank; ++d) total *= bc->shape[d];
  int32_t idx[EMBER_MAX_RANK] = {0};
  int64_t at[3] = {0, 0, 0};
  const char *xs = (const char *)x, *ys = (const char *)y;
  char *o = (char *)out;
  for (int64_t oi = 0; oi < total; ++oi) {
    const char *src = cond[at[0]] ? xs + at[1] * elem_size : ys + at[2] * elem_size;
    memcpy(o + oi * elem_size, src, (size_t)elem_size);
    for (int32_t d = bc->rank - 1; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < 3; ++k) at[k] += bc->strides[k][d];
      if (idx[d] < bc->shape[d]) break;
      for (int k = 0; k < 3; ++k) at[k] -= bc->strides[k][d] * bc->shape[d];
      idx[d] = 0;
    }
  }
}

void ember_gather_ref(int32_t elem_size, int64_t outer, int32_t axis_size, int64_t inner, const void *indices,
                      int32_t indices_i64, int64_t index_count, const void *params, void *out) {
  const size_t row = (size_t)(inner * elem_size);
  const char *p = (const char *)params;
  char *o = (char *)out;
  for (int64_t b = 0; b < outer; ++b)
    for (int64_t j = 0; j < index_count; ++j) {
      int64_t k = indices_i64 ? ((const int64_t *)indices)[j] : ((const int32_t *)indices)[j];
      if (k < 0) k += axis_size;
      char *dst = o + (b * index_count + j) * (int64_t)row;
      if (k < 0 || k >= axis_size) memset(dst, 0, row);
      else memcpy(dst, p + (b * axis_size + k) * (int64_t)row, row);
    }
}

void ember_tile_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape, const int32_t *out_shape,
                    const void *in, void *out) {
  int64_t in_strides[EMBER_MAX_RANK], total = 1, s = 1;
  for (int32_t d = rank - 1; d >= 0; --d) { in_strides[d] = s; s *= in_shape[d]; total *= out_shape[d]; }
  int32_t idx[EMBER_MAX_RANK] = {0};
  const char *x = (const char *)in;
  char *o = (char *)out;
  for (int64_t oi = 0; oi < total; ++oi) {
    int64_t ii = 0;
    for (int32_t d = 0; d < rank; ++d) ii += (int64_t)(idx[d] % in_shape[d]) * in_strides[d];
    memcpy(o + oi * elem_size, x + ii * elem_size, (size_t)elem_size);
    for (int32_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

void ember_mirror_pad_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape, const int32_t *pad_before,
                          const int32_t *out_shape, int32_t reflect, const void *in, void *out) {
  int64_t in_strides[EMBER_MAX_RANK], total = 1, s = 1;
  for (int32_t d = rank - 1; d >= 0; --d) { in_strides[d] = s; s *= in_shape[d]; total *= out_shape[d]; }
  int32_t idx[EMBER_MAX_RANK] = {0};
  const char *x = (const char *)in;
  char *o = (char *)out;
  const int32_t offset = reflect ? 1 : 0;
  for (int64_t oi = 0; oi < total; ++oi) {
    int64_t ii = 0;
    for (int32_t d = 0; d < rank; ++d) {
      const int32_t n = in_shape[d];
      int32_t i = idx[d] - pad_before[d];
      if (i < 0) i = -i - 1 + offset;
      else if (i >= n) i = 2 * n - 1 - i - offset;
      ii += (int64_t)i * in_strides[d];
    }
    memcpy(o + oi * elem_size, x + ii * elem_size, (size_t)elem_size);
    for (int32_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

// ------------------------------------------------------ Transposed convolution
// TFLite's reference scatters input pixel by input pixel; here the taps of one input pixel run
// output channel by output channel with the input channels innermost (contiguous in the input and
// the [O][KH][KW][C] filter). Every output element still receives its terms in TFLite's order —
// input pixel, then input channel (one tap joins an input pixel to an output pixel) — so the float
// sums round as TFLite's do and the int32 sums are the same.
#define EMBER_TRANSPOSE_CONV_SCATTER(g, T, ACC, TERM)                                             \
  for (int32_t n = 0; n < (g)->batch; ++n)                                                      \
    for (int32_t iy = 0; iy < (g)->in_h; ++iy)                                                  \
      for (int32_t ix = 0; ix < (g)->in_w; ++ix) {                                              \
        const int32_t oy0 = iy * (g)->stride_h - (g)->pad_top, ox0 = ix * (g)->stride_w - (g)->pad_left; \
        const int64_t in_at = (((int64_t)n * (g)->in_h + iy) * (g)->in_w + ix) * (g)->in_c;      \
        for (int32_t ky = 0; ky < (g)->kernel_h; ++ky) {                                        \
          const int32_t oy = oy0 + ky;                                                          \
          if (oy < 0 || oy >= (g)->out_h) continue;                                             \
          for (int32_t kx = 0; kx < (g)->kernel_w; ++kx) {                                      \
            const int32_t ox = ox0 + kx;                                                        \
            if (ox < 0 || ox >= (g)->out_w) continue;                                           \
            T *acc_ = ACC + (((int64_t)n * (g)->out_h + oy) * (g)->out_w + ox) * (g)->out_c;    \
            for (int32_t oc = 0; oc < (g)->out_c; ++oc) {                                       \
              const int64_t w_at = (((int64_t)oc * (g)->kernel_h + ky) * (g)->kernel_w + kx) * (g)->in_c; \
              T a_ = acc_[oc];                                                                  \
              for (int32_t ic = 0; ic < (g)->in_c; ++ic) a_ += TERM(input[in_at + ic], filter[w_at + ic], oc); \
              acc_[oc] = a_;                                                                    \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
      }

#define EMBER_PRODUCT(x, w, oc) ((x) * (w))
void ember_transpose_conv2d_f32_ref(const ember_conv_geometry *g, const float *input, const float *filter,
                                    const float *bias, float act_min, float act_max, float *output) {
  const int64_t total = (int64_t)g->batch * g->out_h * g->out_w * g->out_c;
  for (int64_t i = 0; i < total; ++i) output[i] = 0.0f;
  EMBER_TRANSPOSE_CONV_SCATTER(g, float, output, EMBER_PRODUCT)
  for (int64_t i = 0; i < total; ++i) {
    const float v = output[i] + (bias ? bias[i % g->out_c] : 0.0f);
    output[i] = clamp_f(v, act_min, act_max);
  }
}

void ember_transpose_conv2d_hybrid_ref(const ember_conv_geometry *g, const float *input, const int8_t *filter,
                                       const float *channel_scale, const float *bias, float act_min, float act_max,
                                       int8_t *scratch, float *output) {
  ember_conv_geometry one = *g;
  one.batch = 1;
  const int64_t in_per = (int64_t)g->in_h * g->in_w * g->in_c, out_per = (int64_t)g->out_h * g->out_w * g->out_c;
  for (int32_t n = 0; n < g->batch; ++n) {
    float scale;
    int32_t zero_point;
    asymmetric_quantize(input + n * in_per, in_per, scratch, &scale, &zero_point);
    float *out = output + n * out_per;
    for (int64_t i = 0; i < out_per; ++i) out[i] = 0.0f;
    {
      // LiteRT's scatter adds every product in f32, scaled on its own: (x − zp)·w · channel scale · input scale.
      const int8_t *quantized = scratch;
#define EMBER_SCALED_PRODUCT(x, w, oc) ((float)(((int32_t)(x) - zero_point) * (int32_t)(w)) * channel_scale[oc] * scale)
#define input quantized
      EMBER_TRANSPOSE_CONV_SCATTER((&one), float, out, EMBER_SCALED_PRODUCT)
#undef input
#undef EMBER_SCALED_PRODUCT
    }
    for (int64_t i = 0; i < out_per; ++i) out[i] = clamp_f(out[i] + (bias ? bias[i % g->out_c] : 0.0f), act_min, act_max);
  }
}

void ember_transpose_conv2d_s8_ref(const ember_conv_geometry *g, const int8_t *input, const int8_t *filter,
                                   const int32_t *bias, const ember_requant *rq, int32_t *scratch,
                                   int8_t *output) {
  const int64_t total = (int64_t)g->batch * g->out_h * g->out_w * g->out_c;
  for (int64_t i = 0; i < total; ++i) scratch[i] = 0;
#define EMBER_OFFSET_PRODUCT(x, w, oc) (((int32_t)(x) + rq->input_offset) * (int32_t)(w))
  EMBER_TRANSPOSE_CONV_SCATTER(g, int32_t, scratch, EMBER_OFFSET_PRODUCT)
#undef EMBER_OFFSET_PRODUCT
  for (int64_t i = 0; i < total; ++i) {
    const int32_t oc = (int32_t)(i % g->out_c);
    output[i] = requant_output(scratch[i] + (bias ? bias[oc] : 0), rq, oc, 0);
  }
}

// ------------------------------------------------------ Data movement
static int64_t product(int32_t rank, const int32_t *dims) {
  int64_t p = 1;
  for (int32_t d = 0; d < rank; ++d) p *= dims[d];
  return p;
}

// Row-major element strides of a shape.
static void row_major_strides(int32_t rank, const int32_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int32_t d = rank - 1; d >= 0; --d) { strides[d] = s; s *= shape[d]; }
}

// Advances a multi-index over `shape` in row-major order.
static inline void next_index(int32_t rank, const int32_t *shape, int32_t *idx) {
  for (int32_t d = rank - 1; d >= 0; --d) {
    if (++idx[d] < shape[d]) return;
    idx[d] = 0;
  }
}

/// `count` elements of `size` bytes, src_step bytes apart in src, to dst_step bytes apart in dst (fixed-size
/// copies for the usual element sizes, so each is a load and a store rather than a memcpy call).
static void move_elements(char *dst, int64_t dst_step, const char *src, int64_t src_step, int64_t count, int64_t size) {
#define EMBER_MOVE_ELEMENTS(T)                                                                     \
  for (int64_t i = 0; i < count; ++i) {                                                            \
    T v;                                                                                           \
    memcpy(&v, src + i * src_step, sizeof v);                                                      \
    memcpy(dst + i * dst_step, &v, sizeof v);                                                      \
  }
  switch (size) {
    case 1: EMBER_MOVE_ELEMENTS(uint8_t) break;
    case 2: EMBER_MOVE_ELEMENTS(uint16_t) break;
    case 4: EMBER_MOVE_ELEMENTS(uint32_t) break;
    case 8: EMBER_MOVE_ELEMENTS(uint64_t) break;
    default:
      for (int64_t i = 0; i < count; ++i) memcpy(dst + i * dst_step, src + i * src_step, (size_t)size);
  }
#undef EMBER_MOVE_ELEMENTS
}

/// `count` elements of `size` bytes, `step` bytes apart in src, to contiguous dst.
static void copy_strided(char *dst, const char *src, int64_t count, int64_t step, int64_t size) {
  move_elements(dst, size, src, step, count, size);
}

void ember_transpose_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape,
                         const int32_t *perm, const void *in, void *out) {
  int64_t total = product(rank, in_shape);
  if (total == 0) return;
  if (rank == 0) { memcpy(out, in, (size_t)elem_size); return; }
  // Trailing axes that stay in place move as one run of bytes (e.g. the head dim of attention's
  // [B,T,H,D] → [B,H,T,D]): fold them into the element.
  int32_t shape[EMBER_MAX_RANK];
  for (int32_t d = 0; d < rank; ++d) shape[d] = in_shape[d];
  int64_t run = elem_size;
  while (rank > 1 && perm[rank - 1] == rank - 1) { run *= shape[rank - 1]; total /= shape[rank - 1]; --rank; }
  in_shape = shape;
  // One axis moved to the end, the others in order ([N][C][H·W] → [N][H·W][C]: an ONNX image entering
  // the channels-last layout): per (outer, c), a contiguous input row scattered C runs apart — where
  // the general loop below would copy rows of C elements, one call per pixel.
  int32_t moved = perm[rank - 1], one_moved = rank > 1;
  for (int32_t d = 0; d < rank - 1; ++d) one_moved &= perm[d] == (d < moved ? d : d + 1);
  if (one_moved) {
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < moved; ++d) outer *= shape[d];
    for (int32_t d = moved + 1; d < rank; ++d) inner *= shape[d];
    const int64_t channels = shape[moved];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < channels; ++c)
        move_elements((char *)out + ((o * inner) * channels + c) * run, channels * run,
                      (const char *)in + ((o * channels + c) * inner) * run, run, inner, run);
    return;
  }
  int64_t in_stride[EMBER_MAX_RANK] = {0}, stride_for_out[EMBER_MAX_RANK] = {0};
  int32_t out_shape[EMBER_MAX_RANK] = {0}, idx[EMBER_MAX_RANK] = {0};
  row_major_strides(rank, in_shape, in_stride);
  for (int32_t d = 0; d < rank; ++d) { out_shape[d] = in_shape[perm[d]]; stride_for_out[d] = in_stride[perm[d]]; }
  const char *src = (const char *)in;
  char *dst = (char *)out;
  // A whole output row at a time: its elements are `step` runs apart in the input.
  const int32_t last = rank - 1;
  const int64_t row = out_shape[last], step = stride_for_out[last] * run;
  int64_t ii = 0;
  for (int64_t oi = 0; oi < total; oi += row) {
    copy_strided(dst + oi * run, src + ii * run, row, step, run);
    for (int32_t d = last - 1; d >= 0; --d) {
      ++idx[d];
      ii += stride_for_out[d];
      if (idx[d] < out_shape[d]) break;
      ii -= stride_for_out[d] * out_shape[d];
      idx[d] = 0;
    }
  }
}

/// `n` elements of elem_size bytes at dst set to *value (doubling copies for wider elements).
static void fill_elements(char *dst, int64_t n, int32_t elem_size, const void *value) {
  if (n <= 0) return;
  if (elem_size == 1) { memset(dst, *(const unsigned char *)value, (size_t)n); return; }
  memcpy(dst, value, (size_t)elem_size);
  for (int64_t done = 1; done < n;) {
    const int64_t chunk = done < n - done ? done : n - done;
    memcpy(dst + done * elem_size, dst, (size_t)(chunk * elem_size));
    done += chunk;
  }
}

typedef struct {
  int32_t rank, elem_size, last;  // last: the innermost padded dimension (those after it are copied whole)
  const int32_t *in_shape, *pad_before, *out_shape;
  const void *pad_value;
  int64_t in_stride[EMBER_MAX_RANK], out_block[EMBER_MAX_RANK + 1];  // bytes
} pad_plan;

/// The output block of dimension d (and those after it) at dst, read from src (NULL: the block lies
/// in the padding): at the innermost padded dimension one run of its in-range entries (each a whole
/// block of the unpadded dimensions after it, e.g. a pixel's channels) is copied, the padding filled
/// around it.
static void pad_block(const pad_plan *p, int32_t d, const char *src, char *dst) {
  const int32_t es = p->elem_size;
  if (!src) { fill_elements(dst, p->out_block[d] / es, es, p->pad_value); return; }
  const int32_t before = p->pad_before[d], out = p->out_shape[d];
  if (d == p->last) {
    const int64_t unit = p->out_block[d + 1];  // bytes of one entry
    int64_t lo = before < 0 ? 0 : before, hi = (int64_t)before + p->in_shape[d];
    if (lo > out) lo = out;
    if (hi > out) hi = out;
    if (hi < lo) hi = lo;
    fill_elements(dst, lo * unit / es, es, p->pad_value);
    if (hi > lo) memcpy(dst + lo * unit, src + (lo - before) * unit, (size_t)((hi - lo) * unit));
    fill_elements(dst + hi * unit, (out - hi) * unit / es, es, p->pad_value);
    return;
  }
  for (int32_t o = 0; o < out; ++o) {
    const int32_t v = o - before;
    pad_block(p, d + 1, v >= 0 && v < p->in_shape[d] ? src + (int64_t)v * p->in_stride[d] : NULL,
              dst + (int64_t)o * p->out_block[d + 1]);
  }
}

void ember_pad_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape,
                   const int32_t *pad_before, const int32_t *out_shape, const void *pad_value,
                   const void *in, void *out) {
  if (product(rank, out_shape) == 0) return;
  int32_t last = rank - 1;
  while (last > 0 && pad_before[last] == 0 && out_shape[last] == in_shape[last]) --last;
  pad_plan p = {rank, elem_size, last, in_shape, pad_before, out_shape, pad_value, {0}, {0}};
  row_major_strides(rank, in_shape, p.in_stride);
  p.out_block[rank] = elem_size;
  for (int32_t d = rank - 1; d >= 0; --d) {
    p.in_stride[d] *= elem_size;
    p.out_block[d] = p.out_block[d + 1] * out_shape[d];
  }
  if (rank == 0) { memcpy(out, in, (size_t)elem_size); return; }
  pad_block(&p, 0, (const char *)in, (char *)out);
}

void ember_slice_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape,
                     const int32_t *begin, const int32_t *stride, const int32_t *out_shape,
                     const void *in, void *out) {
  const int64_t total = product(rank, out_shape);
  if (total == 0) return;
  if (rank == 0) { memcpy(out, in, (size_t)elem_size); return; }
  int64_t in_stride[EMBER_MAX_RANK] = {0};
  int32_t idx[EMBER_MAX_RANK] = {0};
  row_major_strides(rank, in_shape, in_stride);
  const char *src = (const char *)in;
  char *dst = (char *)out;
  // A whole output row at a time (its elements stride[last] apart in the input, either direction).
  const int32_t last = rank - 1;
  const int64_t row = out_shape[last], step = (int64_t)stride[last] * in_stride[last] * elem_size;
  for (int64_t oi = 0; oi < total; oi += row, next_index(last, out_shape, idx)) {
    int64_t ii = (int64_t)begin[last] * in_stride[last];
    for (int32_t d = 0; d < last; ++d) ii += ((int64_t)begin[d] + (int64_t)idx[d] * stride[d]) * in_stride[d];
    copy_strided(dst + oi * elem_size, src + ii * elem_size, row, step, elem_size);
  }
}

void ember_concat_ref(int32_t count, const void *const *inputs, const int64_t *chunk_bytes,
                      int64_t outer, void *out) {
  char *dst = (char *)out;
  for (int64_t r = 0; r < outer; ++r)
    for (int32_t i = 0; i < count; ++i) {
      if (chunk_bytes[i] > 0) memcpy(dst, (const char *)inputs[i] + r * chunk_bytes[i], (size_t)chunk_bytes[i]);
      dst += chunk_bytes[i];
    }
}

// ------------------------------------------------------------ Conversions
// Rounds half away from zero, clamps in float first (casting NaN or a huge
// float to an integer is undefined behaviour); NaN maps to the zero point.
static inline int32_t affine_quantize(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  const float q = roundf(x / scale);
  if (isnan(q)) return clamp_i32(zero_point, qmin, qmax);
  const float lo = (float)(qmin - zero_point), hi = (float)(qmax - zero_point);
  const float c = q < lo ? lo : (q > hi ? hi : q);
  return clamp_i32((int32_t)c + zero_point, qmin, qmax);
}

void ember_quantize_f32_s8_ref(int64_t count, const float *in, float scale, int32_t zero_point, int8_t *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = (int8_t)affine_quantize(in[i], scale, zero_point, -128, 127);
}

void ember_quantize_f32_s8_even_ref(int64_t count, const float *in, float scale, int32_t zero_point, int8_t *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = (int8_t)clamp_i32(ember_quantize_float(in[i], scale) + zero_point, -128, 127);
}

void ember_quantize_f32_u8_ref(int64_t count, const float *in, float scale, int32_t zero_point, uint8_t *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = (uint8_t)affine_quantize(in[i], scale, zero_point, 0, 255);
}

void ember_dequantize_s8_f32_ref(int64_t count, const int8_t *in, float scale, int32_t zero_point, float *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = scale * (float)((int32_t)in[i] - zero_point);
}

void ember_dequantize_u8_f32_ref(int64_t count, const uint8_t *in, float scale, int32_t zero_point, float *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = scale * (float)((int32_t)in[i] - zero_point);
}

void ember_requantize_s8_ref(int64_t count, const int8_t *in, int32_t input_zero_point,
                             int32_t multiplier, int32_t shift, int32_t output_zero_point,
                             int32_t act_min, int32_t act_max, int8_t *out) {
  for (int64_t i = 0; i < count; ++i) {
    const int32_t v = ember_multiply_by_quantized_multiplier((int32_t)in[i] - input_zero_point, multiplier, shift) + output_zero_point;
    out[i] = (int8_t)clamp_i32(v, act_min, act_max);
  }
}

static float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int32_t e = -1;
      uint32_t m = mant;
      do { ++e; m <<= 1; } while ((m & 0x400u) == 0);
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((m & 0x3FFu) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf or NaN (payload kept)
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t exp = (x >> 23) & 0xFFu;
  uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) {  // inf or NaN: keep NaN quiet and non-zero
    return (uint16_t)(sign | 0x7C00u | (mant ? (0x200u | (mant >> 13)) : 0u));
  }
  const int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 0x1F) return (uint16_t)(sign | 0x7C00u);  // overflow → inf
  if (e <= 0) {                                      // subnormal half or zero
    if (e < -10) return sign;
    mant |= 0x800000u;
    const uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), midpoint = 1u << (shift - 1);
    if (rem > midpoint || (rem == midpoint && (half & 1u))) ++half;
    return (uint16_t)(sign | half);
  }
  uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return (uint16_t)(sign | half);
}

void ember_f16_to_f32(int64_t count, const uint16_t *in, float *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = half_to_float(in[i]);
}

void ember_f32_to_f16(int64_t count, const float *in, uint16_t *out) {
  for (int64_t i = 0; i < count; ++i) out[i] = float_to_half(in[i]);
}

// ------------------------------------------------ int8 SQUARED_DIFFERENCE and RSQRT (TFLite reference)
void ember_squared_difference_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                                     const ember_add_s8_params *p, int8_t *out) {
  EMBER_BROADCAST_LOOP(bc, {
    const int32_t diff = wrap_sub(add_s8_operand(a[ai], p->a_offset, p->left_shift, p->a_multiplier, p->a_shift),
                                  add_s8_operand(b[bi], p->b_offset, p->left_shift, p->b_multiplier, p->b_shift));
    const int32_t square = (int32_t)((uint32_t)diff * (uint32_t)diff);  // |diff| < 2^15: no wrap in practice
    const int32_t o = ember_multiply_by_quantized_multiplier(square, p->output_multiplier, p->output_shift)
                      + p->output_offset;
    out[oi] = (int8_t)clamp_i32(o, p->act_min, p->act_max);
  });
}

// gemmlowp FixedPoint multiplication: the raw product with integer bits adding up.
static inline int32_t fixed_mul(int32_t a, int32_t b) { return ember_saturating_rounding_doubling_high_mul(a, b); }

void ember_inv_sqrt_quantized_multiplier(int32_t input, int32_t *multiplier, int32_t *shift) {
  if (input <= 1) {  // TFLite treats 0 (invalid) and 1 alike, to avoid an overflow below
    *multiplier = INT32_MAX;
    *shift = 0;
    return;
  }
  int32_t right_shift = 11;
  while (input >= (1 << 29)) {
    input /= 4;
    ++right_shift;
  }
  const int32_t left_shift_bit_pairs = (__builtin_clz((uint32_t)input) - 1) / 2 - 1;
  right_shift -= left_shift_bit_pairs;
  input <<= 2 * left_shift_bit_pairs;  // now in [2^27, 2^29)
  // Newton-Raphson for 1/sqrt in gemmlowp's Q3.28, five steps from x = 1.
  const int32_t half_input = ember_rounding_divide_by_pot(input >> 1, 1);
  const int32_t half_three = (1 << 28) + (1 << 27);
  int32_t x = 1 << 28;
  for (int i = 0; i < 5; ++i) {
    const int32_t x3 = saturating_shift_left(fixed_mul(fixed_mul(x, x), x), 6);  // Q9 → Q3
    x = saturating_shift_left(wrap_sub(fixed_mul(half_three, x), fixed_mul(half_input, x3)), 3);  // Q6 → Q3
  }
  x = fixed_mul(x, 1518500250);  // × sqrt(2)/2 in Q0.31
  if (right_shift < 0) {
    x = (int32_t)((uint32_t)x << -right_shift);
    right_shift = 0;
  }
  *multiplier = x;
  *shift = -right_shift;  // kReverseShift: a left shift, as MultiplyByQuantizedMultiplier takes it
}

void ember_rsqrt_s8_table(float input_scale, int32_t input_zero_point, float output_scale,
                          int32_t output_zero_point, int8_t *table) {
  int32_t m, s;
  ember_quantize_multiplier(1.0 / (double)(sqrtf(input_scale) * output_scale), &m, &s);
  const int32_t k_shift = 20;  // TFLite's shift that keeps 1/sqrt(value) an integer
  for (int code = -128; code <= 127; ++code) {
    const int32_t value = code - input_zero_point;
    int8_t y = 127;  // value 0: TFLite's largest output; below 0 LiteRT refuses the run, Ember saturates
    if (value > 0) {
      int32_t inv_m, inv_s;
      ember_inv_sqrt_quantized_multiplier(value, &inv_m, &inv_s);
      const int32_t data = ember_multiply_by_quantized_multiplier(1, inv_m, inv_s + k_shift);
      const int32_t o = ember_multiply_by_quantized_multiplier(data, m, s - k_shift) + output_zero_point;
      y = (int8_t)clamp_i32(o, -128, 127);
    }
    table[code + 128] = y;
  }
}
