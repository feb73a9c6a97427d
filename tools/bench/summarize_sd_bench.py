#!/usr/bin/env python3
"""Table of tools/bench/bench_sd.sh's runs (out/bench/bench_sd.jsonl).

Per size, runtime and type: seconds per denoising step (median of the listed steps; each step is 2 UNet
evaluations, classifier-free guidance), text encoding and VAE decode seconds, peak RSS (the larger of
what /usr/bin/time and the process itself saw). The best of repeated runs is kept.

Ratios: peer time / our time (above 1: we are faster), and our RSS / peer RSS (below 1: we use less).
`vs sd.cpp` compares with stable-diffusion.cpp at the matching weight type (f16 with f16, q8_0 and
q8_0-convf16 with its q8_0, which keeps convolutions f16 anyway, q4_0 with q4_0), without flash attention
unless only the flash-attention run is there.
"""

import json
import statistics
import sys

SDCPP_TYPE = {"f16": "f16", "q8_0": "q8_0", "q8_0-convf16": "q8_0", "q4_0": "q4_0", "q4_K": "q4_K"}


def load(path):
    best = {}
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        steps = r.get("step_seconds") or []
        row = {
            "step": statistics.median(steps) if steps else None,
            "text": r.get("text_encode_seconds"),
            "vae": r.get("vae_decode_seconds"),
            "rss": max([v for v in (r.get("peak_rss_bytes"), r.get("time_peak_rss_bytes")) if v] or [0]) / 1e9 or None,
            "evals": r.get("unet_evaluations"),
            # the VAE decode's own peak (ours: `nextgpt sd --stats-json`; -1 when unknown)
            "vae_rss": (r.get("vae_decode_peak_rss_bytes") or 0) / 1e9 if (r.get("vae_decode_peak_rss_bytes") or 0) > 0 else None,
        }
        key = (r["size"], r["runtime"], r["type"])
        old = best.get(key)
        if old is None:
            best[key] = row
        else:  # best of rounds, metric by metric
            best[key] = {k: min([v for v in (old[k], row[k]) if v is not None], default=None) for k in row}
    return best


def fmt(v, width=7, digits=2):
    return f"{v:{width}.{digits}f}" if isinstance(v, (int, float)) else " " * (width - 1) + "-"


def ratio(peer, ours):
    return peer / ours if peer and ours else None


def main():
    best = load(sys.argv[1] if len(sys.argv) > 1 else "out/bench/bench_sd.jsonl")
    sizes = sorted({k[0] for k in best})
    order = {"diffusers": 0, "sd.cpp": 1, "sd.cpp+fa": 2, "ours": 3}
    print("s/step: seconds per denoising step (2 UNet evaluations, CFG); text/VAE: seconds; RSS: GB (VAE RSS: the decode's own peak)")
    print("ratios: peer seconds / our seconds (>1: ours faster), RSS: ours / peer (<1: ours smaller)")
    header = (f"{'size':>5} {'runtime':10} {'type':13} {'s/step':>7} {'text':>7} {'VAE':>7} {'RSS':>6} {'VAE RSS':>7} "
              f"{'step÷diff':>9} {'VAE÷diff':>9} {'RSS÷diff':>9} {'step÷sdc':>9} {'VAE÷sdc':>9} {'RSS÷sdc':>9}")
    print(header)
    for size in sizes:
        keys = sorted((k for k in best if k[0] == size), key=lambda k: (order.get(k[1], 9), k[2]))
        diff = best.get((size, "diffusers", "f32"), {})
        for key in keys:
            _, runtime, type_ = key
            r = best[key]
            line = (f"{size:>5} {runtime:10} {type_:13} {fmt(r['step'])} {fmt(r['text'])} {fmt(r['vae'])} {fmt(r['rss'], 6)}"
                    f" {fmt(r['vae_rss'])}")
            if runtime == "ours":
                peer_type = SDCPP_TYPE.get(type_, type_)
                sdc = best.get((size, "sd.cpp", peer_type)) or best.get((size, "sd.cpp+fa", peer_type)) or {}
                line += (f" {fmt(ratio(diff.get('step'), r['step']), 9)} {fmt(ratio(diff.get('vae'), r['vae']), 9)}"
                         f" {fmt(ratio(r['rss'], diff.get('rss')), 9)}"
                         f" {fmt(ratio(sdc.get('step'), r['step']), 9)} {fmt(ratio(sdc.get('vae'), r['vae']), 9)}"
                         f" {fmt(ratio(r['rss'], sdc.get('rss')), 9)}")
            elif runtime.startswith("sd.cpp"):
                # the peer against the other peer, for orientation
                line += (f" {fmt(ratio(diff.get('step'), r['step']), 9)} {fmt(ratio(diff.get('vae'), r['vae']), 9)}"
                         f" {fmt(ratio(r['rss'], diff.get('rss')), 9)}")
            print(line)


if __name__ == "__main__":
    main()
