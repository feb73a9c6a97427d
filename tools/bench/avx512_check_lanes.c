// The lane GEMM's AVX-512 VNNI bodies (matmul_lanes.c) against their scalar twins, as
// LaneGEMMTests.swift checks them (same sizes, same tolerances): the two quantizers and the table
// byte for byte, the GEMM within 1e-6 with nothing written outside the product, and whole products
// and convolutions through the lane bodies against the integer GEMM's scalar twin on the same
// quantized activations (same block order: float rounding apart, 1e-6).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avx512_check.h"
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

// The sum of two uniform draws: denser near zero, as the Swift tests' triangular inputs.
static float triangular(float scale) {
    const float u = (float)(check_random() >> 40) / (float)(1 << 24), v = (float)(check_random() >> 40) / (float)(1 << 24);
    return (u + v - 1) * scale;
}

// As the Swift test's inputs: every 29th value 40× larger (quantized bytes reach ±127), every 31st
// (other) value 0.
static float *activations(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const float t = triangular(2);
        x[i] = i % 29 == 0 ? 40 * t : i % 31 == 0 ? 0 : t;
    }
    return x;
}

// Q8_0 rows with random quants (−128 included) and f16 scales around 0.002, repacked in 8-row groups.
static uint8_t *packed_q8(size_t rows, size_t cols, size_t *group_bytes) {
    const size_t nblk = cols / 32, groups = (rows + 7) / 8;
    uint8_t *w = malloc(rows * nblk * 34), *packed = calloc(groups, nblk * NGK_Q8_0X8_BYTES);
    for (size_t i = 0; i < rows * nblk * 34; i++) w[i] = (uint8_t)check_random();
    for (size_t b = 0; b < rows * nblk; b++) {
        const uint16_t h = ngk_fp32_to_fp16(0.002f + triangular(0.01f));
        memcpy(w + b * 34, &h, 2);
    }
    ngk_pack_rows_x8(w, rows, nblk, 34, 0, groups, packed);
    free(w);
    *group_bytes = nblk * NGK_Q8_0X8_BYTES;
    return packed;
}

static size_t lanes_bytes(size_t npos, size_t cols) { return (npos + NGK_LANES - 1) / NGK_LANES * cols / 32 * NGK_LANES_BLOCK_BYTES; }

// Byte for byte; the error reported is the share of bytes that differ.
static void expect_same_bytes(const char *what, const char *detail, const uint8_t *fast, const uint8_t *slow, size_t n) {
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += fast[i] != slow[i];
    char full[160];
    snprintf(full, sizeof full, "%s (%zu of %zu bytes differ)", detail, diff, n);
    check_expect(diff == 0, what, diff ? full : detail, (double)diff / (double)(n ? n : 1));
}

// ---------------------------------------------------------------- the quantizers, bytes

// Both buffers pre-filled with different bytes, so a byte the fast body skips shows.
static void check_rows_quantizer(size_t cols, size_t npos) {
    const size_t ldx = cols + 32, n = lanes_bytes(npos, cols);
    float *x = activations(npos * ldx);
    for (size_t j = 0; j < 32; j++) x[(npos - 1) * ldx + j] = 0;  // a block of zeros: amax 0, scale 0
    uint8_t *fast = malloc(n), *slow = malloc(n);
    memset(fast, 0xee, n);
    memset(slow, 0xdd, n);
    ngk_lanes_rows_q8_0(x, ldx, npos, cols, fast);
    ngk_lanes_rows_q8_0_ref(x, ldx, npos, cols, slow);
    char detail[128];
    snprintf(detail, sizeof detail, "columns %zu positions %zu", cols, npos);
    expect_same_bytes("lanes_rows_vnni", detail, fast, slow, n);
    free(x); free(fast); free(slow);
}

// (c, h, w, kh, kw, sh, sw, ph, pw): 3×3 on planes whose rows are and are not whole vectors of
// positions, a strided one (gathers), SD's 1×1, the temporal (3, 1) over frames.
static const size_t geometries[][9] = {
    {32, 7, 9, 3, 3, 1, 1, 1, 1}, {32, 16, 16, 3, 3, 1, 1, 1, 1}, {64, 9, 9, 3, 3, 2, 2, 1, 1},
    {32, 6, 6, 1, 1, 1, 1, 0, 0}, {32, 5, 40, 3, 1, 1, 1, 1, 0}, {96, 8, 20, 3, 3, 1, 1, 1, 1},
};

