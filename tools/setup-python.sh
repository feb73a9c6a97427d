#!/usr/bin/env bash
# Create (or update) tools/.venv for the Python tools. Idempotent: re-running with an unchanged
# tools/requirements.txt does nothing beyond a quick check.
#
#   tools/setup-python.sh            # uses python3 from PATH (3.10+)
#   PYTHON=python3.11 tools/setup-python.sh
#   TORCH_INDEX_URL=<a CPU-only torch wheel index> tools/setup-python.sh
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$TOOLS_DIR/.venv"
REQ="$TOOLS_DIR/requirements.txt"
PY="${PYTHON:-python3}"
IMAGEBIND="imagebind-unofficial==0.1.1"
STAMP="$VENV/.requirements.sha256"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PY" -m venv "$VENV"
fi

want="$( (cat "$REQ"; echo "$IMAGEBIND"; echo "${TORCH_INDEX_URL:-}") | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [ "$want" != "$have" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        torch_pin="$(grep -E '^torch==' "$REQ")"
        vision_pin="$(grep -E '^torchvision==' "$REQ")"
        "$VENV/bin/python" -m pip install --index-url "$TORCH_INDEX_URL" "$torch_pin" "$vision_pin"
    fi
    "$VENV/bin/python" -m pip install -r "$REQ"
    # imagebind-unofficial declares torchaudio/pytorchvideo/... as dependencies; install it alone.
    "$VENV/bin/python" -m pip install --no-deps "$IMAGEBIND"
    echo "$want" > "$STAMP"
fi

# torchaudio breaks transformers here; refuse to keep it.
if "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torchaudio') else 1)"; then
    echo "removing torchaudio from $VENV (incompatible)"
    "$VENV/bin/python" -m pip uninstall --yes torchaudio
fi

"$VENV/bin/python" - <<'PY'
import sys, types
sys.modules.setdefault("imagebind.data", types.ModuleType("imagebind.data"))
import torch, transformers, diffusers, peft, sentencepiece, safetensors, gguf  # noqa: F401
from imagebind.models import imagebind_model  # noqa: F401
print(f"tools/.venv ready: python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, diffusers {diffusers.__version__}")
PY
