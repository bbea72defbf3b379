// CEmberKernels — Ember's micro-kernels in C11.
//
// The *_ref kernels are the scalar references: plain loops, no intrinsics, the
// arithmetic the optimized kernels (section "Optimized kernels": AVX2 and
// AVX-512 VNNI; NEON later) must reproduce and are tested against. Int8 kernels follow the TensorFlow Lite quantization spec and its
// rounding exactly (see tensorflow/lite/kernels/internal/common.h and
// reference/integer_ops/*.h), so Ember's bytes equal LiteRT's reference bytes.
//
// Conventions:
// - Layout is NHWC for images; filters are [out_c][kh][kw][in_c / groups].
// - No kernel allocates. Callers pass every buffer, including scratch.
// - Element counts are int64_t; small geometric quantities are int32_t.
// - Callers validate shapes; kernels trust their arguments.
#ifndef EMBER_KERNELS_H
#define EMBER_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMBER_MAX_RANK 6

// ---------------------------------------------------------------- CPU features
enum {
  EMBER_CPU_SSE42 = 1u << 0,
  EMBER_CPU_AVX2 = 1u << 1,
  EMBER_CPU_FMA = 1u << 2,
  EMBER_CPU_AVX512F = 1u << 3,
  EMBER_CPU_AVX512BW = 1u << 4,
  EMBER_CPU_AVX512VNNI = 1u << 5,
  EMBER_CPU_F16C = 1u << 6,
  EMBER_CPU_NEON = 1u << 8,
  EMBER_CPU_DOTPROD = 1u << 9,
  EMBER_CPU_I8MM = 1u << 10,
  EMBER_CPU_PCLMUL = 1u << 7,   // x86 carry-less multiply (CRC folding)
  EMBER_CPU_CRC32 = 1u << 11,   // ARMv8 CRC32 instructions
};
/// Features of the CPU we run on (detected once, at run time).
uint32_t ember_cpu_features(void);

/// CRC-32 (IEEE, reflected 0xEDB88320) register `crc` (no pre- or post-inversion) after a prefix of the
/// `length` bytes at `data`, with PCLMULQDQ folding (x86) or the CRC32 instructions (ARMv8) where the CPU
/// has them; `*consumed` says how many bytes (0 where it has neither, or `length` is under 64). The
/// caller finishes the rest with a table (EmberFormat's CRC32, the reference twin).
uint32_t ember_crc32_prefix(uint32_t crc, const uint8_t *data, int64_t length, int64_t *consumed);

// ------------------------------------------------- TFLite fixed-point helpers
/// gemmlowp SaturatingRoundingDoublingHighMul.
int32_t ember_saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
/// gemmlowp RoundingDivideByPOT (round half away from zero), 0 <= exponent <= 31.
int32_t ember_rounding_divide_by_pot(int32_t x, int32_t exponent);
/// TFLite MultiplyByQuantizedMultiplier, gemmlowp's double rounding
/// (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT). shift > 0 is a
/// left shift. Conv, depthwise, add, mul, pooling and requantize use it.
int32_t ember_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);
/// The single-rounding form (one 64-bit product, ties up): round(x·m·2^(shift−31)).
/// LiteRT's int8 FULLY_CONNECTED rounds this way (its reference kernels give these
/// bytes on the MLPerf Tiny models; the double-rounding form differs by one at ties).
int32_t ember_multiply_by_quantized_multiplier_single_rounding(int32_t x, int32_t multiplier, int32_t shift);
/// TFLite QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).
/// real == 0 gives multiplier 0, shift 0.
void ember_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift);

/// Requantization of int32 accumulators to int8, per output channel.
typedef struct {
  int32_t input_offset;       // minus the input zero point
  int32_t output_offset;      // the output zero point
  const int32_t *multiplier;  // one per output channel
  const int32_t *shift;       // one per output channel
  int32_t act_min, act_max;   // clamp, in the quantized domain
  const float *scale;         // NULL: the fixed-point multipliers; else ONNX Runtime's float requantization
                              // (ember_requantize_float) by these per-channel scales, multipliers unread
} ember_requant;

/// ONNX Runtime's requantization (MLAS QLinearConv / QGemm output stage): acc · scale in float, clamped to
/// ±2^30 (so that no value outside int32 is converted), rounded to nearest even.
int32_t ember_requantize_float(int32_t acc, float scale);
/// ONNX QuantizeLinear of an int8 op's float result v: v / scale rounded to nearest even (the division,
/// not a multiplication by 1 / scale, as ORT's QuantizeLinear), clamped as ember_requantize_float.
int32_t ember_quantize_float(float v, float scale);

// ------------------------------------------------------------------ Conv 2D
typedef struct {
  int32_t batch, in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_top, pad_left;  // input positions outside the image are skipped
  int32_t groups;             // in_c and out_c are multiples of groups; depthwise: groups == in_c
} ember_conv_geometry;

/// f32 convolution; bias may be NULL; result clamped to [act_min, act_max].
void ember_conv2d_f32_ref(const ember_conv_geometry *g, const float *input, const float *filter,
                          const float *bias, float act_min, float act_max, float *output);
/// int8 convolution, TFLite reference integer_ops::ConvPerChannel arithmetic
/// (filter zero point 0, bias int32 may be NULL).
void ember_conv2d_s8_ref(const ember_conv_geometry *g, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const ember_requant *q, int8_t *output);

/// Dynamic-range ("hybrid") convolution, as LiteRT's EvalHybrid: per batch, the
/// f32 input is quantized symmetrically to int8 (scale = max|x| / 127, round half
/// away from zero, clamp ±127) into `scratch` (in_h·in_w·in_c bytes per batch, all
/// batches), convolved with the int8 filter in int32 (padding contributes 0), and
/// each output is acc · (input_scale · filter_scale) + bias, clamped.
void ember_conv2d_hybrid_ref(const ember_conv_geometry *g, const float *input, const int8_t *filter,
                             float filter_scale, const float *bias, float act_min, float act_max,
                             int8_t *scratch, float *output);

/// Dynamic-range convolution with per-channel weight scales, as LiteRT's EvalHybridPerChannel (conv and
/// depthwise): per batch, the input is quantized asymmetrically (AsymmetricQuantizeFloats: scale and
/// zero point from min(0, x) … max(0, x) over 255 steps, into `scratch`), sums of w · (q − zero point)
/// in int32, then acc · channel_scale · input_scale (conv) or acc · (channel_scale · input_scale)
/// (depthwise, groups == in_c), plus bias, clamped.
void ember_conv2d_hybrid_per_channel_ref(const ember_conv_geometry *g, const float *input, const int8_t *filter,
                                         const float *channel_scale, const float *bias, float act_min,
                                         float act_max, int8_t *scratch, float *output);

// ---------------------------------------------------------- Fully connected
/// Dynamic-range fully connected as LiteRT's EvalHybrid with per-channel scales and/or asymmetric
/// input rows (asymmetric_quantize_inputs): each row is quantized symmetrically, or asymmetrically as
/// ember_conv2d_hybrid_per_channel_ref quantizes a batch (into `scratch`), then
/// output = bias + (Σ w·q − row_sum(w) · zero point) · (row scale · channel_scale[o]), clamped.
void ember_fully_connected_hybrid_per_channel_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                                  const float *input, const int8_t *weights,
                                                  const float *channel_scale, int32_t asymmetric,
                                                  const float *bias, float act_min, float act_max,
                                                  int8_t *scratch, float *output);
/// Dynamic-range ("hybrid") fully connected, as LiteRT's EvalHybrid with symmetric inputs: each row
/// of in_features floats is quantized as ember_conv2d_hybrid_ref quantizes a batch (into `scratch`,
/// in_features bytes), multiplied by the int8 weights in int32, and output = acc · (row scale ·
/// filter_scale) + bias, clamped. bias may be NULL.
void ember_fully_connected_hybrid_ref(int64_t rows, int32_t in_features, int32_t out_features, const float *input,
                                      const int8_t *weights, float filter_scale, const float *bias, float act_min,
                                      float act_max, int8_t *scratch, float *output);
