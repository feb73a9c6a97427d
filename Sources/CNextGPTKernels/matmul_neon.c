// NEON bodies of the decode kernels (aarch64 only; on x86-64 this file is empty). Base ARMv8-A
// only: int8 products through vmull_s8 + pairwise widening adds, no dot-product extension, so they
// run on every 64-bit ARM core. The unpacked quantized kernels accumulate blocks in the same order
// as their scalar twins, so they agree with them exactly; the float and packed ones to rounding.
// Checked under qemu against the twins by tools/bench/neon_check.sh.
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#include "matmul_neon.h"

static inline float half_at(const uint8_t *p) { return ngk_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8))); }

// ---------------------------------------------------------------- activations

void quantize_act_q8_0_neon(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        uint8_t *block = dst + b * NGK_Q8_0_BYTES;
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(xb + 4 * j);
            m = vmaxq_f32(m, vabsq_f32(v[j]));
        }
        const float amax = vmaxvq_f32(m);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t h = ngk_fp32_to_fp16(d);
        memcpy(block, &h, 2);
        for (int j = 0; j < 8; j += 2) {
            // vcvtnq rounds half to even, as the twin's nearest_int.
            const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
            const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
            const int8x8_t q = vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1)));
            vst1_s8((int8_t *)block + 2 + 4 * j, q);
        }
    }
}

// ---------------------------------------------------------------- f32 / f16 weights

static inline float32x4_t load4_f32(const uint8_t *p) { return vld1q_f32((const float *)p); }
static inline float32x4_t load4_f16(const uint8_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p))); }
static inline float one_f32(const uint8_t *p, size_t c) { return ((const float *)p)[c]; }
static inline float one_f16(const uint8_t *p, size_t c) { return ngk_fp16_to_fp32(((const uint16_t *)p)[c]); }

// 4 rows share every activation load; two accumulators per row cover the FMA latency.
#define FLOAT_NEON(NAME, ESZ, LOAD4, ONE)                                                              \
    static void NAME##_rows(int R, const uint8_t *w, size_t w_stride, size_t ncols, const float *x,    \
                            float *out) {                                                              \
        float32x4_t a0[4], a1[4];                                                                      \
        for (int i = 0; i < R; i++) { a0[i] = vdupq_n_f32(0.0f); a1[i] = vdupq_n_f32(0.0f); }          \
        size_t c = 0;                                                                                  \
        for (; c + 8 <= ncols; c += 8) {                                                               \
            const float32x4_t x0 = vld1q_f32(x + c), x1 = vld1q_f32(x + c + 4);                        \
            for (int i = 0; i < R; i++) {                                                              \
                const uint8_t *wr = w + i * w_stride + c * ESZ;                                        \
                a0[i] = vfmaq_f32(a0[i], LOAD4(wr), x0);                                               \
                a1[i] = vfmaq_f32(a1[i], LOAD4(wr + 4 * ESZ), x1);                                     \
            }                                                                                          \
        }                                                                                              \
        for (int i = 0; i < R; i++) {                                                                  \
            float s = vaddvq_f32(vaddq_f32(a0[i], a1[i]));                                             \
            for (size_t t = c; t < ncols; t++) s += ONE(w + i * w_stride, t) * x[t];                   \
            out[i] = s;                                                                                \
        }                                                                                              \
    }                                                                                                  \
    void NAME##_neon(const void *w, size_t w_stride, size_t nrows, size_t ncols, const void *xa,       \
                     size_t xa_stride, size_t nb, float *y, size_t ldy) {                              \
        const uint8_t *wb = (const uint8_t *)w;                                                        \
        size_t r = 0;                                                                                  \
        float out[4];                                                                                  \
        for (; r + 4 <= nrows; r += 4)                                                                 \
            for (size_t b = 0; b < nb; b++) {                                                          \
                NAME##_rows(4, wb + r * w_stride, w_stride, ncols,                                     \
                            (const float *)((const uint8_t *)xa + b * xa_stride), out);                \
                memcpy(y + b * ldy + r, out, sizeof out);                                              \
            }                                                                                          \
        for (; r < nrows; r++)                                                                         \
            for (size_t b = 0; b < nb; b++)                                                            \
                NAME##_rows(1, wb + r * w_stride, w_stride, ncols,                                     \
                            (const float *)((const uint8_t *)xa + b * xa_stride), y + b * ldy + r);    \
    }

