// Lane GEMM: repacked Q8_0 weights (8-row groups, nextgpt_matmul.h) × activations quantized 16
// positions to a vector ("lanes" format), for products with many positions: convolutions (patches
// gathered and quantized panel by panel, never as a whole patch matrix) and large-batch linears.
// The AVX-512 VNNI tile is 16 positions × 8 weight rows: each vpdpbusd multiplies one activation
// vector (4 K-bytes of 16 positions, unsigned: q + 128) by one weight row's 4 bytes broadcast from
// memory (signed, as stored: no flip). The +128 is undone by starting each block's sum at
// −128·Σw, a per-(row, block) constant computed once per call into a small table beside the
// f32 weight scales. Per block the exact int32 sum is scaled (weight scale × activation scale)
// and accumulated in f32, in block order, with the same operations as the tiled integer GEMM
// (matmul_gemm.c), whose activations are quantized identically: both give the same floats.
// Output is channel-major (a convolution's [O, positions]) or position-major (a linear's).
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float half_at(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return ngk_fp16_to_fp32(h); }

// Round half to even, as ggml's nearest_int (|v| ≤ 2^22).
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// ---- the lanes format, scalar ----

// Quantizes 32 values (one block of one position) as ngk_quantize_act_q8_0_ref and stores them in
// position `lane` of a lanes block.
static void put_lane_block(const float *v, uint8_t *block, size_t lane) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(v[j]);
        amax = a > amax ? a : amax;
    }
    const float d = ngk_fp16_to_fp32(ngk_fp32_to_fp16(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++)
        block[64 * (j / 4) + 4 * lane + j % 4] = (uint8_t)(nearest_int(v[j] * id) + 128);
    memcpy(block + 512 + 4 * lane, &d, 4);
}

void ngk_lanes_rows_q8_0_ref(const float *x, size_t ldx, size_t npos, size_t ncols, uint8_t *dst) {
    const size_t nblk = ncols / 32, groups = (npos + NGK_LANES - 1) / NGK_LANES;
    const float zero[32] = {0};
    for (size_t g = 0; g < groups; g++)
        for (size_t lane = 0; lane < NGK_LANES; lane++) {
            const size_t p = g * NGK_LANES + lane;
            for (size_t k = 0; k < nblk; k++)
                put_lane_block(p < npos ? x + p * ldx + 32 * k : zero, dst + (g * nblk + k) * NGK_LANES_BLOCK_BYTES, lane);
        }
}

// The patch value of output position p at K index kk (order c, ky, kx: PyTorch's weight order).
static float patch_value(const float *x, const ngk_conv_geometry *q, size_t p, size_t kk) {
    const size_t taps = q->kh * q->kw, ch = kk / taps, t = kk % taps;
    const long oy = (long)(p / q->ow), ox = (long)(p % q->ow);
    const long iy = oy * (long)q->sh - (long)q->ph + (long)(t / q->kw), ix = ox * (long)q->sw - (long)q->pw + (long)(t % q->kw);
    if (iy < 0 || iy >= (long)q->h || ix < 0 || ix >= (long)q->w) return 0.0f;
    return x[(ch * q->h + (size_t)iy) * q->w + (size_t)ix];
}

void ngk_lanes_conv_q8_0_ref(const float *x, const ngk_conv_geometry *q, size_t p0, size_t npos, uint8_t *dst) {
    const size_t kc = q->c * q->kh * q->kw, nblk = kc / 32, groups = (npos + NGK_LANES - 1) / NGK_LANES;
    for (size_t g = 0; g < groups; g++)
        for (size_t lane = 0; lane < NGK_LANES; lane++) {
            const size_t i = g * NGK_LANES + lane;
            for (size_t k = 0; k < nblk; k++) {
                float v[32];
                for (int j = 0; j < 32; j++) v[j] = i < npos ? patch_value(x, q, p0 + i, 32 * k + (size_t)j) : 0.0f;
                put_lane_block(v, dst + (g * nblk + k) * NGK_LANES_BLOCK_BYTES, lane);
            }
        }
}

