// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum the container stores per tensor.
// The SSE4.2 instruction computes exactly this polynomial; the table version is its reference twin.
#include <string.h>
#include "nextgpt_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint32_t table[256];

// Built once at load time, so concurrent callers never race on it.
__attribute__((constructor)) static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
}

uint32_t ngk_crc32c_update_ref(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

uint32_t ngk_crc32c_update(uint32_t crc, const void *data, size_t n) {
#if defined(__x86_64__)
    if (ngk_use_sse42()) return crc32c_sse42(crc, data, n);
#endif
    return ngk_crc32c_update_ref(crc, data, n);
}