/// output[r][o] = sum_i input[r][i] * weights[o][i] + bias[o], clamped. bias may be NULL.
void ember_fully_connected_f32_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                   const float *input, const float *weights, const float *bias,
                                   float act_min, float act_max, float *output);
/// int8 fully connected (TFLite integer_ops::FullyConnected, per-channel capable;
/// requantizes with the single-rounding multiply, as LiteRT does).
void ember_fully_connected_s8_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                  const int8_t *input, const int8_t *weights, const int32_t *bias,
                                  const ember_requant *q, int8_t *output);
/// INT4 weights, symmetric, blocks of 32 along in_features (in_features % 32 == 0).
/// Each block is 18 bytes: f16 scale (little-endian IEEE half), then 16 bytes of
/// nibbles; byte j holds weight 2j in its low nibble and 2j+1 in its high nibble,
/// each a two's-complement int4 in [-8, 7]. Row o of weights starts at
/// o * (in_features / 32) * 18. Dequantized inside the dot product.
void ember_fully_connected_f32_q4b32_ref(int64_t rows, int32_t in_features, int32_t out_features,
                                         const float *input, const uint8_t *weights,
                                         const float *bias, float act_min, float act_max,
                                         float *output);

/// TFLite int8 BATCH_MATMUL (reference_ops::BatchMatMul, one matrix): out[m][n] =
/// MBQM(Σ_k (a[m][k] + a_offset)(b[k][n] + b_offset)) + output_offset, clamped to int8.
typedef struct {
  int32_t a_offset, b_offset, output_offset;  // offsets are minus the zero points; output is +zp
  int32_t output_multiplier, output_shift;
} ember_matmul_s8_params;
void ember_matmul_s8_ref(int32_t m, int32_t k, int32_t n, const int8_t *a, const int8_t *b,
                         const ember_matmul_s8_params *p, int8_t *out);

/// The largest k for which ember_matmul_s8_via_f32 is exact: every product (a + a_offset)(b + b_offset) is at most
/// 255² and k of them stay below 2^24, so float sums of them are the reference's int32 sums, in any order.
#define EMBER_MATMUL_S8_F32_MAX_K 258
/// Scratch bytes of ember_matmul_s8_via_f32: the operands and the product as floats.
int64_t ember_matmul_s8_via_f32_scratch_bytes(int32_t m, int32_t k, int32_t n);
/// ember_matmul_s8_ref on `isa`'s f32 matmul (ember_kernel_table.matmul_f32) for k ≤ EMBER_MATMUL_S8_F32_MAX_K: the
/// offset operands widened to floats, multiplied exactly, each sum requantized as the reference does. The same
/// bytes; `scratch` holds ember_matmul_s8_via_f32_scratch_bytes.
void ember_matmul_s8_via_f32(int32_t isa, int32_t m, int32_t k, int32_t n, const int8_t *a, const int8_t *b,
                             const ember_matmul_s8_params *p, void *scratch, int8_t *out);

/// out[m][n] = sum_k a[m][k] * b[k][n] (row-major, one matrix).
void ember_matmul_f32_ref(int32_t m, int32_t k, int32_t n, const float *a, const float *b,
                          float *out);

// ------------------------------------------------------------- Elementwise
/// Numpy broadcasting over up to EMBER_MAX_RANK dims: shape is the output
/// shape; strides are element strides of each input (0 on broadcast dims).
typedef struct {
  int32_t rank;
  int32_t shape[EMBER_MAX_RANK];
  int64_t a_strides[EMBER_MAX_RANK];
  int64_t b_strides[EMBER_MAX_RANK];
} ember_broadcast;

typedef enum {
  EMBER_BINARY_ADD = 0,
  EMBER_BINARY_SUB = 1,
  EMBER_BINARY_MUL = 2,
  EMBER_BINARY_DIV = 3,
  EMBER_BINARY_MAX = 4,
  EMBER_BINARY_MIN = 5,
  EMBER_BINARY_PRELU = 6,  // x >= 0 ? x : x * y (y: the slope, broadcast)
  // Reference kernel only (the SIMD tables take ADD ... PRELU):
  EMBER_BINARY_POW = 7,
  EMBER_BINARY_SQUARED_DIFFERENCE = 8,  // (x - y)^2
  EMBER_BINARY_FLOOR_DIV = 9,           // floor(x / y)
  EMBER_BINARY_FLOOR_MOD = 10,          // x - floor(x / y) * y, TFLite's fmod with the sign of y
} ember_binary_op;

void ember_binary_f32_ref(ember_binary_op op, const ember_broadcast *bc, const float *a,
                          const float *b, float act_min, float act_max, float *out);

/// Pairs of codes an int8 ADD's linear form may get wrong and correct one by one (ember_add_s8_linear_plan).
#define EMBER_ADD_LINEAR_EXCEPTIONS 8

/// TFLite int8 ADD/SUB parameters (reference integer_ops::Add): inputs are
/// offset, shifted left by left_shift (20), scaled by their multipliers,
/// added (or subtracted), scaled by the output multiplier, offset and clamped.
typedef struct {
  int32_t a_offset, b_offset, output_offset;  // offsets are minus the zero points; output is +zp
  int32_t left_shift;
  int32_t a_multiplier, a_shift;
  int32_t b_multiplier, b_shift;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
  // float_mode 1: ONNX Runtime's float arithmetic instead (a Q/DQ pair around a float ADD): the
  // dequantized inputs (x − zp)·scale added in float, then ember_quantize_float by output_scale.
  int32_t float_mode;
  float a_scale, b_scale, output_scale;
  // linear 1: the optimized add_s8 kernels compute out = clamp((a·lin_a + b·lin_b + lin_c) >> lin_shift, act_min,
  // act_max) in int32 instead, except for the lin_exceptions pairs of codes ((a & 255) << 8 | (b & 255) in
  // lin_pairs) whose bytes are lin_values: a form ember_add_s8_linear_plan found to give the exact bytes (the
  // reference kernels ignore it).
  int32_t linear, lin_a, lin_b, lin_c, lin_shift;
  int32_t lin_exceptions;
  int32_t lin_pairs[EMBER_ADD_LINEAR_EXCEPTIONS], lin_values[EMBER_ADD_LINEAR_EXCEPTIONS];
} ember_add_s8_params;

/// Sets p's linear form for the add_s8 kernels of `isa` called with `subtract` = mode (0 a + b, 1 a − b,
/// 2 b − a; never 3 or float_mode) when it gives the exact form's bytes for all 65,536 (a, b) pairs of codes —
/// the op's whole domain, elementwise, so the result is the reference's bytes by exhaustion (checked
/// against `isa`'s exact add_s8, which the kernel tests hold byte-exact to ember_add_s8_ref). The form: the
/// real map α·(a − za) + β·(b − zb) + zo that TFLite's fixed point approximates, with α and β from p's
/// multipliers and shifts, in 2^S fixed point (S as large as int32 allows), rounded half up. TFLite's three
/// roundings move that map by far less than one output step, so it differs only for pairs within ~2^−18 of
/// a rounding boundary — none or a few of the 65,536. Those pairs (at most EMBER_ADD_LINEAR_EXCEPTIONS)
/// become exceptions with their exact bytes (a rounding constant one lower or higher is tried when half up
/// misses more), and a form with exceptions is checked once more. Else p is left exact. Returns 1 when the
/// form is set. Prepare-time: 40–70 µs and 64 KiB of temporary memory.
int32_t ember_add_s8_linear_plan(int32_t isa, ember_add_s8_params *p, int32_t mode);
/// subtract != 0 computes a - b.
void ember_add_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                      const ember_add_s8_params *p, int32_t subtract, int8_t *out);

/// TFLite int8 SQUARED_DIFFERENCE (squared_difference.cc): the ADD recipe with left_shift 7, the
/// scaled difference squared, then the output multiplier (2·max scale)² / (2^14 · output scale).
void ember_squared_difference_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                                     const ember_add_s8_params *p, int8_t *out);

