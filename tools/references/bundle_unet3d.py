#!/usr/bin/env python3
"""Reference bundles for the runtime's UNet3DConditionModel (issue 13 §1, §6): diffusers'
`unet(sample, t, encoder_hidden_states=…).sample` in float32 on the CPU, on the ZeroScope fixture
(Tests/Fixtures/zeroscope: the real four levels at tiny widths).

- unet3d-zeroscope-{f32,f16,q8_0}: video batches of 1 and 2 (classifier-free guidance: the
  unconditional half first) with one timestep or one per video, 1, 3 and 4 frames, an odd 5×7
  latent (three downsamplings: the upsamplers meet the skip sizes). Quantized containers are
  compared with diffusers running the container's dequantized weights, with f32 activations
  (isolates the runtime's arithmetic) and with the runtime's own 8-bit activations. At the
  fixture's widths (4, 8, 12, 12; cross 48) no weight row fills whole 32-value blocks, so the
  q8_0 recipe falls back to F16 for every UNet tensor: the quantized temporal convolution is
  checked at layer level instead (Tests/NextGPTModelsTests/UNet3DTests.swift).

Each bundle records its `nextgpt convert` recipe; the Swift tests re-make the container.

    tools/.venv/bin/python tools/references/bundle_unet3d.py --nextgpt .build/debug/nextgpt
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle, load_container_weights  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "sd")
FOLDER = "Tests/Fixtures/zeroscope"


def convert(nextgpt, args, qtype, out):
    subprocess.run([nextgpt, "convert", *args, "--type", qtype, "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def load_unet(container):
    from diffusers import UNet3DConditionModel
    unet = UNet3DConditionModel.from_pretrained(os.path.join(ROOT, FOLDER, "unet"), torch_dtype=torch.float32).eval()
    _, missing = load_container_weights(unet, container, "zeroscope.unet")
    assert not missing, f"container lacks {missing}"
    return unet


class Probes:
    """Runs diffusers on each probe's inputs and records the probe (with each activation mode)."""

    def __init__(self, bundle, unet, modes):
        self.b, self.unet, self.modes = bundle, unet, modes
        self.seed = 0

    def add(self, name, n, frames, h, w, timestep, seq):
        cfg = self.unet.config
        self.seed += 1
        g = torch.Generator()
        g.manual_seed(self.seed)
        sample = torch.randn(n, cfg.in_channels, frames, h, w, generator=g)
        encoder = torch.randn(n, seq, cfg.cross_attention_dim, generator=g)
        if n == 2:  # classifier-free guidance: the unconditional half first
            encoder[0] = torch.randn(seq, cfg.cross_attention_dim, generator=g) * 0.5
        inputs = {"sample": sample, "encoder_hidden_states": encoder}
        args = {}
        if isinstance(timestep, list):
            t = torch.tensor(timestep, dtype=torch.float32)
            inputs["timestep"] = t
        else:
            t = float(timestep)
            args["timestep"] = t
        with torch.no_grad():
            out = self.unet(sample, t, encoder_hidden_states=encoder).sample
        assert out.shape == sample.shape[:1] + (cfg.out_channels,) + sample.shape[2:], out.shape
        bound = {k: self.b.tensor(f"{name}.{k}", v) for k, v in inputs.items()}
        self.b.tensor(f"{name}.out", out)
        for mode, tolerance in self.modes:
            self.b.probe(f"{name}_{mode}_activations", "zeroscope.unet", "unet3d", dict(args, activations=mode), bound,
                         {"out": f"{name}.out"}, rel_l2=tolerance)


def zeroscope(nextgpt, qtype, tmp):
    args = ["--zeroscope", FOLDER]
    container = os.path.join(tmp, f"zeroscope-{qtype}.gguf")
    convert(nextgpt, args, qtype, container)
    unet = load_unet(container)
    # The bar for the f32 container is rel L2 1e-4; quantized weights are dequantized on
    # both sides, so only the runtime's 8-bit activations add error.
    modes = [("f32", 1e-4), ("runtime", 1e-4)] if qtype in ("f32", "f16") else [("f32", 1e-4), ("runtime", 2e-2)]
    b = Bundle()
    p = Probes(b, unet, modes)
    p.add("single_f3_t999", 1, 3, 8, 8, 999.0, seq=7)
    p.add("cfg_f4_per_video_t", 2, 4, 8, 8, [981.0, 20.25], seq=9)
    p.add("cfg_odd_5x7_f3_t500", 2, 3, 5, 7, 500, seq=5)
    p.add("single_f1_odd_9x6_t1_5", 1, 1, 9, 6, 1.5, seq=4)
    path = os.path.join(OUT, f"unet3d-zeroscope-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(args + ["--type", qtype]),
                  "nextgpt.reference.generator": "tools/references/bundle_unet3d.py",
                  "nextgpt.reference.torch": torch.__version__})
    print(path, len(b.probes), "probes", os.path.getsize(path), "bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    nextgpt = os.path.abspath(args.nextgpt)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for qtype in ["f32", "f16", "q8_0"]:
            zeroscope(nextgpt, qtype, tmp)


if __name__ == "__main__":
    main()
