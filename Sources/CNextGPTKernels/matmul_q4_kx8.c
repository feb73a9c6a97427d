// Repacked Q4_K weights (8 interleaved rows, scales and mins unpacked; nextgpt_matmul.h) × Q8_K
// activations. Per block of 256, each row's result is d·dy·Σ_s sc_s·(q4 · q8)_s − dmin·dy·Σ_s
// m_s·Σq8_s: the integer sums are exact (int32), so the bodies differ from the scalar twin (and
// from ngk_mv_q4_k_ref, whose arithmetic it repeats) only in how the two f32 products per block
// are rounded and accumulated (FMAs here).
// The unsigned nibbles (0..15) multiply the signed activation bytes directly: pmaddubsw (AVX2) or
// vpdpbusd (VNNI). The sub-block scales are already bytes, so the inner loop does no bit work on
// them; the min term is one pmaddwd / vpdpwssd per two sub-blocks against Q8_K's block sums.
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { D_OFF = 0, DMIN_OFF = 16, SCALES_OFF = 32, MINS_OFF = 96, QS_OFF = 160 };

static inline float half_at(const uint8_t *p) { return ngk_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8))); }
static inline float f32_at(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }
static inline int bsum32(const uint8_t *xb, int sub) {
    int16_t a, b;
    memcpy(&a, xb + 260 + 4 * sub, 2);
    memcpy(&b, xb + 262 + 4 * sub, 2);
    return a + b;
}

// ---------------------------------------------------------------- scalar twin

void ngk_mv_q4_kx8_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                       const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const size_t nblk = ncols / 256;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *xq = (const uint8_t *)xa + b * xa_stride;
        for (size_t r = 0; r < nrows; r++) {
            const uint8_t *group = (const uint8_t *)w + r / NGK_PACK_ROWS * w_stride;
            const size_t i = r % NGK_PACK_ROWS;
            float s = 0.0f;
            for (size_t k = 0; k < nblk; k++) {
                const uint8_t *blk = group + k * NGK_Q4_KX8_BYTES, *xb = xq + k * NGK_Q8_K_BYTES;
                const int8_t *q8 = (const int8_t *)(xb + 4);
                int sumq = 0, summ = 0;
                for (int sub = 0; sub < 8; sub++) {
                    const int sc = blk[SCALES_OFF + sub * NGK_PACK_ROWS + i];
                    const int m = blk[MINS_OFF + ((sub / 2) * NGK_PACK_ROWS + i) * 2 + (sub & 1)];
                    const int c = sub / 2, shift = (sub & 1) * 4;
                    int dot = 0;
                    for (int l = 0; l < 32; l++) {
                        const uint8_t v = blk[QS_OFF + ((8 * c + l / 4) * NGK_PACK_ROWS + i) * 4 + l % 4];
                        dot += ((v >> shift) & 0xF) * q8[32 * sub + l];
                    }
                    sumq += sc * dot;
                    summ += m * bsum32(xb, sub);
                }
                const float dy = f32_at(xb);
                s += dy * half_at(blk + D_OFF + 2 * i) * (float)sumq - dy * half_at(blk + DMIN_OFF + 2 * i) * (float)summ;
            }
            y[b * ldy + r] = s;
        }
    }
}

void ngk_gemm_q4_kx8_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                         const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    ngk_mv_q4_kx8_ref(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2: 8 rows × J activations
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE AVX2 static inline __attribute__((always_inline))

enum { MAX_ACTS = 4, ACT_PANEL = 64 };

INLINE __m256i broadcast32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Sub-block s's 8 row scales, each in both int16 halves of its lane: pmaddwd of the pairwise
// products with it gives sc · (row's sum) in int32.
INLINE __m256i scales_twice(const uint8_t *blk, int s) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(blk + SCALES_OFF + 8 * s)));
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

