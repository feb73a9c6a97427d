#!/usr/bin/env bash
# The hardening report: per fuzz target the executions and crashes of its last run
# (fuzz/artifacts/TARGET.log, written by tools/fuzz/run.sh), then the malicious-pickle corpus,
# the kill campaign and the bit-flip campaign, each run now.
#
# Usage: tools/hardening/report.sh [path/to/nextgpt] [--quick]
#   --quick: 10 SIGKILL + 4 SIGINT/SIGTERM and 100 + 50 bit flips, 20 pages (the full
#            campaign is 100 + 20 kills and 1000 + 200 flips, 100 pages: several minutes).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=${1:-.build/debug/nextgpt}
quick=${2:-}
[ -x "$bin" ] || { echo "no $bin: swift build --product nextgpt first" >&2; exit 2; }
status=0

echo "== fuzzing (last run of each target; tools/fuzz/run.sh TARGET SECONDS)"
printf "%-14s %14s %10s %8s\n" target executions seconds crashes
for target in $(tools/fuzz/run.sh --list); do
  log="fuzz/artifacts/$target.log"
  if [ -f "$log" ]; then
    runs=$(grep -E "^stat::number_of_executed_units:" "$log" | awk '{print $2}')
    secs=$(grep -oE "Done [0-9]+ runs in [0-9]+ second" "$log" | awk '{print $5}')
    crashes=$(find "fuzz/artifacts/crashes/$target" -type f 2>/dev/null | wc -l)
    printf "%-14s %14s %10s %8s\n" "$target" "${runs:-?}" "${secs:-?}" "$crashes"
    [ "$crashes" -eq 0 ] || status=1
  else
    printf "%-14s %14s %10s %8s\n" "$target" "not run" "-" "-"
  fi
done

echo "== malicious pickles"
tools/hardening/pickle_corpus.sh "$bin" | tail -1 || status=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== interruption"
if [ "$quick" = --quick ]; then tools/hardening/kill_convert.sh "$bin" 10 4 | tail -1 || status=1
else tools/hardening/kill_convert.sh "$bin" 100 20 | tail -1 || status=1; fi

echo "== corruption"
"$bin" convert --vicuna Tests/Fixtures/vicuna --no-negatives -o "$work/tiny.gguf" >/dev/null 2>&1
if [ "$quick" = --quick ]; then python3 tools/hardening/bitflip.py "$work/tiny.gguf" --nextgpt "$bin" --flips 100 --header-flips 50 --pages 20 || status=1
else python3 tools/hardening/bitflip.py "$work/tiny.gguf" --nextgpt "$bin" || status=1; fi
exit $status