void ngk_lanes_table_q8_0x8_ref(const void *w, size_t w_stride, size_t nblk, size_t g0, size_t g1, void *table) {
    for (size_t g = g0; g < g1; g++)
        for (size_t k = 0; k < nblk; k++) {
            const uint8_t *blk = (const uint8_t *)w + g * w_stride + k * NGK_Q8_0X8_BYTES;
            uint8_t *entry = (uint8_t *)table + (g * nblk + k) * NGK_LANES_TABLE_BYTES;
            for (size_t r = 0; r < NGK_PACK_ROWS; r++) {
                const float d = half_at(blk + 2 * r);
                int32_t sum = 0;
                for (size_t c = 0; c < 8; c++)
                    for (int t = 0; t < 4; t++) sum += (int8_t)blk[16 + 32 * c + 4 * r + (size_t)t];
                const int32_t offset = -128 * sum;
                memcpy(entry + 4 * r, &d, 4);
                memcpy(entry + 32 + 4 * r, &offset, 4);
            }
        }
}

static inline void store_result(float *y, size_t ldy, int position_major, size_t r, size_t p, float v) {
    if (position_major) y[p * ldy + r] = v; else y[r * ldy + p] = v;
}

// Reads the weights' own bytes and scales (not the table), so the fast body's table is checked too.
void ngk_lanes_gemm_q8_0x8_ref(const void *w, size_t w_stride, const void *table, size_t nrows, size_t ncols,
                               const void *xl, size_t npos, float *y, size_t ldy, int position_major, const float *bias) {
    (void)table;
    const size_t nblk = ncols / 32;
    for (size_t r = 0; r < nrows; r++) {
        const uint8_t *group = (const uint8_t *)w + r / NGK_PACK_ROWS * w_stride;
        const size_t i = r % NGK_PACK_ROWS;
        for (size_t p = 0; p < npos; p++) {
            const uint8_t *xg = (const uint8_t *)xl + (p / NGK_LANES) * nblk * NGK_LANES_BLOCK_BYTES;
            const size_t lane = p % NGK_LANES;
            float s = 0.0f;
            for (size_t k = 0; k < nblk; k++) {
                const uint8_t *blk = group + k * NGK_Q8_0X8_BYTES, *xb = xg + k * NGK_LANES_BLOCK_BYTES;
                int sum = 0;
                for (size_t c = 0; c < 8; c++)
                    for (int t = 0; t < 4; t++)
                        sum += (int8_t)blk[16 + 32 * c + 4 * i + (size_t)t] * ((int)xb[64 * c + 4 * lane + (size_t)t] - 128);
                float da;
                memcpy(&da, xb + 512 + 4 * lane, 4);
                s += half_at(blk + 2 * i) * da * (float)sum;
            }
            store_result(y, ldy, position_major, r, p, s + (bias ? bias[r] : 0.0f));
        }
    }
}

#if defined(__x86_64__)
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define VINLINE VNNI static inline __attribute__((always_inline))
#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

// 32 rows (one block of K) × 16 positions as f32 in `tile`, quantized into one lanes block:
// per position amax over its 32 values, then the reference's operations lane-wise.
VINLINE void quantize_tile(const float *tile, uint8_t *block) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 amax = _mm512_setzero_ps();
    for (int r = 0; r < 32; r++) amax = _mm512_max_ps(amax, _mm512_andnot_ps(sign, _mm512_loadu_ps(tile + 16 * r)));
    const __m512 d = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_div_ps(amax, _mm512_set1_ps(127.0f)), RNE));
    const __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_NEQ_UQ), _mm512_set1_ps(127.0f), amax);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (int c = 0; c < 8; c++) {
        __m128i b[4];
        for (int t = 0; t < 4; t++)
            b[t] = _mm512_cvtepi32_epi8(_mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(tile + 16 * (4 * c + t)), id), RNE));
        const __m128i t0 = _mm_unpacklo_epi8(b[0], b[1]), t1 = _mm_unpackhi_epi8(b[0], b[1]);
        const __m128i t2 = _mm_unpacklo_epi8(b[2], b[3]), t3 = _mm_unpackhi_epi8(b[2], b[3]);
        uint8_t *out = block + 64 * c;
        _mm_storeu_si128((__m128i *)out, _mm_xor_si128(_mm_unpacklo_epi16(t0, t2), flip));
        _mm_storeu_si128((__m128i *)(out + 16), _mm_xor_si128(_mm_unpackhi_epi16(t0, t2), flip));
        _mm_storeu_si128((__m128i *)(out + 32), _mm_xor_si128(_mm_unpacklo_epi16(t1, t3), flip));
        _mm_storeu_si128((__m128i *)(out + 48), _mm_xor_si128(_mm_unpackhi_epi16(t1, t3), flip));
    }
    _mm512_storeu_ps((float *)(block + 512), d);
}

