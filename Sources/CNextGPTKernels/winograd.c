// Winograd F(4×4, 3×3) transforms for stride-1, padding-1 3×3 convolutions (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015). A 6×6 input patch d and a 3×3
// kernel g give a 4×4 output tile Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A: 36 multiplies per tile and
// channel pair instead of 144. The 36 element-wise products over channels are 36 independent
// GEMMs [O × C]·[C × tiles], which the caller runs with BLAS; these functions only transform.
#include "nextgpt_kernels.h"
#include "nextgpt_ops.h"

// G (6×3), interpolation points 0, ±1, ±2, ∞.
static const float G[6][3] = {
    {1.0f / 4, 0, 0},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6},
    {1.0f / 24, -1.0f / 12, 1.0f / 6},
    {0, 0, 1},
};

void ngk_winograd43_weights(const float *w, size_t out_channels, size_t in_channels, size_t begin, size_t end, float *u) {
    const size_t plane = out_channels * in_channels;
    for (size_t oc = begin; oc < end && oc < plane; oc++) {
        const float *g = w + oc * 9;
        float t[6][3];  // G g
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = G[i][0] * g[0 * 3 + j] + G[i][1] * g[1 * 3 + j] + G[i][2] * g[2 * 3 + j];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                u[(size_t)(i * 6 + j) * plane + oc] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
    }
}

// G applied to 3 taps: the same arithmetic in the per-pair twin and the lanes body.
#define NGW_KERNEL_1D(a, b, c, o0, o1, o2, o3, o4, o5)                  \
    do {                                                                  \
        const float ac_ = (a) + (c), b_ = (b);                            \
        const float outer_ = (a) * (1.0f / 24) + (c) * (1.0f / 6);        \
        const float inner_ = b_ * (1.0f / 12);                            \
        o0 = (a) * (1.0f / 4);                                            \
        o1 = (ac_ + b_) * (-1.0f / 6);                                    \
        o2 = (ac_ - b_) * (-1.0f / 6);                                    \
        o3 = outer_ + inner_;                                             \
        o4 = outer_ - inner_;                                             \
        o5 = (c);                                                         \
    } while (0)

void ngk_winograd43_weight_rows_ref(const float *w, size_t ld_w, size_t rows, size_t in_channels, float *u, size_t ld_k,
                                    size_t ld_r) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < in_channels; c++) {
            const float *g = w + r * ld_w + c * 9;
            float t[6][3];  // G g
            for (int j = 0; j < 3; j++)
                NGW_KERNEL_1D(g[j], g[3 + j], g[6 + j], t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]);
            for (int i = 0; i < 6; i++) {  // (G g) Gᵀ, row i
                float *o = u + (size_t)(i * 6) * ld_k + r * ld_r + c;
                NGW_KERNEL_1D(t[i][0], t[i][1], t[i][2], o[0], o[ld_k], o[2 * ld_k], o[3 * ld_k], o[4 * ld_k], o[5 * ld_k]);
            }
        }
}

// Bᵀ applied to 6 values spaced by `s` (a column or a row of the patch).
static inline void input_1d(const float *d, size_t s, float *o, size_t os) {
    const float d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    o[0] = 4 * d0 - 5 * d2 + d4;
    o[os] = -4 * d1 - 4 * d2 + d3 + d4;
    o[2 * os] = 4 * d1 - 4 * d2 - d3 + d4;
    o[3 * os] = -2 * d1 - d2 + 2 * d3 + d4;
    o[4 * os] = 2 * d1 - d2 - 2 * d3 + d4;
    o[5 * os] = 4 * d1 - 5 * d3 + d5;
}

