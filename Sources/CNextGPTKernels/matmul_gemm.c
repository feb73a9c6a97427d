// Tiled integer GEMM: repacked Q8_0 / Q4_0 weights (8-row groups, nextgpt_matmul.h) × split Q8_0
// activations, for batches (ViT tokens, prompt prefill). The AVX-512 VNNI body takes 16 rows (two
// groups side by side in one zmm) × 8 activations per tile: each weight vector is loaded once per
// tile and feeds 8 vpdpbusd, each activation chunk is one embedded broadcast. vpdpbusd multiplies
// unsigned by signed bytes, so Q8_0 weights are flipped to w + 128 (xor 0x80) and the block sum
// starts at −128·Σa (the split format's block sums); Q4_0 nibbles are already unsigned (0..15) and
// start at −8·Σa. Per block the exact int32 sum is scaled and accumulated in f32, in block order,
// like the scalar twins (which round the scale product and the sum separately, where the FMA here
// rounds once: results agree to float rounding, not bit for bit).
// Without VNNI the entry points run the packed matrix-vector kernels (AVX2, 8 rows × 4 activations).
// The same file holds the VNNI matrix × vector bodies of the packed layout (ngk_mv_*x8_vnni).
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

void ngk_gemm_q8_0x8_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                         const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    ngk_mv_q8_0x8_ref(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

void ngk_gemm_q4_0x8_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                         const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    ngk_mv_q4_0x8_ref(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

#if defined(__x86_64__)
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define VINLINE VNNI static inline __attribute__((always_inline))

enum { TILE_ROWS = 16, TILE_ACTS = 8, ACT_PANEL = 64 };

// Activation b of the split format: quants, f32 scales, int32 block sums.
typedef struct { const int8_t *q; const float *d; const int32_t *sum; } act_row;

VINLINE act_row act_at(const void *xa, size_t xa_stride, size_t b, size_t nblk) {
    const uint8_t *base = (const uint8_t *)xa + b * xa_stride;
    act_row a = {(const int8_t *)base, (const float *)(base + nblk * 32), (const int32_t *)(base + nblk * 36)};
    return a;
}

// 4 activation bytes (one chunk) in every 32-bit lane.
VINLINE __m512i chunk_broadcast(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// The 16 rows' f16 scales of block k (group g0 in lanes 0–7, g1 in 8–15) as f32.
VINLINE __m512 tile_scales(const uint8_t *b0, const uint8_t *b1) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b0)),
                                              _mm_loadu_si128((const __m128i *)b1), 1);
    return _mm512_cvtph_ps(h);
}

// Quant chunk c of the two groups' blocks: 8 rows × 4 bytes each, g0 low, g1 high.
VINLINE __m512i tile_chunk(const uint8_t *b0, const uint8_t *b1, size_t offset) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + offset))),
                              _mm256_loadu_si256((const __m256i *)(b1 + offset)), 1);
}

VINLINE void tile_store(float *y, size_t ldy, int J, size_t rows, const __m512 *acc) {
    const __mmask16 mask = rows >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rows) - 1);
    for (int j = 0; j < J; j++) _mm512_mask_storeu_ps(y + j * ldy, mask, acc[j]);
}

// Groups g0, g1 (16 rows) × J activations over all nblk blocks of Q8_0.
VINLINE void q8_0_tile(int J, const uint8_t *g0, const uint8_t *g1, size_t nblk, const act_row *a, __m512 *acc) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int j = 0; j < J; j++) acc[j] = _mm512_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *b0 = g0 + k * NGK_Q8_0X8_BYTES, *b1 = g1 + k * NGK_Q8_0X8_BYTES;
        __m512i s[TILE_ACTS];
        for (int j = 0; j < J; j++) s[j] = _mm512_set1_epi32(-128 * a[j].sum[k]);
        for (int c = 0; c < 8; c++) {
            const __m512i v = _mm512_xor_si512(tile_chunk(b0, b1, 16 + 32 * c), flip);
            for (int j = 0; j < J; j++) s[j] = _mm512_dpbusd_epi32(s[j], v, chunk_broadcast(a[j].q + 32 * k + 4 * c));
        }
        const __m512 dw = tile_scales(b0, b1);
        for (int j = 0; j < J; j++)
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a[j].d[k])), _mm512_cvtepi32_ps(s[j]), acc[j]);
    }
}

// The same for Q4_0: low nibbles are elements 0–15 of the block, high nibbles 16–31.
VINLINE void q4_0_tile(int J, const uint8_t *g0, const uint8_t *g1, size_t nblk, const act_row *a, __m512 *acc) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (int j = 0; j < J; j++) acc[j] = _mm512_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *b0 = g0 + k * NGK_Q4_0X8_BYTES, *b1 = g1 + k * NGK_Q4_0X8_BYTES;
        __m512i s[TILE_ACTS];
        for (int j = 0; j < J; j++) s[j] = _mm512_set1_epi32(-8 * a[j].sum[k]);
        for (int c = 0; c < 4; c++) {
            const __m512i v = tile_chunk(b0, b1, 16 + 32 * c);
            const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
            for (int j = 0; j < J; j++) {
                s[j] = _mm512_dpbusd_epi32(s[j], lo, chunk_broadcast(a[j].q + 32 * k + 4 * c));
                s[j] = _mm512_dpbusd_epi32(s[j], hi, chunk_broadcast(a[j].q + 32 * k + 16 + 4 * c));
            }
        }
        const __m512 dw = tile_scales(b0, b1);
        for (int j = 0; j < J; j++)
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a[j].d[k])), _mm512_cvtepi32_ps(s[j]), acc[j]);
    }
}

