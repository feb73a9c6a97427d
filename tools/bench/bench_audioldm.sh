#!/bin/sh
# AudioLDM benchmark (issue 12 §7): full-size AudioLDM-l-full-shaped random weights (UNet, VAE, CLAP,
# vocoder); ours at F16 / Q8_0 / Q4_0 beside diffusers fp32 on the CPU, same weights, prompt and seed.
#   tools/bench/bench_audioldm.sh [--seconds 5,9] [--steps 3] [--types f16,q8_0,q4_0] [--repeat N]
# 1. tools/bench/make_audioldm_full.py (once): $OUT/audioldm-full/diffusers, ~1.9 GB fp16, never committed
# 2. our containers: `nextgpt convert --audioldm <folder>` at each type ($OUT/audioldm-full/audioldm-T.gguf)
# 3. N rounds, alternating, each run in a fresh process: per audio length, diffusers fp32 then ours at
#    each type (`nextgpt audio --stats-json`, 32-bit float WAV); guidance 2.5 (2 UNet evaluations a step)
# 4. $OUT/bench_audioldm.jsonl, then the medians and ratios of tools/bench/audioldm_bench.py summarize:
#    s/step, VAE decode, vocoder time and its real-time factor, peak RSS, ours' waveform vs diffusers'
# Run it on an otherwise idle machine. Environment: PYTHON (tools/.venv/bin/python), OUT (/work/bench if
# it exists, else out/bench), THREADS (2), NEXTGPT (a prebuilt nextgpt binary: no swift build).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-$( [ -d /work/bench ] && echo /work/bench || echo out/bench )}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-tools/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=/work/main/tools/.venv/bin/python
SECONDS_LIST=5,9
STEPS=3
TYPES=f16,q8_0,q4_0
REPEAT=1
PROMPT="A hammer is hitting a wooden surface"
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_LIST=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --types) TYPES=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
SECONDS_LIST=$(echo "$SECONDS_LIST" | tr ',' ' ')
TYPES=$(echo "$TYPES" | tr ',' ' ')
DIR="$OUT/audioldm-full"
WEIGHTS="$DIR/diffusers"
LOG="$OUT/bench_audioldm.jsonl"
mkdir -p "$DIR"
[ -f "$WEIGHTS/model_index.json" ] || "$PYTHON" tools/bench/make_audioldm_full.py "$WEIGHTS"

NEXTGPT=${NEXTGPT:-}
if [ -z "$NEXTGPT" ]; then
    swift build -c release --product nextgpt >&2
    NEXTGPT=.build/release/nextgpt
fi
for t in $TYPES; do
    [ -f "$DIR/audioldm-$t.gguf" ] || "$NEXTGPT" convert --audioldm "$WEIGHTS" --type "$t" -o "$DIR/audioldm-$t.gguf" >&2
done

: > "$LOG"
round=1
while [ "$round" -le "$REPEAT" ]; do
    for s in $SECONDS_LIST; do
        "$PYTHON" tools/bench/audioldm_bench.py diffusers "$WEIGHTS" --log "$LOG" --seconds "$s" --steps "$STEPS" \
            --threads "$THREADS" --npy "$DIR/diffusers-$s.npy" || echo "diffusers run failed, going on" >&2
        for t in $TYPES; do
            "$PYTHON" tools/bench/audioldm_bench.py ours --log "$LOG" --type "$t" --seconds "$s" \
                --stats "$DIR/ours-$t-$s.json" --wav "$DIR/ours-$t-$s.wav" -- \
                "$NEXTGPT" audio -m "$DIR/audioldm-$t.gguf" -p "$PROMPT" --steps "$STEPS" --cfg 2.5 --seconds "$s" \
                --seed 0 --threads "$THREADS" --format float --stats-json "$DIR/ours-$t-$s.json" -o "$DIR/ours-$t-$s.wav" \
                || echo "ours $t failed, going on" >&2
        done
    done
    round=$((round + 1))
done
"$PYTHON" tools/bench/audioldm_bench.py summarize "$LOG"
