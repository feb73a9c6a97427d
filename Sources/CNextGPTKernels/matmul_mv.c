// Weight rows × activation vectors for every weight type. The AVX2 bodies take R rows per inner
// loop so each activation load feeds R products; the activation vectors are looped inside a row
// group so the group's weight rows stay in L1/L2 while every activation passes over them.
// Quantized weights meet 8-bit activations (Q8_0 / Q8_K) in integer maddubs/madd dot products as
// in ggml; f32/f16/bf16 weights meet f32 activations with FMAs.
#include <string.h>
#include "nextgpt_kernels.h"
#include "nextgpt_matmul.h"
#include "matmul_neon.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float half_at(const uint8_t *p) { return ngk_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8))); }
static inline float f32_at(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }

// ---------------------------------------------------------------- scalar twins

void ngk_mv_f32_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                    const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    for (size_t b = 0; b < nb; b++) {
        const float *x = (const float *)((const uint8_t *)xa + b * xa_stride);
        for (size_t r = 0; r < nrows; r++) {
            const float *wr = (const float *)((const uint8_t *)w + r * w_stride);
            float s = 0.0f;
            for (size_t c = 0; c < ncols; c++) s += wr[c] * x[c];
            y[b * ldy + r] = s;
        }
    }
}

void ngk_mv_f16_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                    const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    for (size_t b = 0; b < nb; b++) {
        const float *x = (const float *)((const uint8_t *)xa + b * xa_stride);
        for (size_t r = 0; r < nrows; r++) {
            const uint16_t *wr = (const uint16_t *)((const uint8_t *)w + r * w_stride);
            float s = 0.0f;
            for (size_t c = 0; c < ncols; c++) s += ngk_fp16_to_fp32(wr[c]) * x[c];
            y[b * ldy + r] = s;
        }
    }
}

void ngk_mv_bf16_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    for (size_t b = 0; b < nb; b++) {
        const float *x = (const float *)((const uint8_t *)xa + b * xa_stride);
        for (size_t r = 0; r < nrows; r++) {
            const uint16_t *wr = (const uint16_t *)((const uint8_t *)w + r * w_stride);
            float s = 0.0f;
            for (size_t c = 0; c < ncols; c++) s += ngk_bf16_to_fp32(wr[c]) * x[c];
            y[b * ldy + r] = s;
        }
    }
}

void ngk_mv_q8_0_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const size_t nblk = ncols / 32;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *xq = (const uint8_t *)xa + b * xa_stride;
        for (size_t r = 0; r < nrows; r++) {
            const uint8_t *wr = (const uint8_t *)w + r * w_stride;
            float s = 0.0f;
            for (size_t k = 0; k < nblk; k++) {
                const uint8_t *wb = wr + k * NGK_Q8_0_BYTES, *xb = xq + k * NGK_Q8_0_BYTES;
                int sum = 0;
                for (int j = 0; j < 32; j++) sum += (int8_t)wb[2 + j] * (int8_t)xb[2 + j];
                s += half_at(wb) * half_at(xb) * (float)sum;
            }
            y[b * ldy + r] = s;
        }
    }
}

void ngk_mv_q4_0_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const size_t nblk = ncols / 32;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *xq = (const uint8_t *)xa + b * xa_stride;
        for (size_t r = 0; r < nrows; r++) {
            const uint8_t *wr = (const uint8_t *)w + r * w_stride;
            float s = 0.0f;
            for (size_t k = 0; k < nblk; k++) {
                const uint8_t *wb = wr + k * NGK_Q4_0_BYTES, *xb = xq + k * NGK_Q8_0_BYTES;
                int sum = 0;
                for (int j = 0; j < 16; j++) {
                    sum += ((wb[2 + j] & 0x0f) - 8) * (int8_t)xb[2 + j];
                    sum += ((wb[2 + j] >> 4) - 8) * (int8_t)xb[2 + 16 + j];
                }
                s += half_at(wb) * half_at(xb) * (float)sum;
            }
            y[b * ldy + r] = s;
        }
    }
}

