// Winograd F(4×4, 3×3) transforms for stride-1, padding-1 3×3 convolutions (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015). A 6×6 input patch d and a 3×3
// kernel g give a 4×4 output tile Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A: 36 multiplies per tile and
// channel pair instead of 144. The 36 element-wise products over channels are 36 independent
// GEMMs [O × C]·[C × tiles], which the caller runs with BLAS; these functions only transform.
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

void ngk_winograd43_weights(const float *w, size_t out_channels, size_t in_channels, float *u) {
    const size_t plane = out_channels * in_channels;
    for (size_t oc = 0; oc < plane; oc++) {
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

void ngk_winograd43_input(const float *x, size_t height, size_t width, size_t channel_begin, size_t channel_end,
                          size_t channels, size_t tile_begin, size_t tile_count, float *v, size_t ld) {
    const size_t tiles_wide = (width + 3) / 4;
    const size_t stride_k = channels * ld;
    for (size_t c = channel_begin; c < channel_end; c++) {
        const float *plane = x + c * height * width;
        for (size_t t = 0; t < tile_count; t++) {
            const size_t tile = tile_begin + t;
            const long y0 = (long)(tile / tiles_wide) * 4 - 1, x0 = (long)(tile % tiles_wide) * 4 - 1;
            float d[36], tmp[36];
            for (int i = 0; i < 6; i++) {
                const long yy = y0 + i;
                for (int j = 0; j < 6; j++) {
                    const long xx = x0 + j;
                    d[i * 6 + j] = (yy >= 0 && yy < (long)height && xx >= 0 && xx < (long)width) ? plane[yy * (long)width + xx] : 0.0f;
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

void ngk_winograd43_output(const float *m, size_t ld, size_t channel_begin, size_t channel_end, size_t channels,
                           size_t tile_begin, size_t tile_count, size_t height, size_t width,
                           const float *bias, float *y) {
    const size_t tiles_wide = (width + 3) / 4;
    const size_t stride_k = channels * ld;
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