VNNI static void lanes_rows_vnni(const float *x, size_t ldx, size_t npos, size_t ncols, uint8_t *dst) {
    const size_t nblk = ncols / 32, groups = (npos + NGK_LANES - 1) / NGK_LANES;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (size_t g = 0; g < groups; g++) {
        uint8_t *dg = dst + g * nblk * NGK_LANES_BLOCK_BYTES;
        for (size_t lane = 0; lane < NGK_LANES; lane++) {
            const size_t p = g * NGK_LANES + lane;
            if (p >= npos) {
                // Padding positions: zero quants (128 unsigned) and zero scales.
                for (size_t k = 0; k < nblk; k++) {
                    uint8_t *block = dg + k * NGK_LANES_BLOCK_BYTES;
                    for (int c = 0; c < 8; c++) memset(block + 64 * c + 4 * lane, 0x80, 4);
                    memset(block + 512 + 4 * lane, 0, 4);
                }
                continue;
            }
            const float *row = x + p * ldx;
            for (size_t k = 0; k < nblk; k++) {
                const __m512 v0 = _mm512_loadu_ps(row + 32 * k), v1 = _mm512_loadu_ps(row + 32 * k + 16);
                const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
                const float d = _cvtsh_ss(_cvtss_sh(amax / 127.0f, RNE));
                const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
                uint8_t q[32];
                _mm_storeu_si128((__m128i *)q, _mm_xor_si128(_mm512_cvtepi32_epi8(_mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), RNE)), flip));
                _mm_storeu_si128((__m128i *)(q + 16), _mm_xor_si128(_mm512_cvtepi32_epi8(_mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), RNE)), flip));
                uint8_t *block = dg + k * NGK_LANES_BLOCK_BYTES;
                for (int c = 0; c < 8; c++) memcpy(block + 64 * c + 4 * lane, q + 4 * c, 4);
                memcpy(block + 512 + 4 * lane, &d, 4);
            }
        }
    }
}

