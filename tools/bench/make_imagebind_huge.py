#!/usr/bin/env python3
"""Writes an ImageBind-huge-shaped checkpoint with seeded random weights, for benchmarks only (never
committed; 4.8 GB at fp32):

  OUT/imagebind_huge.pth   torch.save(imagebind_model.imagebind_huge().state_dict()), the upstream
                           checkpoint's format and key set (fp32), values rounded to fp16 so the F16
                           container holds them exactly
  OUT/config.json          the constructor's keyword arguments (the converter reads them beside the file)

The weights are those of tools/fixtures/fx_imagebind.py (per-tensor seeded `init_value`: fan-in scaled
normals, norms near 1, biases near 0; `log_logit_scale` keeps its constructor value) at the real
configuration of `imagebind_model.imagebind_huge()`, so activations stay finite and of ordinary size.

    tools/.venv/bin/python tools/bench/make_imagebind_huge.py /work/bench/imagebind-huge [--check]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from fx_common import import_imagebind_models, randomize_module, torch_save  # noqa: E402

# imagebind_model.imagebind_huge()'s arguments; the rest are ImageBindModel's defaults.
HUGE = dict(vision_embed_dim=1280, vision_num_blocks=32, vision_num_heads=16,
            text_embed_dim=1024, text_num_blocks=24, text_num_heads=16,
            out_embed_dim=1024, audio_drop_path=0.1, imu_drop_path=0.7)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--check", action="store_true", help="reload and run one image through it")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    imagebind_model = import_imagebind_models()
    t0 = time.time()
    torch.manual_seed(0)
    with torch.no_grad():
        model = imagebind_model.ImageBindModel(**HUGE).eval()
        randomize_module(model, "imagebind-huge-bench", round_to=torch.float16,
                         skip=lambda n: "log_logit_scale" in n)
    params = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for n, p in model.named_parameters() if ".vision" in n)
    print(f"ImageBind-huge: {params / 1e6:.1f} M parameters (vision {vision / 1e6:.1f} M), built in {time.time() - t0:.0f} s",
          flush=True)
    path = os.path.join(args.out, "imagebind_huge.pth")
    # Written under its own name in a scratch folder (torch.save names the archive after the file),
    # then moved: no half-written checkpoint is ever left at `path`.
    scratch = Path(args.out) / ".partial"
    torch_save(model.state_dict(), scratch / "imagebind_huge.pth")
    os.replace(scratch / "imagebind_huge.pth", path)
    scratch.rmdir()
    with open(os.path.join(args.out, "config.json"), "w") as f:
        f.write(json.dumps(HUGE, indent=2, sort_keys=True) + "\n")
    print(f"{path}: {os.path.getsize(path) / 1e9:.2f} GB", flush=True)
    if args.check:
        del model
        fresh = imagebind_model.ImageBindModel(**HUGE).eval()
        fresh.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        with torch.inference_mode():
            y = fresh({"vision": torch.randn(1, 3, 224, 224)})["vision"]
        assert y.shape == (1, 1024) and torch.isfinite(y).all(), "non-finite output"
        print("check: vision embedding finite", y[0, :4].tolist())


if __name__ == "__main__":
    main()
