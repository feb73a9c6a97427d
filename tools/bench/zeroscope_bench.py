#!/usr/bin/env python3
"""Measurements for tools/bench/bench_zeroscope.sh: one run per process, one JSON line per run in LOG.

  zeroscope_bench.py diffusers FOLDER --log LOG --round R --frames F -H H -W W --steps N [--threads T] [--npy OUT.npy]
      diffusers' TextToVideoSDPipeline, every component fp32 on the CPU, on the diffusers folder FOLDER:
      per-step times (UNet3D on the CFG batch + DDIM step, from the step callbacks), VAE decode (diffusers
      decodes all frames in one batch), peak RSS; the frames [F, H, W, 3] in [0, 1] saved to OUT.npy
  zeroscope_bench.py ours --log LOG --round R --type T --frames F -H H -W W --stats STATS.json
                     [--frames-dir DIR] -- NEXTGPT_VIDEO_COMMAND...
      runs `nextgpt video ... --stats-json STATS.json` and records what it wrote
  zeroscope_bench.py summarize LOG
      per (size, runtime, type): medians over rounds of s/step, VAE decode per frame and peak RSS, the
      ratios to diffusers fp32 of the same round (median and min–max), CPU seconds of the run (user + sys;
      ours: the whole process, load included; diffusers: the pipeline call, load excluded) — the figure
      to trust on a loaded machine — and ours' frames against diffusers' (PSNR over 8-bit frames)
"""

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import time

PROMPT = "a panda playing the guitar on a beach, sunset"


def append(log, record):
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