FLOAT_NEON(mv_f32, 4, load4_f32, one_f32)
FLOAT_NEON(mv_f16, 2, load4_f16, one_f16)

// ---------------------------------------------------------------- Q8_0 / Q4_0 rows

// Σ of 16 s8·s8 products added to 4 int32 lanes (products widen to s16, pairs to s32: no overflow).
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

static inline int q8_0_block_dot(const uint8_t *wb, const int8_t *xq) {
    int32x4_t acc = vdupq_n_s32(0);
    acc = dot16(acc, vld1q_s8((const int8_t *)wb), vld1q_s8(xq));
    acc = dot16(acc, vld1q_s8((const int8_t *)wb + 16), vld1q_s8(xq + 16));
    return vaddvq_s32(acc);
}

static inline int q4_0_block_dot(const uint8_t *wb, const int8_t *xq) {
    const uint8x16_t v = vld1q_u8(wb);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
    int32x4_t acc = vdupq_n_s32(0);
    acc = dot16(acc, lo, vld1q_s8(xq));
    acc = dot16(acc, hi, vld1q_s8(xq + 16));
    return vaddvq_s32(acc);
}

#define Q0_NEON(NAME, WBYTES, BLOCK_DOT)                                                               \
    void NAME##_neon(const void *w, size_t w_stride, size_t nrows, size_t ncols, const void *xa,       \
                     size_t xa_stride, size_t nb, float *y, size_t ldy) {                              \
        const size_t nblk = ncols / 32;                                                                \
        for (size_t r = 0; r < nrows; r++) {                                                           \
            const uint8_t *wr = (const uint8_t *)w + r * w_stride;                                     \
            for (size_t b = 0; b < nb; b++) {                                                          \
                const uint8_t *xq = (const uint8_t *)xa + b * xa_stride;                               \
                float s = 0.0f;                                                                        \
                for (size_t k = 0; k < nblk; k++) {                                                    \
                    const uint8_t *wb = wr + k * WBYTES, *xb = xq + k * NGK_Q8_0_BYTES;                \
                    s += half_at(wb) * half_at(xb) * (float)BLOCK_DOT(wb + 2, (const int8_t *)xb + 2); \
                }                                                                                      \
                y[b * ldy + r] = s;                                                                    \
            }                                                                                          \
        }                                                                                              \
    }

Q0_NEON(mv_q8_0, NGK_Q8_0_BYTES, q8_0_block_dot)
Q0_NEON(mv_q4_0, NGK_Q4_0_BYTES, q4_0_block_dot)

// ---------------------------------------------------------------- packed groups of 8 rows

// One 4-byte activation chunk × the same chunk of 8 rows (32 bytes): pair sums of rows 0..3 into
// lo[0..1] (two lanes per row), of rows 4..7 into hi[0..1].
static inline void chunk_dot8(int32x4_t acc[4], const uint8_t *rows, int8x16_t q4) {
    const int8x16_t a = vld1q_s8((const int8_t *)rows), b = vld1q_s8((const int8_t *)rows + 16);
    acc[0] = vpadalq_s16(acc[0], vmull_s8(vget_low_s8(a), vget_low_s8(q4)));
    acc[1] = vpadalq_s16(acc[1], vmull_high_s8(a, q4));
    acc[2] = vpadalq_s16(acc[2], vmull_s8(vget_low_s8(b), vget_low_s8(q4)));
    acc[3] = vpadalq_s16(acc[3], vmull_high_s8(b, q4));
}

