// Row kernels under the runtime ops (Sources/NextGPTRuntime/Ops). Each SIMD entry point dispatches
// on ngk_use_avx2() and has a scalar reference twin (suffix _ref) that tests compare against.
#ifndef NEXTGPT_OPS_H
#define NEXTGPT_OPS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// y[i] = x[i] * (1 / sqrt(mean(x^2) + eps)) * w[i]  (HF LlamaRMSNorm, f32). w may be NULL (no scale).
void ngo_rms_norm_row(const float *x, const float *w, float *y, size_t n, float eps);
void ngo_rms_norm_row_ref(const float *x, const float *w, float *y, size_t n, float eps);

// y = (x - mean) / sqrt(var + eps) * w + b (biased variance). w and b may be NULL.
void ngo_layer_norm_row(const float *x, const float *w, const float *b, float *y, size_t n, float eps);
void ngo_layer_norm_row_ref(const float *x, const float *w, const float *b, float *y, size_t n, float eps);

// x[i] = exp(x[i] - m) in place; returns the sum of the new values (accumulated in f32 lanes).
float ngo_exp_shift_row(float *x, size_t n, float m);
float ngo_exp_shift_row_ref(float *x, size_t n, float m);

// Stable softmax of one row in place.
void ngo_softmax_row(float *x, size_t n);
void ngo_softmax_row_ref(float *x, size_t n);

// Max of a row (n >= 1).
float ngo_max_row(const float *x, size_t n);
float ngo_max_row_ref(const float *x, size_t n);

// Elementwise activations, y may equal x.
void ngo_silu_row(const float *x, float *y, size_t n);                 // x * sigmoid(x)
void ngo_silu_row_ref(const float *x, float *y, size_t n);
void ngo_quick_gelu_row(const float *x, float *y, size_t n);           // x * sigmoid(1.702 x)
void ngo_quick_gelu_row_ref(const float *x, float *y, size_t n);
void ngo_gelu_tanh_row(const float *x, float *y, size_t n);            // 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
void ngo_gelu_tanh_row_ref(const float *x, float *y, size_t n);
void ngo_gelu_erf_row(const float *x, float *y, size_t n);             // 0.5 x (1 + erf(x / sqrt 2)); AVX2: A&S 7.1.26 erf, |erf error| <= 1.5e-7
void ngo_gelu_erf_row_ref(const float *x, float *y, size_t n);

#ifdef __cplusplus
}
#endif
#endif
