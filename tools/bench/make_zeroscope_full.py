#!/usr/bin/env python3
"""Writes a ZeroScope-v2-576w-shaped diffusers folder with seeded random weights, for benchmarks only
(never committed; ~3.7 GB at fp16), laid out as `cerspense/zeroscope_v2_576w` is (NEXTGPT.md §4.3):
OUT/model_index.json (TextToVideoSDPipeline), unet/ (UNet3DConditionModel), vae/ (AutoencoderKL),
text_encoder/ (CLIPTextModel, the OpenCLIP ViT-H/14 text tower cut to 23 layers) with config.json and one
fp16 `.bin` each (diffusion_pytorch_model.bin / pytorch_model.bin, torch.save of the state dict: the real
repo ships `.bin` only, fp16), scheduler/ (DDIM, the committed fixture's config = the real one),
tokenizer/ (CLIP's BPE, 49408 tokens, as tools/bench/make_sd15_full.py finds it, with ZeroScope's
tokenizer_config / special_tokens_map: pad "!" = id 0).

Every state-dict key and shape is checked against ../shared/upstream/keys/zeroscope_*.tsv (UNet 1480 keys,
1,411,233,860 values; text 373 keys). Weights are the models' own initializations (PyTorch defaults for
diffusers' modules, transformers' `_init_weights`), seeded, except the last convolution of every
TemporalConvLayer and the temporal transformers' proj_out, which diffusers initializes to zero (an identity
temporal path on a fresh model): they get PyTorch's default init here, so the temporal layers change the
numbers and a comparison of ours with diffusers exercises them.

    tools/.venv/bin/python tools/bench/make_zeroscope_full.py /work/bench/zeroscope-full/diffusers [--seed 0]
"""

import argparse
import json
import os
import shutil
import sys
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURE = os.path.join(REPO, "Tests", "Fixtures", "zeroscope")
sys.path.insert(0, HERE)
from make_audioldm_full import check_keys  # noqa: E402
from make_sd15_full import VOCAB_SIZE, BOS, EOS, clip_tokenizer_from_bpe, find_clip_bpe, padded_fixture_tokenizer  # noqa: E402

UNET_CONFIG = {
    "_class_name": "UNet3DConditionModel", "_diffusers_version": "0.17.0.dev0", "act_fn": "silu",
    "attention_head_dim": 64, "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"],
    "downsample_padding": 1, "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1,
    "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 32,
    "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
}
VAE_CONFIG = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.17.0.dev0", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
    "sample_size": 768, "scaling_factor": 0.18215, "up_block_types": ["UpDecoderBlock2D"] * 4,
}
TEXT_CONFIG = {
    "_name_or_path": "laion/CLIP-ViT-H-14", "architectures": ["CLIPTextModel"], "attention_dropout": 0.0,
    "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_size": 1024,
    "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 4096, "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 16,
    "num_hidden_layers": 23, "pad_token_id": 1, "projection_dim": 512, "torch_dtype": "float16",
    "transformers_version": "4.27.0.dev0", "vocab_size": VOCAB_SIZE,
}
HF_ONLY = ("architectures", "torch_dtype", "transformers_version")


def fp16(state):
    return OrderedDict((k, v.detach().to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous())
                       for k, v in state.items())


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def save_bin(state, folder, name, config):
    """config.json + the fp16 state dict as torch.save writes it, via a temporary name."""
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), config)
    path = os.path.join(folder, name)
    torch.save(state, path + ".partial")
    os.replace(path + ".partial", path)
    print(f"{path}: {os.path.getsize(path) / 1e9:.2f} GB")


def make_unet():
    from diffusers import UNet3DConditionModel
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
    from diffusers.models.resnet import TemporalConvLayer
    model = UNet3DConditionModel(**{k: v for k, v in UNET_CONFIG.items() if not k.startswith("_")})
    for module in model.modules():
        if isinstance(module, TemporalConvLayer):
            module.conv4[-1].reset_parameters()
        elif isinstance(module, TransformerTemporalModel):
            module.proj_out.reset_parameters()
    return fp16(model.state_dict())


def make_vae():
    from diffusers import AutoencoderKL
    return fp16(AutoencoderKL(**{k: v for k, v in VAE_CONFIG.items() if not k.startswith("_")}).state_dict())


def make_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel
    config = {k: v for k, v in TEXT_CONFIG.items() if not k.startswith("_") and k not in HF_ONLY}
    state = CLIPTextModel(CLIPTextConfig(**config)).state_dict()
    # transformers >= 5.6 dropped the `text_model.` level; the real checkpoint has it (and position_ids)
    out = OrderedDict((k if k.startswith("text_model.") else "text_model." + k, v) for k, v in state.items())
    out.setdefault("text_model.embeddings.position_ids", torch.arange(77, dtype=torch.int64)[None])
    return fp16(out)


def write_tokenizer(folder):
    """CLIP's vocabulary and merges; the special-token files are ZeroScope's (the fixture's: pad "!")."""
    os.makedirs(folder, exist_ok=True)
    bpe = find_clip_bpe()
    vocab, merges = clip_tokenizer_from_bpe(bpe) if bpe else padded_fixture_tokenizer()
    assert len(vocab) == VOCAB_SIZE and vocab[BOS] == 49406 and vocab[EOS] == 49407 and vocab["!"] == 0
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(FIXTURE, "tokenizer", name), os.path.join(folder, name))
    return "CLIP BPE from " + bpe if bpe else "tiny fixture tokenizer padded with synthetic tokens"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    parts = [("unet", make_unet, "zeroscope_unet3d_keys.tsv", "diffusion_pytorch_model.bin", UNET_CONFIG),
             ("vae", make_vae, None, "diffusion_pytorch_model.bin", VAE_CONFIG),
             ("text_encoder", make_text_encoder, "zeroscope_text_encoder_keys.tsv", "pytorch_model.bin", TEXT_CONFIG)]
    for name, make, tsv, file, config in parts:
        state = make()
        if tsv:
            check_keys(name, state, tsv)
        else:
            print(f"{name}: {len(state)} tensors, {sum(v.numel() for v in state.values()):,} values")
        save_bin(state, os.path.join(args.out, name), file, config)
        del state
    shutil.copytree(os.path.join(FIXTURE, "scheduler"), os.path.join(args.out, "scheduler"), dirs_exist_ok=True)
    print("tokenizer:", write_tokenizer(os.path.join(args.out, "tokenizer")))
    shutil.copy(os.path.join(FIXTURE, "model_index.json"), os.path.join(args.out, "model_index.json"))
    print(args.out)


if __name__ == "__main__":
    main()