/// TFLite GetInvSqrtQuantizedMultiplierExp (with kReverseShift): 1/sqrt(input) as a multiplier and a
/// left shift for MultiplyByQuantizedMultiplier, by gemmlowp's fixed-point Newton-Raphson.
void ember_inv_sqrt_quantized_multiplier(int32_t input, int32_t *multiplier, int32_t *shift);
/// The 256 outputs of TFLite's int8 RSQRT (elementwise.cc RsqrtEvalQuantized), by code + 128.
void ember_rsqrt_s8_table(float input_scale, int32_t input_zero_point, float output_scale,
                          int32_t output_zero_point, int8_t *table);

/// TFLite int8 MUL: (a + a_offset) * (b + b_offset) requantized by one multiplier.
typedef struct {
  int32_t a_offset, b_offset, output_offset;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
  int32_t float_mode;  // 1: the dequantized inputs multiplied in float, then ember_quantize_float (as ADD's)
  float a_scale, b_scale, output_scale;
} ember_mul_s8_params;
void ember_mul_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                      const ember_mul_s8_params *p, int8_t *out);

/// TFLite int8 PRELU (reference_ops::BroadcastPrelu4DSlow): x' = x − x_zp; x' ≥ 0 ? MBQM(x', m1, s1)
/// : MBQM(x' · (alpha − alpha_zp), m2, s2); + output zero point, clamped to int8.
typedef struct {
  int32_t input_offset, alpha_offset, output_offset;  // offsets are minus the zero points; output is +zp
  int32_t multiplier_1, shift_1;  // input scale / output scale
  int32_t multiplier_2, shift_2;  // input scale · alpha scale / output scale
} ember_prelu_s8_params;
void ember_prelu_s8_ref(const ember_broadcast *bc, const int8_t *x, const int8_t *alpha,
                        const ember_prelu_s8_params *p, int8_t *out);
/// int8 PRELU with one constant slope per channel (or one for all) as per-channel tables: each output is
/// tables[(c % table_count) · 256 + x + 128] for x in channel c of `channels` (tables made at prepare by
/// ember_prelu_s8_ref itself, so the same bytes). Portable C.
void ember_prelu_s8_tables(int64_t rows, int32_t channels, int32_t table_count, const int8_t *x, const int8_t *tables,
                           int8_t *out);
/// int8 PRELU with a slope per element (alpha the shape of x): out[i] = table[(alpha[i] + 128) · 256 + x[i] + 128],
/// the 64 KiB table of every (slope, code) pair made at prepare by ember_prelu_s8_ref (its multipliers are per
/// tensor, so one table serves every position). Portable C.
void ember_prelu_s8_pair_table(int64_t count, const int8_t *x, const int8_t *alpha, const int8_t *table, int8_t *out);

/// int8 maximum (maximum != 0) or minimum of raw codes; inputs and output share
/// scale and zero point (TFLite's rule for MAXIMUM/MINIMUM).
void ember_minmax_s8_ref(const ember_broadcast *bc, const int8_t *a, const int8_t *b,
                         int32_t maximum, int8_t *out);

typedef enum {
  EMBER_UNARY_RELU = 0,
  EMBER_UNARY_RELU6 = 1,
  EMBER_UNARY_LEAKY_RELU = 2,  // x >= 0 ? x : alpha * x
  EMBER_UNARY_SIGMOID = 3,
  EMBER_UNARY_TANH = 4,
  EMBER_UNARY_HARD_SWISH = 5,  // x * relu6(x + 3) / 6
  EMBER_UNARY_GELU = 6,        // 0.5 x (1 + erf(x / sqrt 2))
  EMBER_UNARY_RELU_N1_TO_1 = 7,
  EMBER_UNARY_ABS = 8,
  EMBER_UNARY_NEG = 9,
  EMBER_UNARY_SQRT = 10,
  EMBER_UNARY_RSQRT = 11,       // 1 / sqrt(x)
  EMBER_UNARY_EXP = 12,
  EMBER_UNARY_LOG = 13,
  EMBER_UNARY_FLOOR = 14,
  EMBER_UNARY_CEIL = 15,
  EMBER_UNARY_ROUND = 16,       // half to even (TFLite ROUND, ONNX Round)
  EMBER_UNARY_SQUARE = 17,
  EMBER_UNARY_ELU = 18,         // x < 0 ? exp(x) - 1 : x
  EMBER_UNARY_SIN = 19,
  EMBER_UNARY_COS = 20,
  EMBER_UNARY_SIGN = 21,        // -1, 0 or 1 (NaN stays NaN)
  EMBER_UNARY_ERF = 22,
  EMBER_UNARY_RECIPROCAL = 23,
  EMBER_UNARY_SOFTPLUS = 24,    // log(1 + exp(x)), without overflow
  EMBER_UNARY_GELU_TANH = 25,   // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  EMBER_UNARY_SILU = 26,        // x * sigmoid(x): the sigmoid rounded to float first (a fused Logistic → Mul's bits)
} ember_unary_op;
/// in and out may alias (in-place).
void ember_unary_f32_ref(ember_unary_op op, float alpha, int64_t count, const float *in, float *out);
/// out[i] = table[(uint8_t)(in[i] + 128)]: any int8 -> int8 function precomputed in 256 entries.
void ember_lookup_s8(int64_t count, const int8_t *in, const int8_t *table, int8_t *out);

/// Softmax along an axis of size axis_size: data viewed as [outer][axis_size][inner].
/// out = exp(beta * (x - max)) / sum. in and out must not alias.
void ember_softmax_f32_ref(int64_t outer, int32_t axis_size, int64_t inner, float beta,
                           const float *in, float *out);

/// Layer normalization over the last `cols` elements of each row:
/// out = (x - mean) / sqrt(var + epsilon) * gamma + beta (gamma, beta may be NULL).
void ember_layer_norm_f32_ref(int64_t rows, int32_t cols, float epsilon, const float *in,
                              const float *gamma, const float *beta, float *out);

// ----------------------------------------------------------------- Pooling
typedef struct {
  int32_t batch, in_h, in_w, channels;
  int32_t out_h, out_w;
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left;  // padded positions are excluded (average divides by the valid count)
} ember_pool_geometry;

void ember_avg_pool_f32_ref(const ember_pool_geometry *g, const float *in, float act_min,
                            float act_max, float *out);
void ember_max_pool_f32_ref(const ember_pool_geometry *g, const float *in, float act_min,
                            float act_max, float *out);
/// TFLite reference int8 AveragePool: integer sum, rounded division by the valid count
/// (half away from zero), clamped. Input and output share scale and zero point.
void ember_avg_pool_s8_ref(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                           int32_t act_max, int8_t *out);
void ember_max_pool_s8_ref(const ember_pool_geometry *g, const int8_t *in, int32_t act_min,
                           int32_t act_max, int8_t *out);

/// TFLite RESIZE_NEAREST_NEIGHBOR (reference GetNearestNeighbor), any element size.
void ember_resize_nearest_ref(int32_t elem_size, int32_t batch, int32_t in_h, int32_t in_w,
                              int32_t channels, int32_t out_h, int32_t out_w, int32_t align_corners,
                              int32_t half_pixel_centers, const void *in, void *out);
/// TFLite reference RESIZE_BILINEAR on f32 (ComputeInterpolationValues).
/// Output position o of an axis `out` long resized from `in`: the two source positions and the fraction
/// between them, as ember_resize_bilinear_f32_ref computes them (compiled without FMA, so the SIMD
/// kernels' weights are its bits).
void ember_resize_bilinear_f32_axis(int32_t o, int32_t in, int32_t out, int32_t align_corners, int32_t half_pixel_centers,
                                    float *fraction, int32_t *lo, int32_t *hi);
void ember_resize_bilinear_f32_ref(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                   int32_t out_h, int32_t out_w, int32_t align_corners,
                                   int32_t half_pixel_centers, const float *in, float *out);

