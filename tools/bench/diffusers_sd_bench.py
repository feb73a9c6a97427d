#!/usr/bin/env python3
"""diffusers StableDiffusionPipeline, fp32 on CPU: one txt2img run timed per phase; prints one JSON line.

    PYTHON tools/bench/diffusers_sd_bench.py out/bench/sd15-full/diffusers [--size 256] [--steps 3] \
        [--threads 2] [--cfg 7.5] [--seed 0] [--scheduler pndm|euler|ddim] [-o out.png]

- step_seconds: wall time between successive `callback_on_step_end` calls (the first from the start of
  the denoising loop, taken at the first UNet forward pre-hook); with classifier-free guidance each step is
  one UNet forward on a batch of 2 (uncond, cond), i.e. 2 UNet evaluations. PNDM (the SD 1.5 config)
  with skip_prk_steps runs steps+1 loop iterations (its first timestep twice); every iteration is listed.
- text_encode_seconds: `encode_prompt` (prompt and negative prompt).
- vae_decode_seconds: the pipeline runs with output_type="latent"; the latents are then decoded by
  `vae.decode` alone, timed, as the pipeline itself would (latents / scaling_factor).
- peak_rss_bytes: this process's maximum resident set (getrusage), Python and torch included.
"""

import argparse
import json
import resource
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="diffusers folder")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cfg", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scheduler", default="pndm", choices=["pndm", "euler", "ddim"])
    ap.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    ap.add_argument("--negative", default="")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    from diffusers import DDIMScheduler, EulerDiscreteScheduler, StableDiffusionPipeline

    t0 = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    if args.scheduler == "euler":
        pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    elif args.scheduler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    load_seconds = time.perf_counter() - t0

    marks = []  # time of the first UNet forward, then of each step's end
    unet_calls = [0]

    def before_unet(module, inputs):
        unet_calls[0] += 1
        if not marks:
            marks.append(time.perf_counter())

    def on_step_end(pipeline, i, t, kwargs):
        marks.append(time.perf_counter())
        return kwargs

    pipe.unet.register_forward_pre_hook(before_unet)
    text_seconds = [0.0]
    encode_prompt = pipe.encode_prompt

    def timed_encode_prompt(*a, **k):
        start = time.perf_counter()
        out = encode_prompt(*a, **k)
        text_seconds[0] += time.perf_counter() - start
        return out

    pipe.encode_prompt = timed_encode_prompt

    with torch.inference_mode():
        t1 = time.perf_counter()
        latents = pipe(args.prompt, negative_prompt=args.negative or None, num_inference_steps=args.steps,
                       height=args.size, width=args.size, guidance_scale=args.cfg,
                       generator=torch.Generator().manual_seed(args.seed), output_type="latent",
                       callback_on_step_end=on_step_end).images
        sampling_end = time.perf_counter()
        t2 = time.perf_counter()
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
        vae_seconds = time.perf_counter() - t2
    generate_seconds = time.perf_counter() - t1
    image = (image / 2 + 0.5).clamp(0, 1)
    if args.output:
        pipe.image_processor.numpy_to_pil(pipe.image_processor.pt_to_numpy(image))[0].save(args.output)

    step_seconds = [b - a for a, b in zip(marks, marks[1:])]
    result = {
        "runtime": "diffusers", "type": "f32", "size": args.size, "steps": args.steps, "threads": args.threads,
        "sample_method": args.scheduler, "step_seconds": step_seconds,
        "text_encode_seconds": text_seconds[0],
        "sampling_seconds": sampling_end - marks[0] if marks else None,
        "vae_decode_seconds": vae_seconds, "load_seconds": load_seconds, "generate_seconds": generate_seconds,
        "unet_evaluations": unet_calls[0] * (2 if args.cfg > 1 else 1),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "latents_std": latents.float().std().item(), "finite": bool(torch.isfinite(latents).all()),
        "image_mean": image.mean().item() * 255,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
