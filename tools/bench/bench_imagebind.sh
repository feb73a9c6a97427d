#!/bin/sh
# ImageBind-huge benchmark (issue 11 §6): full-size ImageBind-huge-shaped random weights; ours at F16,
# Q8_0 and Q4_0 beside the `imagebind` PyTorch package at fp32, on the same weights and the same
# (already pre-processed) inputs: seconds per image, per 3-clip audio, per 15-clip video, peak RSS,
# the cosine of our embeddings against PyTorch fp32's, ratios ours / PyTorch.
#   tools/bench/bench_imagebind.sh [--rounds 3] [--types f16,q8_0,q4_0] [--media image,audio,video]
#                                  [--repeat 1] [--skip-torch] [--no-repack]
# 1. tools/bench/make_imagebind_huge.py (once): $OUT/imagebind-huge/imagebind_huge.pth (+ config.json),
#    torch.save'd fp32 state dict of imagebind_huge() with seeded weights; 4.8 GB, never committed
# 2. `nextgpt convert --imagebind` at each type (once): $OUT/imagebind-huge/imagebind-huge-TYPE.gguf
# 3. $OUT/imagebind-huge/inputs.safetensors (seeded): image [1,3,224,224], audio [1,3,1,128,204],
#    video [1,15,3,2,224,224]; pre-processing is excluded, both sides time the model only
# 4. per round, per medium: PyTorch (`imagebind_torch_bench.py run`: 2 threads, inference_mode) and ours
#    (`nextgpt-bench imagebind`: 2 threads, Q8_0/Q4_0 repacked at load as `nextgpt sd` does) each in a
#    fresh process: load (timed apart), WARMUP untimed calls, REPEAT timed calls; the order of the
#    implementations rotates every round; peak RSS is the process's getrusage maxrss
# 5. $OUT/bench_imagebind.jsonl (one line per process), then the table (medians over rounds)
# Run it on an otherwise idle machine. Environment: PYTHON (tools/.venv/bin/python), OUT (/work/bench or
# out/bench), LOG ($OUT/bench_imagebind.jsonl), THREADS (2), WARMUP (1), NEXTGPT / NEXTGPT_BENCH (prebuilt binaries: no swift build),
# NEXTGPT_BENCH_ARGS (extra `nextgpt-bench imagebind` arguments, e.g. "--path blas").
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-$( [ -d /work/bench ] && echo /work/bench || echo out/bench )}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-1}
PYTHON=${PYTHON:-$( [ -x tools/.venv/bin/python ] && echo tools/.venv/bin/python || echo /work/main/tools/.venv/bin/python )}
ROUNDS=3
TYPES=f16,q8_0,q4_0
MEDIA=image,audio,video
REPEAT=1
TORCH=1
REPACK=--repack
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift 2 ;;
        --types) TYPES=$2; shift 2 ;;
        --media) MEDIA=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --skip-torch) TORCH=0; shift ;;
        --no-repack) REPACK=--no-repack; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
DIR="$OUT/imagebind-huge"
LOG=${LOG:-$OUT/bench_imagebind.jsonl}
EMB="$DIR/embeddings"
mkdir -p "$DIR" "$EMB"
[ -f "$DIR/imagebind_huge.pth" ] || "$PYTHON" tools/bench/make_imagebind_huge.py "$DIR"

NEXTGPT=${NEXTGPT:-}
NEXTGPT_BENCH=${NEXTGPT_BENCH:-}
if [ -z "$NEXTGPT" ] || [ -z "$NEXTGPT_BENCH" ]; then
    swift build -c release --product nextgpt >&2
    swift build -c release --product nextgpt-bench >&2
    NEXTGPT=${NEXTGPT:-.build/release/nextgpt}
    NEXTGPT_BENCH=${NEXTGPT_BENCH:-.build/release/nextgpt-bench}
fi
for t in $(echo "$TYPES" | tr ',' ' '); do
    [ -f "$DIR/imagebind-huge-$t.gguf" ] || "$NEXTGPT" convert --imagebind "$DIR/imagebind_huge.pth" --type "$t" \
        --no-source-hash -o "$DIR/imagebind-huge-$t.gguf" >&2
done
[ -f "$DIR/inputs.safetensors" ] || "$PYTHON" tools/bench/imagebind_torch_bench.py inputs "$DIR/inputs.safetensors" >&2

IMPLS=$(echo "$TYPES" | tr ',' ' ')
[ "$TORCH" = 1 ] && IMPLS="torch $IMPLS"
# One measurement: its JSON line (tagged with round and implementation) appended to the log.
measure() {
    round=$1 impl=$2 medium=$3
    case "$medium" in audio) modality=audio ;; *) modality=vision ;; esac
    emb="$EMB/$impl-$medium.safetensors"
    if [ "$impl" = torch ]; then
        line=$("$PYTHON" tools/bench/imagebind_torch_bench.py run --weights "$DIR/imagebind_huge.pth" --inputs "$DIR/inputs.safetensors" \
            --input "$medium" --modality "$modality" --warmup "$WARMUP" --repeat "$REPEAT" --threads "$THREADS" --out "$emb") || return 0
    else
        # shellcheck disable=SC2086
        line=$("$NEXTGPT_BENCH" imagebind -m "$DIR/imagebind-huge-$impl.gguf" --inputs "$DIR/inputs.safetensors" --input "$medium" \
            --modality "$modality" --warmup "$WARMUP" --repeat "$REPEAT" --threads "$THREADS" $REPACK --out "$emb" \
            ${NEXTGPT_BENCH_ARGS:-}) || return 0
    fi
    echo "{\"round\": $round, \"impl\": \"$impl\", \"medium\": \"$medium\", \"result\": $line}" | tee -a "$LOG" >&2
}
: > "$LOG"
echo "# $(date -u +%FT%TZ) $(uname -n), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
round=1
while [ "$round" -le "$ROUNDS" ]; do
    # Rotate the order of the implementations every round, so none always runs first.
    set -- $IMPLS
    shift_by=$(( (round - 1) % $# ))
    i=0
    while [ $i -lt "$shift_by" ]; do first=$1; shift; set -- "$@" "$first"; i=$((i + 1)); done
    order="$*"
    for medium in $(echo "$MEDIA" | tr ',' ' '); do
        for impl in $order; do measure "$round" "$impl" "$medium"; done
    done
    round=$((round + 1))
done
"$PYTHON" tools/bench/imagebind_torch_bench.py summarize "$LOG" --embeddings "$EMB"
