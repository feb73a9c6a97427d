// Decode attention over an f16 KV cache (llama.cpp's default cache type): the same single pass
// over the keys and over the values as attention_rows.c, each half widened to f32 in registers
// (vcvtph2ps) as it is loaded. Decode streams the whole cache every token, so half the bytes is
// the point; the arithmetic stays f32.
#include <math.h>

#include "nextgpt_ops.h"
#include "nextgpt_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define NGA_X86 1
#include <immintrin.h>
#else
#define NGA_X86 0
#endif

void ngo_attend_row_f16_ref(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv, size_t n,
                            size_t d, size_t dv, float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++) {
        float s = 0;
        for (size_t i = 0; i < d; i++) s += q[i] * ngk_fp16_to_fp32(k[j * ldk + i]);
        scores[j] = alpha * s;
    }
    for (size_t i = 0; i < dv; i++) out[i] = 0;
    if (n == 0) return;
    ngo_softmax_row_ref(scores, n);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < dv; i++) out[i] += scores[j] * ngk_fp16_to_fp32(v[j * ldv + i]);
}

#if NGA_X86
#define NGA_AVX2 __attribute__((target("avx2,fma,f16c")))
#define NGA_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

NGA_AVX2 static inline __m256 load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

NGA_AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

NGA_AVX2 static float dot_f16_avx2(const float *q, const uint16_t *k, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= d; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8_f16(k + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8_f16(k + i + 8), s1);
    }
    for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8_f16(k + i), s0);
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < d; i++) s += q[i] * ngk_fp16_to_fp32(k[i]);
    return s;
}

// out[0..<w] += sum_j p[j] * v[j][0..<w] for w <= 64, the running sums held in registers.
NGA_AVX2 static void weighted_sum_f16_avx2(const float *p, const uint16_t *v, size_t ldv, size_t n, size_t w, float *out) {
    __m256 acc[8];
    size_t lanes = w / 8;
    for (size_t c = 0; c < lanes; c++) acc[c] = _mm256_loadu_ps(out + 8 * c);
    for (size_t j = 0; j < n; j++) {
        __m256 pj = _mm256_set1_ps(p[j]);
        const uint16_t *row = v + j * ldv;
        for (size_t c = 0; c < lanes; c++) acc[c] = _mm256_fmadd_ps(pj, load8_f16(row + 8 * c), acc[c]);
    }
    for (size_t c = 0; c < lanes; c++) _mm256_storeu_ps(out + 8 * c, acc[c]);
    for (size_t i = 8 * lanes; i < w; i++) {
        float s = out[i];
        for (size_t j = 0; j < n; j++) s += p[j] * ngk_fp16_to_fp32(v[j * ldv + i]);
        out[i] = s;
    }
}

NGA_AVX2 static void attend_row_f16_avx2(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv,
                                         size_t n, size_t d, size_t dv, float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++) scores[j] = alpha * dot_f16_avx2(q, k + j * ldk, d);
    for (size_t i = 0; i < dv; i++) out[i] = 0;
    if (n == 0) return;
    ngo_softmax_row(scores, n);
    for (size_t c = 0; c < dv; c += 64) weighted_sum_f16_avx2(scores, v + c, ldv, n, dv - c < 64 ? dv - c : 64, out + c);
}

NGA_AVX512 static inline __m512 load16_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

NGA_AVX512 static float dot_f16_avx512(const float *q, const uint16_t *k, size_t d) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load16_f16(k + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load16_f16(k + i + 16), s1);
    }
    for (; i + 16 <= d; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load16_f16(k + i), s0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    // Widths that are not a multiple of 16 (never LLaMA's): the rest through the AVX2 dot.
    if (i < d) s += dot_f16_avx2(q + i, k + i, d - i);
    return s;
}

// out[0..<w] += sum_j p[j] * v[j][0..<w] for w <= 128 (LLaMA's head in one pass), 16 lanes per
// register; columns past the last multiple of 16 go through the AVX2 sum.
NGA_AVX512 static void weighted_sum_f16_avx512(const float *p, const uint16_t *v, size_t ldv, size_t n, size_t w,
                                               float *out) {
    __m512 acc[8];
    size_t lanes = w / 16;
    for (size_t c = 0; c < lanes; c++) acc[c] = _mm512_loadu_ps(out + 16 * c);
    for (size_t j = 0; j < n; j++) {
        __m512 pj = _mm512_set1_ps(p[j]);
        const uint16_t *row = v + j * ldv;
        for (size_t c = 0; c < lanes; c++) acc[c] = _mm512_fmadd_ps(pj, load16_f16(row + 16 * c), acc[c]);
    }
    for (size_t c = 0; c < lanes; c++) _mm512_storeu_ps(out + 16 * c, acc[c]);
    if (16 * lanes < w) weighted_sum_f16_avx2(p, v + 16 * lanes, ldv, n, w - 16 * lanes, out + 16 * lanes);
}