// -------------------------------------------------------------- Reductions
/// Reduce the axes whose bit is set in axis_mask (bit d = dimension d) of a
/// tensor of `rank` dims; the output keeps the non-reduced dims in order.
typedef struct {
  int32_t rank;
  int32_t shape[EMBER_MAX_RANK];
  uint32_t axis_mask;
} ember_reduce;

void ember_mean_f32_ref(const ember_reduce *r, const float *in, float *out);
/// int8 mean: acc = sum(x - input_zero_point) in int32 (scratch holds one int32
/// per output element), out = clamp(MultiplyByQuantizedMultiplier(acc, multiplier,
/// shift) + output_zero_point, -128, 127); the caller folds 1/count and the
/// scale ratio into the multiplier.
void ember_mean_s8_ref(const ember_reduce *r, const int8_t *in, int32_t input_zero_point,
                       int32_t multiplier, int32_t shift, int32_t output_zero_point,
                       int32_t *scratch, int8_t *out);
/// The same with ONNX Runtime's requantization (QLinearGlobalAveragePool): the int32 sum times
/// scale = input scale / count / output scale in float (computed by the caller in that order), rounded
/// to nearest even.
void ember_mean_s8_float_ref(const ember_reduce *r, const int8_t *in, int32_t input_zero_point, float scale,
                             int32_t output_zero_point, int32_t *scratch, int8_t *out);

/// Dynamic-range transposed convolution (LiteRT's hybrid TRANSPOSE_CONV): per batch, the f32 input is
/// quantized asymmetrically as ember_conv2d_hybrid_per_channel_ref does (into `scratch`, one batch of
/// in_h·in_w·in_c bytes); the scatter of ember_transpose_conv2d_f32_ref then adds each product
/// (q − zero point) · w · channel_scale[o] · input scale in f32, in LiteRT's order; + bias, clamped.
void ember_transpose_conv2d_hybrid_ref(const ember_conv_geometry *g, const float *input, const int8_t *filter,
                                       const float *channel_scale, const float *bias, float act_min, float act_max,
                                       int8_t *scratch, float *output);

/// TFLite reference int8 HARD_SWISH (reference_ops::HardSwish: 16-bit fixed point, a "relu-ish"
/// multiplier in [0, 1] times the input on the output scale). Parameters as HardSwishPrepare makes them.
typedef struct {
  int32_t input_zero_point, output_zero_point;
  int16_t reluish_multiplier_fixedpoint_int16, output_multiplier_fixedpoint_int16;
  int32_t reluish_multiplier_exponent, output_multiplier_exponent;
} ember_hard_swish_s8_params;
void ember_hard_swish_s8_ref(int64_t count, const int8_t *in, const ember_hard_swish_s8_params *p, int8_t *out);

/// TFLite reference int8 SOFTMAX (gemmlowp fixed point, output scale 1/256, zero point −128) over
/// rows of `depth`: input_multiplier / input_left_shift from PreprocessSoftmaxScaling(beta, input
/// scale, 5 integer bits), diff_min from CalculateInputRadius.
/// exp_table[d] for d = 0 … 255: exp_on_negative_values of the rescaled difference −d (Q0.31), or
/// 0 where −d < diff_min (those elements contribute nothing and output −128). Built once, at prepare.
void ember_softmax_s8_exp_table(int32_t input_multiplier, int32_t input_left_shift, int32_t diff_min,
                                int32_t *exp_table);
void ember_softmax_s8_ref(int64_t rows, int32_t depth, const int32_t *exp_table, const int8_t *in, int8_t *out);

/// TFLite int8 RESIZE_BILINEAR (ResizeBilinearInteger: 10-bit fixed-point positions, 20-bit
/// products rounded half away from zero); input and output share scale and zero point.
void ember_resize_bilinear_s8_ref(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels,
                                  int32_t out_h, int32_t out_w, int32_t align_corners,
                                  int32_t half_pixel_centers, const int8_t *in, int8_t *out);

/// Sum, max, min or product over the axes in r->axis_mask (f32, i32 or i64 by `dtype`).
typedef enum { EMBER_REDUCE_SUM = 0, EMBER_REDUCE_MAX = 1, EMBER_REDUCE_MIN = 2, EMBER_REDUCE_PROD = 3 } ember_reduce_op;
/// Element types of the dtype-generic kernels (compare, cast, arg-reduce, reduce).
typedef enum {
  EMBER_DTYPE_F32 = 0, EMBER_DTYPE_I32 = 1, EMBER_DTYPE_I64 = 2, EMBER_DTYPE_I8 = 3, EMBER_DTYPE_U8 = 4,
  EMBER_DTYPE_BOOL = 5, EMBER_DTYPE_I16 = 6, EMBER_DTYPE_U16 = 7, EMBER_DTYPE_U32 = 8, EMBER_DTYPE_U64 = 9,
} ember_dtype;

/// Running sums along the middle axis of [outer][axis_size][inner] (f32, i32 or i64 wrapping):
/// exclusive != 0 leaves each element out of its own sum, reverse != 0 sums from the end.
void ember_cumsum_ref(ember_dtype dtype, int64_t outer, int32_t axis_size, int64_t inner, int32_t exclusive,
                      int32_t reverse, const void *in, void *out);

/// The k largest (largest != 0) or smallest elements of each [outer][axis_size][inner] row, best
/// first, the lower index first on ties; NaN ranks below every number. Writes their values (in
/// the input's dtype) or, with out_indices != 0, their positions as int64. `taken` is axis_size bytes.
void ember_topk_ref(ember_dtype dtype, int64_t outer, int32_t axis_size, int64_t inner, int32_t k, int32_t largest,
                    int32_t out_indices, const void *in, uint8_t *taken, void *out);

/// Integer arithmetic on i32 or i64 (`dtype`) over any broadcast, as ONNX/numpy define it with
/// two's-complement wrap-around: ADD, SUB, MUL, DIV (toward zero), MAX, MIN, POW (negative
/// exponents give 0 unless the base is ±1), SQUARED_DIFFERENCE, FLOOR_DIV, FLOOR_MOD (sign of
/// the divisor). A division by zero gives 0 and INT_MIN / -1 wraps: untrusted data never traps.
void ember_binary_int_ref(ember_binary_op op, ember_dtype dtype, const ember_broadcast *bc, const void *a,
                          const void *b, void *out);
void ember_reduce_ref(const ember_reduce *r, ember_reduce_op op, ember_dtype dtype, const void *in, void *out);

/// Index of the largest (largest != 0) or smallest element of each [outer][axis_size][inner]
/// row, the first one on ties; NaN is never chosen over a number. out is i32 or i64 (out_i64).
void ember_arg_reduce_ref(ember_dtype dtype, int64_t outer, int32_t axis_size, int64_t inner, int32_t largest,
                          const void *in, int32_t out_i64, void *out);

typedef enum {
  EMBER_COMPARE_LESS = 0, EMBER_COMPARE_LESS_EQUAL = 1, EMBER_COMPARE_GREATER = 2,
  EMBER_COMPARE_GREATER_EQUAL = 3, EMBER_COMPARE_EQUAL = 4, EMBER_COMPARE_NOT_EQUAL = 5,
} ember_compare_op;
/// out[i] = a op b (0 or 1) with broadcasting; a and b have the same dtype.
void ember_compare_ref(ember_compare_op op, ember_dtype dtype, const ember_broadcast *bc, const void *a,
                       const void *b, uint8_t *out);

typedef enum { EMBER_LOGICAL_AND = 0, EMBER_LOGICAL_OR = 1, EMBER_LOGICAL_XOR = 2 } ember_logical_op;
/// bool (one byte, non-zero is true) logic with broadcasting; out is 0 or 1.
void ember_logical_ref(ember_logical_op op, const ember_broadcast *bc, const uint8_t *a, const uint8_t *b,
                       uint8_t *out);
