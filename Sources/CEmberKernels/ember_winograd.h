// Winograd F(2×2, 3×3) f32 convolution, written once over a small vector vocabulary that each ISA's
// file defines before including this header (private to CEmberKernels):
//
//   WG_TARGET                 the ISA's function attribute (empty on ARM)
//   WG_ISA                    its EMBER_ISA_* (for the packing and the block the scratch was sized by)
//   WG_VEC, WG_LANES          a vector of floats and its width
//   WG_LOAD(p), WG_STORE(p,v) whole-vector unaligned load and store
//   WG_LOADN(p,n)             the first n (1…WG_LANES) floats, zeros after them
//   WG_STOREN(p,v,n)          stores the first n lanes
//   WG_ADD, WG_SUB, WG_SET1(x), WG_ZERO()
//   WG_CLAMP(v, lo, hi)       the ISA's f32 GEMM clamp
//   WG_GEMM(rows, a, a_stride, gemm, out, out_stride)
//                             the ISA's f32 GEMM: `rows` rows of gemm->k floats (a_stride apart) × the
//                             packed weights, bias added and clamped as the ember_f32_gemm says
//   WG_FUNCTION               the name of the convolution to define
//
// Lavin & Gray's F(2,3): a 2×2 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for its 4×4 input tile d and
// 3×3 filter g, 16 multiplications per channel pair where the direct convolution takes 36 — 4 per
// output against 9. The 16 products of a tile over all channel pairs are 16 independent GEMMs
// (tiles × in_c by in_c × out_c), run by the ISA's own f32 GEMM on blocks of tiles that stay in cache.
// The filter side (G g Gᵀ) is done once, when the weights are packed (ember_winograd_f32_pack).
#ifndef EMBER_WINOGRAD_H
#define EMBER_WINOGRAD_H
#include "ember_conv_loops.h"

/// Bᵀ d B of a 4×4 tile d (row-major) into v, on any type with ADD and SUB.
#define EMBER_WINOGRAD_INPUT(T, ADD, SUB, d, v)                                                        \
  {                                                                                                   \
    T t_[16];                                                                                         \
    for (int32_t j = 0; j < 4; ++j) {                                                                 \
      t_[j] = SUB(d[j], d[8 + j]);                                                                    \
      t_[4 + j] = ADD(d[4 + j], d[8 + j]);                                                            \
      t_[8 + j] = SUB(d[8 + j], d[4 + j]);                                                            \
      t_[12 + j] = SUB(d[4 + j], d[12 + j]);                                                          \
    }                                                                                                 \
    for (int32_t i = 0; i < 4; ++i) {                                                                 \
      v[4 * i] = SUB(t_[4 * i], t_[4 * i + 2]);                                                       \
      v[4 * i + 1] = ADD(t_[4 * i + 1], t_[4 * i + 2]);                                               \
      v[4 * i + 2] = SUB(t_[4 * i + 2], t_[4 * i + 1]);                                               \
      v[4 * i + 3] = SUB(t_[4 * i + 1], t_[4 * i + 3]);                                               \
    }                                                                                                 \
  }

/// Aᵀ m A of a 4×4 tile m into the 2×2 outputs y (row-major).
#define EMBER_WINOGRAD_OUTPUT(T, ADD, SUB, m, y)                                                       \
  {                                                                                                   \
    T s_[8];                                                                                          \
    for (int32_t j = 0; j < 4; ++j) {                                                                 \
      s_[j] = ADD(ADD(m[j], m[4 + j]), m[8 + j]);                                                     \
      s_[4 + j] = SUB(SUB(m[4 + j], m[8 + j]), m[12 + j]);                                            \
    }                                                                                                 \
    for (int32_t i = 0; i < 2; ++i) {                                                                 \
      y[2 * i] = ADD(ADD(s_[4 * i], s_[4 * i + 1]), s_[4 * i + 2]);                                   \
      y[2 * i + 1] = SUB(SUB(s_[4 * i + 1], s_[4 * i + 2]), s_[4 * i + 3]);                           \
    }                                                                                                 \
  }

