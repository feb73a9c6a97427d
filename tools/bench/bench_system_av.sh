#!/bin/sh
# Whole-system benchmark, text → audio and text → video rows (issue 14 §9); the sibling of
# bench_system.sh (image → text + image, text → image), with the same helpers and table.
#   tools/bench/bench_system_av.sh [--runs audio,video] [--max-new-tokens 32] [--audio-steps 5]
#       [--audio-seconds 9] [--video-steps 1] [--video-frames 8] [--keep-delta] [--keep-container]
# 1. sources (reused when present): $OUT/llama7b (make_llama7b.py), $OUT/audioldm-full/diffusers
#    (make_audioldm_full.py), $OUT/zeroscope-full/diffusers (make_zeroscope_full.py),
#    $SYS/nextgpt-delta (make_nextgpt_delta_full.py: 647 fp16 tensors, 792 MB; made here when missing)
# 2. `nextgpt convert --vicuna --delta --delta-lora-alpha 32 --audioldm --zeroscope --type q8_0
#    --tensor-type 'vicuna\..*=q4_0'` (Q4_0 LLM, Q8_0 decoders, the decoders' text encoders kept and their
#    negatives stored) into $SYS/nextgpt-av-q4_0-q8_0.gguf, timed -> $SYS/convert.json; the delta folder is
#    deleted afterwards (unless --keep-delta), the container after the runs (unless --keep-container)
# 3. runs, each a fresh `nextgpt run` with $THREADS threads under /usr/bin/time -v, /proc sampled every 0.2 s:
#      run-audio: -p "Make the sound of a hammer hitting a wooden surface." --force-output audio
#                 --audio-steps $AUDIO_STEPS --audio-seconds $AUDIO_SECONDS (NExT-GPT: 50 steps, 9 s)
#      run-video: -p "Make a video of a panda playing the guitar on a beach." --force-output video
#                 --video-steps $VIDEO_STEPS --video-frames $VIDEO_FRAMES at 320 × 576 (NExT-GPT: 50 steps, 24 frames)
#    --force-output: the random LLM writes no signal run of its own; the forced run is fed through the LLM
#    so the projector gets the real hidden states
# 4. the table of system_bench_helpers.py: convert time and size, per stage seconds and peak RSS
# Environment: OUT (/work/bench), SYS ($OUT/system-av), THREADS (2), PYTHON, NEXTGPT (a prebuilt binary).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-$( [ -d /work/bench ] && echo /work/bench || echo out/bench )}
SYS=${SYS:-$OUT/system-av}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-$( [ -x tools/.venv/bin/python ] && echo tools/.venv/bin/python || echo /work/main/tools/.venv/bin/python )}
RUNS=audio,video
NEW_TOKENS=32
AUDIO_STEPS=5
AUDIO_SECONDS=9
VIDEO_STEPS=1
VIDEO_FRAMES=8
KEEP_DELTA=0
KEEP_CONTAINER=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --max-new-tokens) NEW_TOKENS=$2; shift 2 ;;
        --audio-steps) AUDIO_STEPS=$2; shift 2 ;;
        --audio-seconds) AUDIO_SECONDS=$2; shift 2 ;;
        --video-steps) VIDEO_STEPS=$2; shift 2 ;;
        --video-frames) VIDEO_FRAMES=$2; shift 2 ;;
        --keep-delta) KEEP_DELTA=1; shift ;;
        --keep-container) KEEP_CONTAINER=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
HELPERS=tools/bench/system_bench_helpers.py
LLAMA=$OUT/llama7b
AUDIOLDM=$OUT/audioldm-full/diffusers
ZEROSCOPE=$OUT/zeroscope-full/diffusers
DELTA=$SYS/nextgpt-delta
CONTAINER=$SYS/nextgpt-av-q4_0-q8_0.gguf
mkdir -p "$SYS"

NEXTGPT=${NEXTGPT:-}
if [ -z "$NEXTGPT" ]; then
    swift build -c release --product nextgpt >&2
    NEXTGPT=.build/release/nextgpt
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $THREADS threads; $(uptime)"

if [ ! -f "$CONTAINER" ]; then
    for source in "$LLAMA/config.json" "$AUDIOLDM/model_index.json" "$ZEROSCOPE/model_index.json"; do
        [ -e "$source" ] || { echo "missing $source: make it with tools/bench/make_*.py" >&2; exit 1; }
    done
    [ -f "$DELTA/pytorch_model.pt" ] || "$PYTHON" tools/bench/make_nextgpt_delta_full.py "$DELTA" --tokenizer "$LLAMA/tokenizer.model"
    /usr/bin/time -v -o "$SYS/convert-time.txt" "$NEXTGPT" convert --vicuna "$LLAMA" --delta "$DELTA" --delta-lora-alpha 32 \
        --audioldm "$AUDIOLDM" --zeroscope "$ZEROSCOPE" --type q8_0 --tensor-type 'vicuna\..*=q4_0' -o "$CONTAINER" \
        > "$SYS/convert.log" 2>&1 || { tail -20 "$SYS/convert.log" >&2; exit 1; }
    "$PYTHON" - "$SYS" "$CONTAINER" <<'EOF'
import json, os, sys
sys.path.insert(0, "tools/bench")
from system_bench_helpers import time_v
from pathlib import Path
folder, container = Path(sys.argv[1]), sys.argv[2]
info = time_v(folder / "convert-time.txt")
info["container"] = container
info["container_bytes"] = os.path.getsize(container)
(folder / "convert.json").write_text(json.dumps(info, indent=2) + "\n")
print(json.dumps(info))
EOF
    [ "$KEEP_DELTA" = 1 ] || rm -rf "$DELTA"
fi

run_case() {  # name, then the run's own arguments
    name=$1; shift
    dir=$SYS/run-$name
    rm -rf "$dir"; mkdir -p "$dir"
    echo "run-$name: $(uptime)"
    /usr/bin/time -v -o "$dir/time.txt" "$NEXTGPT" run -m "$CONTAINER" "$@" -o "$dir" \
        --max-new-tokens "$NEW_TOKENS" --threads "$THREADS" > "$dir/stdout.txt" 2> "$dir/stderr.txt" &
    timer=$!
    "$PYTHON" "$HELPERS" sample "$timer" "$dir/rss.jsonl" &
    sampler=$!
    status=0
    wait "$timer" || status=$?
    wait "$sampler" || true
    grep '^stage' "$dir/stderr.txt" >&2 || true
    [ "$status" = 0 ] || { echo "run-$name failed ($status):" >&2; tail -5 "$dir/stderr.txt" >&2; }
}
for r in $(echo "$RUNS" | tr ',' ' '); do
    case "$r" in
        audio) run_case audio -p "Make the sound of a hammer hitting a wooden surface." --force-output audio \
                   --audio-steps "$AUDIO_STEPS" --audio-seconds "$AUDIO_SECONDS" ;;
        video) run_case video -p "Make a video of a panda playing the guitar on a beach." --force-output video \
                   --video-steps "$VIDEO_STEPS" --video-frames "$VIDEO_FRAMES" --video-width 576 --video-height 320 ;;
        *) echo "unknown run $r (audio, video)" >&2; exit 2 ;;
    esac
done
echo "after: $(uptime)"
"$PYTHON" "$HELPERS" table "$SYS"
[ "$KEEP_CONTAINER" = 1 ] || rm -f "$CONTAINER"