// Q8_K's 16 block sums (of 16) → the 4 int32 lanes p = (sum of sub-block 2p, of 2p + 1) as int16s.
INLINE __m128i pair_sums(const uint8_t *xb) {
    const __m256i s = _mm256_loadu_si256((const __m256i *)(xb + 260));
    return _mm_hadd_epi16(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// The int16 lanes hold pairwise products of 8 chunks (16 products of |q4| ≤ 15, |q8| ≤ 128 per
// lane: ≤ 30720, no saturation).
INLINE void q4_kx8_tile_avx2(int J, const uint8_t *group, size_t nblk, const uint8_t *const *xq, __m256 *acc) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int j = 0; j < J; j++) acc[j] = _mm256_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *blk = group + k * NGK_Q4_KX8_BYTES;
        __m256i isum[MAX_ACTS];
        for (int j = 0; j < J; j++) isum[j] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i slo[MAX_ACTS], shi[MAX_ACTS];
            for (int j = 0; j < J; j++) slo[j] = shi[j] = _mm256_setzero_si256();
            for (int t = 0; t < 8; t++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + QS_OFF + 32 * (8 * c + t)));
                const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                for (int j = 0; j < J; j++) {
                    const int8_t *q = (const int8_t *)(xq[j] + k * NGK_Q8_K_BYTES + 4) + 64 * c + 4 * t;
                    slo[j] = _mm256_add_epi16(slo[j], _mm256_maddubs_epi16(lo, broadcast32(q)));
                    shi[j] = _mm256_add_epi16(shi[j], _mm256_maddubs_epi16(hi, broadcast32(q + 32)));
                }
            }
            const __m256i sclo = scales_twice(blk, 2 * c), schi = scales_twice(blk, 2 * c + 1);
            for (int j = 0; j < J; j++)
                isum[j] = _mm256_add_epi32(isum[j], _mm256_add_epi32(_mm256_madd_epi16(slo[j], sclo), _mm256_madd_epi16(shi[j], schi)));
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + D_OFF)));
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + DMIN_OFF)));
        for (int j = 0; j < J; j++) {
            const uint8_t *xb = xq[j] + k * NGK_Q8_K_BYTES;
            int32_t pair[4];
            _mm_storeu_si128((__m128i *)pair, pair_sums(xb));
            __m256i msum = _mm256_setzero_si256();
            for (int p = 0; p < 4; p++) {
                const __m256i m = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk + MINS_OFF + 16 * p)));
                msum = _mm256_add_epi32(msum, _mm256_madd_epi16(m, _mm256_set1_epi32(pair[p])));
            }
            const __m256 dy = _mm256_set1_ps(f32_at(xb));
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[j]), acc[j]);
            acc[j] = _mm256_fnmadd_ps(_mm256_mul_ps(mw, dy), _mm256_cvtepi32_ps(msum), acc[j]);
        }
    }
}

// One activation against G groups (G ≤ 4), which read as G streams: one stream alone leaves the
// core waiting on memory. The activation broadcasts and the min sums are shared by the groups.
INLINE void q4_kx8_groups_avx2(int G, const uint8_t *group, size_t w_stride, size_t nblk, const uint8_t *xq, __m256 *acc) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int g = 0; g < G; g++) acc[g] = _mm256_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *blk[4];
        for (int g = 0; g < G; g++) blk[g] = group + g * w_stride + k * NGK_Q4_KX8_BYTES;
        const uint8_t *xb = xq + k * NGK_Q8_K_BYTES;
        __m256i isum[4];
        for (int g = 0; g < G; g++) isum[g] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i slo[4], shi[4];
            for (int g = 0; g < G; g++) slo[g] = shi[g] = _mm256_setzero_si256();
            for (int t = 0; t < 8; t++) {
                const int8_t *q = (const int8_t *)(xb + 4) + 64 * c + 4 * t;
                const __m256i xlo = broadcast32(q), xhi = broadcast32(q + 32);
                for (int g = 0; g < G; g++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(blk[g] + QS_OFF + 32 * (8 * c + t)));
                    slo[g] = _mm256_add_epi16(slo[g], _mm256_maddubs_epi16(_mm256_and_si256(v, low4), xlo));
                    shi[g] = _mm256_add_epi16(shi[g], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), xhi));
                }
            }
            for (int g = 0; g < G; g++)
                isum[g] = _mm256_add_epi32(isum[g], _mm256_add_epi32(_mm256_madd_epi16(slo[g], scales_twice(blk[g], 2 * c)),
                                                                     _mm256_madd_epi16(shi[g], scales_twice(blk[g], 2 * c + 1))));
        }
        int32_t pair[4];
        _mm_storeu_si128((__m128i *)pair, pair_sums(xb));
        const __m256 dy = _mm256_set1_ps(f32_at(xb));
        for (int g = 0; g < G; g++) {
            __m256i msum = _mm256_setzero_si256();
            for (int p = 0; p < 4; p++) {
                const __m256i m = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(blk[g] + MINS_OFF + 16 * p)));
                msum = _mm256_add_epi32(msum, _mm256_madd_epi16(m, _mm256_set1_epi32(pair[p])));
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk[g] + D_OFF)));
            const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk[g] + DMIN_OFF)));
            acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dy), _mm256_cvtepi32_ps(isum[g]), acc[g]);
            acc[g] = _mm256_fnmadd_ps(_mm256_mul_ps(mw, dy), _mm256_cvtepi32_ps(msum), acc[g]);
        }
    }
}