void ember_logical_not_ref(int64_t count, const uint8_t *in, uint8_t *out);

/// Elementwise conversion (float to integer truncates toward zero and saturates; NaN becomes 0;
/// anything to bool is x != 0).
void ember_cast_ref(ember_dtype from, ember_dtype to, int64_t count, const void *in, void *out);

/// out = cond ? x : y over a broadcast of three operands: strides[0] for cond, [1] for x, [2] for y.
typedef struct {
  int32_t rank;
  int32_t shape[EMBER_MAX_RANK];
  int64_t strides[3][EMBER_MAX_RANK];
} ember_broadcast3;
void ember_select_ref(int32_t elem_size, const ember_broadcast3 *bc, const uint8_t *cond, const void *x,
                      const void *y, void *out);

/// Gather along an axis: params viewed as [outer][axis_size][inner], out as [outer][index_count][inner].
/// A negative index counts from the end; one still outside [0, axis_size) gives zeros.
void ember_gather_ref(int32_t elem_size, int64_t outer, int32_t axis_size, int64_t inner, const void *indices,
                      int32_t indices_i64, int64_t index_count, const void *params, void *out);

/// out_shape[d] = in_shape[d] * multiple; out[i] = in[i mod in_shape] on every axis.
void ember_tile_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape, const int32_t *out_shape,
                    const void *in, void *out);

/// Mirror padding: out index o on axis d reads in index o - before[d] reflected into [0, n):
/// REFLECT (reflect != 0) mirrors about the edge element, SYMMETRIC repeats it.
void ember_mirror_pad_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape, const int32_t *pad_before,
                          const int32_t *out_shape, int32_t reflect, const void *in, void *out);

/// Transposed convolution (TFLite TRANSPOSE_CONV): every input pixel (iy, ix) scatters
/// x · filter[o][ky][kx][c] into output (iy·stride_h + ky − pad_top, ix·stride_w + kx − pad_left);
/// g->kernel_*/stride_*/pad_* describe it, dilation and groups are 1. filter is [O][KH][KW][C].
void ember_transpose_conv2d_f32_ref(const ember_conv_geometry *g, const float *input, const float *filter,
                                    const float *bias, float act_min, float act_max, float *output);
/// int8 (TFLite reference_integer_ops::TransposeConv): int32 sums of (x + input_offset) · w in
/// scratch (one per output element), plus bias, requantized per output channel.
void ember_transpose_conv2d_s8_ref(const ember_conv_geometry *g, const int8_t *input, const int8_t *filter,
                                   const int32_t *bias, const ember_requant *rq, int32_t *scratch,
                                   int8_t *output);

// ------------------------------------------------------ Data movement (any dtype)
/// out has shape in_shape permuted: out_shape[d] = in_shape[perm[d]].
void ember_transpose_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape,
                         const int32_t *perm, const void *in, void *out);
/// Constant padding: out_shape[d] = pad_before[d] + in_shape[d] + pad_after[d]
/// (pads >= 0); every padded element is a copy of the elem_size bytes at pad_value.
void ember_pad_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape,
                   const int32_t *pad_before, const int32_t *out_shape, const void *pad_value,
                   const void *in, void *out);
/// Strided slice: out[i0..] = in[begin[0] + i0 * stride[0], ...]; strides may be
/// negative; the caller guarantees every index is in range.
void ember_slice_ref(int32_t elem_size, int32_t rank, const int32_t *in_shape,
                     const int32_t *begin, const int32_t *stride, const int32_t *out_shape,
                     const void *in, void *out);
/// Concatenation: the output is `outer` repetitions of, for each input i in
/// order, chunk_bytes[i] bytes taken from inputs[i] + r * chunk_bytes[i].
void ember_concat_ref(int32_t count, const void *const *inputs, const int64_t *chunk_bytes,
                      int64_t outer, void *out);

// ------------------------------------------------------------ Conversions
/// TFLite AffineQuantize: q = clamp(round_half_away(x / scale) + zero_point, qmin, qmax).
void ember_quantize_f32_s8_ref(int64_t count, const float *in, float scale, int32_t zero_point,
                               int8_t *out);
/// ONNX QuantizeLinear to int8 (a QDQ model's input quantized as ORT does): ember_quantize_float + zero point,
/// clamped (rounds half to even, where ember_quantize_f32_s8_ref rounds half away from zero).
void ember_quantize_f32_s8_even_ref(int64_t count, const float *in, float scale, int32_t zero_point, int8_t *out);
void ember_quantize_f32_u8_ref(int64_t count, const float *in, float scale, int32_t zero_point,
                               uint8_t *out);
/// x = scale * (q - zero_point).
void ember_dequantize_s8_f32_ref(int64_t count, const int8_t *in, float scale,
                                 int32_t zero_point, float *out);
void ember_dequantize_u8_f32_ref(int64_t count, const uint8_t *in, float scale,
                                 int32_t zero_point, float *out);
/// int8 -> int8 with another scale: out = clamp(MBQM(x - in_zp, m, s) + out_zp, act_min, act_max).
void ember_requantize_s8_ref(int64_t count, const int8_t *in, int32_t input_zero_point,
                             int32_t multiplier, int32_t shift, int32_t output_zero_point,
                             int32_t act_min, int32_t act_max, int8_t *out);
/// IEEE half <-> single, round to nearest even; NaN and infinities preserved.
void ember_f16_to_f32(int64_t count, const uint16_t *in, float *out);
void ember_f32_to_f16(int64_t count, const float *in, uint16_t *out);

// ------------------------------------------------------- Optimized kernels
// One file per ISA (ember_x86_avx2.c, ember_x86_avx512.c, ember_arm_neon.c), each
// x86 function compiled with __attribute__((target(...))), reached through the ISA's
// ember_kernel_table and called only when ember_cpu_features() says the CPU has it. Their weights are packed once, at
// prepare, by ember_pack.c; the int8 kernels give exactly the reference
// kernels' bytes (integer accumulation is order-free; requantization is the
// same fixed-point arithmetic, done 8 or 16 lanes at a time).
enum {
  EMBER_ISA_SCALAR = 0,
  EMBER_ISA_AVX2 = 1,    // AVX2 + FMA: int8 as exact int16 pair products (vpmaddwd)
  EMBER_ISA_AVX512 = 2,  // AVX-512 F + BW + VNNI: int8 as u8·s8 quads (vpdpbusd)
  EMBER_ISA_NEON = 3,    // AArch64 Advanced SIMD: AVX2's packing, int8 as exact int16 products (vmlal)
  EMBER_ISA_NEON_DOTPROD = 4,  // NEON + dot product: int8 as s8·s8 quads (sdot), 8-channel panels;
                               // the "neon" path on a CPU with dotprod (its f32 kernels are NEON's)
};

/// Output channels per packed panel: 16 (AVX-512) or 8 (AVX2, NEON).
int32_t ember_isa_lanes(int32_t isa);
/// k rounded up to the ISA's int8 group (4 for VNNI quads, 2 for int16 pairs).
int32_t ember_qs8_k_padded(int32_t isa, int32_t k);
/// n rounded up to a whole number of vectors.
int32_t ember_n_padded(int32_t isa, int32_t n);
/// Bytes of packed int8 weights for a k × n GEMM.
int64_t ember_qs8_packed_bytes(int32_t isa, int32_t k, int32_t n);

/// An int8 GEMM's packed weights and per-output-channel requantization (n_padded entries each).
typedef struct {
  int32_t k, k_padded, n, n_padded;
  const void *weights;
  const int32_t *bias;        // AVX-512: bias − (128 + input_zero_point)·Σw, see ember_qs8_pack
  const int32_t *multiplier;
  const int32_t *shift;
  int32_t input_zero_point;
  int32_t output_offset, act_min, act_max;
  int32_t single_rounding;    // 1: FULLY_CONNECTED's single rounding; 0: conv's double rounding
  const float *requant_scale; // not NULL: ember_requantize_float by these n_padded scales instead (ONNX)
  // Dynamic-range ("hybrid") output: when float_output is 1 the int32 sums are stored as f32
  // acc·float_scale (+ float_bias[c] when not NULL), clamped to [float_min, float_max], instead of
  // requantized. The hybrid kernels set float_scale per batch (input scale × filter_scale).
  int32_t float_output;
  float filter_scale, float_scale, float_min, float_max;
  const float *float_bias;
  // Raw output (x86 kernels): when int32_output is 1 the int32 sums Σ (x − zp)·w (+ packed bias) are
  // stored as they are, for a kernel that adds several up before requantizing (the transposed conv).
  int32_t int32_output;
} ember_qs8_gemm;

