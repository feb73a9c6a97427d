// AVX2 twins of the Q8_0 / Q4_0 reference quantizers. They must produce the same bytes as the
// scalar references in quant_ref.c: the same f32 operations in the same order, and roundf's
// ties-away-from-zero rebuilt from truncation (x − trunc(x) is exact for |x| < 2^23).
#pragma STDC FP_CONTRACT OFF
#include <string.h>
#include "nextgpt_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>


static inline void put_half(uint8_t *p, float v) {
    uint16_t h = ngk_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

__attribute__((target("avx2")))
static inline float max_abs_32(const float *x, __m256 v[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// roundf(v): trunc, then step away from zero when the dropped fraction is at least one half.
__attribute__((target("avx2")))
static inline __m256i round_half_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 away = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, step)));
}

__attribute__((target("avx2")))
static void quantize_q8_0_avx2(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / NGK_QK8_0; b++) {
        __m256 v[4];
        float amax = max_abs_32(x + b * NGK_QK8_0, v);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *block = dst + b * NGK_Q8_0_BYTES;
        put_half(block, d);
        __m256 scale = _mm256_set1_ps(id);
        __m256i q0 = round_half_away(_mm256_mul_ps(v[0], scale));
        __m256i q1 = round_half_away(_mm256_mul_ps(v[1], scale));
        __m256i q2 = round_half_away(_mm256_mul_ps(v[2], scale));
        __m256i q3 = round_half_away(_mm256_mul_ps(v[3], scale));
        // Pack 32 × int32 → int8 (values fit), undoing the lane interleave of the packs.
        __m256i p01 = _mm256_packs_epi32(q0, q1);
        __m256i p23 = _mm256_packs_epi32(q2, q3);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(block + 2), p);
    }
}

__attribute__((target("avx2")))
static void quantize_q4_0_avx2(const float *x, uint8_t *dst, size_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < n / NGK_QK4_0; b++) {
        const float *xb = x + b * NGK_QK4_0;
        __m256 v[4];
        float amax = max_abs_32(xb, v);
        // The reference keeps the first element whose magnitude is the maximum.
        int first = 0;
        for (int k = 0; k < 4; k++) {
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v[k]), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (mask) { first = 8 * k + __builtin_ctz((unsigned)mask); break; }
        }
        float d = (amax > 0.0f ? xb[first] : 0.0f) / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *block = dst + b * NGK_Q4_0_BYTES;
        put_half(block, d);
        __m256 scale = _mm256_set1_ps(id), half8 = _mm256_set1_ps(8.5f);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 shifted = _mm256_add_ps(_mm256_mul_ps(v[k], scale), half8);
            q[k] = _mm256_min_epi32(_mm256_cvttps_epi32(shifted), _mm256_set1_epi32(15));
        }
        // Low nibbles: elements 0..15 (q[0], q[1]); high nibbles: 16..31 (q[2], q[3]).
        __m256i lo = _mm256_packs_epi32(q[0], q[1]);
        __m256i hi = _mm256_packs_epi32(q[2], q[3]);
        __m256i bytes = _mm256_packus_epi16(lo, hi);
        bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        __m128i low16 = _mm256_castsi256_si128(bytes), high16 = _mm256_extracti128_si256(bytes, 1);
        __m128i packed = _mm_or_si128(low16, _mm_slli_epi16(high16, 4));
        _mm_storeu_si128((__m128i *)(block + 2), packed);
    }
}
#endif

void ngk_quantize_q8_0(const float *x, uint8_t *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { quantize_q8_0_avx2(x, dst, n); return; }
#endif
    ngk_quantize_q8_0_ref(x, dst, n);
}

void ngk_quantize_q4_0(const float *x, uint8_t *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { quantize_q4_0_avx2(x, dst, n); return; }
#endif
    ngk_quantize_q4_0_ref(x, dst, n);
}
