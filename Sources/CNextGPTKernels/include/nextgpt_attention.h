// Fused attention (attention_fused.c): softmax(q·kᵀ·scale + mask)·v for one head and a tile of
// query rows, with the scores of each block of keys held in registers, an online softmax (running
// max and sum per row, earlier sums and outputs rescaled when the max grows) and the value product
// accumulated at once, so no score matrix is ever written beyond one block of 64 keys (96 when
// the AVX2 body takes a few keys as one block, with no online softmax).
// Bodies: AVX-512 (_avx512), AVX2+FMA (plain name) and the scalar twin (_ref); no threads here.
#ifndef NEXTGPT_ATTENTION_H
#define NEXTGPT_ATTENTION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// One head of one sequence. Query row i of the head is q + i·ldq, value row j is v + j·ldv,
// output row i is o + i·ldo; the keys are packed (ngk_attention_pack_keys).
typedef struct {
    const float *q;
    size_t ldq;
    const float *kt;
    const float *v;
    size_t ldv;
    float *o;
    size_t ldo;
    size_t tk;     // keys
    size_t d;      // query/key width
    size_t dv;     // value width
    float scale;   // multiplies q·k before the mask is added
    // Additive mask (nullable): row i starts at mask + i·mask_ld (mask_ld 0 broadcasts one row);
    // keys at or past mask_cols get 0. −∞ removes a key.
    const float *mask;
    size_t mask_ld;
    size_t mask_cols;
    // Causal (nonzero): query i sees keys j ≤ i + causal_offset only.
    int causal;
    ptrdiff_t causal_offset;
} ngk_attention_head;

// 1 when the fused kernel takes these widths: multiples of 8 up to 160 (SD 1.5's widest heads).
int ngk_attention_fused_covers(size_t d, size_t dv);

// Keys [tk × d] (row j at k + j·ldk) as panels of 16 keys, each panel d rows of 16 lanes
// (key j, component p at dst[(j/16)·16·d + p·16 + j%16]); keys past tk are zero.
size_t ngk_attention_packed_keys_floats(size_t tk, size_t d);
void ngk_attention_pack_keys(const float *k, size_t ldk, size_t tk, size_t d, float *dst);

// Scratch (floats) that one call on up to `rows` query rows needs.
size_t ngk_attention_scratch_floats(size_t rows, size_t d, size_t dv);

// Output rows [q0, q0 + rows) of the head. A row that sees no key (all masked) gives zeros.
// Widths the fused kernel does not cover run the scalar twin. Without AVX2 (or AVX-512 for
// _avx512) the next body down runs.
void ngk_attention_rows(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch);
void ngk_attention_rows_avx512(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch);
void ngk_attention_rows_ref(const ngk_attention_head *h, size_t q0, size_t rows, float *scratch);

#ifdef __cplusplus
}
#endif
#endif
