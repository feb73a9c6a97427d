#!/usr/bin/env python3
"""Writes a Stable-Diffusion-1.5-shaped pipeline with seeded random weights, for benchmarks only
(never committed; ~2.1 GB per copy at fp16):

  OUT/diffusers/   a diffusers folder as runwayml/stable-diffusion-v1-5 lays it out: model_index.json,
                   unet/ vae/ text_encoder/ (config.json + one .safetensors each), tokenizer/, scheduler/
                   (PNDM, the SD 1.5 config)
  OUT/sd15-full.safetensors
                   the same tensors as an original (LDM / CompVis) single file, the layout of
                   v1-5-pruned-emaonly.safetensors (model.diffusion_model.*, first_stage_model.*,
                   cond_stage_model.transformer.text_model.*) — what stable-diffusion.cpp loads

The configurations are the real ones (NEXTGPT.md §4.1, keys/sd15_*_keys.tsv). Weights are the
models' own initializations (PyTorch's default for diffusers' UNet and VAE, transformers' `_init_weights`
for CLIP), seeded, so activations stay finite and of ordinary size and timings are those of real weights.
Both files hold the same fp16 values (the VAE's attention projections are 1x1 convolutions in LDM).

The tokenizer is CLIP's real BPE (49408 tokens) when `bpe_simple_vocab_16e6.txt.gz` is found (the
imagebind and open_clip packages ship it); otherwise the committed tiny tokenizer padded with synthetic
tokens up to 49408, `<|startoftext|>` 49406 and `<|endoftext|>` 49407 as in CLIP.

    /work/venv/bin/python tools/bench/make_sd15_full.py out/bench/sd15-full [--seed 0] [--check | --check-only]
"""

import argparse
import glob
import gzip
import json
import os
import sys
import time
from collections import OrderedDict

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(REPO, "tools", "fixtures"))
from fx_ldm import clip_diffusers_to_ldm, unet_diffusers_to_ldm, vae_diffusers_to_ldm  # noqa: E402

UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu",
    "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
VAE_CONFIG = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.6.0", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
    "sample_size": 512, "up_block_types": ["UpDecoderBlock2D"] * 4,
}
TEXT_CONFIG = {
    "_name_or_path": "openai/clip-vit-large-patch14", "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2, "hidden_act": "quick_gelu",
    "hidden_size": 768, "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768,
    "torch_dtype": "float16", "transformers_version": "4.22.0.dev0", "vocab_size": 49408,
}
SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
    "clip_sample": False,
}
MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.6.0",
    "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
    "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
VOCAB_SIZE = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def fp16(state):
    return OrderedDict((k, v.detach().to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous())
                       for k, v in state.items())


def make_unet():
    from diffusers import UNet2DConditionModel
    config = {k: v for k, v in UNET_CONFIG.items() if not k.startswith("_")}
    return fp16(UNet2DConditionModel(**config).state_dict())


def make_vae():
    from diffusers import AutoencoderKL
    config = {k: v for k, v in VAE_CONFIG.items() if not k.startswith("_")}
    return fp16(AutoencoderKL(**config).state_dict())


def make_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel
    config = {k: v for k, v in TEXT_CONFIG.items() if not k.startswith("_") and k not in ("architectures", "torch_dtype", "transformers_version")}
    state = CLIPTextModel(CLIPTextConfig(**config)).state_dict()
    out = OrderedDict()
    for k, v in state.items():
        # transformers >= 5.6 dropped the `text_model.` level; real SD 1.5 folders (and LDM files) have it
        out[k if k.startswith("text_model.") else "text_model." + k] = v
    if "text_model.embeddings.position_ids" not in out:  # a buffer the real checkpoint carries (keys tsv)
        out["text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    return fp16(out)


# --- tokenizer -----------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2/CLIP's printable stand-ins for the 256 byte values."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def find_clip_bpe():
    patterns = [os.path.join(p, "**", "bpe_simple_vocab_16e6.txt.gz") for p in sys.path if os.path.isdir(p)]
    for pattern in patterns:
        for path in glob.glob(pattern, recursive=True):
            return path
    return None


def clip_tokenizer_from_bpe(path):
    """The vocabulary and merges of openai/clip-vit-large-patch14, as CLIP's SimpleTokenizer builds them."""
    lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    chars = bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, [" ".join(m) for m in merges]


def padded_fixture_tokenizer():
    folder = os.path.join(REPO, "Tests", "Fixtures", "sd15", "tokenizer")
    vocab = json.load(open(os.path.join(folder, "vocab.json")))
    merges = [m for m in open(os.path.join(folder, "merges.txt")).read().split("\n")[1:] if m]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if t not in (BOS, EOS)]
    tokens += [f"<|synthetic_{i}|>" for i in range(VOCAB_SIZE - 2 - len(tokens))]
    tokens += [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


def write_tokenizer(folder):
    os.makedirs(folder, exist_ok=True)
    bpe = find_clip_bpe()
    vocab, merges = clip_tokenizer_from_bpe(bpe) if bpe else padded_fixture_tokenizer()
    assert len(vocab) == VOCAB_SIZE and vocab[BOS] == 49406 and vocab[EOS] == 49407, len(vocab)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    token = lambda s: {"content": s, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    write_json(os.path.join(folder, "special_tokens_map.json"),
               {"bos_token": token(BOS), "eos_token": token(EOS), "pad_token": EOS, "unk_token": token(EOS)})
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": dict(token(BOS), __type="AddedToken"), "do_lower_case": True,
        "eos_token": dict(token(EOS), __type="AddedToken"), "errors": "replace", "model_max_length": 77,
        "pad_token": EOS, "special_tokens_map_file": "./special_tokens_map.json", "tokenizer_class": "CLIPTokenizer",
        "unk_token": dict(token(EOS), __type="AddedToken")})
    return "CLIP BPE from " + bpe if bpe else "tiny fixture tokenizer padded with synthetic tokens"


