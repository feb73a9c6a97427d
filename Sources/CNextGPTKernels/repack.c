// Load-time repacking of Q8_0 / Q4_0 / Q4_K weight rows into groups of 8 interleaved rows, and back.
// The layouts are described in nextgpt_matmul.h; Q8_0 and Q4_0 share one (only the quant bytes
// per block differ: 16 for Q4_0, 32 for Q8_0), Q4_K has its own (end of this file).
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"

enum { CHUNK = 4 };

void ngk_pack_rows_x8(const uint8_t *src, size_t nrows, size_t nblk, size_t block_bytes,
                      size_t g0, size_t g1, uint8_t *dst) {
    const size_t qbytes = block_bytes - 2, packed_block = NGK_PACK_ROWS * block_bytes;
    const size_t row_bytes = nblk * block_bytes;
    for (size_t g = g0; g < g1; g++) {
        uint8_t *out = dst + g * nblk * packed_block;
        const size_t valid = nrows - g * NGK_PACK_ROWS < NGK_PACK_ROWS ? nrows - g * NGK_PACK_ROWS : NGK_PACK_ROWS;
        for (size_t k = 0; k < nblk; k++, out += packed_block) {
            memset(out, 0, packed_block);
            for (size_t i = 0; i < valid; i++) {
                const uint8_t *blk = src + (g * NGK_PACK_ROWS + i) * row_bytes + k * block_bytes;
                memcpy(out + 2 * i, blk, 2);
                for (size_t c = 0; c < qbytes / CHUNK; c++)
                    memcpy(out + 2 * NGK_PACK_ROWS + (c * NGK_PACK_ROWS + i) * CHUNK, blk + 2 + c * CHUNK, CHUNK);
            }
        }
    }
}

void ngk_unpack_rows_x8(const uint8_t *packed, size_t nblk, size_t block_bytes, size_t row0,
                        size_t count, uint8_t *dst) {
    const size_t qbytes = block_bytes - 2, packed_block = NGK_PACK_ROWS * block_bytes;
    for (size_t r = row0; r < row0 + count; r++) {
        const uint8_t *group = packed + r / NGK_PACK_ROWS * nblk * packed_block;
        const size_t i = r % NGK_PACK_ROWS;
        for (size_t k = 0; k < nblk; k++, dst += block_bytes) {
            const uint8_t *in = group + k * packed_block;
            memcpy(dst, in + 2 * i, 2);
            for (size_t c = 0; c < qbytes / CHUNK; c++)
                memcpy(dst + 2 + c * CHUNK, in + 2 * NGK_PACK_ROWS + (c * NGK_PACK_ROWS + i) * CHUNK, CHUNK);
        }
    }
}

void ngk_quantize_act_q8_0_split_ref(const float *x, uint8_t *dst, size_t n) {
    const size_t nblk = n / 32;
    int8_t *quants = (int8_t *)dst;
    uint8_t *scales = dst + nblk * 32, *sums = scales + nblk * 4;
    uint8_t block[NGK_Q8_0_BYTES];
    for (size_t k = 0; k < nblk; k++) {
        ngk_quantize_act_q8_0_ref(x + 32 * k, block, 32);
        memcpy(quants + 32 * k, block + 2, 32);
        uint16_t h;
        memcpy(&h, block, 2);
        const float d = ngk_fp16_to_fp32(h);
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += quants[32 * k + j];
        memcpy(scales + 4 * k, &d, 4);
        memcpy(sums + 4 * k, &s, 4);
    }
}

// ---- Q4_K: 8 rows per group, scales and mins unpacked (layout in nextgpt_matmul.h) ----

enum { Q4K_D = 0, Q4K_DMIN = 16, Q4K_SCALES = 32, Q4K_MINS = 96, Q4K_QS = 160 };

static void q4_k_get_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void ngk_pack_rows_q4_kx8(const uint8_t *src, size_t nrows, size_t nblk, size_t g0, size_t g1, uint8_t *dst) {
    const size_t row_bytes = nblk * NGK_Q4_K_BYTES;
    for (size_t g = g0; g < g1; g++) {
        uint8_t *out = dst + g * nblk * NGK_Q4_KX8_BYTES;
        const size_t valid = nrows - g * NGK_PACK_ROWS < NGK_PACK_ROWS ? nrows - g * NGK_PACK_ROWS : NGK_PACK_ROWS;
        for (size_t k = 0; k < nblk; k++, out += NGK_Q4_KX8_BYTES) {
            memset(out, 0, NGK_Q4_KX8_BYTES);
            for (size_t i = 0; i < valid; i++) {
                const uint8_t *blk = src + (g * NGK_PACK_ROWS + i) * row_bytes + k * NGK_Q4_K_BYTES;
                memcpy(out + Q4K_D + 2 * i, blk, 2);
                memcpy(out + Q4K_DMIN + 2 * i, blk + 2, 2);
                for (int s = 0; s < 8; s++) {
                    uint8_t sc, m;
                    q4_k_get_scale_min(s, blk + 4, &sc, &m);
                    out[Q4K_SCALES + s * NGK_PACK_ROWS + i] = sc;
                    out[Q4K_MINS + ((s / 2) * NGK_PACK_ROWS + i) * 2 + (s & 1)] = m;
                }
                for (size_t c = 0; c < 32; c++)
                    memcpy(out + Q4K_QS + (c * NGK_PACK_ROWS + i) * CHUNK, blk + 16 + c * CHUNK, CHUNK);
            }
        }
    }
}

void ngk_unpack_rows_q4_kx8(const uint8_t *packed, size_t nblk, size_t row0, size_t count, uint8_t *dst) {
    for (size_t r = row0; r < row0 + count; r++) {
        const uint8_t *group = packed + r / NGK_PACK_ROWS * nblk * NGK_Q4_KX8_BYTES;
        const size_t i = r % NGK_PACK_ROWS;
        for (size_t k = 0; k < nblk; k++, dst += NGK_Q4_K_BYTES) {
            const uint8_t *in = group + k * NGK_Q4_KX8_BYTES;
            memcpy(dst, in + Q4K_D + 2 * i, 2);
            memcpy(dst + 2, in + Q4K_DMIN + 2 * i, 2);
            uint8_t sc[8], m[8];
            for (int s = 0; s < 8; s++) {
                sc[s] = in[Q4K_SCALES + s * NGK_PACK_ROWS + i];
                m[s] = in[Q4K_MINS + ((s / 2) * NGK_PACK_ROWS + i) * 2 + (s & 1)];
            }
            // The inverse of q4_k_get_scale_min: all 96 bits of the 12 bytes are used, so the
            // original bytes come back exactly.
            for (int j = 0; j < 4; j++) {
                dst[4 + j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
                dst[8 + j] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
                dst[12 + j] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
            }
            for (size_t c = 0; c < 32; c++)
                memcpy(dst + 16 + c * CHUNK, in + Q4K_QS + (c * NGK_PACK_ROWS + i) * CHUNK, CHUNK);
        }
    }
}
