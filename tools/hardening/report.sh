#!/usr/bin/env bash
# The hardening report: per fuzz target the executions, seconds and crashes of its last run
# (fuzz/artifacts/TARGET.log, written by tools/fuzz/run.sh), then the counts of the malicious-pickle
# corpus, the resource-limit cases, the kill campaign and the bit-flip campaign from their latest
# result files (tools/hardening/results/*.txt, written by the campaign scripts).
#
# Usage: tools/hardening/report.sh [path/to/nextgpt] [--run | --quick]
#   (default) print the latest results only; nothing is run.
#   --run:   run the full campaigns first (pickle corpus, 100 SIGKILL + 20 SIGINT/SIGTERM,
#            1000 + 200 bit flips and 100 pages: several minutes), then print.
#   --quick: the same with 10 + 4 kills, 100 + 50 flips, 20 pages.
# Exits 1 when a fuzz log records a crash or a campaign result falls short.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${1:-.build/debug/nextgpt}
mode=${2:-}
results=tools/hardening/results
status=0

if [ "$mode" = --run ] || [ "$mode" = --quick ]; then
  [ -x "$bin" ] || { echo "no $bin: swift build --product nextgpt first" >&2; exit 2; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  tools/hardening/pickle_corpus.sh "$bin" >/dev/null
  if [ "$mode" = --quick ]; then tools/hardening/kill_convert.sh "$bin" 10 4 >/dev/null
  else tools/hardening/kill_convert.sh "$bin" 100 20 >/dev/null; fi
  "$bin" convert --vicuna Tests/Fixtures/vicuna --no-negatives -o "$work/tiny.gguf" >/dev/null 2>&1
  if [ "$mode" = --quick ]; then python3 tools/hardening/bitflip.py "$work/tiny.gguf" --nextgpt "$bin" --flips 100 --header-flips 50 --pages 20 >/dev/null
  else python3 tools/hardening/bitflip.py "$work/tiny.gguf" --nextgpt "$bin" >/dev/null; fi
fi

echo "== fuzzing (last run of each target; tools/fuzz/run.sh TARGET SECONDS | --runs N)"
printf "%-17s %14s %10s %10s %8s %6s  %s\n" target executions seconds exec/s crashes slow when
for target in $(tools/fuzz/run.sh --list); do
  log="fuzz/artifacts/$target.log"
  if [ -f "$log" ]; then
    # run.sh's closing line: "fuzz TARGET: N executions in S s, C crashes, U slow units (exit E; log …)".
    line=$(grep -E "^fuzz $target: " "$log" | tail -1)
    slow=-
    if [ -n "$line" ]; then
      runs=$(echo "$line" | sed -E 's/.*: ([0-9]+) executions.*/\1/')
      secs=$(echo "$line" | sed -E 's/.* in ([0-9]+) s,.*/\1/')
      crashes=$(echo "$line" | sed -E 's/.* s, ([0-9]+) crashes.*/\1/')
      if echo "$line" | grep -q "slow units"; then
        slow=$(echo "$line" | sed -E 's/.* ([0-9]+) slow units.*/\1/')
      elif echo "$line" | grep -q "(exit 0;"; then
        # Closing lines written before slow units were counted apart counted their files as
        # crashes; libFuzzer exits 0 only when no crash, timeout or OOM stopped it.
        slow=$crashes crashes=0
      fi
    else  # a log from before run.sh wrote its closing line
      runs=$(grep -E "^stat::number_of_executed_units:" "$log" | tail -1 | awk '{print $2}')
      secs=$(grep -oE "Done [0-9]+ runs in [0-9]+ second" "$log" | awk '{print $5}')
      crashes=$(grep -cE "^==[0-9]+== ?ERROR|deadly signal|Test unit written to" "$log")
    fi
    rate=$(awk -v r="${runs:-0}" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.0f", r / s; else print "-" }')
    when=$(date -u -r "$log" +%FT%TZ)
    printf "%-17s %14s %10s %10s %8s %6s  %s\n" "$target" "${runs:-?}" "${secs:-?}" "$rate" "${crashes:-?}" "$slow" "$when"
    [ "${crashes:-1}" = 0 ] || status=1
  else
    printf "%-17s %14s %10s %10s %8s\n" "$target" "not run" "-" "-" "-"
  fi
done

# One campaign's latest result file: its lines, or where to get it.
show() {
  local name=$1 how=$2
  if [ -f "$results/$name.txt" ]; then
    echo "(${name}.txt, $(head -1 "$results/$name.txt" | sed 's/^# //'))"
    tail -n +2 "$results/$name.txt"
  else
    echo "no result yet: $how"; status=1
  fi
}

echo "== 2. malicious pickles"
show pickle "tools/hardening/pickle_corpus.sh [nextgpt]"
if [ -f "$results/pickle.txt" ]; then
  refused=$(grep -oE "[0-9]+/[0-9]+ convert runs refused" "$results/pickle.txt" | grep -oE "^[0-9]+/[0-9]+")
  markers=$(grep -oE "[0-9]+ markers" "$results/pickle.txt" | grep -oE "^[0-9]+")
  echo "   refused ${refused:-?}, markers ${markers:-?}"
  [ "${refused%/*}" = "${refused#*/}" ] && [ "${markers:-1}" = 0 ] || status=1
fi

echo "== 3. resource limits"
cases=$(grep -cE "^\s+func test" Tests/NextGPTFormatsTests/ResourceLimitTests.swift)
echo "   $cases cases in ResourceLimitTests (absurd declared sizes refused before allocating); they run with the test suite"

echo "== 4. interruption"
show kill "tools/hardening/kill_convert.sh [nextgpt] 100 20"
if [ -f "$results/kill.txt" ]; then
  corrupt=$(grep -oE "[0-9]+/[0-9]+ corrupt destinations" "$results/kill.txt" | grep -oE "^[0-9]+/[0-9]+")
  echo "   corrupt destinations ${corrupt:-?}"
  [ "${corrupt%/*}" = 0 ] || status=1
fi

echo "== 5. corruption"
show bitflip "python3 tools/hardening/bitflip.py CONTAINER"
if [ -f "$results/bitflip.txt" ]; then
  detected=$(grep -oE "[0-9]+/[0-9]+ detected" "$results/bitflip.txt" | grep -oE "[0-9]+/[0-9]+" |
    awk -F/ '{ d += $1; t += $2 } END { printf "%d/%d", d, t }')
  echo "   detected and named ${detected} (all kinds)"
  [ "${detected%/*}" = "${detected#*/}" ] || status=1
fi
exit $status
