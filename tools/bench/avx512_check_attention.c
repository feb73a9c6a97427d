// The attention AVX-512 bodies against their scalar twins, as the Swift tests that skip without
// AVX-512 check them (same shapes, same tolerances):
// - ngk_attention_rows_avx512 (attention_fused.c), FusedAttentionTests.checkAgainstTwin: relative
//   L2 ≤ 1e-5 (a polynomial exp2 and another summation order than the twin), finite rows, nothing
//   written outside them, a fully masked row exactly 0;
// - ngo_attend_row_f16_avx512 (attention_rows_f16.c), HalfKVCacheTests.checkBody: every lane
//   within 2e-6 + 2e-5·|expected| of a Double attention over the same halves and of the twin;
// - ngo_attend_heads_f16_avx512: bit for bit the row body's result per head
//   (testHeadsBodiesMatchRowBodiesBitForBit), and per lane as the row body against the twin;
// - ngo_attend_part_f16_avx512: parts merged = the row body (1e-6), maxima (1e-6), sums and
//   unnormalised outputs (1e-5) as the twin's (testPartsMergeToTheRowKernelAndMatchTheTwin).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avx512_check.h"
#include "nextgpt_attention.h"
#include "nextgpt_kernels.h"
#include "nextgpt_ops.h"

static float *nans(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}

// ---------------------------------------------------------------- fused attention

typedef struct {
    size_t d, dv, queries, keys;
    int causal;
    ptrdiff_t causal_offset;
    int masked;
} fused_case;

// One of k / divisor, k in −1000…1000 (LinearCongruential64.thousandth): scores of a few units,
// softmax rows neither flat nor one-hot.
static float thousandth(float divisor) { return (float)((int64_t)(check_random() >> 11) % 2001 - 1000) / divisor; }

typedef void (*fused_body)(const ngk_attention_head *, size_t, size_t, float *);

// Output rows [first, first + count) of one head through `body`, the other rows and the scratch NaN.
static float *run_fused(fused_body body, ngk_attention_head h, size_t queries, size_t first, size_t count) {
    float *out = nans(queries * h.dv), *scratch = nans(ngk_attention_scratch_floats(count, h.d, h.dv));
    h.o = out;
    body(&h, first, count, scratch);
    free(scratch);
    return out;
}

static void check_fused_case(const fused_case *c) {
    const size_t d = c->d, dv = c->dv, nq = c->queries, nk = c->keys;
    float *q = malloc(nq * d * sizeof(float)), *k = malloc(nk * d * sizeof(float)), *v = malloc(nk * dv * sizeof(float));
    for (size_t i = 0; i < nq * d; i++) q[i] = thousandth(300);
    for (size_t i = 0; i < nk * d; i++) k[i] = thousandth(300);
    for (size_t i = 0; i < nk * dv; i++) v[i] = thousandth(500);
    // Every fifth key removed; row 3 loses every key; the rest a small additive bias.
    float *mask = c->masked ? malloc(nq * nk * sizeof(float)) : NULL;
    for (size_t i = 0; mask && i < nq * nk; i++) mask[i] = i / nk == 3 || i % nk % 5 == 2 ? -INFINITY : thousandth(400);
    float *packed = nans(ngk_attention_packed_keys_floats(nk, d));
    ngk_attention_pack_keys(k, d, nk, d, packed);
    const ngk_attention_head h = {q, d, packed, v, dv, NULL, dv, nk, d, dv, 1 / sqrtf((float)d),
                                  mask, nk, c->masked ? nk : 0, c->causal, c->causal_offset};
    // Query tiles of the work split (48 rows, Attention.fusedQueryTile), a partial last tile, and
    // 7 rows from row 53 (not at a row group's start) in the long shapes.
    const size_t tile = 48, last = (nq - 1) / tile * tile;
    size_t ranges[3][2] = {{0, nq < tile ? nq : tile}}, nr = 1;
    if (nq > tile) { ranges[nr][0] = last; ranges[nr][1] = nq - last; nr++; }
    if (nq > 3 * tile) { ranges[nr][0] = tile + 5; ranges[nr][1] = 7; nr++; }
    for (size_t r = 0; r < nr; r++) {
        const size_t first = ranges[r][0], count = ranges[r][1];
        float *fast = run_fused(ngk_attention_rows_avx512, h, nq, first, count);
        float *slow = run_fused(ngk_attention_rows_ref, h, nq, first, count);
        int finite = 1, outside = 0, masked_zero = 1;
        for (size_t i = 0; i < nq * dv; i++) {
            const int inside = i >= first * dv && i < (first + count) * dv;
            if (inside) finite &= isfinite(fast[i]) != 0;
            else outside |= !isnan(fast[i]);
        }
        if (c->masked && first == 0)
            for (size_t i = 3 * dv; i < 4 * dv; i++) masked_zero &= fast[i] == 0;
        const double err = check_rel_l2(fast + first * dv, slow + first * dv, count * dv);
        char detail[128];
        snprintf(detail, sizeof detail, "d %zu dv %zu q %zu k %zu%s%s rows %zu+%zu%s%s%s", d, dv, nq, nk, c->causal ? " causal" : "",
                 c->masked ? " masked" : "", first, count, finite ? "" : " (non-finite)", outside ? " (wrote outside)" : "",
                 masked_zero ? "" : " (masked row not 0)");
        check_expect(finite && !outside && masked_zero && err <= 1e-5, "attention_rows_avx512", detail, err);
        free(fast); free(slow);
    }
    free(q); free(k); free(v); free(mask); free(packed);
}

