// Reference quantizers for ggml's block formats. The output must be byte-identical to ggml's
// reference quantizers, so the arithmetic below is written in exactly the order ggml's
// specification fixes (see formats/container.md) and must never be contracted into FMAs:
// a fused multiply-add rounds once instead of twice and moves values that sit on a tie.
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <string.h>
#include "nextgpt_kernels.h"

static inline void put_half(uint8_t *p, float v) {
    uint16_t h = ngk_fp32_to_fp16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static inline float get_half(const uint8_t *p) {
    return ngk_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8)));
}

// Round half to even for |v| < 2^22: adding 1.5·2^23 leaves the rounded integer in the low mantissa bits.
static inline int round_half_even(float v) {
    float shifted = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

// ---- Q8_0: d = amax/127, q = roundf(x/d) (half away from zero) ----
void ngk_quantize_q8_0_ref(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / NGK_QK8_0; b++) {
        const float *xb = x + b * NGK_QK8_0;
        uint8_t *block = dst + b * NGK_Q8_0_BYTES;
        float amax = 0.0f;
        for (int j = 0; j < NGK_QK8_0; j++) {
            float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_half(block, d);
        for (int j = 0; j < NGK_QK8_0; j++) {
            float scaled = xb[j] * id;
            block[2 + j] = (uint8_t)(int8_t)roundf(scaled);
        }
    }
}

void ngk_dequantize_q8_0_ref(const uint8_t *src, float *y, size_t n) {
    for (size_t b = 0; b < n / NGK_QK8_0; b++) {
        const uint8_t *block = src + b * NGK_Q8_0_BYTES;
        float d = get_half(block);
        for (int j = 0; j < NGK_QK8_0; j++) y[b * NGK_QK8_0 + j] = (float)(int8_t)block[2 + j] * d;
    }
}

// ---- Q4_0: the signed extreme maps to -8, d = extreme/-8, q = min(15, trunc(x/d + 8.5)) ----
void ngk_quantize_q4_0_ref(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / NGK_QK4_0; b++) {
        const float *xb = x + b * NGK_QK4_0;
        uint8_t *block = dst + b * NGK_Q4_0_BYTES;
        float amax = 0.0f, extreme = 0.0f;
        for (int j = 0; j < NGK_QK4_0; j++) {
            float a = fabsf(xb[j]);
            if (amax < a) { amax = a; extreme = xb[j]; }
        }
        float d = extreme / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_half(block, d);
        for (int j = 0; j < NGK_QK4_0 / 2; j++) {
            float lo_scaled = xb[j] * id;
            float hi_scaled = xb[j + NGK_QK4_0 / 2] * id;
            float lo_shifted = lo_scaled + 8.5f;
            float hi_shifted = hi_scaled + 8.5f;
            int lo = (int8_t)lo_shifted;
            int hi = (int8_t)hi_shifted;
            if (lo > 15) lo = 15;
            if (hi > 15) hi = 15;
            block[2 + j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void ngk_dequantize_q4_0_ref(const uint8_t *src, float *y, size_t n) {
    for (size_t b = 0; b < n / NGK_QK4_0; b++) {
        const uint8_t *block = src + b * NGK_Q4_0_BYTES;
        float d = get_half(block);
        for (int j = 0; j < NGK_QK4_0 / 2; j++) {
            y[b * NGK_QK4_0 + j] = (float)((block[2 + j] & 0x0f) - 8) * d;
            y[b * NGK_QK4_0 + j + NGK_QK4_0 / 2] = (float)((block[2 + j] >> 4) - 8) * d;
        }
    }
}

// ---- Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins, fp16 super-scales ----

// Weighted least-squares fit of x ≈ scale·l + min, l in [0, nmax], min <= 0, searching the
// initial inverse scale over nsteps+1 candidates. Returns scale, stores -min.
static float fit_scale_and_min(int n, int nmax, const float *x, const float *w, uint8_t *levels,
                               float *neg_min, uint8_t *trial, float rmin, float rdelta, int nsteps) {
    float lo = x[0], hi = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        float wi = w[i];
        sum_w += wi;
        sum_x += wi * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        for (int i = 0; i < n; i++) levels[i] = 0;
        *neg_min = -lo;
        return 0.0f;
    }
    float iscale = nmax / (hi - lo);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        int l = round_half_even(iscale * (x[i] - lo));
        l = l < 0 ? 0 : (l > nmax ? nmax : l);
        levels[i] = (uint8_t)l;
        float scaled = scale * levels[i];
        float diff = scaled + lo - x[i];
        float sq = diff * diff;
        best_err += w[i] * sq;
    }
    for (int step = 0; step <= nsteps; step++) {
        float stepped = rdelta * step;
        iscale = (rmin + stepped + nmax) / (hi - lo);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = round_half_even(iscale * (x[i] - lo));
            l = l < 0 ? 0 : (l > nmax ? nmax : l);
            trial[i] = (uint8_t)l;
            float wi = w[i];
            float wl = wi * l;
            sum_l += wl;
            float wll = wl * l;
            sum_l2 += wll;
            float wlx = wl * x[i];
            sum_xl += wlx;
        }
        float p1 = sum_w * sum_l2;
        float p2 = sum_l * sum_l;
        float det = p1 - p2;
        if (det > 0) {
            float a1 = sum_w * sum_xl, a2 = sum_x * sum_l;
            float b1 = sum_l2 * sum_x, b2 = sum_l * sum_xl;
            float this_scale = (a1 - a2) / det;
            float this_min = (b1 - b2) / det;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float scaled = this_scale * trial[i];
                float diff = scaled + this_min - x[i];
                float sq = diff * diff;
                err += w[i] * sq;
            }
            if (err < best_err) {
                memcpy(levels, trial, (size_t)n);
                best_err = err;
                scale = this_scale;
                lo = this_min;
            }
        }
    }
    *neg_min = -lo;
    return scale;
}