static ngk_conv_geometry geometry(const size_t *g) {
    return (ngk_conv_geometry){g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8],
                               (g[1] + 2 * g[7] - g[3]) / g[5] + 1, (g[2] + 2 * g[8] - g[4]) / g[6] + 1};
}

// All output positions, then 21 from position 5 (a panel that starts inside an output row).
static void check_conv_quantizer(const ngk_conv_geometry *q) {
    const size_t npositions = q->oh * q->ow, cols = q->c * q->kh * q->kw;
    float *x = activations(q->c * q->h * q->w);
    const size_t ranges[2][2] = {{0, npositions}, {5, MIN(21, npositions - 5)}};
    for (int r = 0; r < 2; r++) {
        const size_t n = lanes_bytes(ranges[r][1], cols);
        uint8_t *fast = malloc(n), *slow = malloc(n);
        memset(fast, 0xee, n);
        memset(slow, 0xdd, n);
        ngk_lanes_conv_q8_0(x, q, ranges[r][0], ranges[r][1], fast);
        ngk_lanes_conv_q8_0_ref(x, q, ranges[r][0], ranges[r][1], slow);
        char detail[128];
        snprintf(detail, sizeof detail, "conv %zux%zux%zu k %zux%zu s %zu pos %zu+%zu", q->c, q->h, q->w, q->kh, q->kw, q->sh,
                 ranges[r][0], ranges[r][1]);
        expect_same_bytes("lanes_conv_vnni", detail, fast, slow, n);
        free(fast); free(slow);
    }
    free(x);
}

// ---------------------------------------------------------------- table and GEMM against the twins

// The table of groups [g0, groups) (a thread's share, as Matmul.laneTable splits it): the written
// entries byte for byte, the entries before g0 untouched.
static void check_table(const uint8_t *w, size_t group_bytes, size_t rows, size_t cols) {
    const size_t nblk = cols / 32, groups = (rows + 7) / 8, g0 = groups / 2, n = groups * nblk * NGK_LANES_TABLE_BYTES;
    uint8_t *fast = malloc(n), *slow = malloc(n), *untouched = malloc(n);
    memset(fast, 0xee, n);
    memset(slow, 0xdd, n);
    memset(untouched, 0xee, n);
    ngk_lanes_table_q8_0x8(w, group_bytes, nblk, g0, groups, fast);
    ngk_lanes_table_q8_0x8_ref(w, group_bytes, nblk, g0, groups, slow);
    const size_t skip = g0 * nblk * NGK_LANES_TABLE_BYTES;
    char detail[128];
    snprintf(detail, sizeof detail, "rows %zu columns %zu groups %zu..<%zu", rows, cols, g0, groups);
    expect_same_bytes("lanes_table_vnni", detail, fast + skip, slow + skip, n - skip);
    if (skip) expect_same_bytes("lanes_table_vnni (before g0)", detail, fast, untouched, skip);
    free(fast); free(slow); free(untouched);
}

// Both orders of the output, ldy 3 past the product, NaN-filled: the same cells written (no more,
// no fewer), their values within 1e-6 (relative L2). The table comes from the fast body; the twin
// reads the weights themselves, so a wrong table shows here too.
static void check_gemm(size_t rows, size_t cols, size_t npos) {
    size_t group_bytes;
    uint8_t *w = packed_q8(rows, cols, &group_bytes);
    float *x = activations(npos * cols), bias[40];  // rows ≤ 37
    for (size_t r = 0; r < rows; r++) bias[r] = triangular(1);
    uint8_t *xl = malloc(lanes_bytes(npos, cols)), *table = malloc((rows + 7) / 8 * cols / 32 * NGK_LANES_TABLE_BYTES);
    ngk_lanes_rows_q8_0_ref(x, cols, npos, cols, xl);
    ngk_lanes_table_q8_0x8(w, group_bytes, cols / 32, 0, (rows + 7) / 8, table);
    check_table(w, group_bytes, rows, cols);
    for (int major = 0; major < 2; major++) {
        const size_t ldy = (major ? rows : npos) + 3, count = (major ? npos : rows) * ldy;
        float *fast = malloc(count * sizeof(float)), *slow = malloc(count * sizeof(float));
        float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float));
        for (size_t i = 0; i < count; i++) fast[i] = slow[i] = NAN;
        ngk_lanes_gemm_q8_0x8(w, group_bytes, table, rows, cols, xl, npos, fast, ldy, major, bias);
        ngk_lanes_gemm_q8_0x8_ref(w, group_bytes, table, rows, cols, xl, npos, slow, ldy, major, bias);
        size_t used = 0;
        int outside = 0;
        for (size_t i = 0; i < count; i++) {
            outside |= isnan(fast[i]) != isnan(slow[i]);
            if (!isnan(slow[i])) { a[used] = fast[i]; b[used] = slow[i]; used++; }
        }
        const double err = check_rel_l2(a, b, used);
        char detail[128];
        snprintf(detail, sizeof detail, "rows %zu columns %zu positions %zu major %d%s", rows, cols, npos, major,
                 outside || used != rows * npos ? " (wrote outside)" : "");
        check_expect(!outside && used == rows * npos && err <= 1e-6, "lanes_gemm_vnni", detail, err);
        free(fast); free(slow); free(a); free(b);
    }
    free(w); free(x); free(xl); free(table);
}

