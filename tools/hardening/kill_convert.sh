#!/usr/bin/env bash
# Interrupts `nextgpt convert` (the tiny Vicuna fixture → f16 container) at random moments:
# SIGKILL N times (default 100), then SIGINT and SIGTERM M times in all (default 20).
# Checks: the destination never exists unless complete (`verify-file` passes), SIGINT/SIGTERM
# leave no temporary file, and the temporaries SIGKILL leaves are removed by the next convert
# to that destination. Prints one summary line (kept with the date in tools/hardening/results/kill.txt,
# read by report.sh); exits 1 on any failure.
# Usage: tools/hardening/kill_convert.sh [path/to/nextgpt] [N] [M]
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-.build/debug/nextgpt}
kills=${2:-100}
signals=${3:-20}
[ -x "$bin" ] || { echo "no $bin: swift build --product nextgpt first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out.gguf"
# `exec`: in the background (`convert &`) the subshell becomes nextgpt itself, so $! is the
# converter's pid and the signal reaches it, not a shell wrapped around it.
convert() { exec "$bin" convert --vicuna Tests/Fixtures/vicuna --no-negatives -o "$out" >"$work/log" 2>&1; }
temporaries() { find "$work" -maxdepth 1 -name '.out.gguf.tmp-*' | sort; }

# The fastest of three complete runs sets the window the kill moments are drawn from.
window_ms=1000000
for _ in 1 2 3; do
  start=$(date +%s%N); (convert) || { cat "$work/log"; exit 1; }; end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 )); [ "$ms" -lt "$window_ms" ] && window_ms=$ms
done
"$bin" verify-file "$out" >/dev/null || { echo "the uninterrupted container does not verify" >&2; exit 1; }

corrupt=0 completed=0 during_write=0 stale_made=0 stale_kept=0 signal_left=0 failures=0
check_destination() {
  if [ -e "$out" ]; then
    if "$bin" verify-file "$out" >/dev/null 2>&1; then completed=$((completed + 1)); else corrupt=$((corrupt + 1)); echo "CORRUPT destination after $1" >&2; fi
  fi
}
for i in $(seq 1 "$kills"); do
  rm -f "$out"
  before=$(temporaries)
  convert & pid=$!
  sleep "$(awk -v w="$window_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", w * r / 32767 / 1000 }')"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  check_destination "SIGKILL $i"
  after=$(temporaries)
  # Temporaries of earlier killed runs must be gone once a later run got as far as writing.
  if [ -n "$before" ] && [ -e "$out" ]; then
    for f in $before; do [ -e "$f" ] && { stale_kept=$((stale_kept + 1)); echo "stale $f survived a complete convert" >&2; }; done
  fi
  new=$(comm -13 <(echo "$before") <(echo "$after") | grep -c . || true)
  stale_made=$((stale_made + new))
  [ "$new" -gt 0 ] && during_write=$((during_write + 1))
done
# One more complete run must clear every temporary the kills left.
rm -f "$out"
left_before=$(temporaries | grep -c . || true)
(convert) || { cat "$work/log"; exit 1; }
left_after=$(temporaries | grep -c . || true)
"$bin" verify-file "$out" >/dev/null || { echo "the final container does not verify" >&2; failures=$((failures + 1)); }

for i in $(seq 1 "$signals"); do
  rm -f "$out"
  sig=INT; [ $((i % 2)) -eq 0 ] && sig=TERM
  convert & pid=$!
  sleep "$(awk -v w="$window_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", w * r / 32767 / 1000 }')"
  kill -"$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  check_destination "SIG$sig $i"
  n=$(temporaries | grep -c . || true)
  [ "$n" -gt 0 ] && { signal_left=$((signal_left + n)); echo "SIG$sig $i left $(temporaries)" >&2; rm -f "$work"/.out.gguf.tmp-*; }
done

total=$((kills + signals))
mkdir -p tools/hardening/results
echo "# $(date -u +%FT%TZ) $bin $kills $signals" >tools/hardening/results/kill.txt
echo "kill campaign ($bin, window ${window_ms} ms): $kills SIGKILL + $signals SIGINT/SIGTERM: $corrupt/$total corrupt destinations;" \
     "$completed runs had finished before their signal; $during_write SIGKILLs left a temporary ($stale_made in all, $left_before still present before the last run, $left_after after it, $stale_kept survived a later complete run);" \
     "$signal_left temporaries left by SIGINT/SIGTERM" | tee -a tools/hardening/results/kill.txt
[ "$corrupt" -eq 0 ] && [ "$left_after" -eq 0 ] && [ "$stale_kept" -eq 0 ] && [ "$signal_left" -eq 0 ] && [ "$failures" -eq 0 ]