static inline void q4_k_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

void ngk_mv_q4_k_ref(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                     const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const size_t nblk = ncols / 256;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *xq = (const uint8_t *)xa + b * xa_stride;
        for (size_t r = 0; r < nrows; r++) {
            const uint8_t *wr = (const uint8_t *)w + r * w_stride;
            float s = 0.0f;
            for (size_t k = 0; k < nblk; k++) {
                const uint8_t *wb = wr + k * NGK_Q4_K_BYTES, *xb = xq + k * NGK_Q8_K_BYTES;
                const int8_t *q8 = (const int8_t *)(xb + 4);
                const uint8_t *qs = wb + 16;
                int sumq = 0, summ = 0;
                for (int sub = 0; sub < 8; sub++) {
                    int sc, m;
                    q4_k_scale_min(sub, wb + 4, &sc, &m);
                    int c = sub / 2, shift = (sub & 1) * 4;
                    int dot = 0, qsum = 0;
                    for (int l = 0; l < 32; l++) {
                        int q = (qs[32 * c + l] >> shift) & 0xF;
                        dot += q * q8[32 * sub + l];
                        qsum += q8[32 * sub + l];
                    }
                    sumq += sc * dot;
                    summ += m * qsum;
                }
                float dy = f32_at(xb);
                s += dy * half_at(wb) * (float)sumq - dy * half_at(wb + 2) * (float)summ;
            }
            y[b * ldy + r] = s;
        }
    }
}

// ---------------------------------------------------------------- AVX2 bodies
#if defined(__x86_64__)
#ifndef PREFETCH_BYTES
#define PREFETCH_BYTES 768
#endif
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE AVX2 static inline __attribute__((always_inline))

INLINE float hsum_8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE __m256 load8_f32(const void *p) { return _mm256_loadu_ps((const float *)p); }
INLINE __m256 load8_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
INLINE __m256 load8_bf16(const void *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline float one_f32(const void *p, size_t c) { return ((const float *)p)[c]; }
static inline float one_f16(const void *p, size_t c) { return ngk_fp16_to_fp32(((const uint16_t *)p)[c]); }
static inline float one_bf16(const void *p, size_t c) { return ngk_bf16_to_fp32(((const uint16_t *)p)[c]); }

// R rows × 16 columns per step (two accumulators per row to cover FMA latency).
#define FLOAT_ROWS(NAME, ESZ, LOAD8, ONE)                                                              \
    INLINE void NAME##_rows(int R, const uint8_t *w, size_t w_stride, size_t ncols, const float *x,    \
                            float *out) {                                                              \
        __m256 a0[4], a1[4];                                                                           \
        for (int i = 0; i < R; i++) { a0[i] = _mm256_setzero_ps(); a1[i] = _mm256_setzero_ps(); }      \
        size_t c = 0;                                                                                  \
        for (; c + 16 <= ncols; c += 16) {                                                             \
            __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);                       \
            for (int i = 0; i < R; i++) {                                                              \
                const uint8_t *wr = w + i * w_stride + c * ESZ;                                        \
                a0[i] = _mm256_fmadd_ps(LOAD8(wr), x0, a0[i]);                                         \
                a1[i] = _mm256_fmadd_ps(LOAD8(wr + 8 * ESZ), x1, a1[i]);                               \
            }                                                                                          \
        }                                                                                              \
        for (; c + 8 <= ncols; c += 8) {                                                               \
            __m256 x0 = _mm256_loadu_ps(x + c);                                                        \
            for (int i = 0; i < R; i++) a0[i] = _mm256_fmadd_ps(LOAD8(w + i * w_stride + c * ESZ), x0, a0[i]); \
        }                                                                                              \
        for (int i = 0; i < R; i++) {                                                                  \
            float s = hsum_8(_mm256_add_ps(a0[i], a1[i]));                                             \
            for (size_t t = c; t < ncols; t++) s += ONE(w + i * w_stride, t) * x[t];                   \
            out[i] = s;                                                                                \
        }                                                                                              \
    }                                                                                                  \
    AVX2 static void NAME##_avx2(const void *w, size_t w_stride, size_t nrows, size_t ncols,           \
                                 const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {  \
        const uint8_t *wb = (const uint8_t *)w;                                                        \
        size_t r = 0;                                                                                  \
        float out[4];                                                                                  \
        for (; r + 4 <= nrows; r += 4)                                                                 \
            for (size_t b = 0; b < nb; b++) {                                                          \
                NAME##_rows(4, wb + r * w_stride, w_stride, ncols,                                     \
                            (const float *)((const uint8_t *)xa + b * xa_stride), out);                \
                memcpy(y + b * ldy + r, out, 4 * sizeof(float));                                       \
            }                                                                                          \
        for (; r < nrows; r++)                                                                         \
            for (size_t b = 0; b < nb; b++)                                                            \
                NAME##_rows(1, wb + r * w_stride, w_stride, ncols,                                     \
                            (const float *)((const uint8_t *)xa + b * xa_stride), y + b * ldy + r);    \
    }