static inline int8x16_t chunk_dup(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// Nibble chunk (8 rows × 4 bytes) → its low and high nibbles as unsigned values in s8 lanes.
static inline void chunk_dot8_q4(int32x4_t acc[4], const uint8_t *rows, int8x16_t qlo, int8x16_t qhi) {
    const uint8x16_t m = vdupq_n_u8(0x0f);
    const uint8x16_t a = vld1q_u8(rows), b = vld1q_u8(rows + 16);
    const int8x16_t al = vreinterpretq_s8_u8(vandq_u8(a, m)), ah = vreinterpretq_s8_u8(vshrq_n_u8(a, 4));
    const int8x16_t bl = vreinterpretq_s8_u8(vandq_u8(b, m)), bh = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
    acc[0] = vpadalq_s16(acc[0], vmull_s8(vget_low_s8(al), vget_low_s8(qlo)));
    acc[0] = vpadalq_s16(acc[0], vmull_s8(vget_low_s8(ah), vget_low_s8(qhi)));
    acc[1] = vpadalq_s16(acc[1], vmull_high_s8(al, qlo));
    acc[1] = vpadalq_s16(acc[1], vmull_high_s8(ah, qhi));
    acc[2] = vpadalq_s16(acc[2], vmull_s8(vget_low_s8(bl), vget_low_s8(qlo)));
    acc[2] = vpadalq_s16(acc[2], vmull_s8(vget_low_s8(bh), vget_low_s8(qhi)));
    acc[3] = vpadalq_s16(acc[3], vmull_high_s8(bl, qlo));
    acc[3] = vpadalq_s16(acc[3], vmull_high_s8(bh, qhi));
}

static inline void store_rows(float *y, size_t rows, float32x4_t lo, float32x4_t hi) {
    float t[8];
    vst1q_f32(t, lo);
    vst1q_f32(t + 4, hi);
    memcpy(y, t, (rows < 8 ? rows : 8) * sizeof(float));
}

#define PACKED_NEON(NAME, GROUP_BLOCK_BYTES, IS_Q4)                                                    \
    void NAME##_neon(const void *w, size_t w_stride, size_t nrows, size_t ncols, const void *xa,       \
                     size_t xa_stride, size_t nb, float *y, size_t ldy) {                              \
        const size_t nblk = ncols / 32;                                                                \
        for (size_t r0 = 0; r0 < nrows; r0 += NGK_PACK_ROWS) {                                         \
            const uint8_t *group = (const uint8_t *)w + r0 / NGK_PACK_ROWS * w_stride;                 \
            for (size_t b = 0; b < nb; b++) {                                                          \
                const int8_t *q = (const int8_t *)((const uint8_t *)xa + b * xa_stride);               \
                const uint8_t *xd = (const uint8_t *)q + nblk * 32, *xs = xd + nblk * 4;               \
                float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);                            \
                for (size_t k = 0; k < nblk; k++) {                                                    \
                    const uint8_t *blk = group + k * GROUP_BLOCK_BYTES;                                \
                    int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)}; \
                    if (IS_Q4)                                                                         \
                        for (int c = 0; c < 4; c++)                                                    \
                            chunk_dot8_q4(acc, blk + 16 + 32 * c, chunk_dup(q + 32 * k + 4 * c),       \
                                          chunk_dup(q + 32 * k + 16 + 4 * c));                         \
                    else                                                                               \
                        for (int c = 0; c < 8; c++) chunk_dot8(acc, blk + 16 + 32 * c, chunk_dup(q + 32 * k + 4 * c)); \
                    int32x4_t s_lo = vpaddq_s32(acc[0], acc[1]), s_hi = vpaddq_s32(acc[2], acc[3]);    \
                    if (IS_Q4) {                                                                       \
                        int32_t sum;                                                                   \
                        memcpy(&sum, xs + 4 * k, 4);                                                   \
                        s_lo = vaddq_s32(s_lo, vdupq_n_s32(-8 * sum));                                 \
                        s_hi = vaddq_s32(s_hi, vdupq_n_s32(-8 * sum));                                 \
                    }                                                                                  \
                    float dy;                                                                          \
                    memcpy(&dy, xd + 4 * k, 4);                                                        \
                    const uint16x8_t h = vld1q_u16((const uint16_t *)blk);                             \
                    const float32x4_t d_lo = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))), dy); \
                    const float32x4_t d_hi = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))), dy); \
                    lo = vfmaq_f32(lo, d_lo, vcvtq_f32_s32(s_lo));                                     \
                    hi = vfmaq_f32(hi, d_hi, vcvtq_f32_s32(s_hi));                                     \
                }                                                                                      \
                store_rows(y + b * ldy + r0, nrows - r0, lo, hi);                                      \
            }                                                                                          \
        }                                                                                              \
    }

PACKED_NEON(mv_q8_0x8, NGK_Q8_0X8_BYTES, 0)
PACKED_NEON(mv_q4_0x8, NGK_Q4_0X8_BYTES, 1)
#endif