INLINE void store_rows8(float *y, size_t rows, __m256 v) {
    if (rows >= NGK_PACK_ROWS) { _mm256_storeu_ps(y, v); return; }
    float t[8];
    _mm256_storeu_ps(t, v);
    memcpy(y, t, rows * sizeof(float));
}

// Per group, the activations 4 at a time (the nibble unpacking shared by the 4); the rest
// (decode's single activation) one by one against 4 groups at a time, then 2, then 1.
AVX2 static void mv_q4_kx8_avx2(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                                const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const size_t nblk = ncols / 256, nb4 = nb / 4 * 4;
    const uint8_t *wb = (const uint8_t *)w, *x = (const uint8_t *)xa;
    __m256 acc[MAX_ACTS];
    for (size_t r0 = 0; r0 < nrows && nb4 > 0; r0 += NGK_PACK_ROWS) {
        const size_t rows = nrows - r0 < NGK_PACK_ROWS ? nrows - r0 : NGK_PACK_ROWS;
        const uint8_t *group = wb + r0 / NGK_PACK_ROWS * w_stride;
        for (size_t b = 0; b < nb4; b += 4) {
            const uint8_t *xq[4] = {x + b * xa_stride, x + (b + 1) * xa_stride, x + (b + 2) * xa_stride, x + (b + 3) * xa_stride};
            q4_kx8_tile_avx2(4, group, nblk, xq, acc);
            for (int j = 0; j < 4; j++) store_rows8(y + (b + j) * ldy + r0, rows, acc[j]);
        }
    }
    size_t r0 = 0;
    for (; r0 + 4 * NGK_PACK_ROWS <= nrows; r0 += 4 * NGK_PACK_ROWS)
        for (size_t b = nb4; b < nb; b++) {
            q4_kx8_groups_avx2(4, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, x + b * xa_stride, acc);
            for (int g = 0; g < 4; g++) _mm256_storeu_ps(y + b * ldy + r0 + g * NGK_PACK_ROWS, acc[g]);
        }
    for (; r0 + 2 * NGK_PACK_ROWS <= nrows; r0 += 2 * NGK_PACK_ROWS)
        for (size_t b = nb4; b < nb; b++) {
            q4_kx8_groups_avx2(2, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, x + b * xa_stride, acc);
            for (int g = 0; g < 2; g++) _mm256_storeu_ps(y + b * ldy + r0 + g * NGK_PACK_ROWS, acc[g]);
        }
    for (; r0 < nrows; r0 += NGK_PACK_ROWS) {
        const size_t rows = nrows - r0 < NGK_PACK_ROWS ? nrows - r0 : NGK_PACK_ROWS;
        for (size_t b = nb4; b < nb; b++) {
            q4_kx8_groups_avx2(1, wb + r0 / NGK_PACK_ROWS * w_stride, w_stride, nblk, x + b * xa_stride, acc);
            store_rows8(y + b * ldy + r0, rows, acc[0]);
        }
    }
}