NGA_AVX512 static void attend_row_f16_avx512(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv,
                                             size_t n, size_t d, size_t dv, float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++) scores[j] = alpha * dot_f16_avx512(q, k + j * ldk, d);
    for (size_t i = 0; i < dv; i++) out[i] = 0;
    if (n == 0) return;
    ngo_softmax_row(scores, n);
    for (size_t c = 0; c < dv; c += 128)
        weighted_sum_f16_avx512(scores, v + c, ldv, n, dv - c < 128 ? dv - c : 128, out + c);
}

// The heads of one decode row that a thread takes, read position by position (see
// ngo_attend_heads_f16). Per head the same dot, softmax and fused multiply-adds over j ascending
// as attend_row_f16_*, so each head's output is bit-identical to the row kernel's.
NGA_AVX2 static void axpy_f16_avx2(float p, const uint16_t *row, size_t w, float *out) {
    __m256 pj = _mm256_set1_ps(p);
    size_t i = 0;
    for (; i + 8 <= w; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pj, load8_f16(row + i), _mm256_loadu_ps(out + i)));
    for (; i < w; i++) out[i] += p * ngk_fp16_to_fp32(row[i]);
}

NGA_AVX2 static void attend_heads_f16_avx2(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k,
                                           size_t ldk, const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv,
                                           float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++)
            scores[h * n + j] = alpha * dot_f16_avx2(q + h * d, k + j * ldk + (first + h) / group * d, d);
    for (size_t i = 0; i < heads * dv; i++) out[i] = 0;
    if (n == 0) return;
    for (size_t h = 0; h < heads; h++) ngo_softmax_row(scores + h * n, n);
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++)
            axpy_f16_avx2(scores[h * n + j], v + j * ldv + (first + h) / group * dv, dv, out + h * dv);
}

NGA_AVX512 static void axpy_f16_avx512(float p, const uint16_t *row, size_t w, float *out) {
    __m512 pj = _mm512_set1_ps(p);
    size_t i = 0;
    for (; i + 16 <= w; i += 16) _mm512_storeu_ps(out + i, _mm512_fmadd_ps(pj, load16_f16(row + i), _mm512_loadu_ps(out + i)));
    if (i < w) axpy_f16_avx2(p, row + i, w - i, out + i);
}

NGA_AVX512 static void attend_heads_f16_avx512(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k,
                                               size_t ldk, const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv,
                                               float alpha, float *scores, float *out) {
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++)
            scores[h * n + j] = alpha * dot_f16_avx512(q + h * d, k + j * ldk + (first + h) / group * d, d);
    for (size_t i = 0; i < heads * dv; i++) out[i] = 0;
    if (n == 0) return;
    for (size_t h = 0; h < heads; h++) ngo_softmax_row(scores + h * n, n);
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++)
            axpy_f16_avx512(scores[h * n + j], v + j * ldv + (first + h) / group * dv, dv, out + h * dv);
}

// One part of a decode row's positions for all its heads (ngo_attend_part_f16): every head's
// slice of a position is read at once, so a thread streams whole cache rows.
NGA_AVX2 static void attend_part_f16_avx2(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk,
                                          const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha,
                                          float *scores, float *m, float *l, float *o) {
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++) scores[h * n + j] = alpha * dot_f16_avx2(q + h * d, k + j * ldk + h / group * d, d);
    for (size_t h = 0; h < heads; h++) {
        m[h] = ngo_max_row(scores + h * n, n);
        l[h] = ngo_exp_shift_row(scores + h * n, n, m[h]);
    }
    for (size_t i = 0; i < heads * dv; i++) o[i] = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++) axpy_f16_avx2(scores[h * n + j], v + j * ldv + h / group * dv, dv, o + h * dv);
}

NGA_AVX512 static void attend_part_f16_avx512(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk,
                                              const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha,
                                              float *scores, float *m, float *l, float *o) {
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++) scores[h * n + j] = alpha * dot_f16_avx512(q + h * d, k + j * ldk + h / group * d, d);
    for (size_t h = 0; h < heads; h++) {
        m[h] = ngo_max_row(scores + h * n, n);
        l[h] = ngo_exp_shift_row(scores + h * n, n, m[h]);
    }
    for (size_t i = 0; i < heads * dv; i++) o[i] = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t h = 0; h < heads; h++) axpy_f16_avx512(scores[h * n + j], v + j * ldv + h / group * dv, dv, o + h * dv);
}
#endif

