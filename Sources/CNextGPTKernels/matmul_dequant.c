// Q4_K dequantization for the BLAS batch path (AVX2 twin of ngk_dequantize_q4_k_ref, same
// products and differences, no FMA so the values are bit-identical) and a memory-read probe.
#pragma STDC FP_CONTRACT OFF
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#if defined(__x86_64__)
#include <immintrin.h>

static inline void scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

__attribute__((target("avx2,fma,f16c")))
static void dequantize_q4_k_avx2(const uint8_t *src, float *y, size_t n) {
    for (size_t b = 0; b < n / NGK_QK_K; b++) {
        const uint8_t *block = src + b * NGK_Q4_K_BYTES;
        uint16_t hd, hm;
        memcpy(&hd, block, 2);
        memcpy(&hm, block + 2, 2);
        const float d_all = _cvtsh_ss(hd), dmin_all = _cvtsh_ss(hm);
        const uint8_t *qs = block + 16;
        float *yb = y + b * NGK_QK_K;
        for (int c = 0; c < 4; c++) {
            int sc, m;
            scale_min(2 * c, block + 4, &sc, &m);
            const __m256 d1 = _mm256_set1_ps(d_all * (float)sc), m1 = _mm256_set1_ps(dmin_all * (float)m);
            scale_min(2 * c + 1, block + 4, &sc, &m);
            const __m256 d2 = _mm256_set1_ps(d_all * (float)sc), m2 = _mm256_set1_ps(dmin_all * (float)m);
            for (int l = 0; l < 32; l += 8) {
                __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 32 * c + l)));
                __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(q, _mm256_set1_epi32(0xF)));
                __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4));
                _mm256_storeu_ps(yb + 64 * c + l, _mm256_sub_ps(_mm256_mul_ps(d1, lo), m1));
                _mm256_storeu_ps(yb + 64 * c + 32 + l, _mm256_sub_ps(_mm256_mul_ps(d2, hi), m2));
            }
        }
    }
}

__attribute__((target("avx2,fma,f16c")))
static float sum_f32_avx2(const float *x, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float t[8];
    _mm256_storeu_ps(t, a);
    float s = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    for (; i < n; i++) s += x[i];
    return s;
}
#endif

void ngk_dequantize_q4_k(const uint8_t *src, float *y, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { dequantize_q4_k_avx2(src, y, n); return; }
#endif
    ngk_dequantize_q4_k_ref(src, y, n);
}

float ngk_sum_f32(const float *x, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) return sum_f32_avx2(x, n);
#endif
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}
