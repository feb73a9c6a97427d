// Mean and variance of a span of floats in double precision (GroupNorm statistics). The scalar
// twin adds in order; the AVX2 body keeps 8 double accumulators, so a long span is not bound by
// the latency of one dependent add per element.
#include <immintrin.h>
#include "nextgpt_kernels.h"
#include "nextgpt_ops.h"

void ngo_mean_var_ref(const float *x, size_t n, double *mean, double *variance) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    const double m = n ? sum / (double)n : 0;
    double squares = 0;
    for (size_t i = 0; i < n; i++) { const double d = x[i] - m; squares += d * d; }
    *mean = m;
    *variance = n ? squares / (double)n : 0;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void mean_var_avx2(const float *x, size_t n, double *mean, double *variance) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) sum += x[i];
    const double m = n ? sum / (double)n : 0;
    const __m256d mv = _mm256_set1_pd(m);
    __m256d q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), mv);
        const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), mv);
        q0 = _mm256_fmadd_pd(d0, d0, q0);
        q1 = _mm256_fmadd_pd(d1, d1, q1);
    }
    _mm256_storeu_pd(lanes, _mm256_add_pd(q0, q1));
    double squares = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) { const double d = x[i] - m; squares += d * d; }
    *mean = m;
    *variance = n ? squares / (double)n : 0;
}
#endif

void ngo_mean_var(const float *x, size_t n, double *mean, double *variance) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { mean_var_avx2(x, n, mean, variance); return; }
#endif
    ngo_mean_var_ref(x, n, mean, variance);
}