// Row tiles of 16 (a last lone group reads itself twice and stores 8 rows) × activation tiles of
// 8, then 4, 2, 1 for the rest; activations in panels of 64 so a panel stays in L1/L2 while the
// thread's row range streams past it.
#define GEMM_BODY(NAME, TILE_FN)                                                                         \
    VNNI static void NAME##_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,             \
                                 const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {    \
        const size_t nblk = ncols / 32;                                                                  \
        const uint8_t *wb = (const uint8_t *)w;                                                          \
        for (size_t p0 = 0; p0 < nb; p0 += ACT_PANEL) {                                                  \
            const size_t p1 = nb - p0 < ACT_PANEL ? nb : p0 + ACT_PANEL;                                 \
            for (size_t r0 = 0; r0 < nrows; r0 += TILE_ROWS) {                                           \
                const size_t rows = nrows - r0 < TILE_ROWS ? nrows - r0 : TILE_ROWS;                     \
                const uint8_t *g0 = wb + r0 / NGK_PACK_ROWS * w_stride, *g1 = rows > 8 ? g0 + w_stride : g0; \
                size_t b = p0;                                                                           \
                act_row a[TILE_ACTS];                                                                    \
                __m512 acc[TILE_ACTS];                                                                   \
                for (; b + 8 <= p1; b += 8) {                                                            \
                    for (int j = 0; j < 8; j++) a[j] = act_at(xa, xa_stride, b + j, nblk);               \
                    TILE_FN(8, g0, g1, nblk, a, acc);                                                    \
                    tile_store(y + b * ldy + r0, ldy, 8, rows, acc);                                     \
                }                                                                                        \
                if (b + 4 <= p1) {                                                                       \
                    for (int j = 0; j < 4; j++) a[j] = act_at(xa, xa_stride, b + j, nblk);               \
                    TILE_FN(4, g0, g1, nblk, a, acc);                                                    \
                    tile_store(y + b * ldy + r0, ldy, 4, rows, acc);                                     \
                    b += 4;                                                                              \
                }                                                                                        \
                if (b + 2 <= p1) {                                                                       \
                    for (int j = 0; j < 2; j++) a[j] = act_at(xa, xa_stride, b + j, nblk);               \
                    TILE_FN(2, g0, g1, nblk, a, acc);                                                    \
                    tile_store(y + b * ldy + r0, ldy, 2, rows, acc);                                     \
                    b += 2;                                                                              \
                }                                                                                        \
                if (b < p1) {                                                                            \
                    a[0] = act_at(xa, xa_stride, b, nblk);                                               \
                    TILE_FN(1, g0, g1, nblk, a, acc);                                                    \
                    tile_store(y + b * ldy + r0, ldy, 1, rows, acc);                                     \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    }

GEMM_BODY(gemm_q8_0x8, q8_0_tile)
GEMM_BODY(gemm_q4_0x8, q4_0_tile)

// ---- matrix × one activation (decode) with VNNI: one group per zmm pair of chunks ----
// A 64-byte load holds quant chunks c and c+1 of a group's 8 rows; the activation vector holds
// chunk c's 4 bytes in lanes 0–7 and chunk c+1's in lanes 8–15 (one permute per chunk pair per
// block, shared by the G groups). Each half starts at half the block's offset (−4·Σa for Q4_0's
// nibbles, −64·Σa for Q8_0 flipped to w + 128), and the halves are added in int32 before the
// scale: the exact block sums, then the same float operations as the AVX2 body (same results).
// Each thread streams G contiguous group rows, as the AVX2 body does.

// Lanes 0–7: dword i of the block's 32 activation bytes; lanes 8–15: dword i + 1.
VINLINE __m512i pair_broadcast(__m512i q, int i) {
    const __m512i index = _mm512_setr_epi32(i, i, i, i, i, i, i, i, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1);
    return _mm512_permutexvar_epi32(index, q);
}

VINLINE __m256i fold_halves(__m512i s) {
    return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

VINLINE void q4_0x8_groups_vnni(int G, const uint8_t *group, size_t w_stride, size_t nblk, act_row a, __m256 *acc) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (int j = 0; j < G; j++) acc[j] = _mm256_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const __m512i q = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a.q + 32 * k)));
        // Low nibbles are elements 0–15 (dwords 0–3), high nibbles 16–31 (dwords 4–7).
        const __m512i lo01 = pair_broadcast(q, 0), lo23 = pair_broadcast(q, 2);
        const __m512i hi01 = pair_broadcast(q, 4), hi23 = pair_broadcast(q, 6);
        const __m512i offset = _mm512_set1_epi32(-4 * a.sum[k]);
        const __m256 dy = _mm256_set1_ps(a.d[k]);
        for (int j = 0; j < G; j++) {
            const uint8_t *blk = group + j * w_stride + k * NGK_Q4_0X8_BYTES;
            const __m512i v01 = _mm512_loadu_si512((const void *)(blk + 16)), v23 = _mm512_loadu_si512((const void *)(blk + 80));
            __m512i s = _mm512_dpbusd_epi32(offset, _mm512_and_si512(v01, low4), lo01);
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(v23, low4), lo23);
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v01, 4), low4), hi01);
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v23, 4), low4), hi23);
            const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), dy);
            acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(fold_halves(s)), acc[j]);
        }
    }
}

