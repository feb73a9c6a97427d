#!/bin/sh
# Kernel-layer benchmark: release build of nextgpt-bench, then one run that measures the peers
# (memory read bandwidth, OpenBLAS sgemm) beside the GEMV / batch figures.
#   tools/bench/bench_kernels.sh [scratch-dir]   (default: .build)
# Environment: BENCH_SECTIONS=hot,gemv,batch,crossover  BENCH_TYPES=q4_0,q8_0,...
#              BENCH_LAYOUTS=rows,packed (container rows and/or WeightMatrix.repacked(), Q8_0/Q4_0)
set -eu
cd "$(dirname "$0")/../.."
SCRATCH=${1:-.build}
swift build --scratch-path "$SCRATCH" -c release --product nextgpt-bench >&2
BENCH_DATE="$(date -u +%FT%TZ)" "$SCRATCH/release/nextgpt-bench"
