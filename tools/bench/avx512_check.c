// Every AVX-512 kernel body against its scalar twin (run by avx512_check.sh). Under emulation the
// bodies run as SIMDe's portable code on any x86-64 CPU; with --native, as the CPU's instructions
// (then only where it has AVX-512 VNNI). Sizes as the Swift tests that skip without AVX-512: rows
// around the 8- and 16-row groups, batches around the 4-activation tiles, ldy past the rows.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avx512_check.h"
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"

typedef void (*mv_fn)(const void *, size_t, size_t, size_t, const void *, size_t, size_t, float *, size_t);

static uint64_t rng = 0x9E3779B97F4A7C15ull;
uint64_t check_random(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }
float check_random_float(float scale) { return ((float)(check_random() >> 40) / (float)(1 << 24) * 2 - 1) * scale; }
float check_random_activation(float scale) {
    static unsigned calls = 0;
    const float x = check_random_float(scale);
    return ++calls % 29 == 0 ? 40 * x : x;
}

double check_rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) { const double d = (double)a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
    return den == 0 ? sqrt(num) : sqrt(num / den);
}

static int failures = 0, checks = 0;
void check_expect(int ok, const char *what, const char *detail, double err) {
    checks++;
    if (!ok) { failures++; printf("FAIL %-24s %-40s rel L2 %.3g\n", what, detail, err); }
}

static float *nan_filled(size_t n) {
    float *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) y[i] = NAN;
    return y;
}

// Compares two kernels' outputs over nb × rows (ldy apart; rel L2 over all of them, as the Swift
// tests) and checks nothing was written past the rows; bitwise when `tolerance` is negative.
static void compare(const char *what, const float *fast, const float *slow, size_t nb, size_t rows, size_t ldy,
                    size_t cols, double tolerance) {
    double num = 0, den = 0;
    int past = 0, same = 1;
    for (size_t b = 0; b < nb; b++) {
        for (size_t r = 0; r < rows; r++) {
            const double d = (double)fast[b * ldy + r] - slow[b * ldy + r];
            num += d * d;
            den += (double)slow[b * ldy + r] * slow[b * ldy + r];
        }
        for (size_t r = rows; r < ldy; r++) past |= !isnan(fast[b * ldy + r]);
        same &= memcmp(fast + b * ldy, slow + b * ldy, rows * sizeof(float)) == 0;
    }
    const double err = den == 0 ? sqrt(num) : sqrt(num / den);
    char detail[64];
    snprintf(detail, sizeof detail, "rows %zu cols %zu batch %zu%s", rows, cols, nb, past ? " (wrote past)" : "");
    check_expect(!past && (tolerance < 0 ? same : err <= tolerance), what, detail, err);
}

// ---------------------------------------------------------------- Q8_0 / Q4_0 packed in 8 rows

static uint8_t *random_blocks(size_t rows, size_t cols, size_t block_bytes) {
    const size_t nblk = rows * cols / 32;
    uint8_t *w = malloc(nblk * block_bytes);
    for (size_t i = 0; i < nblk * block_bytes; i++) w[i] = (uint8_t)check_random();
    for (size_t b = 0; b < nblk; b++) {
        const uint16_t h = ngk_fp32_to_fp16(0.002f + check_random_float(0.01f));
        memcpy(w + b * block_bytes, &h, 2);
    }
    return w;
}

static void check_packed(size_t block_bytes, mv_fn vnni, mv_fn avx2, mv_fn twin, mv_fn gemm, const char *name,
                         size_t rows, size_t cols, size_t nb) {
    const size_t nblk = cols / 32, groups = (rows + 7) / 8, group_bytes = nblk * 8 * block_bytes, ldy = rows + 2;
    uint8_t *w = random_blocks(rows, cols, block_bytes), *packed = calloc(groups, group_bytes);
    ngk_pack_rows_x8(w, rows, nblk, block_bytes, 0, groups, packed);
    float *x = malloc(nb * cols * sizeof(float));
    for (size_t i = 0; i < nb * cols; i++) x[i] = check_random_activation(2);
    uint8_t *xa = malloc(nb * nblk * 40);
    for (size_t b = 0; b < nb; b++) ngk_quantize_act_q8_0_split(x + b * cols, xa + b * nblk * 40, cols);
    float *y_vnni = nan_filled(nb * ldy), *y_twin = nan_filled(nb * ldy), *y_avx2 = nan_filled(nb * ldy), *y_gemm = nan_filled(nb * ldy);
    vnni(packed, group_bytes, rows, cols, xa, nblk * 40, nb, y_vnni, ldy);
    twin(packed, group_bytes, rows, cols, xa, nblk * 40, nb, y_twin, ldy);
    avx2(packed, group_bytes, rows, cols, xa, nblk * 40, nb, y_avx2, ldy);
    gemm(packed, group_bytes, rows, cols, xa, nblk * 40, nb, y_gemm, ldy);
    char what[48];
    snprintf(what, sizeof what, "mv_%sx8_vnni", name);
    compare(what, y_vnni, y_twin, nb, rows, ldy, cols, 1e-6);
    snprintf(what, sizeof what, "gemm_%sx8", name);
    compare(what, y_gemm, y_twin, nb, rows, ldy, cols, 1e-6);
    if (nb == 1) {  // decode: the AVX2 body's float operations, so the same bits
        snprintf(what, sizeof what, "mv_%sx8_vnni = avx2", name);
        compare(what, y_vnni, y_avx2, nb, rows, ldy, cols, -1);
    }
    free(w); free(packed); free(x); free(xa); free(y_vnni); free(y_twin); free(y_avx2); free(y_gemm);
}