# --- sanity check ---------------------------------------------------------------------------------

def check(folder):
    """Two CFG steps at 256x256 through the diffusers pipeline; prints the sizes of what flows."""
    from diffusers import StableDiffusionPipeline
    torch.set_num_threads(2)
    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32, safety_checker=None)
    seen, predictions = {}, []
    pipe.unet.register_forward_hook(lambda module, inputs, output: predictions.append(output[0].detach().clone()))

    def on_step(p, i, t, kwargs):
        seen[i] = kwargs["latents"].clone()
        return kwargs

    with torch.no_grad():
        image = pipe("a photograph of an astronaut riding a horse", num_inference_steps=2, height=256, width=256,
                     guidance_scale=7.5, generator=torch.Generator().manual_seed(0), output_type="np",
                     callback_on_step_end=on_step).images
    for i, eps in enumerate(predictions):
        print(f"UNet call {i}: noise prediction std {eps.std():.3f} max|x| {eps.abs().max():.3f} "
              f"uncond-cond rms {(eps[0] - eps[1]).pow(2).mean().sqrt():.3f}")
    for i, lat in seen.items():
        print(f"latents after step {i}: std {lat.std():.3f} max|x| {lat.abs().max():.3f} finite {torch.isfinite(lat).all().item()}")
    print(f"image: mean {image.mean():.3f} std {image.std():.3f} finite {bool((image == image).all())}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=os.path.join(REPO, "out", "bench", "sd15-full"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="afterwards run two diffusers steps at 256² and print stats")
    ap.add_argument("--check-only", action="store_true", help="only the check, on an existing OUT")
    args = ap.parse_args()
    folder = os.path.join(args.out, "diffusers")
    if args.check_only:
        return check(folder)
    for sub in ("unet", "vae", "text_encoder", "scheduler"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    torch.set_num_threads(2)
    single = OrderedDict()
    t0 = time.time()

    torch.manual_seed(args.seed)
    unet = make_unet()
    save_file(unet, os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(folder, "unet", "config.json"), UNET_CONFIG)
    single.update(unet_diffusers_to_ldm(unet, UNET_CONFIG))
    print(f"unet: {len(unet)} tensors, {sum(v.numel() for v in unet.values()):,} parameters ({time.time() - t0:.0f} s)", flush=True)
    del unet

    torch.manual_seed(args.seed + 1)
    vae = make_vae()
    save_file(vae, os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(folder, "vae", "config.json"), VAE_CONFIG)
    single.update(vae_diffusers_to_ldm(vae, VAE_CONFIG))
    print(f"vae: {len(vae)} tensors, {sum(v.numel() for v in vae.values()):,} parameters", flush=True)
    del vae

    torch.manual_seed(args.seed + 2)
    text = make_text_encoder()
    save_file(text, os.path.join(folder, "text_encoder", "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(folder, "text_encoder", "config.json"), TEXT_CONFIG)
    single.update(clip_diffusers_to_ldm(text))
    params = sum(v.numel() for k, v in text.items() if not k.endswith("position_ids"))
    print(f"text_encoder: {len(text)} tensors, {params:,} parameters", flush=True)
    del text

    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), SCHEDULER_CONFIG)
    write_json(os.path.join(folder, "model_index.json"), MODEL_INDEX)
    print("tokenizer:", write_tokenizer(os.path.join(folder, "tokenizer")))

    # The VAE's 1x1-conv attention weights are views of the diffusers tensors; make them own their storage.
    single = OrderedDict((k, v.contiguous().clone() if v._base is not None else v) for k, v in single.items())
    path = os.path.join(args.out, "sd15-full.safetensors")
    save_file(single, path, metadata={"format": "pt"})
    print(f"{path}: {len(single)} tensors ({os.path.getsize(path) / 1e9:.2f} GB); total {time.time() - t0:.0f} s")
    if args.check:
        check(folder)


if __name__ == "__main__":
    main()
