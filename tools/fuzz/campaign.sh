#!/usr/bin/env bash
# Runs every fuzz target for N executions (tools/fuzz/run.sh TARGET --runs N), JOBS at a time,
# all done by a deadline: each target gets an equal share of the time left in its lane
# (--max-seconds), so a slow target stops with the executions it reached instead of starving
# the rest. Prints run.sh's closing line per target; tools/hardening/report.sh tabulates them.
#
# Usage: tools/fuzz/campaign.sh [--runs N] [--jobs J] [--until HH:MM (UTC)] [TARGET…] [-- libFuzzer flags…]
#        defaults: 1000000 runs, 2 jobs, no deadline (each target runs to N), every target.
# libFuzzer's -timeout is wall-clock time per input: a campaign niced beside builds should raise it
# (e.g. `-- -timeout=60`), or a starved but fast input is reported as a hang.
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=1000000 jobs=2 until=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --until) until=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 2 ;;
    *) break ;;
  esac
done
targets=() flags=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=("$1"); shift; done
[ "${1:-}" = -- ] && { shift; flags=("$@"); }
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(tools/fuzz/run.sh --list)
tools/fuzz/run.sh --build || { echo "fuzz build failed" >&2; exit 1; }
deadline=0
[ -n "$until" ] && deadline=$(date -u -d "$until" +%s)

lane() {  # runs its share of the targets one after another
  local -a mine=("$@")
  local left=${#mine[@]} status=0
  for target in "${mine[@]}"; do
    local cap=()
    if [ "$deadline" -gt 0 ]; then
      local share=$(( (deadline - $(date +%s)) / left ))
      [ "$share" -lt 10 ] && share=10
      cap=(--max-seconds "$share")
    fi
    tools/fuzz/run.sh "$target" --runs "$runs" "${cap[@]}" "${flags[@]}" 2>/dev/null | tail -1 || status=1
    left=$((left - 1))
  done
  return $status
}

status=0
pids=()
for ((j = 0; j < jobs; j++)); do
  share=()
  for ((i = j; i < ${#targets[@]}; i += jobs)); do share+=("${targets[i]}"); done
  [ ${#share[@]} -gt 0 ] && { lane "${share[@]}" & pids+=($!); }
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
