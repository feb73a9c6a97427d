#!/usr/bin/env python3
"""stable-diffusion.cpp (through stable-diffusion-cpp-python, built from source) on one SD 1.x
checkpoint: one txt2img run, timed per phase; prints one JSON line.

    PYTHON tools/bench/sdcpp_sd_bench.py -m out/bench/sd15-full/sd15-full.safetensors \
        [--wtype f16|q8_0|q4_0|default] [--size 256] [--steps 3] [--threads 2] [--flash-attn] \
        [--sample-method euler] [--cfg 7.5] [--seed 0] [-o out.png] [--log sdcpp.log]

- Loading converts the file's weights to --wtype in memory (`default`: as stored). stable-diffusion.cpp
  quantizes only tensors whose innermost dimension is a multiple of the block (32), and never biases,
  embeddings or `time_embed.`: 3x3 and 1x1 convolutions (ggml kernel [kw, kh, in, out]) stay as stored,
  so its q8_0 is the counterpart of our q8_0 with convolutions left f16.
- Sampler: stable-diffusion.cpp has no PNDM (diffusers' SD 1.5 default). `euler` (default here) and `ipndm`
  evaluate the UNet once per step with classifier-free guidance, i.e. 2 UNet evaluations (cond, uncond),
  as PNDM's PLMS steps do, so seconds per step compare.
- step_seconds come from the progress callback (it reports the running mean since sampling began, so
  step k took k*mean_k - (k-1)*mean_(k-1)); text encoding, sampling and VAE decode times are the
  library's own log lines ("get_learned_condition / sampling / decode_first_stage completed, taking Xs").
- peak_rss_bytes is this process's maximum resident set (getrusage), Python interpreter included.
"""

import argparse
import io
import json
import os
import re
import resource
import sys
import time


class Tee(io.TextIOBase):
    """Keeps what the library logs (its log callback prints to sys.stderr) while still showing it."""

    def __init__(self, stream, keep):
        self.stream, self.keep = stream, keep

    def write(self, text):
        self.keep.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def phase_seconds(log, phase):
    found = re.findall(re.escape(phase) + r" completed, taking ([0-9.]+)\s*(m?s)", log)
    if not found:
        return None
    value, unit = found[-1]
    return float(value) / (1000 if unit == "ms" else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", required=True, help="SD 1.x single file (.safetensors/.ckpt/.gguf) or diffusers folder")
    ap.add_argument("--wtype", default="default")
    ap.add_argument("--size", type=int, default=256, help="width = height in pixels")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cfg", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-method", default="euler")
    ap.add_argument("--flash-attn", action="store_true", help="flash attention in the UNet (ggml_flash_attn_ext)")
    ap.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    ap.add_argument("--negative", default="")
    ap.add_argument("-o", "--output", help="write the image here")
    ap.add_argument("--log", help="write the library's log here")
    args = ap.parse_args()

    # The library prints progress bars to stdout: send fd 1 to stderr, keep the real stdout for the JSON line.
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    captured = []
    sys.stderr = Tee(sys.stderr, captured)
    from stable_diffusion_cpp import StableDiffusion

    t0 = time.perf_counter()
    sd = StableDiffusion(model_path=args.model, n_threads=args.threads, wtype=args.wtype,
                         diffusion_flash_attn=args.flash_attn, vae_decode_only=True, verbose=True)
    load_seconds = time.perf_counter() - t0

    means = {}

    def on_progress(step, steps, mean_seconds):
        if steps == args.steps and step > 0:
            means[step] = mean_seconds

    t1 = time.perf_counter()
    images = sd.generate_image(prompt=args.prompt, negative_prompt=args.negative, width=args.size, height=args.size,
                               cfg_scale=args.cfg, sample_method=args.sample_method, sample_steps=args.steps,
                               seed=args.seed, progress_callback=on_progress)
    generate_seconds = time.perf_counter() - t1
    sys.stderr.flush()
    sys.stderr = sys.stderr.stream
    log = "".join(captured)
    if args.log:
        with open(args.log, "w") as f:
            f.write(log)
    if args.output and images:
        images[0].save(args.output)

    step_seconds = [k * means[k] - (k - 1) * means.get(k - 1, 0.0) for k in sorted(means)]
    pixels = list(images[0].convert("RGB").tobytes()) if images else []
    result = {
        "runtime": "sd.cpp" + ("+fa" if args.flash_attn else ""), "type": args.wtype, "size": args.size,
        "steps": args.steps, "threads": args.threads, "sample_method": args.sample_method,
        "step_seconds": step_seconds,
        "text_encode_seconds": phase_seconds(log, "get_learned_condition"),
        "sampling_seconds": phase_seconds(log, "sampling"),
        "vae_decode_seconds": phase_seconds(log, "decode_first_stage"),
        "load_seconds": load_seconds, "generate_seconds": generate_seconds,
        "unet_evaluations": 2 * args.steps if args.cfg != 1 else args.steps,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "image_mean": sum(pixels) / len(pixels) if pixels else None,
    }
    print(json.dumps(result), file=result_out, flush=True)


if __name__ == "__main__":
    main()