static inline void unpack_scale_min(int j, const uint8_t *packed, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = packed[j] & 63;
        *m = packed[j + 4] & 63;
    } else {
        *sc = (uint8_t)((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
        *m = (uint8_t)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

void ngk_quantize_q4_k_ref(const float *x, uint8_t *dst, size_t n) {
    uint8_t levels[NGK_QK_K], trial[32];
    float weights[32], mins[8], scales[8];
    for (size_t b = 0; b < n / NGK_QK_K; b++) {
        const float *xb = x + b * NGK_QK_K;
        uint8_t *block = dst + b * NGK_Q4_K_BYTES;
        uint8_t *packed = block + 4;
        uint8_t *qs = block + 16;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            const float *xs = xb + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
            scales[j] = fit_scale_and_min(32, 15, xs, weights, levels + 32 * j, &mins[j], trial, -1.0f, 0.1f, 20);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
        float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        memset(packed, 0, 12);
        for (int j = 0; j < 8; j++) {
            int ls = round_half_even(inv_scale * scales[j]);
            int lm = round_half_even(inv_min * mins[j]);
            if (ls > 63) ls = 63;
            if (lm > 63) lm = 63;
            if (j < 4) {
                packed[j] = (uint8_t)ls;
                packed[j + 4] = (uint8_t)lm;
            } else {
                packed[j + 4] = (uint8_t)((ls & 0x0f) | ((lm & 0x0f) << 4));
                packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
                packed[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        put_half(block, max_scale / 63.0f);
        put_half(block + 2, max_min / 63.0f);
        float d_all = get_half(block), dmin_all = get_half(block + 2);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            unpack_scale_min(j, packed, &sc, &m);
            float d = d_all * sc;
            if (d == 0.0f) continue;
            float dm = dmin_all * m;
            for (int l = 0; l < 32; l++) {
                int q = round_half_even((xb[32 * j + l] + dm) / d);
                levels[32 * j + l] = (uint8_t)(q < 0 ? 0 : (q > 15 ? 15 : q));
            }
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                qs[32 * c + l] = (uint8_t)(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
    }
}

void ngk_dequantize_q4_k_ref(const uint8_t *src, float *y, size_t n) {
    for (size_t b = 0; b < n / NGK_QK_K; b++) {
        const uint8_t *block = src + b * NGK_Q4_K_BYTES;
        const uint8_t *packed = block + 4;
        const uint8_t *qs = block + 16;
        float d_all = get_half(block), dmin_all = get_half(block + 2);
        float *yb = y + b * NGK_QK_K;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            unpack_scale_min(2 * c, packed, &sc, &m);
            float d1 = d_all * sc, m1 = dmin_all * m;
            unpack_scale_min(2 * c + 1, packed, &sc, &m);
            float d2 = d_all * sc, m2 = dmin_all * m;
            for (int l = 0; l < 32; l++) {
                float lo = d1 * (qs[32 * c + l] & 0x0f);
                float hi = d2 * (qs[32 * c + l] >> 4);
                yb[64 * c + l] = lo - m1;
                yb[64 * c + 32 + l] = hi - m2;
            }
        }
    }
}
