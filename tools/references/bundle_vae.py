#!/usr/bin/env python3
"""Reference bundles for the AutoencoderKL runtime (issue 5 §3): diffusers 0.42 `AutoencoderKL`,
float32 on the CPU, decoding and encoding the committed VAE fixtures:

- `Tests/Fixtures/sd15` (legacy `.bin` attention names) at f32, f16 and q8_0;
- every `Tests/Fixtures/sd-variants/vae-*` folder at f32;
- the AudioLDM (1 channel, 8 latents) and ZeroScope fixtures' VAEs at f32.

Probes (calls `vae_decode`, `vae_encode`, formats/reference-bundle.md): decode of 2×C×8×8 and odd
9×7 latents, encode of a 64×64 and odd 72×56 and 37×29 images (mean, logvar; sample = mean + std·noise
with the noise torch draws for `latent_dist.sample(generator)`), tiled decode and encode
(`vae.enable_tiling()`) with the config's tile size and with a smaller override, over inputs big
enough that several tiles blend in both directions.

The container is not committed: the bundle records its `nextgpt convert` arguments and the Swift
tests re-make it. The diffusers model gets the container's dequantized weights, so quantized
containers are compared against exactly the weights the runtime reads.

    /work/venv/bin/python tools/references/bundle_vae.py --nextgpt .build/debug/nextgpt
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

# (bundle name, convert flag, pipeline folder, container types); the component is `<pipeline>.vae`.
CASES = [("vae-sd15", "--sd15", "Tests/Fixtures/sd15", ["f32", "f16", "q8_0"])] + [
    (name, "--sd15", f"Tests/Fixtures/sd-variants/{name}", ["f32"])
    for name in ["vae-3level", "vae-noquant", "vae-noattn", "vae-legacy"]
] + [
    ("vae-audioldm", "--audioldm", "Tests/Fixtures/audioldm", ["f32"]),
    ("vae-zeroscope", "--zeroscope", "Tests/Fixtures/zeroscope", ["f32"]),
]
# rel L2 bars: f32 and f16 weights run f32 arithmetic on exactly the reference weights; q8_0
# convolutions run with 8-bit activations in the integer kernels for small position tiles (the
# runtime's path). Quantized bundles repeat every probe with `activations: "f32"` (dequantized
# weights × f32 activations), held to the f32 bar.
TOLERANCE = {"f32": 1e-5, "f16": 1e-5, "q8_0": 2e-2}
EXACT = 1e-5


def convert(nextgpt, flag, folder, qtype, out):
    subprocess.run([nextgpt, "convert", flag, folder, "--type", qtype, "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load_vae(folder, container, component):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(os.path.join(ROOT, folder, "vae"), torch_dtype=torch.float32).eval()
    _, missing = load_container_weights(vae, container, component)
    assert not missing, f"container lacks {missing}"
    return vae


def set_tiling(vae, sample_size=None):
    """`enable_tiling()`, optionally with another image tile side (the latent tile follows)."""
    vae.enable_tiling()
    size = sample_size if sample_size is not None else vae.config.sample_size
    vae.tile_sample_min_size = size
    vae.tile_latent_min_size = int(size / (2 ** (len(vae.config.block_out_channels) - 1)))


def make_bundle(nextgpt, name, flag, folder, qtype, tmp):
    container = os.path.join(tmp, f"{name}-{qtype}.gguf")
    convert(nextgpt, flag, folder, qtype, container)
    component = flag[2:] + ".vae"
    vae = load_vae(folder, container, component)
    cfg = vae.config
    factor = 2 ** (len(cfg.block_out_channels) - 1)
    latent, channels = cfg.latent_channels, cfg.in_channels
    tol = TOLERANCE[qtype]
    gen = torch.Generator().manual_seed(20260512)
    b = Bundle()
    quantized = qtype not in ("f32", "f16")

    def probe(name, call, args, inputs, expect):
        b.probe(name, component, call, args, inputs, expect, rel_l2=tol)
        if quantized:
            recorded = b.probes[-1]
            b.probe(f"{name}_f32_activations", component, call, dict(args, activations="f32"), dict(recorded["inputs"]),
                    dict(recorded["expect"]), rel_l2=EXACT)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    def image(h, w):
        return torch.rand(1, channels, h, w, generator=gen) * 2 - 1

    with torch.no_grad():
        vae.disable_tiling()
        for label, z in [("decode_2x8x8", randn(2, latent, 8, 8)), ("decode_odd_9x7", randn(1, latent, 9, 7))]:
            probe(label, "vae_decode", {}, {"latents": z}, {"sample": vae.decode(z).sample})

        for label, x in [("encode_64x64", image(64, 64)), ("encode_72x56", image(72, 56)), ("encode_odd_37x29", image(37, 29))]:
            dist = vae.encode(x).latent_dist
            noise = torch.randn(dist.mean.shape, generator=torch.Generator().manual_seed(7))
            sample = dist.sample(generator=torch.Generator().manual_seed(7))
            assert torch.equal(sample, dist.mean + dist.std * noise)
            probe(label, "vae_encode", {}, {"image": x, "noise": noise},
                  {"mean": dist.mean, "logvar": dist.logvar, "sample": sample})

        # Tiled decode: the config's tile, then a smaller one (more, partly clipped tiles).
        tile = cfg.sample_size // factor
        for label, size in [("decode_tiled_config", None), ("decode_tiled_small", cfg.sample_size * 3 // 4)]:
            set_tiling(vae, size)
            lt = vae.tile_latent_min_size
            z = randn(1, latent, 2 * lt + 4, 2 * lt - 1)
            assert z.shape[-1] > lt and z.shape[-2] > lt
            args = {"tiled": True} if size is None else {"tiled": True, "tile_sample_size": size}
            probe(label, "vae_decode", args, {"latents": z}, {"sample": vae.decode(z).sample})
        set_tiling(vae)
        x = image(2 * cfg.sample_size + 8, cfg.sample_size + 5)
        dist = vae.encode(x).latent_dist
        probe("encode_tiled_config", "vae_encode", {"tiled": True}, {"image": x},
              {"mean": dist.mean, "logvar": dist.logvar})
        # Latents that fit one tile take the plain path even when tiling is on.
        z = randn(1, latent, tile, tile)
        probe("decode_tiled_single_tile", "vae_decode", {"tiled": True}, {"latents": z},
              {"sample": vae.decode(z).sample})
        vae.disable_tiling()

    path = os.path.join(OUT, f"{name}-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps([flag, folder, "--type", qtype]),
                  "nextgpt.reference.generator": "tools/references/bundle_vae.py",
                  "nextgpt.reference.torch": torch.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--only", help="bundle name prefix to make")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name, flag, folder, types in CASES:
            if args.only and not name.startswith(args.only):
                continue
            for qtype in types:
                path = make_bundle(os.path.abspath(args.nextgpt), name, flag, folder, qtype, tmp)
                print(path, f"{os.path.getsize(path) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