// The shapes of the models (SD 1.5 self- and cross-attention, ZeroScope's spatial attention,
// ImageBind-huge), key tails of 1, 17 and 255, causal diagonals both ways, an additive mask with
// removed keys and a fully masked row, and every value width 8…160 (each row group and tail).
static void check_fused(void) {
    const fused_case fixed[] = {
        {40, 40, 4096, 4096, 0, 0, 0}, {40, 40, 4096, 77, 0, 0, 0}, {64, 64, 2880, 2880, 0, 0, 0}, {80, 80, 257, 257, 0, 0, 0},
        {40, 40, 77, 77, 1, 0, 0}, {80, 80, 50, 130, 1, 80, 0}, {64, 64, 70, 30, 1, -40, 0},
        {40, 40, 53, 200, 0, 0, 1}, {64, 64, 29, 90, 1, 0, 1},
    };
    for (size_t i = 0; i < 4; i++) check_fused_case(&fixed[i]);
    const size_t keys[] = {1, 17, 255}, widths[] = {40, 64, 80};
    for (size_t k = 0; k < 3; k++)
        for (size_t w = 0; w < 3; w++) check_fused_case(&(fused_case){widths[w], widths[w], 61, keys[k], 0, 0, 0});
    for (size_t i = 4; i < sizeof fixed / sizeof fixed[0]; i++) check_fused_case(&fixed[i]);
    for (size_t dv = 8; dv <= 160; dv += 8) check_fused_case(&(fused_case){168 - dv, dv, 14, 37, 0, 0, 0});
}

// ---------------------------------------------------------------- f16 KV cache

// The sum of two uniform draws (Xorshift64.triangular).
static float triangular(float scale) {
    const float u = (float)(check_random() >> 40) / (float)(1 << 24), v = (float)(check_random() >> 40) / (float)(1 << 24);
    return (u + v - 1) * scale;
}

static uint16_t *halves(size_t n, float scale) {
    uint16_t *h = malloc(n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) h[i] = ngk_fp32_to_fp16(triangular(scale));
    return h;
}

// Every lane of a within 2e-6 + 2e-5·|b| of b (NaN fails); the error reported is the worst lane's
// share of its allowance (≤ 1 passes).
static void expect_lanes_close(const char *what, const char *detail, const float *a, const double *b, size_t n) {
    double worst = 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const double allowed = 2e-6 + 2e-5 * fabs(b[i]), e = fabs((double)a[i] - b[i]) / allowed;
        ok &= e <= 1;
        worst = e > worst || isnan(e) ? e : worst;
    }
    check_expect(ok, what, detail, worst);
}