// ---------------------------------------------------------------- AVX-512 VNNI: 16 rows × J
// Two groups side by side in one zmm (g0 in lanes 0–7, g1 in 8–15), so every activation chunk is
// a plain 4-byte broadcast. A lane's vpdpbusd sum over a sub-block (32 products, up to 61440) no
// longer fits int16, so the scale is applied with vpmulld.
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define VINLINE VNNI static inline __attribute__((always_inline))

VINLINE __m512i vbroadcast32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

VINLINE __m512i both_groups(const uint8_t *b0, const uint8_t *b1, size_t offset) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + offset))),
                              _mm256_loadu_si256((const __m256i *)(b1 + offset)), 1);
}

VINLINE __m512 both_halves_f16(const uint8_t *b0, const uint8_t *b1, size_t offset) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + offset))),
                                              _mm_loadu_si128((const __m128i *)(b1 + offset)), 1);
    return _mm512_cvtph_ps(h);
}

VINLINE __m512i both_scales(const uint8_t *b0, const uint8_t *b1, int s) {
    const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(b0 + SCALES_OFF + 8 * s)),
                                         _mm_loadl_epi64((const __m128i *)(b1 + SCALES_OFF + 8 * s)));
    return _mm512_cvtepu8_epi32(v);
}

VINLINE __m512i both_mins(const uint8_t *b0, const uint8_t *b1, int p) {
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + MINS_OFF + 16 * p))),
                                              _mm_loadu_si128((const __m128i *)(b1 + MINS_OFF + 16 * p)), 1);
    return _mm512_cvtepu8_epi16(v);
}

VINLINE void q4_kx8_tile_vnni(int J, const uint8_t *g0, const uint8_t *g1, size_t nblk, const uint8_t *const *xq, __m512 *acc) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (int j = 0; j < J; j++) acc[j] = _mm512_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *b0 = g0 + k * NGK_Q4_KX8_BYTES, *b1 = g1 + k * NGK_Q4_KX8_BYTES;
        __m512i isum[MAX_ACTS];
        for (int j = 0; j < J; j++) isum[j] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i slo[MAX_ACTS], shi[MAX_ACTS];
            for (int j = 0; j < J; j++) slo[j] = shi[j] = _mm512_setzero_si512();
            for (int t = 0; t < 8; t++) {
                const __m512i v = both_groups(b0, b1, QS_OFF + 32 * (8 * c + t));
                const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
                for (int j = 0; j < J; j++) {
                    const int8_t *q = (const int8_t *)(xq[j] + k * NGK_Q8_K_BYTES + 4) + 64 * c + 4 * t;
                    slo[j] = _mm512_dpbusd_epi32(slo[j], lo, vbroadcast32(q));
                    shi[j] = _mm512_dpbusd_epi32(shi[j], hi, vbroadcast32(q + 32));
                }
            }
            const __m512i sclo = both_scales(b0, b1, 2 * c), schi = both_scales(b0, b1, 2 * c + 1);
            for (int j = 0; j < J; j++)
                isum[j] = _mm512_add_epi32(isum[j], _mm512_add_epi32(_mm512_mullo_epi32(slo[j], sclo), _mm512_mullo_epi32(shi[j], schi)));
        }
        const __m512 dw = both_halves_f16(b0, b1, D_OFF), mw = both_halves_f16(b0, b1, DMIN_OFF);
        __m512i mins[4];
        for (int p = 0; p < 4; p++) mins[p] = both_mins(b0, b1, p);
        for (int j = 0; j < J; j++) {
            const uint8_t *xb = xq[j] + k * NGK_Q8_K_BYTES;
            int32_t pair[4];
            _mm_storeu_si128((__m128i *)pair, pair_sums(xb));
            __m512i msum = _mm512_setzero_si512();
            for (int p = 0; p < 4; p++) msum = _mm512_dpwssd_epi32(msum, mins[p], _mm512_set1_epi32(pair[p]));
            const __m512 dy = _mm512_set1_ps(f32_at(xb));
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(isum[j]), acc[j]);
            acc[j] = _mm512_fnmadd_ps(_mm512_mul_ps(mw, dy), _mm512_cvtepi32_ps(msum), acc[j]);
        }
    }
}

