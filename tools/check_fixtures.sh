#!/usr/bin/env bash
# Independent check of the converter with the `gguf` Python package: converts every committed
# fixture layout at each type, then dequantizes every container tensor with gguf-py and compares
# it with the upstream checkpoint it came from (tools/check_container.py), and lets gguf-dump read it.
#
#   bash tools/check_fixtures.sh            (uses tools/.venv; PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-tools/.venv/bin/python}
[ -x "$py" ] || { bash tools/setup-python.sh; }
bash tools/install-deps.sh
swift build -c release --product nextgpt
bin=.build/release/nextgpt
fx=Tests/Fixtures
mkdir -p out/check
components=(--component vicuna.=$fx/vicuna --component imagebind.=$fx/imagebind/imagebind_huge.pth)
for c in sd15/unet sd15/vae sd15/text_encoder audioldm/unet audioldm/vae audioldm/vocoder audioldm/text_encoder \
         zeroscope/unet zeroscope/vae zeroscope/text_encoder; do
  components+=(--component "${c%%/*}.${c##*/}.=$fx/$c")
done
for type in f32 f16 q8_0 q4_0 q4_K; do
  out=out/check/fixtures-$type.gguf
  "$bin" convert --vicuna $fx/vicuna --imagebind $fx/imagebind/imagebind_huge.pth --sd15 $fx/sd15 \
    --audioldm $fx/audioldm --zeroscope $fx/zeroscope --type $type -o "$out" > /dev/null 2>&1
  "$py" -m gguf.scripts.gguf_dump "$out" > /dev/null 2>&1
  printf '%-6s ' "$type"
  "$py" tools/check_container.py "$out" --quiet --rename vae-attn "${components[@]}" \
    --allow-missing 'rotary_emb\.inv_freq$|position_ids$|token_type_ids$' | tail -1
done
# The original single files must give the diffusers folder's tensors.
"$bin" convert --sd15 $fx/sd15-original/v1-5-tiny.safetensors --type f32 -o out/check/sd15-single.gguf > /dev/null 2>&1
printf '%-6s ' "single"
"$py" tools/check_container.py out/check/sd15-single.gguf --quiet --rename vae-attn \
  --component sd15.unet.=$fx/sd15/unet --component sd15.vae.=$fx/sd15/vae --component sd15.text_encoder.=$fx/sd15/text_encoder \
  --allow-missing 'position_ids$' | tail -1