// LLaMA's head size over a long GQA-strided cache, widths that are not multiples of 16 or 8 (the
// bodies' tails), one key, and a value width above one register pass (160 > 128).
static void check_row_f16(void) {
    const size_t cases[][4] = {{1, 128, 128, 1}, {577, 128, 128, 4}, {33, 40, 40, 2}, {9, 20, 12, 3}, {300, 64, 80, 1}, {17, 24, 160, 2}};
    for (size_t c = 0; c < 6; c++) {
        const size_t n = cases[c][0], d = cases[c][1], dv = cases[c][2], kv = cases[c][3], width = d > dv ? d : dv;
        const size_t ld = kv * width, offset = kv > 1 ? width : 0;  // head 1 when there are several
        float *q = malloc(d * sizeof(float));
        for (size_t i = 0; i < d; i++) q[i] = triangular(2);
        uint16_t *k = halves(n * ld, 2), *v = halves(n * ld, 1);
        const float alpha = 1 / sqrtf((float)d);
        float *scores = nans(n), *out = nans(dv), *twin = nans(dv);
        ngo_attend_row_f16_avx512(q, k + offset, ld, v + offset, ld, n, d, dv, alpha, scores, out);
        for (size_t j = 0; j < n; j++) scores[j] = NAN;
        ngo_attend_row_f16_ref(q, k + offset, ld, v + offset, ld, n, d, dv, alpha, scores, twin);
        // softmax(q·k·alpha)·v in Double over the same halves.
        double *logits = malloc(n * sizeof(double)), *expect = calloc(dv, sizeof(double)), *twin_d = malloc(dv * sizeof(double)), top = -INFINITY, sum = 0;
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t i = 0; i < d; i++) s += (double)q[i] * ngk_fp16_to_fp32(k[j * ld + offset + i]);
            logits[j] = s * alpha;
            top = logits[j] > top ? logits[j] : top;
        }
        for (size_t j = 0; j < n; j++) {
            logits[j] = exp(logits[j] - top);
            sum += logits[j];
        }
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < dv; i++) expect[i] += logits[j] / sum * ngk_fp16_to_fp32(v[j * ld + offset + i]);
        for (size_t i = 0; i < dv; i++) twin_d[i] = twin[i];
        char detail[128];
        snprintf(detail, sizeof detail, "n %zu d %zu dv %zu kv heads %zu", n, d, dv, kv);
        expect_lanes_close("attend_row_f16_avx512", detail, out, expect, dv);
        expect_lanes_close("attend_row_f16_ref", detail, twin, expect, dv);
        expect_lanes_close("attend_row_f16_avx512 = ref", detail, out, twin_d, dv);
        free(q); free(k); free(v); free(scores); free(out); free(twin); free(logits); free(expect); free(twin_d);
    }
}

// Runs that start inside a kv-head group, GQA and plain heads, widths with tails, a value width
// above 128: per head bit for bit the row body's result (same dot, softmax and FMAs in order).
static void check_heads_f16(void) {
    // (positions, d, dv, kv heads, group, first head, heads in the run)
    const size_t cases[][7] = {{577, 128, 128, 4, 8, 5, 19}, {513, 128, 128, 32, 1, 16, 16}, {33, 40, 40, 2, 2, 1, 3},
                               {9, 20, 12, 3, 1, 0, 3}, {17, 24, 160, 2, 3, 2, 4}, {1, 64, 64, 2, 1, 1, 1}};
    for (size_t c = 0; c < 6; c++) {
        const size_t n = cases[c][0], d = cases[c][1], dv = cases[c][2], kv = cases[c][3], group = cases[c][4];
        const size_t first = cases[c][5], run = cases[c][6], ldk = kv * d, ldv = kv * dv;
        float *q = malloc(run * d * sizeof(float));
        for (size_t i = 0; i < run * d; i++) q[i] = triangular(2);
        uint16_t *k = halves(n * ldk, 2), *v = halves(n * ldv, 1);
        const float alpha = 1 / sqrtf((float)d);
        float *scores = nans(n * run), *together = nans(run * dv), *alone = nans(run * dv), *twin = nans(run * dv);
        ngo_attend_heads_f16_avx512(q, run, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, together);
        for (size_t h = 0; h < run; h++) {
            const size_t kvh = (first + h) / group;
            ngo_attend_row_f16_avx512(q + h * d, k + kvh * d, ldk, v + kvh * dv, ldv, n, d, dv, alpha, scores, alone + h * dv);
        }
        ngo_attend_heads_f16_ref(q, run, first, group, k, ldk, v, ldv, n, d, dv, alpha, scores, twin);
        int nan_left = 0;
        for (size_t i = 0; i < run * dv; i++) nan_left |= isnan(alone[i]);
        double *twin_d = malloc(run * dv * sizeof(double));
        for (size_t i = 0; i < run * dv; i++) twin_d[i] = twin[i];
        char detail[128];
        snprintf(detail, sizeof detail, "n %zu d %zu dv %zu kv %zu group %zu heads %zu+%zu%s", n, d, dv, kv, group, first, run,
                 nan_left ? " (row body left NaN)" : "");
        check_expect(!nan_left && memcmp(together, alone, run * dv * sizeof(float)) == 0, "attend_heads_f16_avx512 = row",
                     detail, check_rel_l2(together, alone, run * dv));
        expect_lanes_close("attend_heads_f16_avx512 = ref", detail, together, twin_d, run * dv);
        free(q); free(k); free(v); free(scores); free(together); free(alone); free(twin); free(twin_d);
    }
}

