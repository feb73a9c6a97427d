#!/usr/bin/env bash
# Create (or update) tools/.venv-audio: the audio reference environment.
#
# torchaudio breaks the transformers of tools/.venv, so the references that need it
# (torchaudio.load, torchaudio.functional.resample, torchaudio.compliance.kaldi.fbank: ImageBind's
# audio pre-processing) are made here, with a torch/torchaudio pair that still ships every one of them.
#
#   tools/setup-python-audio.sh
#   PYTHON=python3.11 tools/setup-python-audio.sh
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$TOOLS_DIR/.venv-audio"
PY="${PYTHON:-python3}"
PINS=(torch==2.8.0 torchaudio==2.8.0 numpy==2.3.5 soundfile==0.13.1 decord==0.6.0)
PYTORCHVIDEO="pytorchvideo==0.1.5"   # NExT-GPT's pin; its modules are imported by path
# The video references (bundle_imagebind_video.py) run pytorchvideo's transforms, which import
# torchvision (0.23.0 is torch 2.8's) and Pillow, and write safetensors; the audio references
# (bundle_imagebind_audio.py) load imagebind/data.py by path. Their own declared dependencies
# (timm and friends) are not needed, so these go in without them.
NODEPS=(imagebind-unofficial==0.1.1 torchvision==0.23.0 pillow==13.0.0 safetensors==0.8.0)
STAMP="$VENV/.requirements.sha256"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PY" -m venv "$VENV"
fi
want="$(printf '%s
' "${PINS[@]}" "$PYTORCHVIDEO" "${NODEPS[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$want" != "$(cat "$STAMP" 2>/dev/null || true)" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install "${PINS[@]}"
    # pytorchvideo's declared dependencies (av, fvcore, ...) are not needed for the sampler.
    "$VENV/bin/python" -m pip install --no-deps "$PYTORCHVIDEO"
    "$VENV/bin/python" -m pip install --no-deps "${NODEPS[@]}"
    echo "$want" > "$STAMP"
fi
"$VENV/bin/python" -c "import torch, torchaudio, torchaudio.compliance.kaldi; print(f'tools/.venv-audio ready: torch {torch.__version__}, torchaudio {torchaudio.__version__}')"
