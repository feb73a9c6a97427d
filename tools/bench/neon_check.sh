#!/bin/sh
# Cross-compiles the decode kernels for aarch64 (NEON bodies) and runs tools/bench/neon_check.c
# under qemu: every NEON kernel against its scalar twin on random odd-sized data.
# Needs the Debian packages gcc-aarch64-linux-gnu and qemu-user (installed if missing).
#   tools/bench/neon_check.sh [--native]   (--native: same check with the host compiler)
set -eu
cd "$(dirname "$0")/../.."
K=Sources/CNextGPTKernels
SRC="$K/half.c $K/cpu.c $K/matmul_mv.c $K/matmul_act.c $K/matmul_packed.c $K/matmul_neon.c $K/repack.c tools/bench/neon_check.c"
OUT=${TMPDIR:-/tmp}/nextgpt_neon_check
if [ "${1:-}" = "--native" ]; then
    cc -std=c11 -O2 -ffp-contract=off -Wall -Wno-unknown-pragmas -I"$K/include" -I"$K" $SRC -lm -o "$OUT-native"
    exec "$OUT-native"
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    apt-get install -y gcc-aarch64-linux-gnu qemu-user >&2
fi
aarch64-linux-gnu-gcc -std=c11 -O2 -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas -I"$K/include" -I"$K" $SRC -lm -o "$OUT-aarch64"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$OUT-aarch64"
