#!/bin/sh
# Where decode speed varies: within one process (repetitions) or between processes (fresh loads),
# for ours without and with --poll (idle workers spin through each forward pass) and llama.cpp.
# Processes alternate ours, ours --poll, llama.cpp, PROCESSES rounds; each decodes GENERATE tokens
# after a 16-token prompt, REPETITIONS times. Prints every process's rates, then per runtime the
# median rate, the median within-process spread (max/min of one process's repetitions) and the
# spread of the processes' medians.
#   tools/bench/decode_spread.sh OURS.gguf LLAMACPP.gguf
# Environment: PROCESSES (3), REPETITIONS (4), GENERATE (64), THREADS (2), CACHE_TYPE (f16),
# SCRATCH (.build), PYTHON (tools/.venv/bin/python), LOG (out/bench/decode_spread.jsonl).
set -eu
cd "$(dirname "$0")/../.."
ours_model=${1:?our container}; peer_model=${2:?the llama.cpp export of the same weights}
PROCESSES=${PROCESSES:-3}; REPETITIONS=${REPETITIONS:-4}; GENERATE=${GENERATE:-64}; THREADS=${THREADS:-2}
CACHE_TYPE=${CACHE_TYPE:-f16}; SCRATCH=${SCRATCH:-.build}; PYTHON=${PYTHON:-tools/.venv/bin/python}
LOG=${LOG:-out/bench/decode_spread.jsonl}
mkdir -p "$(dirname "$LOG")"
: > "$LOG"
swift build --scratch-path "$SCRATCH" -c release --product nextgpt >&2
{ grep -m1 "model name" /proc/cpuinfo; grep -m1 "^flags" /proc/cpuinfo | grep -o -w -E "avx2|fma|f16c|avx512[a-z_0-9]*" | tr '\n' ' '; echo; } >&2
round=1
while [ "$round" -le "$PROCESSES" ]; do
    for runtime in ours ours-poll llama.cpp; do
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        echo "round $round: $runtime (load $load)" >&2
        case $runtime in
            ours) "$SCRATCH/release/nextgpt" bench -m "$ours_model" --prompt 16 --generate "$GENERATE" --repetitions "$REPETITIONS" \
                      --threads "$THREADS" --cache-type "$CACHE_TYPE" --json ;;
            ours-poll) "$SCRATCH/release/nextgpt" bench -m "$ours_model" --prompt 16 --generate "$GENERATE" --repetitions "$REPETITIONS" \
                      --threads "$THREADS" --cache-type "$CACHE_TYPE" --poll --json ;;
            llama.cpp) "$PYTHON" tools/bench/llamacpp_bench.py -m "$peer_model" --prompt 16 --generate "$GENERATE" \
                      --repetitions "$REPETITIONS" --threads "$THREADS" ;;
        esac | sed "s/^{/{\"runtime\":\"$runtime\",\"round\":$round,\"load\":\"$load\",/" >> "$LOG"
    done
    round=$((round + 1))
done
"$PYTHON" - "$LOG" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
for runtime in ("ours", "ours-poll", "llama.cpp"):
    runs = [r["decode_rates"] for r in rows if r["runtime"] == runtime]
    if not runs:
        continue
    for r in runs:
        print(f"{runtime:10s} " + " ".join(f"{x:5.2f}" for x in r))
    medians = [statistics.median(r) for r in runs]
    within = statistics.median(max(r) / min(r) for r in runs)
    print(f"{runtime:10s} median {statistics.median(medians):.2f} tok/s; within a process max/min {within:.3f} (median); "
          f"between processes' medians max/min {max(medians) / min(medians):.3f}")
PY