/// Packs `weights` [n][k] (row o = output channel o's k inputs) for `isa`.
void ember_qs8_pack(int32_t isa, int32_t k, int32_t n, const int8_t *weights, const int32_t *bias,
                    const int32_t *multiplier, const int32_t *shift, int32_t input_zero_point,
                    void *packed, int32_t *bias_out, int32_t *mult_out, int32_t *shift_out);

/// How an int8 GEMM's k inputs are packed: `runs` runs of `length` inputs, each run padded on its own to
/// the ISA's int8 group (a quad on AVX-512), so that a kernel can read every run straight from a row
/// of input pixels. A fully connected layer is one run of k (ember_qs8_pack); a convolution's AVX-512
/// kernel reads one run per tap row (kernel_w·in_c inputs), or per tap (in_c) when dilation_w > 1.
typedef struct {
  int32_t runs, length;
} ember_k_runs;
/// The runs of convolution `g`'s GEMM on `isa` (one run of kh·kw·in_c where the kernel gathers patches).
ember_k_runs ember_conv_k_runs(int32_t isa, const ember_conv_geometry *g);
/// runs × length rounded up to the ISA's int8 group.
int32_t ember_qs8_k_padded_runs(int32_t isa, ember_k_runs r);
int64_t ember_qs8_packed_bytes_runs(int32_t isa, ember_k_runs r, int32_t n);
/// ember_qs8_pack for weights [n][runs·length] packed as `r` says.
void ember_qs8_pack_runs(int32_t isa, ember_k_runs r, int32_t n, const int8_t *weights, const int32_t *bias,
                         const int32_t *multiplier, const int32_t *shift, int32_t input_zero_point, void *packed,
                         int32_t *bias_out, int32_t *mult_out, int32_t *shift_out);

/// f32 GEMM weights packed [n_padded/lanes][k][lanes], bias n_padded (zeros without one).
typedef struct {
  int32_t k, n, n_padded;
  const float *weights;          // NULL when weights_f16 holds them
  const float *bias;
  float act_min, act_max;
  const uint16_t *weights_f16;   // the same layout in IEEE half (fp16 rungs), widened as loaded
  int32_t post_unary;            // 0: none; else ember_unary_op + 1, applied in place after the clamp by the
  float post_alpha;              // ISA's unary_f32 to each stretch of output just written (a fused activation)
} ember_f32_gemm;

/// Packs IEEE-half weights [n][k] into the f32 GEMM layout, still as halves (zeros as padding).
void ember_f16_pack(int32_t isa, int32_t k, int32_t n, const uint16_t *weights, uint16_t *packed);
/// Packs IEEE-half depthwise weights [c][kh·kw] as [taps][c_padded] halves.
void ember_dw_pack_f16(int32_t isa, int32_t taps, int32_t channels, const uint16_t *filter, uint16_t *packed);
void ember_f32_pack(int32_t isa, int32_t k, int32_t n, const float *weights, const float *bias,
                    float *packed, float *bias_out);

/// Depthwise (depth multiplier 1) int8 weights and per-channel parameters (c_padded). AVX2 and NEON read
/// `weights`, [kh·kw][c_padded] int32, and subtract the input zero point as they run. AVX-512 reads
/// `slots`, quads of four taps of a column: [c_padded/16][⌈kh/4⌉][kw][16][4] int8 (zero past kh), with
/// the zero point folded into the bias: bias − (128 + zp)·Σw (its inputs are x ^ 0x80).
typedef struct {
  int32_t c_padded;
  const int32_t *weights;
  const int32_t *bias, *multiplier, *shift;
  int32_t input_zero_point, output_offset, act_min, act_max;
  const float *requant_scale;  // not NULL: ember_requantize_float by these c_padded scales (ONNX)
  const void *slots;
} ember_qs8_dw;
/// Taps per slot of `isa`'s int8 depthwise kernel (ember_conv_loops.h): 4 int8 on AVX-512 (vpdpbusd); 0 where
/// the kernel reads `weights` per tap (AVX2, NEON).
int32_t ember_dw_s8_slot_taps(int32_t isa);
/// Bytes of `packed` in ember_dw_pack_s8.
int64_t ember_dw_s8_weight_bytes(int32_t isa, const ember_conv_geometry *g);
/// The kernel height and width ember_dw_pack_s8 lays the weights out as (taps × 1 where quads run along a row).
void ember_dw_s8_packed_kernel(int32_t isa, const ember_conv_geometry *g, int32_t *kh, int32_t *kw);
/// Packs `filter` [channels][kernel_h][kernel_w] of depthwise layer `g` for `isa`: `packed` is the struct's
/// `slots` on AVX-512 (for a kernel one tap high, or one wide over an image one pixel wide, the quads run
/// along the taps, as a kernel taps × 1), its `weights` elsewhere.
void ember_dw_pack_s8(int32_t isa, const ember_conv_geometry *g, const int8_t *filter, const int32_t *bias,
                      const int32_t *multiplier, const int32_t *shift, int32_t input_zero_point, void *packed,
                      int32_t *bias_out, int32_t *mult_out, int32_t *shift_out);
typedef struct {
  int32_t c_padded;
  const float *weights;          // NULL when weights_f16 holds them
  const float *bias;
  float act_min, act_max;
  const uint16_t *weights_f16;   // [taps][c_padded] IEEE half (fp16 rungs), widened as loaded
  int32_t post_unary;            // as ember_f32_gemm's, per output row
  float post_alpha;
  // Not NULL (x86): the layer's input is this pointwise layer's output, never stored. The kernel's input
  // is then that layer's input (expand->k channels), and each input row the window needs is computed
  // when it enters the window (its activation, expand->post_unary, applied), the same bytes as stored.
  const ember_f32_gemm *expand;
} ember_f32_dw;
void ember_dw_pack_f32(int32_t isa, int32_t taps, int32_t channels, const float *filter, const float *bias,
                       float *packed, float *bias_out);

/// A 3×3 stride-1 f32 convolution in Winograd F(2×2, 3×3) form (conv2d_winograd_f32): the filter's 16
/// transform points U_ξ = (G g Gᵀ)_ξ as 16 f32 GEMMs of k = in_c by n = out_c (packed as ember_f32_pack,
/// no bias, no clamp), the bias and clamp applied after the output transform.
typedef struct {
  ember_f32_gemm point[16];
  const float *bias;  // point[0].n_padded
  float act_min, act_max;
} ember_winograd_f32;
/// Floats ember_winograd_f32_pack writes to `packed`: 16 · n_padded · in_c.
int64_t ember_winograd_f32_packed_floats(int32_t isa, int32_t in_c, int32_t out_c);
/// Transforms and packs `filter` [out_c][3][3][in_c] (transform in double, rounded once) into `packed`,
/// and the bias (NULL: zeros) into bias_out (n_padded).
void ember_winograd_f32_pack(int32_t isa, int32_t in_c, int32_t out_c, const float *filter, const float *bias,
                             float *packed, float *bias_out);
/// Fills *w for weights ember_winograd_f32_pack packed: its 16 GEMMs read `packed` with `zero_bias` (n_padded
/// zeros) as their bias; `bias` and the clamp are applied after the output transform.
void ember_winograd_f32_describe(int32_t isa, int32_t in_c, int32_t out_c, const float *packed, const float *bias,
                                 const float *zero_bias, float act_min, float act_max, ember_winograd_f32 *w);
