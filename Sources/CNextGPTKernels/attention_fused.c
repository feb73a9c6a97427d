// Fused attention (nextgpt_attention.h). The scores live in base 2: queries are scaled by
// scale·log2(e) once per tile (and the mask by log2(e)), so every exponential is an exp2.
//
// A call takes a tile of query rows in groups of R rows (R by value width and body) and walks
// the keys in blocks of 64 (32 with AVX2); every group of the tile takes the block while its Kᵀ
// panels and value rows are in L1: R × 64 scores in registers, their row max, the exponentials
// written as probabilities to a small L1 buffer, then the value product into the group's output
// rows (loaded, rescaled by exp2(old max − new max) and stored back once per block). Row sums stay
// 16-lane vectors until the end. Rows past the tile's last pad the last group. With few keys
// (a prompt's 77) the AVX2 body takes them all as one block; see "few keys" below.
#include "nextgpt_attention.h"
#include "nextgpt_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define NGA_X86 1
#include <immintrin.h>
#else
#define NGA_X86 0
#endif

#define NGA_LOG2E 1.44269504088896341f
#define NGA_PANEL 16
#define NGA_GROUP_MAX 6
// Keys up to which the AVX2 body takes all of them as one block (its few-keys path).
#define NGA_SHORT_KEYS 96

int ngk_attention_fused_covers(size_t d, size_t dv) {
    return d > 0 && dv > 0 && d % 8 == 0 && dv % 8 == 0 && d <= 160 && dv <= 160;
}

size_t ngk_attention_packed_keys_floats(size_t tk, size_t d) {
    return (tk + NGA_PANEL - 1) / NGA_PANEL * NGA_PANEL * d;
}

void ngk_attention_pack_keys(const float *k, size_t ldk, size_t tk, size_t d, float *dst) {
    size_t panels = (tk + NGA_PANEL - 1) / NGA_PANEL;
    for (size_t pn = 0; pn < panels; pn++) {
        float *panel = dst + pn * NGA_PANEL * d;
        for (size_t lane = 0; lane < NGA_PANEL; lane++) {
            size_t j = pn * NGA_PANEL + lane;
            if (j < tk) {
                const float *row = k + j * ldk;
                for (size_t p = 0; p < d; p++) panel[p * NGA_PANEL + lane] = row[p];
            } else {
                for (size_t p = 0; p < d; p++) panel[p * NGA_PANEL + lane] = 0;
            }
        }
    }
}

size_t ngk_attention_scratch_floats(size_t rows, size_t d, size_t dv) {
    size_t padded = rows + NGA_GROUP_MAX;
    // scaled queries, outputs, 16-lane row sums, row maxima, probabilities and rescale factors
    // (two sets of 3 rows for the AVX2 body)
    size_t blocked = padded * (d + dv + 16 + 1) + NGA_GROUP_MAX * 64 + 16 + 16;
    // the AVX2 body's few-keys path: a zero query row, two sets of 3 rows' probabilities, a spill row
    size_t few_keys = d + 2 * 3 * NGA_SHORT_KEYS + dv;
    return blocked > few_keys ? blocked : few_keys;
}

// Keys the tile (or row) may see: all, or up to the causal diagonal of its last row.
static size_t visible_keys(const ngk_attention_head *h, size_t last_row) {
    if (!h->causal) return h->tk;
    ptrdiff_t end = (ptrdiff_t)last_row + h->causal_offset + 1;
    if (end <= 0) return 0;
    return (size_t)end < h->tk ? (size_t)end : h->tk;
}

// ---------------------------------------------------------------- scalar twin

void ngk_attention_rows_ref(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch) {
    const size_t d = h->d, dv = h->dv;
    float *s = scratch, *acc = scratch + 64;
    const float qscale = h->scale * NGA_LOG2E;
    for (size_t i = q0; i < q0 + rows; i++) {
        const float *q = h->q + i * h->ldq;
        float m = -INFINITY, l = 0;
        for (size_t c = 0; c < dv; c++) acc[c] = 0;
        size_t end = visible_keys(h, i);
        for (size_t j0 = 0; j0 < end; j0 += 64) {
            size_t cols = end - j0 < 64 ? end - j0 : 64;
            float block_max = -INFINITY;
            for (size_t jj = 0; jj < cols; jj++) {
                size_t j = j0 + jj;
                const float *kp = h->kt + j / NGA_PANEL * NGA_PANEL * d + j % NGA_PANEL;
                float dot = 0;
                for (size_t p = 0; p < d; p++) dot += q[p] * qscale * kp[p * NGA_PANEL];
                if (h->mask && j < h->mask_cols) dot += h->mask[i * h->mask_ld + j] * NGA_LOG2E;
                s[jj] = dot;
                if (dot > block_max) block_max = dot;
            }
            float m_new = m > block_max ? m : block_max;
            float shift = m_new == -INFINITY ? 0 : m_new;  // nothing seen yet: every term is 0
            float alpha = exp2f(m - shift);
            float sum = 0;
            for (size_t jj = 0; jj < cols; jj++) { s[jj] = exp2f(s[jj] - shift); sum += s[jj]; }
            l = l * alpha + sum;
            for (size_t c = 0; c < dv; c++) {
                float a = acc[c] * alpha;
                for (size_t jj = 0; jj < cols; jj++) a += s[jj] * h->v[(j0 + jj) * h->ldv + c];
                acc[c] = a;
            }
            m = m_new;
        }
        float inv = l > 0 ? 1 / l : 0;
        for (size_t c = 0; c < dv; c++) h->o[i * h->ldo + c] = acc[c] * inv;
    }
}

