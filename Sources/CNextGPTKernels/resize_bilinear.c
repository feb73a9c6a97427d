// Bilinear resize matching torch's upsample_bilinear2d (nextgpt_resize.h): the index and lambda
// tables are shared scalar code; the vertical blend has an AVX2+FMA body and a scalar twin that
// give the same bits (both fuse the first product, as fmaf does).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nextgpt_kernels.h"
#include "nextgpt_resize.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// torch: area_pixel_compute_scale, area_pixel_compute_source_index, guard_index_and_lambda.
// The multiply-subtract must not be contracted into an fma: PyTorch's is not.
#pragma STDC FP_CONTRACT OFF
static void linear_taps(size_t in, size_t out, size_t *i0, size_t *i1, float *l0, float *l1) {
    if (in == out) {
        for (size_t d = 0; d < out; d++) { i0[d] = i1[d] = d; l0[d] = 1.0f; l1[d] = 0.0f; }
        return;
    }
    const float scale = (float)in / (float)out;
    for (size_t d = 0; d < out; d++) {
        float source = scale * ((float)d + 0.5f) - 0.5f;
        if (source < 0.0f) source = 0.0f;
        int64_t index = (int64_t)floorf(source);
        if (index > (int64_t)in - 1) index = (int64_t)in - 1;
        float lambda = source - (float)index;
        lambda = lambda < 0.0f ? 0.0f : (lambda > 1.0f ? 1.0f : lambda);
        i0[d] = (size_t)index;
        i1[d] = (size_t)index + ((size_t)index < in - 1 ? 1 : 0);
        l1[d] = lambda;
        l0[d] = 1.0f - lambda;
    }
}

static void horizontal_pass(const float *x, size_t in_h, size_t in_w, size_t out_w, const size_t *c0,
                            const size_t *c1, const float *w0, const float *w1, float *scratch) {
    for (size_t r = 0; r < in_h; r++) {
        const float *row = x + r * in_w;
        float *out = scratch + r * out_w;
        for (size_t k = 0; k < out_w; k++) out[k] = fmaf(row[c0[k]], w0[k], row[c1[k]] * w1[k]);
    }
}

static void vertical_row_ref(const float *top, const float *bottom, float h0, float h1, float *y, size_t n) {
    for (size_t k = 0; k < n; k++) y[k] = fmaf(top[k], h0, bottom[k] * h1);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void vertical_row_avx2(const float *top, const float *bottom, float h0, float h1, float *y, size_t n) {
    const __m256 v0 = _mm256_set1_ps(h0), v1 = _mm256_set1_ps(h1);
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 t = _mm256_loadu_ps(top + k), b = _mm256_loadu_ps(bottom + k);
        _mm256_storeu_ps(y + k, _mm256_fmadd_ps(t, v0, _mm256_mul_ps(b, v1)));
    }
    for (; k < n; k++) y[k] = fmaf(top[k], h0, bottom[k] * h1);
}
#endif

static void resize_plane(const float *x, size_t in_h, size_t in_w, float *y, size_t out_h, size_t out_w,
                         float *scratch, int simd) {
    size_t *c0 = malloc(sizeof(size_t) * (out_w * 2 + out_h * 2));
    float *w = malloc(sizeof(float) * (out_w * 2 + out_h * 2));
    if (!c0 || !w) { free(c0); free(w); abort(); }
    size_t *c1 = c0 + out_w, *r0 = c1 + out_w, *r1 = r0 + out_h;
    float *w0 = w, *w1 = w0 + out_w, *h0 = w1 + out_w, *h1 = h0 + out_h;
    linear_taps(in_w, out_w, c0, c1, w0, w1);
    linear_taps(in_h, out_h, r0, r1, h0, h1);
    horizontal_pass(x, in_h, in_w, out_w, c0, c1, w0, w1, scratch);
    for (size_t d = 0; d < out_h; d++) {
        const float *top = scratch + r0[d] * out_w, *bottom = scratch + r1[d] * out_w;
#if defined(__x86_64__) || defined(__i386__)
        if (simd) { vertical_row_avx2(top, bottom, h0[d], h1[d], y + d * out_w, out_w); continue; }
#endif
        (void)simd;
        vertical_row_ref(top, bottom, h0[d], h1[d], y + d * out_w, out_w);
    }
    free(c0);
    free(w);
}

void ngk_resize_bilinear_plane(const float *x, size_t in_h, size_t in_w, float *y, size_t out_h, size_t out_w,
                               float *scratch) {
    resize_plane(x, in_h, in_w, y, out_h, out_w, scratch, ngk_use_avx2());
}

void ngk_resize_bilinear_plane_ref(const float *x, size_t in_h, size_t in_w, float *y, size_t out_h, size_t out_w,
                                   float *scratch) {
    resize_plane(x, in_h, in_w, y, out_h, out_w, scratch, 0);
}
