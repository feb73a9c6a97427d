#!/usr/bin/env python3
"""Measurements for tools/bench/bench_audioldm.sh: one run per process, one JSON line per run in LOG.

  audioldm_bench.py diffusers --log LOG FOLDER --seconds S --steps N [--threads T] [--npy OUT.npy]
      diffusers' AudioLDMPipeline, fp32 on the CPU, on the diffusers folder FOLDER: per-step times
      (UNet on the CFG batch + scheduler step, from the step callbacks), VAE decode, vocoder, peak RSS
  audioldm_bench.py ours --log LOG --type T --seconds S --stats STATS.json --wav OUT.wav -- NEXTGPT_AUDIO_COMMAND...
      runs `nextgpt audio ... --stats-json STATS.json` and records what it wrote
  audioldm_bench.py summarize LOG
      medians per (runtime, type, seconds) and the ratios to diffusers fp32; the waveforms of ours
      compared with diffusers' (same weights, seed and prompt)
"""

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import time

PROMPT = "A hammer is hitting a wooden surface"


def append(log, record):
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


def run_diffusers(args):
    import numpy as np
    import torch
    from diffusers import AudioLDMPipeline
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipe = AudioLDMPipeline.from_pretrained(args.folder, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    load_seconds = time.perf_counter() - started
    marks = {}
    def first_unet(module, inputs):
        marks.setdefault("first_unet", time.perf_counter())  # returns None: the inputs stay as they are

    pipe.unet.register_forward_pre_hook(first_unet)
    step_ends = []
    timed = {}

    def timing(name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            out = fn(*a, **kw)
            timed[name] = time.perf_counter() - t
            return out
        return wrapper

    pipe.vae.decode = timing("vae_decode", pipe.vae.decode)
    pipe.vocoder.forward = timing("vocoder", pipe.vocoder.forward)
    with torch.no_grad():
        t0 = time.perf_counter()
        audio = pipe(PROMPT, audio_length_in_s=args.seconds, num_inference_steps=args.steps, guidance_scale=2.5,
                     generator=torch.Generator("cpu").manual_seed(0),
                     callback=lambda i, t, latents: step_ends.append(time.perf_counter()), callback_steps=1).audios[0]
        total = time.perf_counter() - t0
    starts = [marks["first_unet"]] + step_ends[:-1]
    steps = [e - s for s, e in zip(starts, step_ends)]
    if args.npy:
        np.save(args.npy, audio.astype(np.float32))
    append(args.log, {"runtime": "diffusers", "type": "f32", "seconds": args.seconds, "steps": args.steps,
                      "step_seconds": steps, "vae_decode_seconds": timed.get("vae_decode"),
                      "vocoder_seconds": timed.get("vocoder"), "total_seconds": total, "load_seconds": load_seconds,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "samples": int(audio.shape[-1]), "waveform": args.npy})


def run_ours(args):
    command = args.command[1:] if args.command and args.command[0] == "--" else args.command
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise SystemExit(f"ours failed: {' '.join(command)}")
    sys.stderr.write(done.stderr.splitlines()[-1] + "\n")
    stats = json.load(open(args.stats))
    append(args.log, {"runtime": "ours", "type": args.type, "seconds": args.seconds, "steps": len(stats["step_seconds"]),
                      "step_seconds": stats["step_seconds"], "vae_decode_seconds": stats["vae_decode_seconds"],
                      "vocoder_seconds": stats["vocoder_seconds"], "total_seconds": stats["total_seconds"],
                      "wall_seconds": wall, "peak_rss_bytes": stats["peak_rss_bytes"], "samples": stats["samples"],
                      "waveform": args.wav})


def read_float_wav(path):
    """The samples of a mono 32-bit float WAV (what `nextgpt audio --format float` writes)."""
    import numpy as np
    data = open(path, "rb").read()
    offset = 12
    while offset + 8 <= len(data):
        tag, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        if tag == b"data":
            return np.frombuffer(data[offset + 8:offset + 8 + size], dtype="<f4")
        offset += 8 + size + (size & 1)
    raise ValueError(f"{path}: no data chunk")


def summarize(args):
    import numpy as np
    rows = [json.loads(line) for line in open(args.log) if line.strip()]
    groups = {}
    for r in rows:
        groups.setdefault((r["seconds"], r["runtime"], r["type"]), []).append(r)

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else float("nan")

    print(f"{'audio':>6} {'runtime':<10} {'type':<5} {'runs':>4} {'s/step':>8} {'×diffusers':>10} {'VAE s':>7} "
          f"{'vocoder s':>9} {'voc ×RT':>8} {'peak RSS':>9} {'×diffusers':>10} {'rel L2 vs diffusers':>20}")
    for seconds in sorted({k[0] for k in groups}):
        base = groups.get((seconds, "diffusers", "f32"), [])
        base_step = median([median(r["step_seconds"]) for r in base])
        base_rss = median([r["peak_rss_bytes"] for r in base])
        reference = None
        if base and base[0].get("waveform") and os.path.exists(base[0]["waveform"]):
            reference = np.load(base[0]["waveform"]).reshape(-1)
        for (s, runtime, kind), runs in sorted(groups.items(), key=lambda kv: (kv[0][1] != "diffusers", kv[0][2])):
            if s != seconds:
                continue
            step = median([median(r["step_seconds"]) for r in runs])
            rss = median([r["peak_rss_bytes"] for r in runs])
            vocoder = median([r["vocoder_seconds"] for r in runs])
            error = ""
            if runtime == "ours" and reference is not None and runs[0].get("waveform") and os.path.exists(runs[0]["waveform"]):
                ours = read_float_wav(runs[0]["waveform"])
                n = min(len(ours), len(reference))
                error = f"{np.linalg.norm(ours[:n] - reference[:n]) / max(np.linalg.norm(reference[:n]), 1e-30):.2e}"
            print(f"{seconds:>5}s {runtime:<10} {kind:<5} {len(runs):>4} {step:>8.2f} {step / base_step:>10.2f} "
                  f"{median([r['vae_decode_seconds'] for r in runs]):>7.2f} {vocoder:>9.2f} {seconds / vocoder:>8.1f} "
                  f"{rss / 2**30:>7.2f}Gi {rss / base_rss:>10.2f} {error:>20}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    d = sub.add_parser("diffusers")
    d.add_argument("folder")
    d.add_argument("--log", required=True)
    d.add_argument("--seconds", type=float, required=True)
    d.add_argument("--steps", type=int, required=True)
    d.add_argument("--threads", type=int, default=os.cpu_count())
    d.add_argument("--npy")
    o = sub.add_parser("ours")
    o.add_argument("--log", required=True)
    o.add_argument("--type", required=True)
    o.add_argument("--seconds", type=float, required=True)
    o.add_argument("--stats", required=True)
    o.add_argument("--wav")
    o.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("summarize")
    s.add_argument("log")
    args = ap.parse_args()
    {"diffusers": run_diffusers, "ours": run_ours, "summarize": summarize}[args.mode](args)


if __name__ == "__main__":
    main()
