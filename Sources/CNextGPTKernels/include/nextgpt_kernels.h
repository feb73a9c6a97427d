// Kernels under the runtime: they know nothing of models.
// Every SIMD entry point has a scalar reference twin (suffix _ref) that tests compare against.
#ifndef NEXTGPT_KERNELS_H
#define NEXTGPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- CPU features (runtime dispatch) ----
typedef struct {
    int avx2;
    int fma;
    int f16c;
    int sse42;
} ngk_cpu_features;

ngk_cpu_features ngk_cpu_detect(void);
// Name of the code path chosen for this machine ("avx2", "neon" or "scalar").
const char *ngk_cpu_path(void);
// 1 when the AVX2 + FMA + F16C bodies may run; decided once per process.
int ngk_use_avx2(void);
// 1 when the AVX-512 VNNI bodies (avx512f/bw/vl/dq/vnni, with AVX2+FMA+F16C) may run.
int ngk_use_avx512vnni(void);
// 1 on CPUs that run a 256-bit vector op as two 128-bit halves (AMD Zen 1, "znver1"), where
// 8-bit integer products cost what f32 FMAs do; 0 elsewhere (Zen 2 and later, Intel, aarch64).
int ngk_cpu_splits_256bit_ops(void);
// 1 when the SSE4.2 crc32 instruction may run.
int ngk_use_sse42(void);
// The highest kernel level this CPU and OS can run (cpuid, and xgetbv for the AVX/AVX-512 register
// state, through __builtin_cpu_supports): NGK_LEVEL_SIMD is AVX2+FMA+F16C on x86-64 and NEON on
// aarch64; NGK_LEVEL_AVX512_VNNI adds avx512f/bw/vl/dq/vnni. Callers pick bodies at or below it.
enum { NGK_LEVEL_SCALAR = 0, NGK_LEVEL_SIMD = 1, NGK_LEVEL_AVX512_VNNI = 2 };
int ngk_kernel_level_max(void);

// ---- half / bfloat16 conversions (IEEE binary16 round-to-nearest-even, as ggml and numpy) ----
uint16_t ngk_fp32_to_fp16(float x);
float ngk_fp16_to_fp32(uint16_t h);
uint16_t ngk_fp32_to_bf16(float x);  // round-to-nearest-even, NaN kept quiet (as torch)
float ngk_bf16_to_fp32(uint16_t h);

void ngk_fp16_to_fp32_row(const uint16_t *src, float *dst, size_t n);
void ngk_fp16_to_fp32_row_ref(const uint16_t *src, float *dst, size_t n);
void ngk_fp32_to_fp16_row(const float *src, uint16_t *dst, size_t n);
void ngk_fp32_to_fp16_row_ref(const float *src, uint16_t *dst, size_t n);
void ngk_bf16_to_fp32_row(const uint16_t *src, float *dst, size_t n);
void ngk_fp32_to_bf16_row(const float *src, uint16_t *dst, size_t n);

// ---- ggml blocks: byte layouts identical to ggml's block_q8_0 / block_q4_0 / block_q4_K ----
enum { NGK_QK8_0 = 32, NGK_Q8_0_BYTES = 34, NGK_QK4_0 = 32, NGK_Q4_0_BYTES = 18, NGK_QK_K = 256, NGK_Q4_K_BYTES = 144 };

// n must be a multiple of the block size. dst holds n/QK blocks.
void ngk_quantize_q8_0_ref(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_q4_0_ref(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_q4_k_ref(const float *x, uint8_t *dst, size_t n);
// AVX2 twins of the references above (same bytes).
void ngk_quantize_q8_0(const float *x, uint8_t *dst, size_t n);
void ngk_quantize_q4_0(const float *x, uint8_t *dst, size_t n);

void ngk_dequantize_q8_0_ref(const uint8_t *src, float *y, size_t n);
void ngk_dequantize_q4_0_ref(const uint8_t *src, float *y, size_t n);
void ngk_dequantize_q4_k_ref(const uint8_t *src, float *y, size_t n);
void ngk_dequantize_q8_0(const uint8_t *src, float *y, size_t n);
void ngk_dequantize_q4_0(const uint8_t *src, float *y, size_t n);

// ---- CRC-32C (Castagnoli), used for per-tensor checksums in the container ----
uint32_t ngk_crc32c_update(uint32_t crc, const void *data, size_t n);
uint32_t ngk_crc32c_update_ref(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