// Per-row limits of one block of keys [j0, j0 + cols) for rows [row0, row0 + group): visible
// columns (≤ cols, may be ≤ 0), and the additive mask row (nil for none or a padding row).
static void block_limits(const ngk_attention_head *h, size_t row0, size_t group, size_t real_rows, size_t j0,
                         size_t cols, int *limit, const float **mask_row, size_t *mask_cols) {
    for (size_t r = 0; r < group; r++) {
        size_t i = row0 + r;
        ptrdiff_t lim = (ptrdiff_t)cols;
        if (h->causal && r < real_rows) {
            ptrdiff_t seen = (ptrdiff_t)i + h->causal_offset + 1 - (ptrdiff_t)j0;
            if (seen < lim) lim = seen;
        }
        limit[r] = lim < -1 ? -1 : (int)lim;
        mask_row[r] = h->mask && r < real_rows && h->mask_cols > j0 ? h->mask + i * h->mask_ld + j0 : NULL;
    }
    *mask_cols = h->mask && h->mask_cols > j0 ? (h->mask_cols - j0 < cols ? h->mask_cols - j0 : cols) : 0;
}

#if NGA_X86
#define NGA_INLINE __attribute__((always_inline)) inline
// Register arrays indexed by constant loops: every such loop fully unrolled, or the compiler
// keeps the arrays in memory and stores every accumulator on each step.
#define NGA_UNROLL _Pragma("unroll")

// What both bodies' drivers share: the scratch layout, the tile's queries scaled (rows past the
// tile's last zero), the running state reset; at the end, the division by the row sums.
#define NGA_DRIVER_PROLOGUE(R)                                                                        \
    const size_t d = h->d, dv = h->dv;                                                                \
    const size_t padded = (rows + (R) - 1) / (R) * (R);                                               \
    float *qs = scratch, *o = qs + padded * d, *lv = o + padded * dv, *m = lv + padded * 16;          \
    float *p = m + padded, *alpha = p + NGA_GROUP_MAX * 64;                                           \
    const float qscale = h->scale * NGA_LOG2E;                                                        \
    for (size_t i = 0; i < padded; i++) {                                                             \
        if (i < rows) {                                                                               \
            const float *src = h->q + (q0 + i) * h->ldq;                                              \
            for (size_t c = 0; c < d; c++) qs[i * d + c] = src[c] * qscale;                           \
        } else {                                                                                      \
            for (size_t c = 0; c < d; c++) qs[i * d + c] = 0;                                         \
        }                                                                                             \
        m[i] = -INFINITY;                                                                             \
    }                                                                                                 \
    memset(o, 0, padded * dv * sizeof(float));                                                        \
    memset(lv, 0, padded * 16 * sizeof(float));                                                       \
    const size_t key_end = visible_keys(h, q0 + rows - 1);

#define NGA_DRIVER_EPILOGUE                                                                           \
    for (size_t i = 0; i < rows; i++) {                                                               \
        float l = 0;                                                                                  \
        for (int lane = 0; lane < 16; lane++) l += lv[i * 16 + lane];                                 \
        float inv = l > 0 ? 1 / l : 0;                                                                \
        float *dst = h->o + (q0 + i) * h->ldo;                                                        \
        for (size_t c = 0; c < dv; c++) dst[c] = o[i * dv + c] * inv;                                 \
    }

// ---------------------------------------------------------------- AVX-512 body
#define NGA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