/// Tiles the kernel transforms and multiplies at a time: 32, fewer where that would take more than 1 MiB
/// of scratch (at least 8, at most the geometry's).
int32_t ember_winograd_tile_block(int32_t isa, const ember_conv_geometry *g);
/// Floats between one transform point's rows and the next's in the Winograd scratch, past the block.
#define EMBER_WINOGRAD_POINT_PAD 16
/// Scratch of conv2d_winograd_f32: a block's 16 input transforms and 16 products.
int64_t ember_winograd_scratch_bytes(int32_t isa, const ember_conv_geometry *g);

/// Scratch the int8 FC (and on every ISA but AVX-512 the int8 and f32 GEMM convolutions, of k =
/// kh·kw·in_c) needs: a few gathered input rows.
int64_t ember_gemm_scratch_bytes(int32_t isa, int32_t k, int32_t is_int8);

/// Scratch bytes of the hybrid convolution: one batch of quantized input, then the GEMM's scratch.
int64_t ember_hybrid_scratch_bytes(int32_t isa, int64_t input_per_batch, int32_t k);

/// Scratch a convolution kernel needs (groups == 1): gathered patch rows, or on AVX-512 int8 the
/// window of input rows its taps read (kernel_h rows of the padded input width).
int64_t ember_conv_scratch_bytes(int32_t isa, const ember_conv_geometry *g, int32_t is_int8);
/// One part of a dynamic-range convolution split across threads (conv2d_hybrid's arithmetic on part of
/// the output): each of part->batch images of `image` floats from `input` is quantized whole — its
/// scale is the whole image's, as unsplit — then `part` (rows or images of the layer, as convSlices
/// cuts them) is convolved from element `offset` of the quantized image into `output`. scratch:
/// ember_hybrid_conv_scratch_bytes of the whole layer. Nothing without kernels for `isa`.
void ember_conv2d_hybrid_part(int32_t isa, const ember_conv_geometry *part, int64_t image, int64_t offset,
                              const float *input, const ember_qs8_gemm *w, void *scratch, float *output);

/// ember_transpose_conv2d_s8_ref's bytes on the ISA's kernels, for the ISAs whose table has
/// requantize_s32 (nothing otherwise). Per input row the int8 GEMM `w` — k = in_c, n = kernel_h·kernel_w·
/// out_c, column (tap, oc) holding filter[oc][tap][·], packed with the input zero point, no bias and
/// int32_output = 1 — gives every tap's products for the row's pixels; they are added into the output's
/// int32 sums (wrapping, as the reference's), which are then requantized with `bias` and `rq`.
/// Integer sums in any order are the same, so the bytes are the reference's.
void ember_transpose_conv2d_s8(int32_t isa, const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w,
                               const int32_t *bias, const ember_requant *rq, void *scratch, int8_t *output);
/// Scratch of ember_transpose_conv2d_s8: the output's int32 sums, one input row's products
/// (in_w × n int32) and the GEMM's own scratch.
int64_t ember_transpose_conv2d_s8_scratch_bytes(int32_t isa, const ember_conv_geometry *g, const ember_qs8_gemm *w);

/// ember_transpose_conv2d_f32_ref on the ISA's f32 fully connected kernel (nothing without one): per input
/// row the GEMM `w` — k = in_c, n = kernel_h·kernel_w·out_c, column (tap, oc) holding filter[oc][tap][·],
/// no bias, no clamp — gives every tap's products for the row's pixels, added into the output; then the
/// bias and the clamp. The reference adds each x·w into the output in turn, this each tap's dot product:
/// the sums agree to rounding.
void ember_transpose_conv2d_f32(int32_t isa, const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w,
                                const float *bias, float act_min, float act_max, void *scratch, float *output);
/// Scratch of ember_transpose_conv2d_f32: one input row's products (in_w × n floats).
int64_t ember_transpose_conv2d_f32_scratch_bytes(const ember_conv_geometry *g, const ember_f32_gemm *w);

/// Scratch a depthwise kernel needs: for the x86 f32 ones the window of input rows their taps read.
int64_t ember_dwconv_scratch_bytes(int32_t isa, const ember_conv_geometry *g, int32_t is_int8);
/// Scratch of the hybrid convolution: one batch of quantized input, then ember_conv_scratch_bytes.
int64_t ember_hybrid_conv_scratch_bytes(int32_t isa, const ember_conv_geometry *g);

