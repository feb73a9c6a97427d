// Private to the kernel target: the SIMD body an entry point runs. On x86-64 the AVX2 body when
// the CPU has AVX2+FMA+F16C (decided once at load, cpu.c); on aarch64 the NEON body (NEON is part
// of the base architecture there); elsewhere the scalar twin that follows the macro.
#ifndef NEXTGPT_MATMUL_NEON_H
#define NEXTGPT_MATMUL_NEON_H
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#define NGK_SIMD_CALL(NAME, ...) do { if (ngk_use_avx2()) { NAME##_avx2(__VA_ARGS__); return; } } while (0)
#elif defined(__aarch64__)
#define NGK_SIMD_CALL(NAME, ...) do { NAME##_neon(__VA_ARGS__); return; } while (0)
#else
#define NGK_SIMD_CALL(NAME, ...) do { } while (0)
#endif

#if defined(__aarch64__)
#define NGK_NEON_MV(NAME)                                                                               \
    __attribute__((visibility("hidden"))) void NAME##_neon(const void *w, size_t w_stride, size_t nrows, \
        size_t ncols, const void *xa, size_t xa_stride, size_t nb, float *y, size_t ldy);
NGK_NEON_MV(mv_f32)
NGK_NEON_MV(mv_f16)
NGK_NEON_MV(mv_q8_0)
NGK_NEON_MV(mv_q4_0)
NGK_NEON_MV(mv_q8_0x8)
NGK_NEON_MV(mv_q4_0x8)
#undef NGK_NEON_MV
__attribute__((visibility("hidden"))) void quantize_act_q8_0_neon(const float *x, uint8_t *dst, size_t n);
#endif
#endif