static inline __mmask16 lanes_below(ptrdiff_t n) {
    return n <= 0 ? 0 : n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

// 2^x for x ≤ 0 (Cephes exp2f polynomial on the fraction, |rel. error| < 2e-7); x ≤ −200 gives
// exactly 0 (2^−200 is below the smallest subnormal), so masked keys weigh nothing.
NGA_AVX512 static NGA_INLINE __m512 exp2_16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-200.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 y = _mm512_set1_ps(1.535336188319500e-4f);
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.339887440266574e-3f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(9.618437357674640e-3f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(5.550332471162809e-2f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(2.402264791363012e-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(6.931472028550421e-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

// Scores of R rows × NP panels (16 keys each), masks, the online-softmax update of m and lv, and
// the probabilities into p (row r at p + 64 r) and the rescale factors into alpha.
NGA_AVX512 static NGA_INLINE void scores_avx512(const int R, const int NP, const float *qs, size_t d, const float *kt,
                                                const int *limit, const float *const *mask_row, size_t mask_cols,
                                                float *m, float *lv, float *p, float *alpha) {
    __m512 s[NGA_GROUP_MAX][4];
    NGA_UNROLL
    for (int r = 0; r < R; r++)
        NGA_UNROLL
        for (int c = 0; c < NP; c++) s[r][c] = _mm512_setzero_ps();
    for (size_t k = 0; k < d; k++) {
        __m512 b[4];
        NGA_UNROLL
        for (int c = 0; c < NP; c++) b[c] = _mm512_loadu_ps(kt + c * NGA_PANEL * d + k * NGA_PANEL);
        NGA_UNROLL
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(qs[r * d + k]);
            NGA_UNROLL
            for (int c = 0; c < NP; c++) s[r][c] = _mm512_fmadd_ps(a, b[c], s[r][c]);
        }
    }
    const __m512 log2e = _mm512_set1_ps(NGA_LOG2E), minus_inf = _mm512_set1_ps(-INFINITY);
    float shift[NGA_GROUP_MAX];
    float diff[16] = {0};
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        if (mask_row[r]) {
            NGA_UNROLL
            for (int c = 0; c < NP; c++) {
                __mmask16 k = lanes_below((ptrdiff_t)mask_cols - 16 * c);
                s[r][c] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, mask_row[r] + 16 * c), log2e, s[r][c]);
            }
        }
        if (limit[r] < NP * 16) {
            NGA_UNROLL
            for (int c = 0; c < NP; c++) s[r][c] = _mm512_mask_mov_ps(minus_inf, lanes_below(limit[r] - 16 * c), s[r][c]);
        }
        __m512 t = s[r][0];
        NGA_UNROLL
        for (int c = 1; c < NP; c++) t = _mm512_max_ps(t, s[r][c]);
        float block_max = _mm512_reduce_max_ps(t);
        float m_old = m[r], m_new = m_old > block_max ? m_old : block_max;
        shift[r] = m_new == -INFINITY ? 0 : m_new;  // nothing seen yet: every term is 0
        diff[r] = m_old - shift[r];
        m[r] = m_new;
    }
    _mm512_storeu_ps(alpha, exp2_16(_mm512_loadu_ps(diff)));
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        const __m512 sh = _mm512_set1_ps(shift[r]);
        __m512 sum = _mm512_setzero_ps();
        NGA_UNROLL
        for (int c = 0; c < NP; c++) {
            __m512 e = exp2_16(_mm512_sub_ps(s[r][c], sh));
            _mm512_storeu_ps(p + r * 64 + c * 16, e);
            sum = _mm512_add_ps(sum, e);
        }
        _mm512_storeu_ps(lv + r * 16, _mm512_fmadd_ps(_mm512_loadu_ps(lv + r * 16), _mm512_set1_ps(alpha[r]), sum));
    }
}

// o[R × dv] = o · alpha + p[R × cols] · v[cols × dv], dv = 16·NZ + 8·TAIL.
NGA_AVX512 static NGA_INLINE void values_avx512(const int R, const int NZ, const int TAIL, const float *p,
                                                const float *alpha, const float *v, size_t ldv, size_t cols, float *o,
                                                size_t dv) {
    __m512 acc[NGA_GROUP_MAX][10];
    __m256 tail[NGA_GROUP_MAX];
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        const __m512 a = _mm512_set1_ps(alpha[r]);
        NGA_UNROLL
        for (int z = 0; z < NZ; z++) acc[r][z] = _mm512_mul_ps(_mm512_loadu_ps(o + r * dv + 16 * z), a);
        if (TAIL) tail[r] = _mm256_mul_ps(_mm256_loadu_ps(o + r * dv + 16 * NZ), _mm512_castps512_ps256(a));
    }
    for (size_t j = 0; j < cols; j++) {
        const float *vj = v + j * ldv;
        __m512 b[10];
        NGA_UNROLL
        for (int z = 0; z < NZ; z++) b[z] = _mm512_loadu_ps(vj + 16 * z);
        __m256 bt = TAIL ? _mm256_loadu_ps(vj + 16 * NZ) : _mm256_setzero_ps();
        NGA_UNROLL
        for (int r = 0; r < R; r++) {
            const __m512 w = _mm512_set1_ps(p[r * 64 + j]);
            NGA_UNROLL
            for (int z = 0; z < NZ; z++) acc[r][z] = _mm512_fmadd_ps(w, b[z], acc[r][z]);
            if (TAIL) tail[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(w), bt, tail[r]);
        }
    }
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        NGA_UNROLL
        for (int z = 0; z < NZ; z++) _mm512_storeu_ps(o + r * dv + 16 * z, acc[r][z]);
        if (TAIL) _mm256_storeu_ps(o + r * dv + 16 * NZ, tail[r]);
    }
}

