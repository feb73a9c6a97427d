#!/bin/sh
# Every AVX-512 kernel body against its scalar twin on any x86-64 CPU. The kernels are compiled
# with their target attributes stripped and <immintrin.h> replaced by avx512_emulation/immintrin.h,
# which maps each intrinsic to SIMDe's portable code (Debian libsimde-dev, installed if missing):
# the AVX-512 bodies' results, without the instructions. tools/bench/avx512_check.c says what runs.
#   tools/bench/avx512_check.sh                  # emulated: any x86-64
#   tools/bench/avx512_check.sh --native         # the CPU's own instructions (needs AVX-512 VNNI)
#   tools/bench/avx512_check.sh [--native] q4_k  # one part: packed, q4_k, lanes, attention
set -eu
cd "$(dirname "$0")/../.."
K=Sources/CNextGPTKernels
B=tools/bench
OUT=${TMPDIR:-/tmp}/nextgpt_avx512_check
CHECKS="$B/avx512_check.c $B/avx512_check_lanes.c $B/avx512_check_attention.c"
CFLAGS="-std=gnu11 -O2 -ffp-contract=off -Wall -Wno-psabi -Wno-unknown-pragmas -I$K/include -I$K -I$B"
mkdir -p "$OUT"
CC=${CC:-gcc}
if [ "${1:-}" = "--native" ]; then
    shift
    "$CC" $CFLAGS $K/*.c $CHECKS -lm -o "$OUT/check-native"
    exec "$OUT/check-native" "$@"
fi
# GCC: clang took 6.5 min where GCC takes 1 on SIMDe's headers (2 cores).
if [ ! -f /usr/include/simde/x86/avx512.h ] || ! command -v gcc >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libsimde-dev gcc >/dev/null
fi
rm -rf "$OUT/src"
mkdir -p "$OUT/src"
for f in $K/*.c; do
    [ "$(basename "$f")" = cpu.c ] && continue
    sed -E 's/__attribute__\(\(target\("[^"]*"\)\)\)//g' "$f" > "$OUT/src/$(basename "$f")"
done
cp $B/avx512_check_cpu.c $CHECKS "$OUT/src/"
echo "compiling the kernels with SIMDe's portable intrinsics…" >&2
# One file per job: SIMDe's headers make each file slow to compile.
ls "$OUT"/src/*.c | xargs -P "$(nproc)" -I{} "$CC" $CFLAGS -DSIMDE_NO_NATIVE -I$B/avx512_emulation -c {} -o {}.o
"$CC" "$OUT"/src/*.o -lm -o "$OUT/check-emulated"
exec "$OUT/check-emulated" "$@"
