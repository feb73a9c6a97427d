#!/bin/sh
# Kernel-layer benchmark: release build of nextgpt-bench, then one run that measures the peers
# (memory read bandwidth, OpenBLAS sgemm) beside the GEMV / batch figures.
#   tools/bench/bench_kernels.sh [scratch-dir]   (default: .build)
set -eu
cd "$(dirname "$0")/../.."
SCRATCH=${1:-.build}
swift build --scratch-path "$SCRATCH" -c release --product nextgpt-bench >&2
BENCH_DATE="$(date -u +%FT%TZ)" "$SCRATCH/release/nextgpt-bench"