NGA_AVX512 static NGA_INLINE void rows_avx512(const int R, const int NZ, const int TAIL, const ngk_attention_head *h,
                                              size_t q0, size_t rows, float *scratch) {
    NGA_DRIVER_PROLOGUE(R)
    int limit[NGA_GROUP_MAX];
    const float *mask_row[NGA_GROUP_MAX];
    for (size_t j0 = 0; j0 < key_end; j0 += 64) {
        for (size_t g = 0; g < padded; g += R) {
            size_t real = rows - g < (size_t)R ? rows - g : (size_t)R;
            size_t end = visible_keys(h, q0 + g + real - 1);
            if (end <= j0) continue;
            size_t cols = end - j0 < 64 ? end - j0 : 64, mask_cols;
            block_limits(h, q0 + g, R, real, j0, cols, limit, mask_row, &mask_cols);
            const float *qg = qs + g * d, *kt = h->kt + j0 * d;
            switch ((cols + 15) / 16) {
            case 4: scores_avx512(R, 4, qg, d, kt, limit, mask_row, mask_cols, m + g, lv + g * 16, p, alpha); break;
            case 3: scores_avx512(R, 3, qg, d, kt, limit, mask_row, mask_cols, m + g, lv + g * 16, p, alpha); break;
            case 2: scores_avx512(R, 2, qg, d, kt, limit, mask_row, mask_cols, m + g, lv + g * 16, p, alpha); break;
            default: scores_avx512(R, 1, qg, d, kt, limit, mask_row, mask_cols, m + g, lv + g * 16, p, alpha); break;
            }
            values_avx512(R, NZ, TAIL, p, alpha, h->v + j0 * h->ldv, h->ldv, cols, o + g * dv, dv);
        }
    }
    NGA_DRIVER_EPILOGUE
}

// Group rows by value width: R·(dv/16) accumulators of the value product and R·4 of the scores
// stay within the 32 registers.
NGA_AVX512 static void attention_avx512(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch) {
    switch (h->dv / 8) {
    case 1: rows_avx512(6, 0, 1, h, q0, rows, scratch); break;
    case 2: rows_avx512(6, 1, 0, h, q0, rows, scratch); break;
    case 3: rows_avx512(6, 1, 1, h, q0, rows, scratch); break;
    case 4: rows_avx512(6, 2, 0, h, q0, rows, scratch); break;
    case 5: rows_avx512(6, 2, 1, h, q0, rows, scratch); break;
    case 6: rows_avx512(6, 3, 0, h, q0, rows, scratch); break;
    case 7: rows_avx512(6, 3, 1, h, q0, rows, scratch); break;
    case 8: rows_avx512(6, 4, 0, h, q0, rows, scratch); break;
    case 9: rows_avx512(4, 4, 1, h, q0, rows, scratch); break;
    case 10: rows_avx512(4, 5, 0, h, q0, rows, scratch); break;
    case 11: rows_avx512(4, 5, 1, h, q0, rows, scratch); break;
    case 12: rows_avx512(4, 6, 0, h, q0, rows, scratch); break;
    case 13: rows_avx512(3, 6, 1, h, q0, rows, scratch); break;
    case 14: rows_avx512(3, 7, 0, h, q0, rows, scratch); break;
    case 15: rows_avx512(3, 7, 1, h, q0, rows, scratch); break;
    case 16: rows_avx512(3, 8, 0, h, q0, rows, scratch); break;
    case 17: rows_avx512(2, 8, 1, h, q0, rows, scratch); break;
    case 18: rows_avx512(2, 9, 0, h, q0, rows, scratch); break;
    case 19: rows_avx512(2, 9, 1, h, q0, rows, scratch); break;
    default: rows_avx512(2, 10, 0, h, q0, rows, scratch); break;
    }
}

// ---------------------------------------------------------------- AVX2 body
// 3 rows × 32 keys of scores (12 of the 16 registers), the value product in column chunks of up
// to 4 × 8 (12 accumulators).
#define NGA_AVX2 __attribute__((target("avx2,fma")))
#define NGA_AVX2_ROWS 3

NGA_AVX2 static NGA_INLINE __m256 lanes_below8(ptrdiff_t n) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int c = n < 0 ? 0 : n > 8 ? 8 : (int)n;
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(c), lanes));
}

