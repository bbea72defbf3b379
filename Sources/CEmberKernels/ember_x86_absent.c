// Where the CPU is not x86-64, the x86 kernels are never dispatched
// (ember_cpu_features reports neither AVX2 nor AVX-512), but Swift's dispatch
// code still names them: these empty definitions keep every target linking.
#include "ember_kernels.h"

#if !defined(__x86_64__)
void ember_conv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *i, const ember_qs8_gemm *w, void *s, int8_t *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_fully_connected_s8_avx512(int64_t r, const int8_t *i, const ember_qs8_gemm *w, void *s, int8_t *o) {
  (void)r; (void)i; (void)w; (void)s; (void)o;
}
void ember_dwconv2d_s8_avx512(const ember_conv_geometry *g, const int8_t *i, const ember_qs8_dw *w, int8_t *o) {
  (void)g; (void)i; (void)w; (void)o;
}
void ember_conv2d_hybrid_avx512(const ember_conv_geometry *g, const float *i, const ember_qs8_gemm *w, void *s, float *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_conv2d_hybrid_avx2(const ember_conv_geometry *g, const float *i, const ember_qs8_gemm *w, void *s, float *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_conv2d_f32_avx512(const ember_conv_geometry *g, const float *i, const ember_f32_gemm *w, void *s, float *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_fully_connected_f32_avx512(int64_t r, const float *i, const ember_f32_gemm *w, float *o) {
  (void)r; (void)i; (void)w; (void)o;
}
void ember_dwconv2d_f32_avx512(const ember_conv_geometry *g, const float *i, const ember_f32_dw *w, float *o) {
  (void)g; (void)i; (void)w; (void)o;
}
void ember_add_s8_avx512(int64_t n, const int8_t *a, const int8_t *b, const ember_add_s8_params *p, int32_t s, int8_t *o) {
  (void)n; (void)a; (void)b; (void)p; (void)s; (void)o;
}
void ember_conv2d_s8_avx2(const ember_conv_geometry *g, const int8_t *i, const ember_qs8_gemm *w, void *s, int8_t *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_fully_connected_s8_avx2(int64_t r, const int8_t *i, const ember_qs8_gemm *w, void *s, int8_t *o) {
  (void)r; (void)i; (void)w; (void)s; (void)o;
}
void ember_dwconv2d_s8_avx2(const ember_conv_geometry *g, const int8_t *i, const ember_qs8_dw *w, int8_t *o) {
  (void)g; (void)i; (void)w; (void)o;
}
void ember_conv2d_f32_avx2(const ember_conv_geometry *g, const float *i, const ember_f32_gemm *w, void *s, float *o) {
  (void)g; (void)i; (void)w; (void)s; (void)o;
}
void ember_fully_connected_f32_avx2(int64_t r, const float *i, const ember_f32_gemm *w, float *o) {
  (void)r; (void)i; (void)w; (void)o;
}
void ember_dwconv2d_f32_avx2(const ember_conv_geometry *g, const float *i, const ember_f32_dw *w, float *o) {
  (void)g; (void)i; (void)w; (void)o;
}
void ember_add_s8_avx2(int64_t n, const int8_t *a, const int8_t *b, const ember_add_s8_params *p, int32_t s, int8_t *o) {
  (void)n; (void)a; (void)b; (void)p; (void)s; (void)o;
}
void ember_binary_f32_avx512(ember_binary_op op, const ember_broadcast *bc, const float *a, const float *b, float lo, float hi,
                             float *o) {
  (void)op; (void)bc; (void)a; (void)b; (void)lo; (void)hi; (void)o;
}
void ember_binary_f32_avx2(ember_binary_op op, const ember_broadcast *bc, const float *a, const float *b, float lo, float hi,
                           float *o) {
  (void)op; (void)bc; (void)a; (void)b; (void)lo; (void)hi; (void)o;
}
#endif