void ngk_winograd43_input_ref(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                              size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld) {
    ngk_winograd43_input_nearest_ref(x, 0, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
}

void ngk_winograd43_input_nearest_ref(const float *x, size_t up, size_t height, size_t width, size_t channel_begin,
                                      size_t channel_end, size_t channels, size_t tile_begin, size_t tile_count, float *v,
                                      size_t ld) {
    const size_t tiles_wide = (width + 3) / 4;
    const size_t stride_k = ngk_winograd43_plane(channels, ld);
    const size_t source_width = width >> up;
    for (size_t c = channel_begin; c < channel_end; c++) {
        const float *plane = x + c * (height >> up) * source_width;
        for (size_t t = 0; t < tile_count; t++) {
            const size_t tile = tile_begin + t;
            const long y0 = (long)(tile / tiles_wide) * 4 - 1, x0 = (long)(tile % tiles_wide) * 4 - 1;
            float d[36], tmp[36];
            for (int i = 0; i < 6; i++) {
                const long yy = y0 + i;
                for (int j = 0; j < 6; j++) {
                    const long xx = x0 + j;
                    d[i * 6 + j] = (yy >= 0 && yy < (long)height && xx >= 0 && xx < (long)width)
                        ? plane[(size_t)(yy >> up) * source_width + (size_t)(xx >> up)] : 0.0f;
                }
            }
            for (int j = 0; j < 6; j++) input_1d(d + j, 6, tmp + j, 6);          // Bᵀ d (columns)
            float out[36];
            for (int i = 0; i < 6; i++) input_1d(tmp + i * 6, 1, out + i * 6, 1);  // (Bᵀ d) B (rows)
            float *dst = v + c * ld + t;
            for (int k = 0; k < 36; k++) dst[k * stride_k] = out[k];
        }
    }
}

// Aᵀ applied to 6 values spaced by `s`.
static inline void output_1d(const float *m, size_t s, float *o, size_t os) {
    const float m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
    o[0] = m0 + m1 + m2 + m3 + m4;
    o[os] = m1 - m2 + 2 * m3 - 2 * m4;
    o[2 * os] = m1 + m2 + 4 * m3 + 4 * m4;
    o[3 * os] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
}

void ngk_winograd43_output_ref(const float *m, size_t ld, size_t channel_begin, size_t channel_end, size_t channels,
                               size_t tile_begin, size_t tile_count, size_t height, size_t width,
                               const float *bias, float *y) {
    const size_t tiles_wide = (width + 3) / 4;
    const size_t stride_k = ngk_winograd43_plane(channels, ld);
    for (size_t o = channel_begin; o < channel_end; o++) {
        float *plane = y + o * height * width;
        const float shift = bias ? bias[o] : 0.0f;
        for (size_t t = 0; t < tile_count; t++) {
            const size_t tile = tile_begin + t;
            const size_t y0 = (tile / tiles_wide) * 4, x0 = (tile % tiles_wide) * 4;
            const float *src = m + o * ld + t;
            float a[36], tmp[24], out[16];
            for (int k = 0; k < 36; k++) a[k] = src[k * stride_k];
            for (int j = 0; j < 6; j++) output_1d(a + j, 6, tmp + j, 6);          // Aᵀ m: 4×6
            for (int i = 0; i < 4; i++) output_1d(tmp + i * 6, 1, out + i * 4, 1);  // (Aᵀ m) A: 4×4
            for (int i = 0; i < 4 && y0 + i < height; i++)
                for (int j = 0; j < 4 && x0 + j < width; j++)
                    plane[(y0 + i) * width + x0 + j] = out[i * 4 + j] + shift;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Eight tiles at a time: every transform step is the same arithmetic on 8 lanes, which the
// compiler turns into one AVX2 instruction per step; the per-tile functions above are the
// scalar twins the tests compare with.
#define LANES 8

// `up`: the plane is read as its nearest ×2^up upsampling (height, width are the upsampled
// plane's), a constant at every call so the plain case compiles as if it were not there.
static inline __attribute__((always_inline)) void input_lanes(const float *plane, size_t up, size_t height, size_t width,
                                                              size_t tiles_wide, size_t tile, size_t lanes,
                                                              float *dst, size_t stride_k) {
    const size_t source_width = width >> up;
    float d[36][LANES], t[36][LANES], o[36][LANES];
    for (size_t l = 0; l < LANES; l++) {
        const size_t tl = tile + (l < lanes ? l : 0);
        const long y0 = (long)(tl / tiles_wide) * 4 - 1, x0 = (long)(tl % tiles_wide) * 4 - 1;
        const int inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= (long)height && x0 + 6 <= (long)width;
        for (int i = 0; i < 6; i++) {
            const long yy = y0 + i;
            const float *line = plane + (yy >> up) * (long)source_width;
            for (int j = 0; j < 6; j++) {
                const long xx = x0 + j;
                d[i * 6 + j][l] = inside || (yy >= 0 && yy < (long)height && xx >= 0 && xx < (long)width) ? line[xx >> up] : 0.0f;
            }
        }
    }
    for (int j = 0; j < 6; j++) {  // Bᵀ d, column j
        for (size_t l = 0; l < LANES; l++) {
            const float d0 = d[0 * 6 + j][l], d1 = d[1 * 6 + j][l], d2 = d[2 * 6 + j][l];
            const float d3 = d[3 * 6 + j][l], d4 = d[4 * 6 + j][l], d5 = d[5 * 6 + j][l];
            t[0 * 6 + j][l] = 4 * d0 - 5 * d2 + d4;
            t[1 * 6 + j][l] = -4 * d1 - 4 * d2 + d3 + d4;
            t[2 * 6 + j][l] = 4 * d1 - 4 * d2 - d3 + d4;
            t[3 * 6 + j][l] = -2 * d1 - d2 + 2 * d3 + d4;
            t[4 * 6 + j][l] = 2 * d1 - d2 - 2 * d3 + d4;
            t[5 * 6 + j][l] = 4 * d1 - 5 * d3 + d5;
        }
    }
    for (int i = 0; i < 6; i++) {  // (Bᵀ d) B, row i
        for (size_t l = 0; l < LANES; l++) {
            const float d0 = t[i * 6 + 0][l], d1 = t[i * 6 + 1][l], d2 = t[i * 6 + 2][l];
            const float d3 = t[i * 6 + 3][l], d4 = t[i * 6 + 4][l], d5 = t[i * 6 + 5][l];
            o[i * 6 + 0][l] = 4 * d0 - 5 * d2 + d4;
            o[i * 6 + 1][l] = -4 * d1 - 4 * d2 + d3 + d4;
            o[i * 6 + 2][l] = 4 * d1 - 4 * d2 - d3 + d4;
            o[i * 6 + 3][l] = -2 * d1 - d2 + 2 * d3 + d4;
            o[i * 6 + 4][l] = 2 * d1 - d2 - 2 * d3 + d4;
            o[i * 6 + 5][l] = 4 * d1 - 5 * d3 + d5;
        }
    }
    for (int k = 0; k < 36; k++)
        for (size_t l = 0; l < lanes; l++) dst[k * stride_k + l] = o[k][l];
}

static inline __attribute__((always_inline)) void input_body(const float *x, size_t up, size_t height, size_t width,
                                                             size_t channel_begin, size_t channel_end, size_t channels,
                                                             size_t tile_begin, size_t tile_count, float *v, size_t ld) {
    const size_t tiles_wide = (width + 3) / 4;
    const size_t source_plane = (height >> up) * (width >> up);
    for (size_t c = channel_begin; c < channel_end; c++)
        for (size_t t = 0; t < tile_count; t += LANES) {
            const size_t lanes = tile_count - t < LANES ? tile_count - t : LANES;
            input_lanes(x + c * source_plane, up, height, width, tiles_wide, tile_begin + t, lanes, v + c * ld + t,
                        ngk_winograd43_plane(channels, ld));
        }
}

static inline __attribute__((always_inline)) void output_lanes(const float *src, size_t stride_k, size_t lanes, size_t tiles_wide,
                                                               size_t tile, size_t height, size_t width, float shift,
                                                               float *plane) {
    float a[36][LANES], t[24][LANES], o[16][LANES];
    for (int k = 0; k < 36; k++)
        for (size_t l = 0; l < LANES; l++) a[k][l] = l < lanes ? src[k * stride_k + l] : 0.0f;
    for (int j = 0; j < 6; j++) {  // Aᵀ m, column j
        for (size_t l = 0; l < LANES; l++) {
            const float m0 = a[0 * 6 + j][l], m1 = a[1 * 6 + j][l], m2 = a[2 * 6 + j][l];
            const float m3 = a[3 * 6 + j][l], m4 = a[4 * 6 + j][l], m5 = a[5 * 6 + j][l];
            t[0 * 6 + j][l] = m0 + m1 + m2 + m3 + m4;
            t[1 * 6 + j][l] = m1 - m2 + 2 * m3 - 2 * m4;
            t[2 * 6 + j][l] = m1 + m2 + 4 * m3 + 4 * m4;
            t[3 * 6 + j][l] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
        }
    }
    for (int i = 0; i < 4; i++) {  // (Aᵀ m) A, row i
        for (size_t l = 0; l < LANES; l++) {
            const float m0 = t[i * 6 + 0][l], m1 = t[i * 6 + 1][l], m2 = t[i * 6 + 2][l];
            const float m3 = t[i * 6 + 3][l], m4 = t[i * 6 + 4][l], m5 = t[i * 6 + 5][l];
            o[i * 4 + 0][l] = m0 + m1 + m2 + m3 + m4 + shift;
            o[i * 4 + 1][l] = m1 - m2 + 2 * m3 - 2 * m4 + shift;
            o[i * 4 + 2][l] = m1 + m2 + 4 * m3 + 4 * m4 + shift;
            o[i * 4 + 3][l] = m1 - m2 + 8 * m3 - 8 * m4 + m5 + shift;
        }
    }
    for (size_t l = 0; l < lanes; l++) {
        const size_t tl = tile + l;
        const size_t y0 = (tl / tiles_wide) * 4, x0 = (tl % tiles_wide) * 4;
        for (int i = 0; i < 4 && y0 + i < height; i++)
            for (int j = 0; j < 4 && x0 + j < width; j++) plane[(y0 + i) * width + x0 + j] = o[i * 4 + j][l];
    }
}

static inline __attribute__((always_inline)) void output_body(const float *m, size_t ld, size_t channel_begin, size_t channel_end,
                                                              size_t channels, size_t tile_begin, size_t tile_count,
                                                              size_t height, size_t width, const float *bias, float *y) {
    const size_t tiles_wide = (width + 3) / 4;
    for (size_t o = channel_begin; o < channel_end; o++)
        for (size_t t = 0; t < tile_count; t += LANES) {
            const size_t lanes = tile_count - t < LANES ? tile_count - t : LANES;
            output_lanes(m + o * ld + t, ngk_winograd43_plane(channels, ld), lanes, tiles_wide, tile_begin + t, height, width,
                         bias ? bias[o] : 0.0f, y + o * height * width);
        }
}

#define NGW_AVX2 __attribute__((target("avx2,fma")))

NGW_AVX2 static void input_avx2(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                                size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld) {
    input_body(x, 0, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
}

NGW_AVX2 static void input_up1_avx2(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                                    size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld) {
    input_body(x, 1, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
}

NGW_AVX2 static void output_avx2(const float *m, size_t ld, size_t channel_begin, size_t channel_end, size_t channels,
                                 size_t tile_begin, size_t tile_count, size_t height, size_t width, const float *bias, float *y) {
    output_body(m, ld, channel_begin, channel_end, channels, tile_begin, tile_count, height, width, bias, y);
}

void ngk_winograd43_input(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                          size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { input_avx2(x, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld); return; }
#endif
    input_body(x, 0, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
}

void ngk_winograd43_input_nearest(const float *x, size_t up, size_t height, size_t width, size_t channel_begin,
                                  size_t channel_end, size_t channels, size_t tile_begin, size_t tile_count, float *v,
                                  size_t ld) {
    if (up == 0) {
        ngk_winograd43_input(x, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
        return;
    }
#if defined(__x86_64__)
    if (up == 1 && ngk_use_avx2()) {
        input_up1_avx2(x, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
        return;
    }
#endif
    input_body(x, up, height, width, channel_begin, channel_end, channels, tile_begin, tile_count, v, ld);
}

void ngk_winograd43_output(const float *m, size_t ld, size_t channel_begin, size_t channel_end, size_t channels,
                           size_t tile_begin, size_t tile_count, size_t height, size_t width, const float *bias, float *y) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { output_avx2(m, ld, channel_begin, channel_end, channels, tile_begin, tile_count, height, width, bias, y); return; }
#endif
    output_body(m, ld, channel_begin, channel_end, channels, tile_begin, tile_count, height, width, bias, y);
}

#if defined(__x86_64__)
#include <immintrin.h>

NGW_AVX2 static inline void kernel_1d_avx2(__m256 a, __m256 b, __m256 c, __m256 o[6]) {
    const __m256 ac = _mm256_add_ps(a, c);
    const __m256 outer = _mm256_fmadd_ps(a, _mm256_set1_ps(1.0f / 24), _mm256_mul_ps(c, _mm256_set1_ps(1.0f / 6)));
    const __m256 inner = _mm256_mul_ps(b, _mm256_set1_ps(1.0f / 12));
    o[0] = _mm256_mul_ps(a, _mm256_set1_ps(1.0f / 4));
    o[1] = _mm256_mul_ps(_mm256_add_ps(ac, b), _mm256_set1_ps(-1.0f / 6));
    o[2] = _mm256_mul_ps(_mm256_sub_ps(ac, b), _mm256_set1_ps(-1.0f / 6));
    o[3] = _mm256_add_ps(outer, inner);
    o[4] = _mm256_sub_ps(outer, inner);
    o[5] = c;
}

// Taps k..k+3 (from g + k) of 8 channel pairs 9 floats apart, one vector per tap: pairs l and
// l + 4 share a row, and a 4×4 transpose in each 128-bit half puts pair l in lane l.
NGW_AVX2 static inline void four_taps_avx2(const float *g, __m256 out[4]) {
    __m256 r[4];
    for (int l = 0; l < 4; l++)
        r[l] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(g + 9 * l)), _mm_loadu_ps(g + 9 * (l + 4)), 1);
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpacklo_ps(r[2], r[3]);
    const __m256 t2 = _mm256_unpackhi_ps(r[0], r[1]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    out[0] = _mm256_shuffle_ps(t0, t1, 0x44);
    out[1] = _mm256_shuffle_ps(t0, t1, 0xEE);
    out[2] = _mm256_shuffle_ps(t2, t3, 0x44);
    out[3] = _mm256_shuffle_ps(t2, t3, 0xEE);
}

// Eight input channels of a row at a time (their 72 taps are contiguous); the 36 results go to
// 36 planes, 8 contiguous floats each. A last partial group takes the per-pair twin.
NGW_AVX2 static void weight_rows_avx2(const float *w, size_t ld_w, size_t rows, size_t in_channels, float *u, size_t ld_k,
                                      size_t ld_r) {
    for (size_t r = 0; r < rows; r++) {
        size_t c0 = 0;
        for (; c0 + 8 <= in_channels; c0 += 8) {
            const float *g = w + r * ld_w + c0 * 9;
            __m256 tap[9], last[4];
            four_taps_avx2(g, tap);
            four_taps_avx2(g + 4, tap + 4);
            four_taps_avx2(g + 5, last);  // taps 5–8: stays inside the 72 floats
            tap[8] = last[3];
            __m256 t[3][6];  // column j of G g
            for (int j = 0; j < 3; j++) kernel_1d_avx2(tap[j], tap[3 + j], tap[6 + j], t[j]);
            float *dst = u + r * ld_r + c0;
            for (int i = 0; i < 6; i++) {
                __m256 o[6];
                kernel_1d_avx2(t[0][i], t[1][i], t[2][i], o);
                for (int j = 0; j < 6; j++) _mm256_storeu_ps(dst + (size_t)(i * 6 + j) * ld_k, o[j]);
            }
        }
        if (c0 < in_channels)
            ngk_winograd43_weight_rows_ref(w + r * ld_w + c0 * 9, ld_w, 1, in_channels - c0, u + r * ld_r + c0, ld_k, ld_r);
    }
}
#endif

void ngk_winograd43_weight_rows(const float *w, size_t ld_w, size_t rows, size_t in_channels, float *u, size_t ld_k,
                                size_t ld_r) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { weight_rows_avx2(w, ld_w, rows, in_channels, u, ld_k, ld_r); return; }
#endif
    ngk_winograd43_weight_rows_ref(w, ld_w, rows, in_channels, u, ld_k, ld_r);
}