// 2^x for x ≤ 0 (same polynomial as the AVX-512 body); x ≤ −127 gives exactly 0 (exponent bits 0).
NGA_AVX2 static NGA_INLINE __m256 exp2_8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
    __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(x, n);
    __m256 y = _mm256_set1_ps(1.535336188319500e-4f);
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.339887440266574e-3f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(9.618437357674640e-3f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(5.550332471162809e-2f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(2.402264791363012e-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(6.931472028550421e-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

NGA_AVX2 static NGA_INLINE float hmax8(__m256 v) {
    __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

// Scores of 3 rows × NP panels (2 registers each); lv keeps 16 lanes per row (two halves).
NGA_AVX2 static NGA_INLINE void scores_avx2(const int NP, const float *qs, size_t d, const float *kt, const int *limit,
                                            const float *const *mask_row, size_t mask_cols, float *m, float *lv,
                                            float *p, float *alpha) {
    enum { R = NGA_AVX2_ROWS };
    __m256 s[R][4];
    NGA_UNROLL
    for (int r = 0; r < R; r++)
        NGA_UNROLL
        for (int c = 0; c < 2 * NP; c++) s[r][c] = _mm256_setzero_ps();
    // Broadcasts held, keys loaded one register at a time: 12 + 3 + 1 registers.
    for (size_t k = 0; k < d; k++) {
        __m256 a[R];
        NGA_UNROLL
        for (int r = 0; r < R; r++) a[r] = _mm256_broadcast_ss(qs + r * d + k);
        NGA_UNROLL
        for (int c = 0; c < 2 * NP; c++) {
            __m256 b = _mm256_loadu_ps(kt + (c / 2) * NGA_PANEL * d + k * NGA_PANEL + (c % 2) * 8);
            NGA_UNROLL
            for (int r = 0; r < R; r++) s[r][c] = _mm256_fmadd_ps(a[r], b, s[r][c]);
        }
    }
    const __m256 log2e = _mm256_set1_ps(NGA_LOG2E), minus_inf = _mm256_set1_ps(-INFINITY);
    float shift[R], diff[8] = {0};
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        if (mask_row[r]) {
            NGA_UNROLL
            for (int c = 0; c < 2 * NP; c++) {
                __m256 keep = lanes_below8((ptrdiff_t)mask_cols - 8 * c);
                __m256 add = _mm256_maskload_ps(mask_row[r] + 8 * c, _mm256_castps_si256(keep));
                s[r][c] = _mm256_fmadd_ps(add, log2e, s[r][c]);
            }
        }
        if (limit[r] < NP * 16) {
            NGA_UNROLL
            for (int c = 0; c < 2 * NP; c++) s[r][c] = _mm256_blendv_ps(minus_inf, s[r][c], lanes_below8(limit[r] - 8 * c));
        }
        __m256 t = s[r][0];
        NGA_UNROLL
        for (int c = 1; c < 2 * NP; c++) t = _mm256_max_ps(t, s[r][c]);
        float block_max = hmax8(t);
        float m_old = m[r], m_new = m_old > block_max ? m_old : block_max;
        shift[r] = m_new == -INFINITY ? 0 : m_new;
        diff[r] = m_old - shift[r];
        m[r] = m_new;
    }
    _mm256_storeu_ps(alpha, exp2_8(_mm256_loadu_ps(diff)));
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        const __m256 sh = _mm256_set1_ps(shift[r]), a = _mm256_set1_ps(alpha[r]);
        __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
        NGA_UNROLL
        for (int c = 0; c < 2 * NP; c++) {
            __m256 e = exp2_8(_mm256_sub_ps(s[r][c], sh));
            _mm256_storeu_ps(p + r * 64 + c * 8, e);
            if (c % 2) sum1 = _mm256_add_ps(sum1, e); else sum0 = _mm256_add_ps(sum0, e);
        }
        _mm256_storeu_ps(lv + r * 16, _mm256_fmadd_ps(_mm256_loadu_ps(lv + r * 16), a, sum0));
        _mm256_storeu_ps(lv + r * 16 + 8, _mm256_fmadd_ps(_mm256_loadu_ps(lv + r * 16 + 8), a, sum1));
    }
}

// Columns [c0, c0 + 8·NY) of 3 output rows: out[r] = out[r] · alpha[r] + p · v (no alpha: p · v),
// then times inv[r] when inv is given; row r of p at p + r·pstride. With NY ≤ 2 the 3·NY
// accumulators are too few chains to hide the FMA latency, so even and odd keys go to two sets,
// added at the end (SD's 8 × 40 heads at 4096 tokens: 68 → 71 % of sgemm's rate on a Zen 3).
NGA_AVX2 static NGA_INLINE void values_avx2(const int NY, const float *p, size_t pstride, const float *alpha,
                                            const float *inv, const float *v, size_t ldv, size_t cols,
                                            float *const *out, size_t c0) {
    enum { R = NGA_AVX2_ROWS };
    const int sets = NY <= 2 ? 2 : 1;
    __m256 acc[2][R][4];
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        NGA_UNROLL
        for (int y = 0; y < NY; y++) {
            acc[0][r][y] = alpha ? _mm256_mul_ps(_mm256_loadu_ps(out[r] + c0 + 8 * y), _mm256_set1_ps(alpha[r]))
                                 : _mm256_setzero_ps();
            acc[1][r][y] = _mm256_setzero_ps();
        }
    }
    size_t j = 0;
    for (; j + sets <= cols; j += sets) {
        NGA_UNROLL
        for (int u = 0; u < sets; u++) {
            const float *vj = v + (j + u) * ldv + c0;
            __m256 w[R];
            NGA_UNROLL
            for (int r = 0; r < R; r++) w[r] = _mm256_broadcast_ss(p + r * pstride + j + u);
            NGA_UNROLL
            for (int y = 0; y < NY; y++) {
                __m256 b = _mm256_loadu_ps(vj + 8 * y);
                NGA_UNROLL
                for (int r = 0; r < R; r++) acc[u][r][y] = _mm256_fmadd_ps(w[r], b, acc[u][r][y]);
            }
        }
    }
    for (; j < cols; j++) {
        const float *vj = v + j * ldv + c0;
        NGA_UNROLL
        for (int r = 0; r < R; r++) {
            const __m256 w = _mm256_broadcast_ss(p + r * pstride + j);
            NGA_UNROLL
            for (int y = 0; y < NY; y++) acc[0][r][y] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 8 * y), acc[0][r][y]);
        }
    }
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        NGA_UNROLL
        for (int y = 0; y < NY; y++) {
            __m256 sum = sets == 2 ? _mm256_add_ps(acc[0][r][y], acc[1][r][y]) : acc[0][r][y];
            _mm256_storeu_ps(out[r] + c0 + 8 * y, inv ? _mm256_mul_ps(sum, _mm256_set1_ps(inv[r])) : sum);
        }
    }
}

