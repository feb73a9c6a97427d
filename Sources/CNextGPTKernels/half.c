// Half and bfloat16 conversions. The scalar versions are bit-exact references;
// the F16C versions use the same round-to-nearest-even and are dispatched at run time.
#include <string.h>
#include "nextgpt_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t ngk_fp32_to_fp16(float x) {
    uint32_t u = bits_of(x);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          // NaN -> quiet NaN
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         // overflow (rounds to >= 65520) -> inf
    if (absu < 0x38800000u) {                                           // result is subnormal or zero
        // Add 0.5 (as a float whose ulp is 2^-24) so the FPU rounds to nearest even for us.
        float f = float_of(absu) + 0.5f;
        return (uint16_t)(sign | (bits_of(f) - 0x3f000000u));
    }
    uint32_t mant_odd = (absu >> 13) & 1u;
    absu += 0xc8000fffu + mant_odd;                                     // re-bias exponent (-112 << 23) and round
    return (uint16_t)(sign | (absu >> 13));
}

float ngk_fp16_to_fp32(uint16_t h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        float f = (float)mant * (1.0f / 16777216.0f);                   // subnormal: mant * 2^-24, exact
        return float_of(bits_of(f) | sign);
    }
    if (exp == 31) return float_of(sign | 0x7f800000u | (mant << 13));
    return float_of(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t ngk_fp32_to_bf16(float x) {
    uint32_t u = bits_of(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float ngk_bf16_to_fp32(uint16_t h) { return float_of((uint32_t)h << 16); }

void ngk_fp16_to_fp32_row_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ngk_fp16_to_fp32(src[i]);
}

void ngk_fp32_to_fp16_row_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ngk_fp32_to_fp16(src[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c")))
static void fp16_to_fp32_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++) dst[i] = ngk_fp16_to_fp32(src[i]);
}

__attribute__((target("avx2,f16c")))
static void fp32_to_fp16_f16c(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) dst[i] = ngk_fp32_to_fp16(src[i]);
}

#endif

void ngk_fp16_to_fp32_row(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { fp16_to_fp32_f16c(src, dst, n); return; }
#endif
    ngk_fp16_to_fp32_row_ref(src, dst, n);
}

void ngk_fp32_to_fp16_row(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { fp32_to_fp16_f16c(src, dst, n); return; }
#endif
    ngk_fp32_to_fp16_row_ref(src, dst, n);
}

void ngk_bf16_to_fp32_row(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ngk_bf16_to_fp32(src[i]);
}

void ngk_fp32_to_bf16_row(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ngk_fp32_to_bf16(src[i]);
}
