#!/bin/sh
# LLaMA-7B-shaped decode/prefill benchmark, ours beside llama.cpp on the same quantized bytes.
#   tools/bench/bench_llama.sh [types...]        (default: q4_0 q8_0 q4_K)
# 1. a random fp16 7B checkpoint in 2 .bin shards (tools/bench/make_llama7b.py, once; 13.5 GB, never committed)
# 2. our container per type (`nextgpt convert`), then its llama.cpp export (`nextgpt export-llama-gguf`)
# 3. runs alternate: ours (`nextgpt bench`), llama.cpp (tools/bench/llamacpp_bench.py), per type,
#    REPEAT rounds; each in a fresh process with 2 threads; ratios printed at the end (medians over
#    the rounds, min–max of the per-round ratios). LEVELS="avx512-vnni avx2" runs ours once per
#    kernel level (NEXTGPT_KERNEL_LEVEL) in every round; each round also measures the read
#    bandwidth over distinct pages (nextgpt-bench, BENCH_SECTIONS=bandwidth).
# Environment: PYTHON (default /work/venv/bin/python or tools/.venv/bin/python), OUT (out/bench),
# SCRATCH (swift scratch path, default .build), REPEAT (2), PROMPT (64,512), GENERATE (32), THREADS (2),
# LEVELS (default: the machine's level only), CACHE_TYPE (our KV cache, f16 by default like llama.cpp's
# default cache; f32 for the runtime's own default).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/bench}
SCRATCH=${SCRATCH:-.build}
REPEAT=${REPEAT:-2}
PROMPT=${PROMPT:-64,512}
GENERATE=${GENERATE:-32}
THREADS=${THREADS:-2}
CACHE_TYPE=${CACHE_TYPE:-f16}
PYTHON=${PYTHON:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo tools/.venv/bin/python )}
TYPES=${*:-q4_0 q8_0 q4_K}
mkdir -p "$OUT"
[ -x "$PYTHON" ] || bash tools/setup-python.sh
# The peer: llama.cpp built from source on this machine, through llama-cpp-python.
"$PYTHON" -c "import llama_cpp" 2>/dev/null || {
    "$PYTHON" -m pip install cmake ninja scikit-build-core
    "$PYTHON" -m pip install --no-build-isolation --no-binary llama-cpp-python llama-cpp-python==0.3.36
}

swift build --scratch-path "$SCRATCH" -c release --product nextgpt >&2
swift build --scratch-path "$SCRATCH" -c release --product nextgpt-bench >&2
NEXTGPT="$SCRATCH/release/nextgpt"
LEVELS=${LEVELS:-default}
[ -f "$OUT/llama7b/pytorch_model.bin.index.json" ] || "$PYTHON" tools/bench/make_llama7b.py "$OUT/llama7b"

for t in $TYPES; do
    [ -f "$OUT/llama7b-$t.gguf" ] || "$NEXTGPT" convert --vicuna "$OUT/llama7b" --type "$t" -o "$OUT/llama7b-$t.gguf" >&2
    [ -f "$OUT/llama7b-$t-llamacpp.gguf" ] || "$NEXTGPT" export-llama-gguf -m "$OUT/llama7b-$t.gguf" -o "$OUT/llama7b-$t-llamacpp.gguf" >&2
done

LOG="$OUT/bench_llama.jsonl"
: > "$LOG"
{ grep -m1 "model name" /proc/cpuinfo; grep -m1 "^flags" /proc/cpuinfo | grep -o -w -E "avx2|fma|f16c|avx512[a-z_0-9]*" | tr '\n' ' '; echo; } >&2 || true
round=1
while [ "$round" -le "$REPEAT" ]; do
    probe=$(BENCH_SECTIONS=bandwidth "$SCRATCH/release/nextgpt-bench" | grep '^threads 2:')
    gbs=$(echo "$probe" | sed -n 's/^threads 2: *\([0-9.]*\) GB\/s best.*/\1/p')
    pass=$(echo "$probe" | sed -n 's/.* \([0-9.]*\) GB\/s per whole pass.*/\1/p')
    echo "{\"runtime\":\"bandwidth\",\"round\":$round,\"gbs_best\":${gbs:-0},\"gbs_pass\":${pass:-0},\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$LOG"
    for t in $TYPES; do
        for level in $LEVELS; do
            name=ours; [ "$level" = default ] || name="ours-$level"
            echo "round $round $t: $name" >&2
            if [ "$level" = default ]; then set --; else set -- "NEXTGPT_KERNEL_LEVEL=$level"; fi
            env "$@" "$NEXTGPT" bench -m "$OUT/llama7b-$t.gguf" --prompt "$PROMPT" --generate "$GENERATE" --threads "$THREADS" --repetitions 1 --cache-type "$CACHE_TYPE" --json \
                | sed "s/^{/{\"runtime\":\"$name\",\"round\":$round,\"type\":\"$t\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",/" >> "$LOG"
        done
        echo "round $round $t: llama.cpp" >&2
        "$PYTHON" tools/bench/llamacpp_bench.py -m "$OUT/llama7b-$t-llamacpp.gguf" --prompt "$PROMPT" --generate "$GENERATE" --threads "$THREADS" --repetitions 1 \
            | sed "s/^{/{\"runtime\":\"llama.cpp\",\"round\":$round,\"type\":\"$t\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",/" >> "$LOG"
    done
    round=$((round + 1))
done
"$PYTHON" tools/bench/summarize_llama_bench.py "$LOG"