// A group's value product over all dv columns, in chunks of 32 and a last one of 8–24.
NGA_AVX2 static NGA_INLINE void values_block_avx2(const float *p, size_t pstride, const float *alpha, const float *inv,
                                                  const float *v, size_t ldv, size_t cols, float *const *out, size_t dv) {
    size_t c = 0;
    for (; c + 32 <= dv; c += 32) values_avx2(4, p, pstride, alpha, inv, v, ldv, cols, out, c);
    switch ((dv - c) / 8) {
    case 3: values_avx2(3, p, pstride, alpha, inv, v, ldv, cols, out, c); break;
    case 2: values_avx2(2, p, pstride, alpha, inv, v, ldv, cols, out, c); break;
    case 1: values_avx2(1, p, pstride, alpha, inv, v, ldv, cols, out, c); break;
    default: break;
    }
}

// ---- few keys (cross-attention over a prompt's 77 tokens): one block, no online softmax
// With every visible key in one block, a group's scores are all known before any exponential: no
// running max, no rescale of earlier outputs, no copy of scaled queries (the scale multiplies the
// scores), and the value product writes the output rows themselves, times the rows' 1 / sum.
// SD's cross-attention: 53 → 63 GFLOP/s on one Zen 3 core (C harness, medians of 9 runs). Past
// 96 keys the blocked walk wins (ImageBind's 257 keys as one block: 74 → 67 GFLOP/s).

// Raw scores of 3 rows × NC registers of 8 keys at keys [j0, j0 + 8·NC) (j0 a multiple of 8: a
// register may start mid-panel), masked, stored at s + r·NGA_SHORT_KEYS; the rows' running maxima
// (8 lanes) in mx. Lanes past the visible keys get −∞.
NGA_AVX2 static NGA_INLINE void raw_scores_avx2(const int NC, const float *const *qrow, __m256 qscale, size_t d,
                                                const float *kt, size_t j0, const int *limit,
                                                const float *const *mask_row, size_t mask_cols, float *s, __m256 *mx) {
    enum { R = NGA_AVX2_ROWS };
    const float *keys[4];
    NGA_UNROLL
    for (int c = 0; c < NC; c++) keys[c] = kt + (j0 + 8 * c) / NGA_PANEL * NGA_PANEL * d + (j0 + 8 * c) % NGA_PANEL;
    __m256 acc[R][4];
    NGA_UNROLL
    for (int r = 0; r < R; r++)
        NGA_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (size_t k = 0; k < d; k++) {
        __m256 a[R];
        NGA_UNROLL
        for (int r = 0; r < R; r++) a[r] = _mm256_broadcast_ss(qrow[r] + k);
        NGA_UNROLL
        for (int c = 0; c < NC; c++) {
            __m256 b = _mm256_loadu_ps(keys[c] + k * NGA_PANEL);
            NGA_UNROLL
            for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(a[r], b, acc[r][c]);
        }
    }
    NGA_UNROLL
    for (int r = 0; r < R; r++)
        NGA_UNROLL
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_mul_ps(acc[r][c], qscale);
    const __m256 log2e = _mm256_set1_ps(NGA_LOG2E), minus_inf = _mm256_set1_ps(-INFINITY);
    NGA_UNROLL
    for (int r = 0; r < R; r++) {
        if (mask_row[r]) {
            NGA_UNROLL
            for (int c = 0; c < NC; c++) {
                __m256 keep = lanes_below8((ptrdiff_t)mask_cols - 8 * c);
                __m256 add = _mm256_maskload_ps(mask_row[r] + 8 * c, _mm256_castps_si256(keep));
                acc[r][c] = _mm256_fmadd_ps(add, log2e, acc[r][c]);
            }
        }
        if (limit[r] < NC * 8) {
            NGA_UNROLL
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_blendv_ps(minus_inf, acc[r][c], lanes_below8(limit[r] - 8 * c));
        }
        NGA_UNROLL
        for (int c = 0; c < NC; c++) {
            _mm256_storeu_ps(s + r * NGA_SHORT_KEYS + 8 * c, acc[r][c]);
            mx[r] = _mm256_max_ps(mx[r], acc[r][c]);
        }
    }
}

