// Activation quantization for the integer dot products: Q8_0 (ggml's AVX rounding) and Q8_K
// (ggml's quantize_row_q8_K_ref). The AVX2 bodies produce the same bytes as the scalar twins.
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#include "matmul_neon.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline void put_half(uint8_t *p, float v) {
    uint16_t h = ngk_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

// Round half to even, as ggml's nearest_int (|v| ≤ 2^22).
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

void ngk_quantize_act_q8_0_ref(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        uint8_t *block = dst + b * NGK_Q8_0_BYTES;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            float a = fabsf(xb[j]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        put_half(block, d);
        for (int j = 0; j < 32; j++) block[2 + j] = (uint8_t)(int8_t)nearest_int(xb[j] * id);
    }
}

static void q8_k_finish_block(uint8_t *block) {
    const int8_t *qs = (const int8_t *)(block + 4);
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int k = 0; k < 16; k++) s += qs[16 * j + k];
        int16_t s16 = (int16_t)s;
        memcpy(block + 260 + 2 * j, &s16, 2);
    }
}

void ngk_quantize_act_q8_k_ref(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        uint8_t *block = dst + b * NGK_Q8_K_BYTES;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < 256; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) { amax = ax; max = xb[j]; }
        }
        if (amax == 0.0f) {
            memset(block, 0, NGK_Q8_K_BYTES);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            int v = nearest_int(iscale * xb[j]);
            block[4 + j] = (uint8_t)(int8_t)(v < 127 ? v : 127);
        }
        float d = 1.0f / iscale;
        memcpy(block, &d, 4);
        q8_k_finish_block(block);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static inline float hmax_8(__m256 m) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// 32 int32 (values in int8 range) → 32 int8 in order.
__attribute__((target("avx2,fma,f16c")))
static inline __m256i pack_32(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
    __m256i p01 = _mm256_packs_epi32(q0, q1);
    __m256i p23 = _mm256_packs_epi32(q2, q3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// One Q8_0 block of 32 values: its scale d = amax / 127 (before f16 rounding) and its quants as
// four vectors of int32 (ggml's AVX rounding: x · 127/amax to nearest even).
__attribute__((target("avx2,fma,f16c")))
static inline float quantize_block_q8_0_avx2(const float *xb, __m256i q[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
    __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    float amax = hmax_8(m);
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 s = _mm256_set1_ps(id);
    q[0] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, s), RNE));
    q[1] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, s), RNE));
    q[2] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, s), RNE));
    q[3] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, s), RNE));
    return amax / 127.0f;
}

__attribute__((target("avx2,fma,f16c")))
static void quantize_act_q8_0_avx2(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        uint8_t *block = dst + b * NGK_Q8_0_BYTES;
        __m256i q[4];
        put_half(block, quantize_block_q8_0_avx2(x + 32 * b, q));
        _mm256_storeu_si256((__m256i *)(block + 2), pack_32(q[0], q[1], q[2], q[3]));
    }
}

// The split format in one pass: the quants written where they go, the f16-rounded scale widened
// in registers (F16C rounds to nearest even, as ngk_fp32_to_fp16), the block sum from the int32
// lanes before packing. Per block, the scalar twin's call, copies and 32-step sum cost as much as
// the quantization (SD's 512² loop: 2 % of a step).
__attribute__((target("avx2,fma,f16c")))
static void quantize_act_q8_0_split_avx2(const float *x, uint8_t *dst, size_t n) {
    const size_t nblk = n / 32;
    uint8_t *quants = dst, *scales = dst + nblk * 32, *sums = scales + nblk * 4;
    for (size_t b = 0; b < nblk; b++) {
        __m256i q[4];
        const float d = quantize_block_q8_0_avx2(x + 32 * b, q);
        const float widened = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(d), RNE)));
        memcpy(scales + 4 * b, &widened, 4);
        _mm256_storeu_si256((__m256i *)(quants + 32 * b), pack_32(q[0], q[1], q[2], q[3]));
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        const int32_t sum = _mm_cvtsi128_si32(h);
        memcpy(sums + 4 * b, &sum, 4);
    }
}

__attribute__((target("avx2,fma,f16c")))
static void quantize_act_q8_k_avx2(const float *x, uint8_t *dst, size_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        uint8_t *block = dst + b * NGK_Q8_K_BYTES;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
        float amax = hmax_8(m);
        if (amax == 0.0f) {
            memset(block, 0, NGK_Q8_K_BYTES);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < 256; j++) {
            if (fabsf(xb[j]) == amax) { max = xb[j]; break; }
        }
        const float iscale = -127.f / max;
        const __m256 s = _mm256_set1_ps(iscale);
        const __m256i hi = _mm256_set1_epi32(127);

        for (int j = 0; j < 256; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * k), s);
                q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_round_ps(v, RNE)), hi);
            }
            _mm256_storeu_si256((__m256i *)(block + 4 + j), pack_32(q[0], q[1], q[2], q[3]));
        }
        float d = 1.0f / iscale;
        memcpy(block, &d, 4);
        // bsums: 16-element sums of the int8 values.
        const int8_t *qs = (const int8_t *)(block + 4);
        for (int j = 0; j < 16; j++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(qs + 16 * j));
            __m256i w = _mm256_cvtepi8_epi16(v);
            __m256i s32 = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
            int16_t s16 = (int16_t)_mm_cvtsi128_si32(t);
            memcpy(block + 260 + 2 * j, &s16, 2);
        }
    }
}
#endif

void ngk_quantize_act_q8_0_split(const float *x, uint8_t *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { quantize_act_q8_0_split_avx2(x, dst, n); return; }
#endif
    ngk_quantize_act_q8_0_split_ref(x, dst, n);
}

void ngk_quantize_act_q8_0(const float *x, uint8_t *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { quantize_act_q8_0_avx2(x, dst, n); return; }
#elif defined(__aarch64__)
    quantize_act_q8_0_neon(x, dst, n);
    return;
#endif
    ngk_quantize_act_q8_0_ref(x, dst, n);
}

void ngk_quantize_act_q8_k(const float *x, uint8_t *dst, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { quantize_act_q8_k_avx2(x, dst, n); return; }
#endif
    ngk_quantize_act_q8_k_ref(x, dst, n);
}
