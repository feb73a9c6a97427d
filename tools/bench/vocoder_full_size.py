#!/usr/bin/env python3
"""AudioLDM l-full's vocoder at full size (SpeechT5HifiGan, upsample_initial_channel 1024, rates
[5, 4, 2, 2, 2], NEXTGPT.md §4.2) with random weights: 9 s of audio (900 mel frames → 144 032
samples) through PyTorch fp32 and through `nextgpt verify` on the converted f32 container, the
runtime's output checked against PyTorch's, times and real-time factors printed. `--repeat N`
alternates PyTorch and ours (and `--baseline BIN`, another build of ours) N times and prints
medians and min–max, since the machines are noisy.

    tools/.venv/bin/python tools/bench/vocoder_full_size.py --nextgpt .build/release/nextgpt [--repeat 3] [--baseline OLD]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "references"))
from bundle_lib import Bundle  # noqa: E402

SECONDS = 9.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(HERE, "..", "..", ".build", "release", "nextgpt"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--baseline", help="another nextgpt binary, measured in the same rounds")
    args = ap.parse_args()
    import statistics
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig
    config = SpeechT5HifiGanConfig(model_in_dim=64, sampling_rate=16000, upsample_initial_channel=1024,
                                   upsample_rates=[5, 4, 2, 2, 2], upsample_kernel_sizes=[16, 16, 8, 4, 4],
                                   resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
                                   normalize_before=False, leaky_relu_slope=0.1)
    torch.manual_seed(0)
    model = SpeechT5HifiGan(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.01)
    mel = torch.randn(1, int(SECONDS * 100), 64, generator=torch.Generator().manual_seed(1)) - 4
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "audioldm")
        model.save_pretrained(os.path.join(folder, "vocoder"))
        with open(os.path.join(folder, "model_index.json"), "w") as f:
            json.dump({"_class_name": "AudioLDMPipeline", "vocoder": ["transformers", "SpeechT5HifiGan"]}, f)
        with torch.no_grad():
            waveform = model(mel)
        bundle = Bundle()
        for i in range(2):  # the second run finds the container in the page cache
            bundle.probe(f"vocoder_{i}", "audioldm.vocoder", "vocoder", {}, {"mel": mel if i == 0 else "vocoder_0.mel"},
                         {"waveform": waveform if i == 0 else "vocoder_0.waveform"}, rel_l2=1e-4)
        bundle.save(os.path.join(tmp, "bundle.safetensors"))
        container = os.path.join(tmp, "vocoder-f32.gguf")
        subprocess.run([args.nextgpt, "convert", "--audioldm", folder, "--type", "f32", "--no-source-hash", "-o", container],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ours(binary):
            out = subprocess.run([binary, "verify", "-m", container, "--reference", os.path.join(tmp, "bundle.safetensors"),
                                  "--json"], capture_output=True, text=True)
            if not out.stdout.strip():
                sys.exit(f"{binary} verify failed:\n{out.stderr[-2000:]}")
            try:
                results = json.loads(out.stdout)
            except json.JSONDecodeError:
                sys.exit(f"{binary} verify printed no JSON:\n{out.stdout[:1500]}\n{out.stderr[-1500:]}")
            results = results.get("results", results.get("probes"))
            return results[-1]["seconds"], results[-1]["outputs"][0]["rel_l2"]

        times = {"torch": [], "ours": [], "baseline": []}
        for round_ in range(args.repeat):
            with torch.no_grad():
                start = time.time()
                model(mel)
                times["torch"].append(time.time() - start)
            seconds, rel = ours(args.nextgpt)
            times["ours"].append(seconds)
            if args.baseline:
                times["baseline"].append(ours(args.baseline)[0])
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v), flush=True)

    def summary(values):
        return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    torch_seconds = statistics.median(times["torch"])
    print(f"PyTorch {torch.__version__} fp32, {args.threads} threads: {summary(times['torch'])} = "
          f"{SECONDS / torch_seconds:.2f}x real time")
    for name in ("ours", "baseline"):
        if times[name]:
            median = statistics.median(times[name])
            ratios = [o / t for o, t in zip(times[name], times["torch"])]
            print(f"nextgpt {name} f32 (model load from the page cache included): {summary(times[name])} = "
                  f"{SECONDS / median:.2f}x real time, time ratio to PyTorch per round median "
                  f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"rel L2 {rel:.2e} against PyTorch")


if __name__ == "__main__":
    main()
