#!/usr/bin/env bash
# Builds the libFuzzer targets (the separate package in fuzz/, its own build folder fuzz/.build)
# and runs one target for SECONDS, seeded from fuzz/corpus/TARGET with fuzz/dicts/TARGET.dict.
# New inputs go to fuzz/artifacts/corpus/TARGET (not committed); crashes to fuzz/artifacts/.
# The last line printed is "fuzz TARGET: N executions in S s, C crashes".
#
# Usage: tools/fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#        tools/fuzz/run.sh --build          (build only)
#        tools/fuzz/run.sh --list
# Targets: safetensors zip pickle legacy-torch gguf json-config sentencepiece bpe png wav
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz="$root/fuzz"
targets=(safetensors zip pickle legacy-torch gguf json-config sentencepiece bpe png wav)

build() {
  (cd "$fuzz" && swift build -c release \
      -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
      -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | grep -E "error|warning: unre|Build complete" | tail -20)
  [ -x "$fuzz/.build/release/fuzz-pickle" ]
}

case "${1:-}" in
  --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  --build) build; exit $? ;;
  ''|-h|--help) sed -n 2,10p "$0"; exit 2 ;;
esac
target=$1 seconds=${2:-60}; shift 2 || shift $#
[[ " ${targets[*]} " == *" $target "* ]] || { echo "unknown target $target (${targets[*]})" >&2; exit 2; }
bin="$fuzz/.build/release/fuzz-$target"
[ -x "$bin" ] || build || { echo "fuzz build failed" >&2; exit 1; }

work="$fuzz/artifacts/corpus/$target"
crashes="$fuzz/artifacts/crashes/$target"
mkdir -p "$work" "$crashes"
log="$fuzz/artifacts/$target.log"
# -rss_limit_mb: a parser that allocates without bound is a finding too. detect_leaks=0: the
# parsers' caches and Swift's runtime metadata are not leaks worth failing on.
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 "$bin" "$work" "$fuzz/corpus/$target" \
  -dict="$fuzz/dicts/$target.dict" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix="$crashes/" "$@" >"$log" 2>&1
status=$?
runs=$(grep -E "^stat::number_of_executed_units:" "$log" | awk '{print $2}')
time=$(grep -E "^stat::" "$log" >/dev/null && awk -v s="$seconds" 'BEGIN{print s}')
found=$(find "$crashes" -type f | wc -l)
tail -3 "$log" | grep -vE "^stat::" >&2 || true
echo "fuzz $target: ${runs:-0} executions in ${time:-?} s, $found crashes (exit $status; log $log)"
exit $status
