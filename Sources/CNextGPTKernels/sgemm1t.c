// Single-threaded sgemm (nextgpt_sgemm1t.h): a 6×16 register tile of FMAs over an unpacked A and
// a row-major B, which is what attention tiles and Winograd's products hand it (A = queries,
// probabilities or the transformed kernel in place; B = values, the packed Kᵀ tile or the
// transformed input, copied a 16-wide strip at a time by the nn body).
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
// Register arrays indexed by constant loops stay in registers only when those loops unroll.
#define NGS_UNROLL _Pragma("unroll")

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

// A 16-wide strip of B, NGS_KC rows at a time, is copied to a contiguous zero-padded panel first:
// in place its rows sit `ldb` floats apart, and with Winograd's power-of-two tile counts
// (ldb = 128, 512) the strip's lines fall into a few L1 sets and are evicted before the next
// row group reads them again. The copy is 1/m of the strip's FMAs.
#define NGS_KC 256
NGS_AVX2 static void sgemm_nn_avx2(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                                   const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i none = _mm256_setzero_si256();
    float panel[NGS_KC * 16] __attribute__((aligned(64)));
    size_t p0 = 0;
    do {  // k = 0 still takes one pass: C = beta·C
        const size_t kc = k - p0 < NGS_KC ? k - p0 : NGS_KC;
        const float block_beta = p0 == 0 ? beta : 1.0f;
        for (size_t j = 0; j < n; j += 16) {
            size_t nr = n - j < 16 ? n - j : 16;
            int masked = nr < 16;
            __m256i mask0 = none, mask1 = none;
            if (masked) {
                mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lanes);
                mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), lanes);
            }
            for (size_t p = 0; p < kc; p++) {
                const float *bp = b + (p0 + p) * ldb + j;
                _mm256_store_ps(panel + 16 * p, masked ? _mm256_maskload_ps(bp, mask0) : _mm256_loadu_ps(bp));
                _mm256_store_ps(panel + 16 * p + 8, masked ? _mm256_maskload_ps(bp + 8, mask1) : _mm256_loadu_ps(bp + 8));
            }
            for (size_t i = 0; i < m; i += NGS_MR) {
                size_t mr = m - i < NGS_MR ? m - i : NGS_MR;
                column_block(mr, masked, mask0, mask1, kc, alpha, a + i * lda + p0, lda, panel, 16, block_beta, c + i * ldc + j, ldc);
            }
        }
        p0 += NGS_KC;
    } while (p0 < k);
}

// Dot products of R rows of A × C columns of B (rows of B[n×k]) in 8-lane partial sums: 3 × 4
// accumulators, 3 + 4 loads per 12 FMAs. The k tail (k mod 8) is loaded masked.
NGS_AVX2 static NGS_INLINE void dots_tile(const int R, const int C, size_t k, const float *a, size_t lda,
                                          const float *b, size_t ldb, int accumulate, float *c, size_t ldc) {
    __m256 acc[3][4];
    NGS_UNROLL
    for (int r = 0; r < 3; r++)
        NGS_UNROLL
        for (int j = 0; j < 4; j++) acc[r][j] = _mm256_setzero_ps();
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 x[3];
        NGS_UNROLL
        for (int r = 0; r < 3; r++)
            if (r < R) x[r] = _mm256_loadu_ps(a + r * lda + p);
        NGS_UNROLL
        for (int j = 0; j < 4; j++) {
            if (j < C) {
                __m256 y = _mm256_loadu_ps(b + j * ldb + p);
                NGS_UNROLL
                for (int r = 0; r < 3; r++)
                    if (r < R) acc[r][j] = _mm256_fmadd_ps(x[r], y, acc[r][j]);
            }
        }
    }
    if (p < k) {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k - p)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 x[3];
        NGS_UNROLL
        for (int r = 0; r < 3; r++)
            if (r < R) x[r] = _mm256_maskload_ps(a + r * lda + p, mask);
        NGS_UNROLL
        for (int j = 0; j < 4; j++) {
            if (j < C) {
                __m256 y = _mm256_maskload_ps(b + j * ldb + p, mask);
                NGS_UNROLL
                for (int r = 0; r < 3; r++)
                    if (r < R) acc[r][j] = _mm256_fmadd_ps(x[r], y, acc[r][j]);
            }
        }
    }
    NGS_UNROLL
    for (int r = 0; r < 3; r++) {
        if (r >= R) continue;
        // Four 8-lane sums to four floats: two horizontal adds, then the halves added.
        __m256 s01 = _mm256_hadd_ps(acc[r][0], acc[r][1]), s23 = _mm256_hadd_ps(acc[r][2], acc[r][3]);
        __m256 s = _mm256_hadd_ps(s01, s23);
        __m128 sums = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        float out[4];
        _mm_storeu_ps(out, sums);
        for (int j = 0; j < C; j++) c[r * ldc + j] = accumulate ? c[r * ldc + j] + out[j] : out[j];
    }
}

#define NGS_DOTS_ROWS(R)                                                                              \
    switch (cols) {                                                                                   \
    case 4: dots_tile(R, 4, k, a + i * lda, lda, b + j * ldb, ldb, accumulate, c + i * ldc + j, ldc); break;      \
    case 3: dots_tile(R, 3, k, a + i * lda, lda, b + j * ldb, ldb, accumulate, c + i * ldc + j, ldc); break;      \
    case 2: dots_tile(R, 2, k, a + i * lda, lda, b + j * ldb, ldb, accumulate, c + i * ldc + j, ldc); break;      \
    default: dots_tile(R, 1, k, a + i * lda, lda, b + j * ldb, ldb, accumulate, c + i * ldc + j, ldc); break;     \
    }

NGS_AVX2 static void sgemm_nt_dots_avx2(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                                        size_t ldb, int accumulate, float *c, size_t ldc) {
    // Rows outer: a group's 3 rows of A stream once per 4 columns of B, which stay in L1/L2.
    for (size_t i = 0; i < m; i += 3) {
        const size_t rows = m - i < 3 ? m - i : 3;
        for (size_t j = 0; j < n; j += 4) {
            const size_t cols = n - j < 4 ? n - j : 4;
            if (rows == 3) { NGS_DOTS_ROWS(3) }
            else if (rows == 2) { NGS_DOTS_ROWS(2) }
            else { NGS_DOTS_ROWS(1) }
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

void ngs_sgemm_nt_dots(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                       int accumulate, float *c, size_t ldc) {
#if NGS_X86
    if (ngk_use_avx2()) { sgemm_nt_dots_avx2(m, n, k, a, lda, b, ldb, accumulate, c, ldc); return; }
#endif
    ngs_sgemm_nt_ref(m, n, k, 1, a, lda, b, ldb, accumulate ? 1 : 0, c, ldc);
}
