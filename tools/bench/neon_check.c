// NEON kernels against their scalar twins on random odd-sized data (run by neon_check.sh under
// qemu-aarch64; also builds and runs natively on x86-64, where it checks the AVX2 bodies).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"

typedef void (*mv_fn)(const void *, size_t, size_t, size_t, const void *, size_t, size_t, float *, size_t);

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_random(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
static float random_float(float scale) { return ((float)(next_random() >> 40) / (float)(1 << 24) * 2 - 1) * scale; }

// Random weight rows of `type` bytes with finite, moderate f16 scales.
static uint8_t *random_weights(const char *type, size_t rows, size_t cols, size_t *row_bytes) {
    size_t rb = !strcmp(type, "f32") ? cols * 4 : !strcmp(type, "f16") ? cols * 2
              : !strcmp(type, "q8_0") ? cols / 32 * 34 : cols / 32 * 18;
    uint8_t *w = malloc(rows * rb + 1);
    for (size_t i = 0; i < rows * rb; i++) w[i] = (uint8_t)next_random();
    if (!strcmp(type, "f32"))
        for (size_t i = 0; i < rows * cols; i++) { float f = random_float(1); memcpy(w + 4 * i, &f, 4); }
    else if (!strcmp(type, "f16"))
        for (size_t i = 0; i < rows * cols; i++) { uint16_t h = ngk_fp32_to_fp16(random_float(1)); memcpy(w + 2 * i, &h, 2); }
    else {
        size_t bb = !strcmp(type, "q8_0") ? 34 : 18;
        for (size_t i = 0; i < rows * rb / bb; i++) { uint16_t h = ngk_fp32_to_fp16(0.001f + random_float(0.01f)); memcpy(w + i * bb, &h, 2); }
    }
    *row_bytes = rb;
    return w;
}

static double rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
    return den == 0 ? sqrt(num) : sqrt(num / den);
}

static int failures = 0, checks = 0;
static void expect(int ok, const char *what, size_t rows, size_t cols, double err) {
    checks++;
    if (!ok) { failures++; printf("FAIL %-28s rows %4zu cols %4zu  rel L2 %.3g\n", what, rows, cols, err); }
}

static void check_quantizer(void) {
    for (size_t n = 32; n <= 32 * 41; n += 32 * 8) {
        float *x = malloc(n * 4);
        for (size_t i = 0; i < n; i++) x[i] = random_float(3);
        x[5] = 0.5f * 127.0f / 127.0f;  // exercise ties after scaling
        uint8_t *a = malloc(n / 32 * 34), *b = malloc(n / 32 * 34);
        ngk_quantize_act_q8_0(x, a, n);
        ngk_quantize_act_q8_0_ref(x, b, n);
        expect(memcmp(a, b, n / 32 * 34) == 0, "quantize_act_q8_0 (bytes)", 1, n, 0);
        free(x); free(a); free(b);
    }
}

