#!/bin/sh
# ZeroScope benchmark (issue 13 §7): full-size ZeroScope-v2-576w-shaped random weights (UNet3D, VAE,
# CLIP-H text); ours at F16 / Q8_0 / Q4_0 beside diffusers' TextToVideoSDPipeline fp32 on the CPU, same
# weights, prompt and seed, guidance 7.5 (2 videos per UNet3D evaluation), DDIM.
#   tools/bench/bench_zeroscope.sh [--sizes 8x320x576,24x256x256] [--steps 2] [--types f16,q8_0,q4_0]
#                                  [--repeat N] [--repeat-types q8_0] [--full-video] [--full-steps 1]
# 1. tools/bench/make_zeroscope_full.py (once): $OUT/zeroscope-full/diffusers, 3.67 GB fp16 .bin, never committed
# 2. our containers: `nextgpt convert --zeroscope <folder>` at each type, timed ($DIR/convert-T.txt)
# 3. N rounds, each run a fresh process; within a round, per size: diffusers fp32, then ours at each type
#    (round 1: --types; later rounds: --repeat-types), alternating (`nextgpt video --stats-json`, frames as PNG)
# 4. --full-video: one run of ours (Q8_0) at NExT-GPT's default 24 frames × 320 × 576 with --full-steps
#    steps and the whole VAE decode, peak RSS against the 6 GB goal
# 5. $OUT/bench_zeroscope.jsonl, then zeroscope_bench.py summarize: s/step, VAE s/frame, peak RSS, ratios
#    to diffusers of the same round (median, min–max), PSNR of ours' frames vs diffusers'
# Environment: PYTHON (tools/.venv/bin/python), OUT (/work/bench if it exists, else out/bench), THREADS (2),
# NEXTGPT (a prebuilt nextgpt binary: no swift build).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-$( [ -d /work/bench ] && echo /work/bench || echo out/bench )}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-tools/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=/work/main/tools/.venv/bin/python
SIZES=8x320x576,24x256x256
STEPS=2
TYPES=f16,q8_0,q4_0
REPEAT=1
REPEAT_TYPES=q8_0
FULL_VIDEO=0
FULL_STEPS=1
PROMPT="a panda playing the guitar on a beach, sunset"
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --types) TYPES=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --repeat-types) REPEAT_TYPES=$2; shift 2 ;;
        --full-video) FULL_VIDEO=1; shift ;;
        --full-steps) FULL_STEPS=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
DIR="$OUT/zeroscope-full"
WEIGHTS="$DIR/diffusers"
LOG="$OUT/bench_zeroscope.jsonl"
mkdir -p "$DIR"
[ -f "$WEIGHTS/model_index.json" ] || "$PYTHON" tools/bench/make_zeroscope_full.py "$WEIGHTS"

NEXTGPT=${NEXTGPT:-}
if [ -z "$NEXTGPT" ]; then
    swift build -c release --product nextgpt >&2
    NEXTGPT=.build/release/nextgpt
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $THREADS threads"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16)$' | tr '\n' ' ')"
for t in $(echo "$TYPES,$REPEAT_TYPES" | tr ',' '\n' | sort -u); do
    [ -f "$DIR/zeroscope-$t.gguf" ] && continue
    /usr/bin/time -f "%e s wall, %M KB peak RSS" -o "$DIR/convert-$t.txt" \
        "$NEXTGPT" convert --zeroscope "$WEIGHTS" --type "$t" -o "$DIR/zeroscope-$t.gguf" >&2
    echo "convert $t: $(cat "$DIR/convert-$t.txt"), $(stat -c %s "$DIR/zeroscope-$t.gguf") bytes"
done

ours() {  # round type frames height width steps [extra video options]
    r=$1; t=$2; f=$3; h=$4; w=$5; n=$6; shift 6
    name="ours-$t-${f}x${h}x${w}"
    rm -rf "$DIR/$name-frames"
    "$PYTHON" tools/bench/zeroscope_bench.py ours --log "$LOG" --round "$r" --type "$t" --frames "$f" -H "$h" -W "$w" \
        --stats "$DIR/$name.json" --frames-dir "$DIR/$name-frames" -- \
        "$NEXTGPT" video -m "$DIR/zeroscope-$t.gguf" -p "$PROMPT" --steps "$n" --cfg 7.5 --frames "$f" -H "$h" -W "$w" \
        --seed 0 --threads "$THREADS" --stats-json "$DIR/$name.json" --frames-dir "$DIR/$name-frames" \
        -o "$DIR/$name.mp4" "$@" || echo "ours $t ${f}x${h}x${w} failed, going on" >&2
}

: > "$LOG"
round=1
while [ "$round" -le "$REPEAT" ]; do
    types=$TYPES
    [ "$round" -gt 1 ] && types=$REPEAT_TYPES
    for size in $(echo "$SIZES" | tr ',' ' '); do
        f=${size%%x*}; rest=${size#*x}; h=${rest%%x*}; w=${rest#*x}
        echo "round $round, $size: $(uptime)"
        "$PYTHON" tools/bench/zeroscope_bench.py diffusers "$WEIGHTS" --log "$LOG" --round "$round" --frames "$f" -H "$h" -W "$w" \
            --steps "$STEPS" --threads "$THREADS" --npy "$DIR/diffusers-$size.npy" || echo "diffusers $size failed, going on" >&2
        for t in $(echo "$types" | tr ',' ' '); do
            ours "$round" "$t" "$f" "$h" "$w" "$STEPS"
        done
    done
    round=$((round + 1))
done
if [ "$FULL_VIDEO" = 1 ]; then
    echo "full video: $(uptime)"
    ours 0 q8_0 24 320 576 "$FULL_STEPS"
fi
echo "after: $(uptime)"
"$PYTHON" tools/bench/zeroscope_bench.py summarize "$LOG"
