#!/usr/bin/env python3
"""Reference bundles for whole Stable Diffusion runs (issue 5): diffusers' StableDiffusionPipeline
(txt2img) and StableDiffusionImg2ImgPipeline on the committed tiny SD 1.5 fixture, on CPU in
float32, for every scheduler the runtime offers, seeded with `torch.Generator("cpu")` or given
initial latents. Outputs are the float images in [0, 1] (`output_type="np"`, before the 8-bit
rounding of a PNG), held to PSNR ≥ 60 dB for an f32 container.

The pipeline runs the container's own (dequantized) weights, so a quantized container is compared
with diffusers running exactly the weights our runtime reads; the remaining error there is the
runtime's 8-bit activations, amplified by the sampling loop (reported, not a parity bar).

    /work/venv/bin/python tools/references/bundle_sd_pipeline.py --nextgpt .build/debug/nextgpt
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle, container_weights  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "sd")
FIXTURE = "Tests/Fixtures/sd15"
TYPES = ["f32", "q8_0", "q4_0"]
SCHEDULERS = {
    "pndm": "PNDMScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
}
PROMPT = "a photograph of an astronaut riding a horse"
NEGATIVE = "blurry, low quality"


def convert(nextgpt, qtype, out):
    subprocess.run([nextgpt, "convert", "--sd15", FIXTURE, "--type", qtype, "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def load_pipeline(container):
    import diffusers
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(os.path.join(ROOT, FIXTURE), torch_dtype=torch.float32,
                                                   safety_checker=None, requires_safety_checker=False)
    for name in ("unet", "vae", "text_encoder"):
        module = getattr(pipe, name)
        weights = container_weights(container, f"sd15.{name}")
        state = module.state_dict()
        # transformers 5's CLIPTextModel names its parameters without the checkpoint's `text_model.`.
        stored = {k: weights.get(k, weights.get(f"text_model.{k}")) for k in state}
        missing = [k for k, v in stored.items() if v is None and not k.endswith("position_ids")]
        assert not missing, f"{name}: container lacks {missing[:5]}"
        module.load_state_dict({k: v.reshape(state[k].shape) for k, v in stored.items() if v is not None}, strict=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe, diffusers


def with_scheduler(pipe, diffusers, name):
    cls = getattr(diffusers, SCHEDULERS[name])
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    return pipe


def txt2img(pipe, **kw):
    with torch.no_grad():
        return torch.from_numpy(pipe(output_type="np", **kw).images[0])


def make_bundle(nextgpt, qtype, tmp):
    container = os.path.join(tmp, f"sd15-{qtype}.gguf")
    convert(nextgpt, qtype, container)
    pipe, diffusers = load_pipeline(container)
    default_scheduler = pipe.scheduler
    b = Bundle()
    exact = qtype == "f32"
    # quantized: diffusers runs the same (dequantized) weights; the gap is the 8-bit activations
    tol = dict(rel_l2=1e-2, psnr=60) if exact else dict(rel_l2=0.1, psnr=30)
    cases = []
    for name in SCHEDULERS:
        cases.append((f"txt2img_{name}_seed", name, dict(steps=4, guidance_scale=7.5, height=16, width=16, seed=7), None))
    cases.append(("txt2img_pndm_nocfg_24x16", "pndm", dict(steps=4, guidance_scale=1.0, height=24, width=16, seed=3), None))
    cases.append(("txt2img_ddim_eta_odd", "ddim", dict(steps=4, guidance_scale=5.0, height=40, width=24, seed=11, eta=0.5), None))
    g = torch.Generator("cpu").manual_seed(1234)
    latents = torch.randn((1, 4, 8, 8), generator=g)
    cases.append(("txt2img_euler_latents", "euler", dict(steps=4, guidance_scale=7.5, height=16, width=16), latents))
    for probe, scheduler, args, given in cases:
        pipe.scheduler = default_scheduler
        if scheduler != "pndm":
            with_scheduler(pipe, diffusers, scheduler)
        kw = dict(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=args["steps"],
                  guidance_scale=args["guidance_scale"], height=args["height"], width=args["width"])
        if "eta" in args:
            kw["eta"] = args["eta"]
        if given is not None:
            kw["latents"] = given.clone()
        else:
            kw["generator"] = torch.Generator("cpu").manual_seed(args["seed"])
        image = txt2img(pipe, **kw)
        call_args = dict(prompt=PROMPT, negative_prompt=NEGATIVE, scheduler=scheduler, **args)
        inputs = {}
        if given is not None:
            inputs["latents"] = b.tensor(f"{probe}.latents", given)
        b.probe(probe, "sd15.unet", "txt2img", call_args, inputs, {"image": image}, **tol)
        if not exact and given is None and args["guidance_scale"] == 7.5:
            # the same run on the mapped weights (`nextgpt sd --no-repack`): f32 activations for large batches
            b.probe(f"{probe}_no_repack", "sd15.unet", "txt2img", dict(call_args, repack=False), inputs,
                    {"image": f"{probe}.image"}, **tol)
    # img2img: StableDiffusionImg2ImgPipeline over the same components, the init image given as a
    # tensor in [-1, 1] (what its VaeImageProcessor makes of a picture); strength 0.6 of 5 steps.
    from diffusers import StableDiffusionImg2ImgPipeline
    init = torch.rand((1, 3, 24, 16), generator=torch.Generator("cpu").manual_seed(5)) * 2 - 1
    for scheduler in ("pndm", "euler-a"):
        pipe.scheduler = default_scheduler
        if scheduler != "pndm":
            with_scheduler(pipe, diffusers, scheduler)
        img2img = StableDiffusionImg2ImgPipeline(**pipe.components)
        img2img.set_progress_bar_config(disable=True)
        args = dict(steps=5, guidance_scale=7.5, strength=0.6, seed=21)
        with torch.no_grad():
            image = torch.from_numpy(img2img(prompt=PROMPT, negative_prompt=NEGATIVE, image=init.clone(), strength=0.6,
                                             num_inference_steps=5, guidance_scale=7.5, output_type="np",
                                             generator=torch.Generator("cpu").manual_seed(21)).images[0])
        probe = f"img2img_{scheduler}"
        b.probe(probe, "sd15.unet", "txt2img", dict(prompt=PROMPT, negative_prompt=NEGATIVE, scheduler=scheduler, **args),
                {"init_image": init}, {"image": image}, **tol)
    pipe.scheduler = default_scheduler
    path = os.path.join(OUT, f"txt2img-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(["--sd15", FIXTURE, "--type", qtype]),
                  "nextgpt.reference.generator": "tools/references/bundle_sd_pipeline.py",
                  "nextgpt.reference.torch": torch.__version__,
                  "nextgpt.reference.diffusers": diffusers.__version__})
    return path


def make_prompt_embeds_bundle(nextgpt, tmp):
    """NExT-GPT's path into SD: `prompt_embeds=` (the image projector's output, zero-padded to 77
    tokens upstream) and optionally `negative_prompt_embeds=` instead of prompts; f32 only."""
    container = os.path.join(tmp, "sd15-f32-embeds.gguf")
    convert(nextgpt, "f32", container)
    pipe, diffusers = load_pipeline(container)
    width = pipe.text_encoder.config.hidden_size
    g = torch.Generator("cpu").manual_seed(77)
    given = torch.randn((1, 77, width), generator=g).half().float()
    padded = torch.cat([given[:, :4], torch.zeros(1, 73, width)], dim=1)
    negative = (0.5 * torch.randn((1, 77, width), generator=g)).half().float()
    b = Bundle()
    tol = dict(rel_l2=1e-2, psnr=60)
    cases = [("prompt_embeds", given, None, 7.5), ("prompt_embeds_padded", padded, None, 7.5),
             ("prompt_and_negative_embeds", given, negative, 7.5), ("prompt_embeds_nocfg", given, None, 1.0)]
    for probe, embeds, neg, cfg in cases:
        kw = dict(prompt_embeds=embeds.clone(), num_inference_steps=4, guidance_scale=cfg, height=16, width=16,
                  generator=torch.Generator("cpu").manual_seed(9))
        inputs = {"prompt_embeds": embeds.half()}
        if neg is not None:
            kw["negative_prompt_embeds"] = neg.clone()
            inputs["negative_prompt_embeds"] = neg.half()
        image = txt2img(pipe, **kw)
        b.probe(probe, "sd15.unet", "txt2img", dict(prompt="", steps=4, guidance_scale=cfg, height=16, width=16, seed=9),
                inputs, {"image": image}, **tol)
    path = os.path.join(OUT, "txt2img-prompt-embeds-f32.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(["--sd15", FIXTURE, "--type", "f32"]),
                  "nextgpt.reference.generator": "tools/references/bundle_sd_pipeline.py --prompt-embeds",
                  "nextgpt.reference.torch": torch.__version__,
                  "nextgpt.reference.diffusers": diffusers.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", required=True, help="path of the nextgpt binary (for convert)")
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--prompt-embeds", action="store_true", help="only the prompt_embeds bundle (NExT-GPT's path)")
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    if args.prompt_embeds:
        with tempfile.TemporaryDirectory() as tmp:
            print(make_prompt_embeds_bundle(os.path.abspath(args.nextgpt), tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for qtype in args.types.split(","):
            print(make_bundle(os.path.abspath(args.nextgpt), qtype, tmp))


if __name__ == "__main__":
    main()
