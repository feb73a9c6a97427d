#!/usr/bin/env python3
"""Whole-chain references for `nextgpt embed` on the committed test media, beside the ones the
preprocess scripts already make (photo420.jpg, tone16k-mono.wav, clip.mp4):
rgb8.png (Pillow + load_and_transform_vision_data), tone44k-stereo.wav and tone44k.mp3 (the real
data.py load_and_transform_audio_data with the real torchaudio.load and resample, run in
tools/.venv-audio), each then through the tiny fixture ImageBind (f32 container) with NExT-GPT's
post-processing → Tests/Fixtures/references/bundles/imagebind/media-embeddings.safetensors, one
[1, D] `embedding` per file named by the file.

    tools/.venv/bin/python tools/references/bundle_imagebind_media.py --nextgpt .build/debug/nextgpt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import bundle_imagebind  # noqa: E402
from bundle_imagebind_preprocess import CONVERT, TRANSFORM  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "imagebind")
MEDIA = os.path.join(ROOT, "Tests", "Fixtures", "media")
AUDIO = ["tone44k-stereo.wav", "tone44k.mp3"]
AUDIO_PYTHON = os.path.join(ROOT, "tools", ".venv-audio", "bin", "python")


def audio_mels(tmp):
    """data.py's audio loader on each file, in tools/.venv-audio (torchaudio lives only there)."""
    script = (
        f"import sys, torch; sys.path.insert(0, {HERE!r})\n"
        "import bundle_imagebind_audio as a\n"
        f"for name in {AUDIO!r}:\n"
        f"    torch.save(a.DATA.load_and_transform_audio_data([{MEDIA!r} + '/' + name], 'cpu'), {tmp!r} + '/' + name + '.pt')\n")
    subprocess.run([AUDIO_PYTHON, "-c", script], check=True)
    return {name: torch.load(os.path.join(tmp, name + ".pt")) for name in AUDIO}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        container = os.path.join(tmp, "imagebind-f32.gguf")
        subprocess.run([os.path.abspath(args.nextgpt), "convert", *CONVERT, "--no-source-hash", "-o", container],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        model, modality = bundle_imagebind.load_model(container)
        mels = audio_mels(tmp)
        out = {}
        with torch.no_grad():
            x = TRANSFORM(Image.open(os.path.join(ROOT, "Tests/Fixtures/images/rgb8.png")).convert("RGB")).unsqueeze(0)
            out["rgb8.png"] = model({modality.VISION: x})[modality.VISION]
            for name, mel in mels.items():
                out[name] = bundle_imagebind.nextgpt_embed(model, modality.AUDIO, mel)
    path = os.path.join(OUT, "media-embeddings.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path,
              metadata={"nextgpt.reference.generator": "tools/references/bundle_imagebind_media.py",
                        "nextgpt.reference.input": "rgb8.png through Pillow + load_and_transform_vision_data; "
                                                   "tone44k-stereo.wav, tone44k.mp3 through load_and_transform_audio_data "
                                                   "(torchaudio.load, torchaudio resample, pytorchvideo 0.1.5 sampler); "
                                                   "NExT-GPT post-processing (audio without x20)",
                        "nextgpt.reference.convert": json.dumps(CONVERT),
                        "nextgpt.reference.torch": torch.__version__})
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
