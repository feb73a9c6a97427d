// Shared by the parts of avx512_check (avx512_check.sh): random data, the error measure, the tally.
#ifndef NEXTGPT_AVX512_CHECK_H
#define NEXTGPT_AVX512_CHECK_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

uint64_t check_random(void);
// Uniform in (−scale, scale); every 29th call 40 times larger, so that quantized bytes reach ±127.
float check_random_float(float scale);
float check_random_activation(float scale);
double check_rel_l2(const float *a, const float *b, size_t n);
// Records one comparison; prints it when it fails.
void check_expect(int ok, const char *what, const char *detail, double err);

// The parts: each compares the AVX-512 bodies of its kernels with their scalar twins.
void check_packed_matmul(void);
void check_q4_k(void);
void check_lanes(void);
void check_attention(void);
#endif
