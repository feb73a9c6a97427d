// Load-time repacking of Q8_0 / Q4_0 weight rows into groups of 8 interleaved rows, and back.
// The layout is described in nextgpt_matmul.h; both types share it (only the quant bytes per
// block differ: 16 for Q4_0, 32 for Q8_0).
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

void ngk_quantize_act_q8_0_split(const float *x, uint8_t *dst, size_t n) {
    const size_t nblk = n / 32;
    int8_t *quants = (int8_t *)dst;
    uint8_t *scales = dst + nblk * 32, *sums = scales + nblk * 4;
    uint8_t block[NGK_Q8_0_BYTES];
    for (size_t k = 0; k < nblk; k++) {
        ngk_quantize_act_q8_0(x + 32 * k, block, 32);
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