VNNI static void lanes_conv_vnni(const float *x, const ngk_conv_geometry *q, size_t p0, size_t npos, uint8_t *dst) {
    const size_t taps = q->kh * q->kw, kc = q->c * taps, nblk = kc / 32, groups = (npos + NGK_LANES - 1) / NGK_LANES;
    const size_t plane = q->h * q->w;
    float tile[32 * NGK_LANES];
    __m512i offsets[NGK_LANES_MAX_TAPS];
    __mmask16 mask[NGK_LANES_MAX_TAPS];
    int contiguous[NGK_LANES_MAX_TAPS];
    long first[NGK_LANES_MAX_TAPS];
    for (size_t g = 0; g < groups; g++) {
        // Per tap: each lane's offset in a channel plane and whether it lies inside the image.
        int oy[NGK_LANES], ox[NGK_LANES];
        for (size_t lane = 0; lane < NGK_LANES; lane++) {
            const size_t p = p0 + g * NGK_LANES + lane;
            oy[lane] = (int)(p / q->ow);
            ox[lane] = (int)(p % q->ow);
        }
        const size_t lanes = npos - g * NGK_LANES < NGK_LANES ? npos - g * NGK_LANES : NGK_LANES;
        for (size_t t = 0; t < taps; t++) {
            int32_t off[NGK_LANES];
            __mmask16 m = 0;
            for (size_t lane = 0; lane < NGK_LANES; lane++) {
                const long iy = (long)oy[lane] * (long)q->sh - (long)q->ph + (long)(t / q->kw);
                const long ix = (long)ox[lane] * (long)q->sw - (long)q->pw + (long)(t % q->kw);
                const int inside = lane < lanes && iy >= 0 && iy < (long)q->h && ix >= 0 && ix < (long)q->w;
                off[lane] = inside ? (int32_t)(iy * (long)q->w + ix) : 0;
                if (inside) m |= (__mmask16)(1u << lane);
                if (lane == 0) first[t] = iy * (long)q->w + ix;
            }
            // Consecutive lanes read consecutive floats (stride 1, one output row): a masked load.
            int run = 1;
            for (size_t lane = 1; lane < NGK_LANES && run; lane++) {
                const long iy = (long)oy[lane] * (long)q->sh - (long)q->ph + (long)(t / q->kw);
                const long ix = (long)ox[lane] * (long)q->sw - (long)q->pw + (long)(t % q->kw);
                run = iy * (long)q->w + ix == first[t] + (long)lane && oy[lane] == oy[0];
            }
            contiguous[t] = run;
            offsets[t] = _mm512_loadu_si512(off);
            mask[t] = m;
        }
        size_t ch = 0, t = 0;
        for (size_t k = 0; k < nblk; k++) {
            for (int r = 0; r < 32; r++) {
                const float *src = x + ch * plane;
                __m512 v;
                if (!mask[t]) v = _mm512_setzero_ps();
                // Masked-off lanes are not read (AVX-512 fault suppression), so the run may start
                // before the plane.
                else if (contiguous[t]) v = _mm512_maskz_loadu_ps(mask[t], (const float *)((uintptr_t)src + (uintptr_t)(first[t] * 4)));
                else v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask[t], offsets[t], src, 4);
                _mm512_storeu_ps(tile + 16 * r, v);
                if (++t == taps) { t = 0; ch++; }
            }
            quantize_tile(tile, dst + (g * nblk + k) * NGK_LANES_BLOCK_BYTES);
        }
    }
}

VNNI static void lanes_table_vnni(const void *w, size_t w_stride, size_t nblk, size_t g0, size_t g1, void *table) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (size_t g = g0; g < g1; g++)
        for (size_t k = 0; k < nblk; k++) {
            const uint8_t *blk = (const uint8_t *)w + g * w_stride + k * NGK_Q8_0X8_BYTES;
            uint8_t *entry = (uint8_t *)table + (g * nblk + k) * NGK_LANES_TABLE_BYTES;
            // Lanes 0–7: chunks c of rows 0–7, lanes 8–15: chunks c + 1; ones (unsigned) × quants (signed).
            __m512i s = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512((const void *)(blk + 16 + 64 * c)));
            const __m256i sum = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
            _mm256_storeu_ps((float *)entry, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)));
            _mm256_storeu_si256((__m256i *)(entry + 32), _mm256_mullo_epi32(sum, _mm256_set1_epi32(-128)));
        }
}

// One group of 8 weight rows × one group of 16 positions over all blocks.
VINLINE void lanes_tile(const uint8_t *wg, const uint8_t *tg, const uint8_t *xg, size_t nblk, __m512 acc[8]) {
    for (int j = 0; j < 8; j++) acc[j] = _mm512_setzero_ps();
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *blk = wg + k * NGK_Q8_0X8_BYTES, *xb = xg + k * NGK_LANES_BLOCK_BYTES;
        const uint8_t *entry = tg + k * NGK_LANES_TABLE_BYTES;
        __m512i s[8];
        for (int j = 0; j < 8; j++) {
            int32_t offset;
            memcpy(&offset, entry + 32 + 4 * j, 4);
            s[j] = _mm512_set1_epi32(offset);
        }
        for (int c = 0; c < 8; c++) {
            const __m512i a = _mm512_loadu_si512((const void *)(xb + 64 * c));
            for (int j = 0; j < 8; j++) {
                int32_t quad;
                memcpy(&quad, blk + 16 + 32 * c + 4 * j, 4);
                s[j] = _mm512_dpbusd_epi32(s[j], a, _mm512_set1_epi32(quad));
            }
        }
        const __m512 da = _mm512_loadu_ps((const float *)(xb + 512));
        for (int j = 0; j < 8; j++) {
            float dw;
            memcpy(&dw, entry + 4 * j, 4);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(dw), da), _mm512_cvtepi32_ps(s[j]), acc[j]);
        }
    }
}