// One activation against P pairs of groups (P ≤ 4; a pair's second group may repeat its first):
// 2P weight streams, since two leave the core waiting on memory in decode (the packed Q4_0 body's
// decode read 17.9 GB/s on a Zen 4 core from 2 streams, 24.4 from 8). The activation broadcasts
// are shared by the pairs; each lane's operations are q4_kx8_tile_vnni's, so the same bits.
VINLINE void q4_kx8_pairs_vnni(int P, const uint8_t *const *groups, size_t nblk, const uint8_t *xq, __m512 *acc) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (int h = 0; h < P; h++) acc[h] = _mm512_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *blk[8];
        for (int g = 0; g < 2 * P; g++) blk[g] = groups[g] + k * NGK_Q4_KX8_BYTES;
        const uint8_t *xb = xq + k * NGK_Q8_K_BYTES;
        __m512i isum[4];
        for (int h = 0; h < P; h++) isum[h] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i slo[4], shi[4];
            for (int h = 0; h < P; h++) slo[h] = shi[h] = _mm512_setzero_si512();
            for (int t = 0; t < 8; t++) {
                const int8_t *q = (const int8_t *)(xb + 4) + 64 * c + 4 * t;
                const __m512i xlo = vbroadcast32(q), xhi = vbroadcast32(q + 32);
                for (int h = 0; h < P; h++) {
                    const __m512i v = both_groups(blk[2 * h], blk[2 * h + 1], QS_OFF + 32 * (8 * c + t));
                    slo[h] = _mm512_dpbusd_epi32(slo[h], _mm512_and_si512(v, low4), xlo);
                    shi[h] = _mm512_dpbusd_epi32(shi[h], _mm512_and_si512(_mm512_srli_epi16(v, 4), low4), xhi);
                }
            }
            for (int h = 0; h < P; h++) {
                const __m512i sclo = both_scales(blk[2 * h], blk[2 * h + 1], 2 * c), schi = both_scales(blk[2 * h], blk[2 * h + 1], 2 * c + 1);
                isum[h] = _mm512_add_epi32(isum[h], _mm512_add_epi32(_mm512_mullo_epi32(slo[h], sclo), _mm512_mullo_epi32(shi[h], schi)));
            }
        }
        int32_t pair[4];
        _mm_storeu_si128((__m128i *)pair, pair_sums(xb));
        const __m512 dy = _mm512_set1_ps(f32_at(xb));
        for (int h = 0; h < P; h++) {
            __m512i msum = _mm512_setzero_si512();
            for (int p = 0; p < 4; p++) msum = _mm512_dpwssd_epi32(msum, both_mins(blk[2 * h], blk[2 * h + 1], p), _mm512_set1_epi32(pair[p]));
            const __m512 dw = both_halves_f16(blk[2 * h], blk[2 * h + 1], D_OFF), mw = both_halves_f16(blk[2 * h], blk[2 * h + 1], DMIN_OFF);
            acc[h] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(isum[h]), acc[h]);
            acc[h] = _mm512_fnmadd_ps(_mm512_mul_ps(mw, dy), _mm512_cvtepi32_ps(msum), acc[h]);
        }
    }
}

VINLINE void store_rows16(float *y, size_t ldy, int J, size_t rows, const __m512 *acc) {
    const __mmask16 mask = rows >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rows) - 1);
    for (int j = 0; j < J; j++) _mm512_mask_storeu_ps(y + j * ldy, mask, acc[j]);
}

