#!/usr/bin/env bash
# Builds the libFuzzer targets (the separate package in fuzz/, its own build folder fuzz/.build)
# and runs one target for SECONDS, or for N executions (--runs N, capped at --max-seconds S),
# seeded from fuzz/corpus/TARGET with fuzz/dicts/TARGET.dict.
# New inputs go to fuzz/artifacts/corpus/TARGET (not committed); crashes to fuzz/artifacts/crashes/TARGET.
# The log is fuzz/artifacts/TARGET.log; its last line (and the last line printed) is
# "fuzz TARGET: N executions in S s, C crashes (exit E; log ...)".
#
# Usage: tools/fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#        tools/fuzz/run.sh TARGET --runs N [--max-seconds S] [extra libFuzzer flags]
#        tools/fuzz/run.sh --build          (build only)
#        tools/fuzz/run.sh --list
# Targets: safetensors zip pickle legacy-torch gguf json-config sentencepiece bpe png wav
#          reference-bundle server jpeg mp4
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz="$root/fuzz"
targets=(safetensors zip pickle legacy-torch gguf json-config sentencepiece bpe png wav reference-bundle server jpeg mp4)
# FUZZ_CONFIGURATION=debug builds and runs the debug build (fuzz/.build/debug; faster to build, slower to run).
configuration=${FUZZ_CONFIGURATION:-release}

build() {
  (cd "$fuzz" && swift build -c "$configuration" \
      -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
      -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | grep -E "error|warning: unre|Build complete" | tail -20)
  for target in "${targets[@]}"; do [ -x "$fuzz/.build/$configuration/fuzz-$target" ] || return 1; done
}

case "${1:-}" in
  --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  --build) build; exit $? ;;
  ''|-h|--help) sed -n 2,14p "$0"; exit 2 ;;
esac
target=$1; shift
limits=()
if [ "${1:-}" = --runs ]; then
  runs_wanted=${2:?--runs needs a count}; shift 2
  seconds=0  # libFuzzer: no time limit
  if [ "${1:-}" = --max-seconds ]; then seconds=${2:?--max-seconds needs a value}; shift 2; fi
  limits=(-runs="$runs_wanted" -max_total_time="$seconds")
else
  seconds=${1:-60}; shift $(( $# > 0 ? 1 : 0 ))
  limits=(-max_total_time="$seconds")
fi
[[ " ${targets[*]} " == *" $target "* ]] || { echo "unknown target $target (${targets[*]})" >&2; exit 2; }
bin="$fuzz/.build/$configuration/fuzz-$target"
[ -x "$bin" ] || build || { echo "fuzz build failed" >&2; exit 1; }

work="$fuzz/artifacts/corpus/$target"
crashes="$fuzz/artifacts/crashes/$target"
mkdir -p "$work" "$crashes"
log="$fuzz/artifacts/$target.log"
# Crash, timeout, OOM and leak inputs count as crashes; slow-unit files (a unit over 10 s of wall
# time, e.g. while the fuzzer was starved of CPU) are counted apart.
count_crashes() { find "$crashes" -type f ! -name 'slow-unit-*' | wc -l; }
count_slow() { find "$crashes" -type f -name 'slow-unit-*' | wc -l; }
before=$(count_crashes)
slow_before=$(count_slow)
start=$(date +%s.%N)
# -rss_limit_mb: a parser that allocates without bound is a finding too. detect_leaks=0: the
# parsers' caches and Swift's runtime metadata are not leaks worth failing on.
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 "$bin" "$work" "$fuzz/corpus/$target" \
  -dict="$fuzz/dicts/$target.dict" "${limits[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix="$crashes/" "$@" >"$log" 2>&1
status=$?
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
runs=$(grep -E "^stat::number_of_executed_units:" "$log" | tail -1 | awk '{print $2}')
# Crash, timeout, OOM and leak inputs this run wrote (libFuzzer stops at the first).
found=$(( $(count_crashes) - before ))
slow=$(( $(count_slow) - slow_before ))
tail -3 "$log" | grep -vE "^stat::" >&2 || true
line="fuzz $target: ${runs:-0} executions in $elapsed s, $found crashes, $slow slow units (exit $status; log $log)"
echo "$line" >>"$log"
echo "$line"
exit $status