void check_packed_matmul(void) {
    const size_t cols_list[] = {32, 96, 416, 4096}, rows_list[] = {1, 3, 8, 13, 16, 17, 37, 64, 100}, nb_list[] = {1, 2, 3, 5, 9};
    for (size_t c = 0; c < 4; c++)
        for (size_t r = 0; r < 9; r++)
            for (size_t n = 0; n < 5; n++) {
                check_packed(34, ngk_mv_q8_0x8_vnni, ngk_mv_q8_0x8, ngk_mv_q8_0x8_ref, ngk_gemm_q8_0x8, "q8_0", rows_list[r], cols_list[c], nb_list[n]);
                check_packed(18, ngk_mv_q4_0x8_vnni, ngk_mv_q4_0x8, ngk_mv_q4_0x8_ref, ngk_gemm_q4_0x8, "q4_0", rows_list[r], cols_list[c], nb_list[n]);
            }
}

// ---------------------------------------------------------------- Q4_K packed in 8 rows

// Every nibble and 6-bit scale / min value, moderate f16 d and dmin (as PackedQ4KTests).
static void check_q4_k_case(size_t rows, size_t cols, size_t nb) {
    const size_t nblk = cols / 256, groups = (rows + 7) / 8, group_bytes = nblk * NGK_Q4_KX8_BYTES, ldy = rows + 3;
    uint8_t *w = malloc(rows * nblk * NGK_Q4_K_BYTES), *packed = calloc(groups, group_bytes);
    for (size_t i = 0; i < rows * nblk * NGK_Q4_K_BYTES; i++) w[i] = (uint8_t)check_random();
    for (size_t b = 0; b < rows * nblk; b++) {
        const uint16_t d = ngk_fp32_to_fp16(0.0005f + check_random_float(0.002f)), dmin = ngk_fp32_to_fp16(0.0002f + check_random_float(0.001f));
        memcpy(w + b * NGK_Q4_K_BYTES, &d, 2);
        memcpy(w + b * NGK_Q4_K_BYTES + 2, &dmin, 2);
    }
    ngk_pack_rows_q4_kx8(w, rows, nblk, 0, groups, packed);
    float *x = malloc(nb * cols * sizeof(float));
    for (size_t i = 0; i < nb * cols; i++) x[i] = check_random_activation(2);
    uint8_t *xa = malloc(nb * nblk * NGK_Q8_K_BYTES);
    for (size_t b = 0; b < nb; b++) ngk_quantize_act_q8_k(x + b * cols, xa + b * nblk * NGK_Q8_K_BYTES, cols);
    float *y_vnni = nan_filled(nb * ldy), *y_gemm = nan_filled(nb * ldy), *y_twin = nan_filled(nb * ldy);
    ngk_mv_q4_kx8_vnni(packed, group_bytes, rows, cols, xa, nblk * NGK_Q8_K_BYTES, nb, y_vnni, ldy);
    ngk_gemm_q4_kx8(packed, group_bytes, rows, cols, xa, nblk * NGK_Q8_K_BYTES, nb, y_gemm, ldy);
    ngk_mv_q4_kx8_ref(packed, group_bytes, rows, cols, xa, nblk * NGK_Q8_K_BYTES, nb, y_twin, ldy);
    compare("mv_q4_kx8_vnni", y_vnni, y_twin, nb, rows, ldy, cols, 1e-5);
    compare("gemm_q4_kx8", y_gemm, y_twin, nb, rows, ldy, cols, 1e-5);
    if (nb >= 4) {  // decode's passes do per lane what the 4-activation tiles do: the same bits
        float *y_one = nan_filled(ldy);
        ngk_mv_q4_kx8_vnni(packed, group_bytes, rows, cols, xa, nblk * NGK_Q8_K_BYTES, 1, y_one, ldy);
        compare("mv_q4_kx8_vnni decode = tile", y_one, y_vnni, 1, rows, ldy, cols, -1);
        free(y_one);
    }
    free(w); free(packed); free(x); free(xa); free(y_vnni); free(y_gemm); free(y_twin);
}

void check_q4_k(void) {
    const size_t cols_list[] = {256, 768, 1280}, rows_list[] = {1, 3, 8, 13, 16, 17, 24, 32, 37, 64, 100}, nb_list[] = {1, 2, 4, 5, 9, 70};
    for (size_t c = 0; c < 3; c++)
        for (size_t r = 0; r < 11; r++)
            for (size_t n = 0; n < 6; n++)
                if (!(nb_list[n] == 70 && cols_list[c] > 256)) check_q4_k_case(rows_list[r], cols_list[c], nb_list[n]);
}

int main(int argc, char **argv) {
    printf("kernel path: %s\n", ngk_cpu_path());
    if (!ngk_use_avx512vnni()) { printf("skipped: no AVX-512 (VNNI) on this CPU; run without --native to emulate it\n"); return 0; }
    const char *only = argc > 1 ? argv[1] : "";
    struct { const char *name; void (*run)(void); } parts[] = {
        {"packed", check_packed_matmul}, {"q4_k", check_q4_k}, {"lanes", check_lanes}, {"attention", check_attention}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (*only && strcmp(only, parts[i].name)) continue;
        const int before = failures, before_checks = checks;
        parts[i].run();
        printf("%-10s %5d checks, %d failures\n", parts[i].name, checks - before_checks, failures - before);
    }
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
