#!/bin/sh
# Stable Diffusion 1.5 benchmark (issue 5 §9): full-size SD-1.5-shaped random weights; ours at several
# container types beside stable-diffusion.cpp (same weights, 2 threads) and diffusers fp32 on CPU.
#   tools/bench/bench_sd.sh [--sizes 256,512] [--steps 3] [--types f16,q8_0,q4_0,q8_0-convf16]
#                           [--skip-peers] [--skip-sdcpp] [--skip-ours] [--peer-flash] [--repeat N]
# 1. tools/bench/make_sd15_full.py (once): out/bench/sd15-full/diffusers (diffusers folder) and
#    out/bench/sd15-full/sd15-full.safetensors (the same fp16 tensors as an original LDM single file,
#    what stable-diffusion.cpp loads); ~4.3 GB, never committed
# 2. our containers: `nextgpt convert --sd15 <diffusers folder>` at each type; q8_0-convf16 is q8_0 with
#    every convolution weight (the 4-D tensors of the UNet and VAE) left f16
# 3. per size, each in a fresh process, one after the other: diffusers fp32 (PNDM), stable-diffusion.cpp
#    at the matching weight types (euler: it has no PNDM; same 2 UNet evaluations per step), ours
#    (`nextgpt sd`, PNDM); /usr/bin/time -v around each for peak RSS
# 4. out/bench/bench_sd.jsonl, then the table of tools/bench/summarize_sd_bench.py
# Run it on an otherwise idle machine. Environment: PYTHON (default /work/venv/bin/python or
# tools/.venv/bin/python), OUT (out/bench), SCRATCH (swift scratch path, .build), THREADS (2), CFG (7.5),
# NEXTGPT (a prebuilt nextgpt binary: no swift build), SDCPP_SAMPLER (euler; ipndm is its PNDM-like one).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/bench}
SCRATCH=${SCRATCH:-.build}
THREADS=${THREADS:-2}
CFG=${CFG:-7.5}
SDCPP_SAMPLER=${SDCPP_SAMPLER:-euler}
PYTHON=${PYTHON:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo tools/.venv/bin/python )}
SIZES=256,512
STEPS=3
TYPES=f16,q8_0,q4_0,q8_0-convf16
PEERS=1
SDCPP=1
OURS=1
PEER_FLASH=0
REPEAT=1
PROMPT="a photograph of an astronaut riding a horse"
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --types) TYPES=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --skip-peers) PEERS=0; shift ;;
        --skip-sdcpp) SDCPP=0; shift ;;
        --skip-ours) OURS=0; shift ;;
        --peer-flash) PEER_FLASH=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
SIZES=$(echo "$SIZES" | tr ',' ' ')
TYPES=$(echo "$TYPES" | tr ',' ' ')
WEIGHTS="$OUT/sd15-full"
LOG="$OUT/bench_sd.jsonl"
# A failed measurement is reported and skipped; the rest goes on.
measure() { "$PYTHON" tools/bench/sd_measure.py --log "$LOG" --steps "$STEPS" "$@" || echo "measurement failed, going on" >&2; }
# Every convolution weight of SD 1.5 (checked against the 4-D tensors: 162 of them, nothing else)
CONV_RULE='^sd15\.(unet|vae)\..*(conv_in|conv_out|conv1|conv2|conv_shortcut|\.conv|proj_in|proj_out|quant_conv)\.weight$=f16'
mkdir -p "$OUT"
[ -x "$PYTHON" ] || bash tools/setup-python.sh

# The peer: stable-diffusion.cpp built from source on this machine, through stable-diffusion-cpp-python.
if [ "$PEERS" = 1 ] && [ "$SDCPP" = 1 ]; then
    "$PYTHON" -c "import stable_diffusion_cpp" 2>/dev/null || {
        "$PYTHON" -m pip install cmake ninja scikit-build-core
        "$PYTHON" -m pip install --no-build-isolation --no-binary stable-diffusion-cpp-python stable-diffusion-cpp-python
    }
fi
[ -f "$WEIGHTS/sd15-full.safetensors" ] || "$PYTHON" tools/bench/make_sd15_full.py "$WEIGHTS"

NEXTGPT=${NEXTGPT:-}
if [ "$OURS" = 1 ] && [ -n "$NEXTGPT" ]; then
    : # a prebuilt binary given in the environment
