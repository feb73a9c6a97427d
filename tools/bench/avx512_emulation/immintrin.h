// Stands in for <immintrin.h> when tools/bench/avx512_check.sh compiles the kernels: every x86
// intrinsic becomes SIMDe's portable version (Debian libsimde-dev), so the AVX-512 bodies run, slowly
// but with the instructions' results, on a CPU without AVX-512. Below: the few intrinsics the kernels
// use that SIMDe 0.7.4 lacks or rounds otherwise, written from Intel's descriptions of the instructions.
#ifndef NEXTGPT_AVX512_EMULATION_H
#define NEXTGPT_AVX512_EMULATION_H
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <simde/x86/fma.h>

#ifndef _MM_FROUND_TO_NEAREST_INT
#define _MM_FROUND_TO_NEAREST_INT SIMDE_MM_FROUND_TO_NEAREST_INT
#endif
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif
#ifndef _MM_FROUND_TO_ZERO
#define _MM_FROUND_TO_NEG_INF SIMDE_MM_FROUND_TO_NEG_INF
#define _MM_FROUND_TO_POS_INF SIMDE_MM_FROUND_TO_POS_INF
#define _MM_FROUND_TO_ZERO SIMDE_MM_FROUND_TO_ZERO
#endif

typedef simde__mmask8 __mmask8;
typedef simde__mmask16 __mmask16;

typedef union { float f[16]; int32_t i[16]; uint8_t b[64]; uint16_t h[32]; } emu512;
static inline emu512 emu_from_ps(__m512 v) { emu512 u; memcpy(&u, &v, 64); return u; }
static inline emu512 emu_from_si(__m512i v) { emu512 u; memcpy(&u, &v, 64); return u; }
static inline __m512 emu_ps(emu512 u) { __m512 v; memcpy(&v, &u, 64); return v; }
static inline __m512i emu_si(emu512 u) { __m512i v; memcpy(&v, &u, 64); return v; }

// IEEE binary16 ↔ binary32, round to nearest even (vcvtph2ps is exact; vcvtps2ph with rounding 0).
static inline float emu_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (man == 0) bits = sign;
    else { float f = ldexpf((float)man, -24); memcpy(&bits, &f, 4); bits |= sign; }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static inline uint16_t emu_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);
    if (ax >= 0x477ff000u) return sign | 0x7c00;  // rounds to ≥ 65520: infinity
    if (ax < 0x38800000u) {                          // below 2^-14: a subnormal half (or zero)
        const float scaled = fabsf(f) * 16777216.0f; // units of 2^-24, exact in float
        return sign | (uint16_t)nearbyintf(scaled);
    }
    const uint32_t lsb = (ax >> 13) & 1, rounded = ax + 0xfff + lsb;
    return sign | (uint16_t)((rounded - 0x38000000u) >> 13);
}

static inline float _cvtsh_ss(unsigned short h) { return emu_half_to_float(h); }
#define _cvtss_sh(f, rounding) emu_float_to_half(f)

#undef _mm512_cvtph_ps
static inline __m512 _mm512_cvtph_ps(__m256i a) {
    uint16_t h[16];
    memcpy(h, &a, 32);
    emu512 r;
    for (int i = 0; i < 16; i++) r.f[i] = emu_half_to_float(h[i]);
    return emu_ps(r);
}
#undef _mm512_cvtps_ph
static inline __m256i emu_mm512_cvtps_ph(__m512 a) {
    const emu512 u = emu_from_ps(a);
    uint16_t h[16];
    for (int i = 0; i < 16; i++) h[i] = emu_float_to_half(u.f[i]);
    __m256i r;
    memcpy(&r, h, 32);
    return r;
}
#define _mm512_cvtps_ph(a, rounding) emu_mm512_cvtps_ph(a)

#undef _mm512_cvt_roundps_epi32
static inline float emu_round_mode(float x, int rounding) {
    switch (rounding & ~_MM_FROUND_NO_EXC) {
    case _MM_FROUND_TO_NEG_INF: return floorf(x);
    case _MM_FROUND_TO_POS_INF: return ceilf(x);
    case _MM_FROUND_TO_ZERO: return truncf(x);
    default: return nearbyintf(x);  // to nearest even, or the current mode (nearest in the kernels)
    }
}
static inline __m512i emu_mm512_cvt_roundps_epi32(__m512 a, int rounding) {
    const emu512 u = emu_from_ps(a);
    emu512 r;
    for (int i = 0; i < 16; i++) {
        const float v = emu_round_mode(u.f[i], rounding);
        r.i[i] = (v >= 2147483648.0f || v < -2147483648.0f || v != v) ? INT32_MIN : (int32_t)v;
    }
    return emu_si(r);
}
#define _mm512_cvt_roundps_epi32(a, rounding) emu_mm512_cvt_roundps_epi32(a, rounding)

// SIMDe 0.7.4 rounds halves away from zero here (roundf) for _MM_FROUND_TO_NEAREST_INT; vroundps
// rounds them to even, as nearbyintf in the default rounding mode (the other modes: SIMDe's).
static inline __m256 emu_mm256_round_nearest_ps(__m256 a) {
    float f[8];
    memcpy(f, &a, 32);
    for (int i = 0; i < 8; i++) f[i] = nearbyintf(f[i]);
    __m256 r;
    memcpy(&r, f, 32);
    return r;
}
#undef _mm256_round_ps
#define _mm256_round_ps(a, rounding) \
    (((rounding) & ~_MM_FROUND_NO_EXC) == _MM_FROUND_TO_NEAREST_INT ? emu_mm256_round_nearest_ps(a) : simde_mm256_round_ps(a, rounding))

