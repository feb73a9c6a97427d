#!/usr/bin/env bash
# The test command (README, CI): installs what the build needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log" "$log.avx512"' EXIT
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The Swift tests of the AVX-512 bodies skip on CPUs without AVX-512; on every x86-64 the same
# bodies also run against their scalar twins with the intrinsics emulated (SIMDe, about 75 s).
avx512=""
if [ "$(uname -m)" = x86_64 ]; then
  sh tools/bench/avx512_check.sh > "$log.avx512" 2>&1
  avx512_status=$?
  grep -E '^FAIL' "$log.avx512"
  avx512=$(grep -E '^[0-9]+ checks, [0-9]+ failures' "$log.avx512" | tail -1)
  if [ "$avx512_status" -ne 0 ] || [ -z "$avx512" ]; then
    tail -20 "$log.avx512"
    status=1
  fi
fi
set -e
# The libFuzzer smoke, opt-in (NEXTGPT_FUZZ_SMOKE=1): the fuzz package's cold debug build with
# ASan took 19.7 min on the shared 2-core machine (4.5 CPU-minutes; fuzz/README.md), over what
# CI can add, so by default FuzzSeedCorpusTests above runs the same bodies in the normal build.
# When on: 4 s of every target from its seeds after the tests; a crash fails the run.
if [ "${NEXTGPT_FUZZ_SMOKE:-0}" = 1 ]; then
  export FUZZ_CONFIGURATION=debug
  tools/fuzz/run.sh --build || status=1
  for target in $(tools/fuzz/run.sh --list); do
    tools/fuzz/run.sh "$target" 4 2>/dev/null | tail -1 || status=1
  done
fi
# One plain closing line with the XCTest totals.
# XCTest's last line: "Executed N tests, with [K tests skipped and] M failures ...".
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with " "$log" | tail -1)
if [ -n "$summary" ]; then
  executed=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
  failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
  skipped=$(echo "$summary" | grep -oE '[0-9]+ tests? skipped' | grep -oE '^[0-9]+' || echo 0)
  [ -n "$avx512" ] && echo "AVX-512 bodies against their twins, emulated (tools/bench/avx512_check.sh): $avx512"
  echo "$((executed - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"
