// Row kernels for the runtime ops: AVX2+FMA bodies behind target attributes, scalar twins.
#include "nextgpt_ops.h"
#include "nextgpt_kernels.h"

#include <math.h>

#if defined(__x86_64__) || defined(_M_X64)
#define NGO_X86 1
#include <immintrin.h>
#else
#define NGO_X86 0
#endif

// ---------------------------------------------------------------- scalar references

void ngo_rms_norm_row_ref(const float *x, const float *w, float *y, size_t n, float eps) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    float r = 1.0f / sqrtf(s / (float)n + eps);
    for (size_t i = 0; i < n; i++) y[i] = w ? w[i] * (x[i] * r) : x[i] * r;
}

void ngo_layer_norm_row_ref(const float *x, const float *w, const float *b, float *y, size_t n, float eps) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    float mean = (float)(s / (double)n);
    double v = 0;
    for (size_t i = 0; i < n; i++) { double d = x[i] - mean; v += d * d; }
    float r = 1.0f / sqrtf((float)(v / (double)n) + eps);
    for (size_t i = 0; i < n; i++) {
        float t = (x[i] - mean) * r;
        if (w) t *= w[i];
        if (b) t += b[i];
        y[i] = t;
    }
}

float ngo_exp_shift_row_ref(float *x, size_t n, float m) {
    float s = 0;
    for (size_t i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    return s;
}

float ngo_max_row_ref(const float *x, size_t n) {
    float m = x[0];
    for (size_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

void ngo_softmax_row_ref(float *x, size_t n) {
    if (n == 0) return;
    float m = ngo_max_row_ref(x, n);
    float s = ngo_exp_shift_row_ref(x, n, m);
    float r = 1.0f / s;
    for (size_t i = 0; i < n; i++) x[i] *= r;
}

void ngo_silu_row_ref(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void ngo_quick_gelu_row_ref(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void ngo_gelu_tanh_row_ref(const float *x, float *y, size_t n) {
    const float k = 0.7978845608028654f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void ngo_gelu_erf_row_ref(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}


#if NGO_X86
// ---------------------------------------------------------------- AVX2 bodies
#define NGO_AVX2 __attribute__((target("avx2,fma,f16c")))

NGO_AVX2 static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

NGO_AVX2 static inline float hmax8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_max_ps(lo, hi);
    lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

// exp(x) for f32 lanes: range reduction x = n ln2 + r (Cody-Waite), degree-7 polynomial on
// r in [-ln2/2, ln2/2], 2^n through the exponent bits (n = 128 as 2^127 · 2). Relative error
// ~2 ulp; below -87.34 → 0 (expf gives denormals there), above ln(FLT_MAX) → +inf.
NGO_AVX2 static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-87.3365478515625f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256 big = _mm256_cmp_ps(n, _mm256_set1_ps(127.5f), _CMP_GT_OQ);
    n = _mm256_sub_ps(n, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    y = _mm256_mul_ps(y, _mm256_blendv_ps(_mm256_set1_ps(1.0f), _mm256_set1_ps(2.0f), big));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over);
    return _mm256_andnot_ps(under, y);
}

NGO_AVX2 static void rms_norm_avx2(const float *x, const float *w, float *y, size_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { __m256 v = _mm256_loadu_ps(x + i); acc = _mm256_fmadd_ps(v, v, acc); }
    float s = hsum8(acc);
    for (; i < n; i++) s += x[i] * x[i];
    float r = 1.0f / sqrtf(s / (float)n + eps);
    __m256 rv = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), rv);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) y[i] = w ? w[i] * (x[i] * r) : x[i] * r;
}

NGO_AVX2 static void layer_norm_avx2(const float *x, const float *w, const float *b, float *y, size_t n, float eps) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
    float s = hsum8(acc);
    for (; i < n; i++) s += x[i];
    float mean = s / (float)n;
    __m256 mv = _mm256_set1_ps(mean);
    acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) { __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv); acc = _mm256_fmadd_ps(d, d, acc); }
    float v = hsum8(acc);
    for (; i < n; i++) { float d = x[i] - mean; v += d * d; }
    float r = 1.0f / sqrtf(v / (float)n + eps);
    __m256 rv = _mm256_set1_ps(r);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
        if (w) t = _mm256_mul_ps(t, _mm256_loadu_ps(w + i));
        if (b) t = _mm256_add_ps(t, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, t);
    }
    for (; i < n; i++) {
        float t = (x[i] - mean) * r;
        if (w) t *= w[i];
        if (b) t += b[i];
        y[i] = t;
    }
}

NGO_AVX2 static float exp_shift_avx2(float *x, size_t n, float m) {
    __m256 mv = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float s = hsum8(acc);
    for (; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    return s;
}

NGO_AVX2 static float max_avx2(const float *x, size_t n) {
    size_t i = 0;
    float m = x[0];
    if (n >= 8) {
        __m256 acc = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8) acc = _mm256_max_ps(acc, _mm256_loadu_ps(x + i));
        m = hmax8(acc);
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

NGO_AVX2 static void scale_avx2(float *x, size_t n, float a) {
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), av));
    for (; i < n; i++) x[i] *= a;
}

