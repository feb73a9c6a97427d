// Matrix-product kernels of the runtime: activation quantization, weight-row × activation dot
// products for every weight type, dequantization of weight panels for the BLAS batch path.
// Every SIMD entry point dispatches on ngk_use_avx2() and has a scalar twin (suffix _ref).
// No threads here: callers split rows across their own workers.
#ifndef NEXTGPT_MATMUL_H
#define NEXTGPT_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { NGK_Q8_K_BYTES = 292 };

// Pause hint for spin-wait loops.
static inline void ngk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// ---- activation quantization (runtime format, not file format) ----
// Q8_0 as ggml's AVX path: d = amax/127 (stored f16), q = round-half-even(x · 127/amax).
// Both twins give the same bytes. n is a multiple of 32.
void ngk_quantize_act_q8_0(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_act_q8_0_ref(const float *x, uint8_t *dst, size_t n);
// Q8_K as ggml's quantize_row_q8_K_ref: f32 d, 256 int8, 16 int16 bsums. n is a multiple of 256.
void ngk_quantize_act_q8_k(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_act_q8_k_ref(const float *x, uint8_t *dst, size_t n);

// ---- matrix × vectors over a row range ----
// For r < nrows and b < nb: y[b*ldy + r] = Σ_c W[r, c] · x_b[c], W row r at w + r*w_stride bytes,
// activation b at xa + b*xa_stride bytes in the type's activation format:
//   f32, f16, bf16 weights → f32 activations; q8_0, q4_0 → Q8_0 blocks; q4_k → Q8_K blocks.
// ncols is a whole number of the weight type's blocks.
#define NGK_MV_DECL(name) \
    void ngk_mv_##name(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                       const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy); \
    void ngk_mv_##name##_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                             const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
NGK_MV_DECL(f32)
NGK_MV_DECL(f16)
NGK_MV_DECL(bf16)
NGK_MV_DECL(q8_0)
NGK_MV_DECL(q4_0)
NGK_MV_DECL(q4_k)
#undef NGK_MV_DECL

// ---- weights repacked at load time: Q8_0 / Q4_0 rows in groups of 8 (nextgpt_repack.c) ----
// Group g holds rows 8g..8g+7; for every block column k it stores, contiguously: the 8 rows' f16
// scales, then the quants in 4-byte chunks, chunk-major (chunk c of rows 0..7, then chunk c+1 …).
// One 32-byte load thus feeds the same 4 columns of 8 rows, and one vcvtph2ps gives 8 scales.
// Groups are consecutive (a thread streams one contiguous range). Rows past nrows are zero.
// Same bytes per block as the source: 8×18 (Q4_0) or 8×34 (Q8_0).
enum { NGK_PACK_ROWS = 8, NGK_Q4_0X8_BYTES = 8 * 18, NGK_Q8_0X8_BYTES = 8 * 34 };
// Groups [g0, g1) of a row-major matrix (nrows rows of nblk blocks) into dst (the whole packed
// buffer). block_bytes is 18 (Q4_0) or 34 (Q8_0).
void ngk_pack_rows_x8(const uint8_t *src, size_t nrows, size_t nblk, size_t block_bytes,
                      size_t g0, size_t g1, uint8_t *dst);
// Rows [row0, row0 + count) of a packed matrix back to row-major blocks.
void ngk_unpack_rows_x8(const uint8_t *packed, size_t nblk, size_t block_bytes, size_t row0,
                        size_t count, uint8_t *dst);

// Activation format of the packed kernels ("Q8_0 split"): the quants of all nblk blocks (32 int8
// each, contiguous), then nblk f32 scales (the f16 Q8_0 scale widened), then nblk int32 sums of
// each block's quants (Q4_0 weights are read as unsigned nibbles; the sum undoes the −8 offset).
// Same quantized values as ngk_quantize_act_q8_0. n is a multiple of 32; nblk·40 bytes.
void ngk_quantize_act_q8_0_split(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_act_q8_0_split_ref(const float *x, uint8_t *dst, size_t n);

// Packed weights × split activations. w is the first group, w_stride the bytes of one group
// (nblk · NGK_Q*_0X8_BYTES), nrows the rows to produce (the last group may be partial).
#define NGK_MV_DECL(name) \
    void ngk_mv_##name(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                       const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy); \
    void ngk_mv_##name##_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                             const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
NGK_MV_DECL(q8_0x8)
NGK_MV_DECL(q4_0x8)
#undef NGK_MV_DECL

// Tiled integer GEMM for batches (matmul_gemm.c): the same arguments and results as the packed
// kernels above (16 rows × 8 activations per tile with AVX-512 VNNI; without it, the packed
// kernels). The _ref twins are the packed kernels' scalar twins.
#define NGK_GEMM_DECL(name) \
    void ngk_gemm_##name(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                         const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy); \
    void ngk_gemm_##name##_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols, \
                               const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
NGK_GEMM_DECL(q8_0x8)
NGK_GEMM_DECL(q4_0x8)
#undef NGK_GEMM_DECL

// AVX-512 VNNI bodies of ngk_mv_q8_0x8 / ngk_mv_q4_0x8 (same arguments; scalar twins: their _ref).
// One activation: the exact int32 block sums, then the AVX2 body's float operations (same
// results); batches of 2+: the integer GEMM's tiles. Without VNNI they run ngk_mv_*x8. Chosen by
// callers whose kernel level allows it (ngk_kernel_level_max), never by the plain entry points.
void ngk_mv_q8_0x8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                        const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
void ngk_mv_q4_0x8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                        const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);

// ---- Q4_K repacked in groups of 8 rows, scales and mins unpacked at load (matmul_q4_kx8.c) ----
// Per group (rows 8g..8g+7) and block column k (256 weights), NGK_Q4_KX8_BYTES:
//   0    d[8]     f16, the 8 rows' super-block scales (as in the file)
//   16   dmin[8]  f16, their min scales
//   32   scales   uint8 [sub 0..7][row 0..7]: the 6-bit sub-block scales, unpacked
//   96   mins     uint8 [pair 0..3][row 0..7][2]: the 6-bit mins of sub-blocks 2p, 2p+1 (an int16
//                 pair per row after zero extension, for one madd against two Q8_K block sums)
//   160  qs       each row's 128 nibble bytes as in the file (byte 32c + l: low nibble element
//                 64c + l, high nibble element 64c + 32 + l), in 4-byte chunks, chunk-major (chunk
//                 j of rows 0..7, then j + 1 …) as in the Q4_0 layout.
// 148 bytes per row and block against the file's 144 (the scales no longer bit-packed). Groups are
// consecutive; rows past nrows are zero. Activations: Q8_K blocks (ngk_quantize_act_q8_k).
enum { NGK_Q4_KX8_BYTES = 1184 };
// Groups [g0, g1) of a row-major Q4_K matrix (nrows rows of nblk blocks) into dst (the whole
// packed buffer), and rows [row0, row0 + count) of a packed one back to the file's blocks (exact).
void ngk_pack_rows_q4_kx8(const uint8_t *src, size_t nrows, size_t nblk, size_t g0, size_t g1, uint8_t *dst);
void ngk_unpack_rows_q4_kx8(const uint8_t *packed, size_t nblk, size_t row0, size_t count, uint8_t *dst);
// Packed Q4_K × Q8_K activations; arguments as the packed kernels above (w_stride: bytes of one
// group, nblk · NGK_Q4_KX8_BYTES; xa_stride: nblk · NGK_Q8_K_BYTES). ngk_mv_q4_kx8: AVX2 body
// (8 rows × 4 activations, then single ones); _vnni: AVX-512 VNNI body (16 rows × 4 activations,
// then single ones against 64, 32, 16 rows) where the CPU has it, else ngk_mv_q4_kx8; ngk_gemm_q4_kx8: the
// VNNI body, else ngk_mv_q4_kx8. Every _ref is the scalar twin, ngk_mv_q4_k_ref's arithmetic.
void ngk_mv_q4_kx8(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                   const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
void ngk_mv_q4_kx8_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                       const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
void ngk_mv_q4_kx8_vnni(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                        const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
void ngk_gemm_q4_kx8(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
void ngk_gemm_q4_kx8_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                         const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);

// ---- lane GEMM (matmul_lanes.c): Q8_0 products with many positions ----
// Activations "lanes" format: positions in groups of 16 (the last padded with zeros); group g holds,
// for every block k of 32 K values, NGK_LANES_BLOCK_BYTES: the quants as unsigned q + 128 in 4-byte
// chunks, chunk-major (chunk c of positions 0..15, then chunk c + 1 …), then the 16 positions' f32
// scales. Values quantized exactly as ngk_quantize_act_q8_0 (same q, same f16-rounded scale).
// Groups are nblk · NGK_LANES_BLOCK_BYTES apart.
enum { NGK_LANES = 16, NGK_LANES_BLOCK_BYTES = 576, NGK_LANES_TABLE_BYTES = 64, NGK_LANES_MAX_TAPS = 64 };
// A 2-D convolution's input plane (c channels of h × w f32, NCHW) and kernel, stride, padding, output size.
typedef struct { size_t c, h, w, kh, kw, sh, sw, ph, pw, oh, ow; } ngk_conv_geometry;
// npos rows of x (ldx floats apart, ncols a multiple of 32) → lanes groups.
void ngk_lanes_rows_q8_0(const float *x, size_t ldx, size_t npos, size_t ncols, uint8_t *dst);
void ngk_lanes_rows_q8_0_ref(const float *x, size_t ldx, size_t npos, size_t ncols, uint8_t *dst);
// Patch rows (K = c·kh·kw in PyTorch's weight order c, ky, kx; zeros outside the image) of output
// positions [p0, p0 + npos) of one sample → lanes groups. K is a multiple of 32; the fast body
// takes kernels of up to NGK_LANES_MAX_TAPS taps (larger ones run the scalar twin).
void ngk_lanes_conv_q8_0(const float *x, const ngk_conv_geometry *q, size_t p0, size_t npos, uint8_t *dst);
void ngk_lanes_conv_q8_0_ref(const float *x, const ngk_conv_geometry *q, size_t p0, size_t npos, uint8_t *dst);
// Per (row group g in [g0, g1), block k) of a repacked Q8_0 matrix: the 8 rows' f32 scales, then
// the 8 rows' −128 · Σ quants (int32), at table + (g · nblk + k) · NGK_LANES_TABLE_BYTES.
void ngk_lanes_table_q8_0x8(const void *w, size_t w_stride, size_t nblk, size_t g0, size_t g1, void *table);
void ngk_lanes_table_q8_0x8_ref(const void *w, size_t w_stride, size_t nblk, size_t g0, size_t g1, void *table);
// Rows [0, nrows) of a repacked Q8_0 matrix (w_stride: bytes of one 8-row group; table: from
// ngk_lanes_table_q8_0x8 for all its groups) × npos positions in lanes groups at xl:
// position_major = 0: y[r · ldy + p] (a convolution's channel-major output), else y[p · ldy + r];
// plus bias[r] when bias is not NULL. The _ref twin reads the weights, not the table.
void ngk_lanes_gemm_q8_0x8(const void *w, size_t w_stride, const void *table, size_t nrows, size_t ncols,
                           const void *xl, size_t npos, float *y, size_t ldy, int position_major, const float *bias);
void ngk_lanes_gemm_q8_0x8_ref(const void *w, size_t w_stride, const void *table, size_t nrows, size_t ncols,
                               const void *xl, size_t npos, float *y, size_t ldy, int position_major, const float *bias);

// ---- Q4_K dequantization (AVX2 twin of ngk_dequantize_q4_k_ref) ----
void ngk_dequantize_q4_k(const uint8_t *src, float *y, size_t n);

// Memory-read probe for benchmarks: sum of n floats (AVX2, several accumulators).
float ngk_sum_f32(const float *x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