VNNI static void lanes_gemm_vnni(const void *w, size_t w_stride, const void *table, size_t nrows, size_t ncols,
                                 const void *xl, size_t npos, float *y, size_t ldy, int position_major, const float *bias) {
    const size_t nblk = ncols / 32, pgroups = (npos + NGK_LANES - 1) / NGK_LANES;
    for (size_t r0 = 0; r0 < nrows; r0 += NGK_PACK_ROWS) {
        const size_t rows = nrows - r0 < NGK_PACK_ROWS ? nrows - r0 : NGK_PACK_ROWS;
        const uint8_t *wg = (const uint8_t *)w + r0 / NGK_PACK_ROWS * w_stride;
        const uint8_t *tg = (const uint8_t *)table + r0 / NGK_PACK_ROWS * nblk * NGK_LANES_TABLE_BYTES;
        for (size_t pg = 0; pg < pgroups; pg++) {
            const size_t p = pg * NGK_LANES, lanes = npos - p < NGK_LANES ? npos - p : NGK_LANES;
            __m512 acc[8];
            lanes_tile(wg, tg, (const uint8_t *)xl + pg * nblk * NGK_LANES_BLOCK_BYTES, nblk, acc);
            for (size_t j = 0; j < rows; j++)
                if (bias) acc[j] = _mm512_add_ps(acc[j], _mm512_set1_ps(bias[r0 + j]));
            if (!position_major) {
                const __mmask16 m = (__mmask16)((1u << lanes) - 1);
                for (size_t j = 0; j < rows; j++) _mm512_mask_storeu_ps(y + (r0 + j) * ldy + p, m, acc[j]);
            } else {
                float t[8][NGK_LANES];
                for (size_t j = 0; j < rows; j++) _mm512_storeu_ps(t[j], acc[j]);
                for (size_t lane = 0; lane < lanes; lane++)
                    for (size_t j = 0; j < rows; j++) y[(p + lane) * ldy + r0 + j] = t[j][lane];
            }
        }
    }
}
#endif

void ngk_lanes_rows_q8_0(const float *x, size_t ldx, size_t npos, size_t ncols, uint8_t *dst) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { lanes_rows_vnni(x, ldx, npos, ncols, dst); return; }
#endif
    ngk_lanes_rows_q8_0_ref(x, ldx, npos, ncols, dst);
}

void ngk_lanes_conv_q8_0(const float *x, const ngk_conv_geometry *q, size_t p0, size_t npos, uint8_t *dst) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni() && q->kh * q->kw <= NGK_LANES_MAX_TAPS) { lanes_conv_vnni(x, q, p0, npos, dst); return; }
#endif
    ngk_lanes_conv_q8_0_ref(x, q, p0, npos, dst);
}

void ngk_lanes_table_q8_0x8(const void *w, size_t w_stride, size_t nblk, size_t g0, size_t g1, void *table) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { lanes_table_vnni(w, w_stride, nblk, g0, g1, table); return; }
#endif
    ngk_lanes_table_q8_0x8_ref(w, w_stride, nblk, g0, g1, table);
}

void ngk_lanes_gemm_q8_0x8(const void *w, size_t w_stride, const void *table, size_t nrows, size_t ncols,
                           const void *xl, size_t npos, float *y, size_t ldy, int position_major, const float *bias) {
#if defined(__x86_64__)
    if (ngk_use_avx512vnni()) { lanes_gemm_vnni(w, w_stride, table, nrows, ncols, xl, npos, y, ldy, position_major, bias); return; }
#endif
    ngk_lanes_gemm_q8_0x8_ref(w, w_stride, table, nrows, ncols, xl, npos, y, ldy, position_major, bias);
}
