#!/bin/sh
# Two builds of nextgpt on the same machine in one run, alternating, each in a fresh process with
# the same threads: LLM prefill/decode (`nextgpt bench`) and Stable Diffusion s/step (`nextgpt sd`).
# For refactors whose promise is "no slower": prints medians per build and the ratio new/old.
#   tools/bench/compare_builds.sh OLD_NEXTGPT NEW_NEXTGPT LLM.gguf SD.gguf
# LLM.gguf: a container with a `vicuna` LLaMA component (e.g. tools/bench/bench_llama.sh's
# out/bench/llama7b-q4_0.gguf); SD.gguf: one with `sd15` (e.g. bench_sd.sh's q8_0 container).
# Environment: ROUNDS (3), THREADS (2), PROMPT (64), GENERATE (32), SIZE (256), STEPS (3), OUT (out/bench).
set -eu
[ $# -eq 4 ] || { sed -n 2,8p "$0"; exit 2; }
OLD=$1 NEW=$2 LLM=$3 SD=$4
ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-2} PROMPT=${PROMPT:-64} GENERATE=${GENERATE:-32}
SIZE=${SIZE:-256} STEPS=${STEPS:-3} OUT=${OUT:-out/bench}
mkdir -p "$OUT"
LOG="$OUT/compare_builds.jsonl"
: > "$LOG"
grep -m1 "model name" /proc/cpuinfo
grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16)$' | tr '\n' ' '; echo

round=1
while [ "$round" -le "$ROUNDS" ]; do
    for build in old new; do
        bin=$OLD; [ "$build" = new ] && bin=$NEW
        llm=$("$bin" bench -m "$LLM" --prompt "$PROMPT" --generate "$GENERATE" --repetitions 1 --threads "$THREADS" --json)
        printf '{"build":"%s","kind":"llm","round":%d,"result":%s}\n' "$build" "$round" "$llm" >> "$LOG"
        stats="$OUT/compare_sd_$build.json"
        "$bin" sd -m "$SD" -p "a photograph of an astronaut riding a horse" --steps "$STEPS" --seed 1 \
            -W "$SIZE" -H "$SIZE" --threads "$THREADS" --stats-json "$stats" -o "$OUT/compare_$build.png" >/dev/null 2>&1
        printf '{"build":"%s","kind":"sd","round":%d,"result":%s}\n' "$build" "$round" "$(cat "$stats")" >> "$LOG"
        echo "round $round $build done" >&2
    done
    round=$((round + 1))
done

python3 - "$LOG" "$PROMPT" "$GENERATE" <<'EOF'
import json, statistics, sys
log, prompt, generate = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(line) for line in open(log)]
def med(build, kind, pick):
    return statistics.median(pick(r["result"]) for r in rows if r["build"] == build and r["kind"] == kind)
metrics = [
    (f"prefill pp{prompt} tok/s", "llm", lambda r: r[f"pp{prompt}"]["best"]),
    (f"decode tg{generate} tok/s", "llm", lambda r: r[f"tg{generate}"]["best"]),
    ("SD s/step (median step)", "sd", lambda r: statistics.median(r["step_seconds"])),
    ("SD VAE decode s", "sd", lambda r: r["vae_decode_seconds"]),
]
print(f"{'metric':28} {'old':>10} {'new':>10} {'new/old':>8}")
for name, kind, pick in metrics:
    old, new = med("old", kind, pick), med("new", kind, pick)
    print(f"{name:28} {old:10.3f} {new:10.3f} {new / old:8.3f}")
EOF
