#!/usr/bin/env bash
# The main job on the committed tiny system: build, convert every component into one
# container, inspect it, verify its checksums, check the language model against transformers'
# and Stable Diffusion against diffusers' reference outputs, generate text and render an image
# with it, then run NExT-GPT any-to-any on an image, a WAV and an MP4 (the tiny weights are random:
# the text and the pictures are noise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
swift build -c release --product nextgpt
bin=.build/release/nextgpt
fx=Tests/Fixtures
mkdir -p out
type=${1:-q4_0}
"$bin" convert --vicuna "$fx/vicuna" --delta "$fx/nextgpt-delta" --delta-lora-alpha 16 --imagebind "$fx/imagebind/imagebind_huge.pth" \
  --sd15 "$fx/sd15" --audioldm "$fx/audioldm" --zeroscope "$fx/zeroscope" \
  --type "$type" -o "out/nextgpt-tiny-$type.gguf"
"$bin" inspect "out/nextgpt-tiny-$type.gguf"
"$bin" verify-file "out/nextgpt-tiny-$type.gguf"
bundle="$fx/references/bundles/llama/vicuna-delta-$type.safetensors"
if [ -f "$bundle" ]; then "$bin" verify -m "out/nextgpt-tiny-$type.gguf" --reference "$bundle"; fi
"$bin" generate -m "out/nextgpt-tiny-$type.gguf" -p $'### Human: Draw me a cat.\n### Assistant:' -n 24 --temp 0.7 --seed 1 --stop "###"
sd_bundle="$fx/references/bundles/sd/txt2img-$type.safetensors"
if [ -f "$sd_bundle" ]; then "$bin" verify -m "out/nextgpt-tiny-$type.gguf" --reference "$sd_bundle"; fi
"$bin" sd -m "out/nextgpt-tiny-$type.gguf" -p "a photograph of an astronaut riding a horse" --negative "blurry" \
  --steps 20 --seed 42 -W 64 -H 64 -o "out/nextgpt-tiny-$type.png"
# Any-to-any: an image, a WAV and an MP4 in; the reply, and the image, audio and video its
# [IMG0..3], [AUD0..7] and [VID0..23] runs ask for. The tiny random model never writes a signal run
# itself, so --force-output appends one and feeds it.
"$bin" run -m "out/nextgpt-tiny-$type.gguf" --image "$fx/images/photo420.jpg" --audio "$fx/media/tone16k-mono.wav" \
  --video "$fx/media/clip.mp4" -p "What do you see and hear? Draw it." --max-new-tokens 24 \
  --force-output image --force-output audio --force-output video --steps 10 -W 64 -H 64 --audio-steps 10 --audio-seconds 2 \
  --video-steps 10 --video-frames 8 --video-width 64 --video-height 32 -o "out/run-$type"