def load_pipeline(folder):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer
    # Component by component: transformers 5 would load the text encoder in its config's float16.
    pipe = TextToVideoSDPipeline(
        vae=AutoencoderKL.from_pretrained(os.path.join(folder, "vae"), torch_dtype=torch.float32).eval(),
        text_encoder=CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder"), dtype=torch.float32).eval(),
        tokenizer=CLIPTokenizer.from_pretrained(os.path.join(folder, "tokenizer")),
        unet=UNet3DConditionModel.from_pretrained(os.path.join(folder, "unet"), torch_dtype=torch.float32).eval(),
        scheduler=DDIMScheduler.from_pretrained(os.path.join(folder, "scheduler")))
    for name in ("unet", "vae", "text_encoder"):
        assert all(p.dtype == torch.float32 for p in getattr(pipe, name).parameters()), name
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_diffusers(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipe = load_pipeline(args.folder)
    load_seconds = time.perf_counter() - started
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    marks = {}

    def first_unet(module, inputs):
        marks.setdefault("first_unet", time.perf_counter())  # returns None: the inputs stay as they are
        marks.setdefault("first_unet_cpu", time.process_time())

    pipe.unet.register_forward_pre_hook(first_unet)
    step_ends, step_cpu = [], []
    timed = {}

    def timing(name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            out = fn(*a, **kw)
            timed[name] = timed.get(name, 0.0) + time.perf_counter() - t
            return out
        return wrapper

    pipe.vae.decode = timing("vae_decode", pipe.vae.decode)
    pipe.encode_prompt = timing("text_encode", pipe.encode_prompt)
    with torch.no_grad():
        t0, cpu0 = time.perf_counter(), time.process_time()
        frames = pipe(PROMPT, num_frames=args.frames, height=args.height, width=args.width,
                      num_inference_steps=args.steps, guidance_scale=7.5, output_type="np",
                      generator=torch.Generator("cpu").manual_seed(0),
                      callback=lambda i, t, latents: (step_ends.append(time.perf_counter()), step_cpu.append(time.process_time())),
                      callback_steps=1).frames[0]
        total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    starts = [marks["first_unet"]] + step_ends[:-1]
    if args.npy:
        np.save(args.npy, np.asarray(frames, dtype=np.float32))
    append(args.log, {"runtime": "diffusers", "type": "f32", "round": args.round, "frames": args.frames,
                      "height": args.height, "width": args.width, "steps": args.steps,
                      "step_seconds": [e - s for s, e in zip(starts, step_ends)],
                      "vae_decode_seconds": timed.get("vae_decode"), "text_encode_seconds": timed.get("text_encode"),
                      "total_seconds": total, "cpu_seconds": cpu, "step_cpu_seconds": [b - a for a, b in zip([marks["first_unet_cpu"]] + step_cpu, step_cpu)],
                      "load_seconds": load_seconds, "rss_after_load_bytes": rss_after_load,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "output": args.npy})


def run_ours(args):
    command = args.command[1:] if args.command and args.command[0] == "--" else args.command
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise SystemExit(f"ours failed: {' '.join(command)}")
    sys.stderr.write(done.stderr.splitlines()[-1] + "\n")
    stats = json.load(open(args.stats))
    append(args.log, {"runtime": "ours", "type": args.type, "round": args.round, "frames": args.frames,
                      "height": args.height, "width": args.width, "steps": len(stats["step_seconds"]),
                      "step_seconds": stats["step_seconds"], "vae_decode_seconds": stats["vae_decode_seconds"],
                      "text_encode_seconds": stats["text_encode_seconds"], "total_seconds": stats["total_seconds"],
                      "wall_seconds": wall, "cpu_seconds": children.ru_utime + children.ru_stime, "peak_rss_bytes": stats["peak_rss_bytes"], "output": args.frames_dir})


def psnr_vs(reference_npy, frames_dir):
    """PSNR (dB) of our PNG frames against diffusers' frames cut to 8 bits the same way (round(x·255))."""
    import numpy as np
    from PIL import Image
    reference = np.round(np.clip(np.load(reference_npy), 0, 1) * 255)
    paths = sorted(glob.glob(os.path.join(frames_dir, "*.png")))
    if len(paths) != len(reference):
        return None
    ours = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) for p in paths])
    mse = float(np.mean((ours - reference) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def summarize(args):
    rows = [json.loads(line) for line in open(args.log) if line.strip()]
    groups = {}
    for r in rows:
        groups.setdefault(((r["frames"], r["height"], r["width"]), r["runtime"], r["type"]), []).append(r)

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float("nan")

    def step(r):
        return median(r["step_seconds"])

    def ratios(runs, base, key):
        by_round = {b["round"]: key(b) for b in base}
        values = [key(r) / by_round[r["round"]] for r in runs if r["round"] in by_round]
        if not values:
            return "—"
        return f"{median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

    print(f"| size (F×H×W) | runtime | type | runs | s/step | step ×diffusers (min–max) | VAE s/frame | "
          f"peak RSS GiB | RSS ×diffusers (min–max) | CPU s/run | CPU ×diffusers | PSNR vs diffusers dB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sorted({k[0] for k in groups}):
        base = groups.get((size, "diffusers", "f32"), [])
        reference = next((b["output"] for b in base if b.get("output") and os.path.exists(b["output"])), None)
        for (s, runtime, kind), runs in sorted(groups.items(), key=lambda kv: (kv[0][1] != "diffusers", kv[0][2])):
            if s != size:
                continue
            frames = size[0]
            psnr = ""
            if runtime == "ours" and reference and runs[0].get("output") and os.path.isdir(runs[0]["output"]):
                value = psnr_vs(reference, runs[0]["output"])
                psnr = "—" if value is None else f"{value:.1f}"
            vae = median([r["vae_decode_seconds"] / frames for r in runs if r["vae_decode_seconds"] is not None])
            rss = median([r["peak_rss_bytes"] for r in runs])
            print(f"| {size[0]}×{size[1]}×{size[2]} | {runtime} | {kind} | {len(runs)} | {median([step(r) for r in runs]):.2f} | "
                  f"{ratios(runs, base, step)} | {vae:.2f} | {rss / 2**30:.2f} | "
                  f"{ratios(runs, base, lambda r: r['peak_rss_bytes'])} | {median([r.get('cpu_seconds') for r in runs]):.0f} | "
                  f"{ratios([r for r in runs if r.get('cpu_seconds')], [b for b in base if b.get('cpu_seconds')], lambda r: r['cpu_seconds'])} | "
                  f"{psnr} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)

    def size_args(p):
        p.add_argument("--log", required=True)
        p.add_argument("--round", type=int, default=1)
        p.add_argument("--frames", type=int, required=True)
        p.add_argument("-H", "--height", type=int, required=True)
        p.add_argument("-W", "--width", type=int, required=True)

    d = sub.add_parser("diffusers")
    d.add_argument("folder")
    size_args(d)
    d.add_argument("--steps", type=int, required=True)
    d.add_argument("--threads", type=int, default=os.cpu_count())
    d.add_argument("--npy")
    o = sub.add_parser("ours")
    size_args(o)
    o.add_argument("--type", required=True)
    o.add_argument("--stats", required=True)
    o.add_argument("--frames-dir")
    o.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("summarize")
    s.add_argument("log")
    args = ap.parse_args()
    {"diffusers": run_diffusers, "ours": run_ours, "summarize": summarize}[args.mode](args)


if __name__ == "__main__":
    main()