elif [ "$OURS" = 1 ]; then
    if swift build --scratch-path "$SCRATCH" -c release --product nextgpt >&2; then
        NEXTGPT="$SCRATCH/release/nextgpt"
    else
        echo "ours skipped: swift build of nextgpt failed" >&2
    fi
fi
if [ "$OURS" = 0 ]; then
    NEXTGPT=
elif [ -n "$NEXTGPT" ] && ! "$NEXTGPT" sd --help >/dev/null 2>&1; then
    echo "ours skipped: $NEXTGPT has no 'sd' command yet (nextgpt sd -m FILE.gguf -p PROMPT ... --stats-json FILE)" >&2
    NEXTGPT=
fi
OUR_THREADS=
if [ -n "$NEXTGPT" ]; then
    "$NEXTGPT" sd --help 2>&1 | grep -q -- '--threads' && OUR_THREADS="--threads $THREADS"
    for t in $TYPES; do
        [ -f "$OUT/sd15-$t.gguf" ] && continue
        case "$t" in
            *-convf16) "$NEXTGPT" convert --sd15 "$WEIGHTS/diffusers" --type "${t%-convf16}" --tensor-type "$CONV_RULE" -o "$OUT/sd15-$t.gguf" >&2 ;;
            *) "$NEXTGPT" convert --sd15 "$WEIGHTS/diffusers" --type "$t" -o "$OUT/sd15-$t.gguf" >&2 ;;
        esac
    done
fi

# stable-diffusion.cpp weight types matching ours: it keeps convolutions as stored (f16) in any case.
PEER_TYPES=
for t in $TYPES; do
    case "$t" in *-convf16) p=${t%-convf16} ;; *) p=$t ;; esac
    case " $PEER_TYPES " in *" $p "*) ;; *) PEER_TYPES="$PEER_TYPES $p" ;; esac
done

: > "$LOG"
round=1
while [ "$round" -le "$REPEAT" ]; do
    for s in $SIZES; do
        if [ "$PEERS" = 1 ]; then
            measure --runtime diffusers --type f32 --size "$s" -- \
                "$PYTHON" tools/bench/diffusers_sd_bench.py "$WEIGHTS/diffusers" --size "$s" --steps "$STEPS" \
                --threads "$THREADS" --cfg "$CFG" --prompt "$PROMPT" -o "$OUT/sd-diffusers-$s.png"
            for p in $PEER_TYPES; do
                [ "$SDCPP" = 1 ] || break
                measure --runtime sd.cpp --type "$p" --size "$s" -- \
                    "$PYTHON" tools/bench/sdcpp_sd_bench.py -m "$WEIGHTS/sd15-full.safetensors" --wtype "$p" \
                    --sample-method "$SDCPP_SAMPLER" --size "$s" --steps "$STEPS" --threads "$THREADS" --cfg "$CFG" --prompt "$PROMPT" \
                    -o "$OUT/sd-sdcpp-$p-$s.png" --log "$OUT/sd-sdcpp-$p-$s.log"
                if [ "$PEER_FLASH" = 1 ]; then
                    measure --runtime sd.cpp+fa --type "$p" --size "$s" -- \
                        "$PYTHON" tools/bench/sdcpp_sd_bench.py -m "$WEIGHTS/sd15-full.safetensors" --wtype "$p" \
                        --sample-method "$SDCPP_SAMPLER" --size "$s" --steps "$STEPS" --threads "$THREADS" --cfg "$CFG" --prompt "$PROMPT" --flash-attn \
                        -o "$OUT/sd-sdcpp-fa-$p-$s.png" --log "$OUT/sd-sdcpp-fa-$p-$s.log"
                fi
            done
        fi
        if [ -n "$NEXTGPT" ]; then
            for t in $TYPES; do
                # shellcheck disable=SC2086
                measure --runtime ours --type "$t" --size "$s" --stats-json "$OUT/sd-ours-$t-$s.json" -- \
                    "$NEXTGPT" sd -m "$OUT/sd15-$t.gguf" -p "$PROMPT" --negative "" --steps "$STEPS" --cfg "$CFG" \
                    --scheduler pndm --seed 0 -W "$s" -H "$s" $OUR_THREADS -o "$OUT/sd-ours-$t-$s.png" \
                    --stats-json "$OUT/sd-ours-$t-$s.json"
            done
        fi
    done
    round=$((round + 1))
done
"$PYTHON" tools/bench/summarize_sd_bench.py "$LOG"
