#!/usr/bin/env python3
"""The negative conditioning diffusers computes for NExT-GPT's calls (prompt_embeds given,
negative prompt left to its default "") for the three tiny decoders →
Tests/Fixtures/references/bundles/nextgpt/negatives.safetensors: `sd15` [1, 77, D]
(StableDiffusionPipeline.encode_prompt), `zeroscope` [1, 77, D] (TextToVideoSDPipeline.encode_prompt)
and `audioldm` [1, P] (AudioLDMPipeline._encode_prompt: tokenized to prompt_embeds.shape[1], then
F.normalize). Each pipeline is loaded from its committed fixture folder in float32 (the ZeroScope text
encoder's config says float16, which transformers 5 would otherwise load it in).

    tools/.venv/bin/python tools/references/bundle_decoder_negatives.py
"""
import os

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "nextgpt", "negatives.safetensors")


def main():
    import diffusers
    from diffusers import AudioLDMPipeline, StableDiffusionPipeline, TextToVideoSDPipeline
    from safetensors.torch import save_file
    fx = os.path.join(ROOT, "Tests", "Fixtures")
    out = {}
    with torch.no_grad():
        sd = StableDiffusionPipeline.from_pretrained(os.path.join(fx, "sd15"), torch_dtype=torch.float32, safety_checker=None,
                                                     requires_safety_checker=False)
        width = sd.text_encoder.config.hidden_size
        _, negative = sd.encode_prompt(None, "cpu", 1, True, prompt_embeds=torch.zeros(1, 77, width))
        out["sd15"] = negative
        from diffusers import AutoencoderKL, DDIMScheduler
        from transformers import CLIPTextModel, CLIPTokenizer
        zs_dir = os.path.join(fx, "zeroscope")
        zs = TextToVideoSDPipeline(vae=AutoencoderKL.from_pretrained(os.path.join(zs_dir, "vae")),
                                   text_encoder=CLIPTextModel.from_pretrained(os.path.join(zs_dir, "text_encoder"), dtype=torch.float32).eval(),
                                   tokenizer=CLIPTokenizer.from_pretrained(os.path.join(zs_dir, "tokenizer")), unet=None,
                                   scheduler=DDIMScheduler.from_pretrained(os.path.join(zs_dir, "scheduler")))
        width = zs.text_encoder.config.hidden_size
        _, negative = zs.encode_prompt(None, "cpu", 1, True, prompt_embeds=torch.zeros(1, 77, width))
        out["zeroscope"] = negative
        ad = AudioLDMPipeline.from_pretrained(os.path.join(fx, "audioldm"), torch_dtype=torch.float32)
        width = ad.text_encoder.config.projection_dim
        both = ad._encode_prompt(None, "cpu", 1, True, prompt_embeds=torch.zeros(1, width))
        out["audioldm"] = both[:1]
    save_file({k: v.contiguous().float() for k, v in out.items()}, OUT,
              metadata={"nextgpt.reference.generator": "tools/references/bundle_decoder_negatives.py",
                        "nextgpt.reference.diffusers": diffusers.__version__, "nextgpt.reference.torch": torch.__version__})
    print(OUT, {k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()