/// The optimized kernels of one ISA, each with its reference twin's semantics (int8 and the
/// dynamic-range conv and f32 elementwise ops bit-exact; f32 conv/FC/depthwise up to summation order).
typedef struct {
  /// Convolution with groups == 1 as a GEMM over gathered input patches (K = kh·kw·in_c).
  void (*conv2d_s8)(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                    int8_t *output);
  /// rows × k inputs.
  void (*fully_connected_s8)(int64_t rows, const int8_t *input, const ember_qs8_gemm *w, void *scratch,
                             int8_t *output);
  /// Depthwise, depth multiplier 1 (groups == in_c == out_c); scratch of ember_dwconv_scratch_bytes.
  void (*dwconv2d_s8)(const ember_conv_geometry *g, const int8_t *input, const ember_qs8_dw *w, void *scratch,
                      int8_t *output);
  /// Dynamic-range convolution, ember_conv2d_hybrid_ref's arithmetic: per batch the input is quantized
  /// into scratch (ember_hybrid_scratch_bytes), then the int8 GEMM `w` (packed with input zero point 0,
  /// float_output = 1) runs on it.
  void (*conv2d_hybrid)(const ember_conv_geometry *g, const float *input, const ember_qs8_gemm *w, void *scratch,
                        float *output);
  void (*conv2d_f32)(const ember_conv_geometry *g, const float *input, const ember_f32_gemm *w, void *scratch,
                     float *output);
  void (*fully_connected_f32)(int64_t rows, const float *input, const ember_f32_gemm *w, float *output);
  /// ember_fully_connected_f32_q4b32_ref up to summation order: the package's INT4 blocks read in place
  /// and widened in registers (a nibble n as the float 2^23 + (n ^ 8), less 2^23 + 8), each row's inputs
  /// first regrouped per block as its 16 even then its 16 odd ones (scratch: in_features floats).
  void (*fully_connected_q4b32)(int64_t rows, int32_t in_features, int32_t out_features, const float *input,
                                const uint8_t *weights, const float *bias, float act_min, float act_max, void *scratch,
                                float *output);
  /// A 3×3, stride 1, dilation 1, groups 1 f32 convolution in Winograd F(2×2, 3×3) form: ember_conv2d_f32_ref's
  /// result up to rounding (the transforms add a few ulp of the products' magnitude); scratch of
  /// ember_winograd_scratch_bytes.
  void (*conv2d_winograd_f32)(const ember_conv_geometry *g, const float *input, const ember_winograd_f32 *w,
                              void *scratch, float *output);

  void (*dwconv2d_f32)(const ember_conv_geometry *g, const float *input, const ember_f32_dw *w, void *scratch,
                       float *output);
  /// int8 ADD / SUB as ember_add_s8_ref over rows × cols, b laid out as for mul_s8 (the same shape, or one
  /// per-channel vector for every row). `subtract`: 0 a + b, 1 a − b, 2 b − a (a SUB whose first operand is
  /// the broadcast one, traded places with its parameters), 3 (a − b)² (ember_squared_difference_s8_ref;
  /// fixed point only, not float_mode).
  void (*add_s8)(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                 const ember_add_s8_params *p, int32_t subtract, int8_t *out);
  /// Dynamic-range FC, ember_fully_connected_hybrid_ref's arithmetic: each row quantized into scratch
  /// (ember_hybrid_scratch_bytes with one row), then the int8 GEMM `w` (zero point 0, float_output = 1).
  void (*fully_connected_hybrid)(int64_t rows, const float *input, const ember_qs8_gemm *w, void *scratch,
                                 float *output);
  /// ember_binary_f32_ref over any broadcast.
  void (*binary_f32)(ember_binary_op op, const ember_broadcast *bc, const float *a, const float *b, float act_min,
                     float act_max, float *out);
  /// int8 MUL as ember_mul_s8_ref over rows × cols: a and out contiguous, row r of b at b + r·b_row_stride
  /// (b_row_stride = cols: the same shape; 0: one vector of cols, per channel, for every row).
  void (*mul_s8)(int64_t rows, int64_t cols, const int8_t *a, const int8_t *b, int64_t b_row_stride,
                 const ember_mul_s8_params *p, int8_t *out);
  /// The roofline probes of ember_probe_mac and ember_probe_read.
  int64_t (*probe_mac)(int32_t is_int8, int64_t iterations);
  uint64_t (*probe_read)(const void *buffer, int64_t bytes);
  /// ember_mean_s8_ref over an input laid out [outer][reduced][inner] — the reduced axes contiguous,
  /// e.g. H and W of NHWC — giving [outer][inner]: the int32 sum of x − zero point over the reduced
  /// rows, requantized (the reference's bytes): by multiplier and shift, or when float_scale > 0 by
  /// ember_requantize_float with it (ember_mean_s8_float_ref's bytes).
  void (*mean_s8)(int64_t outer, int64_t reduced, int64_t inner, const int8_t *in, int32_t input_zero_point,
                  int32_t multiplier, int32_t shift, float float_scale, int32_t output_zero_point, int8_t *out);
  /// ember_mean_f32_ref over the same layout: each output's sum in the reference's order (row by row),
  /// then divided by `reduced` (the reference's bits).
  void (*mean_f32)(int64_t outer, int64_t reduced, int64_t inner, const float *in, float *out);
  /// ember_lookup_s8 (sigmoid, tanh, hard-swish… as 256-entry tables) a vector of codes at a time.
  void (*lookup_s8)(int64_t count, const int8_t *in, const int8_t *table, int8_t *out);
  /// `pixels` × `channels` int32 sums (+ bias[c] when bias is not NULL) to int8 with rq's per-channel
  /// multipliers (double rounding), output offset and clamp: the output stage of
  /// ember_transpose_conv2d_s8_ref (rq->input_offset unread).
  void (*requantize_s32)(int64_t pixels, int32_t channels, const int32_t *acc, const int32_t *bias,
                         const ember_requant *rq, int8_t *out);
  /// ember_unary_f32_ref for the ops it handles, returning 1 (0, writing nothing, for the others; a
  /// call with count 0 asks): relu, relu6, relu_n1_to_1, leaky relu, hard-swish, abs, neg and square
  /// with the reference's bits; sigmoid and tanh within 4 ulp of it (their own e^x; sigmoid over x in
  /// [−100, 100] in steps of 1e-4: 97 % of values are the reference's, 0.35 % 2 ulp off, 54 of 2M 3–4 ulp;
  /// tanh over [−10, 10] in steps of 1e-5: 95 % the reference's, 4.6 % 1 ulp off, 0.2 % 2 ulp, none more).
  int32_t (*unary_f32)(ember_unary_op op, float alpha, int64_t count, const float *in, float *out);
  /// ember_matmul_f32_ref (its bits: no FMA, k in order), outputs held in registers across k.
  void (*matmul_f32)(int32_t m, int32_t k, int32_t n, const float *a, const float *b, float *out);
  /// ember_max_pool_s8_ref and ember_max_pool_f32_ref (their bits), a vector of channels at a time.
  void (*max_pool_s8)(const ember_pool_geometry *g, const int8_t *in, int32_t act_min, int32_t act_max, int8_t *out);
  void (*max_pool_f32)(const ember_pool_geometry *g, const float *in, float act_min, float act_max, float *out);
  /// ember_avg_pool_s8_ref / ember_avg_pool_f32_ref (their bits: each channel summed in the reference's
  /// order, a vector of channels at a time; the int8 mean's rounding division done exactly in double).
  void (*avg_pool_s8)(const ember_pool_geometry *g, const int8_t *in, int32_t act_min, int32_t act_max, int8_t *out);
  void (*avg_pool_f32)(const ember_pool_geometry *g, const float *in, float act_min, float act_max, float *out);
  /// ember_softmax_s8_ref (its bytes); AVX-512 runs 16 rows of up to 64 classes at once, one a lane.
  void (*softmax_s8)(int64_t rows, int32_t depth, const int32_t *exp_table, const int8_t *in, int8_t *out);
  /// ember_resize_bilinear_s8_ref (the reference's bytes), a vector of channels at a time.
  void (*resize_bilinear_s8)(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels, int32_t out_h, int32_t out_w,
                             int32_t align_corners, int32_t half_pixel_centers, const int8_t *in, int8_t *out);
  /// The dynamic-range kernels' input quantization (tensor_utils::SymmetricQuantizeFloats): `count`
  /// floats into q, returning the scale (max|x| / 127; 1 for all zeros).
  float (*hybrid_quantize)(const float *x, int64_t count, int8_t *q);
  /// ember_quantize_f32_s8_ref (its bytes: x / scale rounded half away from zero, clamped, NaN → the
  /// zero point): a graph's float input or a float island's output entering int8 ops; with half_even,
  /// ember_quantize_f32_s8_even_ref's (ONNX QuantizeLinear: ties to even).
  void (*quantize_f32_s8)(int64_t count, const float *in, float scale, int32_t zero_point, int32_t half_even,
                          int8_t *out);
  /// ember_softmax_f32_ref over `rows` rows of `size` contiguous values (the last axis): the same operations
  /// per element (e^(beta·(x − max)) within 2 ulp, each divided by the sum), the sum added in lanes — a
  /// few ulp from the reference.
  void (*softmax_f32)(int64_t rows, int32_t size, float beta, const float *in, float *out);
  /// ember_resize_bilinear_f32_ref (its bits: the same four products and sums per channel), channels a
  /// vector at a time.
  void (*resize_bilinear_f32)(int32_t batch, int32_t in_h, int32_t in_w, int32_t channels, int32_t out_h, int32_t out_w,
                              int32_t align_corners, int32_t half_pixel_centers, const float *in, float *out);
  /// ember_layer_norm_f32_ref: the mean and variance summed in double (in lanes), then the reference's
  /// float operations per element.
  void (*layer_norm_f32)(int64_t rows, int32_t cols, float epsilon, const float *in, const float *gamma,
                         const float *beta, float *out);
} ember_kernel_table;

// ------------------------------------------------------------ Roofline probes
/// `iterations` rounds of the ISA's multiply-accumulate instruction — its int8 one when is_int8 (vpdpbusd,
/// vpmaddwd + vpaddd, sdot or smlal, as its GEMMs use), else its f32 FMA — on six to eight independent
/// accumulators; returns the MACs done. Timed by the caller (`ember bench --profile`), it gives the
/// path's peak MAC rate on this core. The scalar path counts one multiply-add per MAC.
int64_t ember_probe_mac(int32_t isa, int32_t is_int8, int64_t iterations);
/// The sum of `bytes` bytes of `buffer` as 64-bit words (bytes a multiple of 8), read as four streams
/// (one per quarter) with the ISA's vector loads (the table's probe_read; one stream of 64-bit words on
/// the scalar path): reads that cannot be skipped, to time the memory bandwidth the kernels can see.
/// One scalar stream measured 22–27 GB/s here where four vector streams (as the GEMMs' weight panels
/// are) read 28–34, and the fp32 and int8 GEMVs 30–35.
uint64_t ember_probe_read(int32_t isa, const void *buffer, int64_t bytes);

/// The kernels of `isa` (EMBER_ISA_*), or NULL where this build has none (scalar; x86 paths on ARM
/// and the reverse). Call them only when ember_cpu_features() says the CPU has the ISA.
const ember_kernel_table *ember_kernel_table_for(int32_t isa);

#ifdef __cplusplus
}
#endif
#endif  // EMBER_KERNELS_H