#undef _mm512_cvtepi32_ps
static inline __m512 _mm512_cvtepi32_ps(__m512i a) {
    const emu512 u = emu_from_si(a);
    emu512 r;
    for (int i = 0; i < 16; i++) r.f[i] = (float)u.i[i];
    return emu_ps(r);
}
#undef _mm512_cvtepi32_epi8
static inline __m128i _mm512_cvtepi32_epi8(__m512i a) {
    const emu512 u = emu_from_si(a);
    int8_t b[16];
    for (int i = 0; i < 16; i++) b[i] = (int8_t)u.i[i];
    __m128i r;
    memcpy(&r, b, 16);
    return r;
}
#undef _mm512_cvtepu8_epi32
static inline __m512i _mm512_cvtepu8_epi32(__m128i a) {
    uint8_t b[16];
    memcpy(b, &a, 16);
    emu512 r;
    for (int i = 0; i < 16; i++) r.i[i] = b[i];
    return emu_si(r);
}
#undef _mm512_cvtepu8_epi16
static inline __m512i _mm512_cvtepu8_epi16(__m256i a) {
    uint8_t b[32];
    memcpy(b, &a, 32);
    emu512 r;
    for (int i = 0; i < 32; i++) r.h[i] = b[i];
    return emu_si(r);
}

#undef _mm512_mask_storeu_ps
static inline void _mm512_mask_storeu_ps(void *p, __mmask16 k, __m512 a) {
    const emu512 u = emu_from_ps(a);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy((float *)p + i, &u.f[i], 4);
}
#undef _mm512_maskz_loadu_ps
static inline __m512 _mm512_maskz_loadu_ps(__mmask16 k, const void *p) {
    emu512 r;
    for (int i = 0; i < 16; i++) {
        r.f[i] = 0.0f;
        if (k >> i & 1) memcpy(&r.f[i], (const float *)p + i, 4);
    }
    return emu_ps(r);
}
#undef _mm512_mask_i32gather_ps
static inline __m512 emu_mm512_mask_i32gather_ps(__m512 src, __mmask16 k, __m512i index, const void *base, int scale) {
    emu512 r = emu_from_ps(src);
    const emu512 idx = emu_from_si(index);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.f[i], (const char *)base + (ptrdiff_t)idx.i[i] * scale, 4);
    return emu_ps(r);
}
#define _mm512_mask_i32gather_ps(src, k, index, base, scale) emu_mm512_mask_i32gather_ps(src, k, index, base, scale)

// Halves, then quarters, then pairs, as the compilers' reduction sequences do.
#undef _mm512_reduce_add_ps
static inline float _mm512_reduce_add_ps(__m512 a) {
    emu512 u = emu_from_ps(a);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) u.f[i] = u.f[i] + u.f[i + w];
    return u.f[0];
}
#undef _mm512_reduce_max_ps
static inline float _mm512_reduce_max_ps(__m512 a) {
    emu512 u = emu_from_ps(a);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) u.f[i] = u.f[i] > u.f[i + w] ? u.f[i] : u.f[i + w];
    return u.f[0];
}
// FMA: SIMDe 0.7.4 computes a·b + c with two roundings; the instructions round once (fmaf).
#define EMU_FMA_PS(name, type, n, expr) \
    static inline type emu_##name(type a, type b, type c) { \
        float x[n], y[n], z[n]; memcpy(x, &a, sizeof a); memcpy(y, &b, sizeof b); memcpy(z, &c, sizeof c); \
        for (int i = 0; i < n; i++) x[i] = expr; \
        memcpy(&a, x, sizeof a); return a; }
EMU_FMA_PS(mm512_fmadd_ps, __m512, 16, fmaf(x[i], y[i], z[i]))
EMU_FMA_PS(mm512_fnmadd_ps, __m512, 16, fmaf(-x[i], y[i], z[i]))
EMU_FMA_PS(mm256_fmadd_ps, __m256, 8, fmaf(x[i], y[i], z[i]))
EMU_FMA_PS(mm256_fnmadd_ps, __m256, 8, fmaf(-x[i], y[i], z[i]))
EMU_FMA_PS(mm_fmadd_ps, __m128, 4, fmaf(x[i], y[i], z[i]))
static inline __m256d emu_mm256_fmadd_pd(__m256d a, __m256d b, __m256d c) {
    double x[4], y[4], z[4]; memcpy(x, &a, 32); memcpy(y, &b, 32); memcpy(z, &c, 32);
    for (int i = 0; i < 4; i++) x[i] = fma(x[i], y[i], z[i]);
    memcpy(&a, x, 32); return a; }
#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps emu_mm512_fmadd_ps
#undef _mm512_fnmadd_ps
#define _mm512_fnmadd_ps emu_mm512_fnmadd_ps
#undef _mm256_fmadd_ps
#define _mm256_fmadd_ps emu_mm256_fmadd_ps
#undef _mm256_fnmadd_ps
#define _mm256_fnmadd_ps emu_mm256_fnmadd_ps
#undef _mm_fmadd_ps
#define _mm_fmadd_ps emu_mm_fmadd_ps
#undef _mm256_fmadd_pd
#define _mm256_fmadd_pd emu_mm256_fmadd_pd
#endif
