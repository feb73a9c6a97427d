#!/usr/bin/env python3
"""The PyTorch side of tools/bench/bench_imagebind.sh (ImageBind-huge, issue 11 §6).

  inputs OUT.safetensors [--seed 0]
      seeded inputs, already pre-processed: `image` [1,3,224,224], `audio` [1,3,1,128,204] (3 clips),
      `video` [1,15,3,2,224,224] (5 clips × 3 crops); both sides read the same values.
  run --weights imagebind_huge.pth --inputs FILE --input NAME --modality vision|audio [--warmup 1]
      [--repeat 1] [--threads 2] [--out EMBEDDING.safetensors]
      one measurement in this process: the model built and loaded as `imagebind_huge(pretrained=True)`
      does (ImageBindModel(**config.json beside the weights), load_state_dict(torch.load(...))), fp32,
      torch.set_num_threads, inference_mode, warm-up calls, then timed calls of the modality alone;
      prints one JSON line like `nextgpt-bench imagebind` (load seconds, per-call seconds, peak RSS).
  summarize LOG.jsonl --embeddings DIR
      the table: medians over rounds of each implementation's seconds per medium, peak RSS, load
      time, cosines of DIR/IMPL-MEDIUM.safetensors against DIR/torch-MEDIUM.safetensors, ratios.
  cosine A.safetensors B.safetensors
      cosine of the `embedding` rows of two files (one number per row, then their minimum).

The embedding is `ImageBindModel.forward({modality: x})[modality]`: unit length for vision; audio is
upstream's ×20 (logit scale) there, which no cosine sees.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))


def current_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def make_inputs(args):
    g = torch.Generator().manual_seed(args.seed)
    tensors = {
        # Roughly the ranges the pre-processing gives (CLIP-normalized pixels, normalized log-mel).
        "image": torch.randn(1, 3, 224, 224, generator=g),
        "audio": torch.randn(1, 3, 1, 128, 204, generator=g),
        "video": torch.randn(1, 15, 3, 2, 224, 224, generator=g),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, args.out)
    print(args.out, {k: list(v.shape) for k, v in tensors.items()})


def run(args):
    torch.set_num_threads(args.threads)
    from fx_common import import_imagebind_models
    imagebind_model = import_imagebind_models()
    x = load_file(args.inputs)[args.input]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with open(os.path.join(os.path.dirname(os.path.abspath(args.weights)), "config.json")) as f:
        config = json.load(f)
    model = imagebind_model.ImageBindModel(**config)
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    model.eval()
    load = time.perf_counter() - t0
    times = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model({args.modality: x})
        for _ in range(args.repeat):
            t = time.perf_counter()
            y = model({args.modality: x})[args.modality]
            times.append(time.perf_counter() - t)
    if args.out:
        save_file({"embedding": y.float().contiguous()}, args.out)
    s = sorted(times)
    print(json.dumps({"impl": "torch", "modality": args.modality, "input": args.input, "shape": list(x.shape),
                      "threads": torch.get_num_threads(), "torch": torch.__version__, "load_s": load, "forward_s": times,
                      "median_s": s[len(s) // 2], "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "rss_after_kib": current_rss_kib(), "rss_before_load_kib": rss_before}))


def cosine(args):
    a = load_file(args.a)["embedding"].double()
    b = load_file(args.b)["embedding"].double()
    cos = torch.nn.functional.cosine_similarity(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1), dim=1)
    print(json.dumps({"cosine": cos.tolist(), "min": cos.min().item()}))


def summarize(args):
    """The table of bench_imagebind.sh: medians over rounds per implementation and medium."""
    rows = [json.loads(line) for line in open(args.log) if line.startswith("{")]
    media = [m for m in ("image", "audio", "video") if any(r["medium"] == m for r in rows)]
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    impls = (["torch"] if "torch" in impls else []) + [i for i in impls if i != "torch"]

    def median(values):
        v = sorted(values)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    table = {}
    for impl in impls:
        for m in media:
            mine = [r["result"] for r in rows if r["impl"] == impl and r["medium"] == m]
            if mine:
                table[impl, m] = dict(s=median([x["median_s"] for x in mine]), load=median([x["load_s"] for x in mine]),
                                      rss=max(x["peak_rss_kib"] for x in mine) / 2**20, n=len(mine))
    cos = {}
    for impl in impls:
        for m in media:
            a, b = os.path.join(args.embeddings, f"{impl}-{m}.safetensors"), os.path.join(args.embeddings, f"torch-{m}.safetensors")
            if impl != "torch" and os.path.exists(a) and os.path.exists(b):
                x, y = load_file(a)["embedding"].double().flatten(), load_file(b)["embedding"].double().flatten()
                cos[impl, m] = torch.nn.functional.cosine_similarity(x, y, dim=0).item()
    name = {"torch": "PyTorch fp32", "f16": "ours F16", "q8_0": "ours Q8_0", "q4_0": "ours Q4_0"}
    head = f"{'':14}" + "".join(f"{'s/' + m:>10}{'GiB':>7}{'load s':>8}{'cos':>10}" for m in media)
    print(f"\nImageBind-huge, medians over rounds (n = processes), peak RSS = max over them; cos vs PyTorch fp32")
    print(head)
    for impl in impls:
        line = f"{name.get(impl, impl):14}"
        for m in media:
            t = table.get((impl, m))
            c = cos.get((impl, m))
            line += (f"{t['s']:10.3f}{t['rss']:7.2f}{t['load']:8.1f}" if t else f"{'-':>10}{'-':>7}{'-':>8}")
            line += f"{c:10.6f}" if c is not None else f"{'-':>10}"
        print(line)
    if "torch" in impls:
        print("\nratios ours / PyTorch fp32 (time, peak RSS)")
        for impl in impls[1:]:
            parts = []
            for m in media:
                t, p = table.get((impl, m)), table.get(("torch", m))
                if t and p:
                    parts.append(f"{m} {t['s'] / p['s']:.2f}× time {t['rss'] / p['rss']:.2f}× RSS")
            print(f"{name.get(impl, impl):14}" + ";  ".join(parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inputs")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("run")
    p.add_argument("--weights", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--modality", choices=["vision", "audio"], required=True)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    p = sub.add_parser("cosine")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("summarize")
    p.add_argument("log")
    p.add_argument("--embeddings", required=True)
    args = ap.parse_args()
    {"inputs": make_inputs, "run": run, "cosine": cosine, "summarize": summarize}[args.command](args)


if __name__ == "__main__":
    main()