typedef void (*part_body)(const float *, size_t, size_t, const uint16_t *, size_t, const uint16_t *, size_t, size_t, size_t,
                          size_t, float, float *, float *, float *, float *);
typedef void (*row_body)(const float *, const uint16_t *, size_t, const uint16_t *, size_t, size_t, size_t, size_t, float, float *,
                         float *);

// One decode row split into parts of its positions (flash-decoding), the twin first, then the
// AVX-512 body: each merged over the parts against its own row body, the AVX-512 body's maxima,
// sums and unnormalised outputs against the twin's.
static void check_parts_f16(void) {
    // (positions, parts, d, kv heads, group)
    const size_t cases[][5] = {{577, 8, 128, 4, 2}, {300, 3, 64, 2, 1}, {65, 5, 40, 1, 3}, {19, 2, 20, 3, 1}};
    const part_body parts_of[2] = {ngo_attend_part_f16_ref, ngo_attend_part_f16_avx512};
    const row_body row_of[2] = {ngo_attend_row_f16_ref, ngo_attend_row_f16_avx512};
    const char *names[2] = {"attend_part_f16_ref", "attend_part_f16_avx512"};
    for (size_t c = 0; c < 4; c++) {
        const size_t n = cases[c][0], parts = cases[c][1], d = cases[c][2], kv = cases[c][3], group = cases[c][4];
        const size_t ld = kv * d, heads = kv * group;
        float *q = malloc(heads * d * sizeof(float));
        for (size_t i = 0; i < heads * d; i++) q[i] = triangular(2);
        uint16_t *k = halves(n * ld, 2), *v = halves(n * ld, 1);
        const float alpha = 1 / sqrtf((float)d);
        float *m[2], *l[2], *o[2];
        for (int b = 0; b < 2; b++) {
            m[b] = nans(parts * heads); l[b] = nans(parts * heads); o[b] = nans(parts * heads * d);
            float *scores = nans(heads * n), *merged = nans(heads * d), *rows = nans(heads * d);
            for (size_t p = 0; p < parts; p++) {
                const size_t j0 = n * p / parts, j1 = n * (p + 1) / parts;
                parts_of[b](q, heads, group, k + j0 * ld, ld, v + j0 * ld, ld, j1 - j0, d, d, alpha, scores, m[b] + p * heads,
                            l[b] + p * heads, o[b] + p * heads * d);
            }
            ngo_attend_merge_parts(parts, heads, d, m[b], l[b], o[b], merged);
            for (size_t h = 0; h < heads; h++)
                row_of[b](q + h * d, k + h / group * d, ld, v + h / group * d, ld, n, d, d, alpha, scores, rows + h * d);
            int nan_left = 0;
            for (size_t i = 0; i < heads * d; i++) nan_left |= isnan(rows[i]) || isnan(merged[i]);
            char detail[128];
            snprintf(detail, sizeof detail, "%zu parts of %zu, d %zu kv %zu group %zu%s", parts, n, d, kv, group, nan_left ? " (NaN)" : "");
            const double err = check_rel_l2(merged, rows, heads * d);
            char what[64];
            snprintf(what, sizeof what, "%s merged = row", names[b]);
            check_expect(!nan_left && err <= 1e-6, what, detail, err);
            free(scores); free(merged); free(rows);
        }
        char detail[128];
        snprintf(detail, sizeof detail, "%zu parts of %zu, d %zu kv %zu group %zu", parts, n, d, kv, group);
        const double em = check_rel_l2(m[1], m[0], parts * heads), el = check_rel_l2(l[1], l[0], parts * heads);
        const double eo = check_rel_l2(o[1], o[0], parts * heads * d);
        check_expect(em <= 1e-6, "attend_part_f16_avx512 maxima", detail, em);
        check_expect(el <= 1e-5, "attend_part_f16_avx512 sums", detail, el);
        check_expect(eo <= 1e-5, "attend_part_f16_avx512 outputs", detail, eo);
        for (int b = 0; b < 2; b++) { free(m[b]); free(l[b]); free(o[b]); }
        free(q); free(k); free(v);
    }
}

void check_attention(void) {
    check_fused();
    check_row_f16();
    check_heads_f16();
    check_parts_f16();
}
