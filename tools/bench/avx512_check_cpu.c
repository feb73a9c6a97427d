// Replaces cpu.c under emulation (avx512_check.sh): every level is usable, whatever the host has,
// because every intrinsic runs as SIMDe's portable code.
#include "nextgpt_kernels.h"

ngk_cpu_features ngk_cpu_detect(void) { return (ngk_cpu_features){1, 1, 1, 1}; }
const char *ngk_cpu_path(void) { return "avx512-vnni (emulated by SIMDe)"; }
int ngk_use_avx2(void) { return 1; }
int ngk_use_sse42(void) { return 1; }
int ngk_use_avx512vnni(void) { return 1; }
int ngk_cpu_splits_256bit_ops(void) { return 0; }
int ngk_kernel_level_max(void) { return NGK_LEVEL_AVX512_VNNI; }