/// A tile of the walk: image n, tile row ty, tile column tx.
typedef struct {
  int32_t n, ty, tx;
} ember_wg_tile;

#define EMBER_WG_CAT2(a, b) a##b
#define WG_CAT(a, b) EMBER_WG_CAT2(a, b)
#endif  // EMBER_WINOGRAD_H

#ifdef WG_FUNCTION

/// Bᵀ d B of one tile for every input channel, into v (point ξ's row at v + ξ·point_stride), the
/// tile's pixels outside the image read as zeros.
WG_TARGET static inline void WG_CAT(WG_FUNCTION, _input)(const ember_conv_geometry *g, const float *input,
                                                          ember_wg_tile t, float *v, int64_t point_stride) {
  const int32_t iy0 = 2 * t.ty - g->pad_top, ix0 = 2 * t.tx - g->pad_left;
  if (iy0 >= 0 && iy0 + 4 <= g->in_h && ix0 >= 0 && ix0 + 4 <= g->in_w && g->in_c % WG_LANES == 0) {
    // Inside the image and whole vectors: no tests in the loop.
    const float *at = input + (((int64_t)t.n * g->in_h + iy0) * g->in_w + ix0) * g->in_c;
    const int64_t pixel = g->in_c, row = (int64_t)g->in_w * g->in_c;
    for (int32_t c = 0; c < g->in_c; c += WG_LANES) {
      WG_VEC d[16], r[16];
      for (int32_t y = 0; y < 4; ++y)
        for (int32_t x = 0; x < 4; ++x) d[4 * y + x] = WG_LOAD(at + y * row + x * pixel + c);
      EMBER_WINOGRAD_INPUT(WG_VEC, WG_ADD, WG_SUB, d, r)
      for (int32_t i = 0; i < 16; ++i) WG_STORE(v + i * point_stride + c, r[i]);
    }
    return;
  }
  const float *at[16];
  for (int32_t y = 0; y < 4; ++y)
    for (int32_t x = 0; x < 4; ++x) {
      const int32_t iy = iy0 + y, ix = ix0 + x;
      at[4 * y + x] = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w
                          ? input + (((int64_t)t.n * g->in_h + iy) * g->in_w + ix) * g->in_c
                          : NULL;
    }
  for (int32_t c = 0; c < g->in_c; c += WG_LANES) {
    const int32_t count = g->in_c - c < WG_LANES ? g->in_c - c : WG_LANES;
    WG_VEC d[16], r[16];
    for (int32_t i = 0; i < 16; ++i)
      d[i] = at[i] == NULL ? WG_ZERO() : count == WG_LANES ? WG_LOAD(at[i] + c) : WG_LOADN(at[i] + c, count);
    EMBER_WINOGRAD_INPUT(WG_VEC, WG_ADD, WG_SUB, d, r)
    for (int32_t i = 0; i < 16; ++i) WG_STORE(v + i * point_stride + c, r[i]);
  }
}

