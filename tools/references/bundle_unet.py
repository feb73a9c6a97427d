#!/usr/bin/env python3
"""Reference bundles for the runtime's UNet2DConditionModel (issue 5 §2): diffusers'
`unet(sample, t, encoder_hidden_states=…, class_labels=…).sample` in float32 on the CPU.

- unet-sd15-{f32,f16,q8_0,q4_0}: the SD 1.5 fixture; classifier-free-guidance batches of 2,
  timesteps 999.0 / 1.5 / per-sample, an odd 15×9 latent. Quantized containers are compared with
  diffusers running the container's dequantized weights, both with f32 activations (isolates the
  runtime's arithmetic) and with the runtime's own 8-bit activations (tolerance 2e-2).
- unet-variant-<name>-f32: every folder of Tests/Fixtures/sd-variants (tools/fixtures/fx_sd_variants.py).
- unet-audioldm-f32: the AudioLDM fixture as AudioLDMPipeline runs it: no encoder states (the
  transformers attend to themselves), class_labels = the [N, 24] text embedding, concatenated to
  the time embedding; a tall odd latent 25×4.

Each bundle records its `nextgpt convert` recipe; the Swift tests re-make the container.

    /work/venv/bin/python tools/references/bundle_unet.py --nextgpt .build/debug/nextgpt
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
VARIANTS = os.path.join("Tests", "Fixtures", "sd-variants")


def convert(nextgpt, args, qtype, out):
    subprocess.run([nextgpt, "convert", *args, "--type", qtype, "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def load_unet(folder, container, component):
    from diffusers import UNet2DConditionModel
    unet = UNet2DConditionModel.from_pretrained(os.path.join(ROOT, folder, "unet"), torch_dtype=torch.float32).eval()
    _, missing = load_container_weights(unet, container, component)
    assert not missing, f"container lacks {missing}"
    return unet


def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


class Probes:
    """Runs diffusers on each probe's inputs and records the probe (with each activation mode)."""

    def __init__(self, bundle, unet, component, modes):
        self.b, self.unet, self.component, self.modes = bundle, unet, component, modes
        self.seed = 0

    def add(self, name, n, h, w, timestep, seq=None, labels=None):
        cfg = self.unet.config
        self.seed += 1
        g = gen(self.seed)
        sample = torch.randn(n, cfg.in_channels, h, w, generator=g)
        inputs = {"sample": sample}
        args = {}
        encoder = None
        if seq is not None:
            width = cfg.cross_attention_dim if isinstance(cfg.cross_attention_dim, int) else cfg.cross_attention_dim[0]
            encoder = torch.randn(n, seq, width, generator=g)
            if n == 2:  # classifier-free guidance: the unconditional half first
                encoder[0] = torch.randn(seq, width, generator=g) * 0.5
            inputs["encoder_hidden_states"] = encoder
        if labels is not None:
            inputs["class_labels"] = labels
        if isinstance(timestep, list):
            t = torch.tensor(timestep, dtype=torch.float32)
            inputs["timestep"] = t
        else:
            t = float(timestep)
            args["timestep"] = t
        with torch.no_grad():
            out = self.unet(sample, t, encoder_hidden_states=encoder, class_labels=labels).sample
        bound = {k: self.b.tensor(f"{name}.{k}", v) for k, v in inputs.items()}
        self.b.tensor(f"{name}.out", out)
        for mode, tolerance in self.modes:
            self.b.probe(f"{name}_{mode}_activations", self.component, "unet", dict(args, activations=mode), bound,
                         {"out": f"{name}.out"}, rel_l2=tolerance)


def save(b, path, recipe):
    b.save(path, {"nextgpt.reference.convert": json.dumps(recipe),
                  "nextgpt.reference.generator": "tools/references/bundle_unet.py",
                  "nextgpt.reference.torch": torch.__version__})
    print(path, len(b.probes), "probes", os.path.getsize(path), "bytes")


def sd15(nextgpt, qtype, tmp):
    args = ["--sd15", "Tests/Fixtures/sd15"]
    container = os.path.join(tmp, f"sd15-{qtype}.gguf")
    convert(nextgpt, args, qtype, container)
    unet = load_unet("Tests/Fixtures/sd15", container, "sd15.unet")
    exact = qtype in ("f32", "f16")
    modes = [("f32", 1e-5), ("runtime", 1e-5)] if exact else [("f32", 1e-4), ("runtime", 2e-2)]
    b = Bundle()
    p = Probes(b, unet, "sd15.unet", modes)
    p.add("cfg_t999", 2, 8, 8, 999.0, seq=9)
    p.add("cfg_t1_5", 2, 8, 8, 1.5, seq=9)
    p.add("single_t500", 1, 8, 8, 500, seq=5)
    p.add("odd_15x9_per_sample_t", 2, 15, 9, [981.0, 20.25], seq=7)
    save(b, os.path.join(OUT, f"unet-sd15-{qtype}.safetensors"), args + ["--type", qtype])


def variant(nextgpt, name, tmp):
    folder = os.path.join(VARIANTS, name)
    args = ["--sd15", folder]
    container = os.path.join(tmp, f"variant-{name}.gguf")
    convert(nextgpt, args, "f32", container)
    unet = load_unet(folder, container, "sd15.unet")
    levels = len(unet.config.block_out_channels)
    sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))
    from fx_sd_variants import class_labels

    def labels(n):
        return class_labels(dict(unet.config), n, seed=n)
    b = Bundle()
    p = Probes(b, unet, "sd15.unet", [("runtime", 1e-5)])
    p.add("cfg_t999", 2, 8, 8, 999.0, seq=6, labels=labels(2))
    p.add("odd_per_sample_t", 2, 9 if levels > 2 else 7, 7 if levels > 2 else 5, [801.0, 1.5], seq=4, labels=labels(2))
    p.add("single_t1_5", 1, 8, 12, 1.5, seq=3, labels=labels(1))
    save(b, os.path.join(OUT, f"unet-variant-{name}-f32.safetensors"), args + ["--type", "f32"])


def audioldm(nextgpt, tmp):
    args = ["--audioldm", "Tests/Fixtures/audioldm"]
    container = os.path.join(tmp, "audioldm.gguf")
    convert(nextgpt, args, "f32", container)
    unet = load_unet("Tests/Fixtures/audioldm", container, "audioldm.unet")
    dim = unet.config.projection_class_embeddings_input_dim
    b = Bundle()
    p = Probes(b, unet, "audioldm.unet", [("runtime", 1e-5)])
    labels = torch.randn(2, dim, generator=gen(100))
    p.add("cfg_tall_25x4_t999", 2, 25, 4, 999.0, labels=labels)
    p.add("cfg_16x4_t1_5", 2, 16, 4, 1.5, labels=labels)
    p.add("single_tall_33x5_per_sample_t", 1, 33, 5, [250.0], labels=labels[1:])
    save(b, os.path.join(OUT, "unet-audioldm-f32.safetensors"), args + ["--type", "f32"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    nextgpt = os.path.abspath(args.nextgpt)
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for qtype in ["f32", "f16", "q8_0", "q4_0"]:
            sd15(nextgpt, qtype, tmp)
        for name in sorted(os.listdir(os.path.join(ROOT, VARIANTS))):
            variant(nextgpt, name, tmp)
        audioldm(nextgpt, tmp)


if __name__ == "__main__":
    main()
