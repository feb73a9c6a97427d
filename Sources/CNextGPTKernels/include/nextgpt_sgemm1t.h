// Single-threaded f32 matrix products for callers that already run one job per thread (the
// attention tiles, Winograd's products in place): OpenBLAS 0.3.21 has no per-call thread count, and its own threads nested
// inside ours oversubscribe the cores. AVX2+FMA body with runtime dispatch, scalar twins (_ref).
#ifndef NEXTGPT_SGEMM1T_H
#define NEXTGPT_SGEMM1T_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// C[m×n] = alpha · A[m×k] · B[k×n] + beta · C, row-major with leading dimensions lda, ldb, ldc.
// beta == 0 never reads C.
void ngs_sgemm_nn(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                  const float *b, size_t ldb, float beta, float *c, size_t ldc);
void ngs_sgemm_nn_ref(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                      const float *b, size_t ldb, float beta, float *c, size_t ldc);

// C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C. `scratch` holds at least k·n floats (Bᵀ is packed
// there once, then every row block reads it contiguously).
void ngs_sgemm_nt(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                  const float *b, size_t ldb, float beta, float *c, size_t ldc, float *scratch);
void ngs_sgemm_nt_ref(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                      const float *b, size_t ldb, float beta, float *c, size_t ldc);

// C[m×n] = A[m×k] · B[n×k]ᵀ (+ C when `accumulate`) by dot products along k: for few columns (n
// below one 16-wide tile of ngs_sgemm_nn, e.g. Winograd products over a handful of tiles), where
// a column tile would be mostly padding. Scalar twin: ngs_sgemm_nt_ref with alpha 1, beta 0 or 1.
void ngs_sgemm_nt_dots(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                       int accumulate, float *c, size_t ldc);

#ifdef __cplusplus
}
#endif
#endif
