// Matrix-product kernels of the runtime: activation quantization, weight-row × activation dot
// products for every weight type, dequantization of weight panels for the BLAS batch path.
// Every SIMD entry point dispatches on ngk_use_avx2() and has a scalar twin (suffix _ref).
// No threads here: callers split rows across their own workers.
#ifndef NEXTGPT_MATMUL_H
#define NEXTGPT_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { NGK_Q8_K_BYTES = 292 };

// Pause hint for spin-wait loops.
static inline void ngk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// ---- activation quantization (runtime format, not file format) ----
// Q8_0 as ggml's AVX path: d = amax/127 (stored f16), q = round-half-even(x · 127/amax).
// Both twins give the same bytes. n is a multiple of 32.
void ngk_quantize_act_q8_0(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_act_q8_0_ref(const float *x, uint8_t *dst, size_t n);
// Q8_K as ggml's quantize_row_q8_K_ref: f32 d, 256 int8, 16 int16 bsums. n is a multiple of 256.
void ngk_quantize_act_q8_k(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_act_q8_k_ref(const float *x, uint8_t *dst, size_t n);

// ---- matrix × vectors over a row range ----
// For r < nrows and b < nb: y[b*ldy + r] = Σ_c W[r, c] · x_b[c], W row r at w + r*w_stride bytes,
// activation b at xa + b*xa_stride bytes in the type's activation format:
//   f32, f16, bf16 weights → f32 activations; q8_0, q4_0 → Q8_0 blocks; q4_k → Q8_K blocks.
// ncols is a whole number of the weight type's blocks.
#define NGK_MV_DECL(name) \
    void ngk_mv_##name(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                       const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy); \
    void ngk_mv_##name##_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                             const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
NGK_MV_DECL(f32)
NGK_MV_DECL(f16)
NGK_MV_DECL(bf16)
NGK_MV_DECL(q8_0)
NGK_MV_DECL(q4_0)
NGK_MV_DECL(q4_k)
#undef NGK_MV_DECL

// ---- Q4_K dequantization (AVX2 twin of ngk_dequantize_q4_k_ref) ----
void ngk_dequantize_q4_k(const uint8_t *src, float *y, size_t n);

// Memory-read probe for benchmarks: sum of n floats (AVX2, several accumulators).
float ngk_sum_f32(const float *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
