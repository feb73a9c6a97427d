#!/usr/bin/env python3
"""The real-checkpoint recipe of formats/reference-bundle.md §5, run on the tiny Vicuna fixture.

  1. `nextgpt convert --vicuna Tests/Fixtures/vicuna --type q4_0` -> OUT_DIR/vicuna-q4_0.gguf
  2. load the checkpoint with transformers, then replace its weights by the container's
     (dequantized), so the references are computed from exactly what our runtime reads
  3. hook layer 0, the final norm and lm_head; run a forward pass; save OUT_DIR/vicuna.safetensors

    /work/venv/bin/python tools/references/bundle_vicuna_fixture.py --nextgpt .build/debug/nextgpt [OUT_DIR]
    nextgpt verify -m OUT_DIR/vicuna-q4_0.gguf --reference OUT_DIR/vicuna.safetensors

Run from anywhere; paths given to the converter are relative to the repository, so the
container's provenance does not depend on where the repository lives.
"""

import argparse
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle, capture_modules, load_container_weights  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default=os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles"))
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"), help="nextgpt binary")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    container = os.path.abspath(os.path.join(args.out_dir, "vicuna-q4_0.gguf"))
    subprocess.run([os.path.abspath(args.nextgpt), "convert", "--vicuna", "Tests/Fixtures/vicuna", "--type", "q4_0",
                    "-o", container], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(os.path.join(ROOT, "Tests", "Fixtures", "vicuna"), torch_dtype=torch.float32).eval()
    loaded, missing = load_container_weights(model, container, "vicuna")
    assert not missing, f"container lacks {missing}"

    ids = torch.tensor([[1, 5, 17, 300, 999, 42, 7, 8, 9]])
    quantized = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")

    def tolerance(name, module, call):
        # Q4_0 weights: the kernels quantize activations to Q8_0 (measured up to 8.5e-3 on
        # down_proj); everything else is f32.
        return 2e-2 if name.endswith(quantized) else 1e-5

    bundle = Bundle()
    with torch.no_grad():
        capture_modules(bundle, model, "vicuna", lambda: model(ids),
                        select=lambda name, m: name.startswith("model.layers.0.") or name in ("model.norm", "lm_head"),
                        rel_l2=tolerance)
    path = os.path.join(args.out_dir, "vicuna.safetensors")
    bundle.save(path, {"nextgpt.reference.container": "vicuna-q4_0.gguf",
                       "nextgpt.reference.generator": "tools/references/bundle_vicuna_fixture.py",
                       "nextgpt.reference.torch": torch.__version__,
                       "nextgpt.reference.checkpoint": "Tests/Fixtures/vicuna (LlamaForCausalLM), weights from the container"})
    print(f"{container}: {os.path.getsize(container)} bytes, {len(loaded)} tensors loaded back into the model")
    print(f"{path}: {os.path.getsize(path)} bytes, {len(bundle.probes)} probes")


if __name__ == "__main__":
    main()