VINLINE void q8_0x8_groups_vnni(int G, const uint8_t *group, size_t w_stride, size_t nblk, act_row a, __m256 *acc) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int j = 0; j < G; j++) acc[j] = _mm256_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const __m512i q = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a.q + 32 * k)));
        __m512i qc[4];
        for (int c = 0; c < 4; c++) qc[c] = pair_broadcast(q, 2 * c);
        const __m512i offset = _mm512_set1_epi32(-64 * a.sum[k]);
        const __m256 dy = _mm256_set1_ps(a.d[k]);
        for (int j = 0; j < G; j++) {
            const uint8_t *blk = group + j * w_stride + k * NGK_Q8_0X8_BYTES;
            __m512i s = offset;
            for (int c = 0; c < 4; c++)
                s = _mm512_dpbusd_epi32(s, _mm512_xor_si512(_mm512_loadu_si512((const void *)(blk + 16 + 64 * c)), flip), qc[c]);
            const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), dy);
            acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(fold_halves(s)), acc[j]);
        }
    }
}

VINLINE void store_rows(float *y, size_t rows, __m256 v) {
    if (rows >= NGK_PACK_ROWS) { _mm256_storeu_ps(y, v); return; }
    float t[8];
    _mm256_storeu_ps(t, v);
    memcpy(y, t, rows * sizeof(float));
}

// Batches of 2+ go through the GEMM tiles (embedded broadcasts, no permutes); one activation
// through 8 groups at a time (the permuted activation shared by 8, and 8 independent sum chains;
// one Zen 4 core's Q4_0 GEMV read 17.9 GB/s with 2 groups, 20.4–22.0 with 4, 24.4–24.6 with 8),
// then 4, 2, an odd group and a partial one.
#define MV_VNNI_BODY(NAME, GROUPS_FN, GEMM_FN)                                                           \
    VNNI static void NAME##_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,             \
                                 const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {    \
        if (nb != 1) { GEMM_FN##_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }   \
        const size_t nblk = ncols / 32;                                                                  \
        const uint8_t *wb = (const uint8_t *)w;                                                          \
        const act_row a = act_at(xa, xa_stride, 0, nblk);                                                \
        __m256 acc[8];                                                                                   \
        size_t r0 = 0;                                                                                   \
        for (; r0 + 8 * NGK_PACK_ROWS <= nrows; r0 += 8 * NGK_PACK_ROWS) {                               \
            GROUPS_FN(8, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, a, acc);                    \
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(y + r0 + j * NGK_PACK_ROWS, acc[j]);            \
        }                                                                                                \
        for (; r0 + 4 * NGK_PACK_ROWS <= nrows; r0 += 4 * NGK_PACK_ROWS) {                               \
            GROUPS_FN(4, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, a, acc);                    \
            for (int j = 0; j < 4; j++) _mm256_storeu_ps(y + r0 + j * NGK_PACK_ROWS, acc[j]);            \
        }                                                                                                \
        for (; r0 + 2 * NGK_PACK_ROWS <= nrows; r0 += 2 * NGK_PACK_ROWS) {                               \
            GROUPS_FN(2, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, a, acc);                    \
            _mm256_storeu_ps(y + r0, acc[0]);                                                            \
            _mm256_storeu_ps(y + r0 + NGK_PACK_ROWS, acc[1]);                                            \
        }                                                                                                \
        for (; r0 < nrows; r0 += NGK_PACK_ROWS) {                                                        \
            GROUPS_FN(1, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, a, acc);                    \
            store_rows(y + r0, nrows - r0, acc[0]);                                                      \
        }                                                                                                \
    }

MV_VNNI_BODY(mv_q8_0x8, q8_0x8_groups_vnni, gemm_q8_0x8)
MV_VNNI_BODY(mv_q4_0x8, q4_0x8_groups_vnni, gemm_q4_0x8)
#endif

void ngk_gemm_q8_0x8(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { gemm_q8_0x8_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }
#endif
    ngk_mv_q8_0x8(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

void ngk_gemm_q4_0x8(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { gemm_q4_0x8_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }
#endif
    ngk_mv_q4_0x8(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

void ngk_mv_q8_0x8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                        const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { mv_q8_0x8_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }
#endif
    ngk_mv_q8_0x8(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

void ngk_mv_q4_0x8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                        const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { mv_q4_0x8_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }
#endif
    ngk_mv_q4_0x8(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}