// A group's weights over keys [0, end): exponentials of the row's scores, and 1 / their sum in inv
// (a row that sees no key gets zeros).
NGA_AVX2 static void short_scores_avx2(const ngk_attention_head *h, const float *const *qg, size_t row0, size_t real,
                                       size_t end, float *p, float *inv) {
    enum { R = NGA_AVX2_ROWS };
    int limit[NGA_GROUP_MAX];
    const float *mask_row[NGA_GROUP_MAX];
    __m256 mx[R];
    for (int r = 0; r < R; r++) mx[r] = _mm256_set1_ps(-INFINITY);
    const __m256 qscale = _mm256_set1_ps(h->scale * NGA_LOG2E);
    // Chunks of 3 or 4 registers where the keys allow (77 keys: 32 + 24 + 24): 3 rows × 2 registers
    // would be too few chains to hide the FMA latency.
    const size_t lanes = (end + 7) / 8 * 8;
    for (size_t j0 = 0; j0 < lanes;) {
        size_t left = (lanes - j0) / 8, take = left == 5 || left == 6 || left == 9 ? 3 : left >= 4 ? 4 : left;
        size_t cols = end - j0 < 8 * take ? end - j0 : 8 * take, mask_cols;
        block_limits(h, row0, R, real, j0, cols, limit, mask_row, &mask_cols);
        switch (take) {
        case 4: raw_scores_avx2(4, qg, qscale, h->d, h->kt, j0, limit, mask_row, mask_cols, p + j0, mx); break;
        case 3: raw_scores_avx2(3, qg, qscale, h->d, h->kt, j0, limit, mask_row, mask_cols, p + j0, mx); break;
        case 2: raw_scores_avx2(2, qg, qscale, h->d, h->kt, j0, limit, mask_row, mask_cols, p + j0, mx); break;
        default: raw_scores_avx2(1, qg, qscale, h->d, h->kt, j0, limit, mask_row, mask_cols, p + j0, mx); break;
        }
        j0 += 8 * take;
    }
    for (int r = 0; r < R; r++) {
        float row_max = hmax8(mx[r]);
        float *pr = p + r * NGA_SHORT_KEYS;
        if (row_max == -INFINITY) {
            for (size_t j = 0; j < lanes; j++) pr[j] = 0;
            inv[r] = 0;
            continue;
        }
        const __m256 sh = _mm256_set1_ps(row_max);
        __m256 sum = _mm256_setzero_ps();
        for (size_t j = 0; j < lanes; j += 8) {
            __m256 e = exp2_8(_mm256_sub_ps(_mm256_loadu_ps(pr + j), sh));
            _mm256_storeu_ps(pr + j, e);
            sum = _mm256_add_ps(sum, e);
        }
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
        inv[r] = 1 / _mm_cvtss_f32(s4);
    }
}

