// Row kernels under the runtime ops (Sources/NextGPTRuntime/Ops). Each SIMD entry point dispatches
// on ngk_use_avx2() and has a scalar reference twin (suffix _ref) that tests compare against.
#ifndef NEXTGPT_OPS_H
#define NEXTGPT_OPS_H

#include <stddef.h>
#include <stdint.h>

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

// One query row over n cached keys/values (rows ldk/ldv floats apart): scores = alpha * q·k_j,
// softmax, out[dv] = sum_j p_j v_j. `scores` is n floats of scratch (attention_rows.c).
void ngo_attend_row(const float *q, const float *k, size_t ldk, const float *v, size_t ldv, size_t n,
                    size_t d, size_t dv, float alpha, float *scores, float *out);
void ngo_attend_row_ref(const float *q, const float *k, size_t ldk, const float *v, size_t ldv, size_t n,
                        size_t d, size_t dv, float alpha, float *scores, float *out);
// The same over an f16 cache (IEEE binary16 keys/values, ldk/ldv in halves), widened to f32 as
// they are read, so a token reads half the bytes (attention_rows_f16.c). The plain name is the
// AVX2+F16C body, _avx512 the AVX-512F one (16 lanes; the AVX2 body where the CPU lacks it).
void ngo_attend_row_f16(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv, size_t n,
                        size_t d, size_t dv, float alpha, float *scores, float *out);
void ngo_attend_row_f16_avx512(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv, size_t n,
                               size_t d, size_t dv, float alpha, float *scores, float *out);
void ngo_attend_row_f16_ref(const float *q, const uint16_t *k, size_t ldk, const uint16_t *v, size_t ldv, size_t n,
                            size_t d, size_t dv, float alpha, float *scores, float *out);
// `heads` consecutive query heads of one row (q [heads, d], out [heads, dv], scores heads * n
// floats), head i over kv head (first + i) / group (k, v point at kv head 0 of position 0). The
// cache is read position by position: one position's slices for these heads are contiguous, so
// it streams front to back instead of one head's 256 bytes per 8 KiB row (7B). Each head's output
// is bit-identical to ngo_attend_row_f16* of the same level.
void ngo_attend_heads_f16(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k, size_t ldk,
                          const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                          float *out);
void ngo_attend_heads_f16_avx512(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k, size_t ldk,
                                 const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                                 float *out);
void ngo_attend_heads_f16_ref(const float *q, size_t heads, size_t first, size_t group, const uint16_t *k, size_t ldk,
                              const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                              float *out);
// Decode over a long cache split by positions (flash-decoding): one part of a row's positions,
// all `heads` query heads (head h over kv head h / group; k, v at kv head 0 of the part's first
// position), reading whole cache rows. Leaves per head the scores' max m[h], l[h] = sum of
// exp(s - m[h]) and the unnormalised o[h][dv] = sum_j exp(s_j - m[h]) v_j; scores: heads * n.
void ngo_attend_part_f16(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk, const uint16_t *v,
                         size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l, float *o);
void ngo_attend_part_f16_avx512(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk,
                                const uint16_t *v, size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores,
                                float *m, float *l, float *o);
void ngo_attend_part_f16_ref(const float *q, size_t heads, size_t group, const uint16_t *k, size_t ldk, const uint16_t *v,
                             size_t ldv, size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l,
                             float *o);
// The same over an f32 cache (AVX2 body and scalar twin; attention_rows.c).
void ngo_attend_part(const float *q, size_t heads, size_t group, const float *k, size_t ldk, const float *v, size_t ldv,
                     size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l, float *o);
void ngo_attend_part_ref(const float *q, size_t heads, size_t group, const float *k, size_t ldk, const float *v, size_t ldv,
                         size_t n, size_t d, size_t dv, float alpha, float *scores, float *m, float *l, float *o);
// out[h][dv] = sum_p e^(m_p - M) o_p / sum_p e^(m_p - M) l_p over `parts` parts ([part][head] order).
void ngo_attend_merge_parts(size_t parts, size_t heads, size_t dv, const float *m, const float *l, const float *o, float *out);

