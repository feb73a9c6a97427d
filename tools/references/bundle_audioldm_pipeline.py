#!/usr/bin/env python3
"""Reference bundles for whole AudioLDM runs (issue 12 §3, §6 `txt2audio`): diffusers'
AudioLDMPipeline on the committed tiny Tests/Fixtures/audioldm pipeline, on CPU in float32, seeded
with `torch.Generator("cpu")` or given initial latents, for the stored DDIM scheduler and others
swapped in by `XScheduler.from_config`. Outputs are the waveforms (`audios[0]`, cut to
`int(audio_length_in_s · sampling_rate)` samples), held to rel L2 1e-3 for an f32 container.

The pipeline runs the container's own (dequantized) weights, so a quantized container is compared
with diffusers running exactly the weights our runtime reads; the remaining error there is the
runtime's 8-bit activations, amplified by the sampling loop (reported, not a parity bar).

    tools/.venv/bin/python tools/references/bundle_audioldm_pipeline.py --nextgpt .build/debug/nextgpt
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle, load_container_weights  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "audioldm")
FIXTURE = "Tests/Fixtures/audioldm"
TYPES = ["f32", "q8_0"]
SCHEDULERS = {
    "pndm": "PNDMScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
}
PROMPT = "A hammer is hitting a wooden surface"
NEGATIVE = "low quality, noise"
LONG_NEGATIVE = ("muffled, distorted, clipping, hum, hiss, crackle, static, low quality, noise, reverb, echo, "
                 "wind, traffic, people talking in the background, music, silence, dropouts")
COMPONENT = "audioldm.unet"


def convert(nextgpt, qtype, out):
    subprocess.run([nextgpt, "convert", "--audioldm", FIXTURE, "--type", qtype, "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def load_pipeline(container):
    import diffusers
    from diffusers import AudioLDMPipeline
    pipe = AudioLDMPipeline.from_pretrained(os.path.join(ROOT, FIXTURE), torch_dtype=torch.float32)
    for name in ("unet", "vae", "text_encoder", "vocoder"):
        module = getattr(pipe, name)
        loaded, missing = load_container_weights(module, container, f"audioldm.{name}")
        missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
        assert loaded and not missing, f"{name}: container lacks {missing[:5]}"
    pipe.set_progress_bar_config(disable=True)
    return pipe, diffusers


def txt2audio(pipe, **kw):
    with torch.no_grad():
        return torch.from_numpy(pipe(output_type="np", **kw).audios[0])


def empty_negative(pipe):
    """What NExT-GPT passes as `negative_prompt_embeds` (and convert stores): normalize(E_clap(""))
    with the pipeline's own tokenization of the negative (max_length = the embedding width)."""
    tok = pipe.tokenizer([""], padding="max_length", max_length=pipe.text_encoder.config.projection_dim,
                         truncation=True, return_tensors="pt")
    with torch.no_grad():
        return F.normalize(pipe.text_encoder(tok.input_ids, attention_mask=tok.attention_mask).text_embeds, dim=-1)


def make_bundle(nextgpt, qtype, tmp):
    container = os.path.join(tmp, f"audioldm-{qtype}.gguf")
    convert(nextgpt, qtype, container)
    pipe, diffusers = load_pipeline(container)
    default_scheduler = pipe.scheduler
    b = Bundle()
    exact = qtype == "f32"
    tol = dict(rel_l2=1e-3) if exact else dict(rel_l2=1e-2)
    width = pipe.text_encoder.config.projection_dim
    channels = pipe.unet.config.in_channels
    bins = pipe.vocoder.config.model_in_dim // pipe.vae_scale_factor
    g = torch.Generator("cpu").manual_seed(1234)
    latents = torch.randn((1, channels, 8, bins), generator=g)
    # NExT-GPT's projector output: un-normalised, fp16-representable
    embeds = (torch.randn((1, width), generator=g) * 0.3).half().float()
    negative = empty_negative(pipe)
    base = dict(prompt=PROMPT, negative_prompt="", steps=4, guidance_scale=2.5, seed=7)
    cases = [
        ("txt2audio_seed", "ddim", dict(base), {}),
        ("txt2audio_negative", "ddim", dict(base, negative_prompt=NEGATIVE, seed=3), {}),
        # longer than the embedding width in tokens: diffusers truncates the negative there
        ("txt2audio_long_negative", "ddim", dict(base, negative_prompt=LONG_NEGATIVE, seed=8), {}),
        ("txt2audio_latents", "ddim", dict(base, seed=0), {"latents": latents}),
        ("txt2audio_prompt_embeds", "ddim", dict(base, prompt="", seed=9),
         {"prompt_embeds": embeds, "negative_prompt_embeds": negative}),
        ("txt2audio_prompt_embeds_encoded_negative", "ddim", dict(base, prompt="", seed=9), {"prompt_embeds": embeds}),
        ("txt2audio_length_0.13", "ddim", dict(base, audio_length_in_s=0.13, seed=5), {}),
        ("txt2audio_length_0.3", "ddim", dict(base, audio_length_in_s=0.3, seed=6), {}),
        ("txt2audio_nocfg", "ddim", dict(base, guidance_scale=1.0, seed=4), {}),
        ("txt2audio_ddim_eta", "ddim", dict(base, eta=0.7, seed=11), {}),
        ("txt2audio_pndm", "pndm", dict(base, steps=5, seed=12), {}),
        ("txt2audio_euler", "euler", dict(base, seed=13), {}),
        ("txt2audio_euler_a", "euler-a", dict(base, seed=14), {}),
    ]
    for probe, scheduler, args, given in cases:
        pipe.scheduler = default_scheduler
        if scheduler != "ddim":
            pipe.scheduler = getattr(diffusers, SCHEDULERS[scheduler]).from_config(default_scheduler.config)
        kw = dict(num_inference_steps=args["steps"], guidance_scale=args["guidance_scale"])
        if "prompt_embeds" in given:
            kw["prompt_embeds"] = given["prompt_embeds"].clone()
            if "negative_prompt_embeds" in given:
                kw["negative_prompt_embeds"] = given["negative_prompt_embeds"].clone()
        else:
            kw["prompt"] = args["prompt"]
            kw["negative_prompt"] = args["negative_prompt"] or None
        for key in ("audio_length_in_s", "eta"):
            if key in args:
                kw[key] = args[key]
        if "latents" in given:
            kw["latents"] = given["latents"].clone()
        else:
            kw["generator"] = torch.Generator("cpu").manual_seed(args["seed"])
        waveform = txt2audio(pipe, **kw)
        call_args = dict(args, scheduler=scheduler)
        if "latents" in given:
            call_args.pop("seed")
        b.probe(probe, COMPONENT, "txt2audio", call_args, dict(given), {"waveform": waveform}, **tol)
        if not exact and probe == "txt2audio_seed":
            # the same run on the mapped weights (`nextgpt audio --no-repack`)
            b.probe(f"{probe}_no_repack", COMPONENT, "txt2audio", dict(call_args, repack=False), {},
                    {"waveform": f"{probe}.waveform"}, **tol)
    pipe.scheduler = default_scheduler
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"txt2audio-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(["--audioldm", FIXTURE, "--type", qtype]),
                  "nextgpt.reference.generator": "tools/references/bundle_audioldm_pipeline.py",
                  "nextgpt.reference.torch": torch.__version__,
                  "nextgpt.reference.diffusers": diffusers.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--types", default=",".join(TYPES))
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for qtype in args.types.split(","):
            print(make_bundle(os.path.abspath(args.nextgpt), qtype, tmp))


if __name__ == "__main__":
    main()