// Activations [b0, nb) one by one against rows from r0 in whole passes of P pairs of groups;
// returns the first row left. P is a constant at each call, so the arrays stay in registers.
VINLINE size_t single_activations_vnni(int P, size_t r0, const uint8_t *wb, size_t w_stride, size_t nrows, size_t nblk,
                                       const uint8_t *x, size_t xa_stride, size_t b0, size_t nb, float *y, size_t ldy) {
    __m512 acc[4];
    for (; r0 + 2 * P * NGK_PACK_ROWS <= nrows; r0 += 2 * P * NGK_PACK_ROWS) {
        const uint8_t *groups[8];
        for (int g = 0; g < 2 * P; g++) groups[g] = wb + (r0 / NGK_PACK_ROWS + g) * w_stride;
        for (size_t b = b0; b < nb; b++) {
            q4_kx8_pairs_vnni(P, groups, nblk, x + b * xa_stride, acc);
            for (int h = 0; h < P; h++) _mm512_storeu_ps(y + b * ldy + r0 + 2 * h * NGK_PACK_ROWS, acc[h]);
        }
    }
    return r0;
}

// Activations 4 at a time in panels of 64 (a panel stays in L2 while the row range streams past
// it), per panel tiles of 16 rows × 4 activations (a lone last group reads itself twice and stores
// 8 rows). The rest one by one, decode's single activation included: 64 rows (8 groups) per pass,
// then 32, then 16 or fewer.
VNNI static void q4_kx8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                             const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const size_t nblk = ncols / 256, nb4 = nb / 4 * 4;
    const uint8_t *wb = (const uint8_t *)w, *x = (const uint8_t *)xa;
    __m512 acc[MAX_ACTS];
    for (size_t p0 = 0; p0 < nb4; p0 += ACT_PANEL) {
        const size_t p1 = nb4 - p0 < ACT_PANEL ? nb4 : p0 + ACT_PANEL;
        for (size_t r0 = 0; r0 < nrows; r0 += 2 * NGK_PACK_ROWS) {
            const size_t rows = nrows - r0 < 2 * NGK_PACK_ROWS ? nrows - r0 : 2 * NGK_PACK_ROWS;
            const uint8_t *g0 = wb + r0 / NGK_PACK_ROWS * w_stride, *g1 = rows > NGK_PACK_ROWS ? g0 + w_stride : g0;
            for (size_t b = p0; b < p1; b += 4) {
                const uint8_t *xq[4] = {x + b * xa_stride, x + (b + 1) * xa_stride, x + (b + 2) * xa_stride, x + (b + 3) * xa_stride};
                q4_kx8_tile_vnni(4, g0, g1, nblk, xq, acc);
                store_rows16(y + b * ldy + r0, ldy, 4, rows, acc);
            }
        }
    }
    size_t r0 = single_activations_vnni(4, 0, wb, w_stride, nrows, nblk, x, xa_stride, nb4, nb, y, ldy);
    r0 = single_activations_vnni(2, r0, wb, w_stride, nrows, nblk, x, xa_stride, nb4, nb, y, ldy);
    for (; r0 < nrows; r0 += 2 * NGK_PACK_ROWS) {
        const size_t rows = nrows - r0 < 2 * NGK_PACK_ROWS ? nrows - r0 : 2 * NGK_PACK_ROWS;
        const uint8_t *g0 = wb + r0 / NGK_PACK_ROWS * w_stride;
        const uint8_t *groups[2] = {g0, rows > NGK_PACK_ROWS ? g0 + w_stride : g0};
        for (size_t b = nb4; b < nb; b++) {
            q4_kx8_pairs_vnni(1, groups, nblk, x + b * xa_stride, acc);
            store_rows16(y + b * ldy + r0, ldy, 1, rows, acc);
        }
    }
}
#endif

void ngk_mv_q4_kx8(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                   const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (ngk_use_avx2()) { mv_q4_kx8_avx2(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }
#endif
    ngk_mv_q4_kx8_ref(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

void ngk_mv_q4_kx8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                        const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { q4_kx8_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy); return; }
#endif
    ngk_mv_q4_kx8(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}

void ngk_gemm_q4_kx8(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    ngk_mv_q4_kx8_vnni(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);
}