static void check_mv(const char *type, mv_fn fast, mv_fn slow, size_t rows, size_t cols, int quantized) {
    const size_t nb = 3, ldy = rows + 2;
    size_t rb;
    uint8_t *w = random_weights(type, rows, cols, &rb);
    float *x = malloc(nb * cols * 4);
    for (size_t i = 0; i < nb * cols; i++) x[i] = random_float(2);
    size_t xb = quantized ? cols / 32 * 34 : cols * 4;
    uint8_t *xa = malloc(nb * xb);
    for (size_t b = 0; b < nb; b++) {
        if (quantized) ngk_quantize_act_q8_0(x + b * cols, xa + b * xb, cols);
        else memcpy(xa + b * xb, x + b * cols, cols * 4);
    }
    float *y1 = malloc(nb * ldy * 4), *y2 = malloc(nb * ldy * 4);
    for (size_t i = 0; i < nb * ldy; i++) y1[i] = y2[i] = NAN;
    fast(w, rb, rows, cols, xa, xb, nb, y1, ldy);
    slow(w, rb, rows, cols, xa, xb, nb, y2, ldy);
    double err = 0;
    int past = 0;
    for (size_t b = 0; b < nb; b++) {
        double e = rel_l2(y1 + b * ldy, y2 + b * ldy, rows);
        err = e > err ? e : err;
        past |= !isnan(y1[b * ldy + rows]);
    }
    char what[64];
    snprintf(what, sizeof what, "mv_%s", type);
    expect(err <= 1e-5 && !past, what, rows, cols, err);

    if (quantized) {
        // Packed copy × split activations against the unpacked twin on the same quantized values.
        const size_t bb = !strcmp(type, "q8_0") ? 34 : 18, nblk = cols / 32, groups = (rows + 7) / 8;
        uint8_t *packed = malloc(groups * nblk * 8 * bb), *back = malloc(rows * rb);
        ngk_pack_rows_x8(w, rows, nblk, bb, 0, groups, packed);
        ngk_unpack_rows_x8(packed, nblk, bb, 0, rows, back);
        expect(memcmp(back, w, rows * rb) == 0, "pack/unpack round trip", rows, cols, 0);
        const size_t sb = nblk * 40;
        uint8_t *xs = malloc(nb * sb);
        for (size_t b = 0; b < nb; b++) ngk_quantize_act_q8_0_split(x + b * cols, xs + b * sb, cols);
        mv_fn pf = bb == 34 ? ngk_mv_q8_0x8 : ngk_mv_q4_0x8, pr = bb == 34 ? ngk_mv_q8_0x8_ref : ngk_mv_q4_0x8_ref;
        float *y3 = malloc(nb * ldy * 4), *y4 = malloc(nb * ldy * 4);
        for (size_t i = 0; i < nb * ldy; i++) y3[i] = y4[i] = NAN;
        pf(packed, nblk * 8 * bb, rows, cols, xs, sb, nb, y3, ldy);
        pr(packed, nblk * 8 * bb, rows, cols, xs, sb, nb, y4, ldy);
        double e1 = 0, e2 = 0;
        past = 0;
        for (size_t b = 0; b < nb; b++) {
            double a = rel_l2(y3 + b * ldy, y4 + b * ldy, rows), c = rel_l2(y3 + b * ldy, y2 + b * ldy, rows);
            e1 = a > e1 ? a : e1;
            e2 = c > e2 ? c : e2;
            past |= !isnan(y3[b * ldy + rows]);
        }
        snprintf(what, sizeof what, "mv_%sx8 vs twin", type);
        expect(e1 <= 1e-5 && !past, what, rows, cols, e1);
        snprintf(what, sizeof what, "mv_%sx8 vs unpacked", type);
        expect(e2 <= 1e-5, what, rows, cols, e2);
        free(packed); free(back); free(xs); free(y3); free(y4);
    }
    free(w); free(x); free(xa); free(y1); free(y2);
}

int main(void) {
    printf("kernel path: %s\n", ngk_cpu_path());
    check_quantizer();
    const size_t rows_list[] = {1, 3, 8, 13, 37};
    const size_t qcols[] = {32, 96, 416}, fcols[] = {1, 7, 13, 416, 419};
    for (size_t i = 0; i < 5; i++) {
        size_t rows = rows_list[i];
        for (size_t j = 0; j < 3; j++) {
            check_mv("q8_0", ngk_mv_q8_0, ngk_mv_q8_0_ref, rows, qcols[j], 1);
            check_mv("q4_0", ngk_mv_q4_0, ngk_mv_q4_0_ref, rows, qcols[j], 1);
        }
        for (size_t j = 0; j < 5; j++) {
            check_mv("f32", ngk_mv_f32, ngk_mv_f32_ref, rows, fcols[j], 0);
            check_mv("f16", ngk_mv_f16, ngk_mv_f16_ref, rows, fcols[j], 0);
        }
    }
    check_mv("q8_0", ngk_mv_q8_0, ngk_mv_q8_0_ref, 4096, 4096, 1);
    check_mv("q4_0", ngk_mv_q4_0, ngk_mv_q4_0_ref, 4096, 4096, 1);
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
