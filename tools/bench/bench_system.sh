#!/bin/sh
# Whole-system benchmark (issue 14 §9): a full-size NExT-GPT system from random weights in the real
# layouts (never committed), converted into one container, then `nextgpt run` stage by stage.
#   tools/bench/bench_system.sh [--steps 10] [--max-new-tokens 32] [--runs image,text] [--keep-delta]
# 1. sources (reused when present, never regenerated here except the delta):
#      $OUT/llama7b (tools/bench/make_llama7b.py), $OUT/sd15-full/diffusers (make_sd15_full.py),
#      $OUT/imagebind-huge/imagebind_huge.pth (make_imagebind_huge.py),
#      $SYS/nextgpt-delta (tools/bench/make_nextgpt_delta_full.py: 647 fp16 tensors, 792 MB)
# 2. `nextgpt convert --vicuna --delta --delta-lora-alpha 32 --imagebind --sd15 --type q8_0
#    --tensor-type 'vicuna\..*=q4_0'` (Q4_0 LLM, Q8_0 for the rest, the LoRA kept for load time) into
#    $SYS/nextgpt-q4_0-q8_0.gguf, timed with /usr/bin/time -v -> $SYS/convert.json; the delta folder is
#    deleted afterwards (unless --keep-delta) to stay inside the disk budget
# 3. runs, each a fresh `nextgpt run` process with $THREADS threads under /usr/bin/time -v, its
#    /proc/PID/status sampled every 0.2 s (VmRSS, RssAnon, RssFile):
#      run-image: --image (a seeded 512×512 PNG) -p "What is in this picture? Draw it." --force-output image
#      run-text:  -p "Draw a picture of a cat in the snow." --force-output image
#    both --max-new-tokens $NEW_TOKENS --steps $STEPS -W 512 -H 512 (NExT-GPT's demo: 50 steps)
# 4. the table (system_bench_helpers.py table): convert time and size, per stage seconds and peak RSS
#    (the manifest's VmHWM, reset between stages), the sampled anon/file split at each stage's peak
# Environment: OUT (/work/bench), SYS ($OUT/system), THREADS (2), PYTHON (tools/.venv/bin/python),
# NEXTGPT (a prebuilt binary: no swift build).
# Note: /usr/bin/time's "Maximum resident set size" is read at exit from the same high-water mark the
# session resets between stages, so it shows the last stage's peak; the process's peak is the largest
# stage peak (and the sampled maximum).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-$( [ -d /work/bench ] && echo /work/bench || echo out/bench )}
SYS=${SYS:-$OUT/system}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-$( [ -x tools/.venv/bin/python ] && echo tools/.venv/bin/python || echo /work/main/tools/.venv/bin/python )}
STEPS=10
NEW_TOKENS=32
RUNS=image,text
KEEP_DELTA=0
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) STEPS=$2; shift 2 ;;
        --max-new-tokens) NEW_TOKENS=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --keep-delta) KEEP_DELTA=1; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
HELPERS=tools/bench/system_bench_helpers.py
LLAMA=$OUT/llama7b
SD15=$OUT/sd15-full/diffusers
IMAGEBIND=$OUT/imagebind-huge/imagebind_huge.pth
DELTA=$SYS/nextgpt-delta
CONTAINER=$SYS/nextgpt-q4_0-q8_0.gguf
mkdir -p "$SYS"

NEXTGPT=${NEXTGPT:-}
if [ -z "$NEXTGPT" ]; then
    swift build -c release --product nextgpt >&2
    NEXTGPT=.build/release/nextgpt
fi

if [ ! -f "$CONTAINER" ]; then
    for source in "$LLAMA/config.json" "$SD15/model_index.json" "$IMAGEBIND"; do
        [ -e "$source" ] || { echo "missing $source: make it with tools/bench/make_*.py" >&2; exit 1; }
    done
    [ -f "$DELTA/pytorch_model.pt" ] || "$PYTHON" tools/bench/make_nextgpt_delta_full.py "$DELTA" --tokenizer "$LLAMA/tokenizer.model"
    /usr/bin/time -v -o "$SYS/convert-time.txt" "$NEXTGPT" convert --vicuna "$LLAMA" --delta "$DELTA" --delta-lora-alpha 32 \
        --imagebind "$IMAGEBIND" --sd15 "$SD15" --type q8_0 --tensor-type 'vicuna\..*=q4_0' -o "$CONTAINER" \
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

IMAGE=$SYS/input-512.png
[ -f "$IMAGE" ] || "$PYTHON" "$HELPERS" image "$IMAGE"

run_case() {  # name, then the run's own arguments
    name=$1; shift
    dir=$SYS/run-$name
    rm -rf "$dir"; mkdir -p "$dir"
    /usr/bin/time -v -o "$dir/time.txt" "$NEXTGPT" run -m "$CONTAINER" "$@" -o "$dir" --force-output image \
        --max-new-tokens "$NEW_TOKENS" --steps "$STEPS" -W 512 -H 512 --threads "$THREADS" \
        > "$dir/stdout.txt" 2> "$dir/stderr.txt" &
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
        image) run_case image --image "$IMAGE" -p "What is in this picture? Draw it." ;;
        text) run_case text -p "Draw a picture of a cat in the snow." ;;
        *) echo "unknown run $r (image, text)" >&2; exit 2 ;;
    esac
done
"$PYTHON" "$HELPERS" table "$SYS"