// ---------------------------------------------------------------- whole products and convolutions

// Where the lane GEMM's activations come from: rows of x (a linear) or a convolution's patches.
typedef struct { const float *x; size_t ldx; const ngk_conv_geometry *conv; } lane_source;

// The product of all rows × npos positions through the fast lane bodies, cut into calls as
// LaneWork (LaneGEMM.swift) cuts it for `threads`: panels of up to 16 position groups (within
// 384 KiB of activations) and, with 2+ threads, ranges of whole row groups; so the calls start at
// row groups and positions past 0, and the last panel may hold one position.
static void lane_product(const uint8_t *w, size_t group_bytes, const uint8_t *table, size_t rows, size_t cols,
                         const lane_source *src, size_t npos, int threads, float *y, int position_major, const float *bias) {
    const size_t nblk = cols / 32, group_lane_bytes = nblk * NGK_LANES_BLOCK_BYTES, groups = (npos + 15) / 16;
    size_t panel_groups = MIN(MIN(groups, (size_t)16), (size_t)(384 << 10) / group_lane_bytes);
    panel_groups = panel_groups ? panel_groups : 1;
    const size_t panels = (groups + panel_groups - 1) / panel_groups, row_groups = (rows + 7) / 8;
    const size_t parts = threads == 1 ? 1 : MIN(row_groups, (2 * (size_t)threads + panels - 1) / panels);
    uint8_t *xl = malloc(panel_groups * group_lane_bytes);
    for (size_t first = 0; first < npos; first += panel_groups * 16) {
        const size_t count = MIN(panel_groups * 16, npos - first);
        for (size_t part = 0; part < parts; part++) {
            const size_t g0 = row_groups * part / parts, g1 = row_groups * (part + 1) / parts, r0 = g0 * 8, r1 = MIN(rows, g1 * 8);
            if (src->conv) ngk_lanes_conv_q8_0(src->x, src->conv, first, count, xl);
            else ngk_lanes_rows_q8_0(src->x + first * src->ldx, src->ldx, count, cols, xl);
            float *out = position_major ? y + first * rows + r0 : y + r0 * npos + first;
            ngk_lanes_gemm_q8_0x8(w + g0 * group_bytes, group_bytes, table + g0 * nblk * NGK_LANES_TABLE_BYTES, r1 - r0, cols,
                                  xl, count, out, position_major ? rows : npos, position_major, bias ? bias + r0 : NULL);
        }
    }
    free(xl);
}

// The integer GEMM's scalar twin on Q8_0-split activations of npos rows of K values (ld apart):
// y[p · rows + r].
static void integer_product(const uint8_t *w, size_t group_bytes, size_t rows, size_t cols, const float *x, size_t npos, float *y) {
    const size_t nblk = cols / 32;
    uint8_t *xa = malloc(npos * nblk * 40);
    for (size_t p = 0; p < npos; p++) ngk_quantize_act_q8_0_split(x + p * cols, xa + p * nblk * 40, cols);
    ngk_gemm_q8_0x8_ref(w, group_bytes, rows, cols, xa, nblk * 40, npos, y, rows);
    free(xa);
}

static void check_linear(size_t rows, size_t cols, size_t batch) {
    size_t group_bytes;
    uint8_t *w = packed_q8(rows, cols, &group_bytes), *table = malloc((rows + 7) / 8 * cols / 32 * NGK_LANES_TABLE_BYTES);
    float *x = malloc(batch * cols * sizeof(float)), *expected = malloc(batch * rows * sizeof(float)), *y = malloc(batch * rows * sizeof(float));
    for (size_t i = 0; i < batch * cols; i++) x[i] = triangular(2);
    ngk_lanes_table_q8_0x8(w, group_bytes, cols / 32, 0, (rows + 7) / 8, table);
    integer_product(w, group_bytes, rows, cols, x, batch, expected);
    const lane_source src = {x, cols, NULL};
    for (int threads = 1; threads <= 2; threads++) {
        for (size_t i = 0; i < batch * rows; i++) y[i] = NAN;
        lane_product(w, group_bytes, table, rows, cols, &src, batch, threads, y, 1, NULL);
        const double err = check_rel_l2(y, expected, batch * rows);
        char detail[128];
        snprintf(detail, sizeof detail, "%zux%zu batch %zu threads %d", rows, cols, batch, threads);
        check_expect(err <= 1e-6, "lane product = integer", detail, err);  // NaN left unwritten fails too
    }
    free(w); free(table); free(x); free(expected); free(y);
}