FLOAT_ROWS(mv_f32, 4, load8_f32, one_f32)
FLOAT_ROWS(mv_f16, 2, load8_f16, one_f16)
FLOAT_ROWS(mv_bf16, 2, load8_bf16, one_bf16)

INLINE __m256 half_scale(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_set1_ps(_cvtsh_ss(h));
}

// Σ over pairs of s8·s8 as ggml's mul_sum_i8_pairs (sign trick for maddubs), as 8 floats.
INLINE __m256 dot_i8_32(__m256i qx, __m256i qy) {
    __m256i ax = _mm256_sign_epi8(qx, qx);
    __m256i sy = _mm256_sign_epi8(qy, qx);
    __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
    return _mm256_cvtepi32_ps(dot);
}

INLINE __m256i nibbles_32(const uint8_t *p) {
    __m128i t = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

// R weight rows (Q8_0 or Q4_0 blocks) × one Q8_0 activation.
INLINE void q0_rows(int R, int is_q4, const uint8_t *w, size_t w_stride, size_t nblk, const uint8_t *xq, float *out) {
    __m256 acc[4];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    const size_t wbytes = is_q4 ? NGK_Q4_0_BYTES : NGK_Q8_0_BYTES;
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *xb = xq + k * NGK_Q8_0_BYTES;
        __m256i qy = _mm256_loadu_si256((const __m256i *)(xb + 2));
        __m256 dy = half_scale(xb);
        // Q4_0: unsigned nibbles q (0..15) straight into maddubs, and −8·Σqy per 4-byte lane added
        // to the int32 lanes — one add per row instead of ggml's subtract and two sign ops.
        __m256i corr = _mm256_setzero_si256();
        if (is_q4) {
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), qy), _mm256_set1_epi16(1));
            corr = _mm256_sub_epi32(corr, _mm256_slli_epi32(s, 3));
        }
        // Scales of 4 rows: gathered into one f16×4 vector, converted and multiplied once, then
        // broadcast per row with one permute (instead of 4 scalar convert/multiply/broadcasts).
        __m128 dx4 = _mm_setzero_ps();
        if (R == 4) {
            const uint8_t *w0 = w + k * wbytes;
            uint16_t h0, h1, h2, h3;
            memcpy(&h0, w0, 2);
            memcpy(&h1, w0 + w_stride, 2);
            memcpy(&h2, w0 + 2 * w_stride, 2);
            memcpy(&h3, w0 + 3 * w_stride, 2);
            __m128i h = _mm_cvtsi32_si128(h0 | ((int)h1 << 16));
            h = _mm_insert_epi32(h, h2 | ((int)h3 << 16), 1);
            dx4 = _mm_mul_ps(_mm_cvtph_ps(h), _mm256_castps256_ps128(dy));
        }
        for (int i = 0; i < R; i++) {
            const uint8_t *wb = w + i * w_stride + k * wbytes;
            // The hardware prefetcher does not keep up with R interleaved short rows of 18/34-byte
            // blocks (measured: 4 GB/s from DRAM without this, vs 13+ GB/s for f16 rows).
            // One prefetch per ~64 bytes of a row: every 2nd Q8_0 block, every 3rd Q4_0 block.
            if (k % (is_q4 ? 3 : 2) == 0) _mm_prefetch((const char *)(wb + PREFETCH_BYTES), _MM_HINT_T0);
            __m256 d = R == 4 ? _mm256_permutevar8x32_ps(_mm256_castps128_ps256(dx4), _mm256_set1_epi32(i))
                              : _mm256_mul_ps(half_scale(wb), dy);
            __m256 q;
            if (is_q4) {
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles_32(wb + 2), qy), _mm256_set1_epi16(1));
                q = _mm256_cvtepi32_ps(_mm256_add_epi32(p, corr));
            } else {
                q = dot_i8_32(_mm256_loadu_si256((const __m256i *)(wb + 2)), qy);
            }
            acc[i] = _mm256_fmadd_ps(d, q, acc[i]);
        }
    }
    for (int i = 0; i < R; i++) out[i] = hsum_8(acc[i]);
}