// Elementwise activations, y may equal x.
void ngo_silu_row(const float *x, float *y, size_t n);                 // x * sigmoid(x)
void ngo_silu_row_ref(const float *x, float *y, size_t n);
void ngo_quick_gelu_row(const float *x, float *y, size_t n);           // x * sigmoid(1.702 x)
void ngo_quick_gelu_row_ref(const float *x, float *y, size_t n);
void ngo_gelu_tanh_row(const float *x, float *y, size_t n);            // 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
void ngo_gelu_tanh_row_ref(const float *x, float *y, size_t n);
void ngo_gelu_erf_row(const float *x, float *y, size_t n);             // 0.5 x (1 + erf(x / sqrt 2)); AVX2: A&S 7.1.26 erf, |erf error| <= 1.5e-7
void ngo_gelu_erf_row_ref(const float *x, float *y, size_t n);

// Mean and (biased) variance of n floats, accumulated in double (GroupNorm statistics).
void ngo_mean_var(const float *x, size_t n, double *mean, double *variance);
void ngo_mean_var_ref(const float *x, size_t n, double *mean, double *variance);

// Winograd F(4x4, 3x3) transforms for stride-1, padding-1 3x3 convolutions (winograd.c).
// Tiles are the 4x4 output blocks of an H x W plane, row-major, ceil(H/4) x ceil(W/4) of them.
// Floats from one of the 36 planes of transformed tiles or products ([channels][ld] each) to the
// next: a cache line more than the plane, so the 36 stores of one tile group do not all land in
// one cache set (planes of 2^k bytes would, and 36 lines thrash an 8-way L1 and L2).
static inline size_t ngk_winograd43_plane(size_t channels, size_t ld) { return channels * ld + 16; }
// Weights [O][C][3][3] -> u [36][O][C], for the (o, c) pairs begin..<end of the O*C (row-major):
// the G-matrix form, kept as the tests' independent reference for ngk_winograd43_weight_rows.
void ngk_winograd43_weights(const float *w, size_t out_channels, size_t in_channels, size_t begin, size_t end, float *u);
// Rows of a kernel f32 [rows][in_channels][3][3], row r at w + r·ld_w, into the Winograd domain
// u[k * ld_k + r * ld_r + c] (k = 6i + j): a whole kernel ([36, O, C]: ld_w = 9·C, ld_k = O·C,
// ld_r = C), a block of output channels into scratch, or a slice of their input channels
// (w advanced to the slice's first channel, ld_w still 9·C). _ref is the per-pair twin.
void ngk_winograd43_weight_rows(const float *w, size_t ld_w, size_t rows, size_t in_channels, float *u, size_t ld_k,
                                size_t ld_r);
void ngk_winograd43_weight_rows_ref(const float *w, size_t ld_w, size_t rows, size_t in_channels, float *u, size_t ld_k,
                                    size_t ld_r);
// Input planes [C][H][W] (channels channel_begin..<channel_end of `channels`), tiles
// tile_begin..<tile_begin+tile_count -> columns 0..<tile_count of v: 36 planes [channels][ld],
// ngk_winograd43_plane(channels, ld) floats apart.
void ngk_winograd43_input(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                          size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld);
// The same for the plane a nearest x2^up upsampling of x gives (F.interpolate(x, scale_factor=2^up,
// mode="nearest"), never made): x is [C][H >> up][W >> up]; height, width are the upsampled
// plane's, multiples of 2^up. up = 0 is ngk_winograd43_input.
void ngk_winograd43_input_nearest(const float *x, size_t up, size_t height, size_t width, size_t channel_begin,
                                  size_t channel_end, size_t channels, size_t tile_begin, size_t tile_count, float *v,
                                  size_t ld);
// Columns 0..<tile_count of products m (36 planes [channels][ld], laid out as v) -> output planes y [channels][H][W]
// (+ bias[o], may be NULL).
void ngk_winograd43_output(const float *m, size_t ld, size_t channel_begin, size_t channel_end, size_t channels,
                           size_t tile_begin, size_t tile_count, size_t height, size_t width,
                           const float *bias, float *y);
// Scalar twins (one tile at a time).
void ngk_winograd43_input_ref(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                              size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld);
void ngk_winograd43_input_nearest_ref(const float *x, size_t up, size_t height, size_t width, size_t channel_begin,
                                      size_t channel_end, size_t channels, size_t tile_begin, size_t tile_count, float *v,
                                      size_t ld);
void ngk_winograd43_output_ref(const float *m, size_t ld, size_t channel_begin, size_t channel_end, size_t channels,
                               size_t tile_begin, size_t tile_count, size_t height, size_t width,
                               const float *bias, float *y);

#ifdef __cplusplus
}
#endif
#endif