/// Aᵀ m A of one tile for every output channel, + bias, clamped, stored where inside the image.
WG_TARGET static inline void WG_CAT(WG_FUNCTION, _output)(const ember_conv_geometry *g, const ember_winograd_f32 *w,
                                                           ember_wg_tile t, const float *m, int64_t point_stride,
                                                           float *output) {
  const int32_t oy = 2 * t.ty, ox = 2 * t.tx;
  const int32_t rows = g->out_h - oy < 2 ? 1 : 2, cols = g->out_w - ox < 2 ? 1 : 2;
  const int whole = rows == 2 && cols == 2;
  float *o = output + (((int64_t)t.n * g->out_h + oy) * g->out_w + ox) * g->out_c;
  const WG_VEC lo = WG_SET1(w->act_min), hi = WG_SET1(w->act_max);
  for (int32_t c = 0; c < g->out_c; c += WG_LANES) {
    const int32_t count = g->out_c - c < WG_LANES ? g->out_c - c : WG_LANES;
    WG_VEC mv[16], y[4];
    for (int32_t i = 0; i < 16; ++i) mv[i] = WG_LOAD(m + i * point_stride + c);
    EMBER_WINOGRAD_OUTPUT(WG_VEC, WG_ADD, WG_SUB, mv, y)
    const WG_VEC bias = WG_LOAD(w->bias + c);
    if (whole && count == WG_LANES) {
      const int64_t row = (int64_t)g->out_w * g->out_c;
      WG_STORE(o + c, WG_CLAMP(WG_ADD(y[0], bias), lo, hi));
      WG_STORE(o + g->out_c + c, WG_CLAMP(WG_ADD(y[1], bias), lo, hi));
      WG_STORE(o + row + c, WG_CLAMP(WG_ADD(y[2], bias), lo, hi));
      WG_STORE(o + row + g->out_c + c, WG_CLAMP(WG_ADD(y[3], bias), lo, hi));
      continue;
    }
    for (int32_t dy = 0; dy < rows; ++dy)
      for (int32_t dx = 0; dx < cols; ++dx) {
        const WG_VEC v = WG_CLAMP(WG_ADD(y[2 * dy + dx], bias), lo, hi);
        float *p = o + ((int64_t)dy * g->out_w + dx) * g->out_c + c;
        if (count == WG_LANES) WG_STORE(p, v);
        else WG_STOREN(p, v, count);
      }
  }
}

static inline void WG_CAT(WG_FUNCTION, _next)(const ember_conv_geometry *g, ember_wg_tile *t) {
  if (++t->tx < (g->out_w + 1) / 2) return;
  t->tx = 0;
  if (++t->ty < (g->out_h + 1) / 2) return;
  t->ty = 0;
  ++t->n;
}

/// The convolution: blocks of ember_winograd_tile_block tiles — their 16 input transforms, the 16
/// GEMMs, their output transforms — so that a block's transforms and products stay in cache.
WG_TARGET static void WG_FUNCTION(const ember_conv_geometry *g, const float *input, const ember_winograd_f32 *w,
                                  void *scratch, float *output) {
  const int64_t tiles = (int64_t)g->batch * ((g->out_h + 1) / 2) * ((g->out_w + 1) / 2);
  const int32_t block = ember_winograd_tile_block(WG_ISA, g);
  const int64_t in_stride = ember_n_padded(WG_ISA, g->in_c), out_stride = w->point[0].n_padded;
  // Each point's rows one cache line past a multiple of the block (EMBER_WINOGRAD_POINT_PAD): the 16
  // points a tile's transform reads or writes would otherwise sit a multiple of 4 KiB apart, in one set
  // of the L1 cache, which holds only 8 of them.
  const int64_t v_point = (int64_t)block * in_stride + EMBER_WINOGRAD_POINT_PAD;
  const int64_t m_point = (int64_t)block * out_stride + EMBER_WINOGRAD_POINT_PAD;
  float *v = (float *)scratch, *m = v + 16 * v_point;
  ember_wg_tile first = {0, 0, 0};
  for (int64_t t0 = 0; t0 < tiles; t0 += block) {
    const int32_t count = tiles - t0 < block ? (int32_t)(tiles - t0) : block;
    ember_wg_tile t = first;
    for (int32_t i = 0; i < count; ++i, WG_CAT(WG_FUNCTION, _next)(g, &t))
      WG_CAT(WG_FUNCTION, _input)(g, input, t, v + i * in_stride, v_point);
    for (int32_t xi = 0; xi < 16; ++xi)
      WG_GEMM(count, v + xi * v_point, in_stride, &w->point[xi], m + xi * m_point, out_stride);
    t = first;
    for (int32_t i = 0; i < count; ++i, WG_CAT(WG_FUNCTION, _next)(g, &t))
      WG_CAT(WG_FUNCTION, _output)(g, w, t, m + i * out_stride, m_point, output);
    first = t;
  }
}
#endif  // WG_FUNCTION
