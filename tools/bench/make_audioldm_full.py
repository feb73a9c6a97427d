#!/usr/bin/env python3
"""Writes an AudioLDM-l-full-shaped diffusers folder with seeded random weights, for benchmarks only
(never committed; ~1.9 GB at fp16): OUT/model_index.json, unet/ vae/ (diffusers), text_encoder/
(ClapTextModelWithProjection) and vocoder/ (SpeechT5HifiGan) with config.json + one .safetensors
each, scheduler/ (DDIM, the AudioLDM config), tokenizer/ (the committed fixture's RoBERTa BPE: its
ids are a subset of the 50265-entry embedding).

Configurations are l-full's (NEXTGPT.md §4.2); every state-dict key and shape is checked against
../shared/upstream/keys/audioldm_*.tsv when that folder is found. Weights are the models' own
initializations (diffusers' PyTorch defaults, transformers' `_init_weights`), seeded, so activations
stay finite and timings are those of real weights.

    tools/.venv/bin/python tools/bench/make_audioldm_full.py /work/bench/audioldm-full [--seed 0]
"""

import argparse
import json
import os
import shutil

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURE = os.path.join(REPO, "Tests", "Fixtures", "audioldm")
KEYS = os.environ.get("AUDIOLDM_KEYS", os.path.join(REPO, "..", "shared", "upstream", "keys"))

UNET_CONFIG = dict(
    sample_size=128, in_channels=8, out_channels=8, down_block_types=["DownBlock2D"] + ["CrossAttnDownBlock2D"] * 3,
    up_block_types=["CrossAttnUpBlock2D"] * 3 + ["UpBlock2D"], block_out_channels=[256, 512, 768, 1280],
    layers_per_block=2, cross_attention_dim=[256, 512, 768, 1280], class_embed_type="simple_projection",
    projection_class_embeddings_input_dim=512, class_embeddings_concat=True, attention_head_dim=8, norm_num_groups=32)
VAE_CONFIG = dict(
    in_channels=1, out_channels=1, latent_channels=8, block_out_channels=[128, 256, 512], layers_per_block=2,
    down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3, sample_size=512,
    scaling_factor=0.9654927849769592, norm_num_groups=32)
CLAP_CONFIG = dict(
    vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-12, pad_token_id=1,
    bos_token_id=0, eos_token_id=2, projection_dim=512, projection_hidden_act="relu")
VOCODER_CONFIG = dict(
    model_in_dim=64, sampling_rate=16000, upsample_initial_channel=1024, upsample_rates=[5, 4, 2, 2, 2],
    upsample_kernel_sizes=[16, 16, 8, 4, 4], resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
    normalize_before=False, leaky_relu_slope=0.1)
MODEL_INDEX = {
    "_class_name": "AudioLDMPipeline", "_diffusers_version": "0.15.0.dev0",
    "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "ClapTextModelWithProjection"],
    "tokenizer": ["transformers", "RobertaTokenizerFast"], "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"], "vocoder": ["transformers", "SpeechT5HifiGan"],
}


def check_keys(name, state, tsv):
    path = os.path.join(KEYS, tsv)
    if not os.path.exists(path):
        print(f"{name}: {path} not found, keys not checked")
        return
    expected = {}
    for line in open(path):
        key, shape = line.rstrip("\n").split("\t")
        expected[key] = tuple(int(x) for x in shape.strip("()").split(",") if x.strip())
    ours = {k: tuple(v.shape) for k, v in state.items()}
    # buffers transformers 5 no longer keeps in the state dict
    missing = [k for k in expected if k not in ours and not k.endswith(("position_ids", "token_type_ids"))]
    extra = [k for k in ours if k not in expected]
    wrong = [k for k in ours if k in expected and ours[k] != expected[k]]
    assert not missing and not extra and not wrong, f"{name}: missing {missing[:5]} extra {extra[:5]} shapes {wrong[:5]}"
    print(f"{name}: {len(ours)} tensors match {tsv}, {sum(v.numel() for v in state.values()):,} values")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SpeechT5HifiGan, SpeechT5HifiGanConfig
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    models = [
        ("unet", UNet2DConditionModel(**UNET_CONFIG), "audioldm_l_unet_keys.tsv"),
        ("vae", AutoencoderKL(**VAE_CONFIG), "audioldm_vae_keys.tsv"),
        ("text_encoder", ClapTextModelWithProjection(ClapTextConfig(**CLAP_CONFIG)), "audioldm_clap_text_keys.tsv"),
        ("vocoder", SpeechT5HifiGan(SpeechT5HifiGanConfig(**VOCODER_CONFIG)), "audioldm_vocoder_keys.tsv"),
    ]
    for name, model, tsv in models:
        check_keys(name, model.state_dict(), tsv)
        model.half().save_pretrained(os.path.join(args.out, name), safe_serialization=True)
    for sub in ("scheduler", "tokenizer"):
        shutil.copytree(os.path.join(FIXTURE, sub), os.path.join(args.out, sub), dirs_exist_ok=True)
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump(MODEL_INDEX, f, indent=2)
    print(args.out)


if __name__ == "__main__":
    main()
