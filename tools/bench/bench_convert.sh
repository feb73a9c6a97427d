#!/usr/bin/env bash
# Conversion benchmark (issue: foundation §7): a LLaMA-7B-shaped random fp16 checkpoint in two
# .bin shards → `nextgpt convert --type q8_0` and `--type q4_0`, beside llama.cpp's
# convert_hf_to_gguf.py --outtype q8_0 on the same input, in the same run. Prints wall time,
# MB/s of input and peak RSS for each, and the ratios.
#
#   bash tools/bench/bench_convert.sh [WORK_DIR]      (default: out/bench; needs ~40 GB free)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=${1:-$root/out/bench}
mkdir -p "$work"
py=${PYTHON:-$root/tools/.venv/bin/python}
[ -x "$py" ] || { bash tools/setup-python.sh; py=$root/tools/.venv/bin/python; }
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }

bash tools/install-deps.sh
swift build -c release --product nextgpt
ours=$root/.build/release/nextgpt

model=$work/llama7b
[ -f "$model/pytorch_model.bin.index.json" ] || "$py" tools/bench/make_llama7b.py "$model"

# llama.cpp's converter and its gguf-py, from the llama-cpp-python source distribution (not committed).
llama=$work/llama.cpp
if [ ! -f "$llama/convert_hf_to_gguf.py" ]; then
  "$py" -m pip install -q scikit-build-core && "$py" -m pip download -q --no-deps --no-binary :all: --no-build-isolation llama-cpp-python==0.3.36 -d "$work/sdist"
  tar xzf "$work"/sdist/llama_cpp_python-*.tar.gz -C "$work/sdist"
  rm -rf "$llama"; cp -r "$work"/sdist/llama_cpp_python-*/vendor/llama.cpp "$llama"
fi

input_bytes=$(du -cb "$model"/*.bin | tail -1 | cut -f1)
warm() { cat "$model"/*.bin > /dev/null; }   # both tools start from the same warm page cache

measure() {  # name, command...
  local name=$1; shift
  warm
  /usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" > "$work/log.$name" 2>&1 || { tail -20 "$work/log.$name"; exit 1; }
  read -r secs kb < "$work/time.$name"
  printf "%-28s %8.1f s %8.0f MB/s %8.2f GB peak RSS\n" "$name" "$secs" "$(echo "$input_bytes / 1000000 / $secs" | bc -l)" "$(echo "$kb / 1048576" | bc -l)"
  eval "secs_$name=$secs; rss_$name=$kb"
}

echo "input: $model ($((input_bytes / 1000000)) MB, 2 fp16 .bin shards)"
measure ours_q8_0 "$ours" convert --vicuna "$model" --type q8_0 -o "$work/ours-q8_0.gguf"
measure ours_q4_0 "$ours" convert --vicuna "$model" --type q4_0 -o "$work/ours-q4_0.gguf"
measure llamacpp_q8_0 env PYTHONPATH="$llama/gguf-py" "$py" "$llama/convert_hf_to_gguf.py" "$model" --outtype q8_0 --outfile "$work/llamacpp-q8_0.gguf"
echo
printf "speed-up q8_0 (llama.cpp time / ours): %.2fx\n" "$(echo "$secs_llamacpp_q8_0 / $secs_ours_q8_0" | bc -l)"
printf "peak RSS q8_0 (ours / llama.cpp):       %.2f\n" "$(echo "$rss_ours_q8_0 / $rss_llamacpp_q8_0" | bc -l)"
echo
"$py" tools/bench/compare_with_llamacpp.py "$work/ours-q8_0.gguf" "$work/llamacpp-q8_0.gguf"