// A convolution of 40 output channels with bias through the fast lane bodies ([O, positions])
// against its patch rows (im2col, zeros outside the image) through the integer GEMM's twin.
static void check_convolution(const ngk_conv_geometry *q) {
    const size_t o = 40, taps = q->kh * q->kw, cols = q->c * taps, npos = q->oh * q->ow;
    size_t group_bytes;
    uint8_t *w = packed_q8(o, cols, &group_bytes), *table = malloc((o + 7) / 8 * cols / 32 * NGK_LANES_TABLE_BYTES);
    float bias[40];
    for (size_t r = 0; r < o; r++) bias[r] = triangular(1);
    float *x = activations(q->c * q->h * q->w), *patches = malloc(npos * cols * sizeof(float));
    for (size_t p = 0; p < npos; p++)
        for (size_t k = 0; k < cols; k++) {
            const size_t ch = k / taps, t = k % taps;
            const long iy = (long)(p / q->ow * q->sh + t / q->kw) - (long)q->ph, ix = (long)(p % q->ow * q->sw + t % q->kw) - (long)q->pw;
            const int inside = iy >= 0 && iy < (long)q->h && ix >= 0 && ix < (long)q->w;
            patches[p * cols + k] = inside ? x[(ch * q->h + (size_t)iy) * q->w + (size_t)ix] : 0.0f;
        }
    float *by_position = malloc(npos * o * sizeof(float)), *expected = malloc(o * npos * sizeof(float)), *y = malloc(o * npos * sizeof(float));
    integer_product(w, group_bytes, o, cols, patches, npos, by_position);
    for (size_t r = 0; r < o; r++)
        for (size_t p = 0; p < npos; p++) expected[r * npos + p] = by_position[p * o + r] + bias[r];
    ngk_lanes_table_q8_0x8(w, group_bytes, cols / 32, 0, (o + 7) / 8, table);
    const lane_source src = {x, 0, q};
    for (int threads = 1; threads <= 2; threads++) {
        for (size_t i = 0; i < o * npos; i++) y[i] = NAN;
        lane_product(w, group_bytes, table, o, cols, &src, npos, threads, y, 0, bias);
        const double err = check_rel_l2(y, expected, o * npos);
        char detail[128];
        snprintf(detail, sizeof detail, "conv %zux%zux%zu k %zux%zu s %zu threads %d", q->c, q->h, q->w, q->kh, q->kw, q->sh, threads);
        check_expect(err <= 1e-6, "lane conv = patch rows", detail, err);
    }
    free(w); free(table); free(x); free(patches); free(by_position); free(expected); free(y);
}

void check_lanes(void) {
    const size_t cols_list[] = {32, 96, 416};
    const size_t quantizer_positions[] = {1, 15, 16, 17, 40}, gemm_rows[] = {1, 8, 9, 37}, gemm_positions[] = {1, 16, 17, 70};
    for (size_t c = 0; c < 3; c++)
        for (size_t p = 0; p < 5; p++) check_rows_quantizer(cols_list[c], quantizer_positions[p]);
    for (size_t g = 0; g < sizeof geometries / sizeof geometries[0]; g++) {
        const ngk_conv_geometry q = geometry(geometries[g]);
        check_conv_quantizer(&q);
        check_convolution(&q);
    }
    for (size_t c = 0; c < 3; c++)
        for (size_t r = 0; r < 4; r++)
            for (size_t p = 0; p < 4; p++) check_gemm(gemm_rows[r], cols_list[c], gemm_positions[p]);
    // (rows, columns, batch): a partial row group and position group; 70 positions; two panels
    // (the second of one position) of a square 1280; a long K.
    const size_t linears[][3] = {{37, 96, 5}, {130, 160, 70}, {1280, 1280, 257}, {200, 5120, 19}};
    for (size_t i = 0; i < 4; i++) check_linear(linears[i][0], linears[i][1], linears[i][2]);
}