NGA_AVX2 static void attention_short_avx2(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch) {
    enum { R = NGA_AVX2_ROWS };
    const size_t d = h->d, dv = h->dv;
    const size_t padded = (rows + R - 1) / R * R;
    // A zero query and a spill output row stand in for the rows padding the last group.
    float *zero = scratch, *probabilities[2] = {zero + d, zero + d + R * NGA_SHORT_KEYS};
    float *spill = probabilities[1] + R * NGA_SHORT_KEYS;
    memset(zero, 0, d * sizeof(float));
    float *due[R], inverse_sums[2][R];
    size_t due_cols = 0;
    int slot = 0, pending = 0;
    for (size_t g = 0; g < padded; g += R) {
        size_t real = rows - g < (size_t)R ? rows - g : (size_t)R;
        size_t end = visible_keys(h, q0 + g + real - 1);
        float *out[R];
        const float *qrow[R];
        for (int r = 0; r < R; r++) {
            out[r] = (size_t)r < real ? h->o + (q0 + g + r) * h->ldo : spill;
            qrow[r] = (size_t)r < real ? h->q + (q0 + g + r) * h->ldq : zero;
        }
        if (end == 0) {
            for (size_t r = 0; r < real; r++) memset(out[r], 0, dv * sizeof(float));
            continue;
        }
        // Query and output rows lie heads · d floats apart (1280 bytes in SD), a new page every few
        // rows, where the hardware prefetchers stop: fetch the next tile's queries (the callers walk
        // a head's tiles in order) and the next group's outputs while this group computes (+7 %).
        // The next tile may be past the head's last row: its addresses are integers until a
        // prefetch, which never faults.
        for (int r = 0; r < R; r++) {
            uintptr_t nq = (uintptr_t)h->q + (q0 + rows + g + r) * h->ldq * sizeof(float);
            for (size_t b = 0; b < d * sizeof(float); b += 64) _mm_prefetch((const char *)(nq + b), _MM_HINT_T0);
            _mm_prefetch((const char *)(nq + d * sizeof(float) - 1), _MM_HINT_T0);
            if (g + R + r < rows) {
                const char *no = (const char *)(h->o + (q0 + g + R + r) * h->ldo);
                for (size_t b = 0; b < dv * sizeof(float); b += 64) __builtin_prefetch(no + b, 1, 3);
                __builtin_prefetch(no + dv * sizeof(float) - 1, 1, 3);
            }
        }
        short_scores_avx2(h, qrow, q0 + g, real, end, probabilities[slot], inverse_sums[slot]);
        if (pending) values_block_avx2(probabilities[slot ^ 1], NGA_SHORT_KEYS, NULL, inverse_sums[slot ^ 1], h->v, h->ldv, due_cols, due, dv);
        for (int r = 0; r < R; r++) due[r] = out[r];
        due_cols = end;
        pending = 1;
        slot ^= 1;
    }
    if (pending) values_block_avx2(probabilities[slot ^ 1], NGA_SHORT_KEYS, NULL, inverse_sums[slot ^ 1], h->v, h->ldv, due_cols, due, dv);
}

// A group's value product runs after the next group's scores, from one of two probability
// buffers: the softmax's chain of dependent steps (row maxima, the scalar update, exponentials)
// then overlaps the next group's independent FMAs instead of stalling the product that needs it.
NGA_AVX2 static void attention_avx2(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch) {
    enum { R = NGA_AVX2_ROWS };
    if (visible_keys(h, q0 + rows - 1) <= NGA_SHORT_KEYS) { attention_short_avx2(h, q0, rows, scratch); return; }
    NGA_DRIVER_PROLOGUE(R)
    int limit[NGA_GROUP_MAX];
    const float *mask_row[NGA_GROUP_MAX];
    float *const probabilities[2] = {p, p + R * 64};
    float *const rescale[2] = {alpha, alpha + 8};
    for (size_t j0 = 0; j0 < key_end; j0 += 32) {
        const float *vb = h->v + j0 * h->ldv, *kt = h->kt + j0 * d;
        float *due[R];  // output rows of the group whose value product is pending
        size_t due_cols = 0;
        int slot = 0, pending = 0;
        for (size_t g = 0; g < padded; g += R) {
            size_t real = rows - g < (size_t)R ? rows - g : (size_t)R;
            size_t end = visible_keys(h, q0 + g + real - 1);
            if (end <= j0) continue;
            size_t cols = end - j0 < 32 ? end - j0 : 32, mask_cols;
            block_limits(h, q0 + g, R, real, j0, cols, limit, mask_row, &mask_cols);
            const float *qg = qs + g * d;
            if (cols > 16) scores_avx2(2, qg, d, kt, limit, mask_row, mask_cols, m + g, lv + g * 16, probabilities[slot], rescale[slot]);
            else scores_avx2(1, qg, d, kt, limit, mask_row, mask_cols, m + g, lv + g * 16, probabilities[slot], rescale[slot]);
            if (pending) values_block_avx2(probabilities[slot ^ 1], 64, rescale[slot ^ 1], NULL, vb, h->ldv, due_cols, due, dv);
            for (int r = 0; r < R; r++) due[r] = o + (g + r) * dv;
            pending = 1;
            due_cols = cols;
            slot ^= 1;
        }
        if (pending) values_block_avx2(probabilities[slot ^ 1], 64, rescale[slot ^ 1], NULL, vb, h->ldv, due_cols, due, dv);
    }
    NGA_DRIVER_EPILOGUE
}
#endif

void ngk_attention_rows(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch) {
#if NGA_X86
    if (ngk_use_avx2() && ngk_attention_fused_covers(h->d, h->dv)) { attention_avx2(h, q0, rows, scratch); return; }
#endif
    ngk_attention_rows_ref(h, q0, rows, scratch);
}

void ngk_attention_rows_avx512(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch) {
#if NGA_X86
    if (ngk_use_avx512vnni() && ngk_attention_fused_covers(h->d, h->dv)) { attention_avx512(h, q0, rows, scratch); return; }
#endif
    ngk_attention_rows(h, q0, rows, scratch);
}
