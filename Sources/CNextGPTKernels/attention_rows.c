// Attention of a few query rows over a long key/value cache (LLaMA decode): dot products
// straight from the cache rows, no packing, one pass over keys and one over values, so the
// cache is read once per token at memory speed. The tiled path packs each key tile for its
// sgemm, which for one query row costs more than the product itself.
#include "nextgpt_ops.h"
#include "nextgpt_kernels.h"

#include <math.h>

#if defined(__x86_64__) || defined(_M_X64)
#define NGA_X86 1
#include <immintrin.h>
#else
#define NGA_X86 0
#endif

void ngo_attend_row_ref(const float *q, const float *k, size_t ldk, const float *v, size_t ldv, size_t n,
                        size_t d, size_t dv, float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++) {
        float s = 0;
        for (size_t i = 0; i < d; i++) s += q[i] * k[j * ldk + i];
        scores[j] = alpha * s;
    }
    for (size_t i = 0; i < dv; i++) out[i] = 0;
    if (n == 0) return;
    ngo_softmax_row_ref(scores, n);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < dv; i++) out[i] += scores[j] * v[j * ldv + i];
}

#if NGA_X86
#define NGA_AVX2 __attribute__((target("avx2,fma")))

NGA_AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

NGA_AVX2 static float dot_avx2(const float *a, const float *b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < d; i++) s += a[i] * b[i];
    return s;
}

// out[0..<w] += sum_j p[j] * v[j][0..<w] for w <= 64, the running sums held in registers.
NGA_AVX2 static void weighted_sum_avx2(const float *p, const float *v, size_t ldv, size_t n, size_t w, float *out) {
    __m256 acc[8];
    size_t lanes = w / 8;
    for (size_t c = 0; c < lanes; c++) acc[c] = _mm256_loadu_ps(out + 8 * c);
    for (size_t j = 0; j < n; j++) {
        __m256 pj = _mm256_set1_ps(p[j]);
        const float *row = v + j * ldv;
        for (size_t c = 0; c < lanes; c++) acc[c] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 8 * c), acc[c]);
    }
    for (size_t c = 0; c < lanes; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
    for (size_t i = 8 * lanes; i < w; i++) {
        float s = out[i];
        for (size_t j = 0; j < n; j++) s += p[j] * v[j * ldv + i];
        out[i] = s;
    }
}

NGA_AVX2 static void attend_row_avx2(const float *q, const float *k, size_t ldk, const float *v, size_t ldv, size_t n,
                                     size_t d, size_t dv, float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++) scores[j] = alpha * dot_avx2(q, k + j * ldk, d);
    for (size_t i = 0; i < dv; i++) out[i] = 0;
    if (n == 0) return;
    ngo_softmax_row(scores, n);
    for (size_t c = 0; c < dv; c += 64) weighted_sum_avx2(scores, v + c, ldv, n, dv - c < 64 ? dv - c : 64, out + c);
}

// One part of a row's positions for all its heads (ngo_attend_part): whole cache rows streamed.
NGA_AVX2 static void attend_part_avx2(const float *q, size_t heads, size_t group, const float *k, size_t ldk, const float *v,
                                      size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores, float *m,
                                      float *l, float *o) {
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++) scores[h * n + j] = alpha * dot_avx2(q + h * d, k + j * ldk + h / group * d, d);
    for (size_t h = 0; h < heads; h++) {
        m[h] = ngo_max_row(scores + h * n, n);
        l[h] = ngo_exp_shift_row(scores + h * n, n, m[h]);
    }
    for (size_t i = 0; i < heads * dv; i++) o[i] = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++) {
            __m256 pj = _mm256_set1_ps(scores[h * n + j]);
            const float *row = v + j * ldv + h / group * dv;
            float *y = o + h * dv;
            size_t i = 0;
            for (; i + 8 <= dv; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + i), _mm256_loadu_ps(y + i)));
            for (; i < dv; i++) y[i] += scores[h * n + j] * row[i];
        }
}
#endif

void ngo_attend_row(const float *q, const float *k, size_t ldk, const float *v, size_t ldv, size_t n,
                    size_t d, size_t dv, float alpha, float *scores, float *out) {
#if NGA_X86
    if (ngk_use_avx2()) { attend_row_avx2(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out); return; }
#endif
    ngo_attend_row_ref(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out);
}

void ngo_attend_part_ref(const float *q, size_t heads, size_t group, const float *k, size_t ldk, const float *v, size_t ldv,
                         size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l, float *o) {
    for (size_t h = 0; h < heads; h++) {
        const float *kh = k + h / group * d, *vh = v + h / group * dv;
        float *s = scores + h * n, *oh = o + h * dv;
        for (size_t j = 0; j < n; j++) {
            float dot = 0;
            for (size_t i = 0; i < d; i++) dot += q[h * d + i] * kh[j * ldk + i];
            s[j] = alpha * dot;
        }
        m[h] = ngo_max_row_ref(s, n);
        l[h] = ngo_exp_shift_row_ref(s, n, m[h]);
        for (size_t i = 0; i < dv; i++) oh[i] = 0;
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < dv; i++) oh[i] += s[j] * vh[j * ldv + i];
    }
}

void ngo_attend_part(const float *q, size_t heads, size_t group, const float *k, size_t ldk, const float *v, size_t ldv,
                     size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l, float *o) {
#if NGA_X86
    if (ngk_use_avx2()) { attend_part_avx2(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o); return; }
#endif
    ngo_attend_part_ref(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o);
}