#define Q0_KERNEL(NAME, IS_Q4)                                                                         \
    AVX2 static void NAME##_avx2(const void *w, size_t w_stride, size_t nrows, size_t ncols,           \
                                 const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {  \
        const uint8_t *wb = (const uint8_t *)w;                                                        \
        const size_t nblk = ncols / 32;                                                                \
        size_t r = 0;                                                                                  \
        float out[4];                                                                                  \
        for (; r + 4 <= nrows; r += 4)                                                                 \
            for (size_t b = 0; b < nb; b++) {                                                          \
                q0_rows(4, IS_Q4, wb + r * w_stride, w_stride, nblk, (const uint8_t *)xa + b * xa_stride, out); \
                memcpy(y + b * ldy + r, out, 4 * sizeof(float));                                       \
            }                                                                                          \
        for (; r < nrows; r++)                                                                         \
            for (size_t b = 0; b < nb; b++)                                                            \
                q0_rows(1, IS_Q4, wb + r * w_stride, w_stride, nblk, (const uint8_t *)xa + b * xa_stride, y + b * ldy + r); \
    }

Q0_KERNEL(mv_q8_0, 0)
Q0_KERNEL(mv_q4_0, 1)

// Q4_K × Q8_K after ggml's ggml_vec_dot_q4_K_q8_K, R rows sharing the activation loads.
INLINE void q4k_rows(int R, const uint8_t *w, size_t w_stride, size_t nblk, const uint8_t *xq, float *out) {
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[2];
    __m128 accm[2];
    for (int i = 0; i < R; i++) { acc[i] = _mm256_setzero_ps(); accm[i] = _mm_setzero_ps(); }
    for (size_t k = 0; k < nblk; k++) {
        const uint8_t *xb = xq + k * NGK_Q8_K_BYTES;
        float dy;
        memcpy(&dy, xb, 4);
        const int8_t *q8 = (const int8_t *)(xb + 4);
        const __m256i q8sums = _mm256_loadu_si256((const __m256i *)(xb + 260));
        const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
        __m256i scales[2], sumi[2];
        const uint8_t *q4[2];
        for (int i = 0; i < R; i++) {
            const uint8_t *wb = w + i * w_stride + k * NGK_Q4_K_BYTES;
            _mm_prefetch((const char *)(wb + PREFETCH_BYTES), _MM_HINT_T0);
            _mm_prefetch((const char *)(wb + PREFETCH_BYTES + 64), _MM_HINT_T0);
            _mm_prefetch((const char *)(wb + PREFETCH_BYTES + 128), _MM_HINT_T0);
            uint16_t hd, hm;
            memcpy(&hd, wb, 2);
            memcpy(&hm, wb + 2, 2);
            const float d = dy * _cvtsh_ss(hd);
            const float dmin = -dy * _cvtsh_ss(hm);
            uint32_t utmp[4];
            memcpy(utmp, wb + 4, 12);
            utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
            const uint32_t uaux = utmp[1] & kmask1;
            utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
            utmp[2] = uaux;
            utmp[0] &= kmask1;
            const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
            const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s);
            accm[i] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm[i]);
            const __m128i sc128 = _mm256_castsi256_si128(mins_and_scales);
            scales[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(sc128), sc128, 1);
            sumi[i] = _mm256_setzero_si256();
            q4[i] = wb + 16;
            out[i] = d;  // stash the superblock scale until the sums are done
        }
        for (int j = 0; j < 4; j++) {
            const __m256i q8l = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j));
            const __m256i q8h = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32));
            const __m256i shl = _mm256_set1_epi16((short)(((4 * j + 1) << 8) | (4 * j)));
            const __m256i shh = _mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2)));
            for (int i = 0; i < R; i++) {
                const __m256i q4bits = _mm256_loadu_si256((const __m256i *)(q4[i] + 32 * j));
                const __m256i q4l = _mm256_and_si256(q4bits, m4);
                const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4);
                __m256i pl = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[i], shl), _mm256_maddubs_epi16(q4l, q8l));
                __m256i ph = _mm256_madd_epi16(_mm256_shuffle_epi8(scales[i], shh), _mm256_maddubs_epi16(q4h, q8h));
                sumi[i] = _mm256_add_epi32(sumi[i], _mm256_add_epi32(pl, ph));
            }
        }
        for (int i = 0; i < R; i++) acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(out[i]), _mm256_cvtepi32_ps(sumi[i]), acc[i]);
    }
    for (int i = 0; i < R; i++) {
        __m128 m = accm[i];
        m = _mm_add_ps(m, _mm_movehl_ps(m, m));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[i] = hsum_8(acc[i]) + _mm_cvtss_f32(m);
    }
}

