// Dequantization of ggml blocks to f32: AVX2 bodies with the scalar references as fallback.
#include "nextgpt_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>


static inline float load_half(const uint8_t *p) { return ngk_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8))); }

__attribute__((target("avx2,fma,f16c")))
static void dequantize_q8_0_avx2(const uint8_t *src, float *y, size_t n) {
    for (size_t b = 0; b < n / NGK_QK8_0; b++) {
        const uint8_t *block = src + b * NGK_Q8_0_BYTES;
        __m256 d = _mm256_set1_ps(load_half(block));
        for (int k = 0; k < 4; k++) {
            __m128i q8 = _mm_loadl_epi64((const __m128i *)(block + 2 + 8 * k));
            __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
            _mm256_storeu_ps(y + b * NGK_QK8_0 + 8 * k, _mm256_mul_ps(q, d));
        }
    }
}

__attribute__((target("avx2,fma,f16c")))
static void dequantize_q4_0_avx2(const uint8_t *src, float *y, size_t n) {
    const __m128i low_mask = _mm_set1_epi8(0x0f);
    const __m128i eight = _mm_set1_epi8(8);
    for (size_t b = 0; b < n / NGK_QK4_0; b++) {
        const uint8_t *block = src + b * NGK_Q4_0_BYTES;
        __m256 d = _mm256_set1_ps(load_half(block));
        __m128i packed = _mm_loadu_si128((const __m128i *)(block + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(packed, low_mask), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), eight);
        float *yb = y + b * NGK_QK4_0;
        _mm256_storeu_ps(yb + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(yb + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(yb + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(yb + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}
#endif

void ngk_dequantize_q8_0(const uint8_t *src, float *y, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { dequantize_q8_0_avx2(src, y, n); return; }
#endif
    ngk_dequantize_q8_0_ref(src, y, n);
}

void ngk_dequantize_q4_0(const uint8_t *src, float *y, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { dequantize_q4_0_avx2(src, y, n); return; }
#endif
    ngk_dequantize_q4_0_ref(src, y, n);
}
