// Single-threaded sgemm (nextgpt_sgemm1t.h): a 6×16 register tile of FMAs over an unpacked A and
// a row-major B, which is what attention tiles hand it (A = queries or probabilities in place, B =
// values in place or the packed Kᵀ tile).
#include "nextgpt_sgemm1t.h"
#include "nextgpt_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define NGS_X86 1
#include <immintrin.h>
#else
#define NGS_X86 0
#endif

// ---------------------------------------------------------------- scalar references

void ngs_sgemm_nn_ref(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                      const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            float s = 0;
            for (size_t p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
            float *cij = c + i * ldc + j;
            *cij = beta == 0 ? alpha * s : alpha * s + beta * *cij;
        }
    }
}

void ngs_sgemm_nt_ref(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                      const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            float s = 0;
            for (size_t p = 0; p < k; p++) s += a[i * lda + p] * b[j * ldb + p];
            float *cij = c + i * ldc + j;
            *cij = beta == 0 ? alpha * s : alpha * s + beta * *cij;
        }
    }
}

// ---------------------------------------------------------------- AVX2 bodies
#if NGS_X86
#define NGS_AVX2 __attribute__((target("avx2,fma")))
#define NGS_INLINE __attribute__((always_inline)) inline

// One tile of up to 6 rows × 16 columns (12 accumulators, 2 B loads and 6 broadcasts per 12
// FMAs). `mr` is a literal at every call site so the row branches fold away; `masked` covers the
// last columns (maskload never touches masked-off lanes).
#define NGS_MR 6
NGS_AVX2 static NGS_INLINE void tile_6x16(const size_t mr, const int masked, __m256i mask0, __m256i mask1,
                                          size_t k, float alpha, const float *a, size_t lda,
                                          const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    __m256 acc[NGS_MR][2];
    for (size_t r = 0; r < NGS_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (size_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        __m256 b0 = masked ? _mm256_maskload_ps(bp, mask0) : _mm256_loadu_ps(bp);
        __m256 b1 = masked ? _mm256_maskload_ps(bp + 8, mask1) : _mm256_loadu_ps(bp + 8);
        for (size_t r = 0; r < NGS_MR; r++) {
            if (r < mr) {
                __m256 x = _mm256_broadcast_ss(a + r * lda + p);
                acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
            }
        }
    }
    const __m256 av = _mm256_set1_ps(alpha), bv = _mm256_set1_ps(beta);
    for (size_t r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        __m256 v0 = _mm256_mul_ps(acc[r][0], av), v1 = _mm256_mul_ps(acc[r][1], av);
        if (masked) {
            if (beta != 0) {
                v0 = _mm256_fmadd_ps(bv, _mm256_maskload_ps(cr, mask0), v0);
                v1 = _mm256_fmadd_ps(bv, _mm256_maskload_ps(cr + 8, mask1), v1);
            }
            _mm256_maskstore_ps(cr, mask0, v0);
            _mm256_maskstore_ps(cr + 8, mask1, v1);
        } else {
            if (beta != 0) {
                v0 = _mm256_fmadd_ps(bv, _mm256_loadu_ps(cr), v0);
                v1 = _mm256_fmadd_ps(bv, _mm256_loadu_ps(cr + 8), v1);
            }
            _mm256_storeu_ps(cr, v0);
            _mm256_storeu_ps(cr + 8, v1);
        }
    }
}

NGS_AVX2 static void column_block(size_t mr, int masked, __m256i mask0, __m256i mask1, size_t k, float alpha,
                                  const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    switch (mr) {
    case 6: tile_6x16(6, masked, mask0, mask1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case 5: tile_6x16(5, masked, mask0, mask1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case 4: tile_6x16(4, masked, mask0, mask1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case 3: tile_6x16(3, masked, mask0, mask1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case 2: tile_6x16(2, masked, mask0, mask1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    default: tile_6x16(1, masked, mask0, mask1, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    }
}

NGS_AVX2 static void sgemm_nn_avx2(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                                   const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i none = _mm256_setzero_si256();
    // Columns outer, rows inner: a 16-wide strip of B (k·64 bytes) stays in L1 across all rows.
    for (size_t j = 0; j < n; j += 16) {
        size_t nr = n - j < 16 ? n - j : 16;
        int masked = nr < 16;
        __m256i mask0 = none, mask1 = none;
        if (masked) {
            mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lanes);
            mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), lanes);
        }
        for (size_t i = 0; i < m; i += NGS_MR) {
            size_t mr = m - i < NGS_MR ? m - i : NGS_MR;
            column_block(mr, masked, mask0, mask1, k, alpha, a + i * lda, lda, b + j, ldb, beta, c + i * ldc + j, ldc);
        }
    }
}
#endif

void ngs_sgemm_nn(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                  const float *b, size_t ldb, float beta, float *c, size_t ldc) {
#if NGS_X86
    if (ngk_use_avx2()) { sgemm_nn_avx2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); return; }
#endif
    ngs_sgemm_nn_ref(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ngs_sgemm_nt(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                  const float *b, size_t ldb, float beta, float *c, size_t ldc, float *scratch) {
#if NGS_X86
    if (ngk_use_avx2()) {
        // Bᵀ packed [k × n]: each key's row becomes a column, so the tile loads 16 keys at once.
        for (size_t j = 0; j < n; j++) {
            const float *row = b + j * ldb;
            for (size_t p = 0; p < k; p++) scratch[p * n + j] = row[p];
        }
        sgemm_nn_avx2(m, n, k, alpha, a, lda, scratch, n, beta, c, ldc);
        return;
    }
#endif
    (void)scratch;
    ngs_sgemm_nt_ref(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
