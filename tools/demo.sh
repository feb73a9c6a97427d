#!/usr/bin/env bash
# The main job on the committed tiny system: build, convert every component into one
# container, inspect it and verify its checksums.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
swift build -c release --product nextgpt
bin=.build/release/nextgpt
fx=Tests/Fixtures
mkdir -p out
type=${1:-q4_0}
"$bin" convert --vicuna "$fx/vicuna" --delta "$fx/nextgpt-delta" --imagebind "$fx/imagebind/imagebind_huge.pth" \
  --sd15 "$fx/sd15" --audioldm "$fx/audioldm" --zeroscope "$fx/zeroscope" \
  --type "$type" -o "out/nextgpt-tiny-$type.gguf"
"$bin" inspect "out/nextgpt-tiny-$type.gguf"
"$bin" verify-file "out/nextgpt-tiny-$type.gguf"