void ngo_attend_row_f16(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv, size_t n,
                        size_t d, size_t dv, float alpha, float *scores, float *out) {
#if NGA_X86
    if (ngk_use_avx2()) { attend_row_f16_avx2(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out); return; }
#endif
    ngo_attend_row_f16_ref(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out);
}

void ngo_attend_row_f16_avx512(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv, size_t n,
                               size_t d, size_t dv, float alpha, float *scores, float *out) {
#if NGA_X86
    // AVX-512F is part of the VNNI level (ngk_use_avx512vnni checks avx512f with AVX2+FMA+F16C).
    if (ngk_use_avx512vnni()) { attend_row_f16_avx512(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out); return; }
#endif
    ngo_attend_row_f16(q, k, ldk, v, ldv, n, d, dv, alpha, scores, out);
}

void ngo_attend_heads_f16_ref(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k, size_t ldk,
                              const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                              float *out) {
    for (size_t h = 0; h < heads; h++) {
        size_t kv = (first + h) / group;
        ngo_attend_row_f16_ref(q + h * d, k + kv * d, ldk, v + kv * dv, ldv, n, d, dv, alpha, scores + h * n, out + h * dv);
    }
}

void ngo_attend_heads_f16(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k, size_t ldk,
                          const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                          float *out) {
#if NGA_X86
    if (ngk_use_avx2()) { attend_heads_f16_avx2(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out); return; }
#endif
    ngo_attend_heads_f16_ref(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out);
}

void ngo_attend_heads_f16_avx512(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k, size_t ldk,
                                 const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                                 float *out) {
#if NGA_X86
    if (ngk_use_avx512vnni()) { attend_heads_f16_avx512(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out); return; }
#endif
    ngo_attend_heads_f16(q, heads, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, out);
}

void ngo_attend_part_f16_ref(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk, const uint16_t *v,
                             size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l,
                             float *o) {
    for (size_t h = 0; h < heads; h++) {
        const uint16_t *kh = k + h / group * d, *vh = v + h / group * dv;
        float *s = scores + h * n, *oh = o + h * dv;
        for (size_t j = 0; j < n; j++) {
            float dot = 0;
            for (size_t i = 0; i < d; i++) dot += q[h * d + i] * ngk_fp16_to_fp32(kh[j * ldk + i]);
            s[j] = alpha * dot;
        }
        m[h] = ngo_max_row_ref(s, n);
        l[h] = ngo_exp_shift_row_ref(s, n, m[h]);
        for (size_t i = 0; i < dv; i++) oh[i] = 0;
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < dv; i++) oh[i] += s[j] * ngk_fp16_to_fp32(vh[j * ldv + i]);
    }
}

void ngo_attend_part_f16(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk, const uint16_t *v,
                         size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l, float *o) {
#if NGA_X86
    if (ngk_use_avx2()) { attend_part_f16_avx2(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o); return; }
#endif
    ngo_attend_part_f16_ref(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o);
}

void ngo_attend_part_f16_avx512(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk,
                                const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                                float *m, float *l, float *o) {
#if NGA_X86
    if (ngk_use_avx512vnni()) { attend_part_f16_avx512(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o); return; }
#endif
    ngo_attend_part_f16(q, heads, group, k, ldk, v, ldv, n, d, dv, alpha, scores, m, l, o);
}

void ngo_attend_merge_parts(size_t parts, size_t heads, size_t dv, const float *m, const float *l, const float *o, float *out) {
    for (size_t h = 0; h < heads; h++) {
        float top = -INFINITY;
        for (size_t p = 0; p < parts; p++) top = m[p * heads + h] > top ? m[p * heads + h] : top;
        float total = 0;
        float *y = out + h * dv;
        for (size_t i = 0; i < dv; i++) y[i] = 0;
        for (size_t p = 0; p < parts; p++) {
            float w = expf(m[p * heads + h] - top);
            total += w * l[p * heads + h];
            const float *op = o + (p * heads + h) * dv;
            for (size_t i = 0; i < dv; i++) y[i] += w * op[i];
        }
        float scale = 1.0f / total;
        for (size_t i = 0; i < dv; i++) y[i] *= scale;
    }
}