// y = x * sigmoid(k x) = x / (1 + exp(-k x))
NGO_AVX2 static void xsigmoid_avx2(const float *x, float *y, size_t n, float k) {
    const __m256 one = _mm256_set1_ps(1.0f), nk = _mm256_set1_ps(-k);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 e = exp8(_mm256_mul_ps(v, nk));
        _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-k * x[i]));
}

// 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u))
NGO_AVX2 static void gelu_tanh_avx2(const float *x, float *y, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), c = _mm256_set1_ps(0.044715f), k2 = _mm256_set1_ps(-2.0f * 0.7978845608028654f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = _mm256_fmadd_ps(_mm256_mul_ps(c, v), _mm256_mul_ps(v, v), v);
        __m256 e = exp8(_mm256_mul_ps(u, k2));
        _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    if (i < n) ngo_gelu_tanh_row_ref(x + i, y + i, n - i);
}

// 0.5 x (1 + erf(x/sqrt2)) with erf from Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7):
// erf(a) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-a^2), t = 1 / (1 + p a), a >= 0.
NGO_AVX2 static void gelu_erf_avx2(const float *x, float *y, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), rs2 = _mm256_set1_ps(0.70710678118654752f);
    const __m256 sign = _mm256_set1_ps(-0.0f), p = _mm256_set1_ps(0.3275911f);
    const __m256 a1 = _mm256_set1_ps(0.254829592f), a2 = _mm256_set1_ps(-0.284496736f), a3 = _mm256_set1_ps(1.421413741f);
    const __m256 a4 = _mm256_set1_ps(-1.453152027f), a5 = _mm256_set1_ps(1.061405429f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 z = _mm256_mul_ps(v, rs2);
        __m256 a = _mm256_andnot_ps(sign, z);
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(p, a, one));
        __m256 q = _mm256_fmadd_ps(a5, t, a4);
        q = _mm256_fmadd_ps(q, t, a3);
        q = _mm256_fmadd_ps(q, t, a2);
        q = _mm256_fmadd_ps(q, t, a1);
        q = _mm256_mul_ps(q, t);
        __m256 e = exp8(_mm256_mul_ps(_mm256_xor_ps(a, sign), a));
        __m256 erfa = _mm256_fnmadd_ps(q, e, one);
        __m256 erfz = _mm256_or_ps(erfa, _mm256_and_ps(z, sign));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erfz)));
    }
    if (i < n) ngo_gelu_erf_row_ref(x + i, y + i, n - i);
}
#endif

// ---------------------------------------------------------------- dispatch

void ngo_rms_norm_row(const float *x, const float *w, float *y, size_t n, float eps) {
#if NGO_X86
    if (ngk_use_avx2()) { rms_norm_avx2(x, w, y, n, eps); return; }
#endif
    ngo_rms_norm_row_ref(x, w, y, n, eps);
}

void ngo_layer_norm_row(const float *x, const float *w, const float *b, float *y, size_t n, float eps) {
#if NGO_X86
    if (ngk_use_avx2()) { layer_norm_avx2(x, w, b, y, n, eps); return; }
#endif
    ngo_layer_norm_row_ref(x, w, b, y, n, eps);
}

float ngo_exp_shift_row(float *x, size_t n, float m) {
#if NGO_X86
    if (ngk_use_avx2()) return exp_shift_avx2(x, n, m);
#endif
    return ngo_exp_shift_row_ref(x, n, m);
}

float ngo_max_row(const float *x, size_t n) {
#if NGO_X86
    if (ngk_use_avx2()) return max_avx2(x, n);
#endif
    return ngo_max_row_ref(x, n);
}

void ngo_softmax_row(float *x, size_t n) {
    if (n == 0) return;
#if NGO_X86
    if (ngk_use_avx2()) {
        float m = max_avx2(x, n);
        float s = exp_shift_avx2(x, n, m);
        scale_avx2(x, n, 1.0f / s);
        return;
    }
#endif
    ngo_softmax_row_ref(x, n);
}

void ngo_silu_row(const float *x, float *y, size_t n) {
#if NGO_X86
    if (ngk_use_avx2()) { xsigmoid_avx2(x, y, n, 1.0f); return; }
#endif
    ngo_silu_row_ref(x, y, n);
}

void ngo_quick_gelu_row(const float *x, float *y, size_t n) {
#if NGO_X86
    if (ngk_use_avx2()) { xsigmoid_avx2(x, y, n, 1.702f); return; }
#endif
    ngo_quick_gelu_row_ref(x, y, n);
}

void ngo_gelu_tanh_row(const float *x, float *y, size_t n) {
#if NGO_X86
    if (ngk_use_avx2()) { gelu_tanh_avx2(x, y, n); return; }
#endif
    ngo_gelu_tanh_row_ref(x, y, n);
}

void ngo_gelu_erf_row(const float *x, float *y, size_t n) {
#if NGO_X86
    if (ngk_use_avx2()) { gelu_erf_avx2(x, y, n); return; }
#endif
    ngo_gelu_erf_row_ref(x, y, n);
}