AVX2 static void mv_q4_k_avx2(const void *w, size_t w_stride, size_t nrows, size_t ncols,
                              const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy) {
    const uint8_t *wb = (const uint8_t *)w;
    const size_t nblk = ncols / 256;
    size_t r = 0;
    float out[2];
    for (; r + 2 <= nrows; r += 2)
        for (size_t b = 0; b < nb; b++) {
            q4k_rows(2, wb + r * w_stride, w_stride, nblk, (const uint8_t *)xa + b * xa_stride, out);
            y[b * ldy + r] = out[0];
            y[b * ldy + r + 1] = out[1];
        }
    for (; r < nrows; r++)
        for (size_t b = 0; b < nb; b++) {
            q4k_rows(1, wb + r * w_stride, w_stride, nblk, (const uint8_t *)xa + b * xa_stride, out);
            y[b * ldy + r] = out[0];
        }
}
#endif

#define DISPATCH(NAME)                                                                                 \
    void ngk_##NAME(const void *w, size_t w_stride, size_t nrows, size_t ncols, const void *xa,        \
                    size_t xa_stride, size_t nb, float *y, size_t ldy) {                               \
        NGK_SIMD_CALL(NAME, w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);                     \
        ngk_##NAME##_ref(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);                        \
    }
// No NEON bodies yet for these: the scalar twin on aarch64.
#if defined(__x86_64__)
#define DISPATCH_X86(NAME) DISPATCH(NAME)
#else
#define DISPATCH_X86(NAME)                                                                             \
    void ngk_##NAME(const void *w, size_t w_stride, size_t nrows, size_t ncols, const void *xa,        \
                    size_t xa_stride, size_t nb, float *y, size_t ldy) {                               \
        ngk_##NAME##_ref(w, w_stride, nrows, ncols, xa, xa_stride, nb, y, ldy);                        \
    }
#endif
DISPATCH(mv_f32)
DISPATCH(mv_f16)
DISPATCH_X86(mv_bf16)
DISPATCH(mv_q8_0)
DISPATCH(mv_q4_0)
DISPATCH_X86(mv_q4_k)
