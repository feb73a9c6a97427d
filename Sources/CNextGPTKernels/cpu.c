#include "nextgpt_kernels.h"

ngk_cpu_features ngk_cpu_detect(void) {
    ngk_cpu_features f = {0, 0, 0, 0};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    f.f16c = __builtin_cpu_supports("f16c");
    f.sse42 = __builtin_cpu_supports("sse4.2");
#endif
    return f;
}

const char *ngk_cpu_path(void) {
#if defined(__x86_64__) || defined(__i386__)
    ngk_cpu_features f = ngk_cpu_detect();
    if (f.avx2 && f.fma && f.f16c) return "avx2";
    return "scalar";
#elif defined(__aarch64__)
    return "neon";
#else
    return "scalar";
#endif
}

static int avx2_usable = 0, sse42_usable = 0, avx512vnni_usable = 0;

// Decided at load time, before any kernel runs, so no caller races on it.
__attribute__((constructor)) static void detect_features(void) {
    ngk_cpu_features f = ngk_cpu_detect();
    avx2_usable = f.avx2 && f.fma && f.f16c;
    sse42_usable = f.sse42;
#if defined(__x86_64__) || defined(__i386__)
    avx512vnni_usable = avx2_usable && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vnni");
#endif
}

int ngk_use_avx2(void) { return avx2_usable; }

int ngk_cpu_splits_256bit_ops(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("znver1");
#else
    return 0;
#endif
}
int ngk_use_sse42(void) { return sse42_usable; }
int ngk_use_avx512vnni(void) { return avx512vnni_usable; }

int ngk_kernel_level_max(void) {
#if defined(__aarch64__)
    return NGK_LEVEL_SIMD;
#else
    return avx512vnni_usable ? NGK_LEVEL_AVX512_VNNI : avx2_usable ? NGK_LEVEL_SIMD : NGK_LEVEL_SCALAR;
#endif
}
