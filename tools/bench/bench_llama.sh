#!/bin/sh
# LLaMA-7B-shaped decode/prefill benchmark, ours beside llama.cpp on the same quantized bytes.
#   tools/bench/bench_llama.sh [types...]        (default: q4_0 q8_0 q4_K)
# 1. a random fp16 7B checkpoint in 2 .bin shards (tools/bench/make_llama7b.py, once; 13.5 GB, never committed)
# 2. our container per type (`nextgpt convert`), then its llama.cpp export (`nextgpt export-llama-gguf`)
# 3. runs alternate: ours (`nextgpt bench`), llama.cpp (tools/bench/llamacpp_bench.py), per type,
#    REPEAT rounds; each in a fresh process with 2 threads; ratios printed at the end.
# Environment: PYTHON (default /work/venv/bin/python or tools/.venv/bin/python), OUT (out/bench),
# SCRATCH (swift scratch path, default .build), REPEAT (2), PROMPT (64,512), GENERATE (32), THREADS (2).
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-out/bench}
SCRATCH=${SCRATCH:-.build}
REPEAT=${REPEAT:-2}
PROMPT=${PROMPT:-64,512}
GENERATE=${GENERATE:-32}
THREADS=${THREADS:-2}
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
NEXTGPT="$SCRATCH/release/nextgpt"
[ -f "$OUT/llama7b/pytorch_model.bin.index.json" ] || "$PYTHON" tools/bench/make_llama7b.py "$OUT/llama7b"

for t in $TYPES; do
    [ -f "$OUT/llama7b-$t.gguf" ] || "$NEXTGPT" convert --vicuna "$OUT/llama7b" --type "$t" -o "$OUT/llama7b-$t.gguf" >&2
    [ -f "$OUT/llama7b-$t-llamacpp.gguf" ] || "$NEXTGPT" export-llama-gguf -m "$OUT/llama7b-$t.gguf" -o "$OUT/llama7b-$t-llamacpp.gguf" >&2
done

LOG="$OUT/bench_llama.jsonl"
: > "$LOG"
round=1
while [ "$round" -le "$REPEAT" ]; do
    for t in $TYPES; do
        echo "round $round $t: ours" >&2
        "$NEXTGPT" bench -m "$OUT/llama7b-$t.gguf" --prompt "$PROMPT" --generate "$GENERATE" --threads "$THREADS" --repetitions 1 --json \
            | sed "s/^{/{\"runtime\":\"ours\",\"type\":\"$t\",/" >> "$LOG"
        echo "round $round $t: llama.cpp" >&2
        "$PYTHON" tools/bench/llamacpp_bench.py -m "$OUT/llama7b-$t-llamacpp.gguf" --prompt "$PROMPT" --generate "$GENERATE" --threads "$THREADS" --repetitions 1 \
            | sed "s/^{/{\"runtime\":\"llama.cpp\",\"type\":\"$t\",/" >> "$LOG"
    done
    round=$((round + 1))
done
"$PYTHON" tools/bench/summarize_llama_bench.py "$LOG"
